"""A real single-node Elasticsearch 8.19.0 for tests, started from Maven Central jars.

No Docker, no distribution and no mock: ``tests/engine/elasticsearch/pom.xml`` lists the
two artifacts Maven Central publishes, the server ``org.elasticsearch:elasticsearch`` and
the ``org.elasticsearch.plugin:transport-netty4`` transport; Maven resolves their classpath
once, ``javac`` compiles ``tests/engine/elasticsearch/Launcher.java`` (with two small
classes that load plugins from the classpath, ``org/elasticsearch/node/ClasspathNode.java``
and ``org/elasticsearch/plugins/ClasspathPluginsService.java``), and ``java`` runs it with a
512 MiB heap, bound to 127.0.0.1 only. Both steps are cached under
``~/.cache/portalnews/elasticsearch`` (or ``$PORTALNEWS_ELASTICSEARCH_CACHE``).

Such a node is the core server without the modules of a distribution: no ``GET /``
(rest-root), no ``asciifolding`` or custom token filters (analysis-common), no ``_reindex``
or update/delete-by-query (reindex), no painless scripts (lang-painless), no
``scaled_float`` or ``search_as_you_type`` (mapper-extras), no x-pack.
``tests/engine/ELASTICSEARCH.md`` lists each with the error the node answers, and
``tests/engine/test_elasticsearch_node.py`` checks both what works and what does not.
The node is started with ``action.destructive_requires_name=false`` so that tests may
delete their indices by wildcard, as on OpenSearch.

Python API and command line are those of ``tests.engine.opensearch_node``::

    with ElasticsearchNode() as node:
        client = Elasticsearch(node.url)   # the official client, no shim

    python -m tests.engine.elasticsearch_node start --pidfile F --urlfile U [--heap 512m]
    python -m tests.engine.elasticsearch_node stop --pidfile F [--keep-data]
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.engine.jvm_node import EngineSpec, JvmNode, NodeCli
from tests.engine.jvm_node import prefetch as _prefetch

ELASTICSEARCH_VERSION = "8.19.0"

ENGINE_DIR = Path(__file__).resolve().parent / "elasticsearch"

SPEC = EngineSpec(
    product="Elasticsearch",
    version=ELASTICSEARCH_VERSION,
    engine_dir=ENGINE_DIR,
    cache_env="PORTALNEWS_ELASTICSEARCH_CACHE",
    cache_name="elasticsearch",
    extra_sources=(
        "org/elasticsearch/node/ClasspathNode.java",
        "org/elasticsearch/plugins/ClasspathPluginsService.java",
    ),
)

# Elasticsearch 8 refuses DELETE /prefix-* by default; the tests clean up by prefix.
DEFAULT_SETTINGS: Mapping[str, str] = {"action.destructive_requires_name": "false"}


def prefetch(cache_dir: Path | None = None, timeout: float = 900.0) -> str:
    """Resolve the Elasticsearch jars and compile the launcher; return the java classpath."""
    return _prefetch(SPEC, cache_dir, timeout)


class ElasticsearchNode(JvmNode):
    """A real Elasticsearch 8.19.0 core node in a child ``java`` process, bound to 127.0.0.1.

    The options are :class:`tests.engine.jvm_node.JvmNode`'s; ``settings`` are added to
    :data:`DEFAULT_SETTINGS`.
    """

    SPEC = SPEC

    def __init__(self, *, settings: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(settings={**DEFAULT_SETTINGS, **(settings or {})}, **kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tests.engine.elasticsearch_node``."""
    return NodeCli(ElasticsearchNode, "python -m tests.engine.elasticsearch_node").main(argv)


if __name__ == "__main__":
    sys.exit(main())
