#!/usr/bin/env python3
"""Watchlist check benchmark: what the step at the end of a crawl costs.

Stores ``--articles`` synthetic Vietnamese articles in a new SQLite store (timed: the
baseline, what the crawl's own storage of those articles costs), with ``--watchlists``
watchlists saved before, then times :func:`pipelines.monitoring.watch.check_watchlists`
(reading the new articles, matching each against every watchlist, recording the notices,
one webhook POST per watchlist to a receiver on loopback) and a second check with nothing new.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipelines.monitoring.notify import NotifyConfig
from pipelines.monitoring.watch import check_watchlists
from pipelines.storage import Document
from pipelines.storage.base import now_iso
from pipelines.storage.sqlite import SQLiteStore
from pipelines.storage.watchlists import Watchlist

WORDS = ["hội", "nghị", "tổng", "kết", "công", "tác", "năm", "ủy", "ban", "nhân", "dân", "xã", "huyện", "tỉnh", "nông", "thôn", "mới", "chuyển", "đổi", "số", "an", "toàn", "giao", "thông", "thực", "phẩm", "bảo", "hiểm", "xã", "hội", "y", "tế", "giáo", "dục", "đào", "tạo", "văn", "hóa", "thể", "thao", "du", "lịch", "hòa", "thủy", "lợi", "sản", "xuất", "nông", "nghiệp", "phát", "triển", "kinh", "tế", "quốc", "phòng", "an", "ninh", "cải", "cách", "hành", "chính", "người", "dân", "doanh", "nghiệp"]
QUERIES = ["NTM", "UBND", '"chuyển đổi số"', "hoà", "thuy loi", "ATGT OR ATTP", "hoi nghi -the", "bảo hiểm",
           "du lịch", "cải cách hành chính", "quốc phòng", "giáo dục", "doanh nghiệp", "văn hóa", "y tế"]


ONSETS = ["b", "c", "ch", "d", "đ", "g", "gi", "h", "k", "kh", "l", "m", "n", "ng", "nh", "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x"]
RHYMES = ["a", "á", "à", "ả", "ã", "ạ", "ai", "ao", "am", "an", "ang", "anh", "ăn", "âm", "ân", "âng", "e", "ê", "em", "en", "eo", "i", "im", "in", "inh", "o", "ô", "ơ", "oi", "om", "on", "ong", "u", "ư", "um", "un", "ung", "uy"]


def filler(rng: random.Random, n: int = 800) -> list[str]:
    """Syllables that are not the query words: most of an article, so that a watchlist word is rare."""
    common = set(WORDS)
    out: set[str] = set()
    for onset in ONSETS:
        out.update(onset + rhyme for rhyme in RHYMES)
    return rng.sample(sorted(out - common), min(n, len(out - common)))


def article(rng: random.Random, i: int, vocabulary: list[str]) -> Document:
    def text(n: int) -> str:  # one word in 40 is a watchlist word
        return " ".join(rng.choice(WORDS) if rng.random() < 0.025 else rng.choice(vocabulary) for _ in range(n))

    return Document(url=f"http://127.0.0.1/bench/{i}.html", portal_id=f"p{i % 50}", title=text(10).capitalize(),
                    body=". ".join(text(25) for _ in range(8)), province="Lào Cai", view_count=rng.randint(0, 5000),
                    published_at="2026-11-20T08:00:00+07:00", crawled_at=now_iso())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--watchlists", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(7)
    posts: list[int] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, format: str, *a: Any) -> None:
            pass

        def do_POST(self) -> None:
            posts.append(len(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        store.open()
        for k in range(args.watchlists):
            store.add_watchlist(Watchlist(f"w{k}", QUERIES[k % len(QUERIES)], created_at="2026-01-01T00:00:00+00:00"))
        vocabulary = filler(rng)
        docs = [article(rng, i, vocabulary) for i in range(args.articles)]
        t0 = time.perf_counter()
        for i in range(0, len(docs), 500):
            store.upsert_documents(docs[i:i + 500])
        stored = time.perf_counter() - t0
        config = NotifyConfig(webhook_url=f"http://127.0.0.1:{server.server_address[1]}/hook")
        t0 = time.perf_counter()
        report = check_watchlists(store, config)
        checked = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = check_watchlists(store, config)
        idle = time.perf_counter() - t0
        store.close()
    server.shutdown()
    print(json.dumps({
        "articles": args.articles, "watchlists": args.watchlists,
        "store_seconds (baseline)": round(stored, 3), "check_seconds": round(checked, 3),
        "check_ms_per_article": round(1000 * checked / max(1, args.articles), 3),
        "check_vs_store": round(checked / stored, 3) if stored else None,
        "second_check_seconds (nothing new)": round(idle, 4),
        "notices_sent": report.notices_sent, "articles_notified": report.articles_notified,
        "webhook_posts": len(posts), "largest_post_bytes": max(posts, default=0),
        "second_check_notices": again.notices_sent,
    }, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
