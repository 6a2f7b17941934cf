"""Acceptance of the monitoring issue on the labelled corpus, end to end through the CLI.

A copy of ``../shared/corpus`` is served on loopback with two portals broken on purpose:
``liferay-2`` points at a closed loopback port (unreachable) and ``seedstyle-1`` has the
date lines of its article pages replaced with garbage (its pages are still articles, but
no date can be found).  One ``portalnews crawl`` runs with the alert webhook pointing at a
real HTTP receiver and the alert email at a real SMTP server, both on 127.0.0.1.  Then:

* ``coverage`` shows the two broken portals as the two worst rows;
* ``check`` exits 1 and names both (and only them);
* the webhook receiver got exactly one alert for each; the SMTP server one email naming both;
* ``report`` writes an HTML file that headless Chromium renders with its charts drawn.

The corpus is a frozen snapshot whose newest articles are months old, so with the default
30-day ``stale`` rule every portal would be stale; the rules file of this test sets the
threshold 60 days past the oldest "newest article" of the corpus, so only real problems fire.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, require_browser, require_corpus
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix
from tests.monitoring_servers import SMTPReceiver, WebhookReceiver, chromium, colour_census
from tests.test_crawl_corpus import FAST

BROKEN_DATES = "seedstyle-1"
UNREACHABLE = "liferay-2"
DATE_RE = re.compile(r"\b\d{1,2}\s*[/-]\s*\d{1,2}\s*[/-]\s*\d{4}\b")
TIME_RE = re.compile(r"\b\d{1,2}:\d{2}\b")


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@dataclass
class Scenario:
    root: Path
    store: str
    rules: Path
    crawl: subprocess.CompletedProcess[str]
    webhook: list[dict[str, Any]]
    mails: list[Any]
    stats: dict[str, Any]
    tmp: Path
    port: int


def _serve_module(root: Path) -> Any:
    spec = importlib.util.spec_from_file_location("corpus_serve", root / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def break_corpus(src: Path, dst: Path, dead_port: int) -> int:
    """Copy the corpus, garble the date lines of BROKEN_DATES's article pages and point
    UNREACHABLE at a closed port; returns the number of pages changed."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("stats.json"))
    serve = _serve_module(dst)
    changed = 0
    for line in (dst / "truth.jsonl").read_text("utf-8").splitlines():
        truth = json.loads(line)
        if truth["portal_id"] != BROKEN_DATES:
            continue
        host, _, rest = truth["url"].split("://", 1)[1].partition("/")
        path, _, query = ("/" + rest).partition("?")
        page = dst / "site" / host / serve.relpath(path, query)
        html = page.read_text("utf-8")
        garbled = TIME_RE.sub("--:--", DATE_RE.sub("??/??/????", html))
        assert garbled != html
        page.write_text(garbled, "utf-8")
        changed += 1
    registry = dst / "portals.yaml"
    text = registry.read_text("utf-8")
    old = "url: http://127.0.1.37:{PORT}/"
    assert old in text
    registry.write_text(text.replace(old, f"url: http://127.0.3.1:{dead_port}/"), "utf-8")
    return changed


