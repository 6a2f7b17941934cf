"""Registry validation: errors name the entry and the key; valid entries survive."""

from __future__ import annotations

from pathlib import Path

import pytest

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
