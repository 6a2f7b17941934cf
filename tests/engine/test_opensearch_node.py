"""Checks that the embedded OpenSearch 2.19.6 (tests/engine/opensearch_node.py) is a real engine.

One node is started for the whole session; the restart test uses its own node.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch, OpenSearch
from opensearchpy.helpers import async_bulk

from tests.engine.opensearch_node import OpenSearchNode, pid_alive

pytestmark = pytest.mark.engine

REPO_ROOT = Path(__file__).resolve().parents[2]

VI_INDEX_BODY: dict[str, Any] = {
    "settings": {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "analysis": {
            "filter": {"vi_fold": {"type": "asciifolding", "preserve_original": True}},
            "analyzer": {
                "vi_text": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "vi_fold"]}
            },
        },
    },
    "mappings": {"properties": {"title": {"type": "text", "analyzer": "vi_text"}}},
}


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[OpenSearchNode]:
    node = OpenSearchNode()
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture()
def client(opensearch_node: OpenSearchNode) -> Iterator[OpenSearch]:
    es = OpenSearch(opensearch_node.url, use_ssl=False, timeout=30)
    try:
        yield es
    finally:
        es.close()


def _hits(client: OpenSearch, index: str, query: str) -> list[str]:
    resp = client.search(index=index, body={"query": {"match": {"title": query}}})
    return [hit["_id"] for hit in resp["hits"]["hits"]]


def test_node_is_real_opensearch_on_loopback(opensearch_node: OpenSearchNode, client: OpenSearch) -> None:
    assert opensearch_node.url.startswith("http://127.0.0.1:")
    info = client.info()
    assert info["version"]["number"] == "2.19.6"
    assert info["version"]["distribution"] == "opensearch"
    health = client.cluster.health()
    assert health["status"] in ("green", "yellow")
    assert health["number_of_nodes"] == 1
    rss = opensearch_node.rss_bytes()
    assert rss is not None
    assert rss > 0


def test_vietnamese_asciifolding_preserve_original(client: OpenSearch) -> None:
    index = "vi-fold"
    client.indices.create(index=index, body=VI_INDEX_BODY)
    try:
        client.index(index=index, id="1", body={"title": "Hội nghị tổng kết"}, refresh=True)
        tokens = [
            t["token"]
            for t in client.indices.analyze(index=index, body={"analyzer": "vi_text", "text": "Hội nghị"})[
                "tokens"
            ]
        ]
        assert {"hội", "hoi", "nghị", "nghi"} <= set(tokens)
        assert _hits(client, index, "hoi nghi") == ["1"]
        assert _hits(client, index, "Hội nghị") == ["1"]
        assert _hits(client, index, "tổng kết") == ["1"]
        assert _hits(client, index, "bầu cử") == []
    finally:
        client.indices.delete(index=index)


def test_async_client_and_async_bulk(opensearch_node: OpenSearchNode) -> None:
    async def scenario() -> tuple[int, int, int]:
        aclient = AsyncOpenSearch(opensearch_node.url, use_ssl=False, timeout=30)
        index = "async-bulk"
        try:
            await aclient.indices.create(index=index, body=VI_INDEX_BODY)
            actions = (
                {"_index": index, "_id": str(i), "_source": {"title": f"Thông báo số {i} của Ủy ban"}}
                for i in range(200)
            )
            ok, errors = await async_bulk(aclient, actions, chunk_size=50, refresh=True)
            assert not errors
            count = (await aclient.count(index=index))["count"]
            folded = await aclient.search(index=index, body={"query": {"match": {"title": "uy ban"}}})
            return ok, count, folded["hits"]["total"]["value"]
        finally:
            await aclient.indices.delete(index=index, ignore_unavailable=True)
            await aclient.close()

    ok, count, folded_hits = asyncio.run(scenario())
    assert ok == 200
    assert count == 200
    assert folded_hits == 200


def test_plugins_loaded(client: OpenSearch) -> None:
    client.indices.create(
        index="extras",
        body={
            "settings": {"number_of_replicas": 0},
            "mappings": {
                "properties": {
                    "score": {"type": "scaled_float", "scaling_factor": 100},
                    "title": {"type": "search_as_you_type"},
                }
            },
        },
    )
    try:
        client.index(index="extras", id="1", body={"score": 1.25, "title": "Cổng thông tin"}, refresh=True)
        resp = client.delete_by_query(index="extras", body={"query": {"match_all": {}}}, refresh=True)
        assert resp["deleted"] == 1
    finally:
        client.indices.delete(index="extras")


def test_restart_on_same_data_after_stop_and_kill() -> None:
    node = OpenSearchNode()
    try:
        url = node.start()
        es = OpenSearch(url, use_ssl=False, timeout=30)
        es.indices.create(index="keep", body={"settings": {"number_of_replicas": 0}})
        es.index(index="keep", id="a", body={"title": "Quyết định"}, refresh=True)
        es.close()

        home = node.home
        node.stop(wipe=False)
        assert home is not None
        assert home.exists()
        assert node.start() == url
        es = OpenSearch(url, use_ssl=False, timeout=30)
        assert es.get(index="keep", id="a")["_source"]["title"] == "Quyết định"
        # Not refreshed and not flushed: only the translog has it when the node is killed.
        es.index(index="keep", id="b", body={"title": "Công văn"})
        es.close()

        pid = node.pid
        assert pid is not None
        node.kill()
        assert not pid_alive(pid)
        assert node.start() == url
        es = OpenSearch(url, use_ssl=False, timeout=30)
        es.cluster.health(index="keep", wait_for_status="yellow")
        assert es.get(index="keep", id="b")["_source"]["title"] == "Công văn"
        es.close()
    finally:
        home = node.home
        node.stop()
    assert home is not None
    assert not home.exists()


def test_cli_start_stop(tmp_path: Path) -> None:
    pidfile, urlfile = tmp_path / "os.pid", tmp_path / "os.url"
    cmd = [sys.executable, "-m", "tests.engine.opensearch_node"]
    started = subprocess.run(
        [*cmd, "start", "--pidfile", str(pidfile), "--urlfile", str(urlfile)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    pid = int(pidfile.read_text().strip()) if pidfile.exists() else None
    try:
        assert started.returncode == 0, started.stderr
        assert pid is not None
        url = urlfile.read_text().strip()
        es = OpenSearch(url, use_ssl=False, timeout=30)
        assert es.info()["version"]["number"] == "2.19.6"
        es.close()
    finally:
        stopped = subprocess.run(
            [*cmd, "stop", "--pidfile", str(pidfile)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert stopped.returncode == 0, stopped.stderr
    assert pid is not None
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)
    assert not pidfile.exists()