def rules_for(corpus: Path, path: Path) -> Path:
    newest: dict[str, str] = {}
    for line in (corpus / "truth.jsonl").read_text("utf-8").splitlines():
        t = json.loads(line)
        newest[t["portal_id"]] = max(newest.get(t["portal_id"], ""), t["published_at"][:10])
    oldest_newest = min(datetime.fromisoformat(d + "T00:00:00+07:00") for d in newest.values())
    days = (datetime.now(UTC) - oldest_newest).days + 60
    path.write_text(f"stale: {{days: {days}}}\n", "utf-8")
    return path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    src = require_corpus()
    tmp = tmp_path_factory.mktemp("monitoring")
    root = tmp / "corpus"
    assert break_corpus(src, root, free_port()) == 30
    port = free_port()
    server = subprocess.Popen([sys.executable, str(root / "serve.py"), str(root), "--port", str(port),
                               "--stats-file", str(tmp / "served.json")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.1.41:{port}/__stats__", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("corpus server did not start")
                time.sleep(0.1)
        store = f"sqlite:///{tmp / 'monitoring.db'}"
        rules = rules_for(root, tmp / "rules.yaml")
        with WebhookReceiver() as hook, SMTPReceiver() as smtp:
            env = {"PORTALNEWS_ALERT_WEBHOOK": hook.url, "PORTALNEWS_SMTP_HOST": "127.0.0.1",
                   "PORTALNEWS_SMTP_PORT": str(smtp.port), "PORTALNEWS_SMTP_TO": "duty@example.org",
                   "PORTALNEWS_SMTP_FROM": "portalnews@127.0.0.1", "PORTALNEWS_ALERT_RULES": str(rules)}
            crawl = cli("crawl", "--portals", str(root / "portals.yaml"), "--var", f"PORT={port}", "--store", store,
                        "--stats-file", str(tmp / "stats.json"), "-s", f"PORTALNEWS_DEAD_LETTER={tmp / 'dead.jsonl'}",
                        *FAST, "-s", "RETRY_TIMES=0", env=env)
            webhook, mails = hook.bodies(), smtp.messages
        stats = json.loads((tmp / "stats.json").read_text("utf-8")) if (tmp / "stats.json").exists() else {}
        yield Scenario(root=root, store=store, rules=rules, crawl=crawl, webhook=webhook, mails=mails,
                       stats=stats, tmp=tmp, port=port)
    finally:
        server.terminate()
        server.wait(10)


def test_crawl_runs_and_reports_the_alerts(scenario: Scenario) -> None:
    assert scenario.crawl.returncode == 0, scenario.crawl.stderr[-3000:]
    assert "Traceback" not in scenario.crawl.stderr
    out = scenario.crawl.stdout + scenario.crawl.stderr
    assert f"ALERT {UNREACHABLE}" in out and f"ALERT {BROKEN_DATES}" in out
    alerts = {a["portal_id"]: a for a in scenario.stats["portalnews/alerts"]}
    assert set(alerts) == {UNREACHABLE, BROKEN_DATES}
    assert scenario.stats["portalnews/alert_delivery"]["webhook_sent"] == 2


def test_coverage_shows_the_two_broken_portals_as_the_worst_rows(scenario: Scenario) -> None:
    result = cli("coverage", "--json", "--store", scenario.store, "--rules", str(scenario.rules))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 8
    assert [r["portal_id"] for r in rows[:2]] == [UNREACHABLE, BROKEN_DATES]
    down, nodate = rows[0], rows[1]
    assert (down["status"], down["last_outcome"], down["articles"], down["pages_fetched"]) == (
        "unreachable", "failed", 0, 0)
    assert down["http_errors"] == {"network": 1} or set(down["http_errors"]) == {"network"}
    assert (nodate["status"], nodate["articles"], nodate["newest_article"]) == ("parse errors", 30, None)
    assert nodate["missing_fields"]["published_at"] == nodate["article_pages"] == 30
    assert nodate["extraction_failure_rates"]["published_at"] == 1.0
    assert all(r["status"] == "ok" for r in rows[2:]), [(r["portal_id"], r["status"], r["problems"]) for r in rows]
    assert max(down["health"], nodate["health"]) < min(r["health"] for r in rows[2:])
    assert all(r["articles"] == 30 and r["last_outcome"] == "ok" for r in rows[2:])
    # the province and level rollups come from the run records
    assert {r["province"] for r in rows} == {"Hà Giang", "Quảng Trị", "Cà Mau", "Trà Vinh", "Bến Tre", "Yên Bái",
                                             "Sóc Trăng", "Khánh Hòa"}
    # with the bundled rules (stale after 30 days) every corpus portal is stale by the real clock,
    # and the two broken ones are still the two worst rows
    default = json.loads(cli("coverage", "--json", "--store", scenario.store,
                             env={"PORTALNEWS_ALERT_RULES": ""}).stdout)
    assert [r["portal_id"] for r in default[:2]] == [UNREACHABLE, BROKEN_DATES]
    assert max(r["health"] for r in default[:2]) < min(r["health"] for r in default[2:])
    table = cli("coverage", "--store", scenario.store, "--rules", str(scenario.rules)).stdout.splitlines()
    assert table[2].split()[0] == UNREACHABLE and table[3].split()[0] == BROKEN_DATES
    assert "\033[" not in "\n".join(table)  # no colour when not a terminal
    sheet = list(csv.DictReader(io.StringIO(cli("coverage", "--csv", "--store", scenario.store,
                                                "--rules", str(scenario.rules)).stdout)))
    assert [r["portal_id"] for r in sheet[:2]] == [UNREACHABLE, BROKEN_DATES]
    assert sheet[1]["missing_fields"] == "published_at:30"


def test_check_exits_non_zero_and_names_both(scenario: Scenario) -> None:
    result = cli("check", "--store", scenario.store, "--rules", str(scenario.rules))
    assert result.returncode == 1, result.stdout + result.stderr
    named = {line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith(" ")}
    assert named == {UNREACHABLE, BROKEN_DATES}, result.stdout
    assert "crawl_failed" in result.stdout and "extraction_failures" in result.stdout
    data = json.loads(cli("check", "--json", "--store", scenario.store, "--rules", str(scenario.rules)).stdout)
    assert [a["portal_id"] for a in data["alerts"]] == [UNREACHABLE, BROKEN_DATES]
    assert data["ok"] is False and data["portals_checked"] == 8


def test_the_webhook_got_one_alert_for_each(scenario: Scenario) -> None:
    assert [b["portal_id"] for b in scenario.webhook] == [UNREACHABLE, BROKEN_DATES]
    down, nodate = scenario.webhook
    assert down["severity"] == "critical" and "crawl_failed" in down["rules"]
    assert "extraction_failures" in nodate["rules"] and "published_at" in nodate["summary"]
    assert down["province"] == "Khánh Hòa" and nodate["level"] == "district"


def test_the_alert_email_names_both(scenario: Scenario) -> None:
    assert len(scenario.mails) == 1
    msg = scenario.mails[0].message
    assert msg["Subject"] == f"[portalnews] 2 portal(s) need attention: {UNREACHABLE}, {BROKEN_DATES}"
    assert scenario.mails[0].rcpt_to == ["duty@example.org"]


def test_html_report_renders_in_chromium(scenario: Scenario) -> None:
    out = scenario.tmp / "report.html"
    result = cli("report", "--out", str(out), "--store", scenario.store, "--rules", str(scenario.rules),
                 "--since", "2019-01-01")
    assert result.returncode == 0, result.stderr
    html = out.read_text("utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # self-contained
    binary = require_browser()
    shot = scenario.tmp / "report.png"
    run = chromium(binary, scenario.tmp / "chromium-profile", f"--screenshot={shot}", "--window-size=1280,2000",
                   out.as_uri())
    assert shot.exists(), run.stderr[-2000:]
    census = colour_census(shot)
    assert census["non_white"] > 0.05 * census["pixels"] and census["coloured"] > 20000, census
    dom = chromium(binary, scenario.tmp / "chromium-profile", "--dump-dom", out.as_uri()).stdout
    charts = dict(re.findall(r'<svg[^>]*data-chart="([a-z-]+)"[^>]*>(.*?)</svg>', dom, re.S))
    assert set(charts) == {"articles-per-day", "freshness-heatmap", "failure-rates"}
    bars = re.findall(r'<rect class="bar" data-portal="([^"]+)" data-bucket="[^"]+" data-count="(\d+)"',
                      charts["articles-per-day"])
    dated = {"tandan-1", "tandan-2", "seedstyle-2", "nukeviet-1", "nukeviet-2", "liferay-1"}
    assert {p for p, _n in bars} == dated  # the unreachable portal stored nothing, the other one no date
    assert sum(int(n) for _p, n in bars) == 30 * len(dated)
    cells = re.findall(r'<rect class="cell" data-province="([^"]+)"', charts["freshness-heatmap"])
    assert len(cells) == 8
    rates = dict(re.findall(r'data-portal="([^"]+)" data-series="published_at" data-rate="([\d.]+)"',
                            charts["failure-rates"]))
    assert float(rates[BROKEN_DATES]) == 1.0
    http = dict(re.findall(r'data-portal="([^"]+)" data-series="http" data-rate="([\d.]+)"', charts["failure-rates"]))
    assert float(http[UNREACHABLE]) == 1.0
    (scenario.tmp / "figures.json").write_text(json.dumps(census), "utf-8")


@pytest.mark.engine
def test_the_same_on_opensearch(scenario: Scenario, opensearch_url: str) -> None:
    """The broken corpus crawled into a real OpenSearch node: same worst rows, same check, same alerts."""
    store = opensearch_store_url(opensearch_url, unique_prefix())
    try:
        with WebhookReceiver() as hook:
            crawl = cli("crawl", "--portals", str(scenario.root / "portals.yaml"), "--var", f"PORT={scenario.port}",
                        "--store", store, "-s", f"PORTALNEWS_SPOOL_DIR={scenario.tmp / 'spool'}",
                        "-s", f"PORTALNEWS_DEAD_LETTER={scenario.tmp / 'dead-os.jsonl'}", *FAST, "-s", "RETRY_TIMES=0",
                        env={"PORTALNEWS_ALERT_WEBHOOK": hook.url, "PORTALNEWS_ALERT_RULES": str(scenario.rules)})
            assert crawl.returncode == 0, crawl.stderr[-3000:]
            assert [b["portal_id"] for b in hook.bodies()] == [UNREACHABLE, BROKEN_DATES]
        rows = json.loads(cli("coverage", "--json", "--store", store, "--rules", str(scenario.rules)).stdout)
        assert [r["portal_id"] for r in rows[:2]] == [UNREACHABLE, BROKEN_DATES]
        sqlite_rows = json.loads(cli("coverage", "--json", "--store", scenario.store, "--rules",
                                     str(scenario.rules)).stdout)
        assert [(r["portal_id"], r["status"], r["health"], r["articles"], r["missing_fields"]) for r in rows] == [
            (r["portal_id"], r["status"], r["health"], r["articles"], r["missing_fields"]) for r in sqlite_rows]
        check = cli("check", "--store", store, "--rules", str(scenario.rules))
        assert check.returncode == 1
        assert {ln.split()[0] for ln in check.stdout.splitlines() if ln and not ln.startswith(" ")} == {
            UNREACHABLE, BROKEN_DATES}
    finally:
        drop_engine_indices(store)
