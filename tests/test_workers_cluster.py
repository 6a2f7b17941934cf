"""Two ``portalnews schedule`` workers sharing six portals through leases in the three-node
OpenSearch cluster, one member SIGKILLed mid-run and restarted (tests/test_workers.py on one node).

Worker A talks to member 0, worker B to member 1 (each store URL names one member); member 2
is killed while crawls run and restarted later.  The indices have one replica per shard, so the
leases, the calendar and the articles survive the loss.  Every step follows the workers'
progress (crawls started and ended, read from their logs), never a sleep:

1. both workers have finished a crawl and one is running: member 2 is killed;
2. four more crawls end while it is down (the lease writes reach the promoted copies);
3. member 2 is restarted and the cluster is green again;
4. the workers go on until every portal was crawled twice, each worker crawled twice, one portal
   was crawled by both and two crawls ended after the restart; then they are stopped (SIGTERM).

Asserted: no portal was ever crawled by both workers at once, every lease is released, the export
holds every article of the six portals exactly once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from pipelines.storage import open_store
from tests.conftest import ServedCorpus
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix
from tests.engine.opensearch_cluster import OpenSearchCluster
from tests.scheduling import FAST, Span, overlaps, spans, start_worker, wait_for, write_registry
from tests.test_workers import SIX, export, truth_urls, worker_args

pytestmark = [pytest.mark.engine, pytest.mark.cluster, pytest.mark.slow]

VICTIM = 2
# Longer than tests/test_workers.py's 5 s: a lease write may wait a few seconds while the
# cluster promotes the killed member's copies (or elects a new cluster manager).
LEASE_TTL = "15"


def test_two_workers_on_the_cluster_keep_apart_while_a_member_is_killed(
        served_corpus: ServedCorpus, opensearch_cluster: OpenSearchCluster, tmp_path: Path) -> None:
    cluster = opensearch_cluster
    registry = tmp_path / "portals.yaml"
    write_registry(served_corpus.registry, registry, keep=SIX, default_every="2s")
    prefix = unique_prefix()
    stores = [opensearch_store_url(cluster.urls[i], prefix) + "&replicas=1" for i in (0, 1)]
    workers = [start_worker(tmp_path / f"{name}.log",
                            *worker_args(registry, served_corpus, store, tmp_path / name, "--max-parallel", "2",
                                         "--lease-ttl", LEASE_TTL, *FAST))
               for name, store in zip("ab", stores, strict=True)]
    a, b = workers

    def found() -> list[Span]:
        return spans(a.events() + b.events())

    def ended(after: float = 0.0) -> list[Span]:
        return [s for s in found() if s.end is not None and s.end >= after]

    def running() -> bool:
        return any(s.end is None for s in found())

    manager_was_victim = False
    try:
        wait_for(lambda: len({s.worker for s in ended()}) == 2 and running(), 600, interval=0.2,
                 what="both workers to finish a crawl while one runs", workers=workers)
        manager_was_victim = cluster.cluster_manager() == VICTIM
        killed_at = time.time()
        cluster.kill(VICTIM)
        cluster.wait_for("yellow", 2, timeout=180)
        wait_for(lambda: len(ended(killed_at)) >= 4, 600, interval=0.2,
                 what="four crawls to end while member 2 is down", workers=workers)
        during = len(ended(killed_at))
        restarted_at = time.time()
        cluster.restart(VICTIM, timeout=300)
        cluster.wait_for("green", 3, timeout=300)
        back_at = time.time()

        def shared_enough() -> bool:
            done = ended()
            return (all(sum(1 for s in done if s.worker == w) >= 2 for w in {s.worker for s in done})
                    and len({s.worker for s in done}) == 2
                    and all(sum(1 for s in done if s.portal == p) >= 2 for p in SIX)
                    and any(len({s.worker for s in done if s.portal == p}) == 2 for p in SIX)
                    and len(ended(back_at)) >= 2)

        wait_for(shared_enough, 600, interval=0.5, what="both workers to share the six portals", workers=workers)
        codes = [w.stop() for w in workers]
        assert codes == [0, 0], (a.text()[-2000:], b.text()[-2000:])
        all_spans = found()
        overlapping = overlaps(all_spans)
        per_worker = Counter(s.worker for s in all_spans)
        outcomes = Counter(s.outcome for s in all_spans)
        got = export(stores[0])  # asserts that no document is there twice
        report = {"crawls": len(all_spans), "per_worker": dict(per_worker), "outcomes": dict(outcomes),
                  "ended_while_down": during, "down_s": round(restarted_at - killed_at, 1),
                  "restart_to_green_s": round(back_at - restarted_at, 1),
                  "killed_member_was_cluster_manager": manager_was_victim,
                  "overlapping_crawls": len(overlapping), "documents": len(got), "duplicates": 0}
        print("two workers on the cluster:", json.dumps(report))
        assert overlapping == [], "a portal was crawled by two workers at once"
        assert set(got) == truth_urls(served_corpus)
        s = open_store(stores[1])
        s.open()
        try:
            assert s.leases() == []  # every lease released at the end
        finally:
            s.close()
    finally:
        for w in workers:
            w.kill()
        drop_engine_indices(stores[0])
