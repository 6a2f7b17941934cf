"""Crawl a portal full of traps, written blind (tests/fixtures/blind_trap/README.md): an
endless calendar, session ids and tracking parameters on links, redirects, soft 404s,
pagination that never ends, meta-only windows-1258 and a wrong HTTP charset, gzip, a slow
listing, a 503 with Retry-After, duplicate URLs with canonicals, a PDF behind ``.html`` and
robots-disallowed links.  The crawl must end on its own with every article, nothing else,
every field right, no disallowed fetch and a bounded number of requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.extract.scoring import same_date, token_f1
from tests.test_crawl_corpus import FAST, run_cli

TRAP = Path(__file__).parent / "fixtures" / "blind_trap"


def test_a_portal_full_of_traps_is_crawled_exactly_with_bounded_requests(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    server = subprocess.Popen([sys.executable, str(TRAP / "serve.py"), "--host", "127.0.7.21", "--port", "0",
                               "--log", str(log)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        store = f"sqlite:///{tmp_path / 'trap.db'}"
        crawl = run_cli("crawl", "--portals", str(TRAP / "portals.yaml"), "--var", f"PORT={port}",
                        "--store", store, *FAST)
    finally:
        server.terminate()
        server.wait(10)
    assert crawl.returncode == 0, crawl.stderr[-2000:]
    truth = {t["url_path"]: t for t in map(json.loads, (TRAP / "truth.jsonl").read_text("utf-8").splitlines()) if t}
    got = {}
    for d in map(json.loads, run_cli("export", "--store", store).stdout.splitlines()):
        parts = urlsplit(d["url"])
        got[parts.path + (f"?{parts.query}" if parts.query else "")] = d
    assert set(got) == set(truth), (sorted(set(truth) - set(got)), sorted(set(got) - set(truth)))
    for path, t in truth.items():
        d = got[path]
        assert d["title"] == t["title"], path
        assert same_date(d["published_at"], t["published_at"]), path
        assert d["view_count"] == t["view_count"], path
        assert token_f1(d["body"], t["body"]) >= 0.95, path
    requests = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    assert not [r["path"] for r in requests if r["robots_disallowed"]]
    assert not [r["path"] for r in requests if "sid=" in r["path"] or "jsessionid" in r["path"] or "utm_" in r["path"]]
    assert len([r for r in requests if r["path"].startswith("/lich")]) <= 3  # the calendar is left alone
    assert len(requests) <= 150, len(requests)  # a careful crawl needs 45-130
