#!/usr/bin/env python3
"""Evaluate the extraction layer on the labelled corpus (offline, reads files directly).

usage: python scripts/eval_extraction.py [--corpus /work/shared/corpus] [--mode auto|generic|both]
                                         [--show N] [--family F] [--json]

For every page in truth.jsonl (articles) and nonarticles.txt the stored file is found
with the mirror's URL -> file mapping, decoded with ``decode_html`` (using the
Content-Type the mirror would send) and passed to ``extract_page``.  Per family it
prints classification accuracy, title exact, date match, views exact, false views and
body token F1 (mean and share >= 0.95), with the rules of the corpus' ``score.py``
(imported from the corpus directory, so the numbers are the scorer's own), plus the
median and mean time per page (decode + extract).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipelines.extract import PageExtraction, decode_html  # noqa: E402
from pipelines.extract.api import extract_page_with_sources  # noqa: E402
from pipelines.extract.profiles import ProfileSet, load_profiles  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_CORPUS = Path("/work/shared/corpus")


def load_scorer(corpus: Path) -> ModuleType:
    """Import the corpus' own score.py so the matching rules are exactly the scorer's."""
    spec = importlib.util.spec_from_file_location("corpus_score", corpus / "score.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {corpus / 'score.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def url_to_file(corpus: Path, url: str) -> Path | None:
    """The mirror's mapping: decoded path (+index.html) + "__" + quote(sorted query)."""
    parts = urlsplit(url)
    path = unquote(parts.path or "/")
    segs = path.split("/")[1:]
    trailing = segs[-1] == ""
    inner = segs[:-1] if trailing else segs
    rel = "/".join([*inner, "index.html"]) if trailing or "." not in inner[-1] else "/".join(inner)
    if parts.query:
        rel += "__" + quote(urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True))), safe="")
    file = corpus / "site" / (parts.hostname or "") / rel
    return file if file.is_file() else None


