"""Registry validation: errors name the entry and the key; valid entries survive."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawler.cli import main
from crawler.registry import RegistryError, load_registry, parse_registry

GOOD = {
    "id": "son-hoa",
    "name": "Cổng thông tin điện tử huyện Sơn Hòa",
    "level": "district",
    "province": "Phú Yên",
    "url": "https://sonhoa.phuyen.gov.vn/",
    "profile": "auto",
}


def test_valid_registry_loads() -> None:
    reg = parse_registry({"portals": [GOOD]})
    assert reg.problems == []
    assert reg.portals[0].id == "son-hoa"
    assert reg.portals[0].host == "sonhoa.phuyen.gov.vn"


def test_bad_entries_are_named_and_skipped_while_good_ones_stay() -> None:
    bad_level = {**GOOD, "id": "bad-level", "level": "city"}
    bad_id = {**GOOD, "id": "Bad Id"}
    missing_url = {k: v for k, v in GOOD.items() if k != "url"} | {"id": "no-url"}
    reg = parse_registry({"portals": [GOOD, bad_level, bad_id, missing_url, {**GOOD}]}, source="r.yaml")
    assert [p.id for p in reg.portals] == ["son-hoa"]
    text = "\n".join(reg.problems)
    assert "entry 2 (id 'bad-level'): key 'level'" in text
    assert "entry 3 (id 'Bad Id'): key 'id'" in text
    assert "entry 4 (id 'no-url'): 'url' is a required property" in text
    assert "entry 5 (id 'son-hoa'): key 'id': duplicate id" in text


def test_placeholder_is_filled() -> None:
    reg = parse_registry({"portals": [{**GOOD, "url": "http://127.0.1.5:{PORT}/"}]}, placeholders={"PORT": "8080"})
    assert reg.portals[0].url == "http://127.0.1.5:8080/"


def test_unusable_files_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not found"):
        load_registry(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("portals:\n  - id: x\n   name: [unclosed\n", "utf-8")
    with pytest.raises(RegistryError, match="not valid YAML at line"):
        load_registry(broken)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("just a string\n", "utf-8")
    with pytest.raises(RegistryError, match="'portals:' list"):
        load_registry(wrong)


def test_shipped_starter_registry_is_valid() -> None:
    reg = load_registry(Path(__file__).resolve().parents[1] / "portals.yaml")
    assert reg.problems == []
    assert len(reg.portals) >= 10
    assert all(p.level in ("province", "district") for p in reg.portals)


def test_cli_portals_reports_problems_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("portals:\n  - id: ok-one\n    name: A\n    level: province\n    province: P\n"
                 "    url: https://a.gov.vn/\n  - id: bad\n    name: B\n    level: town\n    province: P\n"
                 "    url: https://b.gov.vn/\n", "utf-8")
    assert main(["portals", "--portals", str(f)]) == 1
    out = capsys.readouterr()
    assert "entry 2 (id 'bad'): key 'level'" in out.err
    assert "ok-one" in out.out
    assert "Traceback" not in out.err
    assert main(["portals", "--portals", str(tmp_path / "nope.yaml")]) == 2
    assert "registry file not found" in capsys.readouterr().err


# --- issue 10: hostile and careless registries ------------------------------------------------------

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
portals:
  - id: bomb
    name: *i
    level: province
    province: P
    url: https://a.gov.vn/
"""

# Loads FILE as a registry in a child process with at most 1 GB of address space, and prints the
# outcome and the peak of Python allocations (tracemalloc) as JSON.
_LOAD_IN_CHILD = """
import json, resource, sys, time, tracemalloc
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from crawler.registry import RegistryError, load_registry
tracemalloc.start()
t = time.perf_counter()
try:
    reg = load_registry(sys.argv[1])
    outcome = {"portals": len(reg.portals), "problems": reg.problems[:3],
               "longest_problem": max((len(p) for p in reg.problems), default=0)}
except RegistryError as exc:
    outcome = {"error": str(exc)}
outcome["seconds"] = time.perf_counter() - t
outcome["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
print(json.dumps(outcome))
"""


