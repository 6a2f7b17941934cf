"""Two ``portalnews schedule`` workers sharing six portals through leases in a live OpenSearch.

1. Both run with short intervals until every portal was crawled at least twice, each
   worker crawled at least twice and one portal was crawled by both (progress, not a
   fixed time): never by both at once, and the export holds each article once.
2. One worker is killed with SIGKILL mid-crawl: its crawls die with it
   (PR_SET_PDEATHSIG), its leases expire after the TTL, the other worker (which has free
   slots) takes its portals over, resumes them, and the export is complete and equals a
   clean crawl's.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.storage import open_store
from tests.conftest import ServedCorpus
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix
from tests.engine.opensearch_node import pid_alive
from tests.scheduling import FAST, Worker, overlaps, run_cli, spans, start_worker, wait_for, write_registry

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SIX = ["tandan-1", "tandan-2", "seedstyle-1", "seedstyle-2", "nukeviet-1", "nukeviet-2"]
COMPARED = ("url", "portal_id", "title", "published_at", "view_count", "body", "summary", "author", "category")


def truth_urls(corpus: ServedCorpus) -> set[str]:
    rows = [json.loads(line) for line in (corpus.root / "truth.jsonl").read_text("utf-8").splitlines()]
    return {r["url"] for r in rows if r["portal_id"] in SIX}


def export(store: str) -> dict[str, dict[str, Any]]:
    s = open_store(store)
    s.open()
    try:
        s.refresh()  # type: ignore[attr-defined]  # the crawls index without refresh
    finally:
        s.close()
    out = run_cli("export", "--store", store)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    by_url = {re.sub(r":\d+/", "/", r["url"], count=1): {k: r.get(k) for k in COMPARED} for r in rows}
    assert len(by_url) == len(rows), "duplicate documents in the export"
    for row in by_url.values():
        row["url"] = re.sub(r":\d+/", "/", row["url"], count=1)
    return by_url


def worker_args(registry: Path, corpus: ServedCorpus, store: str, tmp: Path, *extra: str) -> list[str]:
    return ["--portals", str(registry), "--var", f"PORT={corpus.port}", "--store", store, "--poll", "0.2",
            "--jitter", "0", "--lease-ttl", "5", "-s", f"PORTALNEWS_SPOOL_DIR={tmp / 'spool'}", *extra]


@pytest.fixture(scope="module")
def clean_export(served_corpus: ServedCorpus, opensearch_url: str,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The six portals crawled once by a plain ``portalnews crawl`` (the reference)."""
    tmp = tmp_path_factory.mktemp("clean")
    registry = tmp / "portals.yaml"
    write_registry(served_corpus.registry, registry, keep=SIX)
    store = opensearch_store_url(opensearch_url, unique_prefix())
    try:
        crawl = run_cli("crawl", "--portals", str(registry), "--var", f"PORT={served_corpus.port}", "--store", store,
                        "-s", f"PORTALNEWS_SPOOL_DIR={tmp / 'spool'}", *FAST)
        assert crawl.returncode == 0, crawl.stderr[-3000:]
        return export(store)
    finally:
        drop_engine_indices(store)


def test_two_workers_share_six_portals_without_overlap_or_duplicates(
        served_corpus: ServedCorpus, opensearch_url: str, tmp_path: Path,
        clean_export: dict[str, dict[str, Any]]) -> None:
    registry = tmp_path / "portals.yaml"
    write_registry(served_corpus.registry, registry, keep=SIX, default_every="2s")
    store = opensearch_store_url(opensearch_url, unique_prefix())
    args = worker_args(registry, served_corpus, store, tmp_path, "--max-parallel", "2", *FAST)
    a = start_worker(tmp_path / "a.log", *args)
    b = start_worker(tmp_path / "b.log", *args)

    def shared_enough() -> bool:
        """Both workers ran two crawls, every portal was crawled twice, one portal by both workers."""
        done = [s for s in spans(a.events() + b.events()) if s.end is not None]
        return (all(sum(1 for s in done if s.worker == w) >= 2 for w in {s.worker for s in done})
                and len({s.worker for s in done}) == 2
                and all(sum(1 for s in done if s.portal == p) >= 2 for p in SIX)
                and any(len({s.worker for s in done if s.portal == p}) == 2 for p in SIX))

    try:  # driven by progress: the workers run until what the test checks has happened, however slow
        wait_for(shared_enough, 600, interval=0.5, what="both workers to share the six portals", workers=[a, b])
        assert a.stop() == 0 and b.stop() == 0, (a.text()[-2000:], b.text()[-2000:])
        found = spans(a.events() + b.events())
        per_worker = {w: sum(1 for s in found if s.worker == w) for w in {s.worker for s in found}}
        per_portal = {p: sum(1 for s in found if s.portal == p) for p in SIX}
        print("crawls per worker:", per_worker, "per portal:", per_portal)
        assert len(per_worker) == 2 and all(n >= 2 for n in per_worker.values())
        assert all(n >= 2 for n in per_portal.values())
        assert sum(1 for p in SIX if len({s.worker for s in found if s.portal == p}) == 2) >= 1
        assert overlaps(found) == [], "a portal was crawled by two workers at once"
        assert all(s.end is not None for s in found)
        got = export(store)
        assert set(got) == truth_urls(served_corpus)
        assert got == clean_export
        s = open_store(store)
        s.open()
        try:
            assert s.leases() == []  # every lease released at the end
        finally:
            s.close()
    finally:
        a.kill()
        b.kill()
        drop_engine_indices(store)


