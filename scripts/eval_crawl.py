#!/usr/bin/env python3
"""Crawl the labelled corpus end to end, twice, and print its scorer's figures.

usage: python scripts/eval_crawl.py [--corpus ../shared/corpus] [--json]

Serves the corpus with its own ``serve.py`` on a free loopback port, runs ``portalnews
crawl`` into a fresh SQLite store, exports, scores the export with the corpus' own
``score.py`` (with the server's request counts, so robots violations show), then crawls a
second time and reports that crawl's requests as a share of the first's and the documents
it added.  The blind portal sets are crawled by ``tests/test_crawl_blind_portals.py`` and
``tests/test_crawl_blind_sites.py`` (``pytest -s`` prints their figures).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=1800)


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read().decode("utf-8"))
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", type=Path,
                    default=Path(os.environ.get("PORTALNEWS_CORPUS") or ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    corpus = args.corpus.resolve()
    host = json.loads((corpus / "meta.json").read_text("utf-8"))["hosts"][0]["host"]
    port = _free_port()
    stats_url = f"http://{host}:{port}/__stats__?reset=1"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = subprocess.Popen([sys.executable, str(corpus / "serve.py"), str(corpus), "--port", str(port),
                                   "--stats-file", str(tmp / "server.json")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    _stats(stats_url)
                    break
                except OSError:
                    time.sleep(0.1)
            store = f"sqlite:///{tmp / 'corpus.db'}"
            crawl = ["crawl", "--portals", str(corpus / "portals.yaml"), "--var", f"PORT={port}", "--store", store,
                     "--allow-private-hosts",  # the corpus is served on loopback
                     *FAST]
            first = _cli(*crawl)
            requests1 = _stats(stats_url)
            (tmp / "requests1.json").write_text(json.dumps(requests1), "utf-8")
            _cli("export", "--store", store, "-o", str(tmp / "export1.jsonl"))
            second = _cli(*crawl)
            requests2 = _stats(stats_url)
            _cli("export", "--store", store, "-o", str(tmp / "export2.jsonl"))
        finally:
            server.terminate()
            server.wait(10)
        score = subprocess.run([sys.executable, str(corpus / "score.py"), str(corpus), str(tmp / "export1.jsonl"),
                                "--json", "--stats", str(tmp / "requests1.json")], capture_output=True, text=True)
        docs1 = len((tmp / "export1.jsonl").read_text("utf-8").splitlines())
        docs2 = len((tmp / "export2.jsonl").read_text("utf-8").splitlines())
    result = {"first_exit": first.returncode, "second_exit": second.returncode,
              "score": json.loads(score.stdout) if score.returncode == 0 else score.stderr,
              "first_requests": requests1["total_requests"], "second_requests": requests2["total_requests"],
              "second_share": round(requests2["total_requests"] / max(1, requests1["total_requests"]), 3),
              "documents_first": docs1, "new_documents_second": docs2 - docs1}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        overall = result["score"].get("overall", result["score"]) if isinstance(result["score"], dict) else {}
        print(json.dumps(overall, ensure_ascii=False, indent=1))
        print(f"requests: first {result['first_requests']}, second {result['second_requests']} "
              f"({result['second_share']:.1%}); documents {docs1}, new in the second crawl {docs2 - docs1}")
    for name, proc in (("first", first), ("second", second)):
        if proc.returncode != 0:
            print(f"the {name} crawl exited {proc.returncode}: {proc.stderr[-2000:]}", file=sys.stderr)
    return 0 if first.returncode == 0 and second.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
