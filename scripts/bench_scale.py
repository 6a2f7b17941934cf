#!/usr/bin/env python3
"""A thousand portals in one crawl (``make bench-scale``; not part of ``.ci/run``).

1. generates one synthetic mirror of the largest size asked (default 1,000 portals of 20
   articles, the five layout families in turn, one loopback address each: ``127.0.2.1`` ..
   ``127.0.5.238``) and serves it from one separate process (one accepting thread for every
   address, :class:`crawler.mirror.server.MirrorServer`);
2. for each size (default 250, 500, 1,000: the first N portals of the registry) runs
   ``portalnews crawl`` with the DEFAULT politeness settings (robots.txt obeyed, autothrottle,
   download delay, per-domain and global concurrency as in crawler/settings.py) into a fresh
   SQLite store and reports wall time, pages/s, peak RSS (the crawl's process tree, polled),
   every article found (against the mirror's truth), duplicates and robots violations (requests
   the server saw under ``/admin/``, which every robots.txt disallows);
3. the growth between sizes: peak RSS per added portal (the limit is 100 KB) and pages/s;
4. ``--trace A,B``: the same crawl at two sizes with ``tracemalloc`` on in the crawl process
   (an extension of this script snapshots the heap when the crawl goes idle, before the
   spider closes), and the top allocation sites of the difference, per added portal;
5. ``--schedule N``: N portals through ``portalnews schedule --once`` with two workers sharing
   one SQLite store: wall time, pages/s, peak RSS of each worker's tree, overlaps, duplicates.

Prints one JSON object per measurement and a summary, writes ``bench-out/scale.json``; exits 1
when an article is missing, a document is duplicated, a robots rule was broken or the memory
grows by more than 100 KB per added portal (``--no-check``: report only).

    python scripts/bench_scale.py [--sizes 250,500,1000] [--articles 20] [--trace 250,500]
                                  [--schedule 1000] [--work DIR] [--no-check]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import sysconfig
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench import (  # noqa: E402  (scripts/bench.py: the same server, poller and request analysis)
    RssPoller,
    _env,
    analyse_requests,
    norm_url,
    portalnews_cmd,
    server_stats,
    start_mirror_server,
    stop_process,
)

from crawler.mirror.generator import generate_mirror  # noqa: E402

MAX_KB_PER_PORTAL = 100.0
TRACE_FRAMES = 5


# --------------------------------------------------------------------------- tracemalloc hook


class HeapSnapshot:
    """Scrapy extension (``-s BENCH_SCALE_TRACE=FILE``): tracemalloc from the crawler's creation
    on, a snapshot dumped to FILE each time the spider goes idle (the last one is the heap with
    every portal's state, just before the spider closes)."""

    def __init__(self, path: str, stats: Any) -> None:
        self.path = path
        self.stats = stats
        self.idles = 0
        tracemalloc.start(TRACE_FRAMES)

    @classmethod
    def from_crawler(cls, crawler: Any) -> HeapSnapshot:
        from scrapy import signals
        from scrapy.exceptions import NotConfigured

        path = crawler.settings.get("BENCH_SCALE_TRACE")
        if not path:
            raise NotConfigured("BENCH_SCALE_TRACE is not set")
        ext = cls(str(path), crawler.stats)
        crawler.signals.connect(ext.idle, signal=signals.spider_idle)
        return ext

    def idle(self, spider: Any) -> None:
        import gc

        before_gc = tracemalloc.get_traced_memory()[0]
        gc.collect()  # the heap the crawl holds, not cyclic garbage (responses and their selectors)
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
             tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>")])  # code of late imports
        snapshot.dump(self.path)
        self.idles += 1
        Path(self.path + ".json").write_text(json.dumps({
            "idles": self.idles, "responses": self.stats.get_value("response_received_count"),
            "items": self.stats.get_value("item_scraped_count"), "traced_bytes": tracemalloc.get_traced_memory(),
            "traced_before_gc": before_gc}))


_STDLIB = sysconfig.get_paths()["stdlib"]


def _site(tb: tracemalloc.Traceback) -> str:
    """Where an allocation belongs: the innermost frame outside the standard library (the
    library call that asked for it), with the innermost frame of this project's code."""
    frames = list(reversed(tb))  # innermost (most recent) call first
    lib = next((f for f in frames if not f.filename.startswith(_STDLIB)), frames[0])
    ours = next((f for f in frames if "/crawler/" in f.filename or "/pipelines/" in f.filename), None)
    where = f"{_short(lib.filename)}:{lib.lineno}"
    if ours is not None and ours is not lib:
        where += f" (from {_short(ours.filename)}:{ours.lineno})"
    return where


def _short(filename: str) -> str:
    for marker in ("/site-packages/", str(REPO) + "/", _STDLIB + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def heap_growth(small: Path, big: Path, added: int, top: int = 15) -> dict[str, Any]:
    """Top allocation sites of ``big`` minus ``small`` (tracemalloc dumps), in bytes per added portal."""
    before = tracemalloc.Snapshot.load(str(small))
    after = tracemalloc.Snapshot.load(str(big))
    grow: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for stat in after.compare_to(before, "traceback"):
        site = _site(stat.traceback)
        grow[site] += stat.size_diff
        count[site] += stat.count_diff
    total_before = sum(s.size for s in before.statistics("filename"))
    total_after = sum(s.size for s in after.statistics("filename"))
    return {
        "traced_kb_small": round(total_before / 1024), "traced_kb_big": round(total_after / 1024),
        "traced_kb_per_added_portal": round((total_after - total_before) / 1024 / added, 1),
        "top_sites_bytes_per_added_portal": [
            {"site": site, "bytes": round(size / added), "blocks": round(count[site] / added, 1)}
            for site, size in grow.most_common(top)],
    }


# --------------------------------------------------------------------------- the runs


def subset_registry(full: Path, dst: Path, n: int) -> list[str]:
    """The first ``n`` portals of the generated registry (the layouts in turn)."""
    data = yaml.safe_load(full.read_text("utf-8"))
    portals = data["portals"][:n]
    dst.write_text(yaml.safe_dump({"portals": portals}, allow_unicode=True, sort_keys=False), "utf-8")
    return [str(p["id"]) for p in portals]


def truth_for(truth: Path, ids: set[str]) -> set[str]:
    rows = (json.loads(line) for line in truth.open(encoding="utf-8"))
    return {norm_url(r["url"]) for r in rows if r["portal_id"] in ids}


def export_urls(store: str) -> list[str]:
    out = subprocess.run([*portalnews_cmd(), "export", "--store", store], capture_output=True, text=True,
                         env=_env(), cwd=REPO, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"export failed: {out.stderr[-2000:]}")
    return [norm_url(json.loads(line)["url"]) for line in out.stdout.splitlines() if line.strip()]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def found_report(store: str, expected: set[str], port: int) -> dict[str, Any]:
    urls = export_urls(store)
    got = set(urls)
    requests = analyse_requests(server_stats("127.0.2.1", port), Path())
    requests.pop("missing_page_requests", None)  # needs the site folder: not asked here
    return {"articles_expected": len(expected), "articles_found": len(got & expected),
            "missing": sorted(expected - got)[:5], "duplicates": len(urls) - len(got),
            "documents": len(urls), **requests}


def run_crawl(work: Path, registry: Path, n: int, port: int, expected: set[str],
              trace: Path | None = None) -> dict[str, Any]:
    db = work / f"crawl-{n}{'-trace' if trace else ''}.db"
    db.unlink(missing_ok=True)
    store = f"sqlite:///{db}"
    stats_file = work / f"crawl-{n}.stats.json"
    cmd = [*portalnews_cmd(), "crawl", "--portals", str(registry), "--var", f"PORT={port}",
           "--allow-private-hosts", "--store", store, "--stats-file", str(stats_file), "-s", "LOG_LEVEL=WARNING"]
    env = _env()
    if trace is not None:
        from crawler import settings as project

        extensions = {**project.EXTENSIONS, "bench_scale.HeapSnapshot": 900}
        cmd += ["-s", f"EXTENSIONS={json.dumps(extensions)}", "-s", f"BENCH_SCALE_TRACE={trace}"]
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "scripts"), env.get("PYTHONPATH")) if p)
    server_stats_reset(port)
    load_before = loadavg()
    started = time.perf_counter()
    with (work / f"crawl-{n}.log").open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        with RssPoller(proc.pid, interval=0.5) as poller:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    stats = json.loads(stats_file.read_text("utf-8")) if stats_file.is_file() else {}
    pages = int(stats.get("response_received_count", 0))
    out = {"mode": "crawl" + ("+tracemalloc" if trace else ""), "portals": n, "exit_code": proc.returncode,
           "wall_s": round(wall, 1), "pages": pages, "pages_per_s": round(pages / wall, 1),
           "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "polled_peak_rss_mb": round(poller.peak / 2**20, 1),
           "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
           "outcomes": dict(Counter(s["outcome"] for s in stats.get("portalnews/summary") or [])),
           "load_before": load_before, "load_after": loadavg()}
    out.update(found_report(store, expected, port))
    return out


