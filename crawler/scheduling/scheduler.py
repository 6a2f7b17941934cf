"""``portalnews schedule``: the long-running crawl scheduler, and ``portalnews crawl --due``.

The loop, once a second (``--poll``):

1. reads the registry (again when the file changed); each portal's interval is its
   ``every`` key (``6h``, ``30m`` …) or ``--every`` (default 6h);
2. reads the portals' next-due times from the store (:mod:`pipelines.storage.coordination`),
   so the calendar survives a restart and is shared by every worker on the store;
3. for each due portal, oldest due first, while fewer than ``--max-parallel`` crawls run
   in this worker: skips it if its host is backed off (429/503, see
   :mod:`crawler.middlewares.politeness`), takes the portal's lease and its host's lease
   (``host:<hostname>``, so two portals on one host are never crawled at once by any
   worker), checks it is still due (another worker may just have crawled it), and runs
   ``python -m crawler.cli crawl --portal ID`` in a **child process**: a failing portal
   cannot take the scheduler down.  The child dies with the worker (``PR_SET_PDEATHSIG``);
4. a heartbeat thread renews the leases of running crawls every ``ttl / 3``; a crawl whose
   lease is lost (the worker stalled past the TTL and another worker took the portal) is
   stopped at once;
5. when a crawl ends: next due = due + interval ± ``--jitter`` (see
   :func:`crawler.scheduling.intervals.next_due`), then the leases are released.

One log line at the start and one at the end of each crawl.  SIGTERM (or Ctrl-C) stops
launching, sends SIGTERM to the running crawls (they finish their in-flight requests and
record the run as interrupted), waits up to ``--stop-timeout``, releases the leases and
exits 0; interrupted portals stay due.  ``--once`` runs until no portal is due: with
several workers it also waits for portals another worker holds, and takes them over when
that worker's lease expires.

Workers on different machines share one engine store; a worker's id is
``host:pid:random``.  The lease per portal (and per host) is also what keeps the per-host
request limits true across all workers: only one worker crawls a host at a time.

Every decision about time (what is due, lease expiry, back-off, the next due time) reads
one clock, ``clock`` (epoch seconds, ``time.time`` by default), which tests replace with a
clock they move by hand; only the polling and the stop timeout wait in real time.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawler.registry import Portal, Registry, RegistryError, load_registry
from crawler.scheduling.intervals import format_duration, next_due, parse_duration
from pipelines.model.kinds import RunOutcome
from pipelines.storage import Coordination, StoreError, open_store
from pipelines.storage.base import redact_url

logger = logging.getLogger(__name__)

DEFAULT_EVERY = "6h"
DEFAULT_JITTER = 0.1
DEFAULT_LEASE_TTL = 60.0
DEFAULT_MAX_PARALLEL = 4
_PR_SET_PDEATHSIG = 1
#: Epoch seconds; the scheduler's only source of "now" (injectable for tests).
Clock = Callable[[], float]


def make_worker_id() -> str:
    """``host:pid:random``: unique per process, readable in lease records and logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def lease_names(portal: Portal) -> list[str]:
    """The leases a crawl of ``portal`` holds: the portal's, and its host's."""
    return [portal.id, f"host:{portal.hostname}"]


