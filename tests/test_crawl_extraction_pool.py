"""Extraction in worker processes (issue 8, item 7): the crawl stores exactly what it stores
with extraction in its own thread, a page that kills its worker is one extraction error and
the crawl carries on, and no worker process outlives the crawl, even a crawl killed outright."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from pipelines.stages.extraction_pool import default_workers
from tests.conftest import ServedCorpus
from tests.crash_worker import CRASH_MARK
from tests.loopback_site import ROBOTS, LoopbackSite, Reply, article, listing, serving
from tests.scheduling import FAST, ROOT, run_cli

ARTICLES = 12
# what a document is made of, without the crawl's own clock (fetch and store times, run ids)
FIELDS = ("url", "portal_id", "title", "published_at", "date_precision", "view_count", "body", "summary",
          "author", "category", "profile")


def _documents(store: str, tmp: Path, name: str) -> dict[str, dict[str, Any]]:
    out = tmp / f"{name}.jsonl"
    done = run_cli("export", "--store", store, "-o", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    docs = [json.loads(line) for line in out.read_text("utf-8").splitlines() if line.strip()]
    return {d["url"]: {k: d.get(k) for k in FIELDS} for d in docs}


def _left_behind(tag: str) -> list[psutil.Process]:
    """Processes still alive that were started by the crawl (they inherited its environment)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PORTALNEWS_TEST_RUN") == tag:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _assert_nothing_left_behind(tag: str) -> None:
    deadline = time.monotonic() + 10
    while _left_behind(tag):
        assert time.monotonic() < deadline, [p.cmdline() for p in _left_behind(tag)]
        time.sleep(0.2)


def test_the_worker_pool_stores_the_same_documents_as_in_process_extraction(
        served_corpus: ServedCorpus, tmp_path: Path) -> None:
    docs = {}
    stats = {}
    for workers in ("0", "1"):
        store = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        tag = uuid.uuid4().hex
        done = run_cli("crawl", "--portals", str(served_corpus.registry), "--var", f"PORT={served_corpus.port}",
                       "--store", store, "--stats-file", str(tmp_path / f"w{workers}.json"), *FAST,
                       "-s", f"PORTALNEWS_EXTRACTION_WORKERS={workers}",
                       env={"PORTALNEWS_TEST_RUN": tag})
        assert done.returncode == 0, done.stderr[-3000:]
        _assert_nothing_left_behind(tag)
        docs[workers] = _documents(store, tmp_path, f"w{workers}")
        stats[workers] = json.loads((tmp_path / f"w{workers}.json").read_text("utf-8"))
    assert stats["1"]["portalnews/extraction_workers"] == 1
    assert stats["0"]["portalnews/extraction_workers"] == 0
    assert len(docs["0"]) >= 200
    assert docs["1"] == docs["0"]
    for workers in ("0", "1"):  # the cost of extraction is reported wherever it runs
        assert stats[workers]["portalnews/extraction_ms_per_page"] > 0
        assert not any(key.startswith("portalnews/extraction_errors") for key in stats[workers])
    # the story signatures the extraction made (in a worker or in-process) are the ones the
    # store makes of the stored bodies, and the stories are the same
    from pipelines.stories import make_signature

    for workers in ("0", "1"):
        with sqlite3.connect(tmp_path / f"w{workers}.db") as conn:
            rows = conn.execute("SELECT body, story_signature FROM documents").fetchall()
        assert len(rows) == len(docs[workers])
        assert all(bytes(sig) == make_signature(body).to_bytes() for body, sig in rows)


