"""End to end on the labelled corpus: serve it on loopback, crawl, export, score.

These are the acceptance checks of the core issue, asserted as a user would see them:
recall/precision, field accuracy, robots.txt obeyed, and an incremental second crawl.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ServedCorpus

FAST = ["-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8"]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@dataclass
class CrawlResult:
    store: str
    first: dict[str, Any]
    second: dict[str, Any]
    first_requests: int
    second_requests: int
    docs_after_first: int
    docs_after_second: int
    score: dict[str, Any]
    first_stdout: str


@pytest.fixture(scope="module")
def corpus_crawl(served_corpus: ServedCorpus, tmp_path_factory: pytest.TempPathFactory) -> CrawlResult:
    tmp = tmp_path_factory.mktemp("crawl")
    store = f"sqlite:///{tmp / 'corpus.db'}"
    served_corpus.stats(reset=True)
    first = run_cli("crawl", "--portals", str(served_corpus.registry), "--var", f"PORT={served_corpus.port}",
                    "--store", store, "--stats-file", str(tmp / "s1.json"), *FAST)
    assert first.returncode == 0, first.stderr[-3000:]
    stats1 = served_corpus.stats(reset=True)
    (tmp / "server-stats.json").write_text(json.dumps(stats1), "utf-8")
    export = tmp / "export.jsonl"
    out = run_cli("export", "--store", store, "-o", str(export))
    assert out.returncode == 0, out.stderr
    docs1 = sum(1 for _ in export.open(encoding="utf-8"))
    score = subprocess.run([sys.executable, str(served_corpus.root / "score.py"), str(served_corpus.root),
                            str(export), "--json", "--stats", str(tmp / "server-stats.json")],
                           capture_output=True, text=True, timeout=120)
    assert score.returncode == 0, score.stderr
    second = run_cli("crawl", "--portals", str(served_corpus.registry), "--var", f"PORT={served_corpus.port}",
                     "--store", store, "--stats-file", str(tmp / "s2.json"), *FAST)
    assert second.returncode == 0, second.stderr[-3000:]
    stats2 = served_corpus.stats(reset=True)
    out2 = run_cli("export", "--store", store, "-o", str(tmp / "export2.jsonl"))
    assert out2.returncode == 0
    docs2 = sum(1 for _ in (tmp / "export2.jsonl").open(encoding="utf-8"))
    return CrawlResult(store=store, first=json.loads((tmp / "s1.json").read_text("utf-8")),
                       second=json.loads((tmp / "s2.json").read_text("utf-8")),
                       first_requests=_served_total(stats1), second_requests=_served_total(stats2),
                       docs_after_first=docs1, docs_after_second=docs2,
                       score=json.loads(score.stdout), first_stdout=first.stdout)


def _served_total(stats: dict[str, Any]) -> int:
    return int(stats["total_requests"])


def overall(score: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = score.get("overall", score)
    return data


def test_discovery_finds_every_article_and_nothing_else(corpus_crawl: CrawlResult) -> None:
    o = overall(corpus_crawl.score)
    assert o["recall"] >= 0.99
    assert o["precision"] >= 0.99
    assert o["duplicates"] == 0


def test_fields_are_extracted_correctly(corpus_crawl: CrawlResult) -> None:
    o = overall(corpus_crawl.score)
    assert o["title_exact"] >= 0.99
    assert o["date_exact"] >= 0.99
    assert o["views_exact"] >= 0.99
    assert o["false_view_rate"] == 0
    assert o["body_f1_ge_95"] >= 0.97


def test_robots_txt_is_obeyed_and_no_admin_page_fetched(corpus_crawl: CrawlResult) -> None:
    assert corpus_crawl.score["server"]["robots_violations"] == []
    assert corpus_crawl.first_requests > 0


def test_second_crawl_is_incremental_and_adds_nothing(corpus_crawl: CrawlResult) -> None:
    assert corpus_crawl.second_requests <= 0.25 * corpus_crawl.first_requests
    assert corpus_crawl.docs_after_second == corpus_crawl.docs_after_first


def test_crawl_prints_a_per_portal_summary(corpus_crawl: CrawlResult) -> None:
    assert "tandan-1" in corpus_crawl.first_stdout and "outcome" in corpus_crawl.first_stdout
