"""A real Elasticsearch 8.19.0 core node (tests/engine/elasticsearch_node.py) through the
official ``elasticsearch`` client, with no shim.

The node is the server and the netty4 transport from Maven Central, nothing else. The first
part checks the calls the engine store makes (pipelines/storage/engine*.py): cluster health,
an index template and a versioned alias, bulk through the helpers (sync and async), realtime
mget, searches with the ``standard`` analyzer, phrase queries and highlight, the terms,
composite, date_histogram, top_hits, filter and sum aggregations, search_after over a point in
time, scroll, optimistic concurrency (``op_type=create``, ``if_seq_no``/``if_primary_term``),
count and refresh. The second part pins down what such a node lacks, each with the error it
answers (the same table is in tests/engine/ELASTICSEARCH.md): if one of these starts to work,
the table is out of date and the test says so.

``PORTALNEWS_TEST_ELASTICSEARCH_URL`` names a node to use (``.ci/run`` starts one); otherwise
one node is started for the module. The CLI test starts its own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, AsyncElasticsearch, ConflictError, Elasticsearch, helpers
from elasticsearch.helpers import async_streaming_bulk

from tests.engine.elasticsearch_node import ELASTICSEARCH_VERSION
from tests.engine.jvm_node import pid_alive

pytestmark = pytest.mark.engine

REPO_ROOT = Path(__file__).resolve().parents[2]
URL_ENV = "PORTALNEWS_TEST_ELASTICSEARCH_URL"

# Titles as written and folded (diacritics and đ removed) by the caller: a core node has no
# asciifolding, so a sibling field of folded text analysed with `standard` finds "hoi nghi".
ARTICLES: list[dict[str, Any]] = [
    {"title": "Hội nghị tổng kết công tác năm 2024", "folded": "Hoi nghi tong ket cong tac nam 2024",
     "portal_id": "hanoi", "published_at": "2024-12-30T08:00:00+07:00", "views": 120},
    {"title": "Thông báo lịch tiếp công dân", "folded": "Thong bao lich tiep cong dan",
     "portal_id": "hanoi", "published_at": "2025-01-02T09:30:00+07:00", "views": 45},
    {"title": "Ủy ban nhân dân tỉnh họp phiên thường kỳ", "folded": "Uy ban nhan dan tinh hop phien thuong ky",
     "portal_id": "hue", "published_at": "2025-01-02T14:00:00+07:00", "views": 300},
    {"title": "Đại hội đại biểu Mặt trận Tổ quốc", "folded": "Dai hoi dai bieu Mat tran To quoc",
     "portal_id": "hue", "published_at": "2025-01-05T07:15:00+07:00", "views": 0},
]

TEMPLATE_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "title": {"type": "text", "analyzer": "standard",
                  "fields": {"raw": {"type": "keyword", "ignore_above": 1024}}},
        "folded": {"type": "text", "analyzer": "standard"},
        "portal_id": {"type": "keyword"},
        "published_at": {"type": "date", "ignore_malformed": True, "fields": {"raw": {"type": "keyword"}}},
        "views": {"type": "integer", "ignore_malformed": True},
    },
}


@pytest.fixture(scope="module")
def es_url(core_elasticsearch_url: str) -> str:
    return core_elasticsearch_url


@pytest.fixture()
def es(es_url: str) -> Iterator[Elasticsearch]:
    client = Elasticsearch(es_url, request_timeout=30)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture()
def prefix(es: Elasticsearch) -> Iterator[str]:
    """A unique index prefix; its indices and template are deleted afterwards."""
    name = f"t{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        es.indices.delete(index=f"{name}-*", ignore_unavailable=True, allow_no_indices=True)
        if es.indices.exists_index_template(name=name):
            es.indices.delete_index_template(name=name)


@pytest.fixture()
def articles(es: Elasticsearch, prefix: str) -> str:
    """The ARTICLES indexed through a template, a versioned index and an alias; returns the alias."""
    es.indices.put_index_template(
        name=prefix, index_patterns=[f"{prefix}-articles-v*"], priority=100, version=1,
        template={"settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "5s"},
                  "mappings": TEMPLATE_MAPPINGS})
    alias, index = f"{prefix}-articles", f"{prefix}-articles-v1"
    es.indices.create(index=index)
    es.indices.update_aliases(actions=[{"add": {"index": index, "alias": alias, "is_write_index": True}}])
    ok, errors = helpers.bulk(es, ({"_index": alias, "_id": str(i), "_source": doc}
                                   for i, doc in enumerate(ARTICLES)), refresh=True)
    assert (ok, errors) == (len(ARTICLES), [])
    return alias


def _ids(resp: Any) -> list[str]:
    return [hit["_id"] for hit in resp["hits"]["hits"]]


# --------------------------------------------------------------------------- what works


def test_node_is_elasticsearch_8_19_on_loopback(es_url: str, es: Elasticsearch) -> None:
    assert es_url.startswith("http://127.0.0.1:")
    health = es.cluster.health(wait_for_status="yellow", timeout="30s")
    assert health["status"] in ("green", "yellow")
    assert health["number_of_nodes"] == 1
    # GET / is the rest-root module, absent here: the version comes from the nodes info API.
    nodes = es.nodes.info()["nodes"]
    assert [n["version"] for n in nodes.values()] == [ELASTICSEARCH_VERSION]
    assert all(n["host"] == "127.0.0.1" for n in nodes.values())
    plugins = {p["name"] for n in es.nodes.info(metric="plugins")["nodes"].values() for p in n["plugins"]}
    assert plugins == {"org.elasticsearch.transport.netty4.Netty4Plugin"}


def test_template_alias_and_bulk(es: Elasticsearch, prefix: str, articles: str) -> None:
    assert es.indices.exists_index_template(name=prefix)
    template = es.indices.get_index_template(name=prefix)["index_templates"][0]["index_template"]
    assert template["version"] == 1
    assert es.indices.exists_alias(name=articles)
    assert list(es.indices.get_alias(name=articles)) == [f"{prefix}-articles-v1"]
    mapping = es.indices.get_mapping(index=articles)[f"{prefix}-articles-v1"]["mappings"]
    assert mapping["properties"]["folded"] == {"type": "text", "analyzer": "standard"}
    assert es.count(index=articles)["count"] == len(ARTICLES)
    docs = es.mget(index=articles, ids=["0", "3", "missing"])["docs"]
    assert [d["found"] for d in docs] == [True, True, False]
    assert docs[1]["_source"]["title"] == ARTICLES[3]["title"]


def test_async_client_and_async_streaming_bulk(es_url: str, prefix: str) -> None:
    async def scenario() -> tuple[int, int]:
        client = AsyncElasticsearch(es_url, request_timeout=30)
        index = f"{prefix}-async"
        try:
            await client.indices.create(index=index, settings={"number_of_replicas": 0},
                                        mappings=TEMPLATE_MAPPINGS)
            actions = ({"_index": index, "_id": str(i), "_source": {"title": f"Thông báo số {i}"}}
                       for i in range(300))
            ok = 0
            async for success, _item in async_streaming_bulk(client, actions, chunk_size=100):
                ok += success
            await client.indices.refresh(index=index)
            return ok, (await client.count(index=index))["count"]
        finally:
            await client.close()

    assert asyncio.run(scenario()) == (300, 300)


def test_standard_analyzer_search_and_highlight(es: Elasticsearch, articles: str) -> None:
    def match(field: str, text: str) -> list[str]:
        return sorted(_ids(es.search(index=articles, query={"match": {field: {"query": text, "operator": "and"}}})))

    assert match("title", "Hội nghị") == ["0"]
    assert match("title", "ủy ban") == ["2"]
    # `standard` keeps diacritics: without them only the folded sibling field matches.
    assert match("title", "hoi nghi") == []
    assert match("folded", "hoi nghi") == ["0"]
    assert match("folded", "dai hoi") == ["3"]
    phrase = es.search(index=articles, query={"match_phrase": {"title": "tiếp công dân"}},
                       highlight={"fields": {"title": {}}})
    assert _ids(phrase) == ["1"]
    assert phrase["hits"]["hits"][0]["highlight"]["title"] == ["Thông báo lịch <em>tiếp công dân</em>"]
    exact = es.search(index=articles, query={"bool": {
        "must": [{"multi_match": {"query": "đại hội", "type": "phrase", "fields": ["title^8", "folded"]}}],
        "filter": [{"terms": {"portal_id": ["hue"]}}, {"range": {"views": {"gte": 0}}},
                   {"range": {"published_at.raw": {"gte": "2025-01-01", "lt": "2025-01-06"}}}]}})
    assert _ids(exact) == ["3"]


def test_aggregations(es: Elasticsearch, articles: str) -> None:
    resp = es.search(index=articles, size=0, aggs={
        "portals": {"terms": {"field": "portal_id"}, "aggs": {"views": {"sum": {"field": "views"}}}},
        "days": {"date_histogram": {"field": "published_at", "calendar_interval": "day",
                                    "time_zone": "+07:00", "min_doc_count": 1}},
        "recent": {"filter": {"range": {"published_at": {"gte": "2025-01-01"}}}},
    })
    aggs = resp["aggregations"]
    assert {b["key"]: (b["doc_count"], b["views"]["value"]) for b in aggs["portals"]["buckets"]} == {
        "hanoi": (2, 165.0), "hue": (2, 300.0)}
    assert [(b["key_as_string"][:10], b["doc_count"]) for b in aggs["days"]["buckets"]] == [
        ("2024-12-30", 1), ("2025-01-02", 2), ("2025-01-05", 1)]
    assert aggs["recent"]["doc_count"] == 3
    # The store's per-portal reads: composite pages with a top_hits per bucket.
    composite = es.search(index=articles, size=0, aggs={"portals": {
        "composite": {"size": 1, "sources": [{"portal_id": {"terms": {"field": "portal_id"}}}]},
        "aggs": {"newest": {"top_hits": {"size": 1, "_source": ["published_at"],
                                         "sort": [{"published_at.raw": {"order": "desc"}}]}}}}})
    page = composite["aggregations"]["portals"]
    assert [b["key"]["portal_id"] for b in page["buckets"]] == ["hanoi"]
    assert page["buckets"][0]["newest"]["hits"]["hits"][0]["_id"] == "1"
    nxt = es.search(index=articles, size=0, aggs={"portals": {"composite": {
        "size": 1, "after": page["after_key"], "sources": [{"portal_id": {"terms": {"field": "portal_id"}}}]}}})
    assert [b["key"]["portal_id"] for b in nxt["aggregations"]["portals"]["buckets"]] == ["hue"]


def test_search_after_point_in_time_and_scroll(es: Elasticsearch, articles: str) -> None:
    sort: list[dict[str, Any]] = [{"published_at.raw": {"order": "desc", "missing": "_last"}}, {"portal_id": "asc"}]
    pit = es.open_point_in_time(index=articles, keep_alive="1m")["id"]
    seen: list[str] = []
    after: list[Any] | None = None
    try:
        while True:
            resp = es.search(size=3, sort=sort, pit={"id": pit, "keep_alive": "1m"},
                             search_after=after)
            hits = resp["hits"]["hits"]
            if not hits:
                break
            seen.extend(h["_id"] for h in hits)
            after = hits[-1]["sort"]
            pit = resp["pit_id"]
    finally:
        es.close_point_in_time(id=pit)
    assert seen == ["3", "2", "1", "0"]
    scanned = sorted(h["_id"] for h in helpers.scan(es, index=articles, size=2, query={"query": {"match_all": {}}}))
    assert scanned == ["0", "1", "2", "3"]


def test_optimistic_concurrency_and_refresh(es: Elasticsearch, prefix: str) -> None:
    index = f"{prefix}-leases"
    es.indices.create(index=index, settings={"number_of_replicas": 0, "refresh_interval": "-1"},
                      mappings={"properties": {"worker": {"type": "keyword"}}})
    first = es.index(index=index, id="portal-a", document={"worker": "w1"}, op_type="create")
    with pytest.raises(ConflictError):
        es.index(index=index, id="portal-a", document={"worker": "w2"}, op_type="create")
    current = es.get(index=index, id="portal-a")  # realtime: no refresh needed
    assert current["_source"] == {"worker": "w1"}
    assert (current["_seq_no"], current["_primary_term"]) == (first["_seq_no"], first["_primary_term"])
    es.index(index=index, id="portal-a", document={"worker": "w2"},
             if_seq_no=current["_seq_no"], if_primary_term=current["_primary_term"])
    with pytest.raises(ConflictError):  # the loser of the race holds a stale _seq_no
        es.index(index=index, id="portal-a", document={"worker": "w3"},
                 if_seq_no=current["_seq_no"], if_primary_term=current["_primary_term"])
    with pytest.raises(ConflictError):
        es.delete(index=index, id="portal-a", if_seq_no=current["_seq_no"],
                  if_primary_term=current["_primary_term"])
    # refresh_interval -1: searches see the document only after an explicit refresh.
    assert es.search(index=index, query={"term": {"worker": "w2"}})["hits"]["total"]["value"] == 0
    es.indices.refresh(index=index)
    assert _ids(es.search(index=index, query={"term": {"worker": "w2"}})) == ["portal-a"]
    latest = es.get(index=index, id="portal-a")
    es.delete(index=index, id="portal-a", if_seq_no=latest["_seq_no"], if_primary_term=latest["_primary_term"],
              refresh=True)
    assert es.count(index=index)["count"] == 0


# --------------------------------------------------------------------------- what is missing


def _api_error(call: Callable[[], Any]) -> tuple[int, str]:
    """(HTTP status, error body as JSON text) of the error a call raises; fails if it succeeds."""
    with pytest.raises(ApiError) as info:
        call()
    err = info.value
    return err.meta.status, json.dumps(err.body, ensure_ascii=False) if err.body else str(err.message)


MISSING: dict[str, tuple[Callable[[Elasticsearch, str], Any], int, str]] = {
    # rest-root: the client's info() and ping(), and so the store's open() and aping()
    "GET / (rest-root)": (
        lambda es, p: es.info(), 405,
        "Incorrect HTTP method for uri [/] and method [GET], allowed: [DELETE]"),
    # analysis-common: the store's Vietnamese analyzer, normalizer and search analyzer
    "asciifolding filter (analysis-common)": (
        lambda es, p: es.indices.create(index=f"{p}-fold", settings={"analysis": {
            "filter": {"vi_fold": {"type": "asciifolding", "preserve_original": True}},
            "analyzer": {"vi": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "vi_fold"]}}}}),
        400, "Unknown filter type [asciifolding] for [vi_fold]"),
    "asciifolding in a normalizer (analysis-common)": (
        lambda es, p: es.indices.create(index=f"{p}-norm", settings={"analysis": {"normalizer": {
            "folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]}}}}),
        400, "Custom Analyzer [folded] failed to find filter under name [asciifolding]"),
    "built-in asciifolding by name (analysis-common)": (
        lambda es, p: es.indices.analyze(tokenizer="standard", filter=["asciifolding"], text="Hội nghị"),
        400, "failed to find global filter under [asciifolding]"),
    "language analyzers (analysis-common)": (
        lambda es, p: es.indices.analyze(analyzer="english", text="meetings"),
        400, "failed to find global analyzer [english]"),
    "icu_folding (analysis-icu plugin)": (
        lambda es, p: es.indices.analyze(tokenizer="standard", filter=["icu_folding"], text="Hội nghị"),
        400, "failed to find global filter under [icu_folding]"),
    "icu_tokenizer (analysis-icu plugin)": (
        lambda es, p: es.indices.analyze(tokenizer="icu_tokenizer", text="Hội nghị"),
        400, "failed to find global tokenizer under [icu_tokenizer]"),
    # mapper-extras
    "scaled_float (mapper-extras)": (
        lambda es, p: es.indices.create(index=f"{p}-sf", mappings={"properties": {
            "score": {"type": "scaled_float", "scaling_factor": 100}}}),
        400, "The mapper type [scaled_float] declared on field [score] does not exist"),
    "search_as_you_type (mapper-extras)": (
        lambda es, p: es.indices.create(index=f"{p}-sayt", mappings={"properties": {
            "title": {"type": "search_as_you_type"}}}),
        400, "The mapper type [search_as_you_type] declared on field [title] does not exist"),
    # reindex: the store's `portalnews reindex`, update/delete by query
    "_reindex (reindex)": (
        lambda es, p: es.reindex(source={"index": f"{p}-articles"}, dest={"index": f"{p}-copy"},
                                 wait_for_completion=False),
        405, "Incorrect HTTP method for uri [/_reindex?wait_for_completion=false] and method [POST], "
        "allowed: [GET, PUT, DELETE, HEAD]"),
    "_update_by_query (reindex)": (
        lambda es, p: es.update_by_query(index=f"{p}-articles", query={"match_all": {}}),
        400, "no handler found for uri"),
    "_delete_by_query (reindex)": (
        lambda es, p: es.delete_by_query(index=f"{p}-articles", query={"match_all": {}}),
        400, "no handler found for uri"),
    # lang-painless
    "painless update script (lang-painless)": (
        lambda es, p: es.update(index=f"{p}-articles", id="0", script={"source": "ctx._source.views += 1"}),
        400, "script_lang not supported [painless]"),
    "painless script_score (lang-painless)": (
        lambda es, p: es.search(index=f"{p}-articles", query={"script_score": {
            "query": {"match_all": {}}, "script": {"source": "doc['views'].value"}}}),
        400, "script_lang not supported [painless]"),
}


@pytest.mark.parametrize("feature", list(MISSING))
def test_feature_missing_on_a_core_node(es: Elasticsearch, prefix: str, articles: str, feature: str) -> None:
    call, status, reason = MISSING[feature]
    got_status, got_reason = _api_error(lambda: call(es, prefix))
    assert got_status == status, (feature, got_status, got_reason)
    assert reason in got_reason, (feature, got_reason)


def test_the_store_article_template_on_a_core_node(es: Elasticsearch, prefix: str) -> None:
    """The article template as the store builds it needs no analysis plugin: a core node takes
    it, and an index created from it analyses the sibling search fields with ``standard``
    (the whole store runs here too: the contract suite's ``elasticsearch`` backend)."""
    from pipelines.storage.engine_mappings import SEARCH_FIELDS, IndexNames, article_template

    names = IndexNames(prefix)
    es.indices.put_index_template(name=prefix, body=article_template(names, 1, 0))
    index = names.articles_version(1)
    es.indices.create(index=index)
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]
    assert {mapping["properties"][f].get("analyzer") for f in SEARCH_FIELDS} == {"standard"}
    assert mapping["_source"]["excludes"] == list(SEARCH_FIELDS)


