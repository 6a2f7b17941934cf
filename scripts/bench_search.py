#!/usr/bin/env python3
"""Search at scale: load synthetic Vietnamese articles through ``portalnews import`` and time
typical queries through the store's own ``search`` with facets (what ``/api/search`` runs).

One run, per backend (SQLite by default; ``--opensearch`` starts a local node, ``--engine URL``
uses one):

1. generates N articles (``--docs``, default 100,000) as a ``portalnews export`` JSON-lines file,
   cached in the work folder: the text of the mirror generator (``crawler.mirror.generator``),
   300 portals in the 63 pre-2025 provinces at every level, ten categories, dates from 2019 on,
   and place names drawn from a Zipf distribution so that rare words exist;
2. loads it into an empty store with ``portalnews import`` (a subprocess, timed: documents/s;
   SQLite with ``--stories later``: the documents are not signed for stories, which no search
   reads, and signing the generator's template-heavy text would cost milliseconds a document);
3. reports the index size per document (SQLite: the file after a checkpoint; engines: the
   articles index after a flush and a merge to one segment);
4. runs each query ``--runs`` times (after one warm-up) with ``SearchQuery.paged(1, 20,
   facets=True)`` and reports p50/p95 latency and the number of matches, next to a baseline
   measured in the same run: the backend's bare count of the same query (SQLite: ``count(*)``
   of the FTS5 expression; engines: the ``_count`` API with the same query), and the median
   CPU time of this process per search (SQLite: the search's own work, steadier than the
   wall-clock time on a shared machine; engines: only the client's);
5. checks the targets of issue 11 on SQLite (queries matching <= 1 % of the articles: p95 <=
   50 ms at 100,000 and <= 250 ms at 1,000,000; more than 10 %: p95 <= 300 ms and <= 1.5 s),
   prints a table, writes ``bench-out/bench_search-<backend>-<N>.json`` and exits 1 when a target
   is missed (``--no-check``: report only).

Run it when the machine is quiet: the figures are wall-clock times.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from crawler.mirror import generator as g  # noqa: E402
from pipelines.admin import load_provinces  # noqa: E402
from pipelines.storage import SearchQuery, Store, open_store  # noqa: E402

logger = logging.getLogger(__name__)

SEED = 20250612
PORTALS = 300
FIRST_DAY = datetime(2019, 1, 1, 6, 0)
SPAN_DAYS = (datetime(2026, 10, 31) - FIRST_DAY).days
#: Place names for rare words: syllables combined into two-word names, drawn with Zipf weights.
_INITIALS = ("b", "c", "ch", "d", "đ", "g", "h", "k", "kh", "l", "m", "n", "ng", "nh", "ph", "qu", "s", "t", "th",
             "tr", "v", "x")
_RHYMES = ("a", "ác", "ai", "am", "an", "ang", "anh", "ao", "ắc", "ăn", "âm", "ân", "âu", "e", "en", "ê", "ên",
           "i", "inh", "o", "oa", "oan", "ong", "ô", "ông", "ơ", "ơn", "u", "uân", "un", "ung", "uy", "ư", "ưng",
           "ương", "ươi", "y", "iên", "iêng", "oai")
_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
PLACES = 20_000
#: (label, class, SearchQuery keyword arguments); "{rare}" is replaced by a place name that
#: about 0.2 % of the articles mention, "{rare_folded}" by the same without diacritics.
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("common word", {"text": "hội nghị"}),
    ("common, no diacritics", {"text": "hoi nghi"}),
    ("common word (every article)", {"text": "huyện"}),
    ("abbreviation", {"text": "UBND"}),
    ("long form of an abbreviation", {"text": '"Ủy ban nhân dân"'}),
    ("phrase", {"text": '"phòng cháy, chữa cháy"'}),
    ("rare phrase (a person)", {"text": '"Nguyễn Văn An"'}),
    ("rare word", {"text": "{rare}"}),
    ("rare word, no diacritics", {"text": "{rare_folded}"}),
    ("rare word, sorted by date", {"text": "{rare}", "sort": "date"}),
    ("rare word + filters", {"text": "{rare}", "level": "commune", "since": "2021-01-01"}),
    ("prefix", {"text": "chuyen*"}),
    ("OR and exclusion", {"text": 'OCOP OR "nông thôn mới" -"hội nghị"'}),
    ("common, sorted by date", {"text": "hoi nghi", "sort": "date"}),
    ("abbreviation, sorted by views", {"text": "UBND", "sort": "views"}),
    ("common + province (merged) + dates", {"text": "giao thong", "province": "Đắk Lắk", "since": "2024-01-01",
                                            "until": "2024-12-31"}),
    ("common, page 5", {"text": "hội nghị", "page": 5}),
    ("no words, by date", {"text": ""}),
    ("no words, portal, by date", {"text": "", "portals": ["bench-0007"]}),
    ("no words, views >= 1000, by views", {"text": "", "min_views": 1000, "sort": "views"}),
]


def _syllable(rng: random.Random) -> str:
    import unicodedata

    rhyme = rng.choice(_RHYMES)
    tone = rng.choice(_TONES)
    vowels = [i for i, c in enumerate(rhyme) if c in "aăâeêioôơuưy"]
    if tone and vowels:  # the mark on the main vowel: "bưởi", "hóa", "khuyến"
        if len(vowels) == 3:
            i = vowels[1]
        else:
            i = vowels[0] if len(vowels) == 1 or (rhyme[-1] in "aiouy" and len(vowels) == 2) else vowels[-1]
        rhyme = unicodedata.normalize("NFC", rhyme[:i + 1] + tone + rhyme[i + 1:])
    return rng.choice(_INITIALS) + rhyme


def place_names(n: int = PLACES) -> list[str]:
    rng = random.Random(SEED + 1)
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        name = f"{_syllable(rng).capitalize()} {_syllable(rng).capitalize()}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


@dataclass
class Corpus:
    path: Path
    documents: int
    rare: str  # a place name mentioned by well under 1 % of the articles
    meta: dict[str, Any] = field(default_factory=dict)


def _portals(rng: random.Random) -> list[g._Portal]:
    provinces = list(load_provinces().former)
    levels = [("province", "tỉnh"), ("district", "huyện"), ("commune", "xã"), ("department", "tỉnh")]
    out = []
    for i in range(PORTALS):
        level, lv = levels[i % len(levels)]
        province = provinces[i % len(provinces)]
        locality = province if level in ("province", "department") else rng.choice(g.DISTRICTS + g.COMMUNES)
        portal = g._Portal(index=i, layout="tandan", host=f"bench-{i}.example", pid=f"bench-{i:04d}",
                           name=f"Cổng thông tin điện tử {lv} {locality}", level=level, province=province,
                           locality=locality, lv=lv, has_views=i % 5 != 0, src="Cổng TTĐT",
                           dept=rng.choice(g.DEPARTMENTS))
        portal.categories = [g._Category(name=n, slug=g.slugify(n)) for n in rng.sample(g.CATEGORIES, 4)]
        out.append(portal)
    return out


def rare_name(names: list[str], portals: list[g._Portal]) -> str:
    """A place name of Zipf rank 100 or more (each article draws 3 of 20,000 names: rank 100 is
    in about 0.3 % of them) whose syllables, without diacritics, are neither words of the
    articles' own text nor syllables of a more frequent name: so that the query, with or
    without diacritics, matches only the articles that name the place (diacritics are optional,
    so "Tứ Bưởi" would otherwise match every "từ" and "buổi")."""
    from pipelines.search import fold

    sample = random.Random(SEED + 2)
    vocabulary: set[str] = set()
    for portal in portals[:40]:
        text = g._Text(sample, portal)
        for i in range(10):
            category = portal.categories[i % len(portal.categories)]
            a = text.article(i, category, FIRST_DAY + timedelta(days=37 * i))
            vocabulary.update(fold(" ".join([a.title, a.lead, *a.paragraphs])).split())
    for name in names[:100]:
        vocabulary.update(fold(name).split())
    for name in names[100:]:
        if not set(fold(name).split()) & vocabulary:
            return name
    raise SystemExit("no rare place name: the generator's vocabulary covers every one")


def generate(path: Path, n: int, need_file: bool = True) -> Corpus:
    """Write ``n`` articles as export lines (cached: an existing complete file is reused;
    ``need_file`` False: its description alone, when the file was deleted after a load)."""
    names = place_names()
    # cumulative weights once: random.choices with weights= sums all 20,000 for every article
    # (a quarter of the generation time); the draws are the same
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(names))))
    meta_path = path.with_suffix(".meta.json")
    if (path.exists() or not need_file) and meta_path.exists():
        meta = json.loads(meta_path.read_text("utf-8"))
        if meta.get("documents") == n and meta.get("seed") == SEED and meta.get("rare"):
            return Corpus(path, n, meta["rare"], meta)
    rng = random.Random(SEED)
    portals = _portals(rng)
    rare = rare_name(names, portals)
    texts = {p.pid: g._Text(rng, p) for p in portals}
    started = time.perf_counter()
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as out:
        for i in range(n):
            portal = portals[rng.randrange(len(portals))]
            published = FIRST_DAY + timedelta(days=rng.randrange(SPAN_DAYS), minutes=rng.randrange(600))
            category = portal.categories[rng.randrange(len(portal.categories))]
            a = texts[portal.pid].article(i, category, published)
            places = rng.choices(names, cum_weights=cum_weights, k=3)
            extra = (f"Đoàn công tác đã khảo sát thực địa tại {places[0]}, {places[1]} và làm việc với "
                     f"người dân khu vực {places[2]}.")
            paragraphs = [*a.paragraphs]
            paragraphs.insert(rng.randrange(len(paragraphs) + 1), extra)
            line = {
                "url": f"https://{portal.host}/tin-tuc/{a.slug}-{i}.html", "portal_id": portal.pid,
                "title": a.title, "published_at": published.strftime("%Y-%m-%dT%H:%M:00+07:00"),
                "view_count": a.views if portal.has_views else None, "body": "\n".join(paragraphs),
                "summary": a.lead, "author": a.author, "category": category.name,
                "crawled_at": "2026-11-01T00:00:00+00:00", "date_precision": "minute",
                "province": portal.province, "level": portal.level, "portal_name": portal.name,
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    tmp.replace(path)
    meta = {"documents": n, "seed": SEED, "rare": rare, "bytes": path.stat().st_size,
            "generated_s": round(time.perf_counter() - started, 1)}
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    return Corpus(path, n, rare, meta)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def load(url: str, corpus: Corpus) -> dict[str, Any]:
    """``portalnews import --store URL FILE``, timed; on SQLite with ``--stories later`` (no
    story signatures or reconciliation: the search figures do not depend on story fields, and
    signing the generator's template-heavy text costs milliseconds a document)."""
    started = time.perf_counter()
    later = ["--stories", "later"] if url.startswith("sqlite:") else []
    proc = subprocess.run([sys.executable, "-m", "crawler.cli", "import", *later, "--store", url, str(corpus.path)],
                          capture_output=True, text=True, env=_env(), cwd=REPO)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"import failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"seconds": round(seconds, 1), "docs_per_s": round(corpus.documents / seconds, 1),
            "summary": proc.stderr.strip().splitlines()[-1], "stories": "later" if later else "now"}


