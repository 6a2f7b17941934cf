"""``portalnews schedule`` and ``portalnews crawl --due`` against a mirror served on loopback.

Acceptance: a scheduler with three portals on short intervals crawls each the expected
number of times, never two crawls of one portal at once, within its parallel cap; the
calendar survives a restart; SIGTERM stops it cleanly; a failing portal does not stop it;
a crawl whose lease another worker took is stopped at once; a backed-off host waits.
Tests of the calendar, leases and back-off run the scheduler on a clock they move by hand
(no sleeping against the wall clock); the crawls themselves are real child processes.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawler.mirror import MirrorServer, generate_mirror
from crawler.scheduling.intervals import next_due, parse_duration, recrawl_due, recrawl_interval
from crawler.scheduling.scheduler import SchedulerOptions, when
from pipelines.storage import Store, open_store
from tests.conftest import free_port
from tests.scheduling import (
    FAST,
    ManualClock,
    SchedulerThread,
    add_portal,
    max_concurrency,
    overlaps,
    run_cli,
    spans,
    start_worker,
    wait_for,
    write_registry,
)


# --- the calendar rules ----------------------------------------------------------------------
def test_durations() -> None:
    assert parse_duration("6h") == 21600
    assert parse_duration("30m") == 1800
    assert parse_duration("1d") == 86400
    assert parse_duration("45s") == 45
    assert parse_duration("1.5h") == 5400
    assert parse_duration("90") == 90
    for bad in ("", "6x", "-1h", "h", "1 hour"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_next_due_is_fixed_rate_with_jitter_and_no_catch_up() -> None:
    assert next_due(None, 100.0, 101.0, 10.0) == 110.0  # first crawl: from its start
    assert next_due(110.0, 110.3, 111.0, 10.0) == 120.0  # on time: from the due time, no drift
    assert next_due(110.0, 150.0, 151.0, 10.0) == 160.0  # late by more than an interval: restart
    assert next_due(110.0, 110.0, 125.0, 10.0) == 126.0  # longer than the interval: a short pause
    rng = random.Random(1)
    values = [next_due(None, 0.0, 1.0, 100.0, jitter=0.1, rng=rng) for _ in range(200)]
    assert 90.0 <= min(values) < 95.0 and 105.0 < max(values) <= 110.0


def test_recrawl_policy_decays_with_age() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert recrawl_interval(3600) == 3600  # clamped to 1 h
    assert recrawl_interval(86400) == 6 * 3600  # a day old: every 6 h
    assert recrawl_interval(30 * 86400) == 3 * 86400  # clamped to 3 d

    def iso(dt: datetime) -> str:
        return dt.isoformat()

    day_old = iso(now - timedelta(days=1))
    assert recrawl_due(day_old, iso(now - timedelta(hours=7)), now)
    assert not recrawl_due(day_old, iso(now - timedelta(hours=5)), now)
    assert recrawl_due(day_old, None, now)
    assert not recrawl_due(iso(now - timedelta(days=15)), iso(now - timedelta(days=5)), now)  # too old
    assert recrawl_due(iso(now - timedelta(days=15)), iso(now - timedelta(days=5)), now, max_age_days=30)
    assert not recrawl_due(None, None, now)
    assert not recrawl_due(day_old, None, now, max_age_days=0)  # disabled


# --- a served mirror ------------------------------------------------------------------------
@dataclass
class Mirror:
    root: Path
    port: int
    ids: list[str]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    root = tmp_path_factory.mktemp("sched-mirror")
    generate_mirror(root, portals=3, articles_per_portal=8, host_prefix="127.0.5.")
    server = MirrorServer(root / "site")
    server.start()
    ids = [line.split(":", 1)[1].strip() for line in (root / "portals.yaml").read_text("utf-8").splitlines()
           if line.strip().startswith("- id:")]
    try:
        yield Mirror(root, server.port, ids)
    finally:
        server.stop()


def schedule_args(registry: Path, mirror: Mirror, store: str, *extra: str) -> list[str]:
    return ["--portals", str(registry), "--var", f"PORT={mirror.port}", "--store", store, "--jitter", "0",
            "--poll", "0.2", *FAST, *extra]


def leases_left(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM leases")]


def options_for(registry: Path, mirror: Mirror, store: str, **kw: Any) -> SchedulerOptions:
    """What ``schedule_args`` says on the command line, for a scheduler in this process."""
    settings = kw.pop("settings", FAST[1::2])
    return SchedulerOptions(registry=str(registry), store_url=store, url_vars={"PORT": str(mirror.port)}, jitter=0.0,
                            poll=0.2, settings=list(settings), **kw)


def settled(store: Store, ids: list[str], now: float) -> bool:
    """Every crawl due by ``now`` has run: each portal's next due time is later, no lease is held."""
    due = store.next_due(ids)
    return all(d is not None and d > now for d in due.values()) and store.leases() == []