def server_stats_reset(port: int) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.2.1", port, timeout=10)
    try:
        conn.request("GET", "/__stats__?reset=1")
        conn.getresponse().read()
    finally:
        conn.close()


def run_schedule(work: Path, registry: Path, n: int, port: int, expected: set[str]) -> dict[str, Any]:
    """Two ``portalnews schedule --once`` workers sharing one SQLite store."""
    sys.path.insert(0, str(REPO))
    from tests.scheduling import overlaps, parse_events, spans

    db = work / f"schedule-{n}.db"
    db.unlink(missing_ok=True)
    store = f"sqlite:///{db}"
    server_stats_reset(port)
    cmd = [*portalnews_cmd(), "schedule", "--portals", str(registry), "--var", f"PORT={port}", "--store", store,
           "--once"]
    env = {**_env(), "PORTALNEWS_ALLOW_PRIVATE_HOSTS": "1"}  # schedule has no --allow-private-hosts
    load_before = loadavg()
    started = time.perf_counter()
    procs, logs, pollers = [], [], []
    for name in ("a", "b"):
        log = work / f"schedule-{n}-{name}.log"
        logs.append(log)
        with log.open("w") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        procs.append(proc)
        pollers.append(RssPoller(proc.pid, interval=0.5).__enter__())
    usages = []
    for proc, poller in zip(procs, pollers, strict=True):
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        poller.__exit__()
        usages.append(usage)
    wall = time.perf_counter() - started
    events = [e for log in logs for e in parse_events(log.read_text("utf-8", errors="replace").splitlines())]
    found = spans(events)
    requests = analyse_requests(server_stats("127.0.2.1", port), Path())
    pages = requests["requests"]
    out = {"mode": "schedule x2 (SQLite)", "portals": n, "exit_codes": [p.returncode for p in procs],
           "wall_s": round(wall, 1), "pages": pages, "pages_per_s": round(pages / wall, 1),
           "peak_rss_mb_per_worker_tree": [round(p.peak / 2**20, 1) for p in pollers],
           "peak_rss_mb_largest_process": round(max(u.ru_maxrss for u in usages) / 1024, 1),
           "crawls": len(found), "crawls_per_worker": dict(Counter(s.worker for s in found)),
           "outcomes": dict(Counter(s.outcome for s in found)), "overlapping_crawls": len(overlaps(found)),
           "load_before": load_before, "load_after": loadavg()}
    out.update(found_report(store, expected, port))
    return out


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x.strip()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250,500,1000", help="portal counts to crawl (default 250,500,1000)")
    parser.add_argument("--articles", type=int, default=20, help="articles per portal (default 20)")
    parser.add_argument("--trace", default="", help="two portal counts to compare with tracemalloc, e.g. 250,500")
    parser.add_argument("--schedule", type=int, default=0, help="also N portals with two schedule workers")
    parser.add_argument("--work", type=Path, default=REPO / "bench-out" / "scale", help="work folder")
    parser.add_argument("--no-check", action="store_true", help="report only, never exit 1")
    args = parser.parse_args(argv)
    sizes, traced = _sizes(args.sizes), _sizes(args.trace)
    if traced and len(traced) != 2:
        parser.error("--trace takes two portal counts")
    largest = max([*sizes, *traced, args.schedule])
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    mirror = work / "mirror"
    marker = mirror / f".generated-{largest}x{args.articles}"
    if not marker.is_file():
        started = time.perf_counter()
        info = generate_mirror(mirror, portals=largest, articles_per_portal=args.articles, seed=12)
        marker.touch()
        print(f"generated {len(info.hosts)} portals, {info.articles} articles, {info.pages} pages "
              f"in {time.perf_counter() - started:.0f}s", flush=True)
    server, port = start_mirror_server(mirror / "site", work / "server.log")
    results: list[dict[str, Any]] = []
    try:
        for n in sizes:
            registry = work / f"portals-{n}.yaml"
            ids = set(subset_registry(mirror / "portals.yaml", registry, n))
            result = run_crawl(work, registry, n, port, truth_for(mirror / "truth.jsonl", ids))
            print(json.dumps(result, ensure_ascii=False), flush=True)
            results.append(result)
        if traced:
            dumps = []
            for n in traced:
                registry = work / f"portals-{n}.yaml"
                ids = set(subset_registry(mirror / "portals.yaml", registry, n))
                dump = work / f"heap-{n}.tracemalloc"
                result = run_crawl(work, registry, n, port, truth_for(mirror / "truth.jsonl", ids), trace=dump)
                print(json.dumps(result, ensure_ascii=False), flush=True)
                results.append(result)
                dumps.append(dump)
            growth = {"mode": "tracemalloc growth", "portals": traced,
                      **heap_growth(dumps[0], dumps[1], traced[1] - traced[0])}
            print(json.dumps(growth, ensure_ascii=False, indent=1), flush=True)
            results.append(growth)
        if args.schedule:
            n = args.schedule
            registry = work / f"portals-{n}.yaml"
            ids = set(subset_registry(mirror / "portals.yaml", registry, n))
            result = run_schedule(work, registry, n, port, truth_for(mirror / "truth.jsonl", ids))
            print(json.dumps(result, ensure_ascii=False), flush=True)
            results.append(result)
        server_threads = len(os.listdir(f"/proc/{server.pid}/task"))
    finally:
        stop_process(server)
    plain = [r for r in results if r.get("mode") == "crawl"]
    growth_rows = []
    for a, b in itertools.pairwise(plain):
        added = b["portals"] - a["portals"]
        growth_rows.append({"from": a["portals"], "to": b["portals"],
                            "rss_kb_per_added_portal": round((b["peak_rss_mb"] - a["peak_rss_mb"]) * 1024 / added, 1),
                            "pages_per_s": [a["pages_per_s"], b["pages_per_s"]]})
    summary = {"mode": "summary", "mirror_server_threads": server_threads, "growth": growth_rows}
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    (work / "scale.json").write_text(json.dumps([*results, summary], ensure_ascii=False, indent=1), "utf-8")
    problems = []
    for r in results:
        if "articles_expected" in r:
            if r["articles_found"] != r["articles_expected"]:
                problems.append(f"{r['mode']} {r['portals']}: {r['articles_expected'] - r['articles_found']} missing")
            if r["duplicates"] or r["robots_disallowed_requests"]:
                problems.append(f"{r['mode']} {r['portals']}: duplicates or robots violations")
    problems += [f"memory grows {g['rss_kb_per_added_portal']} KB per portal from {g['from']} to {g['to']}"
                 for g in growth_rows if g["rss_kb_per_added_portal"] > MAX_KB_PER_PORTAL]
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems and not args.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