def when(epoch: float | None) -> str:
    """Epoch seconds for a log line (UTC, seconds)."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def acquire_all(store: Coordination, names: Sequence[str], worker: str, ttl: float, now: float | None = None) -> bool:
    """Take every lease in ``names`` or none (those taken are released again)."""
    taken: list[str] = []
    for name in names:
        if not store.acquire_lease(name, worker, ttl, now=now):
            for got in taken:
                store.release_lease(got, worker)
            return False
        taken.append(name)
    return True


def release_all(store: Coordination, names: Iterable[str], worker: str) -> None:
    for name in names:
        try:
            store.release_lease(name, worker)
        except StoreError as exc:
            logger.warning("could not release lease %s (it expires by itself): %s", name, exc)


def portal_interval(portal: Portal, default: float) -> float:
    if portal.every:
        try:
            return parse_duration(portal.every)
        except ValueError:
            logger.warning("%s: bad interval %r, using the default", portal.id, portal.every)
    return default


class LeaseKeeper:
    """Heartbeat thread: renews the leases of running crawls every ``ttl / 3`` seconds.

    Uses a store connection of its own, so a slow call in the main loop never delays a
    renewal.  A group whose lease could not be renewed (taken by another worker, or not
    renewed for longer than the TTL) is marked lost and ``on_lost`` is called.  A watchdog
    thread does the same for a group whose last successful renewal started 0.8 x TTL ago
    even while a renewal request hangs (a store that does not answer at all), so the crawl
    stops before its lease expires and another worker may take the portal."""

    def __init__(self, store_url: str, worker: str, ttl: float,
                 on_lost: Callable[[str], None] | None = None, clock: Clock = time.time) -> None:
        self.store_url = store_url
        self.worker = worker
        self.ttl = ttl
        self.on_lost = on_lost
        self.clock = clock
        self._groups: dict[str, list[str]] = {}
        self._renewed: dict[str, float] = {}
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        # held for a whole renewal pass: remove() waits for it, so that no renewal read before
        # the release can write the lease back (on the engines a renewal is a read, then a
        # conditional write: interleaved with a release it made the release fail)
        self._renewing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="portalnews-leases", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name="portalnews-lease-watchdog", daemon=True)

    def add(self, key: str, names: Sequence[str]) -> None:
        with self._lock:
            self._groups[key] = list(names)
            self._renewed[key] = self.clock()

    def remove(self, key: str) -> None:
        """Stop renewing ``key``'s leases; once this returns no renewal of them is under way."""
        with self._renewing, self._lock:
            self._groups.pop(key, None)
            self._renewed.pop(key, None)
            self._lost.discard(key)

    def lost(self, key: str) -> bool:
        with self._lock:
            return key in self._lost

    def start(self) -> LeaseKeeper:
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        if self._watchdog.is_alive():
            self._watchdog.join(10)

    def _run(self) -> None:
        store = open_store(self.store_url)
        try:
            store.open()
        except StoreError as exc:
            logger.error("lease heartbeat: cannot open the store: %s", exc)
        try:
            while not self._stop.wait(max(0.2, self.ttl / 3)):
                self.renew(store)
        finally:
            store.close()

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, max(0.05, self.ttl / 20))):
            self.expire_overdue()

    def expire_overdue(self) -> list[str]:
        """Mark lost (and report) every group not renewed for 0.8 x TTL; those keys."""
        now = self.clock()
        with self._lock:
            overdue = [k for k, at in self._renewed.items()
                       if k in self._groups and k not in self._lost and now - at >= self.ttl * 0.8]
            self._lost.update(overdue)
        for key in overdue:
            logger.error("%s: lease not renewed for %.1fs (the store does not answer): stopping this crawl before "
                         "the lease expires", key, now - self._renewed.get(key, now))
            if self.on_lost:
                self.on_lost(key)
        return overdue

    def renew(self, store: Coordination) -> None:
        with self._renewing:
            self._renew(store)

    def _renew(self, store: Coordination) -> None:
        with self._lock:
            groups = {k: list(v) for k, v in self._groups.items() if k not in self._lost}
        for key, names in groups.items():
            now = self.clock()
            try:
                ok = all(store.renew_lease(name, self.worker, self.ttl, now=now) for name in names)
            except StoreError as exc:
                with self._lock:
                    last = self._renewed.get(key, now)
                logger.warning("%s: lease renewal failed: %s", key, exc)
                ok = now - last < self.ttl * 0.8  # still ours for a while; stop before it expires
                if ok:
                    continue
            with self._lock:
                if key not in self._groups:
                    continue
                if ok:
                    self._renewed[key] = now
                    continue
                self._lost.add(key)
            logger.error("%s: lease lost (another worker may hold it now): stopping this crawl", key)
            if self.on_lost:
                self.on_lost(key)


