#!/usr/bin/env python3
"""Evaluate same-story detection (issue 13): tune on one half of the blind set, report on the other.

usage: python scripts/eval_stories.py [--set tests/fixtures/stories] [--load 100000] [--added 500]
                                      [--no-cost] [--json OUT]

1. **Tuning** (split "tune"): every shingle size × verifier rule of the grid below is run on
   the whole set (both halves, as a store holds them); the rule with the best F1 on "tune"
   is chosen, ties going to the middle of the tied plateau (the most margin on each side).
2. **Report** (split "test"): pairwise precision and recall of "same story" over the pairs
   inside the split, the share of stories whose source is right, the false-merge rate of the
   designed hard negatives and, separately, of the incidental same-template pairs
   (``similar_negatives.tsv`` with ``same_split`` = yes), recall per edit kind, and the
   curve around the chosen thresholds on both halves.
3. **Cost**: the signature of a document, in ms, on the set's real bodies; then ``--load``
   synthetic signatures (news, notices of shared templates, reprints: see
   :func:`synthetic_signatures`) are indexed and ``--added`` more are added one at a time:
   ms per document for the index (candidates + verification + merge), against a baseline
   of the same documents added to an index of 1,000 documents, in the same run.  Memory: tracemalloc of the
   index (signatures + band table + stories) at the load, and (when installed) of datasketch's own
   ``MinHashLSH`` with the same bands on 10,000 signatures for comparison.

Exit code 1 when the test half misses a target (precision >= 0.98, recall >= 0.95, source
right >= 0.98).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipelines.stories import (  # noqa: E402
    Signature,
    SignatureParams,
    StoryDoc,
    StoryIndex,
    StoryRule,
    band_keys,
    make_signature,
)
from pipelines.stories.evaluate import EvalSet, Scores, detect, load_set, score, signatures  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_SET = ROOT / "tests" / "fixtures" / "stories"
TARGETS = {"precision": 0.98, "recall": 0.95, "source_right": 0.98}
SHINGLE_WORDS = (3, 4, 5)
CONTAINMENTS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
NOVEL = (0, 1, 2, 3, 4)


def f1(s: Scores) -> float:
    p, r = s.precision, s.recall
    return 2 * p * r / (p + r) if p + r else 0.0


def line(s: Scores) -> str:
    return (f"P {s.precision:.4f}  R {s.recall:.4f}  source {s.source_share:.4f}  "
            f"hard {s.hard_merged}/{s.hard_pairs}  similar {s.similar_merged}/{s.similar_pairs}")


def tune(data: EvalSet, base: SignatureParams) -> tuple[SignatureParams, StoryRule, dict[tuple[Any, ...], Scores]]:
    """The grid on the tune half; returns the chosen parameters and every tune score."""
    results: dict[tuple[Any, ...], Scores] = {}
    for words in SHINGLE_WORDS:
        params = SignatureParams(shingle_words=words, num_perm=base.num_perm, bands=base.bands, rows=base.rows)
        sigs = signatures(data.articles, params)
        for c in CONTAINMENTS:
            for n in NOVEL:
                rule = StoryRule(min_containment=c, max_novel=n)
                results[(words, c, n)] = score(data, detect(data.articles, params, rule, sigs), "tune")
    best = max(f1(s) for s in results.values())
    tied = sorted(k for k, s in results.items() if f1(s) >= best - 1e-12)
    # The middle of the plateau: for each shingle size the tied rules form a block of
    # (containment, novel); take the size with the largest block and its median point.
    by_words: dict[int, list[tuple[Any, ...]]] = {}
    for k in tied:
        by_words.setdefault(k[0], []).append(k)
    words = max(by_words, key=lambda w: (len(by_words[w]), -abs(w - 4)))
    block = by_words[words]
    c = statistics.median_low(sorted({k[1] for k in block}))
    n = statistics.median_low(sorted({k[2] for k in block if k[1] == c}))
    params = SignatureParams(shingle_words=words, num_perm=base.num_perm, bands=base.bands, rows=base.rows)
    return params, StoryRule(min_containment=c, max_novel=n), results


# --- cost ------------------------------------------------------------------------------------

# The load is made of signatures, not of texts: computing 100,000 signatures from text would
# take most of the run (the signature time is measured separately, on the set's real bodies).
# Shingles are random 32-bit ids hashed with the MinHash's own kind of permutation:
#  * 85 % ordinary news: 80-400 shingles of their own, 5-25 distinctive tokens of their own;
#  * 10 % notices of 500 templates: 60-90 % of the template's shingles and its legal
#    references, plus their own dates and names (LSH candidates of each other, rejected
#    by the verifier: the expensive case);
#  * 5 % reprints of an earlier document: 70-100 % of its shingles and tokens.
_TEMPLATES = 500


def _minhash(ids: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(ids) == 0:
        return np.full(len(a), np.iinfo(np.uint32).max, dtype=np.uint32)
    return (a[:, None] * ids[None, :] + b[:, None]).min(axis=1).astype(np.uint32)


def synthetic_signatures(count: int, params: SignatureParams, seed: int = 13) -> list[Signature]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**32, size=params.num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    b = rng.integers(0, 2**32, size=params.num_perm, dtype=np.uint64).astype(np.uint32)
    templates = [(rng.integers(0, 2**32, size=int(rng.integers(150, 350)), dtype=np.uint64).astype(np.uint32),
                  rng.integers(-2**62, 2**62, size=4)) for _ in range(_TEMPLATES)]
    out: list[Signature] = []
    sets: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.05 and sets:
            ids, tokens = sets[int(rng.integers(len(sets)))]
            ids = ids[rng.random(len(ids)) < rng.uniform(0.7, 1.0)]
            tokens = tokens[rng.random(len(tokens)) < 0.9]
        elif kind < 0.15:
            t_ids, t_tokens = templates[int(rng.integers(_TEMPLATES))]
            own = rng.integers(0, 2**32, size=int(len(t_ids) * rng.uniform(0.1, 0.4)), dtype=np.uint64)
            ids = np.concatenate((t_ids[rng.random(len(t_ids)) < rng.uniform(0.6, 0.9)], own.astype(np.uint32)))
            tokens = np.concatenate((t_tokens, rng.integers(-2**62, 2**62, size=int(rng.integers(4, 12)))))
        else:
            ids = rng.integers(0, 2**32, size=int(rng.integers(80, 400)), dtype=np.uint64).astype(np.uint32)
            tokens = rng.integers(-2**62, 2**62, size=int(rng.integers(5, 25)))
        ids = np.unique(ids)
        tokens = np.unique(tokens).astype(np.int64)
        sets.append((ids, tokens))
        out.append(Signature(hashvalues=_minhash(ids, a, b), shingles=len(ids), tokens=tokens))
    return out


def cost(data: EvalSet, params: SignatureParams, rule: StoryRule, load: int, added: int) -> dict[str, Any]:
    bodies = [str(a.get("body") or "") for a in data.articles.values()]
    make_signature(bodies[0], params)  # warm the word caches
    t0, c0 = time.perf_counter(), time.process_time()
    for body in bodies:
        make_signature(body, params)
    sig_ms = (time.perf_counter() - t0) / len(bodies) * 1e3
    sig_cpu_ms = (time.process_time() - c0) / len(bodies) * 1e3
    sigs = synthetic_signatures(load + added, params)
    docs = [StoryDoc(key=f"d{i:07d}", published_at=None, signature=s) for i, s in enumerate(sigs)]
    extra = docs[load:]

    def timed_adds(index: StoryIndex) -> tuple[float, float, float]:
        """Wall-clock ms, CPU ms (the process's: a shared machine inflates the wall clock)
        and pairs verified, per added document."""
        before = index.verified
        t, c = time.perf_counter(), time.process_time()
        for d in extra:
            index.add([d])
        n = len(extra)
        return ((time.perf_counter() - t) / n * 1e3, (time.process_time() - c) / n * 1e3,
                (index.verified - before) / n)

    small = StoryIndex(params, rule)
    small.add(docs[:1000])
    base_ms, base_cpu_ms, _ = timed_adds(small)

    gc.collect()
    tracemalloc.start()
    index = StoryIndex(params, rule)
    t = time.perf_counter()
    for start in range(0, load, 1000):
        index.add(docs[start:start + 1000])
    load_s = time.perf_counter() - t
    mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    merged = load - len(index.stories())
    seen = index.candidates
    at_load_ms, at_load_cpu_ms, verified = timed_adds(index)
    candidates = (index.candidates - seen) / len(extra)

    # datasketch's own MinHashLSH with the same bands, for the memory comparison (when it is
    # installed: the project no longer depends on it, see pipelines/stories/signature.py).
    ds_mem, n_ds = datasketch_lsh_memory(sigs, params, min(10_000, load))
    return {
        "load": load, "added": added, "signature_ms": round(sig_ms, 3), "signature_cpu_ms": round(sig_cpu_ms, 3),
        "add_ms_at_1000": round(base_ms, 3), f"add_ms_at_{load}": round(at_load_ms, 3),
        "add_cpu_ms_at_1000": round(base_cpu_ms, 3), f"add_cpu_ms_at_{load}": round(at_load_cpu_ms, 3),
        "candidates_per_added_doc": round(candidates, 2), "verified_per_added_doc": round(verified, 2), "documents_merged_into_stories_at_load": merged,
        "index_build_s_with_tracemalloc": round(load_s, 1), "index_memory_mb": round(mem / 2**20, 1),
        "index_bytes_per_doc": round(mem / load), "band_keys_per_doc": len(band_keys(sigs[0], params)),
        "datasketch_lsh_bytes_per_doc": round(ds_mem / n_ds) if n_ds else None, "datasketch_lsh_docs": n_ds,
    }


def datasketch_lsh_memory(sigs: list[Signature], params: SignatureParams, n: int) -> tuple[int, int]:
    """tracemalloc bytes of datasketch's ``MinHashLSH`` holding the first ``n`` signatures with
    the same bands, and ``n``; (0, 0) when datasketch is not installed."""
    try:
        from datasketch import LeanMinHash, MinHashLSH
    except ImportError:
        return 0, 0
    gc.collect()
    tracemalloc.start()
    lsh = MinHashLSH(num_perm=params.num_perm, params=(params.bands, params.rows))
    for i, s in enumerate(sigs[:n]):
        lsh.insert(i, LeanMinHash(seed=params.seed, hashvalues=s.hashvalues, scheme="affine32"),
                   check_duplication=False)
    mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del lsh
    return mem, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, default=DEFAULT_SET, help="the labelled set (default: the blind fixture)")
    ap.add_argument("--load", type=int, default=100_000, help="documents already indexed for the cost figures")
    ap.add_argument("--added", type=int, default=500, help="documents added one at a time after the load")
    ap.add_argument("--no-cost", action="store_true", help="skip the cost and memory figures")
    ap.add_argument("--cost-only", action="store_true", help="only the cost and memory figures (defaults' rule)")
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    data = load_set(args.set)
    if args.cost_only:
        params, rule = SignatureParams(), StoryRule()
        out: dict[str, Any] = {}
        test = None
    else:
        base = SignatureParams()
        params, rule, grid = tune(data, base)
        defaults = (SignatureParams().shingle_words, StoryRule().min_containment, StoryRule().max_novel)
        chosen = (params.shingle_words, rule.min_containment, rule.max_novel)
        print(f"set: {args.set} — {len(data.articles)} articles, {len(data.stories)} stories")
        print(f"LSH: num_perm {params.num_perm}, {params.bands} bands x {params.rows} rows")
        print(f"chosen on tune: shingles of {params.shingle_words} words, containment >= {rule.min_containment}, "
              f"novel distinctive tokens <= {rule.max_novel}  (library defaults: {defaults}"
              f"{'' if defaults == chosen else ' — DIFFERENT'})")

        sigs = signatures(data.articles, params)
        fields = detect(data.articles, params, rule, sigs)
        report = {s: score(data, fields, s) for s in ("tune", "test")}
        for split, s in report.items():
            print(f"{split:5}: {line(s)}   (pairs: true {s.true_pairs}, predicted {s.predicted_pairs})")
        test = report["test"]
        print(f"test: source right for {test.source_right}/{test.stories} stories "
              f"({test.source_right_with_copies}/{test.stories_with_copies} of those with copies)")
        print(f"test: false merges of designed hard negatives {test.hard_merged}/{test.hard_pairs} = {test.hard_rate:.4f}; "
              f"of same-template pairs {test.similar_merged}/{test.similar_pairs} = {test.similar_rate:.4f}")
        print("test: recall per edit kind (copies in their source's story):")
        print("   " + ", ".join(f"{k} {test.found_by_edit[k]}/{n}" for k, n in sorted(test.copies_by_edit.items())))
        for a, b in test.missed_pairs[:10]:
            print(f"   missed pair {a} {b}")
        for a, b in test.false_merges[:10]:
            print(f"   false merge {a} {b}")

        print("\ncurve around the choice (containment threshold; novel <= chosen):")
        curve: dict[str, list[dict[str, Any]]] = {"containment": [], "novel": []}
        for c in CONTAINMENTS:
            f = detect(data.articles, params, StoryRule(min_containment=c, max_novel=rule.max_novel), sigs)
            row = {"min_containment": c, **{sp: score(data, f, sp) for sp in ("tune", "test")}}
            print(f"  C >= {c:.2f}  tune {line(row['tune'])}\n             test {line(row['test'])}")
            curve["containment"].append({"min_containment": c, "tune": row["tune"].as_dict(), "test": row["test"].as_dict()})
        print("curve around the choice (novel distinctive tokens; containment >= chosen):")
        for n in (*NOVEL, 5, 6, 8):
            f = detect(data.articles, params, StoryRule(min_containment=rule.min_containment, max_novel=n), sigs)
            tu, te = score(data, f, "tune"), score(data, f, "test")
            print(f"  novel <= {n}  tune {line(tu)}\n              test {line(te)}")
            curve["novel"].append({"max_novel": n, "tune": tu.as_dict(), "test": te.as_dict()})
        print("curve without the distinctive-token test (containment alone):")
        for c in (*CONTAINMENTS, 0.85, 0.9, 0.95):
            f = detect(data.articles, params, StoryRule(min_containment=c, max_novel=10**6), sigs)
            tu, te = score(data, f, "tune"), score(data, f, "test")
            print(f"  C >= {c:.2f}  tune {line(tu)}\n             test {line(te)}")

        out = {
            "params": {"shingle_words": params.shingle_words, "num_perm": params.num_perm, "bands": params.bands,
                       "rows": params.rows},
            "rule": {"min_containment": rule.min_containment, "max_novel": rule.max_novel,
                     "min_shingles": rule.min_shingles},
            "tune": report["tune"].as_dict(), "test": test.as_dict(), "curve": curve,
            "grid_tune_f1": {f"{k[0]}w C>={k[1]} novel<={k[2]}": round(f1(s), 4) for k, s in grid.items()},
        }
    if not args.no_cost:
        print(f"\ncost: {args.load} synthetic documents indexed, {args.added} added one at a time …")
        c = cost(data, params, rule, args.load, args.added)
        out["cost"] = c
        print(f"  signature: {c['signature_ms']} ms a document (CPU {c['signature_cpu_ms']} ms)")
        print(f"  add to the index: {c[f'add_ms_at_{args.load}']} ms a document with {args.load} indexed, "
              f"CPU {c[f'add_cpu_ms_at_{args.load}']} ms (baseline, 1,000 indexed: {c['add_ms_at_1000']} ms, "
              f"CPU {c['add_cpu_ms_at_1000']} ms); "
              f"{c['candidates_per_added_doc']} LSH candidates and {c['verified_per_added_doc']} past the "
              f"containment prefilter a document; "
              f"{c['documents_merged_into_stories_at_load']} documents of the load joined a story")
        print(f"  index memory at {args.load}: {c['index_memory_mb']} MB ({c['index_bytes_per_doc']} B a document, "
              f"{c['band_keys_per_doc']} band keys a document); datasketch MinHashLSH, same bands: "
              + (f"{c['datasketch_lsh_bytes_per_doc']} B a document (measured on {c['datasketch_lsh_docs']})"
                 if c["datasketch_lsh_docs"] else "not measured (datasketch is not installed)"))
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    if test is None:
        return 0
    missed = [k for k, v in (("precision", test.precision), ("recall", test.recall),
                             ("source_right", test.source_share)) if v < TARGETS[k]]
    if missed:
        print(f"\nFAILED targets on test: {', '.join(missed)}")
        return 1
    print("\nall targets met on the test half")
    return 0


if __name__ == "__main__":
    sys.exit(main())
