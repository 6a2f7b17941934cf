"""A three-node OpenSearch cluster (tests/engine/opensearch_cluster.py) loses a data node.

Indexes into an index with one replica per shard, SIGKILLs a member that holds shard copies
(not the elected cluster manager), checks that the cluster goes yellow and still answers
searches and takes writes through the official client given all three addresses, restarts
the member on its data and waits for green with every document on every member.

The cluster (three JVMs, 384 MiB heap each) is the session's ``opensearch_cluster``, shared
with the failover crawl and the two-worker test: it runs only with ``PORTALNEWS_TEST_CLUSTER=1``,
which ``.ci/run`` sets.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from opensearchpy import OpenSearch, helpers

from tests.engine.opensearch_cluster import OpenSearchCluster

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.engine, pytest.mark.cluster]

INDEX = "cluster-articles"
DOCS = 600
LATE_DOCS = 200


@pytest.fixture
def cluster(opensearch_cluster: OpenSearchCluster) -> OpenSearchCluster:
    """The session's cluster (tests/engine/fixtures.py: started once, with PORTALNEWS_TEST_CLUSTER=1)."""
    logger.info("cluster started in %.1fs", opensearch_cluster.last_start_seconds or 0)
    return opensearch_cluster


def _doc(i: int) -> dict[str, Any]:
    return {"title": f"Thông báo số {i} của Ủy ban nhân dân", "portal_id": f"p{i % 7}", "n": i}


def _count_on(url: str, index: str) -> int:
    client = OpenSearch(url, use_ssl=False, timeout=30)
    try:
        return int(client.count(index=index, params={"preference": "_local"})["count"])
    finally:
        client.close()


def _holders(client: OpenSearch, index: str) -> dict[str, set[str]]:
    """node name -> {"p", "r"}: which kinds of shard copies of ``index`` it holds."""
    out: dict[str, set[str]] = {}
    for row in client.cat.shards(index=index, format="json"):
        if row.get("node"):
            out.setdefault(row["node"], set()).add(row["prirep"])
    return out


def test_cluster_survives_a_killed_data_node(cluster: OpenSearchCluster) -> None:
    client = OpenSearch(cluster.urls, use_ssl=False, timeout=30, max_retries=3, retry_on_timeout=True)
    health = cluster.health()
    assert (health["status"], health["number_of_nodes"], health["number_of_data_nodes"]) == ("green", 3, 3)

    # The copies of a member that left stay unassigned (yellow) until it is back, however
    # slow the machine: they are not rebuilt elsewhere within the test.
    client.indices.create(index=INDEX, body={"settings": {
        "number_of_shards": 3, "number_of_replicas": 1, "unassigned.node_left.delayed_timeout": "10m"}})
    ok, errors = helpers.bulk(client, ({"_index": INDEX, "_id": str(i), "_source": _doc(i)} for i in range(DOCS)),
                              refresh=True)
    assert (ok, errors) == (DOCS, [])
    cluster.wait_for("green", 3)
    holders = _holders(client, INDEX)
    assert len(holders) == 3, holders  # 6 shard copies spread over the three members

    manager = cluster.cluster_manager()
    # a member that is not the cluster manager, holding a primary if one does
    victim = max((i for i in range(cluster.size) if i != manager),
                 key=lambda i: "p" in holders.get(f"node-{i}", set()))
    survivors = [url for i, url in enumerate(cluster.urls) if i != victim]

    killed_at = time.monotonic()
    cluster.kill(victim)
    yellow = cluster.wait_for("yellow", 2, timeout=120)
    to_yellow = time.monotonic() - killed_at
    assert yellow["status"] == "yellow", yellow  # the victim's copies are gone, none lost
    assert yellow["unassigned_shards"] >= 2, yellow
    assert yellow["active_primary_shards"] == 3, yellow

    # Searches and writes go on through the client that still lists the dead member.
    failed_searches = 0
    slowest = 0.0
    for i in range(20):
        began = time.monotonic()
        try:
            resp = client.search(index=INDEX, body={"query": {"match": {"title": f"số {i}"}}, "size": 1})
            assert resp["hits"]["total"]["value"] >= 1
        except Exception:
            failed_searches += 1
        slowest = max(slowest, time.monotonic() - began)
    assert failed_searches == 0
    assert client.count(index=INDEX)["count"] == DOCS
    ok, errors = helpers.bulk(client, ({"_index": INDEX, "_id": str(i), "_source": _doc(i)}
                                       for i in range(DOCS, DOCS + LATE_DOCS)), refresh=True)
    assert (ok, errors) == (LATE_DOCS, [])
    for url in survivors:
        assert _count_on(url, INDEX) == DOCS + LATE_DOCS

    restarted_at = time.monotonic()
    cluster.restart(victim)
    green = cluster.wait_for("green", 3, timeout=300)
    to_green = time.monotonic() - restarted_at
    assert green["unassigned_shards"] == 0
    assert client.count(index=INDEX)["count"] == DOCS + LATE_DOCS
    for url in cluster.urls:  # each member answers from its own copies where it has them
        assert _count_on(url, INDEX) == DOCS + LATE_DOCS
    ids = {h["_id"] for h in helpers.scan(client, index=INDEX, query={"query": {"match_all": {}}})}
    assert ids == {str(i) for i in range(DOCS + LATE_DOCS)}
    client.close()
    logger.warning("cluster failover: start %.1fs, killed member %d, yellow after %.1fs, %d failed searches, "
                   "slowest search %.3fs, green %.1fs after restart", cluster.last_start_seconds or 0, victim,
                   to_yellow, failed_searches, slowest, to_green)