@dataclass
class SchedulerOptions:
    registry: str
    store_url: str
    url_vars: dict[str, str] = field(default_factory=dict)
    default_every: float = 6 * 3600.0
    jitter: float = DEFAULT_JITTER
    max_parallel: int = DEFAULT_MAX_PARALLEL
    lease_ttl: float = DEFAULT_LEASE_TTL
    poll: float = 1.0
    once: bool = False
    portal_ids: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)  # -s NAME=VALUE for every crawl
    full: bool = False
    log_dir: Path | None = None
    stop_timeout: float = 60.0
    worker_id: str = field(default_factory=make_worker_id)
    python: str = sys.executable


@dataclass
class Job:
    """One running crawl of one portal, in a child process."""

    portal: Portal
    process: subprocess.Popen[bytes]
    due: float | None
    started: float
    interval: float
    stats_file: Path
    log_file: Path
    leases: list[str]
    stopping: bool = False
    lost: bool = False


class Scheduler:
    """See the module docstring.  ``run()`` returns the exit code (0 after SIGTERM)."""

    def __init__(self, options: SchedulerOptions, rng: random.Random | None = None, clock: Clock = time.time) -> None:
        self.options = options
        self.worker = options.worker_id
        self.rng = rng or random.Random()
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self.crawls = 0
        self._store: Coordination | None = None
        self._registry: Registry | None = None
        self._registry_mtime: float | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._hard_stop = False
        self._tmp = Path(tempfile.mkdtemp(prefix="portalnews-schedule-"))
        self._prctl: Any = None
        self._told: set[tuple[str, str]] = set()
        self._keeper: LeaseKeeper | None = None
        self._loop_error = ""

    # --- signals -----------------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        """SIGTERM/SIGINT: stop launching and stop the running crawls (twice: kill them)."""
        if self._stop.is_set():
            self._hard_stop = True
        self._stop.set()
        self._wake.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    # --- main loop ---------------------------------------------------------------------------
    def run(self) -> int:
        opts = self.options
        self._install_signals()
        store = open_store(opts.store_url)
        store.open()
        self._store = store
        registry = self._load_registry()
        self._keeper = LeaseKeeper(opts.store_url, self.worker, opts.lease_ttl, on_lost=self._lease_lost,
                                   clock=self.clock).start()
        logger.info("scheduler started worker=%s portals=%d max_parallel=%d lease_ttl=%s store=%s%s",
                    self.worker, len(self._portals(registry)), opts.max_parallel, format_duration(opts.lease_ttl),
                    redact_url(opts.store_url), " (once)" if opts.once else "")
        try:
            while True:
                self._reap()
                if self._stop.is_set():
                    break
                try:
                    registry = self._load_registry()
                    pending = self._launch_due(self._portals(registry))
                    self._loop_error = ""
                except (StoreError, RegistryError) as exc:
                    if str(exc) != self._loop_error:  # once per distinct problem, not every second
                        logger.error("scheduler: %s (retrying every %.1fs)", exc, opts.poll)
                        self._loop_error = str(exc)
                    pending = True
                if opts.once and not self.jobs and not pending:
                    break
                self._wake.wait(opts.poll)
                self._wake.clear()
        finally:
            self._shutdown()
            self._keeper.stop()
            store.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
        logger.info("scheduler stopped worker=%s crawls=%d", self.worker, self.crawls)
        return 0

    def _load_registry(self) -> Registry:
        path = self.options.registry
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            mtime = None
        if self._registry is None or mtime != self._registry_mtime:
            registry = load_registry(path, placeholders=self.options.url_vars)
            for problem in registry.problems:
                logger.warning("registry: %s (entry skipped)", problem)
            self._registry, self._registry_mtime = registry, mtime
        return self._registry

    def _portals(self, registry: Registry) -> list[Portal]:
        return registry.select(self.options.portal_ids or None)

    def _launch_due(self, portals: list[Portal]) -> bool:
        """Launch what is due and may run; True while some portal is still due (for ``--once``)."""
        assert self._store is not None
        store, opts = self._store, self.options
        now = self.clock()
        candidates = [p for p in portals if p.id not in self.jobs]
        if not candidates:
            return False
        due_at = store.next_due([p.id for p in candidates])
        due = [p for p in candidates if due_at[p.id] is None or (due_at[p.id] or 0.0) <= now]
        if not due:
            return False
        backoffs = store.backoffs(sorted({p.hostname for p in due}))
        pending = False
        running_hosts = {j.portal.hostname for j in self.jobs.values()}
        for portal in sorted(due, key=lambda p: (due_at[p.id] or 0.0, p.id)):
            backoff = backoffs.get(portal.hostname)
            if backoff is not None and backoff.active(now):
                self._tell(portal.id, f"backoff:{backoff.until}", "%s: not crawled: host %s backed off until %s (%s)",
                           portal.id, portal.hostname, when(backoff.until), backoff.reason)
                continue
            pending = True
            if len(self.jobs) >= opts.max_parallel or self._stop.is_set() or portal.hostname in running_hosts:
                continue
            names = lease_names(portal)
            if not acquire_all(store, names, self.worker, opts.lease_ttl, now=self.clock()):
                continue  # another worker crawls it (or its host) now
            current = store.next_due([portal.id])[portal.id]
            if current is not None and current > self.clock():
                release_all(store, names, self.worker)  # crawled by another worker meanwhile
                continue
            self._start(portal, current, names)
            running_hosts.add(portal.hostname)
        return pending

    def _tell(self, portal_id: str, what: str, message: str, *args: Any) -> None:
        if (portal_id, what) not in self._told:
            self._told.add((portal_id, what))
            logger.info(message, *args)

    # --- children ----------------------------------------------------------------------------
    def _child_setup(self) -> Callable[[], None]:
        """``preexec_fn``: the child gets SIGKILL when this worker dies (PR_SET_PDEATHSIG).

        SIGKILL rather than SIGTERM: once the worker is gone its leases are no longer
        renewed and another worker may take the portal over; the orphaned crawl must not
        run on.  The next crawl resumes where it stopped."""
        if self._prctl is None:  # resolved in the parent: the child must not load libraries
            try:
                self._prctl = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):
                self._prctl = False
        prctl = self._prctl
        parent = os.getpid()

        def setup() -> None:
            if prctl:
                prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the worker died before prctl took effect
                os._exit(70)

        return setup

    def _command(self, portal: Portal, stats_file: Path) -> list[str]:
        opts = self.options
        cmd = [opts.python, "-m", "crawler.cli", "crawl", "--portals", opts.registry, "--portal", portal.id,
               "--stats-file", str(stats_file)]
        for name, value in opts.url_vars.items():
            cmd += ["--var", f"{name}={value}"]
        for setting in opts.settings:
            cmd += ["-s", setting]
        if opts.full:
            cmd.append("--full")
        return cmd

    def _start(self, portal: Portal, due: float | None, names: list[str]) -> None:
        opts = self.options
        started = self.clock()
        stamp = datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%S")
        stats_file = self._tmp / f"{portal.id}-{stamp}-{secrets.token_hex(2)}.json"
        log_dir = opts.log_dir or self._tmp
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / f"{portal.id}-{stamp}.log"
        env = dict(os.environ)
        env["PORTALNEWS_STORE"] = opts.store_url  # not on the command line: it may hold a password
        env["PORTALNEWS_WORKER_ID"] = self.worker
        with open(log_file, "ab") as log:
            process = subprocess.Popen(self._command(portal, stats_file), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                       preexec_fn=self._child_setup())  # see _child_setup
        job = Job(portal=portal, process=process, due=due, started=started,
                  interval=portal_interval(portal, opts.default_every), stats_file=stats_file, log_file=log_file,
                  leases=names)
        self.jobs[portal.id] = job
        if self._keeper is not None:
            self._keeper.add(portal.id, names)
        self.crawls += 1
        logger.info("crawl start portal=%s worker=%s pid=%d due=%s every=%s", portal.id, self.worker, process.pid,
                    when(due), format_duration(job.interval))

    def _lease_lost(self, portal_id: str) -> None:
        job = self.jobs.get(portal_id)
        if job is not None:
            job.lost = True
            with contextlib.suppress(ProcessLookupError):
                job.process.kill()
        self._wake.set()

    def _reap(self) -> None:
        for portal_id, job in list(self.jobs.items()):
            code = job.process.poll()
            if code is None:
                continue
            del self.jobs[portal_id]
            self._finish(job, code)

    def _summary(self, job: Job) -> dict[str, Any]:
        try:
            stats = json.loads(job.stats_file.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        for row in stats.get("portalnews/summary") or []:
            if row.get("portal_id") == job.portal.id:
                return dict(row)
        return {}

    def _last_error(self, job: Job) -> str:
        try:
            lines = job.log_file.read_text("utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            if "ERROR" in line or "error:" in line or "Traceback" in line:
                return line.strip()[:300]
        return lines[-1].strip()[:300] if lines else ""

    def _finish(self, job: Job, code: int) -> None:
        assert self._store is not None
        finished = self.clock()
        if self._keeper is not None:
            lost = self._keeper.lost(job.portal.id) or job.lost
            self._keeper.remove(job.portal.id)
        else:
            lost = job.lost
        summary = self._summary(job)
        status = (summary.get("outcome") or "ok") if code == 0 else (
            f"exit {code}" if code > 0 else f"killed by signal {-code}")
        if job.stopping:
            status = "interrupted"
        next_time: float | None = None
        try:
            if lost:
                status = "lease lost"
            elif job.stopping:  # stays due: the next start resumes it
                self._store.set_next_due(job.portal.id, job.due if job.due is not None else job.started,
                                         last_started=job.started, last_finished=finished, last_worker=self.worker,
                                         last_status=status)
            else:
                next_time = next_due(job.due, job.started, finished, job.interval, self.options.jitter, self.rng)
                self._store.set_next_due(job.portal.id, next_time, last_started=job.started,
                                         last_finished=finished, last_worker=self.worker, last_status=status)
        except StoreError as exc:
            logger.error("%s: could not record the next due time: %s", job.portal.id, exc)
        note = "" if code == 0 or job.stopping else f" error={self._last_error(job)!r}"
        logger.info("crawl end portal=%s worker=%s exit=%d outcome=%s pages=%s new=%s updated=%s seconds=%.1f "
                    "next_due=%s%s", job.portal.id, self.worker, code, status, summary.get("pages", "-"),
                    summary.get("new", "-"), summary.get("updated", "-"), finished - job.started, when(next_time),
                    note)
        if not lost:  # after the end line: another worker's start line always comes later
            release_all(self._store, job.leases, self.worker)
        if self.options.log_dir is None:
            with contextlib.suppress(OSError):
                job.log_file.unlink()
        with contextlib.suppress(OSError):
            job.stats_file.unlink()

    def _shutdown(self) -> None:
        if not self.jobs:
            return
        logger.info("stopping %d running crawl(s)", len(self.jobs))
        for job in self.jobs.values():
            job.stopping = True
            with contextlib.suppress(ProcessLookupError):
                job.process.terminate()
        deadline = time.monotonic() + self.options.stop_timeout
        while self.jobs:
            self._reap()
            if not self.jobs:
                break
            if time.monotonic() > deadline or self._hard_stop:
                for job in self.jobs.values():
                    with contextlib.suppress(ProcessLookupError):
                        job.process.kill()
                for job in list(self.jobs.values()):
                    job.process.wait(10)
                self._reap()
                break
            time.sleep(0.1)


# --- portalnews crawl --due ------------------------------------------------------------------------
def crawl_due(args: argparse.Namespace, run_crawl: Callable[[argparse.Namespace], int],
              store_url: str, url_vars: dict[str, str], clock: Clock = time.time) -> int:
    """``portalnews crawl --due``: crawl (in this process) only the portals that are due.

    Takes each due portal's leases (like a scheduler worker, so cron jobs and workers
    never crawl a portal twice at once), runs the ordinary crawl on them, then records
    their next-due times and releases the leases."""
    registry = load_registry(args.portals, placeholders=url_vars)
    portals = registry.select(args.portal)
    every = getattr(args, "every", None)
    default_every = float(every) if isinstance(every, int | float) else parse_duration(every or DEFAULT_EVERY)
    ttl = float(getattr(args, "lease_ttl", None) or DEFAULT_LEASE_TTL)
    worker = make_worker_id()
    store = open_store(store_url)
    store.open()
    claimed: list[tuple[Portal, float | None]] = []
    keeper: LeaseKeeper | None = None
    try:
        now = clock()
        due_at = store.next_due([p.id for p in portals])
        backoffs = store.backoffs(sorted({p.hostname for p in portals}))
        for portal in portals:
            due = due_at[portal.id]
            if due is not None and due > now:
                continue
            backoff = backoffs.get(portal.hostname)
            if backoff is not None and backoff.active(now):
                print(f"{portal.id}: host backed off until {when(backoff.until)} ({backoff.reason})", file=sys.stderr)
                continue
            if not acquire_all(store, lease_names(portal), worker, ttl, now=clock()):
                print(f"{portal.id}: being crawled by another worker", file=sys.stderr)
                continue
            current = store.next_due([portal.id])[portal.id]
            if current is not None and current > clock():
                release_all(store, lease_names(portal), worker)
                continue
            claimed.append((portal, current))
        if not claimed:
            print("no portal is due", file=sys.stderr)
            return 0
        keeper = LeaseKeeper(store_url, worker, ttl, clock=clock).start()
        for portal, _ in claimed:
            keeper.add(portal.id, lease_names(portal))
        print(f"{len(claimed)} portal(s) due: {', '.join(p.id for p, _ in claimed)}", file=sys.stderr)
        args.portal = [p.id for p, _ in claimed]
        args.due = False
        own_stats = not getattr(args, "stats_file", None)
        if own_stats:  # the outcomes come from the crawl's own summary
            fd, name = tempfile.mkstemp(prefix="portalnews-due-", suffix=".json")
            os.close(fd)
            args.stats_file = name
        started = clock()
        try:
            code = run_crawl(args)
            outcomes = _outcomes(Path(args.stats_file))
        finally:
            if own_stats:
                with contextlib.suppress(OSError):
                    os.unlink(args.stats_file)
        finished = clock()
        rng = random.Random()
        for portal, due in claimed:
            if keeper.lost(portal.id):
                continue
            status = outcomes.get(portal.id) or (RunOutcome.OK if code == 0 else f"exit {code}")
            if status in (RunOutcome.RUNNING, RunOutcome.INTERRUPTED):
                store.set_next_due(portal.id, due if due is not None else started, last_started=started,
                                   last_finished=finished, last_worker=worker, last_status=status)
                continue
            interval = portal_interval(portal, default_every)
            store.set_next_due(portal.id, next_due(due, started, finished, interval, DEFAULT_JITTER, rng),
                               last_started=started, last_finished=finished, last_worker=worker,
                               last_status=status)
        return code
    finally:
        if keeper is not None:
            keeper.stop()
        for portal, _ in claimed:
            release_all(store, lease_names(portal), worker)
        store.close()


def _outcomes(stats_file: Path) -> dict[str, str]:
    """Outcome per portal from a crawl's ``--stats-file`` (its per-portal summary)."""
    try:
        stats = json.loads(stats_file.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {row["portal_id"]: str(row.get("outcome") or "") for row in stats.get("portalnews/summary") or []
            if isinstance(row, dict) and row.get("portal_id")}


def schedule_status(store: Coordination, portals: Sequence[Portal], now: float | None = None) -> list[dict[str, Any]]:
    """Per portal: next due, last crawl, status and who holds its lease (``schedule --status``)."""
    now = time.time() if now is None else now
    entries = store.schedule([p.id for p in portals])
    leases = {lease.name: lease for lease in store.leases()}
    backoffs = store.backoffs(sorted({p.hostname for p in portals}))
    rows = []
    for portal in portals:
        entry = entries.get(portal.id)
        lease = leases.get(portal.id)
        backoff = backoffs.get(portal.hostname)
        rows.append({
            "portal_id": portal.id,
            "every": portal.every or "",
            "next_due": when(entry.next_due) if entry and entry.next_due else "now",
            "due": entry is None or entry.next_due is None or entry.next_due <= now,
            "last_status": (entry.last_status if entry else None) or "",
            "last_finished": when(entry.last_finished) if entry else "-",
            "held_by": lease.worker if lease is not None and not lease.expired(now) else "",
            "backoff_until": when(backoff.until) if backoff is not None and backoff.active(now) else "",
        })
    return rows