def index_size(store: Store, url: str) -> dict[str, Any]:
    if url.startswith("sqlite:"):
        path = Path(getattr(store, "path"))  # noqa: B009
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        parts: dict[str, int] = {}
        try:
            for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                key = "search_text" if name.startswith("search_text") else (
                    "search_meta" if name.startswith("search_meta") else "documents" if name.startswith(
                        ("documents", "sqlite_autoindex_documents")) else "other")
                parts[key] = parts.get(key, 0) + int(size)
        except sqlite3.OperationalError:
            parts = {}
        conn.close()
        return {"bytes": path.stat().st_size, "parts": parts}
    client = store._client()  # type: ignore[attr-defined]
    index = store.names.articles  # type: ignore[attr-defined]
    client.indices.flush(index=index)
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=1800)
    stats = client.indices.stats(index=index, metric="store")
    return {"bytes": int(stats["_all"]["primaries"]["store"]["size_in_bytes"])}


def baseline(store: Store, url: str, query: SearchQuery) -> float:
    """Seconds for the backend's bare count of the query's text (no filters, facets, ranking)."""
    from pipelines.search import parse, to_dsl, to_fts5

    parsed = parse(query.text)
    started = time.perf_counter()
    if url.startswith("sqlite:"):
        expr = to_fts5(parsed)
        conn = store._conn()  # type: ignore[attr-defined]
        if expr.match:
            conn.execute("SELECT count(*) FROM search_text WHERE search_text MATCH ?", (expr.match,)).fetchone()
        else:
            conn.execute("SELECT count(*) FROM search_meta").fetchone()
    else:
        client = store._client()  # type: ignore[attr-defined]
        client.count(index=store.names.articles, body={"query": to_dsl(parsed) or {"match_all": {}}})  # type: ignore[attr-defined]
    return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def target_ms(share: float, documents: int) -> float | None:
    """Issue 11's p95 target for a query matching ``share`` of the articles (None: none set)."""
    big = documents >= 500_000
    if share <= 0.01:
        return 250.0 if big else 50.0
    if share > 0.10:
        return 1500.0 if big else 300.0
    return None


