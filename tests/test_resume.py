"""kill -9 in the middle of a crawl, then a restart: the export equals a clean crawl's.

The restart fetches no article that was already stored, and neither loses nor
duplicates documents.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import ServedCorpus
from tests.test_crawl_corpus import FAST, run_cli

COMPARED = ("url", "portal_id", "title", "published_at", "view_count", "body", "summary", "author", "category")


def export_rows(store: str) -> dict[str, dict[str, Any]]:
    out = run_cli("export", "--store", store)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    by_url = {r["url"]: {k: r.get(k) for k in COMPARED} for r in rows}
    assert len(by_url) == len(rows), "duplicate documents in the export"
    return by_url


def stored_articles(db: Path) -> set[str]:
    try:
        with sqlite3.connect(db) as conn:
            return {r[0] for r in conn.execute("SELECT url FROM documents")}
    except sqlite3.Error:
        return set()


def test_kill_9_then_restart_equals_a_clean_crawl(served_corpus: ServedCorpus, tmp_path: Path) -> None:
    common = ["--portals", str(served_corpus.registry), "--var", f"PORT={served_corpus.port}"]
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    assert run_cli("crawl", *common, "--store", clean, *FAST).returncode == 0
    expected = export_rows(clean)
    assert len(expected) == 240

    db = tmp_path / "killed.db"
    slow = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0.05", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
            "-s", "PORTALNEWS_WRITE_INTERVAL=0.2", "-s", "PORTALNEWS_WRITE_BATCH=10"]
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "crawl", *common, "--store", f"sqlite:///{db}",
                             *slow], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(stored_articles(db)) < 60 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the crawl finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    before = stored_articles(db)
    assert 0 < len(before) < 240

    served_corpus.stats(reset=True)
    restart = run_cli("crawl", *common, "--store", f"sqlite:///{db}", *FAST)
    assert restart.returncode == 0, restart.stderr[-2000:]
    fetched = served_corpus.stats(reset=True)
    fetched_paths = {f"http://{host}{path}" for host, info in fetched["hosts"].items()  # type: ignore[union-attr]
                     for path in info["paths"]}
    refetched = {u for u in before if u.replace(f":{served_corpus.port}", "") in fetched_paths}
    assert refetched == set(), f"stored articles fetched again: {sorted(refetched)[:3]}"
    missing = {u.replace(f":{served_corpus.port}", "") for u in expected} - {
        u.replace(f":{served_corpus.port}", "") for u in before}
    assert missing and missing <= fetched_paths  # the articles not stored before the kill were fetched now
    assert export_rows(f"sqlite:///{db}") == expected
