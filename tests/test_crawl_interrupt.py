"""Ctrl-C twice during a crawl (issue 10, defect 10): the crawl stops at once, says what it
stored (not "the crawl stored nothing" when it stored a dozen articles), and the run is
marked ``interrupted`` in the store right away, not left ``running`` until the next crawl.

The loopback portal serves twelve articles at once and two pages that never finish, so a
graceful stop (the first Ctrl-C) waits for them and only the second Ctrl-C ends the crawl.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.loopback_site import ROBOTS, LoopbackSite, Reply, article, listing, serving
from tests.scheduling import FAST, ROOT, run_cli

ARTICLES = 12


def _hang(release: threading.Event) -> Any:
    def body(out: Any) -> None:
        out.write(b"<!DOCTYPE html><html><head><title>Ch\xe1\xbb\x9d</title></head><body>")
        out.flush()
        release.wait(120)  # never finishes while the crawl runs

    return body


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_second_ctrl_c_says_what_was_stored_and_marks_the_run_interrupted(tmp_path: Path) -> None:
    release = threading.Event()
    site = LoopbackSite("127.0.0.61")
    hrefs = [(f"/tin/{n}.html", f"Tin {n}") for n in range(1, ARTICLES + 1)]
    site.routes.update({"/robots.txt": ROBOTS, "/": listing("Tin tức", [*hrefs, ("/cham/1.html", "Chậm 1"),
                                                                         ("/cham/2.html", "Chậm 2")]),
                        "/cham/1.html": Reply(_hang(release)), "/cham/2.html": Reply(_hang(release))})
    for n in range(1, ARTICLES + 1):
        site.routes[f"/tin/{n}.html"] = article(f"Hội nghị số {n} của xã", n)
    db = tmp_path / "s.db"
    registry = tmp_path / "portals.yaml"
    registry.write_text("portals:\n  - {id: cham, name: Xã Chậm, level: commune, province: Phú Yên, "
                        f"url: '{site.origin}/'}}\n", "utf-8")
    with serving(site):
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "crawl", "--portals", str(registry), "--store", f"sqlite:///{db}",
             "--stats-file", str(tmp_path / "stats.json"), *FAST, "-s", "DOWNLOAD_TIMEOUT=300",
             "-s", "PORTALNEWS_WRITE_INTERVAL=0.2"],
            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 90
            while _count(db, "SELECT count(*) FROM documents") < ARTICLES:
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the articles were not stored"
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            time.sleep(1.5)  # the graceful stop waits for the two pages that never finish
            assert proc.poll() is None, "the crawl ended on the first Ctrl-C: the test proves nothing"
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "stored nothing" not in stderr, stderr[-3000:]
    assert _count(db, "SELECT count(*) FROM documents") == ARTICLES
    said = stdout + stderr
    assert f"{ARTICLES} new" in said or f"{ARTICLES} article" in said, said[-3000:]
    # the run is interrupted at once: no later crawl needed to settle it
    with sqlite3.connect(db) as conn:
        outcomes = [row[0] for row in conn.execute("SELECT outcome FROM runs WHERE portal_id = 'cham'")]
    assert outcomes == ["interrupted"], outcomes
    row = json.loads(run_cli("coverage", "--store", f"sqlite:///{db}", "--json").stdout)[0]
    assert row["last_outcome"] == "interrupted" and row["crawl_running_since"] is None, row
    assert proc.returncode != 0
