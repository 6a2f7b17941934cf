#!/usr/bin/env python3
"""Bulk indexing rate into a live search engine, through the crawl's own indexing path.

Starts a real single-node OpenSearch (tests/engine/opensearch_node.py) unless ``--url``
names an engine, generates Vietnamese news documents (plus one page record per
document, like a crawl), and writes them with :class:`AsyncWriter` and the engine
store's async bulk path, using the crawl's batch size and in-flight bound.  Prints one
JSON object: documents/s (the acceptance target is >= 2,000/s on a single node), the
batch settings, and the count found in the engine afterwards.

The baseline, measured in the same run against the same node: a plain ``helpers.bulk`` (the
client library's sync helper, same chunk size) of exactly the documents and page records the
project stored (read back from the engine), into indices with the same template.  An article's
``_source`` leaves out the six search fields the index is searched by (``title_exact``,
``body_folded`` …: indexed, not stored), so the baseline puts them back, computed before the
clock starts (``--baseline indexed``, the default): both sides then give the node the same
fields to index.  ``--baseline stored`` sends the stored ``_source`` alone (the node indexes no
text for it: what the figures before December 2 compared with).  The ratio project / plain is
the project's own overhead (target >= 0.9): the async writer, the source building (the search
fields included), the lookups of current versions and the optimistic-concurrency writes.
The documents arrive as a crawl hands them to the store: with the story signature that the
extraction worker made from the body (``Document.story_signature``), signed before the clock
starts like the search fields of the baseline; ``--unsigned`` leaves the signing to the store's
write path, as for ``portalnews import`` or a record replayed from the spool.  ``--rounds N``
alternates the two N times (project first in even rounds, plain first in odd ones) and compares
the best of each, each round's pair and the medians; ``shards`` says what the node did for each
(index and get operations and their summed time, refreshes, merges) and the client's CPU.

    python scripts/bench_engine.py [--docs 20000] [--batch 200] [--inflight 2] [--rounds 2]
                                   [--baseline indexed|stored] [--url opensearch://HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipelines.search import index_fields  # noqa: E402
from pipelines.storage.async_writer import AsyncWriter  # noqa: E402
from pipelines.storage.base import Document, PageRecord  # noqa: E402
from pipelines.storage.engine import EngineStore, engine_store  # noqa: E402
from pipelines.storage.spool import Spool  # noqa: E402
from pipelines.stories import make_signature  # noqa: E402

logger = logging.getLogger("bench_engine")

_VOCABULARY = (
    "hội nghị tổng kết công tác năm ủy ban nhân dân huyện tỉnh xã phường thị trấn triển khai kế hoạch "
    "phát triển kinh tế xã hội nông thôn mới giao thông đường bộ khánh thành công trình trường học "
    "y tế bệnh viện trạm chăm sóc sức khỏe người dân phòng chống dịch bệnh an ninh trật tự quốc phòng "
    "tuyên truyền phổ biến giáo dục pháp luật cải cách hành chính chuyển đổi số dịch vụ công trực tuyến "
    "đồng bào dân tộc thiểu số hỗ trợ hộ nghèo cận nghèo việc làm lao động thanh niên phụ nữ cựu chiến binh "
    "mặt trận tổ quốc đại hội đảng bộ chi bộ nghị quyết chỉ thị thông báo lịch tiếp công dân thủ tục "
    "đất đai xây dựng quy hoạch môi trường tài nguyên nước sạch thủy lợi mùa vụ lúa cà phê hồ tiêu "
    "du lịch văn hóa thể thao lễ hội di tích lịch sử khen thưởng thi đua yêu nước Phú Yên Sơn Hòa "
    "Đồng Xuân Tuy An Bến Tre Hà Giang Quảng Ngãi Nghĩa Hành"
)
WORDS = _VOCABULARY.split()


def sentence(rng: random.Random, lo: int = 8, hi: int = 22) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(words).capitalize() + "."


def generate_documents(n: int, portals: int = 20, seed: int = 7, signed: bool = True) -> Iterator[Document]:
    """``n`` article documents spread over ``portals`` portals (about 1.5 kB of body each),
    carrying the story signature of their body when ``signed`` (what the crawl's extraction
    worker attaches: :func:`pipelines.stages.extraction_pool.extract_one`)."""
    rng = random.Random(seed)
    for i in range(n):
        portal = f"bench-{i % portals:02d}"
        day = 1 + i % 28
        body = "\n".join(" ".join(sentence(rng) for _ in range(rng.randint(3, 5))) for _ in range(rng.randint(3, 5)))
        yield Document(
            url=f"http://127.0.3.{i % portals}/tin-tuc/bai-viet-{i}.html", portal_id=portal,
            title=sentence(rng, 6, 14).rstrip("."), body=body, summary=sentence(rng),
            published_at=f"2025-{1 + i % 12:02d}-{day:02d}T08:{i % 60:02d}:00+07:00", date_precision="minute",
            view_count=rng.randint(0, 50000), author=None, category="Tin tức",
            crawled_at="2026-01-01T00:00:00+00:00", portal_name=f"Cổng thông tin {portal}",
            province=rng.choice(["Phú Yên", "Bến Tre", "Hà Giang"]), level="district", profile="bench",
            story_signature=make_signature(body).to_bytes() if signed else None,
        )


async def index_all(store: EngineStore, docs: list[Document], batch: int, inflight: int, spool_dir: Path,
                    pages: bool) -> dict[str, Any]:
    writer = AsyncWriter(store, Spool(spool_dir), batch_size=batch, max_inflight=inflight, interval=1.0)
    await writer.start()
    started = time.perf_counter()
    for doc in docs:
        await writer.aput(doc)
        if pages:
            await writer.aput(PageRecord(url=doc.url, portal_id=doc.portal_id, kind="article", status=200,
                                         fetched_at=doc.crawled_at, content_hash=doc.content_hash, doc_id=doc.id))
    unsent = await writer.drain()
    elapsed = time.perf_counter() - started
    await writer.aclose()
    return {"seconds": round(elapsed, 2), "unsent": unsent, "spooled": writer.stats.spooled,
            "rejected": writer.stats.rejected, "batches": writer.stats.batches,
            "written_docs": writer.stats.written_docs, "written_pages": writer.stats.written_pages}


def _plain_client(store: EngineStore) -> tuple[Any, Any]:
    """A sync client of the store's library (no project code in the way) and its helpers."""
    cfg = store.config
    if cfg.flavour == "opensearch":
        from opensearchpy import OpenSearch, helpers

        return OpenSearch([cfg.base_url], timeout=120), helpers
    from elasticsearch import Elasticsearch
    from elasticsearch import helpers as es_helpers

    return Elasticsearch([cfg.base_url], request_timeout=120), es_helpers


