"""Recrawl policy and view-count history, on a copy of the labelled corpus.

The corpus is crawled, then served again with every article's own view count raised by
100 and one article's text edited.  A recrawl (with the clock moved four days on, and
``PORTALNEWS_RECRAWL_DAYS`` covering articles published since 2026-01-01) fetches the
recent articles again, and only those: each gets a second ``(time, views)`` point with
the new count last, old articles keep one point, and the edited article becomes
version 2 with version 1 archived.  ``export --with-history`` shows it all; SQLite and
OpenSearch give the same answers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import free_port, require_corpus
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix
from tests.scheduling import FAST, run_cli

CUTOFF = datetime(2026, 1, 1, tzinfo=UTC)  # no corpus article near it (2025-11-29 … 2026-01-08)
EDIT = "Bổ sung: bài viết được chỉnh sửa sau khi đăng."
# The article's own view count in each family's article page (sidebars show other articles').
OWN_VIEWS = [  # by markup, not by label: windows-1258 pages spell the labels with combining marks
    re.compile(r'(<span class="tandan-span-view">[^<]*?)([\d.]+)(?=<)'),
    re.compile(r'(</h1>\s*<div class="info">[^<]*View count: )([\d.]+)'),
    re.compile(r'(<span class="hitstotal">[^<]*?)([\d.]+)(?=<)'),
    re.compile(r'(<div class="luot-xem">[^<]*?)([\d.]+)(?=<)'),
]


def fmt(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def relpath(root: Path, url: str) -> Path:
    sys.path.insert(0, str(root))
    try:
        from serve import relpath as serve_relpath  # the corpus's own URL -> file rule
    finally:
        sys.path.pop(0)
    parts = urlsplit(url)
    return root / "site" / (parts.hostname or "") / serve_relpath(parts.path, parts.query)


def charsets(root: Path) -> dict[str, str]:
    meta = json.loads((root / "meta.json").read_text("utf-8"))
    return {h["host"]: h["charset"] for h in meta["hosts"]}


def bump_views(root: Path, truth: list[dict[str, Any]], by: int) -> int:
    """Raise every article's own view count by ``by`` in the served files; returns how many."""
    encodings = charsets(root)
    changed = 0
    for row in truth:
        if row["view_count"] is None:
            continue
        path = relpath(root, row["url"])
        enc = encodings[urlsplit(row["url"]).hostname or ""]
        text = path.read_bytes().decode(enc)
        for pattern in OWN_VIEWS:
            m = pattern.search(text)
            if m and int(m.group(2).replace(".", "")) == row["view_count"]:
                text = text[:m.start(2)] + fmt(row["view_count"] + by) + text[m.end(2):]
                path.write_bytes(text.encode(enc))
                changed += 1
                break
        else:
            raise AssertionError(f"own view count of {row['url']} not found")
    return changed


def edit_body(root: Path, row: dict[str, Any]) -> None:
    path = relpath(root, row["url"])
    text = path.read_text("utf-8")
    first_words = row["body"].split("\n")[0][:25]
    assert text.count(first_words) == 1, "the body's first words are not unique in the page"
    path.write_text(text.replace(first_words, EDIT + " " + first_words), "utf-8")


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, str(root / "serve.py"), str(root), "--port",
                                         str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host = json.loads((root / "meta.json").read_text("utf-8"))["hosts"][0]["host"]
        deadline = time.time() + 20
        while True:
            try:
                self.stats(reset=True, host=host)
                break
            except OSError:
                if time.time() > deadline:
                    self.process.kill()
                    raise
                time.sleep(0.1)
        self.host = host

    def stats(self, reset: bool = False, host: str | None = None) -> dict[str, Any]:
        url = f"http://{host or self.host}:{self.port}/__stats__" + ("?reset=1" if reset else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            data: dict[str, Any] = json.loads(resp.read().decode("utf-8"))
        return data

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture()
def corpus_copy(tmp_path: Path) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    src = require_corpus()
    root = tmp_path / "corpus"
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("stats.json"))
    truth = [json.loads(line) for line in (root / "truth.jsonl").read_text("utf-8").splitlines()]
    yield root, truth


def export_with_history(store: str) -> dict[str, dict[str, Any]]:
    out = run_cli("export", "--with-history", "--store", store)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    by_url = {re.sub(r":\d+/", "/", r["url"], count=1): r for r in rows}
    assert len(by_url) == len(rows) == 240
    return by_url


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("opensearch", marks=pytest.mark.engine)])
def test_recrawl_grows_the_view_history_of_recent_articles(
        backend: str, corpus_copy: tuple[Path, list[dict[str, Any]]], tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    root, truth = corpus_copy
    if backend == "sqlite":
        store = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        store = opensearch_store_url(request.getfixturevalue("opensearch_url"), unique_prefix())
    later = datetime.now(UTC) + timedelta(days=4)
    days = (later - CUTOFF).total_seconds() / 86400
    recrawl = ["-s", f"PORTALNEWS_RECRAWL_DAYS={days:.4f}", "-s", f"PORTALNEWS_SPOOL_DIR={tmp_path / 'spool'}"]
    recent = {r["url"] for r in truth if r["published_at"][:10] >= CUTOFF.date().isoformat()}
    edited = next(r for r in truth if r["url"] in recent and r["family"] == "liferay" and r["view_count"])
    server = Server(root)
    try:
        common = ["--portals", str(root / "portals.yaml"), "--var", f"PORT={server.port}", "--store", store]
        first = run_cli("crawl", *common, *FAST, *recrawl)
        assert first.returncode == 0, first.stderr[-3000:]
        before = export_with_history(store)
        assert bump_views(root, truth, 100) == sum(1 for r in truth if r["view_count"] is not None)
        edit_body(root, edited)
        server.stats(reset=True)
        second = run_cli("crawl", *common, *FAST, *recrawl, "-s", f"PORTALNEWS_NOW={later.isoformat()}")
        assert second.returncode == 0, second.stderr[-3000:]
        served = server.stats(reset=True)
        after = export_with_history(store)
    finally:
        server.stop()
        if backend != "sqlite":
            drop_engine_indices(store)
    fetched = {f"http://{host}{path}" for host, info in served["hosts"].items() for path in info["paths"]}
    articles = {r["url"] for r in truth}
    assert fetched & articles == recent  # exactly the recent articles were fetched again
    grown = 0
    for row in truth:
        doc, old = after[row["url"]], before[row["url"]]
        assert len(old["view_history"]) == (0 if row["view_count"] is None else 1)
        if row["view_count"] is None:
            assert doc["view_history"] == []
        elif row["url"] in recent:
            points = [p["views"] for p in doc["view_history"]]
            assert len(points) >= 2 and points[0] == row["view_count"] and points[-1] == row["view_count"] + 100
            assert doc["view_count"] == row["view_count"] + 100
            assert doc["view_history"][0]["t"] < doc["view_history"][-1]["t"]
            grown += 1
        else:
            assert doc["view_history"] == old["view_history"] and doc["view_count"] == row["view_count"]
        if row["url"] == edited["url"]:
            assert doc["version"] == 2 and doc["body"].startswith(EDIT)
            assert [v["version"] for v in doc["previous_versions"]] == [1]
            assert doc["previous_versions"][0]["body"] == old["body"]
            assert doc["previous_versions"][0]["title"] == old["title"]
        else:
            assert doc["version"] == 1 and doc["previous_versions"] == []
    print(f"{backend}: {len(recent)} recent articles refetched, {grown} view histories grew to >= 2 points")
    assert grown == sum(1 for r in truth if r["url"] in recent and r["view_count"] is not None) == 19
