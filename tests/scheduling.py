"""Helpers for the scheduler and worker tests: registries with intervals, scheduler
processes (or a scheduler in this process on a clock the test moves), and the crawl spans
read back from their log lines."""

from __future__ import annotations

import itertools
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from crawler.scheduling.scheduler import Scheduler, SchedulerOptions

ROOT = Path(__file__).resolve().parents[1]
FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8"]
_MESSAGE = r"crawl (start|end) portal=(\S+) worker=(\S+)(.*)$"
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ crawler\.scheduling\.scheduler: " + _MESSAGE)


def write_registry(src: Path, dst: Path, every: dict[str, str] | None = None, keep: Sequence[str] | None = None,
                   default_every: str | None = None) -> list[str]:
    """Copy a registry, keeping only ``keep`` (ids) and setting ``every`` per portal."""
    data = yaml.safe_load(src.read_text("utf-8"))
    portals = [p for p in data["portals"] if keep is None or p["id"] in keep]
    for p in portals:
        value = (every or {}).get(p["id"], default_every)
        if value:
            p["every"] = value
    dst.write_text(yaml.safe_dump({"portals": portals}, allow_unicode=True, sort_keys=False), "utf-8")
    return [p["id"] for p in portals]


@dataclass
class Worker:
    """A ``portalnews schedule`` process and its log file."""

    process: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[str]:
        try:
            return self.log.read_text("utf-8", errors="replace").splitlines()
        except OSError:
            return []

    def text(self) -> str:
        return "\n".join(self.lines())

    def events(self) -> list[Event]:
        return parse_events(self.lines())

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_worker(log: Path, *args: str, env: dict[str, str] | None = None) -> Worker:
    full_env = dict(os.environ)
    full_env.update(env or {})
    handle = open(log, "wb")  # noqa: SIM115 - closed when the process ends (inherited)
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "schedule", *args], stdout=handle,
                            stderr=subprocess.STDOUT, cwd=ROOT, env=full_env)
    handle.close()
    return Worker(proc, log)


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=full_env)


@dataclass
class Event:
    at: float
    kind: str  # start | end
    portal: str
    worker: str
    rest: str

    def field(self, name: str) -> str | None:
        m = re.search(rf"\b{name}=(\S+)", self.rest)
        return m.group(1) if m else None


def parse_events(lines: Iterable[str]) -> list[Event]:
    out = []
    for line in lines:
        m = _LINE.match(line)
        if m:
            at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append(Event(at, m.group(2), m.group(3), m.group(4), m.group(5)))
    return out


@dataclass
class Span:
    portal: str
    worker: str
    start: float
    end: float | None
    outcome: str | None = None


def spans(events: Iterable[Event]) -> list[Span]:
    """Crawl spans (start to end line) per portal and worker; an unfinished one has ``end`` None."""
    open_: dict[tuple[str, str], Span] = {}
    out: list[Span] = []
    for e in sorted(events, key=lambda e: e.at):
        key = (e.portal, e.worker)
        if e.kind == "start":
            span = Span(e.portal, e.worker, e.at, None)
            open_[key] = span
            out.append(span)
        elif key in open_:
            span = open_.pop(key)
            span.end = e.at
            span.outcome = e.field("outcome")
    return out


def overlaps(all_spans: Iterable[Span], until: float | None = None) -> list[tuple[Span, Span]]:
    """Pairs of spans of the same portal that overlap in time (an open span runs to ``until``)."""
    by_portal: dict[str, list[Span]] = defaultdict(list)
    for s in all_spans:
        by_portal[s.portal].append(s)
    bad = []
    for items in by_portal.values():
        items.sort(key=lambda s: s.start)
        for a, b in itertools.pairwise(items):
            end = a.end if a.end is not None else (until if until is not None else float("inf"))
            if b.start < end:
                bad.append((a, b))
    return bad


def max_concurrency(all_spans: Iterable[Span]) -> int:
    points: list[tuple[float, int]] = []
    for s in all_spans:
        points.append((s.start, 1))
        points.append((s.end if s.end is not None else float("inf"), -1))
    best = cur = 0
    for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
        cur += delta
        best = max(best, cur)
    return best


def add_portal(registry: Path, entry: dict[str, Any]) -> None:
    data = yaml.safe_load(registry.read_text("utf-8"))
    data["portals"].append(entry)
    registry.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


class ManualClock:
    """Epoch seconds that move only when the test says so (the scheduler's injected clock)."""

    def __init__(self, start: float) -> None:
        self.now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.now += seconds
            return self.now


class _Events(logging.Handler):
    """Collects the scheduler's crawl start/end lines as :class:`Event` (real arrival times)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[Event] = []
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._message = re.compile(_MESSAGE)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        with self._lock:
            self.lines.append(f"{record.levelname} {record.name}: {message}")
            m = self._message.match(message)
            if m:
                self.events.append(Event(record.created, m.group(1), m.group(2), m.group(3), m.group(4)))


class SchedulerThread:
    """A :class:`Scheduler` running in a thread of this process, on the clock ``clock``, with
    its log lines captured.  The crawls are real child processes, as in ``portalnews schedule``."""

    def __init__(self, options: SchedulerOptions, clock: Callable[[], float]) -> None:
        self.scheduler = Scheduler(options, clock=clock)
        self.handler = _Events()
        self.code: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-scheduler", daemon=True)

    def _run(self) -> None:
        try:
            self.code = self.scheduler.run()
        except BaseException as exc:  # reported by alive() and stop()
            self.error = exc

    def __enter__(self) -> SchedulerThread:
        log = logging.getLogger("crawler.scheduling.scheduler")
        log.addHandler(self.handler)
        log.setLevel(logging.INFO)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> bool:
        if self.error is not None:
            raise AssertionError(f"the scheduler failed: {self.error!r}\n" + self.text()[-3000:])
        return self._thread.is_alive()

    def events(self) -> list[Event]:
        with self.handler._lock:
            return list(self.handler.events)

    def text(self) -> str:
        with self.handler._lock:
            return "\n".join(self.handler.lines)

    def wake(self) -> None:
        """Make the scheduler look at the clock now rather than at its next poll."""
        self.scheduler._wake.set()

    def stop(self, timeout: float = 120) -> int | None:
        self.scheduler.request_stop()
        self._thread.join(timeout)
        logging.getLogger("crawler.scheduling.scheduler").removeHandler(self.handler)
        assert not self._thread.is_alive(), "the scheduler did not stop"
        if self.error is not None:
            raise AssertionError(f"the scheduler failed: {self.error!r}")
        return self.code


def wait_for(predicate: Any, timeout: float, interval: float = 0.1, what: str = "condition",
             workers: Sequence[Worker] = ()) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        for w in workers:
            if w.process.poll() is not None:
                raise AssertionError(f"worker exited ({w.process.returncode}) while waiting for {what}:\n"
                                     + w.text()[-3000:])
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