def run_queries(store: Store, url: str, corpus: Corpus, runs: int) -> list[dict[str, Any]]:
    out = []
    folded = corpus.rare
    from pipelines.search import fold

    folded = fold(corpus.rare)
    for label, spec in QUERIES:
        kwargs = dict(spec)
        kwargs["text"] = kwargs["text"].replace("{rare}", corpus.rare).replace("{rare_folded}", folded)
        page = kwargs.pop("page", 1)
        query = SearchQuery.paged(page, 20, facets=True, **kwargs)
        result = store.search(query)  # warm-up
        times, cpu, base = [], [], []
        for _ in range(runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            result = store.search(query)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            base.append(baseline(store, url, query))
        share = result.total / corpus.documents
        p95 = percentile(times, 0.95) * 1000
        target = target_ms(share, corpus.documents)
        out.append({"query": label, "text": query.text, "filters": {k: v for k, v in kwargs.items() if k != "text"},
                    "matches": result.total, "share": round(share, 5), "facets_exact": result.facets_exact,
                    "p50_ms": round(statistics.median(times) * 1000, 1), "p95_ms": round(p95, 1),
                    "cpu_p50_ms": round(statistics.median(cpu) * 1000, 1),
                    "rank_exact": result.rank_exact,
                    "baseline_count_p50_ms": round(statistics.median(base) * 1000, 1),
                    "target_p95_ms": target, "meets_target": None if target is None else p95 <= target})
    return out


def bench(url: str, corpus: Corpus, runs: int, reuse: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load (or, with ``reuse``: the load figures of an earlier run into the same store) and
    time the queries."""
    loaded = reuse if reuse is not None else load(url, corpus)
    store = open_store(url)
    store.open()
    try:
        count = store.count_documents()
        size = index_size(store, url)
        queries = run_queries(store, url, corpus, runs)
    finally:
        store.close()
    return {"backend": url.split(":", 1)[0], "documents": corpus.documents, "stored": count, "load": loaded,
            "index_bytes": size["bytes"], "bytes_per_document": round(size["bytes"] / max(count, 1)),
            "index_parts": size.get("parts", {}), "queries": queries, "runs": runs,
            "load_average": os.getloadavg(), "cpus": os.cpu_count()}


def report(result: dict[str, Any]) -> str:
    stories = " (--stories later: not signed for stories)" if result["load"].get("stories") == "later" else ""
    lines = [f"{result['backend']}: {result['stored']:,} documents; import{stories} {result['load']['docs_per_s']:,.0f} "
             f"docs/s ({result['load']['seconds']} s); index {result['index_bytes'] / 2**20:,.0f} MiB = "
             f"{result['bytes_per_document'] / 1024:.1f} KiB per document; load average at the end "
             f"{', '.join(f'{x:.2f}' for x in result['load_average'])}",
             f"{'query':38} {'matches':>9} {'share':>7} {'p50 ms':>8} {'p95 ms':>8} {'cpu ms':>7} {'count ms':>9} "
             f"{'target':>7}  ok"]
    for q in result["queries"]:
        target = f"{q['target_p95_ms']:.0f}" if q["target_p95_ms"] else "-"
        ok = {None: "", True: "yes", False: "NO"}[q["meets_target"]]
        lines.append(f"{q['query'][:38]:38} {q['matches']:>9,} {q['share'] * 100:>6.2f}% {q['p50_ms']:>8.1f} "
                     f"{q['p95_ms']:>8.1f} {q['cpu_p50_ms']:>7.1f} {q['baseline_count_p50_ms']:>9.1f} {target:>7}  {ok}"
                     + ("" if q["rank_exact"] else "  (ranked among title candidates)"))
    return "\n".join(lines).replace(",", ".")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000, help="articles to load (default 100000; try 1000000)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each query (default 20)")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench-out" / "search",
                        help="where the generated articles (cached) and the SQLite store go")
    parser.add_argument("--engine", metavar="URL", help="also (or only, with --no-sqlite) this engine store URL")
    parser.add_argument("--opensearch", action="store_true", help="also start a local OpenSearch node and use it")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite store")
    parser.add_argument("--reuse", action="store_true",
                        help="SQLite: time the queries on the store an earlier run loaded (its load figures are kept)")
    parser.add_argument("--no-check", action="store_true", help="report only; exit 0 even when a target is missed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args.workdir.mkdir(parents=True, exist_ok=True)
    db = args.workdir / f"store-{args.docs}.db"
    earlier = REPO / "bench-out" / f"bench_search-sqlite-{args.docs}.json"
    # re-timing the queries on a loaded store needs the articles' description, not the file
    only_reuse = args.reuse and db.exists() and earlier.exists() and not (args.engine or args.opensearch or args.no_sqlite)
    corpus = generate(args.workdir / f"articles-{args.docs}.jsonl", args.docs, need_file=not only_reuse)
    print(f"{args.docs:,} articles in {corpus.path} ({corpus.meta.get('bytes', 0) / 2**20:,.0f} MiB); rare word "
          f"{corpus.rare!r}".replace(",", "."), file=sys.stderr)
    results = []
    if not args.no_sqlite:
        reuse = None
        if args.reuse and db.exists() and earlier.exists():
            reuse = dict(json.loads(earlier.read_text("utf-8"))["load"], reused=True)
            print(f"reusing {db} (loaded by an earlier run: {reuse['docs_per_s']} docs/s)", file=sys.stderr)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        results.append(bench(f"sqlite:///{db}", corpus, args.runs, reuse))
    engines = [args.engine] if args.engine else []
    node = None
    if args.opensearch:
        from tests.engine.opensearch_node import OpenSearchNode

        node = OpenSearchNode(heap="1g")
        engines.append(node.start().replace("http://", "opensearch://"))
    try:
        for base in engines:
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            url = f"{base}{'&' if '?' in base else '?'}prefix={prefix}"
            try:
                results.append(bench(url, corpus, args.runs))
            finally:
                from tests.engine.fixtures import drop_engine_indices

                drop_engine_indices(url)
    finally:
        if node is not None:
            node.stop()
    out_dir = REPO / "bench-out"
    missed = False
    for result in results:
        print(report(result))
        (out_dir / f"bench_search-{result['backend']}-{args.docs}.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=1), "utf-8")
        if result["backend"] == "sqlite":
            missed = missed or any(q["meets_target"] is False for q in result["queries"])
    return 1 if missed and not args.no_check else 0


if __name__ == "__main__":
    sys.exit(main())