def test_a_killed_worker_s_portals_are_taken_over_and_finished(
        served_corpus: ServedCorpus, opensearch_url: str, tmp_path: Path,
        clean_export: dict[str, dict[str, Any]]) -> None:
    registry = tmp_path / "portals.yaml"
    write_registry(served_corpus.registry, registry, keep=SIX)
    store = opensearch_store_url(opensearch_url, unique_prefix())
    slow = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
            "-s", "PORTALNEWS_WRITE_INTERVAL=0.2", "-s", "PORTALNEWS_WRITE_BATCH=10"]
    args = worker_args(registry, served_corpus, store, tmp_path, "--once", *slow)
    # A takes three portals and crawls them slowly (a page a second: about 40 s each), so it is
    # surely killed mid-crawl however slow the test is to react; B, started next, takes the
    # other three and keeps three slots free, so that it takes A's portals over as soon as
    # their leases expire (not when its own crawls end)
    a = start_worker(tmp_path / "a.log", *args, "--max-parallel", "3", "-s", "DOWNLOAD_DELAY=1")
    b: Worker | None = None
    try:
        wait_for(lambda: len(spans(a.events())) == 3, 120, what="worker A crawling three portals", workers=[a])
        b = start_worker(tmp_path / "b.log", *args, "--max-parallel", "6", "-s", "DOWNLOAD_DELAY=0.2")
        wait_for(lambda: len(spans(b.events())) == 3, 120, what="worker B crawling the other three", workers=[a, b])
        a_portals = {s.portal for s in spans(a.events())}
        probe = open_store(store)
        probe.open()
        try:  # mid-crawl: A's crawls have stored some articles
            wait_for(lambda: sum(probe.count_documents(p) for p in a_portals) >= 6, 60,
                     what="worker A's crawls to store some articles", workers=[a])
        finally:
            probe.close()
        children = [int(e.field("pid") or 0) for e in a.events() if e.kind == "start"]
        assert not any(s.end for s in spans(a.events())), "worker A finished before it could be killed"
        killed_at = time.time()
        a.kill()
        wait_for(lambda: not any(pid_alive(pid) for pid in children), 5, what="worker A's crawls to die with it")
        assert b.process.wait(300) == 0, b.text()[-3000:]
        probe = open_store(store)
        probe.open()
        try:  # what A stored: first seen (fetched) before the kill, whenever the engine processed the write
            probe.refresh()  # type: ignore[attr-defined]
            after = probe.recent_counts({"kill": datetime.fromtimestamp(killed_at, UTC).isoformat()}, "first_seen_at")
            stored_before = {p: probe.count_documents(p) - after.get(p, {}).get("kill", 0) for p in a_portals}
        finally:
            probe.close()
        assert sum(stored_before.values()) < 3 * 30 and any(stored_before.values()), stored_before
        b_spans = spans(b.events())
        taken = [s for s in b_spans if s.portal in a_portals]
        assert {s.portal for s in taken} == a_portals, b.text()[-3000:]
        takeover = min(s.start for s in taken) - killed_at
        print(f"worker A killed with {stored_before} articles stored; worker B took its {len(a_portals)} portals "
              f"over after {takeover:.1f}s (lease TTL 5s) and finished them: {[s.outcome for s in taken]}, "
              f"new articles {[t.rest for t in b.events() if t.kind == 'end' and t.portal in a_portals]}")
        for event in b.events():  # resumed: only the articles A had not stored yet are new
            if event.kind == "end" and event.portal in a_portals:
                assert int(event.field("new") or -1) == 30 - stored_before[event.portal], event.rest
        assert takeover <= 5 + 3
        assert all(s.outcome == "ok" for s in b_spans)
        assert overlaps(spans(a.events()) + b_spans, until=killed_at) == []
        got = export(store)
        assert set(got) == truth_urls(served_corpus)
        assert got == clean_export  # nothing missing, nothing duplicated, same fields
        s = open_store(store)
        s.open()
        try:
            assert s.leases() == []
            runs = s.runs(limit=100)
            assert sorted(r.portal_id for r in runs if r.outcome == "running") == sorted(a_portals)  # A's, killed
            assert sorted(r.portal_id for r in runs if r.outcome == "ok") == sorted(SIX)
        finally:
            s.close()
    finally:
        a.kill()
        if b is not None:
            b.kill()
        drop_engine_indices(store)
