"""A crawl that ends ``partial`` with a high share of HTTP errors raises an alert, and
``check`` names it (issue 10, defect 10): 5 of 13 requests of a loopback portal answer 500
(38 %), and before the ``http_errors`` rule no rule fired, so cron saw a healthy portal."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from pipelines.monitoring.rules import load_rules, parse_rules
from tests.loopback_site import ROBOTS, LoopbackSite, Reply, article, listing, serving
from tests.scheduling import FAST, run_cli


def _fresh_article(title: str, n: int) -> bytes:
    today = date.today()
    return article(title, n).replace(b"1" + str(n % 10).encode() + b"/03/2025",
                                      today.strftime("%d/%m/%Y").encode())


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("http-errors")
    site = LoopbackSite("127.0.0.62")
    good = [(f"/tin/{n}.html", f"Tin {n}") for n in range(1, 8)]
    bad = [(f"/loi/{n}.html", f"Lỗi {n}") for n in range(1, 6)]
    site.routes.update({"/robots.txt": ROBOTS, "/": listing("Tin tức", good + bad)})
    for n in range(1, 8):
        site.routes[f"/tin/{n}.html"] = _fresh_article(f"Hội nghị số {n}", n)
    for n in range(1, 6):
        site.routes[f"/loi/{n}.html"] = Reply(b"<h1>500</h1>", status=500)
    registry = tmp / "portals.yaml"
    registry.write_text("portals:\n  - {id: loi-nhieu, name: Xã Lỗi, level: commune, province: Phú Yên, "
                        f"url: '{site.origin}/'}}\n", "utf-8")
    store = f"sqlite:///{tmp / 's.db'}"
    with serving(site):
        result = run_cli("crawl", "--portals", str(registry), "--store", store, *FAST, "-s", "RETRY_TIMES=0")
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return tmp, store + "\n" + result.stderr


def test_the_crawl_itself_raises_the_alert(crawled: tuple[Path, str]) -> None:
    _tmp, both = crawled
    store, stderr = both.split("\n", 1)
    coverage = json.loads(run_cli("coverage", "--store", store, "--json").stdout)[0]
    assert coverage["last_outcome"] == "partial" and coverage["error_rate"] >= 0.38, coverage
    alert = [line for line in stderr.splitlines() if "ALERT loi-nhieu" in line]
    assert alert and "HTTP errors on 38%" in alert[0], stderr[-3000:]


def test_check_names_the_http_error_rule(crawled: tuple[Path, str]) -> None:
    _tmp, both = crawled
    store = both.split("\n", 1)[0]
    result = run_cli("check", "--store", store)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "loi-nhieu" in result.stdout and "http_errors" in result.stdout, result.stdout
    assert "38%" in result.stdout and "HTTP 500: 5" in result.stdout, result.stdout
    as_json = json.loads(run_cli("check", "--store", store, "--json").stdout)
    assert as_json["alerts"][0]["rules"] == ["http_errors"], as_json
    # the rule can be tuned and switched off like the others
    calm = Path(store.removeprefix("sqlite:///")).parent / "calm.yaml"
    calm.write_text("http_errors: {percent: 50}\n", "utf-8")
    assert run_cli("check", "--store", store, "--rules", str(calm)).returncode == 0


def test_the_rule_is_in_the_bundled_file_and_overridable(tmp_path: Path) -> None:
    rules = load_rules()
    assert (rules.default.http_errors.percent, rules.default.http_errors.min_requests) == (20, 10)
    off = parse_rules({"portals": {"xa-a": {"http_errors": False}}})
    assert not off.for_portal("xa-a").http_errors.enabled and off.default.http_errors.enabled
