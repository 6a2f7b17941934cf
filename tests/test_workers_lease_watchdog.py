"""A worker whose store stops answering stops its crawl before the lease expires.

A partition can leave the store's address black-holed rather than refusing: every request
waits for ``PORTALNEWS_ES_TIMEOUT`` and is retried.  The lease heartbeat used to decide only
after its renewal request had failed, so a crawl could go on long after its lease expired
(and another worker could crawl the portal at the same time).  Here the store is a real TCP
listener on loopback that completes the handshake and never answers (the kernel queues the
connections; nothing accepts them)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from crawler.scheduling.scheduler import LeaseKeeper

TTL = 6.0


@pytest.fixture()
def black_hole() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_a_crawl_is_stopped_before_its_lease_expires_when_the_store_never_answers(
        black_hole: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # each request waits this long and is retried once: a failed renewal takes the whole TTL
    monkeypatch.setenv("PORTALNEWS_ES_TIMEOUT", "3")
    lost: list[tuple[str, float]] = []
    reported = threading.Event()

    def on_lost(key: str) -> None:
        lost.append((key, time.monotonic()))
        reported.set()

    keeper = LeaseKeeper(f"opensearch://127.0.0.1:{black_hole}?prefix=watchdog", "w1", TTL, on_lost=on_lost)
    keeper.start()
    try:
        added = time.monotonic()
        keeper.add("portal-1", ["portal-1", "host:example.gov.vn"])
        assert reported.wait(TTL * 3), "the crawl was never stopped"
        key, at = lost[0]
        assert key == "portal-1"
        assert keeper.lost("portal-1")
        # stopped before the lease (taken at `added`, never renewed) expires, not before 0.8 x TTL
        assert TTL * 0.8 - 0.05 <= at - added < TTL, at - added
        assert [k for k, _ in lost] == ["portal-1"]  # reported once
    finally:
        keeper.stop()