def _load_in_child(path: Path, timeout: float = 120) -> dict[str, Any]:
    try:
        proc = subprocess.run([sys.executable, "-c", _LOAD_IN_CHILD, str(path)], capture_output=True, text=True,
                              timeout=timeout, cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {path.name} did not finish in {timeout:.0f} s")
    assert proc.returncode == 0, f"loading {path.name} crashed: {proc.stderr[-1500:]}"
    result: dict[str, Any] = json.loads(proc.stdout)
    print(path.name, result)
    return result


def test_a_yaml_bomb_is_refused_at_once_with_a_short_message(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB, "utf-8")
    assert bomb.stat().st_size < 700
    result = _load_in_child(bomb)
    assert "error" in result, result
    assert "aliases expand to more than" in result["error"] and "at line 6" in result["error"]
    assert len(result["error"]) < 400
    assert result["peak_mb"] < 100


def test_a_big_value_is_quoted_short_in_messages(tmp_path: Path) -> None:
    """A value that is wrong and huge (here a list of 50,000 names where one name belongs) is
    reported in one short line."""
    names = "\n".join(f"      - Tên số {i}" for i in range(50_000))
    reg = tmp_path / "r.yaml"
    reg.write_text(f"portals:\n  - id: big\n    name:\n{names}\n    level: province\n    province: P\n"
                   "    url: https://a.gov.vn/\n", "utf-8")
    result = _load_in_child(reg)
    assert result["portals"] == 0
    assert "entry 1 (id 'big'): key 'name'" in result["problems"][0]
    assert result["longest_problem"] < 300


def _big_registry(path: Path, entries: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("portals:\n")
        for i in range(entries):
            out.write(f"  - id: xa-vi-du-{i}\n    name: \"Cổng thông tin điện tử xã Ví Dụ {i}\"\n"
                      f"    level: commune\n    province: \"Phú Yên\"\n    url: https://xa{i}.phuyen.gov.vn/\n"
                      f"    profile: auto\n    every: 6h\n    notes: \"Cổng xã số {i}, kiểm tra lần cuối 2024\"\n")


def test_loading_a_big_registry_is_lean(tmp_path: Path) -> None:
    """Memory grows with the file and stays small: a 2 MB registry (about 7,500 portals) peaks under
    40 MB of Python allocations (scripts/bench_registry.py measures 10 MB: time and RSS)."""
    reg = tmp_path / "big.yaml"
    _big_registry(reg, 7_500)
    size_mb = reg.stat().st_size / 1e6
    result = _load_in_child(reg)
    assert result["portals"] == 7_500 and result["problems"] == []
    assert result["peak_mb"] < 20 * size_mb, f"{result['peak_mb']:.0f} MB for a {size_mb:.1f} MB file"


@pytest.mark.parametrize(("typo", "value", "suggestion"), [
    ("enable", "false", "enabled"),
    ("max_page", "5", "max_pages"),
    ("evry", "6h", "every"),
    ("provnce", "P", "province"),
])
def test_unknown_keys_are_errors_with_a_suggestion(typo: str, value: str, suggestion: str) -> None:
    reg = parse_registry(yaml.safe_load(f"portals:\n  - {{id: a, name: A, level: province, province: P, "
                                        f"url: 'https://a.gov.vn/', {typo}: {value}}}\n"), source="r.yaml")
    assert reg.portals == [], "an entry with a typo is not used as if the key were not there"
    assert len(reg.problems) == 1
    assert f"r.yaml: entry 1 (id 'a'): unknown key {typo!r} (did you mean {suggestion!r}?)" in reg.problems[0]


def test_free_form_notes_take_anything() -> None:
    entry = {**GOOD, "notes": {"contact": "Văn phòng", "checked": "2024-05-01", "todo": ["xem lại"]}}
    reg = parse_registry({"portals": [entry, {**GOOD, "id": "other", "notes": "một dòng"}]})
    assert reg.problems == []
    assert [p.id for p in reg.portals] == ["son-hoa", "other"]


def test_an_unknown_key_far_from_any_known_one_is_named(tmp_path: Path) -> None:
    reg = parse_registry({"portals": [{**GOOD, "colour": "blue"}]})
    assert reg.problems == ["<registry>: entry 1 (id 'son-hoa'): unknown key 'colour' "
                            "(known keys: current_province, enabled, every, id, level, max_pages, name, notes, profile, province, "
                            "start_urls, url, verified; free-form text goes under 'notes')"]


def test_an_interval_below_the_minimum_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTALNEWS_MIN_INTERVAL", raising=False)
    entries = [{**GOOD, "id": "nonstop", "every": "0s"}, {**GOOD, "id": "fast", "every": "59s"},
               {**GOOD, "id": "ok", "every": "1m"}]
    reg = parse_registry({"portals": entries}, source="r.yaml")
    assert [p.id for p in reg.portals] == ["ok"]
    assert reg.problems[0] == ("r.yaml: entry 1 (id 'nonstop'): key 'every': '0s' is shorter than the minimum "
                               "interval 1m (PORTALNEWS_MIN_INTERVAL)")
    assert "entry 2 (id 'fast'): key 'every'" in reg.problems[1]
    monkeypatch.setenv("PORTALNEWS_MIN_INTERVAL", "2s")  # tests may lower it
    reg = parse_registry({"portals": entries})
    assert [p.id for p in reg.portals] == ["fast", "ok"]
    monkeypatch.setenv("PORTALNEWS_MIN_INTERVAL", "soon")
    with pytest.raises(RegistryError, match="PORTALNEWS_MIN_INTERVAL"):
        parse_registry({"portals": entries})


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://2852039166/",  # 169.254.169.254 written as one number
])
def test_link_local_urls_are_always_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for allowed in ("", "1"):
        monkeypatch.setenv("PORTALNEWS_ALLOW_PRIVATE_HOSTS", allowed)
        reg = parse_registry({"portals": [{**GOOD, "url": url}]}, source="r.yaml")
        assert reg.portals == []
        assert "entry 1 (id 'son-hoa'): key 'url'" in reg.problems[0]
        assert "link-local" in reg.problems[0]


