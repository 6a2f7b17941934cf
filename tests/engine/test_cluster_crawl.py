"""A crawl into the three-node OpenSearch cluster while a data node is SIGKILLed and restarted.

A generated mirror (crawler/mirror: six portals, every layout family, 20 articles each) is
crawled by ``portalnews crawl`` into the session's cluster (``opensearch_cluster``) with one
replica per shard and three shards.  The mirror answers pages only within a budget the test
grants (:class:`tests.engine.cluster_tools.PageBudget`), so every step follows the crawl's
progress, never a sleep:

1. once the crawl has stored 20 documents, a member holding a primary of the article index
   (not the one the store URL names, not the cluster manager) is killed with SIGKILL;
2. the cluster goes yellow (or green again on the two survivors); the crawl is granted more
   pages and must store 20 more documents while the member is down;
3. the member is restarted on its data and the cluster waits for green with three members;
4. the rest of the mirror is released and the crawl ends on its own.

Throughout, another thread searches the store in a loop (what ``portalnews search`` calls).
Asserted: the crawl exits 0 with every portal's outcome ``ok``, nothing unsent; the export
holds every article of the mirror once (0 lost, 0 duplicated) and every member counts them
all from its own copies; no search failed.  Reported: searches, failed requests and the
slowest search per phase, and the crawl's engine retries/spooling.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from crawler.mirror import MirrorServer, generate_mirror
from tests.engine.cluster_tools import PageBudget, SearchProbe, choose_victim, engine_count, local_count
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix
from tests.engine.opensearch_cluster import OpenSearchCluster

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow]

PORTALS, ARTICLES = 6, 20
KILL_AT = 20  # documents stored before the kill
DURING = 20  # documents the crawl must store while the member is down
CRAWL = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=2",
         "-s", "PORTALNEWS_WRITE_BATCH=10", "-s", "PORTALNEWS_WRITE_INTERVAL=0.2",
         # a held page waits for the test's next grant: no timeout, no retry meanwhile
         "-s", "DOWNLOAD_TIMEOUT=900"]


def norm(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}{parts.path}" + (f"?{parts.query}" if parts.query else "")


@pytest.fixture(scope="module")
def paced_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MirrorServer, Path, PageBudget]]:
    root = tmp_path_factory.mktemp("cluster-mirror")
    generate_mirror(root, portals=PORTALS, articles_per_portal=ARTICLES, seed=12, host_prefix="127.0.9.")
    budget = PageBudget(0)
    with MirrorServer(root / "site", before_request=budget) as server:
        yield server, root, budget
        budget.open()  # nothing stays held when the server stops


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[Any],
               budget: PageBudget | None = None, step: int = 10) -> None:
    """Wait for ``predicate``; with ``budget``, grant ``step`` more pages each time the crawl has
    used up what it was given (the crawl moves on only as far as the test needs)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the crawl ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        if budget is not None and budget.waiting():
            budget.grant(step)
        time.sleep(0.2)


def test_crawl_into_the_cluster_survives_a_killed_data_node(
        opensearch_cluster: OpenSearchCluster, paced_mirror: tuple[MirrorServer, Path, PageBudget],
        tmp_path: Path) -> None:
    cluster = opensearch_cluster
    server, root, budget = paced_mirror
    truth = {norm(json.loads(line)["url"]) for line in (root / "truth.jsonl").read_text("utf-8").splitlines()}
    assert len(truth) == PORTALS * ARTICLES
    prefix = unique_prefix()
    entry = 0  # the member the store URL names (the crawl's and the searches' coordinating node)
    store = opensearch_store_url(cluster.urls[entry], prefix) + "&replicas=1&shards=3"
    index = f"{prefix}-articles"
    member_url = cluster.urls[entry]
    stats_file, log = tmp_path / "stats.json", tmp_path / "crawl.log"
    budget.grant(10)
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "crawl", "--portals", str(root / "portals.yaml"),
         "--var", f"PORT={server.port}", "--store", store, "-s", f"PORTALNEWS_SPOOL_DIR={tmp_path / 'spool'}",
         "--stats-file", str(stats_file), *CRAWL],
        stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
    probe = SearchProbe(store)
    timings: dict[str, float] = {}
    try:
        wait_until(lambda: engine_count(member_url, index) >= KILL_AT, 300, f"{KILL_AT} documents stored", proc,
                   budget)
        probe.__enter__()
        wait_until(lambda: probe.searches("before") >= 3, 120, "searches before the kill", proc)
        victim = choose_victim(cluster, index, spare={entry})
        at_kill = engine_count(member_url, index)
        probe.phase = "node down"
        killed = time.monotonic()
        cluster.kill(victim)
        cluster.wait_for("yellow", 2, timeout=180)
        timings["to_yellow_s"] = time.monotonic() - killed
        wait_until(lambda: engine_count(member_url, index) >= at_kill + DURING, 300,
                   f"{DURING} more documents stored while member {victim} is down", proc, budget)
        during = engine_count(member_url, index) - at_kill
        assert proc.poll() is None, "the crawl ended before the member was restarted"
        probe.phase = "restarting"
        restarted = time.monotonic()
        cluster.restart(victim, timeout=300)
        cluster.wait_for("green", 3, timeout=300)
        timings["restart_to_green_s"] = time.monotonic() - restarted
        timings["down_s"] = time.monotonic() - killed
        probe.phase = "after"
        budget.open()
        proc.wait(600)
    finally:
        budget.open()
        if proc.poll() is None:
            proc.kill()
        probe.stop()
    output = log.read_text("utf-8")
    try:
        assert proc.returncode == 0, output[-3000:]
        stats = json.loads(stats_file.read_text("utf-8"))
        outcomes = Counter(s["outcome"] for s in stats["portalnews/summary"])
        assert outcomes == {"ok": PORTALS}, outcomes
        assert stats.get("portalnews/unsent", 0) == 0

        export = subprocess.run([sys.executable, "-m", "crawler.cli", "export", "--store", store],
                                capture_output=True, text=True, timeout=300)
        assert export.returncode == 0, export.stderr[-2000:]
        urls = [norm(json.loads(line)["url"]) for line in export.stdout.splitlines()]
        lost, duplicated = len(truth - set(urls)), len(urls) - len(set(urls))
        counts = {f"node-{i}": local_count(url, index) for i, url in enumerate(cluster.urls)}
        report = {"victim": f"node-{victim}", "documents_at_kill": at_kill, "stored_while_down": during,
                  "lost": lost, "duplicated": duplicated, "per_member_count": counts,
                  "searches": probe.report(), **{k: round(v, 1) for k, v in timings.items()},
                  "engine": {k.rsplit("/", 1)[1]: v for k, v in stats.items() if k.startswith("portalnews/engine/")}}
        print("cluster failover crawl:", json.dumps(report, ensure_ascii=False))
        logger.warning("cluster failover crawl: %s", json.dumps(report, ensure_ascii=False))
        assert (lost, duplicated) == (0, 0)
        assert set(urls) == truth
        assert all(n == len(truth) for n in counts.values()), counts
        assert sum(p["searches"] for p in report["searches"].values()) > 0
        assert report["searches"]["node down"]["searches"] > 0
        failed = {name: p["failed"] for name, p in report["searches"].items()}
        assert not any(failed.values()), report["searches"]
    finally:
        drop_engine_indices(store)