def stored_actions(store: EngineStore, target: EngineStore, indexed: bool = True) -> list[dict[str, Any]]:
    """What ``store`` holds (articles and page records, as stored), as plain index actions into
    ``target``'s indices: documents and their page records interleaved like the crawl's writes.
    ``indexed``: with the search fields the articles' ``_source`` leaves out (what the node
    indexed for the project)."""
    client, helpers = _plain_client(store)

    def source(src: dict[str, Any]) -> dict[str, Any]:
        return {**src, **index_fields(src, store.abbreviations)} if indexed else src

    try:
        docs = [{"_op_type": "index", "_index": target.names.articles, "_id": h["_id"], "_source": source(h["_source"])}
                for h in helpers.scan(client, index=store.names.articles, size=2000)]
        pages = [{"_op_type": "index", "_index": target.names.pages, "_id": h["_id"], "_source": h["_source"]}
                 for h in helpers.scan(client, index=store.names.pages, size=2000)]
    finally:
        client.close()
    out: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        out.append(doc)
        if i < len(pages):
            out.append(pages[i])
    out.extend(pages[len(docs):])
    return out


def plain_bulk(store: EngineStore, actions: list[dict[str, Any]], batch: int) -> float:
    """Seconds for ``helpers.bulk`` of ``actions`` (``batch`` actions a request, no refresh)."""
    client, helpers = _plain_client(store)
    try:
        started = time.perf_counter()
        _ok, errors = helpers.bulk(client, actions, chunk_size=batch, raise_on_error=False, stats_only=True)
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    if errors:
        raise RuntimeError(f"plain bulk: {errors} actions failed")
    return elapsed


def shard_work(store: EngineStore) -> dict[str, int]:
    """What the node did for ``store``'s indices so far (primaries): index and get operations
    and their time, refreshes, merges.  Compared before and after a phase, it says where the
    engine's time went (an update is a get plus an index on the shard; an mget is gets)."""
    client, _helpers = _plain_client(store)
    try:
        stats = client.indices.stats(index=f"{store.names.prefix}-*", metric="indexing,get,refresh,merge,flush")
    finally:
        client.close()
    prim = stats["_all"]["primaries"]
    return {"index_ops": prim["indexing"]["index_total"], "index_ms": prim["indexing"]["index_time_in_millis"],
            "get_ops": prim["get"]["total"], "get_ms": prim["get"]["time_in_millis"],
            "refreshes": prim["refresh"]["total"], "refresh_ms": prim["refresh"]["total_time_in_millis"],
            "merge_ms": prim["merges"]["total_time_in_millis"], "flushes": prim["flush"]["total"]}


def _phase(store: EngineStore, work: Any) -> tuple[Any, dict[str, Any]]:
    """Run ``work()``; its result and the shard work and client CPU it cost."""
    cpu = time.process_time()
    result = work()
    cost: dict[str, Any] = {"client_cpu_s": round(time.process_time() - cpu, 2)}
    cost.update(shard_work(store))
    return result, cost


