"""A real three-node OpenSearch 2.19.6 cluster on loopback for tests (three ``java`` processes).

Each member is a :class:`tests.engine.opensearch_node.OpenSearchNode` (the same launcher and
cached classpath as the single test node) with its own HOME, HTTP port and transport port on
127.0.0.1, ``discovery.type=zen``, the three transport addresses as seed hosts and the three
node names as initial cluster managers. Every member is master-eligible and holds data, so
the cluster keeps a quorum (2 of 3) when one member dies. A unique ``cluster.name`` keeps it
apart from any other test cluster on the machine. Heap: 384 MiB per member by default (the
machine has 2 cores and 24 GB, shared).

Python API::

    with OpenSearchCluster(size=3) as cluster:   # start(): all members, waits for green
        client = OpenSearch(cluster.urls)
        cluster.kill(1)                          # SIGKILL member 1, data and ports kept
        cluster.wait_for(status="yellow", nodes=2)
        cluster.restart(1)                       # same data, same ports; rejoins
        cluster.wait_for(status="green", nodes=3)

Command line (``.ci/run``-style scripts, or by hand)::

    python -m tests.engine.opensearch_cluster start --statefile F [--size 3] [--heap 384m]
    python -m tests.engine.opensearch_cluster kill --statefile F --node 1
    python -m tests.engine.opensearch_cluster restart --statefile F --node 1
    python -m tests.engine.opensearch_cluster stop --statefile F
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.engine.jvm_node import free_port, http_json, is_our_launcher, pid_alive, stop_pid
from tests.engine.opensearch_node import OpenSearchNode

logger = logging.getLogger(__name__)

CLUSTER_HEAP = "384m"


class OpenSearchCluster:
    """``size`` OpenSearch members on 127.0.0.1 forming one cluster (see the module docstring).

    ``base_dir``: parent of the members' HOMEs (default: a fresh temporary directory, deleted
    by stop()). ``detached``: members keep running when this Python process exits (the CLI).
    """

    def __init__(self, size: int = 3, *, heap: str = CLUSTER_HEAP, base_dir: Path | None = None,
                 detached: bool = False, cluster_name: str | None = None,
                 ports: Sequence[tuple[int, int]] | None = None) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one member")
        self.size = size
        self.cluster_name = cluster_name or f"portalnews-cluster-{uuid.uuid4().hex[:8]}"
        self._owns_base = base_dir is None
        self.base_dir = Path(base_dir) if base_dir is not None else Path(tempfile.mkdtemp(prefix="portalnews-cluster-"))
        # (http, transport) per member, chosen once and kept across restarts.
        self.ports = list(ports) if ports is not None else [(free_port(), free_port()) for _ in range(size)]
        names = [f"node-{i}" for i in range(size)]
        seeds = ",".join(f"127.0.0.1:{transport}" for _, transport in self.ports)
        self.nodes: list[OpenSearchNode] = []
        for i, (http, transport) in enumerate(self.ports):
            settings = {
                "cluster.name": self.cluster_name,
                "node.name": names[i],
                "discovery.type": "zen",
                "discovery.seed_hosts": seeds,
                "cluster.initial_cluster_manager_nodes": ",".join(names),
                "transport.port": str(transport),
                # A member that left is noticed at once on a SIGKILL (its connections close);
                # these bound the wait when it merely stops answering.
                "cluster.fault_detection.follower_check.interval": "1s",
                "cluster.fault_detection.follower_check.retry_count": "3",
                "cluster.fault_detection.leader_check.interval": "1s",
                "cluster.fault_detection.leader_check.retry_count": "3",
            }
            self.nodes.append(OpenSearchNode(home=self.base_dir / names[i], port=http, settings=settings,
                                             heap=heap, detached=detached, delete_home=True))
        self.last_start_seconds: float | None = None

    # ---------------------------------------------------------------- addresses

    @property
    def urls(self) -> list[str]:
        """Every member's base URL, running or not."""
        return [f"http://127.0.0.1:{http}" for http, _ in self.ports]

    def live_urls(self) -> list[str]:
        return [url for node, url in zip(self.nodes, self.urls, strict=True) if node.running]

    @property
    def url(self) -> str:
        """The base URL of the first running member."""
        live = self.live_urls()
        if not live:
            raise RuntimeError("no member of the cluster is running")
        return live[0]

    # ---------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 300) -> list[str]:
        """Start every member at once (they need each other to elect a cluster manager) and
        wait until the cluster is green with all of them. Returns the members' URLs."""
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(max_workers=self.size) as pool:
                list(pool.map(lambda node: node.start(timeout=timeout), self.nodes))
            self.wait_for("green", self.size, timeout=max(30.0, timeout - (time.monotonic() - started)))
        except BaseException:
            self.stop()
            raise
        self.last_start_seconds = time.monotonic() - started
        logger.info("OpenSearch cluster %s: %d members green in %.1fs", self.cluster_name, self.size,
                    self.last_start_seconds)
        return self.urls

    def kill(self, index: int) -> None:
        """SIGKILL member ``index`` (a crash): its HOME, data and ports are kept for restart()."""
        self.nodes[index].kill()

    def restart(self, index: int, timeout: float = 180) -> str:
        """Start member ``index`` again on its data; returns once it answers as part of a
        cluster whose health is at least yellow (wait_for() to wait for green)."""
        return self.nodes[index].start(timeout=timeout)

    def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL) and delete their HOMEs."""
        for node in self.nodes:
            node.stop()
        if self._owns_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # ---------------------------------------------------------------- health

    def health(self, url: str | None = None, **params: str) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return http_json(f"{url or self.url}/_cluster/health" + (f"?{query}" if query else ""), timeout=65)

    def wait_for(self, status: str, nodes: int, timeout: float = 120) -> dict[str, Any]:
        """Wait until a running member reports ``status`` (or better) with exactly ``nodes``
        members; returns that health. Raises RuntimeError on timeout."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | str = "no answer"
        while time.monotonic() < deadline:
            wait = max(1, min(30, int(deadline - time.monotonic())))
            try:
                health = self.health(wait_for_status=status, wait_for_nodes=str(nodes), timeout=f"{wait}s")
                if not health.get("timed_out"):
                    return health
                last = health
            except (urllib.error.URLError, OSError, ValueError, RuntimeError) as exc:
                last = str(exc)
                time.sleep(0.25)
        raise RuntimeError(f"cluster not {status} with {nodes} nodes after {timeout:.0f}s: {last}")

    def cluster_manager(self) -> int:
        """Index of the elected cluster manager."""
        state = http_json(f"{self.url}/_cluster/state/cluster_manager_node,nodes", timeout=30)
        name = state["nodes"][state["cluster_manager_node"]]["name"]
        return int(str(name).rsplit("-", 1)[1])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---------------------------------------------------------------- CLI state

    def state(self) -> dict[str, Any]:
        return {"cluster_name": self.cluster_name, "base_dir": str(self.base_dir), "owns_base": self._owns_base,
                "ports": self.ports, "urls": self.urls, "pids": [node.pid or 0 for node in self.nodes],
                "start_seconds": round(self.last_start_seconds or 0.0, 1)}

    @classmethod
    def from_state(cls, state: dict[str, Any], heap: str = CLUSTER_HEAP) -> OpenSearchCluster:
        cluster = cls(len(state["ports"]), heap=heap, base_dir=Path(state["base_dir"]), detached=True,
                      cluster_name=state["cluster_name"], ports=[tuple(p) for p in state["ports"]])
        cluster._owns_base = bool(state.get("owns_base", True))
        return cluster