def wait_settled(worker: SchedulerThread, store: Store, ids: list[str], clock: ManualClock, what: str) -> None:
    wait_for(lambda: worker.alive() and settled(store, ids, clock()), 180, what=what)


def test_three_portals_on_short_intervals_are_crawled_the_expected_number_of_times(
        mirror: Mirror, tmp_path: Path) -> None:
    """The scheduler runs on a clock the test moves one second at a time, and each step waits
    until every crawl due by then has run (real crawls in child processes): the counts and the
    due times are exact however long the crawls take."""
    every = dict(zip(mirror.ids, ("3s", "4s", "7s"), strict=True))
    registry = tmp_path / "portals.yaml"
    write_registry(mirror.root / "portals.yaml", registry, every)
    db = tmp_path / "store.db"
    clock = ManualClock(float(int(time.time())))
    t0 = clock()
    probe = open_store(f"sqlite:///{db}")
    probe.open()
    try:
        with SchedulerThread(options_for(registry, mirror, f"sqlite:///{db}", max_parallel=3), clock) as worker:
            for second in range(11):  # crawls due at 0, 3, 6, 9 / 0, 4, 8 / 0, 7
                if second:
                    clock.advance(1)
                    worker.wake()
                wait_settled(worker, probe, mirror.ids, clock, f"the crawls due by t0+{second}s")
            code = worker.stop()
        calendar = probe.schedule(mirror.ids)
    finally:
        probe.close()
    text = worker.text()
    assert code == 0, text[-3000:]
    found = spans(worker.events())
    starts = Counter(s.portal for s in found)
    expected = {mirror.ids[0]: 4, mirror.ids[1]: 3, mirror.ids[2]: 2}
    print("crawls per portal:", dict(starts), "expected:", expected)
    assert dict(starts) == expected, text[-3000:]
    dues = {pid: [e.field("due") for e in worker.events() if e.kind == "start" and e.portal == pid]
            for pid in mirror.ids}
    assert dues == {pid: ["-"] + [when(t0 + k * n) for k in range(1, expected[pid])]
                    for pid, n in zip(mirror.ids, (3, 4, 7), strict=True)}  # fixed rate: no drift
    assert {pid: calendar[pid].next_due for pid in mirror.ids} == {
        mirror.ids[0]: t0 + 12, mirror.ids[1]: t0 + 12, mirror.ids[2]: t0 + 14}
    assert overlaps(found) == []
    assert all(s.end is not None for s in found), "every crawl has an end line"
    assert max_concurrency(found) <= 3
    assert "scheduler stopped" in text
    assert leases_left(db) == []
    store = open_store(f"sqlite:///{db}")
    store.open()
    try:
        runs = Counter(r.portal_id for r in store.runs(limit=100))
        assert runs == Counter(s.portal for s in found)  # one run record per crawl
        assert all(r.outcome in ("ok", "interrupted") for r in store.runs(limit=100))
        assert set(store.schedule(mirror.ids)) == set(mirror.ids)
    finally:
        store.close()


