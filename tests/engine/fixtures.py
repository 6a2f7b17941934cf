"""pytest fixtures for the search-engine backends (imported by tests/conftest.py).

* ``opensearch_url``: a real single-node OpenSearch for the whole session, started from
  the Maven Central jars (tests/engine/opensearch_node.py), or the node that
  ``PORTALNEWS_TEST_OPENSEARCH_URL`` names (``.ci/run`` starts one itself).  Without a
  JDK/Maven the engine tests are skipped with the reason, unless
  ``PORTALNEWS_REQUIRE_ENGINE=1`` (CI), which makes that a failure
  (:func:`tests.conftest.skip_or_fail`).
* ``core_elasticsearch_url``: a core Elasticsearch 8.19 node (the server and netty4 from Maven
  Central, tests/engine/elasticsearch_node.py) for the session, or the one
  ``PORTALNEWS_TEST_ELASTICSEARCH_URL`` names (``.ci/run`` starts one); skipped without a
  JDK/Maven like OpenSearch.
* ``elasticsearch_url``: ``$ELASTICSEARCH_URL`` (a full Elasticsearch, e.g. from docker compose)
  when set, else the core node: the store contract suite runs against it with the official
  client and no shim.
* ``es_shim_url``: the session OpenSearch behind :class:`tests.engine.es_shim.ElasticsearchShim`,
  so the ``elasticsearch`` client code path runs against a real engine on every run.
* ``opensearch_cluster``: a real three-node OpenSearch cluster (tests/engine/opensearch_cluster.py),
  started once for every test that needs it and only with ``PORTALNEWS_TEST_CLUSTER=1``
  (``.ci/run`` sets it); each test gets it green with every member running.

Every engine test works under its own index prefix (``?prefix=t…`` in the store URL) and
deletes its indices afterwards, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.engine.es_shim import ElasticsearchShim
from tests.engine.jvm_node import JvmNode
from tests.engine.opensearch_cluster import OpenSearchCluster
from tests.engine.opensearch_node import OpenSearchNode


def start_node_or_skip(node: JvmNode) -> str:
    """Start ``node``; skip (or fail under PORTALNEWS_REQUIRE_ENGINE=1) when no JDK/Maven."""
    from tests.conftest import skip_or_fail  # conftest imports this module

    try:
        return node.start()
    except RuntimeError as exc:
        if "not found on PATH" in str(exc):
            skip_or_fail("ENGINE", f"no live {node.product} for the engine tests: {exc}")
        raise


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    external = os.environ.get("PORTALNEWS_TEST_OPENSEARCH_URL", "").strip()
    if external:
        yield external.rstrip("/")
        return
    node = OpenSearchNode()
    url = start_node_or_skip(node)
    try:
        yield url
    finally:
        node.stop()


@pytest.fixture(scope="session")
def core_elasticsearch_url() -> Iterator[str]:
    external = os.environ.get("PORTALNEWS_TEST_ELASTICSEARCH_URL", "").strip()
    if external:
        yield external.rstrip("/")
        return
    from tests.engine.elasticsearch_node import ElasticsearchNode

    node = ElasticsearchNode()
    url = start_node_or_skip(node)
    try:
        yield url
    finally:
        node.stop()


@pytest.fixture(scope="session")
def elasticsearch_url(request: pytest.FixtureRequest) -> str:
    url = os.environ.get("ELASTICSEARCH_URL", "").strip()
    if url:
        return url.rstrip("/")
    core: str = request.getfixturevalue("core_elasticsearch_url")
    return core


@pytest.fixture(scope="session")
def es_shim_url(opensearch_url: str) -> Iterator[str]:
    with ElasticsearchShim(opensearch_url) as shim:
        yield shim.url


def cluster_requested() -> bool:
    return os.environ.get("PORTALNEWS_TEST_CLUSTER", "") in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def _session_cluster() -> Iterator[OpenSearchCluster]:
    from tests.conftest import skip_or_fail  # conftest imports this module

    if not cluster_requested():
        pytest.skip("the three-node cluster tests run only with PORTALNEWS_TEST_CLUSTER=1")
    cluster = OpenSearchCluster(size=3)
    try:
        cluster.start(timeout=600)
    except RuntimeError as exc:
        if "not found on PATH" in str(exc):
            skip_or_fail("ENGINE", f"no JDK/Maven for the cluster: {exc}")
        raise
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def opensearch_cluster(_session_cluster: OpenSearchCluster) -> OpenSearchCluster:
    """The session's three-node cluster, every member running and the cluster green (a test
    that killed a member and failed before restarting it leaves it to be restarted here)."""
    for i, node in enumerate(_session_cluster.nodes):
        if not node.running:
            _session_cluster.restart(i)
    _session_cluster.wait_for("green", _session_cluster.size, timeout=300)
    return _session_cluster


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def opensearch_store_url(base: str, prefix: str) -> str:
    """``http://127.0.0.1:PORT`` -> ``opensearch://127.0.0.1:PORT?prefix=…``"""
    scheme, rest = base.split("://", 1)
    return with_prefix(("opensearch+https://" if scheme == "https" else "opensearch://") + rest, prefix)


def drop_engine_indices(store_url: str) -> None:
    """Delete the indices and the template of the store's prefix (test clean-up)."""
    from pipelines.storage.engine import engine_store

    store = engine_store(store_url)
    client = store._client()
    names = store.names
    try:
        client.indices.delete(index=f"{names.prefix}-*", ignore_unavailable=True, allow_no_indices=True)
        if client.indices.exists_index_template(name=names.template):
            client.indices.delete_index_template(name=names.template)
    finally:
        store.close()