# --------------------------------------------------------------------------- the helper itself


def test_cli_start_stop(tmp_path: Path) -> None:
    pidfile, urlfile = tmp_path / "es.pid", tmp_path / "es.url"
    cmd = [sys.executable, "-m", "tests.engine.elasticsearch_node"]
    started = subprocess.run([*cmd, "start", "--pidfile", str(pidfile), "--urlfile", str(urlfile), "--heap", "384m"],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    pid = int(pidfile.read_text().strip()) if pidfile.exists() else None
    home: Path | None = None
    try:
        assert started.returncode == 0, started.stderr
        assert pid is not None
        url = urlfile.read_text().strip()
        assert url.startswith("http://127.0.0.1:")
        client = Elasticsearch(url, request_timeout=30)
        client.indices.create(index="cli-check", settings={"number_of_replicas": 0})
        client.index(index="cli-check", id="1", document={"title": "Quyết định"}, refresh=True)
        assert client.get(index="cli-check", id="1")["_source"] == {"title": "Quyết định"}
        client.close()
        home = Path(json.loads((tmp_path / "es.pid.state.json").read_text())["home"])
        assert home.is_dir()
    finally:
        stopped = subprocess.run([*cmd, "stop", "--pidfile", str(pidfile)], cwd=REPO_ROOT,
                                 capture_output=True, text=True, timeout=120, check=False)
    assert stopped.returncode == 0, stopped.stderr
    assert pid is not None
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)
    assert not pidfile.exists()
    assert home is not None
    assert not home.exists()