def test_a_worker_that_loses_its_lease_stops_that_crawl_at_once(mirror: Mirror, tmp_path: Path) -> None:
    """The worker's clock stands still (it stalls), another worker's clock is past the lease's
    expiry and takes the portal over: the heartbeat finds the lease gone and the crawl is
    killed mid-way, not left to finish; the new holder's lease and calendar are left alone."""
    registry = tmp_path / "portals.yaml"
    pid = write_registry(mirror.root / "portals.yaml", registry, default_every="1h", keep=mirror.ids[:1])[0]
    db = tmp_path / "store.db"
    slow = ["AUTOTHROTTLE_ENABLED=False", "DOWNLOAD_DELAY=1", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]  # 10 s or more
    clock = ManualClock(float(int(time.time())))
    store = open_store(f"sqlite:///{db}")
    store.open()
    try:
        with SchedulerThread(options_for(registry, mirror, f"sqlite:///{db}", lease_ttl=1.0, settings=slow),
                             clock) as worker:
            wait_for(lambda: worker.alive() and any(e.kind == "start" for e in worker.events()), 60,
                     what="the crawl to start")
            assert store.acquire_lease(pid, "other-host:1:beef", 60, now=clock() + 2.0)  # its lease expired at +1
            wait_for(lambda: worker.alive() and any(e.kind == "end" for e in worker.events()), 60,
                     what="the crawl to be stopped")
            code = worker.stop()
        leases = {lease.name: lease.worker for lease in store.leases()}
        calendar = store.schedule([pid])
        runs = store.runs(pid)
    finally:
        store.close()
    text = worker.text()
    assert code == 0, text[-3000:]
    end = next(e for e in worker.events() if e.kind == "end")
    assert (end.field("exit"), end.field("outcome")) == ("-9", "lease"), text[-3000:]  # "lease lost": killed
    assert "lease lost" in text
    assert leases[pid] == "other-host:1:beef"  # the new holder's lease stays
    assert calendar == {}  # nothing recorded for a crawl another worker now owns
    assert [r.outcome for r in runs] in ([], ["running"])  # killed: it never recorded an end


def test_a_backed_off_host_waits_until_its_back_off_ends(mirror: Mirror, tmp_path: Path) -> None:
    registry = tmp_path / "portals.yaml"
    pid = write_registry(mirror.root / "portals.yaml", registry, default_every="1h", keep=mirror.ids[:1])[0]
    db = tmp_path / "store.db"
    # the scheduler's clock runs an hour behind the real one: the crawl child (on the real
    # clock) sees the back-off as long over and crawls at its normal pace
    clock = ManualClock(float(int(time.time())) - 3600)
    t0 = clock()
    store = open_store(f"sqlite:///{db}")
    store.open()
    host = yaml.safe_load(registry.read_text("utf-8"))["portals"][0]["url"].split("//", 1)[1].split(":", 1)[0]
    try:
        store.record_backoff(host, clock() + 30, "HTTP 429, Retry-After 30s", delay=5, now=clock())
        with SchedulerThread(options_for(registry, mirror, f"sqlite:///{db}"), clock) as worker:
            wait_for(lambda: worker.alive() and "backed off until" in worker.text(), 30, what="the back-off notice")
            for _ in range(29):  # nothing starts while the host is backed off
                clock.advance(1)
                worker.wake()
                time.sleep(0.05)
            assert worker.events() == [] and store.leases() == []
            clock.advance(1)  # the back-off ends
            worker.wake()
            wait_settled(worker, store, [pid], clock, "the crawl after the back-off")
            code = worker.stop()
        next_time = store.next_due([pid])[pid]
    finally:
        store.close()
    assert code == 0
    found = spans(worker.events())
    assert [(s.portal, s.outcome) for s in found] == [(pid, "ok")]
    assert next_time == t0 + 30 + 3600  # started when the back-off ended, due again an interval later


def test_cap_once_and_the_calendar_survives_a_restart(mirror: Mirror, tmp_path: Path) -> None:
    registry = tmp_path / "portals.yaml"
    write_registry(mirror.root / "portals.yaml", registry, default_every="1h")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    first = start_worker(tmp_path / "first.log", *schedule_args(registry, mirror, store, "--once",
                                                                "--max-parallel", "1"))
    assert first.process.wait(90) == 0, first.text()[-3000:]
    found = spans(first.events())
    assert sorted(s.portal for s in found) == sorted(mirror.ids)
    assert max_concurrency(found) == 1  # the global cap
    assert all(s.outcome == "ok" for s in found), first.text()[-3000:]
    # a new scheduler process reads the next-due times from the store: nothing is due
    again = start_worker(tmp_path / "again.log", *schedule_args(registry, mirror, store, "--once"))
    assert again.process.wait(60) == 0
    assert spans(again.events()) == []
    due = run_cli("crawl", "--due", "--portals", str(registry), "--var", f"PORT={mirror.port}", "--store", store,
                  *FAST)
    assert due.returncode == 0 and "no portal is due" in due.stderr
    status = run_cli("schedule", "--status", "--portals", str(registry), "--var", f"PORT={mirror.port}",
                     "--store", store)
    assert status.returncode == 0, status.stderr
    assert all(pid in status.stdout for pid in mirror.ids) and "ok" in status.stdout


