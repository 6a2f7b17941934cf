"""A real single-node OpenSearch 2.19.6 for tests, started from Maven Central jars.

No Docker and no mock: ``tests/engine/opensearch/pom.xml`` lists the server and the
plugins the project needs (netty4 transport, analysis-common, mapper-extras, reindex);
Maven resolves their classpath once, ``javac`` compiles the tiny
``tests/engine/opensearch/Launcher.java``, and ``java`` runs it with a 512 MiB heap,
bound to 127.0.0.1 only. Both steps are cached under ``~/.cache/portalnews/opensearch``
(or ``$PORTALNEWS_OPENSEARCH_CACHE``), keyed by the content of the pom and the launcher.

Python API::

    with OpenSearchNode() as node:        # start() on enter, stop() on exit
        client = OpenSearch(node.url)      # e.g. http://127.0.0.1:41234

    node = OpenSearchNode()
    url = node.start()                     # blocks until cluster health is yellow
    node.stop(wipe=False)                  # or node.kill(): keep HOME, data and port ...
    node.start()                           # ... and restart on the same data, same URL
    node.stop()                            # SIGTERM, then SIGKILL; wipes the temporary HOME

Command line (for CI scripts)::

    python -m tests.engine.opensearch_node prefetch
    python -m tests.engine.opensearch_node start --pidfile F --urlfile U
    python -m tests.engine.opensearch_node stop --pidfile F [--keep-data]
    python -m tests.engine.opensearch_node start --pidfile F --urlfile U --resume

``start`` leaves the node running detached and exits 0 once the node is healthy;
``stop`` terminates it and removes its temporary HOME (unless ``--keep-data``, after
which ``start --resume`` restarts it on the same data and port).

The process, readiness and pidfile handling is shared with the Elasticsearch test node
(``tests/engine/jvm_node.py``); this module holds what is OpenSearch's own.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tests.engine.jvm_node import (
    DEFAULT_HEAP,
    HOST,
    EngineSpec,
    JvmNode,
    NodeCli,
    free_port,
    pid_alive,
    rss_bytes,
)
from tests.engine.jvm_node import prefetch as _prefetch

__all__ = ["HEAP", "HOST", "OPENSEARCH_VERSION", "OpenSearchNode", "free_port", "main", "pid_alive",
           "prefetch", "rss_bytes"]

OPENSEARCH_VERSION = "2.19.6"
HEAP = DEFAULT_HEAP

ENGINE_DIR = Path(__file__).resolve().parent / "opensearch"

SPEC = EngineSpec(
    product="OpenSearch",
    version=OPENSEARCH_VERSION,
    engine_dir=ENGINE_DIR,
    cache_env="PORTALNEWS_OPENSEARCH_CACHE",
    cache_name="opensearch",
)


def default_cache_dir() -> Path:
    """Return the cache directory for the resolved classpath and compiled launcher."""
    return SPEC.default_cache_dir()


def prefetch(cache_dir: Path | None = None, timeout: float = 900.0) -> str:
    """Resolve the OpenSearch jars and compile the launcher; return the java classpath."""
    return _prefetch(SPEC, cache_dir, timeout)


class OpenSearchNode(JvmNode):
    """A real OpenSearch 2.19.6 node in a child ``java`` process, bound to 127.0.0.1.

    The options are :class:`tests.engine.jvm_node.JvmNode`'s. The launcher loads the netty4
    transport, analysis-common, mapper-extras and reindex plugins from the classpath; extra
    ``settings`` override its defaults (a cluster member passes ``discovery.type=zen``,
    ``node.name``, ``transport.port``, ``discovery.seed_hosts`` … see opensearch_cluster.py).
    """

    SPEC = SPEC


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tests.engine.opensearch_node``."""
    return NodeCli(OpenSearchNode, "python -m tests.engine.opensearch_node").main(argv)


if __name__ == "__main__":
    sys.exit(main())
