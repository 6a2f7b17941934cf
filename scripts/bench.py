#!/usr/bin/env python3
"""End-to-end crawl benchmark (``make bench``).

One run does everything:

1. generates a synthetic mirror of >= 5,000 articles in a temporary folder;
2. serves it with ``python -m crawler.mirror.server`` in a separate process (loopback only);
3. runs ``portalnews crawl`` on it as a subprocess, timing it and polling the peak RSS of
   the crawl process and its children every 0.2 s;
4. reports pages/s (responses / the crawl's own elapsed time), articles stored, extraction
   ms/page, peak RSS,
   recall/precision of the stored URLs against the mirror's truth and what the server saw
   (robots-disallowed and missing-page requests, repeated fetches);
5. crawls the same mirror with a bare Scrapy spider (:func:`_bare_spider_class`: the same link
   rules, nothing extracted or stored) with identical settings (concurrency, delays off,
   robots.txt on, the same reactor and queues), and reports our rate as a share of it;
6. crawls it once more with ``portalnews crawl`` minus the extraction stage: the ceiling of
   our crawl, what it would reach if extraction cost nothing (``--skip-no-extraction`` to leave
   it out); ``--compare-workers 0,2`` crawls in each round with those numbers of extraction
   worker processes too (0: extraction in the reactor's thread), next to the default;
7. runs ``scrapy bench`` and compares our rate with its steady-state rate;
Steps 3, 5 and 6 run in ``--repeat`` rounds (default 3) and each rate is the median of its
rounds, so that a round sees one machine load for all three.

8. prints a table, writes ``bench-out/bench.json`` and exits 1 when a threshold fails
   (>= 100 pages/s, >= 0.7x the bare spider, >= 0.8x scrapy bench, peak RSS <= 400 MB)
   unless ``--no-check``.

The mirror's server runs on the same machine (and cores) as the crawlers; on a real crawl
the server is remote.  Each crawl's CPU time is reported per response, split between the
crawl process, its extraction workers and the mirror server, with the cores they kept busy
and the load average: where the time goes, and how much of the machine others took.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from crawler.mirror.generator import generate_mirror  # noqa: E402
from crawler.mirror.server import url_to_relpath  # noqa: E402

logger = logging.getLogger(__name__)

MIN_PAGES_PER_S = 100.0
MIN_SCRAPY_RATIO = 0.8
MIN_BARE_RATIO = 0.7
MAX_RSS_MB = 400.0
# The settings both our crawl and the bare spider run with (the comparison is only fair with
# the same engine settings); anything else is Scrapy's default for the bare spider.
CRAWL_SETTINGS = {
    "AUTOTHROTTLE_ENABLED": "False", "DOWNLOAD_DELAY": "0", "CONCURRENT_REQUESTS": "64",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16", "ROBOTSTXT_OBEY": "True", "LOG_LEVEL": "WARNING",
}
# Engine-level settings of the project that the bare spider shares too (crawler/settings.py).
BARE_SETTINGS = {
    **CRAWL_SETTINGS, "COOKIES_ENABLED": False, "TELNETCONSOLE_ENABLED": False, "DEPTH_PRIORITY": 1,
    "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
    "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    # Scrapy's downloader with the per-host limit held (crawler/downloader.py): without it the
    # bare spider would run more requests per host at once than ours
    "DOWNLOADER": "crawler.downloader.HostLimitDownloader",
    "RETRY_TIMES": 2, "DOWNLOAD_TIMEOUT": 30, "REDIRECT_MAX_TIMES": 5,
}
_LOGSTATS = re.compile(r"Crawled (\d+) pages \(at (\d+) pages/min\)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("SCRAPY_SETTINGS_MODULE", None)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(name, None)  # all traffic is loopback
    return env


def portalnews_cmd() -> list[str]:
    exe = shutil.which("portalnews")
    return [exe] if exe else [sys.executable, "-m", "crawler.cli"]


class RssPoller:
    """Polls the peak resident memory of a process tree in a background thread, and the CPU
    time (user + system) of each of its processes: ``cpu_root`` for the process itself,
    ``cpu_children`` for its descendants (extraction workers), as last seen (so up to one
    ``interval`` of a process' last moments may be missed)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
        self.samples += 1
        self.peak = max(self.peak, total)

    @property
    def cpu_root(self) -> float:
        return self._cpu.get(self.pid, 0.0)

    @property
    def cpu_children(self) -> float:
        return sum(v for pid, v in self._cpu.items() if pid != self.pid)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def start_mirror_server(site: Path, log_path: Path) -> tuple[subprocess.Popen[str], int]:
    """Start the mirror server in its own process; return it and the port it listens on."""
    proc = subprocess.Popen([sys.executable, "-m", "crawler.mirror.server", str(site), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=log_path.open("w"), text=True, env=_env(), cwd=REPO)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("PORT "):
            return proc, int(line.split()[1])
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"mirror server did not start; see {log_path}")


def stop_process(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_stats(host: str, port: int, reset: bool = False) -> dict[str, dict[str, int]]:
    conn = http.client.HTTPConnection(host, port, timeout=10)  # direct: no proxy for loopback
    try:
        conn.request("GET", "/__stats__" + ("?reset=1" if reset else ""))
        data: dict[str, dict[str, int]] = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return data


def analyse_requests(stats: dict[str, dict[str, int]], site: Path) -> dict[str, int]:
    total = distinct = repeats = robots = missing = 0
    for host, paths in stats.items():
        for raw, count in paths.items():
            parts = urlsplit(raw)
            total += count
            distinct += 1
            repeats += count - 1
            if parts.path.startswith("/admin/"):
                robots += count
            if not (site / host / url_to_relpath(parts.path, parts.query)).is_file():
                missing += count
    return {"requests": total, "distinct_urls": distinct, "repeated_fetches": repeats,
            "robots_disallowed_requests": robots, "missing_page_requests": missing}


def norm_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}{parts.path.rstrip('/')}" + (f"?{parts.query}" if parts.query else "")


def store_counts(db: Path, truth_path: Path) -> dict[str, Any]:
    truth = {norm_url(json.loads(line)["url"]) for line in truth_path.open(encoding="utf-8")}
    out: dict[str, Any] = {"documents": 0, "truth_articles": len(truth), "recall": None, "precision": None}
    if not db.is_file():
        return out
    con = sqlite3.connect(str(db))
    try:
        urls = [row[0] for row in con.execute("SELECT url FROM documents")]
    except sqlite3.Error as exc:
        out["error"] = str(exc)
        return out
    finally:
        con.close()
    found = {norm_url(u) for u in urls} & truth
    out["documents"] = len(urls)
    out["recall"] = round(len(found) / len(truth), 4) if truth else None
    out["precision"] = round(len(found) / len(urls), 4) if urls else None
    return out


# ITEM_PIPELINES of a crawl with extraction left out: pages are validated, de-duplicated and
# recorded as the crawl state as usual, only not extracted.
NO_EXTRACTION_PIPELINES = json.dumps({"pipelines.stages.validation.ValidationPipeline": 300,
                                      "pipelines.stages.dedup.DedupPipeline": 400,
                                      "pipelines.stages.storage.StoragePipeline": 900})


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a running process has used so far (0 when it is gone)."""
    if pid is None:
        return 0.0
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _run_logged(cmd: list[str], log_path: Path, stats_file: Path, timeout: float,
                server_pid: int | None = None) -> dict[str, Any]:
    """Run ``cmd`` with its output in ``log_path``, polling the peak RSS and CPU time of its
    process tree; its exit code, wall time, peak RSS, CPU ms per response (crawl process,
    its child processes, the mirror server ``server_pid``), the load average and the Scrapy
    stats it wrote to ``stats_file``."""
    server_cpu = cpu_seconds(server_pid)
    started = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=REPO)
        with RssPoller(proc.pid) as poller:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                stop_process(proc)
                code = -1
    wall = time.perf_counter() - started
    server_cpu = cpu_seconds(server_pid) - server_cpu
    load = os.getloadavg()[0]
    stats: dict[str, Any] = {}
    if stats_file.is_file():
        try:
            stats = json.loads(stats_file.read_text(encoding="utf-8"))
        except ValueError:
            stats = {}
    responses = stats.get("response_received_count") or 0

    def per_page(seconds: float) -> float | None:
        return round(1000 * seconds / responses, 2) if responses else None

    return {"exit_code": code, "wall_s": wall, "peak_rss_mb": poller.peak / 2**20, "rss_samples": poller.samples,
            "stats": stats, "log": log_path, "responses": responses, "load_1min": round(load, 2),
            "cpu_ms_per_page": {"crawl_process": per_page(poller.cpu_root), "workers": per_page(poller.cpu_children),
                                "server": per_page(server_cpu)},
            "cores_busy": round((poller.cpu_root + poller.cpu_children + server_cpu) / wall, 2) if wall else None,
            "pages_per_s": engine_rate(responses, stats.get("elapsed_time_seconds"), wall)}


def run_crawl(registry: Path, port: int, work: Path, timeout: float, *, name: str = "crawl",
              extra: tuple[str, ...] = (), server_pid: int | None = None) -> dict[str, Any]:
    db = work / f"{name}.db"
    stats_file = work / f"{name}-stats.json"
    settings = [arg for key, value in CRAWL_SETTINGS.items() for arg in ("-s", f"{key}={value}")]
    cmd = [*portalnews_cmd(), "crawl", "--portals", str(registry), "--var", f"PORT={port}",
           "--allow-private-hosts",  # the mirror is served on loopback
           "--store", f"sqlite:///{db}", "--stats-file", str(stats_file), *settings, *extra]
    print("$ " + " ".join(cmd), flush=True)
    return {**_run_logged(cmd, work / f"{name}.log", stats_file, timeout, server_pid), "db": db}


def _bare_spider_class() -> type:
    """A bare Scrapy spider: from the registry's home pages it follows exactly the links our
    spider follows (``crawler.links``: same host, crawlable, feeds and sitemaps read) and
    extracts and stores nothing."""
    from scrapy import Request, Spider
    from scrapy.http import Response, TextResponse

    from crawler import links

    class _BareSpider(Spider):  # type: ignore[misc]
        name = "bare"

        def __init__(self, starts: list[str], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.starts = starts
            self.seen: set[str] = set()  # a URL once: no Request (nor fingerprint) for a link seen before

        async def start(self) -> Any:
            for url in self.starts:
                host = urlsplit(url).netloc
                yield Request(f"http://{host}/robots.txt", callback=self.parse_robots, dont_filter=True,
                              meta={"dont_obey_robotstxt": True})
                yield Request(url, callback=self.parse)

        def parse_robots(self, response: Response) -> Any:
            if isinstance(response, TextResponse):
                for entry in links.sitemaps_from_robots(response.text):
                    url = links.absolutize(response.url, entry)
                    if url:
                        yield Request(url, callback=self.parse)

        def parse(self, response: Response) -> Any:
            if not isinstance(response, TextResponse):
                return
            host = urlsplit(response.url).netloc
            content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
            if links.looks_like_feed(response.url, content_type):
                hrefs = links.feed_links(response.text)
            else:
                hrefs = response.xpath("//a/@href | //link[@rel='alternate' or @rel='next']/@href").getall()
            for href in hrefs:
                url = links.absolutize(response.url, href)
                if url and url not in self.seen and links.same_host(url, host) and links.is_crawlable(url):
                    self.seen.add(url)
                    yield Request(url, callback=self.parse)

    return _BareSpider


def run_bare_spider_process(registry: Path, port: int, stats_file: Path) -> int:
    """(subprocess) Crawl the registry's portals with the bare spider and write its stats."""
    from scrapy.crawler import CrawlerProcess

    from crawler.registry import load_registry

    # the mirror is served on loopback, which a registry may name only when allowed
    starts = [p.url for p in load_registry(str(registry), placeholders={"PORT": str(port)},
                                           allow_private_hosts=True).portals]
    process = CrawlerProcess(settings={**BARE_SETTINGS, "USER_AGENT": "portalnews-bench-bare/0.1"})
    crawler = process.create_crawler(_bare_spider_class())
    process.crawl(crawler, starts=starts)
    process.start()
    stats = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in crawler.stats.get_stats().items()}
    stats_file.write_text(json.dumps(stats, default=str), encoding="utf-8")
    return 0