def test_crawl_due_crawls_only_due_portals(mirror: Mirror, tmp_path: Path) -> None:
    registry = tmp_path / "portals.yaml"
    write_registry(mirror.root / "portals.yaml", registry, default_every="1h")
    db = tmp_path / "store.db"
    store_url = f"sqlite:///{db}"
    store = open_store(store_url)
    store.open()
    store.set_next_due(mirror.ids[2], time.time() + 3600)  # not due yet
    store.close()
    first = run_cli("crawl", "--due", "--portals", str(registry), "--var", f"PORT={mirror.port}", "--store",
                    store_url, *FAST)
    assert first.returncode == 0, first.stderr[-2000:]
    assert mirror.ids[0] in first.stdout and mirror.ids[1] in first.stdout and mirror.ids[2] not in first.stdout
    store = open_store(store_url)
    store.open()
    try:
        calendar = store.schedule(mirror.ids)
        for pid in mirror.ids[:2]:
            assert calendar[pid].next_due is not None and calendar[pid].next_due > time.time() + 3000
            assert calendar[pid].last_status == "ok"
        assert store.leases() == []
    finally:
        store.close()
    second = run_cli("crawl", "--due", "--portals", str(registry), "--var", f"PORT={mirror.port}", "--store",
                     store_url, *FAST)
    assert second.returncode == 0 and "no portal is due" in second.stderr


def test_sigterm_stops_a_running_crawl_cleanly_and_a_failing_portal_does_not_stop_the_scheduler(
        mirror: Mirror, tmp_path: Path) -> None:
    registry = tmp_path / "portals.yaml"
    ids = write_registry(mirror.root / "portals.yaml", registry, default_every="1h", keep=mirror.ids[:1])
    # a portal nobody answers for: its crawl fails, the scheduler goes on
    add_portal(registry, {"id": "unreachable", "name": "Nobody home", "level": "commune", "province": "Phú Yên",
                          "url": f"http://127.0.5.200:{free_port()}/"})
    db = tmp_path / "store.db"
    slow = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0.5", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
            "-s", "RETRY_TIMES=0"]
    worker = start_worker(tmp_path / "worker.log", "--portals", str(registry), "--var", f"PORT={mirror.port}",
                          "--store", f"sqlite:///{db}", "--poll", "0.2", *slow)
    try:
        wait_for(lambda: any(e.kind == "end" and e.portal == "unreachable" for e in worker.events()), 60,
                 what="the failing portal's crawl", workers=[worker])
        assert worker.process.poll() is None, "a failing portal stopped the scheduler"
        probe = open_store(f"sqlite:///{db}")
        probe.open()
        try:  # the mirror portal is mid-crawl (one request every 0.5 s): its run is recorded as running
            wait_for(lambda: [r.outcome for r in probe.runs(ids[0], limit=1)] == ["running"], 60,
                     what="the mirror portal's crawl to be under way", workers=[worker])
        finally:
            probe.close()
        started = time.time()
        code = worker.stop(timeout=60)
        stopped_in = time.time() - started
    finally:
        worker.kill()
    log = worker.text()
    assert code == 0, log[-3000:]
    found = {s.portal: s for s in spans(worker.events())}
    assert found["unreachable"].outcome not in (None, "ok")
    assert found[ids[0]].outcome == "interrupted", log[-3000:]
    assert stopped_in < 30
    assert leases_left(db) == []
    store = open_store(f"sqlite:///{db}")
    store.open()
    try:
        assert (store.next_due([ids[0]])[ids[0]] or 0) <= time.time()  # stays due: resumed at the next start
        assert store.runs(ids[0], limit=1)[0].outcome == "interrupted"
    finally:
        store.close()
