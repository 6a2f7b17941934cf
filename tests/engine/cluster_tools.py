"""What the cluster tests share: a search loop that runs beside a crawl, a page budget that
paces a mirror crawl by the test's progress, the choice of the member to kill, and counts.

* :class:`SearchProbe`: a thread that searches the store (``Store.search``, what ``portalnews
  search`` calls) in a loop and records every answer: failed requests and latencies, per
  phase (before the kill, node down, after the restart).
* :class:`PageBudget`: a ``before_request`` hook of :class:`crawler.mirror.server.MirrorServer`
  that answers at most ``budget`` page requests (robots.txt is free) and holds the rest until the
  test grants more: the crawl cannot run ahead of, nor finish before, what the test waits for.
* :func:`choose_victim`: a member that holds a primary of the index, is not the elected
  cluster manager and is none of the members the store URLs name.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from typing import Any

from pipelines.storage import SearchQuery, open_store
from tests.engine.jvm_node import http_json
from tests.engine.opensearch_cluster import OpenSearchCluster

logger = logging.getLogger(__name__)


@dataclass
class Phase:
    searches: int = 0
    failed: int = 0
    partial: int = 0  # answered, but not from every shard (none expected: replicas answer)
    slowest: float = 0.0
    errors: list[str] = field(default_factory=list)


class SearchProbe:
    """Searches ``store_url`` for ``text`` in a loop (another thread, its own store client)
    until stopped; ``phase`` names where the test is (set by the test)."""

    def __init__(self, store_url: str, text: str = "ủy ban nhân dân", pause: float = 0.05) -> None:
        self.store_url = store_url
        self.text = text
        self.pause = pause
        self.phase = "before"
        self.phases: dict[str, Phase] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="search-probe", daemon=True)

    def _run(self) -> None:
        store = open_store(self.store_url)
        store.open()
        try:
            while not self._stop.is_set():
                phase = self.phases.setdefault(self.phase, Phase())
                began = time.monotonic()
                try:
                    store.search(SearchQuery(text=self.text, limit=5))
                except Exception as exc:  # every failure is counted and reported, none hidden
                    phase.failed += 1
                    if len(phase.errors) < 5:
                        phase.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                phase.searches += 1
                phase.slowest = max(phase.slowest, time.monotonic() - began)
                self._stop.wait(self.pause)
        finally:
            store.close()

    def __enter__(self) -> SearchProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(60)

    def searches(self, phase: str) -> int:
        found = self.phases.get(phase)
        return found.searches if found else 0

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: {"searches": p.searches, "failed": p.failed, "slowest_s": round(p.slowest, 3),
                       "errors": p.errors} for name, p in self.phases.items()}


class PageBudget:
    """Answer at most ``budget`` page requests; hold the next ones until :meth:`grant` or
    :meth:`open` (``robots.txt`` is never held).  ``hold_limit`` bounds a hold (seconds)."""

    def __init__(self, budget: int, hold_limit: float = 900.0) -> None:
        self.budget: float = budget
        self.served = 0
        self.hold_limit = hold_limit
        self._cond = threading.Condition()

    def __call__(self, host: str, path: str) -> None:
        if path.startswith("/robots.txt"):
            return
        with self._cond:
            self._cond.wait_for(lambda: self.served < self.budget, timeout=self.hold_limit)
            self.served += 1

    def grant(self, pages: int) -> None:
        with self._cond:
            self.budget = self.served + pages
            self._cond.notify_all()

    def open(self) -> None:
        with self._cond:
            self.budget = math.inf
            self._cond.notify_all()

    def waiting(self) -> bool:
        """True when the crawl has used the whole budget (the test may go on)."""
        with self._cond:
            return self.served >= self.budget


def shard_holders(url: str, index: str) -> dict[str, set[str]]:
    """node name -> {"p", "r"}: the kinds of shard copies of ``index`` each member holds."""
    out: dict[str, set[str]] = {}
    for row in http_json(f"{url}/_cat/shards/{index}?format=json", timeout=30):
        if row.get("node"):
            out.setdefault(row["node"], set()).add(row["prirep"])
    return out


def choose_victim(cluster: OpenSearchCluster, index: str, spare: set[int]) -> int:
    """A member to SIGKILL: not in ``spare`` (the members the store URLs name), not the elected
    cluster manager when that can be avoided, holding a primary of ``index`` if one does."""
    manager = cluster.cluster_manager()
    holders = shard_holders(cluster.url, index)
    candidates = [i for i in range(cluster.size) if i not in spare]
    if not candidates:
        raise ValueError("every member is spared: nothing to kill")
    return max(candidates, key=lambda i: (i != manager, "p" in holders.get(f"node-{i}", set())))


def engine_count(url: str, index: str, refresh: bool = True) -> int:
    """Documents in ``index`` as ``url`` sees them (after a refresh); -1 when it cannot say."""
    try:
        if refresh:
            _post(f"{url}/{index}/_refresh")
        return int(http_json(f"{url}/{index}/_count", timeout=30)["count"])
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return -1


def local_count(url: str, index: str) -> int:
    """Documents ``url`` counts from its own shard copies (``preference=_local``)."""
    return int(http_json(f"{url}/{index}/_count?preference=_local", timeout=30)["count"])


def _post(url: str) -> None:
    import urllib.request

    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as resp:
        json.loads(resp.read() or b"{}")