_ATTR_RE = re.compile(r"""\b(class|id)\s*=\s*(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def scramble_attributes(html: str) -> str:
    """Replace every class/id token by a meaningless one (same token -> same replacement),
    so that no class-name vocabulary helps: a stress test for the generic extractor."""

    def token(t: str) -> str:
        return "x" + hashlib.sha1(t.encode()).hexdigest()[:8]

    def repl(m: re.Match[str]) -> str:
        return f"{m.group(1)}={m.group(2)}{' '.join(token(t) for t in m.group(3).split())}{m.group(2)}"

    return _ATTR_RE.sub(repl, html)


def content_type_for(meta_hosts: dict[str, dict[str, Any]], host: str, data: bytes) -> str:
    if data[:300].lstrip().startswith(b"<?xml"):
        return "application/rss+xml"
    if data.startswith(b"%PDF"):
        return "application/pdf"
    charset = meta_hosts.get(host, {}).get("charset", "utf-8").lower()
    return "text/html" if charset != "utf-8" else "text/html; charset=utf-8"


@dataclass
class FamilyStats:
    pages: int = 0
    class_ok: int = 0
    articles: int = 0
    title_ok: int = 0
    date_ok: int = 0
    views_den: int = 0
    views_ok: int = 0
    null_den: int = 0
    false_views: int = 0
    author_ok: int = 0
    category_ok: int = 0
    f1s: list[float] = field(default_factory=list)
    profiles: dict[str, int] = field(default_factory=dict)
    from_profile: dict[str, int] = field(default_factory=dict)
    misclassified: list[str] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, other: FamilyStats) -> None:
        for name in (
            "pages",
            "class_ok",
            "articles",
            "title_ok",
            "date_ok",
            "views_den",
            "views_ok",
            "null_den",
            "false_views",
            "author_ok",
            "category_ok",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.f1s.extend(other.f1s)
        self.misclassified.extend(other.misclassified)
        self.failures.extend(other.failures)


def _rate(num: int, den: int) -> str:
    return "   -  " if den == 0 else f"{100 * num / den:5.1f}%"


def evaluate(
    corpus: Path, mode: str, profiles: ProfileSet, only_family: str | None, scramble: bool = False
) -> tuple[dict[str, FamilyStats], list[float]]:
    score = load_scorer(corpus)
    meta = json.loads((corpus / "meta.json").read_text(encoding="utf-8"))
    hosts = {h["host"]: h for h in meta["hosts"]}
    truth = [
        json.loads(line)
        for line in (corpus / "truth.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    non = [
        u.strip() for u in (corpus / "nonarticles.txt").read_text(encoding="utf-8").splitlines() if u.strip()
    ]
    pages: list[tuple[str, str, dict[str, Any] | None]] = [(t["url"], t["family"], t) for t in truth]
    pages += [(u, hosts.get(urlsplit(u).hostname or "", {}).get("family", "?"), None) for u in non]
    stats: dict[str, FamilyStats] = {}
    times: list[float] = []
    for url, family, t in pages:
        if only_family and family != only_family:
            continue
        st = stats.setdefault(family, FamilyStats())
        file = url_to_file(corpus, url)
        if file is None:
            print(f"missing file for {url}", file=sys.stderr)
            continue
        data = file.read_bytes()
        host = urlsplit(url).hostname or ""
        started = time.perf_counter()
        html = decode_html(data, content_type_for(hosts, host, data))
        if scramble:
            html = scramble_attributes(html)
        result: PageExtraction
        result, sources = extract_page_with_sources(html, url, profile=mode, profiles=profiles)
        times.append(time.perf_counter() - started)
        st.profiles[result.profile] = st.profiles.get(result.profile, 0) + 1
        for name, source in sources.items():
            if source == "profile":
                st.from_profile[name] = st.from_profile.get(name, 0) + 1
        st.pages += 1
        is_article = t is not None
        if result.is_article == is_article:
            st.class_ok += 1
        else:
            st.misclassified.append(f"{url} -> {result.page_kind} ({result.reason})")
        if t is None:
            continue
        st.articles += 1
        if score.norm_text(result.title) == score.norm_text(t["title"]):
            st.title_ok += 1
        else:
            st.failures.append((url, "title", f"{result.title!r} != {t['title']!r}"))
        exact, _day = score.date_scores(result.published_at, t["published_at"])
        st.date_ok += exact
        if not exact:
            st.failures.append((url, "date", f"{result.published_at!r} != {t['published_at']!r}"))
        if t["view_count"] is not None:
            st.views_den += 1
            if score.as_int(result.view_count) == t["view_count"]:
                st.views_ok += 1
            else:
                st.failures.append((url, "views", f"{result.view_count!r} != {t['view_count']!r}"))
        else:
            st.null_den += 1
            if score.is_number(result.view_count):
                st.false_views += 1
                st.failures.append((url, "false-view", f"{result.view_count!r}"))
        if score.norm_text(result.author) == score.norm_text(t.get("author")):
            st.author_ok += 1
        else:
            st.failures.append((url, "author", f"{result.author!r} != {t.get('author')!r}"))
        if score.norm_text(result.category) == score.norm_text(t.get("category")):
            st.category_ok += 1
        else:
            st.failures.append((url, "category", f"{result.category!r} != {t.get('category')!r}"))
        f1 = score.f1(score.tokens(result.body), score.tokens(t["body"]))
        st.f1s.append(f1)
        if f1 < 0.95:
            st.failures.append((url, "body", f"F1={f1:.3f}"))
    return stats, times


def table(mode: str, stats: dict[str, FamilyStats], times: list[float]) -> str:
    cols = [
        "mode",
        "family",
        "pages",
        "class",
        "title",
        "date",
        "views",
        "fview",
        "bodyF1",
        "F1>=.95",
        "author",
        "categ",
    ]
    rows = []
    total = FamilyStats()
    for fam in sorted(stats):
        total.add(stats[fam])
    for fam, st in [*sorted(stats.items()), ("ALL", total)]:
        rows.append(
            [
                mode,
                fam,
                str(st.pages),
                _rate(st.class_ok, st.pages),
                _rate(st.title_ok, st.articles),
                _rate(st.date_ok, st.articles),
                _rate(st.views_ok, st.views_den),
                _rate(st.false_views, st.null_den),
                f"{statistics.fmean(st.f1s):.3f}" if st.f1s else "  -  ",
                _rate(sum(1 for f in st.f1s if f >= 0.95), len(st.f1s)),
                _rate(st.author_ok, st.articles),
                _rate(st.category_ok, st.articles),
            ]
        )
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(cols))]
    for r in rows:
        lines.append("  ".join(x.ljust(widths[i]) if i < 2 else x.rjust(widths[i]) for i, x in enumerate(r)))
    for fam, st in sorted(stats.items()):
        used = ", ".join(f"{k}={v}" for k, v in sorted(st.profiles.items()))
        fields = ", ".join(f"{k}={v}" for k, v in sorted(st.from_profile.items()))
        lines.append(
            f"  {fam}: profiles used: {used}" + (f"; fields from profile: {fields}" if fields else "")
        )
    if times:
        lines.append(f"{mode}: decode + extract per page: median {1000 * statistics.median(times):.2f} ms, "
                     f"mean {1000 * statistics.fmean(times):.2f} ms over {len(times)} pages")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--mode", choices=["auto", "generic", "both"], default="both")
    ap.add_argument("--family", help="only this family")
    ap.add_argument("--show", type=int, default=0, help="print up to N failures per family")
    ap.add_argument("--repeat", type=int, default=1, help="time each page N times and keep its fastest run")
    ap.add_argument(
        "--scramble",
        action="store_true",
        help="also run generic mode with every class/id name scrambled (stress test)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    profiles = load_profiles()
    modes = ["auto", "generic"] if args.mode == "both" else [args.mode]
    runs = [(m, False) for m in modes] + ([("generic", True)] if args.scramble else [])
    for mode, scramble in runs:
        stats, times = evaluate(args.corpus, mode, profiles, args.family, scramble)
        if args.repeat > 1:  # best of N per page: less noise from other processes on the machine
            for _ in range(args.repeat - 1):
                again = evaluate(args.corpus, mode, profiles, args.family, scramble)[1]
                times = [min(a, b) for a, b in zip(times, again, strict=True)]
        print(table(mode + ("+scrambled" if scramble else ""), stats, times))
        if args.show:
            for fam, st in sorted(stats.items()):
                for line in st.misclassified[: args.show]:
                    print(f"  [{mode}/{fam}] misclassified: {line}")
                for url, what, detail in st.failures[: args.show]:
                    print(f"  [{mode}/{fam}] {what}: {url} {detail}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