def run_bare(registry: Path, port: int, work: Path, timeout: float, *, name: str = "bare",
             server_pid: int | None = None) -> dict[str, Any]:
    stats_file = work / f"{name}-stats.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--bare-spider", str(registry), str(port), str(stats_file)]
    print("$ bare scrapy spider (same links, nothing extracted), same settings", flush=True)
    return _run_logged(cmd, work / f"{name}.log", stats_file, timeout, server_pid)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the lower middle one of an even number)."""
    ordered = sorted(runs, key=lambda r: r["pages_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def engine_rate(responses: int, elapsed: float | None, wall: float) -> float:
    """Responses per second of the crawl itself (Scrapy's elapsed time, from engine start to
    close, so that interpreter start-up does not weigh on short runs), else of the wall time."""
    span = elapsed if elapsed else wall
    return round(responses / span, 1) if span and span > 0 else 0.0


def run_scrapy_bench(work: Path, seconds: int) -> dict[str, Any]:
    """``scrapy bench`` outside the project (so project settings don't apply); steady-state pages/s."""
    bench_dir = work / "scrapy-bench"
    bench_dir.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "scrapy", "bench", "-s", f"CLOSESPIDER_TIMEOUT={seconds}", "-s", "LOG_LEVEL=INFO"]
    print("$ " + " ".join(cmd[2:]), flush=True)
    env = _env()
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(cmd, cwd=bench_dir, env=env, capture_output=True, text=True, timeout=seconds + 120)
    (work / "scrapy-bench.log").write_text(proc.stderr, encoding="utf-8")
    rates = [int(m.group(2)) / 60.0 for m in _LOGSTATS.finditer(proc.stderr)]
    crawled = [int(m.group(1)) for m in _LOGSTATS.finditer(proc.stderr)]
    # Drop the warm-up (first lines, while the engine ramps up) and the final partial interval.
    steady = rates[2:-1] if len(rates) > 4 else rates[1:] or rates
    return {"exit_code": proc.returncode, "pages_per_s": statistics.median(steady) if steady else None,
            "samples": len(rates), "pages": crawled[-1] if crawled else None}


def fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and spec:
        return format(value, spec)
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5200, help="articles in the mirror (default 5200)")
    parser.add_argument("--portals", type=int, default=10, help="portals in the mirror (default 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-check", action="store_true", help="report only; never fail on thresholds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--scrapy-bench-seconds", type=int, default=20, help="CLOSESPIDER_TIMEOUT of scrapy bench")
    parser.add_argument("--skip-scrapy-bench", action="store_true", help="don't run scrapy bench")
    parser.add_argument("--crawl-timeout", type=float, default=1800.0, help="give up on the crawl after this")
    parser.add_argument("--out", type=Path, default=REPO / "bench-out", help="folder for bench.json")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of (our crawl, bare spider, crawl without extraction); medians are reported")
    parser.add_argument("--skip-no-extraction", action="store_true",
                        help="don't crawl a third time without the extraction stage")
    parser.add_argument("--compare-workers", default="",
                        help="comma-separated PORTALNEWS_EXTRACTION_WORKERS values to crawl with too, each round "
                             "(e.g. 0,2: in-process and two workers, next to the default)")
    parser.add_argument("--bare-spider", nargs=3, metavar=("REGISTRY", "PORT", "STATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_spider:  # the subprocess of step 5
        return run_bare_spider_process(Path(args.bare_spider[0]), int(args.bare_spider[1]), Path(args.bare_spider[2]))
    logging.basicConfig(level=logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="portalnews-bench-"))
    result: dict[str, Any] = {"work_dir": str(work)}
    server: subprocess.Popen[str] | None = None
    try:
        # 1. mirror
        per_portal = max(1, math.ceil(args.articles / args.portals))
        t0 = time.perf_counter()
        info = generate_mirror(work / "mirror", portals=args.portals, articles_per_portal=per_portal, seed=args.seed)
        gen_s = time.perf_counter() - t0
        print(f"generated {info.articles} articles / {info.pages} pages on {len(info.hosts)} hosts in {gen_s:.2f}s",
              flush=True)
        result["mirror"] = {"portals": len(info.hosts), "articles": info.articles, "pages": info.pages,
                            "generate_s": round(gen_s, 3)}
        # 2. server in its own process
        server, port = start_mirror_server(info.root / "site", work / "server.log")
        print(f"mirror server pid {server.pid} on port {port}", flush=True)
        # 3., 5., 6. our crawl, the bare spider and our crawl without extraction, in rounds
        # (the median of each: the machine may be shared, and a round sees the same load)
        server_stats(info.hosts[0], port, reset=True)
        rounds: dict[str, list[dict[str, Any]]] = {"crawl": [], "bare": [], "no_extraction": []}
        compared = [w.strip() for w in args.compare_workers.split(",") if w.strip()]
        for n in range(args.repeat):
            crawl = run_crawl(info.registry_path, port, work, args.crawl_timeout, name=f"crawl{n}",
                              server_pid=server.pid)
            rounds["crawl"].append(crawl)
            if n == 0:
                srv = analyse_requests(server_stats(info.hosts[0], port, reset=True), info.root / "site")
            rounds["bare"].append(run_bare(info.registry_path, port, work, args.crawl_timeout, name=f"bare{n}",
                                           server_pid=server.pid))
            if n == 0:
                bare_srv = analyse_requests(server_stats(info.hosts[0], port, reset=True), info.root / "site")
            if not args.skip_no_extraction:
                rounds["no_extraction"].append(
                    run_crawl(info.registry_path, port, work, args.crawl_timeout, name=f"no-extraction{n}",
                              extra=("-s", f"ITEM_PIPELINES={NO_EXTRACTION_PIPELINES}"), server_pid=server.pid))
            for workers in compared:
                rounds.setdefault(f"workers={workers}", []).append(
                    run_crawl(info.registry_path, port, work, args.crawl_timeout, name=f"workers{workers}-{n}",
                              extra=("-s", f"PORTALNEWS_EXTRACTION_WORKERS={workers}"), server_pid=server.pid))
        crawl = median_run(rounds["crawl"])
        stats = crawl["stats"]
        result["rates"] = {k: [r["pages_per_s"] for r in v] for k, v in rounds.items() if v}
        result["load_1min"] = {k: [r["load_1min"] for r in v] for k, v in rounds.items() if v}
        # where the time goes: CPU ms per response of the crawl process, its extraction
        # workers and the mirror server, and how many of the machine's cores they kept busy
        result["cpu"] = {k: {"cpu_ms_per_page": median_run(v)["cpu_ms_per_page"],
                             "cores_busy": median_run(v)["cores_busy"],
                             "extraction_ms_per_page": median_run(v)["stats"].get("portalnews/extraction_ms_per_page"),
                             "pages_per_s": median_run(v)["pages_per_s"]}
                         for k, v in rounds.items() if v}
        bare = median_run(rounds["bare"])
        result["bare_spider"] = {"exit_code": bare["exit_code"], "wall_s": round(bare["wall_s"], 2),
                                 "responses": bare["responses"], "pages_per_s": bare["pages_per_s"],
                                 "scrapy_elapsed_s": bare["stats"].get("elapsed_time_seconds"),
                                 "peak_rss_mb": round(bare["peak_rss_mb"], 1), "server": bare_srv}
        if rounds["no_extraction"]:
            plain = median_run(rounds["no_extraction"])
            result["no_extraction"] = {"exit_code": plain["exit_code"], "wall_s": round(plain["wall_s"], 2),
                                       "responses": plain["responses"], "pages_per_s": plain["pages_per_s"]}
        stop_process(server)
        server = None
        # 4. numbers
        responses = crawl["responses"] or srv["requests"]
        wall = crawl["wall_s"]
        store = store_counts(crawl["db"], info.truth_path)
        ours = crawl["pages_per_s"]
        result["crawl"] = {
            "exit_code": crawl["exit_code"], "wall_s": round(wall, 2), "responses": responses,
            "pages_per_s": round(ours, 1), "articles_stored": store["documents"],
            "article_pages": stats.get("portalnews/pages/article"),
            "extraction_ms_per_page": stats.get("portalnews/extraction_ms_per_page"),
            "scrapy_elapsed_s": stats.get("elapsed_time_seconds"),
            "peak_rss_mb": round(crawl["peak_rss_mb"], 1), "rss_samples": crawl["rss_samples"],
            "recall": store["recall"], "precision": store["precision"], "truth_articles": store["truth_articles"],
            "server": srv,
        }
        if args.keep:
            result["crawl"]["log"] = str(crawl["log"])
        if crawl["exit_code"] not in (0, 1):
            print(f"crawl exited with {crawl['exit_code']}; last log lines:", file=sys.stderr)
            lines = crawl["log"].read_text(encoding="utf-8", errors="replace").splitlines()
            print("\n".join(lines[-20:]), file=sys.stderr)
        # 5. scrapy bench
        ratio = None
        if not args.skip_scrapy_bench:
            sb = run_scrapy_bench(work, args.scrapy_bench_seconds)
            result["scrapy_bench"] = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in sb.items()}
            if sb["pages_per_s"]:
                ratio = ours / sb["pages_per_s"]
        result["ratio_vs_scrapy_bench"] = round(ratio, 3) if ratio is not None else None
        bare_rate = result["bare_spider"]["pages_per_s"]
        result["ratio_vs_bare_spider"] = round(ours / bare_rate, 3) if bare_rate else None
        plain_rate = result.get("no_extraction", {}).get("pages_per_s")
        result["ratio_no_extraction_vs_bare"] = round(plain_rate / bare_rate, 3) if plain_rate and bare_rate else None
    finally:
        if server is not None:
            stop_process(server)

    # 6. report
    c = result["crawl"]
    sbp = result.get("scrapy_bench", {}).get("pages_per_s")
    bare_ratio = result.get("ratio_vs_bare_spider")
    checks = {
        f"pages/s >= {MIN_PAGES_PER_S:g}": c["pages_per_s"] >= MIN_PAGES_PER_S,
        f"ours/bare spider >= {MIN_BARE_RATIO:g}": bare_ratio is not None and bare_ratio >= MIN_BARE_RATIO,
        f"ours/scrapy-bench >= {MIN_SCRAPY_RATIO:g}": ratio is not None and ratio >= MIN_SCRAPY_RATIO,
        f"peak RSS <= {MAX_RSS_MB:g} MB": 0 < c["peak_rss_mb"] <= MAX_RSS_MB,
        "crawl exit code 0/1": c["exit_code"] in (0, 1),
    }
    if args.skip_scrapy_bench:
        checks.pop(f"ours/scrapy-bench >= {MIN_SCRAPY_RATIO:g}")
    result["checks"] = checks
    rows = [
        ("mirror", f"{result['mirror']['articles']} articles, {result['mirror']['pages']} pages, "
                   f"{result['mirror']['portals']} portals (generated in {result['mirror']['generate_s']:.2f}s)"),
        ("crawl wall time", f"{c['wall_s']:.1f} s (scrapy elapsed {fmt(c['scrapy_elapsed_s'], '.1f')} s)"),
        ("responses", fmt(c["responses"])),
        ("end-to-end pages/s", f"{c['pages_per_s']:.1f}"),
        ("articles stored", f"{c['articles_stored']} (article pages {fmt(c['article_pages'])})"),
        ("recall / precision", f"{fmt(c['recall'])} / {fmt(c['precision'])} vs {c['truth_articles']} truth"),
        ("extraction ms/page", fmt(c["extraction_ms_per_page"], ".2f")),
        ("peak RSS (crawl tree)", f"{c['peak_rss_mb']:.1f} MB ({c['rss_samples']} samples)"),
        ("server requests", f"{c['server']['requests']} ({c['server']['distinct_urls']} distinct, "
                            f"{c['server']['repeated_fetches']} repeats, {c['server']['missing_page_requests']} 404, "
                            f"{c['server']['robots_disallowed_requests']} robots-disallowed)"),
        ("rates per round", ", ".join(f"{k} {v}" for k, v in result.get("rates", {}).items())),
        ("load (1 min) per round", ", ".join(f"{k} {v}" for k, v in result.get("load_1min", {}).items())),
        *((f"  {k}: CPU ms/page", f"crawl {fmt(v['cpu_ms_per_page']['crawl_process'])}, workers "
                                  f"{fmt(v['cpu_ms_per_page']['workers'])}, server {fmt(v['cpu_ms_per_page']['server'])}"
                                  f"; {fmt(v['cores_busy'])} cores busy; extraction "
                                  f"{fmt(v['extraction_ms_per_page'])} ms/page; {fmt(v['pages_per_s'])} pages/s")
          for k, v in result.get("cpu", {}).items()),
        ("cores", str(os.cpu_count())),
        ("bare spider pages/s", f"{fmt(result['bare_spider']['pages_per_s'])} "
                                f"({result['bare_spider']['responses']} responses, same settings)"),
        ("ours / bare spider", fmt(bare_ratio, ".2f")),
        ("no-extraction crawl pages/s", fmt(result.get("no_extraction", {}).get("pages_per_s"))),
        ("no-extraction / bare", fmt(result.get("ratio_no_extraction_vs_bare"), ".2f")),
        ("scrapy bench pages/s", fmt(sbp, ".1f")),
        ("ours / scrapy bench", fmt(ratio, ".2f")),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n" + "=" * 72)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("-" * 72)
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print("=" * 72)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str),
                                         encoding="utf-8")
    print(f"wrote {args.out / 'bench.json'}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_check and not all(checks.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