@pytest.mark.parametrize("url", [
    "http://localhost:22/", "http://127.0.0.1/", "http://127.0.2.1:8080/", "http://[::1]/", "http://10.0.0.5/",
    "http://172.16.3.4/", "http://192.168.1.1/", "http://100.64.0.1/", "http://0.0.0.0:9200/",
    "http://0x7f000001/", "http://[fd00::1]/",
])
def test_loopback_and_private_urls_need_the_operator_s_permission(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTALNEWS_ALLOW_PRIVATE_HOSTS", raising=False)
    entries = [{**GOOD, "url": url}, {**GOOD, "id": "starts", "start_urls": [url]}]
    reg = parse_registry({"portals": entries}, source="r.yaml")
    assert reg.portals == []
    assert "entry 1 (id 'son-hoa'): key 'url'" in reg.problems[0]
    assert "entry 2 (id 'starts'): key 'start_urls'" in reg.problems[1]
    assert all("PORTALNEWS_ALLOW_PRIVATE_HOSTS=1" in p for p in reg.problems)
    monkeypatch.setenv("PORTALNEWS_ALLOW_PRIVATE_HOSTS", "1")
    assert [p.id for p in parse_registry({"portals": entries}).portals] == ["son-hoa", "starts"]
    monkeypatch.delenv("PORTALNEWS_ALLOW_PRIVATE_HOSTS")
    assert len(parse_registry({"portals": entries}, allow_private_hosts=True).portals) == 2


def test_public_urls_are_accepted_without_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTALNEWS_ALLOW_PRIVATE_HOSTS", raising=False)
    entries = [GOOD, {**GOOD, "id": "ip", "url": "http://203.113.131.2/"}]
    assert [p.id for p in parse_registry({"portals": entries}).portals] == ["son-hoa", "ip"]


def test_cli_portals_refuses_the_metadata_service(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("portals:\n  - {id: meta, name: M, level: province, province: P, "
                 "url: 'http://169.254.169.254/latest/'}\n", "utf-8")
    assert main(["portals", "--portals", str(f)]) == 1
    err = capsys.readouterr().err
    assert "entry 1 (id 'meta'): key 'url'" in err and "link-local" in err


def test_current_province_may_be_given_and_must_be_a_province_since_2025() -> None:
    from pipelines.storage import Document

    given = {**GOOD, "id": "given", "current_province": "tinh dak lak"}
    derived = {**GOOD, "id": "derived"}
    old = {**GOOD, "id": "old-name", "current_province": "Phú Yên"}
    typo = {**GOOD, "id": "typo", "current_province": "Đắk Lăk Mới"}
    reg = parse_registry({"portals": [given, derived, old, typo]}, source="r.yaml")
    assert [(p.id, p.current_province) for p in reg.portals] == [("given", "Đắk Lắk"), ("derived", None)]
    text = "\n".join(reg.problems)
    assert "entry 3 (id 'old-name'): key 'current_province': 'Phú Yên' is not one of the 34 provinces" in text
    assert "entry 4 (id 'typo'): key 'current_province'" in text and "Gia Lai" in text
    # the storage stage passes it on; without it the document derives it from the registry province
    doc = Document(url="http://127.0.0.1/a.html", portal_id="p", title="t", body="b", crawled_at="",
                   province="Phú Yên", current_province=None)
    assert doc.current_province == "Đắk Lắk"
    override = Document(url="http://127.0.0.1/a.html", portal_id="p", title="t", body="b", crawled_at="",
                        province="Phú Yên", current_province="Gia Lai")
    assert override.current_province == "Gia Lai" and override.province == "Phú Yên"