# --------------------------------------------------------------------------- CLI


def _load(statefile: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(statefile.read_text(encoding="utf-8"))
    return data


def _save(statefile: Path, state: dict[str, Any]) -> None:
    statefile.write_text(json.dumps(state), encoding="utf-8")


def _stop_member(pid: int, timeout: float, signal_kill: bool = False) -> None:
    if pid and pid_alive(pid) and is_our_launcher(pid):
        if signal_kill:
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
        else:
            stop_pid(pid, "OpenSearch", timeout)


def _cli_start(args: argparse.Namespace) -> int:
    cluster = OpenSearchCluster(args.size, heap=args.heap, detached=True)
    try:
        urls = cluster.start(timeout=args.timeout)
    except RuntimeError as exc:
        print(f"OpenSearch cluster failed to start: {exc}", file=sys.stderr)
        return 1
    state = cluster.state()
    state["heap"] = args.heap
    _save(Path(args.statefile), state)
    for node in cluster.nodes:
        node.detach()
    print(",".join(urls))
    return 0


def _cli_kill(args: argparse.Namespace) -> int:
    statefile = Path(args.statefile)
    state = _load(statefile)
    _stop_member(int(state["pids"][args.node]), 30, signal_kill=True)
    state["pids"][args.node] = 0
    _save(statefile, state)
    print(f"killed member {args.node}")
    return 0


def _cli_restart(args: argparse.Namespace) -> int:
    statefile = Path(args.statefile)
    state = _load(statefile)
    cluster = OpenSearchCluster.from_state(state, heap=state.get("heap", CLUSTER_HEAP))
    try:
        url = cluster.restart(args.node, timeout=args.timeout)
    except RuntimeError as exc:
        print(f"member {args.node} failed to restart: {exc}", file=sys.stderr)
        return 1
    state["pids"][args.node] = cluster.nodes[args.node].pid or 0
    _save(statefile, state)
    cluster.nodes[args.node].detach()
    print(url)
    return 0


def _cli_stop(args: argparse.Namespace) -> int:
    statefile = Path(args.statefile)
    if not statefile.is_file():
        print("no cluster state file; nothing to stop", file=sys.stderr)
        return 0
    state = _load(statefile)
    for pid in state["pids"]:
        _stop_member(int(pid), args.timeout)
    if state.get("owns_base", True):
        shutil.rmtree(state["base_dir"], ignore_errors=True)
    statefile.unlink(missing_ok=True)
    print(f"stopped cluster {state['cluster_name']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tests.engine.opensearch_cluster``."""
    parser = argparse.ArgumentParser(prog="python -m tests.engine.opensearch_cluster",
                                     description="Run a real multi-node OpenSearch cluster on loopback for tests.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start the members detached; exit 0 once the cluster is green")
    start.add_argument("--statefile", required=True)
    start.add_argument("--size", type=int, default=3)
    start.add_argument("--heap", default=CLUSTER_HEAP)
    start.add_argument("--timeout", type=float, default=600.0)
    start.set_defaults(func=_cli_start)
    for name, func, help_text in (("kill", _cli_kill, "SIGKILL one member, keeping its data"),
                                  ("restart", _cli_restart, "start a killed member again on its data")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--statefile", required=True)
        cmd.add_argument("--node", type=int, required=True, help="member index, 0-based")
        cmd.add_argument("--timeout", type=float, default=300.0)
        cmd.set_defaults(func=func)
    stop = sub.add_parser("stop", help="stop every member and delete the cluster's data")
    stop.add_argument("--statefile", required=True)
    stop.add_argument("--timeout", type=float, default=30.0)
    stop.set_defaults(func=_cli_stop)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