def run(url: str, n: int, batch: int, inflight: int, pages: bool, rounds: int = 1,
        baseline: str = "indexed", signed: bool = True) -> dict[str, Any]:
    """``rounds`` pairs of the project's writer and a plain ``helpers.bulk`` of what it stored,
    each into fresh indices; the order alternates (project first in even rounds) so that
    neither side always gets the node warmed up by the other."""
    docs = list(generate_documents(n, signed=signed))
    body_kb = sum(len(d.body.encode()) for d in docs) / n / 1024
    project: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    found = 0
    stores: list[EngineStore] = []
    source: EngineStore | None = None  # round 0's project store: what the plain bulk sends

    def project_round(r: int) -> None:
        nonlocal found, source
        store = engine_store(f"{url}-p{r}")  # a fresh prefix each round: every document is new
        store.open()
        stores.append(store)
        with tempfile.TemporaryDirectory(prefix="bench-spool-") as spool:
            result, cost = _phase(store, lambda: asyncio.run(index_all(store, docs, batch, inflight, Path(spool),
                                                                       pages)))
        store.refresh()
        found = store.count_documents()
        project.append({**result, "found_in_engine": found, "shards": cost})
        source = source or store

    def plain_round(r: int) -> None:
        assert source is not None
        target = engine_store(f"{url}-b{r}")  # the same template, indices of its own
        target.open()
        stores.append(target)
        actions = stored_actions(source, target, indexed=baseline == "indexed")
        seconds, cost = _phase(target, lambda: plain_bulk(target, actions, batch))
        target.refresh()
        if target.count_documents() != found:
            raise RuntimeError("plain bulk: not every document is in the engine")
        plain.append({"seconds": round(seconds, 2), "shards": cost})

    try:
        for r in range(rounds):
            if r % 2 == 0 or source is None:
                project_round(r)
                plain_round(r)
            else:
                plain_round(r)
                project_round(r)
    finally:
        for store in stores:
            drop_indices(store)
            store.close()
    best = min(project, key=lambda r: r["seconds"])
    best_plain = min(plain, key=lambda r: r["seconds"])
    rate = n / best["seconds"] if best["seconds"] else 0.0
    plain_rate = n / best_plain["seconds"] if best_plain["seconds"] else 0.0
    flavour = stores[0].config.flavour if stores else "?"
    return {"metric": "engine_bulk_index_rate", "engine": flavour, "documents": n,
            "docs_per_s": round(rate, 1), "plain_bulk_docs_per_s": round(plain_rate, 1),
            "ratio_to_plain_bulk": round(rate / plain_rate, 3) if plain_rate else None, "target_ratio": 0.9,
            "baseline": baseline, "documents_signed": signed,
            # the pair of each round (plain seconds / project seconds) and the medians' ratio: on a
            # busy machine the best-of ratio alone can flatter either side
            "ratio_per_round": [round(b["seconds"] / p["seconds"], 3) for p, b in zip(project, plain, strict=True)],
            "ratio_of_medians": round(statistics.median(b["seconds"] for b in plain)
                                      / statistics.median(p["seconds"] for p in project), 3),
            "rounds": rounds, "project_seconds": [r["seconds"] for r in project],
            "plain_bulk_seconds": [r["seconds"] for r in plain], "target_docs_per_s": 2000,
            "meets_target": rate >= 2000, "with_page_records": pages, "batch": batch, "max_inflight": inflight,
            "avg_body_kb": round(body_kb, 2), "plain_bulk_shards": best_plain["shards"], **best}


def drop_indices(store: EngineStore) -> None:
    client, _helpers = _plain_client(store)
    try:
        client.indices.delete(index=f"{store.names.prefix}-*", ignore_unavailable=True, allow_no_indices=True)
        if client.indices.exists_index_template(name=store.names.template):
            client.indices.delete_index_template(name=store.names.template)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=20000, help="documents to index (default 20000)")
    parser.add_argument("--batch", type=int, default=200, help="records per bulk batch (PORTALNEWS_WRITE_BATCH)")
    parser.add_argument("--inflight", type=int, default=2, help="batches in flight (PORTALNEWS_MAX_INFLIGHT_BATCHES)")
    parser.add_argument("--no-pages", action="store_true", help="documents only, no page records")
    parser.add_argument("--rounds", type=int, default=2, help="project/plain pairs to run (default 2)")
    parser.add_argument("--baseline", choices=("indexed", "stored"), default="indexed",
                        help="what the plain bulk sends: the stored articles with their search fields (default) "
                             "or the stored _source alone")
    parser.add_argument("--url", help="engine store URL (default: start a local OpenSearch node)")
    parser.add_argument("--unsigned", action="store_true",
                        help="documents without the extraction worker's story signature: the write path signs "
                             "them (as for an import)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    if args.url:
        sep = "&" if "?" in args.url else "?"
        out = run(f"{args.url}{sep}prefix={prefix}", args.docs, args.batch, args.inflight, not args.no_pages,
                  args.rounds, args.baseline, not args.unsigned)
    else:
        from tests.engine.opensearch_node import OpenSearchNode

        with OpenSearchNode() as node:
            url = node.url.replace("http://", "opensearch://") + f"?prefix={prefix}"
            out = run(url, args.docs, args.batch, args.inflight, not args.no_pages, args.rounds, args.baseline,
                      not args.unsigned)
            out["engine_rss_mb"] = round((node.rss_bytes() or 0) / 2**20)
    print(json.dumps(out, ensure_ascii=False))
    return 0 if out["unsent"] == 0 and out["found_in_engine"] == args.docs else 1


if __name__ == "__main__":
    sys.exit(main())
