"""``portalnews web`` on a live OpenSearch node answers as it does on SQLite, and never creates
an index: the session's crawled store is moved into the engine (documents with their history,
and the run records) and every page and ``/api/search`` answer is compared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from crawler.web.app import create_app
from pipelines.storage import open_store
from pipelines.storage.engine import engine_store
from pipelines.storage.sqlite import SQLiteStore
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix
from tests.web_support import HOSTILE_URL, WebStore

pytestmark = pytest.mark.engine

QUERIES: list[dict[str, Any]] = [
    {"q": "hội nghị"}, {"q": "hoi nghi", "sort": "date"}, {"q": "UBND", "sort": "views"}, {"q": '"Ủy ban nhân dân"'},
    {"q": "hoà"}, {"q": "hoi -nghi"}, {"q": "UBND OR HĐND"}, {"q": "chuyen*"},
    {"q": "", "sort": "date", "per_page": 50, "page": 2}, {"q": "hoi", "province": "Quảng Ngãi", "sort": "date"},
    {"q": "", "level": "district", "since": "2022-01-01", "until": "2024-12-31", "sort": "views"},
    {"q": "", "portal": ["demo-tandan-1", "demo-liferay-1"], "min_views": 500, "sort": "date"},
    {"q": "giao thông", "category": "tai nguyen moi truong"},
]


def _indices(url: str) -> dict[str, Any]:
    store = engine_store(url)
    try:
        found: dict[str, Any] = dict(store._client().indices.get(index=f"{store.names.prefix}*",
                                                                allow_no_indices=True, ignore_unavailable=True))
        return found
    finally:
        store.close()


@pytest.fixture(scope="module")
def engine_url(opensearch_url: str, web_store: WebStore) -> Iterator[str]:
    url = opensearch_store_url(opensearch_url, unique_prefix())
    try:
        yield url
    finally:
        drop_engine_indices(url)


def _move(source_path: str, url: str) -> int:
    """Copy documents (with history) and run records from the SQLite store into the engine."""
    source, target = SQLiteStore(source_path), open_store(url)
    source.open()
    target.open()
    try:
        docs = list(source.iter_documents())
        histories = source.histories([d.id for d in docs])
        target.import_documents([(d, histories.get(d.id)) for d in docs])
        for run in source.runs(limit=10_000):
            target.save_run(run)
        getattr(target, "refresh")()  # noqa: B009 (an engine store's own method)
        target.reconcile_stories()  # as `portalnews import` does at its end
        return len(docs)
    finally:
        source.close()
        target.close()


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """An /api/search answer without the scores (each backend's BM25), a relevance order by exact
    tier then URL."""
    for hit in answer["hits"]:
        del hit["score"]
    if answer["sort"] == "relevance":
        answer["hits"].sort(key=lambda h: (not h["exact"], h["url"]))
    return answer


def test_the_app_never_creates_an_engine_index(opensearch_url: str) -> None:
    url = opensearch_store_url(opensearch_url, unique_prefix())
    try:
        assert _indices(url) == {}
        with TestClient(create_app(url)) as c:
            resp = c.get("/", params={"q": "hoi"})
            assert resp.status_code == 503 and "no portalnews store" in resp.text
            assert c.get("/api/search").status_code == 503
            assert c.get("/coverage").status_code == 503
        assert _indices(url) == {}, "nothing was created"
    finally:
        drop_engine_indices(url)


def test_pages_and_api_answer_alike_on_sqlite_and_opensearch(engine_url: str, web_store: WebStore) -> None:
    n = _move(str(web_store.path), engine_url)
    assert n > 100
    with TestClient(create_app(web_store.url)) as lite, TestClient(create_app(engine_url)) as engine:
        for params in QUERIES:
            wide = {"per_page": 100, **params}
            got, expected = (comparable(c.get("/api/search", params=wide).json()) for c in (engine, lite))
            assert got == expected, params
            assert expected["total"] > 0, params
        sorted_page = {"q": "hoi", "sort": "date", "page": 2, "per_page": 10}
        ids = [[li for li in c.get("/", params=sorted_page).text.split('data-id="')[1:]] for c in (engine, lite)]
        assert [s[:40] for s in ids[0]] == [s[:40] for s in ids[1]] and len(ids[0]) == 10
        doc_id = lite.get("/api/search", params={"q": "Hòa", "portal": "hostile-1"}).json()["hits"][0]["id"]
        assert engine.get(f"/article/{doc_id}").text.split("<main>")[1] == lite.get(f"/article/{doc_id}").text.split(
            "<main>")[1], "the same article page, history and earlier versions included"
        assert HOSTILE_URL in engine.get(f"/article/{doc_id}").text
        exports = [c.get("/export", params={"q": "UBND", "format": "jsonl"}).text.splitlines() for c in (engine, lite)]
        assert sorted(exports[0]) == sorted(exports[1]) and exports[0]
        coverage = [c.get("/coverage").text.split('<table class="coverage"')[1] for c in (engine, lite)]
        assert coverage[0] == coverage[1]
