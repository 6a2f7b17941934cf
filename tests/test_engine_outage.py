"""No data loss when the search engine goes away: spool, replay, report.

End to end, with a real OpenSearch node that is stopped in the middle of a crawl of the
labelled corpus (served on loopback):

* the node comes back while the crawl still runs: the crawl says so in its log and
  summary, spools what it could not send, replays it at a later flush and exits 0;
* the node crashes (SIGKILL) and is only back after the crawl: the crawl exits 1 and
  says how much is unsent and where it is; the next crawl replays it at start.

Either way the final export equals a clean crawl's: no document missing, none twice.
The async writer is also tested directly: bounded batches in flight, spooling while
the engine is unreachable, replay at start, per-document rejections reported.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pipelines.storage import Document, PageRecord, RunRecord, SearchQuery
from pipelines.storage.async_writer import AsyncWriter
from pipelines.storage.engine import EngineStore, engine_store
from pipelines.storage.engine_write import WriteReport
from pipelines.storage.spool import Record, Spool
from tests.conftest import ServedCorpus, free_port
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, start_node_or_skip, unique_prefix
from tests.engine.opensearch_node import OpenSearchNode

pytestmark = pytest.mark.engine

COMPARED = ("url", "portal_id", "title", "published_at", "view_count", "body", "summary", "author", "category")
FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8"]
SLOW = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
        "-s", "PORTALNEWS_WRITE_BATCH=10", "-s", "PORTALNEWS_WRITE_INTERVAL=0.2"]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def export_rows(store: str) -> dict[str, dict[str, Any]]:
    out = cli("export", "--store", store)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    dups = [u for u, n in Counter(r["url"] for r in rows).items() if n > 1]
    assert not dups, f"duplicate documents in the export: {dups[:3]}"
    return {r["url"]: {k: r.get(k) for k in COMPARED} for r in rows}


def engine_count(base_url: str, prefix: str) -> int:
    try:
        with urllib.request.urlopen(f"{base_url}/{prefix}-articles/_count", timeout=5) as resp:
            return int(json.loads(resp.read())["count"])
    except OSError:
        return -1


def wait_for(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the crawl ended before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def outage_node() -> Iterator[OpenSearchNode]:
    """A node of their own for these tests: they stop and kill it."""
    node = OpenSearchNode()
    start_node_or_skip(node)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def clean_export(served_corpus: ServedCorpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    store = f"sqlite:///{tmp_path_factory.mktemp('clean') / 'clean.db'}"
    crawl = cli("crawl", "--portals", str(served_corpus.registry), "--var", f"PORT={served_corpus.port}",
                "--store", store, *FAST)
    assert crawl.returncode == 0, crawl.stderr[-2000:]
    rows = export_rows(store)
    assert len(rows) == 240
    return rows


def start_crawl(served_corpus: ServedCorpus, store: str, spool: Path, log: Path, stats: Path,
                extra: Sequence[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "crawl", "--portals", str(served_corpus.registry),
         "--var", f"PORT={served_corpus.port}", "--store", store, "-s", f"PORTALNEWS_SPOOL_DIR={spool}",
         "--stats-file", str(stats), *extra],
        stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_engine_stopped_and_restarted_during_the_crawl(outage_node: OpenSearchNode, served_corpus: ServedCorpus,
                                                       clean_export: dict[str, dict[str, Any]],
                                                       tmp_path: Path) -> None:
    prefix = unique_prefix()
    store = opensearch_store_url(outage_node.url, prefix)
    spool, log, stats_file = tmp_path / "spool", tmp_path / "crawl.log", tmp_path / "stats.json"
    proc = start_crawl(served_corpus, store, spool, log, stats_file, [*SLOW, "-s", "DOWNLOAD_DELAY=2"])
    try:  # generous deadlines: a loaded machine starts the crawl and restarts the node slowly
        wait_for(lambda: engine_count(outage_node.url, prefix) >= 10, 180, "10 documents were indexed", proc)
        outage_node.stop(wipe=False)  # same data and port on restart
        wait_for(lambda: "cannot reach the search engine" in log.read_text("utf-8"), 60,
                 "the crawl reported the outage", proc)
        wait_for(lambda: spool.is_dir() and any(spool.iterdir()), 30, "records were spooled", proc)
        outage_node.start()
        assert proc.poll() is None, "the crawl ended before the engine was back: slow it down"
        proc.wait(300)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text("utf-8")
    assert proc.returncode == 0, output[-3000:]
    stats = json.loads(stats_file.read_text("utf-8"))
    assert stats["portalnews/engine/outages"] >= 1
    assert stats["portalnews/engine/spooled"] > 0
    assert stats["portalnews/engine/replayed"] == stats["portalnews/engine/spooled"]
    assert stats["portalnews/unsent"] == 0
    assert "store: the search engine was unreachable 1 time(s)" in output
    assert "answers again" in output and "replayed" in output
    assert not list(spool.glob("*.jsonl"))
    assert export_rows(store) == clean_export
    cov = json.loads(cli("coverage", "--json", "--store", store).stdout)
    assert sum(r["articles"] for r in cov) == 240 and {r["last_outcome"] for r in cov} == {"ok"}
    drop_engine_indices(store)


@pytest.mark.slow
def test_engine_crashed_until_after_the_crawl_then_the_next_crawl_replays(
        outage_node: OpenSearchNode, served_corpus: ServedCorpus, clean_export: dict[str, dict[str, Any]],
        tmp_path: Path) -> None:
    if not outage_node.running:
        outage_node.start()
    prefix = unique_prefix()
    store = opensearch_store_url(outage_node.url, prefix)
    spool, log, stats_file = tmp_path / "spool", tmp_path / "crawl.log", tmp_path / "stats.json"
    proc = start_crawl(served_corpus, store, spool, log, stats_file, [*SLOW, "-s", "DOWNLOAD_DELAY=0.1"])
    try:
        wait_for(lambda: engine_count(outage_node.url, prefix) >= 10, 60, "10 documents were indexed", proc)
        outage_node.kill()  # a crash: SIGKILL, data kept
        proc.wait(300)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text("utf-8")
    assert proc.returncode == 1, output[-3000:]
    stats = json.loads(stats_file.read_text("utf-8"))
    unsent = stats["portalnews/unsent"]
    assert unsent > 0
    assert f"ERROR: {unsent} records are not stored yet: they are kept in {spool}" in output
    assert Spool(spool).counts().records == unsent

    outage_node.start()  # recovers from the crash on the same data
    again = cli("crawl", "--portals", str(served_corpus.registry), "--var", f"PORT={served_corpus.port}",
                "--store", store, "-s", f"PORTALNEWS_SPOOL_DIR={spool}", *FAST)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "from an earlier crawl: sending it now" in again.stderr
    assert not list(spool.glob("*.jsonl"))
    assert export_rows(store) == clean_export
    drop_engine_indices(store)


# --- the async writer, directly -------------------------------------------------------------
def docs(n: int, portal: str = "p1", offset: int = 0) -> list[Document]:
    return [Document(url=f"http://127.0.0.1/w/{offset + i}.html", portal_id=portal, title=f"Bản tin số {offset + i}",
                     body=f"Nội dung bản tin số {offset + i} về hội nghị.", crawled_at="2026-01-01T00:00:00+00:00",
                     published_at="2025-01-01T00:00:00+07:00") for i in range(n)]


class Stats:
    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self.values[key] += count


class CountingStore(EngineStore):
    """Records how many bulk batches were in flight at once."""

    inflight = 0
    peak = 0

    async def awrite(self, records: Sequence[Record], replay: bool = False) -> WriteReport:
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            return await super().awrite(records, replay=replay)
        finally:
            self.inflight -= 1


@pytest.fixture()
def engine_url(opensearch_url: str) -> Iterator[str]:
    url = opensearch_store_url(opensearch_url, unique_prefix())
    yield url
    drop_engine_indices(url)


def test_writer_bounds_batches_in_flight(engine_url: str, tmp_path: Path) -> None:
    store = CountingStore(engine_store(engine_url).config)
    store.open()

    async def crawl() -> AsyncWriter:
        writer = AsyncWriter(store, Spool(tmp_path / "spool"), batch_size=50, max_inflight=2, interval=0.2)
        await writer.start()
        for d in docs(1000):
            await writer.aput(d)
            await writer.aput(PageRecord(url=d.url, portal_id="p1", kind="article", status=200,
                                         fetched_at=d.crawled_at, doc_id=d.id))
        assert await writer.aclose() == 0
        return writer

    writer = asyncio.run(crawl())
    assert store.peak == 2
    assert (writer.stats.written_docs, writer.stats.written_pages, writer.stats.spooled) == (1000, 1000, 0)
    assert writer.stats.per_portal["p1"].inserted == 1000
    assert store.count_documents() == 1000  # aclose refreshed: searchable now
    assert len(store.known_pages("p1")) == 1000
    store.close()


def test_unreachable_engine_spools_and_the_next_start_replays(engine_url: str, tmp_path: Path) -> None:
    prefix = engine_url.rsplit("prefix=", 1)[1]
    down = engine_store(f"opensearch://127.0.0.1:{free_port()}?prefix={prefix}")
    spool = Spool(tmp_path / "spool")
    run = RunRecord(run_id="run-1", portal_id="p1", started_at="2026-01-01T00:00:00+00:00", outcome="ok")

    async def crawl_while_down() -> tuple[int, AsyncWriter]:
        writer = AsyncWriter(down, spool, batch_size=25, max_inflight=2, interval=0.1, stats=Stats())
        await writer.start()
        for d in docs(120):
            await writer.aput(d)
        writer.put(run)
        return await writer.aclose(), writer

    unsent, writer = asyncio.run(crawl_while_down())
    assert unsent == 121 and spool.counts().records == 121
    assert writer.stats.outages == 1 and writer.stats.spooled == 121
    assert any("not stored yet: 120 documents, 1 run records" in n for n in writer.notes())

    live = engine_store(engine_url)
    live.open()

    async def next_crawl() -> AsyncWriter:
        w = AsyncWriter(live, spool, batch_size=25, max_inflight=2, interval=0.1)
        await w.start()  # replays first
        assert await w.aclose() == 0
        return w

    w = asyncio.run(next_crawl())
    assert w.stats.replayed == 121 and w.stats.per_portal["p1"].inserted == 120
    assert spool.files() == []
    assert live.count_documents() == 120 and live.runs()[0].run_id == "run-1"
    # replaying the same records again (e.g. a spool copied back) duplicates nothing
    spool.write(docs(120))
    asyncio.run(next_crawl())
    live.refresh()
    assert live.count_documents() == 120
    assert len(live.search(SearchQuery(text="hoi nghi", limit=500))) == 120
    live.close()


def test_the_end_of_a_crawl_waits_for_the_replay_under_way(engine_url: str, tmp_path: Path) -> None:
    """The engine came back near the end of the crawl: the timer's replay of the spool is still
    sending when the crawl drains the writer.  The drain waits for it instead of counting the
    spool as unsent (which marked the runs "partial" although everything was stored)."""
    store = engine_store(engine_url)
    store.open()
    spool = Spool(tmp_path / "spool")

    async def crawl() -> tuple[int, int]:
        writer = AsyncWriter(store, spool, batch_size=10, max_inflight=2, interval=60)
        await writer.start()
        spool.write(docs(50))  # what an outage left behind
        timer = asyncio.get_running_loop().create_task(writer.flush_due())  # the timer's replay
        await asyncio.sleep(0)  # it holds the replay now, waiting on the engine
        unsent = await writer.drain()
        await timer
        return unsent, await writer.aclose()

    assert asyncio.run(crawl()) == (0, 0)
    assert spool.files() == [] and store.count_documents() == 50
    store.close()


def test_rejected_documents_are_reported_counted_and_kept(engine_url: str, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    store = engine_store(engine_url)
    store.open()
    bad = Document(url="http://127.0.0.1/" + "x" * 40000, portal_id="p1", title="Quá dài", body="Địa chỉ quá dài.")
    spool = Spool(tmp_path / "spool")
    stats = Stats()

    async def crawl() -> tuple[int, AsyncWriter]:
        writer = AsyncWriter(store, spool, batch_size=10, max_inflight=2, interval=0.1, stats=stats)
        await writer.start()
        for d in [*docs(5), bad, *docs(5, offset=5)]:
            await writer.aput(d)
        return await writer.aclose(), writer

    unsent, writer = asyncio.run(crawl())
    assert unsent == 1 and writer.stats.rejected == 1 and writer.stats.written_docs == 10
    assert stats.values["portalnews/engine/doc_errors"] == 1
    assert "the search engine rejected document http://127.0.0.1/xxx" in caplog.text
    assert "immense term" in caplog.text
    assert [p.name.startswith("rejected-") for p in spool.files()] == [True]
    assert store.count_documents() == 10

    async def restart() -> int:
        writer = AsyncWriter(store, spool, batch_size=10, max_inflight=2, interval=0.1)
        await writer.start()
        return await writer.aclose()

    # the next start tries it again; still refused, it stays and counts as unsent
    assert asyncio.run(restart()) == 1 and len(spool.files()) == 1
    store.close()


@pytest.mark.parametrize("flavour", ["opensearch", "elasticsearch"])
def test_429_and_5xx_are_retried_with_backoff(flavour: str, opensearch_url: str, tmp_path: Path) -> None:
    from tests.engine.es_shim import ElasticsearchShim

    with ElasticsearchShim(opensearch_url) as shim:
        url = f"{flavour}://{shim.url.split('://', 1)[1]}?prefix={unique_prefix()}"
        store = engine_store(url)
        store.open()
        async def write_twice() -> tuple[WriteReport, float, int, WriteReport]:
            try:
                shim.fail_next("_bulk", 429, 503, 502)
                started, sent = time.monotonic(), len(shim.paths)
                first = await store.awrite(docs(30))
                elapsed = time.monotonic() - started
                bulks = sum("_bulk" in p for p in shim.paths[sent:])
                shim.fail_next("_bulk", *[503] * 10)  # more than the retries allow: reported, not lost
                second = await store.awrite(docs(5, offset=100))
                return first, elapsed, bulks, second
            finally:
                await store.aclose()

        try:
            first, elapsed, bulks, second = asyncio.run(write_twice())
            assert first.ok and first.documents == 30
            assert [status for _, status in shim.injected[:3]] == [429, 503, 502]
            assert bulks == 4  # the batch was sent again after each of the three failures
            assert elapsed >= 0.5 + 0.5  # backed off: after the 429, and again after the 5xx
            assert second.documents == 0 and len(second.failed) == 5 and "503" in second.failed[0][1]
            store.refresh()
            assert store.count_documents() == 30
        finally:
            store.close()
            drop_engine_indices(f"opensearch://{opensearch_url.split('://', 1)[1]}?prefix={store.names.prefix}")
