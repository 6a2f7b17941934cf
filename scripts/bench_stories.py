"""What stories cost a store: ms per document added at N documents, and the space of the signatures.

1. generates ``--docs`` synthetic articles (the generator of ``scripts/bench_search.py``), and
   a reprint of one article in ``--reprint-share`` of them on another portal (title prefix,
   source line, last paragraph cut);
2. loads them into an SQLite store with ``import_documents`` (batches of 2,000, the path of
   ``portalnews import``) and reconciles them (timed: what a migration of such a store costs);
3. at that size, adds ``--add`` more documents (a share of them reprints of stored ones) in
   crawls of ``--batch`` documents, each crawl written then reconciled, and times the write and
   the reconciliation per document (wall and CPU);
4. the baseline, in the same run: as many other new documents written the same way with the
   story work switched off (no signature, no bands), and the pure signature alone.

Reports the load average next to every figure.  ``--reuse`` keeps the loaded store
(``data/bench/stories-N.db``) for a second run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench_search  # noqa: E402

from pipelines.storage import Document, open_store  # noqa: E402
from pipelines.storage import sqlite as sqlite_module  # noqa: E402
from pipelines.storage.sqlite import SQLiteStore  # noqa: E402
from pipelines.stories import make_signature  # noqa: E402

PREFIXES = ("Tin từ tỉnh: ", "(Tin tổng hợp) ", "Thông tin: ")


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def read_docs(path: Path, limit: int, skip: int = 0) -> list[Document]:
    out = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < skip:
                continue
            if len(out) >= limit:
                break
            out.append(Document.from_dict(json.loads(line)))
    return out


def reprint(doc: Document, n: int, rng: random.Random, portals: list[str]) -> Document:
    paragraphs = doc.body.split("\n")
    if len(paragraphs) > 3:
        paragraphs = paragraphs[:-1]
    body = "\n".join([f"(Nguồn: {doc.portal_name or doc.portal_id})", *paragraphs])
    others = [p for p in portals if p != doc.portal_id] or portals
    return replace(doc, url=f"https://reprint-{n}.example/tin/{n}.html", portal_id=rng.choice(others),
                   title=rng.choice(PREFIXES) + doc.title, body=body, id="", content_hash="",
                   story_id=None,
                   story_size=None, is_source=None)


def timed(fn: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--add", type=int, default=2_000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--reprint-share", type=float, default=0.05)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--no-initial-reconcile", action="store_true",
                    help="mark the loaded documents reconciled without reconciling them (their bands are "
                         "stored all the same, so the documents added later meet every candidate)")
    args = ap.parse_args()
    data = REPO / "data" / "bench"
    data.mkdir(parents=True, exist_ok=True)
    total = args.docs + 2 * args.add
    corpus = bench_search.generate(data / f"stories-corpus-{total}.jsonl", total)
    rng = random.Random(13)
    db = data / f"stories-{args.docs}.db"
    report: dict[str, Any] = {"docs": args.docs, "add": args.add, "batch": args.batch}
    base = read_docs(corpus.path, args.docs)
    portals = sorted({d.portal_id for d in base})
    if not (args.reuse and db.exists()):
        for p in data.glob(f"stories-{args.docs}.db*"):
            p.unlink()
        docs = list(base)
        docs += [reprint(d, i, rng, portals) for i, d in enumerate(rng.sample(base, int(len(base) * args.reprint_share)))]
        rng.shuffle(docs)
        store = open_store(f"sqlite:///{db}")
        store.open()
        load_started = load_avg()
        wall, cpu, _ = timed(lambda: [store.import_documents([(d, None) for d in docs[i:i + 2000]])
                                      for i in range(0, len(docs), 2000)])
        if args.no_initial_reconcile:
            conn = store._conn()  # type: ignore[attr-defined]
            conn.execute("UPDATE documents SET story_pending = NULL")
        rwall, rcpu, rep = timed(store.reconcile_stories)
        report["load"] = {"documents": len(docs), "write_s": round(wall, 1), "write_cpu_s": round(cpu, 1),
                          "reconcile_s": round(rwall, 1), "reconcile_cpu_s": round(rcpu, 1),
                          "reconcile": rep.to_dict(), "load_avg_before": load_started, "load_avg_after": load_avg()}
        print(json.dumps(report["load"]), flush=True)
        store.close()
    store = SQLiteStore(db)
    store.open()
    stored = store.count_documents()
    report["stored_before"] = stored
    added = read_docs(corpus.path, args.add, skip=args.docs)
    reprints = [reprint(d, 10_000_000 + i, rng, portals) for i, d in enumerate(rng.sample(base, int(args.add * 0.2)))]
    added = added[:args.add - len(reprints)] + reprints
    rng.shuffle(added)
    baseline_docs = read_docs(corpus.path, args.add, skip=args.docs + args.add)

    # the same write path, story work off (baseline) and on, alternating crawls
    def write_without(batch: list[Document]) -> None:
        real = sqlite_module.add_document
        sqlite_module.add_document = lambda *a, **k: None  # type: ignore[assignment]
        try:
            store.upsert_documents(batch)
        finally:
            sqlite_module.add_document = real

    stats = {"with": [0.0, 0.0], "reconcile": [0.0, 0.0], "without": [0.0, 0.0]}
    loads = [load_avg()]
    for i in range(0, args.add, args.batch):
        plain, mine = baseline_docs[i:i + args.batch], added[i:i + args.batch]
        w, c, _ = timed(lambda: write_without(plain))  # noqa: B023 - called at once
        stats["without"][0] += w
        stats["without"][1] += c
        w, c, _ = timed(lambda: store.upsert_documents(mine))  # noqa: B023 - called at once
        stats["with"][0] += w
        stats["with"][1] += c
        w, c, _ = timed(store.reconcile_stories)
        stats["reconcile"][0] += w
        stats["reconcile"][1] += c
    loads.append(load_avg())
    # documents written with the story work off got no signature: take them out again
    conn = store._conn()
    conn.executemany("DELETE FROM documents WHERE id = ?", [(d.id,) for d in baseline_docs])
    sig_wall, sig_cpu, _ = timed(lambda: [make_signature(d.body) for d in added])
    n = len(added)
    ms = {k: {"wall_ms_per_doc": round(v[0] * 1000 / n, 3), "cpu_ms_per_doc": round(v[1] * 1000 / n, 3)}
          for k, v in stats.items()}
    ms["signature_alone"] = {"wall_ms_per_doc": round(sig_wall * 1000 / n, 3),
                             "cpu_ms_per_doc": round(sig_cpu * 1000 / n, 3)}
    ms["story_cost"] = {
        "wall_ms_per_doc": round((stats["with"][0] + stats["reconcile"][0] - stats["without"][0]) * 1000 / n, 3),
        "cpu_ms_per_doc": round((stats["with"][1] + stats["reconcile"][1] - stats["without"][1]) * 1000 / n, 3)}
    report["per_document"] = ms
    report["load_avg"] = loads
    raw = sqlite3.connect(db)
    sig_bytes, docs_n = raw.execute("SELECT SUM(LENGTH(story_signature)), COUNT(*) FROM documents").fetchone()
    bands = raw.execute("SELECT COUNT(*) FROM story_bands").fetchone()[0]
    try:
        band_bytes = raw.execute("SELECT SUM(pgsize) FROM dbstat WHERE name IN ('story_bands')").fetchone()[0]
        story_index = raw.execute("SELECT SUM(pgsize) FROM dbstat WHERE name IN ('documents_story',"
                                  " 'documents_story_pending')").fetchone()[0]
    except sqlite3.OperationalError:
        band_bytes = story_index = None
    stories = raw.execute("SELECT COUNT(DISTINCT story_id), SUM(story_size > 1) FROM documents").fetchone()
    raw.close()
    report["space"] = {"documents": docs_n, "signature_bytes_per_doc": round(sig_bytes / docs_n, 1),
                       "band_rows": bands, "band_table_bytes_per_doc": band_bytes and round(band_bytes / docs_n, 1),
                       "story_id_indices_bytes_per_doc": story_index and round(story_index / docs_n, 1),
                       "stories": stories[0], "documents_in_stories_of_2_plus": stories[1]}
    print(json.dumps(report, indent=1))
    store.close()


if __name__ == "__main__":
    main()
