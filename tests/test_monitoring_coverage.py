"""The coverage model, the alert rules and the metrics on every backend (SQLite and a real
OpenSearch node), plus the ``coverage`` / ``check`` / ``report`` / ``serve --metrics`` commands."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from crawler.cli import main
from pipelines.monitoring import check_store
from pipelines.monitoring.coverage import build_coverage
from pipelines.monitoring.metrics import MetricsServer, StoreCollector, render_metrics
from pipelines.monitoring.rules import Rules, parse_rules
from pipelines.storage import Document, RunRecord, Store
from tests.conftest import free_port
from tests.metrics_text import metric_samples, sample
from tests.test_store_contract import make_store  # noqa: F401  (fixture)

NOW = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
CRAWLED = "2026-02-28T12:00:00+00:00"
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("opensearch", id="opensearch", marks=pytest.mark.engine)]


def doc(portal: str, n: int, published: str | None, province: str, level: str) -> Document:
    return Document(url=f"http://127.0.0.1/{portal}/{n}.html", portal_id=portal, title=f"Tin {n} của {portal}",
                    body="Nội dung bài viết " * 10, published_at=published, crawled_at=CRAWLED, province=province,
                    level=level, portal_name=f"Cổng {portal}")


def run(portal: str, day: int, province: str, level: str, **kw: object) -> RunRecord:
    started = f"2026-02-{day:02d}T00:00:00+00:00"
    data: dict[str, object] = {"finished_at": f"2026-02-{day:02d}T00:05:00+00:00", "outcome": "ok",
                               "pages_fetched": 20, "province": province, "level": level,
                               "portal_name": f"Cổng {portal}"}
    data.update(kw)
    return RunRecord(run_id=f"{portal}-{day}", portal_id=portal, started_at=started, **data)  # type: ignore[arg-type]


DOCS = [
    doc("ok-1", 1, "2026-02-28T20:00:00+07:00", "Phú Yên", "district"),   # inside 24 h
    doc("ok-1", 2, "2026-02-27T18:00:00+00:00", "Phú Yên", "district"),   # 2026-02-28 01:00 at +07:00
    doc("ok-1", 3, "2026-02-10T08:00:00+07:00", "Phú Yên", "district"),
    doc("ok-1", 4, "2025-12-01T08:00:00+07:00", "Phú Yên", "district"),
    doc("stale-1", 1, "2025-10-01T08:00:00+07:00", "Phú Yên", "commune"),
    doc("stale-1", 2, "2025-09-01T08:00:00+07:00", "Phú Yên", "commune"),
    *[doc("nodate-1", n, None, "Bến Tre", "district") for n in range(3)],
]
RUNS = [
    *[run("ok-1", d, "Phú Yên", "district", articles_new=2, article_pages=10, missing_fields={"view_count": 1},
          http_errors={"404": 1}, errors=1) for d in (20, 24, 27)],
    *[run("stale-1", d, "Phú Yên", "commune", articles_new=0) for d in (20, 24, 27)],
    run("stale-1", 10, "Phú Yên", "commune", articles_new=2, article_pages=2),
    run("down-1", 27, "Bến Tre", "commune", outcome="failed", pages_fetched=0, errors=1,
        http_errors={"network": 1}, message="home page unreachable: Connection refused"),
    run("nodate-1", 27, "Bến Tre", "district", articles_new=3, article_pages=6, missing_fields={"published_at": 6}),
    run("ok-1", 28, "Phú Yên", "district", outcome="running", finished_at=None),  # a crawl in progress
]


def load(store: Store) -> Store:
    store.upsert_documents(DOCS)
    for r in RUNS:
        store.save_run(r)
    return store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, make_store: Callable[[str], Store]) -> Store:  # noqa: F811
    return load(make_store(request.param))


def test_store_monitoring_methods(store: Store) -> None:
    windows = {"24h": "2026-02-28T00:00:00+00:00", "7d": "2026-02-22T00:00:00+00:00",
               "30d": "2026-01-30T00:00:00+00:00"}
    assert store.recent_counts(windows, "published_at") == {"ok-1": {"24h": 1, "7d": 2, "30d": 3}}
    found = store.recent_counts(windows, "first_seen_at")
    assert found == {p: {"24h": n, "7d": n, "30d": n} for p, n in (("ok-1", 4), ("stale-1", 2), ("nodate-1", 3))}
    assert store.published_per_day() == {
        "ok-1": {"2026-02-28": 2, "2026-02-10": 1, "2025-12-01": 1},
        "stale-1": {"2025-10-01": 1, "2025-09-01": 1}}
    assert store.published_per_day("2026-02-10", "2026-02-27") == {"ok-1": {"2026-02-10": 1}}
    totals = store.run_totals()
    assert totals["ok-1"] == {"runs/ok": 3, "pages_fetched": 60, "articles_new": 6, "articles_updated": 0,
                              "errors": 3, "dropped": 0, "robots_blocked": 0}
    assert totals["down-1"]["runs/failed"] == 1 and totals["down-1"]["errors"] == 1
    assert totals["stale-1"]["runs/ok"] == 4
    got = store.runs("nodate-1")[0]
    assert (got.missing_fields, got.article_pages, got.province, got.level) == (
        {"published_at": 6}, 6, "Bến Tre", "district")


def test_coverage_model_worst_first_with_rollups(store: Store) -> None:
    report = build_coverage(store, rules=Rules(), now=NOW)
    rows = {p.portal_id: p for p in report.portals}
    assert [p.portal_id for p in report.portals] == ["down-1", "nodate-1", "stale-1", "ok-1"]
    down, nodate, stale, ok = (rows[k] for k in ("down-1", "nodate-1", "stale-1", "ok-1"))
    assert (down.status, down.health, down.error_rate) == ("unreachable", 10, 1.0)
    assert (nodate.status, nodate.health, nodate.extraction_failure_rate) == ("parse errors", 40, 1.0)
    assert nodate.problems[0] == "published_at not found on 100% of article pages"
    assert (stale.status, stale.age_days, stale.crawls_without_new) == ("stale", 150, 3)
    assert stale.problems == ["newest article is 150 days old", "no new article in the last 3 crawls"]
    assert stale.health == 70
    assert (ok.status, ok.new_24h, ok.new_7d, ok.new_30d, ok.found_24h) == ("ok", 1, 2, 3, 4)
    assert (ok.last_outcome, ok.crawl_running_since) == ("ok", "2026-02-28T00:00:00+00:00")
    assert ok.extraction_failure_rates == {"view_count": 0.1} and ok.extraction_failure_rate == 0.0
    assert ok.health >= 95 and ok.age_days == 0
    assert [(r.key, r.portals, r.worst_portal, r.statuses) for r in report.by_province] == [
        ("Bến Tre", 2, "down-1", {"unreachable": 1, "parse errors": 1}),
        ("Phú Yên", 2, "stale-1", {"stale": 1, "ok": 1})]
    assert [r.key for r in report.by_level] == ["commune", "district"]
    assert report.by_province[1].newest_article == "2026-02-28T20:00:00+07:00"


def test_alerts_one_per_failing_portal(store: Store) -> None:
    rules = parse_rules({"no_new_articles": {"crawls": 3}})
    _report, alerts = check_store(store, rules, now=NOW)
    assert [(a.portal_id, a.severity, a.rules) for a in alerts] == [
        ("down-1", "critical", ["crawl_failed", "stale"]),
        ("nodate-1", "warning", ["extraction_failures", "stale"]),
        ("stale-1", "warning", ["stale", "no_new_articles"])]
    assert alerts[1].findings[0].message == ("published_at not found on 100% of 6 article pages "
                                             "(threshold 20%)")
    quiet = parse_rules({"stale": {"days": 365}, "no_new_articles": False,
                         "portals": {"nodate-1": {"extraction_failures": {"percent": 100}, "stale": False}}})
    _report, alerts = check_store(store, quiet, now=NOW, portal_ids=["nodate-1", "stale-1", "ok-1"])
    assert alerts == []


def test_metrics_text(store: Store) -> None:
    report, alerts = check_store(store, Rules(), now=NOW)
    text = render_metrics(report, alerts, store.run_totals())
    line = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                      r'(-?[0-9.e+-]+|NaN|[+-]Inf)$')
    families: list[str] = []
    for row in text.splitlines():
        if row.startswith("# TYPE "):
            families.append(row.split()[2])
        elif not row.startswith("#"):
            assert line.match(row), row
    assert len(families) == len(set(families))  # each family once, samples grouped
    got = metric_samples(text)
    down = {"portal": "down-1", "province": "Bến Tre", "level": "commune"}
    ok = {"portal": "ok-1", "province": "Phú Yên", "level": "district"}
    assert sample(got, "portalnews_store_up") == 1
    assert sample(got, "portalnews_portal_health", **down) == 10
    assert sample(got, "portalnews_portal_new_articles", **ok, window="7d") == 2
    assert sample(got, "portalnews_portal_last_crawl_extraction_failures", portal="nodate-1", province="Bến Tre",
                  level="district", field="published_at") == 6
    assert sample(got, "portalnews_crawls_total", portal="stale-1", province="Phú Yên", level="commune",
                  outcome="ok") == 4
    assert sample(got, "portalnews_pages_fetched_total", **ok) == 60
    assert sample(got, "portalnews_portal_alert", **down, rule="crawl_failed", severity="critical") == 1
    assert sample(got, "portalnews_portal_info", **down, name="Cổng down-1") == 1
    assert "# TYPE portalnews_crawls_total counter" in text


@pytest.mark.engine
def test_backends_give_the_same_coverage(make_store: Callable[[str], Store]) -> None:  # noqa: F811
    sqlite = load(make_store("sqlite"))
    engine = load(make_store("opensearch"))  # no node: skipped, or failed under PORTALNEWS_REQUIRE_ENGINE=1
    a, b = build_coverage(sqlite, now=NOW).to_dict(), build_coverage(engine, now=NOW).to_dict()
    for side in (a, b):
        for p in side["portals"]:
            p.pop("extra", None)
    assert a == b


# --- commands ---------------------------------------------------------------------------------------
@pytest.fixture()
def store_url(tmp_path: Path) -> str:
    from pipelines.storage.sqlite import SQLiteStore

    s = SQLiteStore(tmp_path / "mon.db")
    s.open()
    load(s)
    s.close()
    return f"sqlite:///{tmp_path / 'mon.db'}"


@pytest.mark.parametrize("command", ["coverage", "check", "report", "serve"])
def test_monitoring_commands_have_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0 and f"usage: portalnews {command}" in capsys.readouterr().out


def test_coverage_command_views(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--store", store_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["portal", "status", "health"]
    names = [ln.split()[0] for ln in lines[2:]]  # real clock here: every portal is stale by now
    assert names[:2] == ["down-1", "nodate-1"] and sorted(names[2:]) == ["ok-1", "stale-1"]
    assert main(["coverage", "--store", store_url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["portal_id"] for r in rows][:2] == ["down-1", "nodate-1"]
    assert {"portal_id", "articles", "last_outcome", "http_errors", "pages_fetched", "health", "status"} <= set(rows[0])
    assert main(["coverage", "--store", store_url, "--csv"]) == 0
    sheet = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sheet[0]["portal_id"] == "down-1" and sheet[0]["http_errors"] == "network:1"
    assert main(["coverage", "--store", store_url, "--by", "province"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].startswith("Bến Tre")
    assert main(["coverage", "--store", store_url, "--by", "level", "--json"]) == 0
    assert {r["key"] for r in json.loads(capsys.readouterr().out)} == {"commune", "district"}


def test_coverage_with_a_registry_lists_never_crawled_portals(store_url: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    reg = tmp_path / "portals.yaml"
    reg.write_text("portals:\n  - {id: new-1, name: Mới, level: commune, province: Huế, url: 'http://{H}/'}\n"
                   "  - {id: ok-1, name: Tên mới, level: district, province: Phú Yên, url: 'http://{H}/'}\n", "utf-8")
    assert main(["coverage", "--store", store_url, "--portals", str(reg), "--json"]) == 0
    rows = {r["portal_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["new-1"]["status"] == "never crawled" and rows["new-1"]["province"] == "Huế"
    assert rows["ok-1"]["name"] == "Tên mới"


def test_check_command(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--store", store_url]) == 1
    out = capsys.readouterr().out
    named = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert {"down-1", "nodate-1", "stale-1"} <= set(named)
    calm = tmp_path / "calm.yaml"
    calm.write_text("stale: false\nno_new_articles: false\nextraction_failures: false\ncrawl_failed: false\n", "utf-8")
    assert main(["check", "--store", store_url, "--rules", str(calm)]) == 0
    assert "all 4 portal(s) pass" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("stale: {dayz: 1}\n", "utf-8")
    assert main(["check", "--store", store_url, "--rules", str(bad)]) == 2
    assert "'dayz' was unexpected" in capsys.readouterr().err


def test_report_command_writes_a_self_contained_file(store_url: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r" / "report.html"
    assert main(["report", "--store", store_url, "--out", str(out), "--days", "30"]) == 0
    html = out.read_text("utf-8")
    assert html.count("data-chart=") == 3 and "<script" not in html and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", "").replace("http://127.0.0.1", "")
    assert "down-1" in html and "Bến Tre" in html


def test_serve_metrics_until_sigterm(store_url: str) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "serve", "--metrics", "--store", store_url,
                             "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    ctype = resp.headers["Content-Type"]
                    text = resp.read().decode("utf-8")
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail(f"metrics server did not start: {proc.stderr.read() if proc.stderr else ''}")
                time.sleep(0.2)
        assert ctype.startswith("text/plain; version=0.0.4")
        got = metric_samples(text)
        assert sample(got, "portalnews_store_up") == 1
        assert sample(got, "portalnews_portal_health", portal="down-1", province="Bến Tre", level="commune") == 10
        # a Prometheus server asks for OpenMetrics and gets it (prometheus_client negotiates the format)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                         headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            assert resp.read().decode("utf-8").rstrip().endswith("# EOF")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
    assert rc == 0


def test_metrics_server_answers_when_the_store_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database, " * 64)
    server = MetricsServer(StoreCollector(f"sqlite:///{broken}"), "127.0.0.1", 0)
    server.start()
    try:
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            text = resp.read().decode("utf-8")
        got = metric_samples(text)
        assert sample(got, "portalnews_store_up") == 0
        errors = [dict(labels)["error"] for (name, labels) in got if name == "portalnews_store_error_info"]
        assert len(errors) == 1 and "not a database" in errors[0], text
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(server.url.replace("/metrics", "/nope"), timeout=5)
        assert exc.value.code == 404
    finally:
        server.stop()


def test_metrics_server_for_a_long_running_process(store_url: str) -> None:
    from pipelines.monitoring.metrics import start_metrics_server

    server = start_metrics_server(store_url, "127.0.0.1", 0, cache_seconds=60)
    try:
        with urllib.request.urlopen(server.url, timeout=10) as resp:
            first = resp.read().decode("utf-8")
        with urllib.request.urlopen(server.url, timeout=10) as resp:
            assert resp.read().decode("utf-8") == first  # cached between scrapes
        assert sample(metric_samples(first), "portalnews_portal_status", portal="nodate-1", province="Bến Tre",
                      level="district", status="parse errors") == 1
    finally:
        server.stop()


def test_metrics_cache_expires_on_the_injected_clock(store_url: str, tmp_path: Path) -> None:
    """The collector reuses a read for ``cache_seconds`` of its clock, then reads the store again."""
    from pipelines.storage.sqlite import SQLiteStore

    clock = [1000.0]
    collector = StoreCollector(store_url, cache_seconds=5, clock=lambda: clock[0])

    def portals() -> float | None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        return sample(metric_samples(generate_latest(registry).decode("utf-8")), "portalnews_portals")

    assert portals() == 4
    extra = SQLiteStore(Path(store_url.removeprefix("sqlite:///")))
    extra.open()
    extra.save_run(RunRecord(run_id="new-1", portal_id="new-1", started_at=CRAWLED, finished_at=CRAWLED,
                             outcome="ok"))
    extra.close()
    clock[0] += 4.9
    assert portals() == 4  # still the cached read
    clock[0] += 0.2
    assert portals() == 5  # expired: the new portal is there