def test_a_page_that_kills_its_worker_is_one_extraction_error_and_the_crawl_goes_on(tmp_path: Path) -> None:
    site = LoopbackSite("127.0.0.63")
    hrefs = [(f"/tin/{n}.html", f"Tin số {n} của xã") for n in range(1, ARTICLES + 1)]
    site.routes.update({"/robots.txt": ROBOTS,
                        "/": listing("Tin tức", [*hrefs[:6], ("/tin/sap.html", "Trang làm sập"), *hrefs[6:]]),
                        "/tin/sap.html": article("Trang làm sập bộ trích xuất", 99, extra=CRASH_MARK)})
    for n in range(1, ARTICLES + 1):
        site.routes[f"/tin/{n}.html"] = article(f"Hội nghị số {n} của xã Thử Nghiệm", n)
    registry = tmp_path / "portals.yaml"
    registry.write_text("portals:\n  - {id: sap, name: Xã Sập, level: commune, province: Phú Yên, "
                        f"url: '{site.origin}/'}}\n", "utf-8")
    store = f"sqlite:///{tmp_path / 's.db'}"
    tag = uuid.uuid4().hex
    with serving(site):
        done = run_cli("crawl", "--portals", str(registry), "--store", store, "--stats-file",
                       str(tmp_path / "stats.json"), *FAST, "-s", "PORTALNEWS_EXTRACTION_WORKERS=1",
                       "-s", "PORTALNEWS_EXTRACTION_WORKER_INIT=tests.crash_worker.crash_on_mark",
                       env={"PORTALNEWS_TEST_RUN": tag, "PYTHONPATH": os.pathsep.join(
                           p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")) if p)})
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_nothing_left_behind(tag)
    assert "/tin/sap.html" in site.requests
    stats = json.loads((tmp_path / "stats.json").read_text("utf-8"))
    assert stats["portalnews/extraction_errors/sap"] == 1
    assert stats["portalnews/extraction_worker_crashes"] == 1
    assert stats["portalnews/extraction_pool_restarts"] >= 1
    docs = _documents(store, tmp_path, "export")
    assert sorted(d["title"] for d in docs.values()) == sorted(f"Hội nghị số {n} của xã Thử Nghiệm"
                                                                for n in range(1, ARTICLES + 1))
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_a_killed_crawl_leaves_no_worker_behind(tmp_path: Path) -> None:
    release = threading.Event()

    def hang(out: Any) -> None:
        out.write(b"<!DOCTYPE html><html><head><title>Ch\xe1\xbb\x9d</title></head><body>")
        out.flush()
        release.wait(120)

    site = LoopbackSite("127.0.0.64")
    hrefs = [(f"/tin/{n}.html", f"Tin số {n} của xã") for n in range(1, 4)]
    site.routes.update({"/robots.txt": ROBOTS, "/": listing("Tin tức", [*hrefs, ("/cham.html", "Chậm")]),
                        "/cham.html": Reply(hang)})
    for n in range(1, 4):
        site.routes[f"/tin/{n}.html"] = article(f"Hội nghị số {n} của xã Thử Nghiệm", n)
    registry = tmp_path / "portals.yaml"
    registry.write_text("portals:\n  - {id: cham, name: Xã Chậm, level: commune, province: Phú Yên, "
                        f"url: '{site.origin}/'}}\n", "utf-8")
    db = tmp_path / "s.db"
    tag = uuid.uuid4().hex
    with serving(site):
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "crawl", "--portals", str(registry), "--store", f"sqlite:///{db}",
             *FAST, "-s", "DOWNLOAD_TIMEOUT=300", "-s", "PORTALNEWS_WRITE_INTERVAL=0.2",
             "-s", "PORTALNEWS_EXTRACTION_WORKERS=1"],
            cwd=ROOT, env={**os.environ, "PORTALNEWS_TEST_RUN": tag},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 90
            while _stored(db) < 3:  # the three articles went through the worker
                assert proc.poll() is None, "the crawl ended before it was killed"
                assert time.monotonic() < deadline, "the articles were not stored"
                time.sleep(0.2)
            assert len(_left_behind(tag)) >= 2  # the crawl and its worker(s)
            proc.kill()
            proc.wait(10)
            _assert_nothing_left_behind(tag)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_by_default_one_core_is_left_to_the_crawl_and_one_core_extracts_in_process() -> None:
    assert [default_workers(cores) for cores in (1, 2, 3, 8, 64)] == [0, 1, 2, 4, 4]
