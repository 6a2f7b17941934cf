"""Search-engine backend pieces that need no engine: store URLs, credentials, the spool,
index names and the query DSL."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from crawler.cli import main as cli_main
from pipelines.storage import Document, PageRecord, RunRecord, SearchQuery, StoreError, open_store
from pipelines.storage.base import redact_url
from pipelines.storage.engine import EngineStore, engine_store
from pipelines.storage.engine_client import EngineConfig
from pipelines.storage.engine_mappings import IndexNames, article_template
from pipelines.storage.engine_query import EXACT_BOOST, filters, hit_score, search_body
from pipelines.storage.factory import SCHEMES
from pipelines.storage.searching import prepare
from pipelines.storage.spool import Spool, spool_dir_name


def cfg(url: str, **env: str) -> EngineConfig:
    return EngineConfig.from_url(url, environ=env)


# --- store URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "flavour", "base"), [
    ("http://es.example:9200", "elasticsearch", "http://es.example:9200"),
    ("https://es.example", "elasticsearch", "https://es.example:9200"),
    ("elasticsearch://10.0.0.5:9201", "elasticsearch", "http://10.0.0.5:9201"),
    ("elasticsearch+https://es.example:443/es/", "elasticsearch", "https://es.example:443/es"),
    ("opensearch://127.0.0.1:9200", "opensearch", "http://127.0.0.1:9200"),
    ("opensearch+https://search.gov.vn", "opensearch", "https://search.gov.vn:9200"),
    ("opensearch://[::1]:9200", "opensearch", "http://[::1]:9200"),
])
def test_backend_chosen_by_url(url: str, flavour: str, base: str) -> None:
    c = cfg(url)
    assert (c.flavour, c.base_url, c.prefix, c.replicas, c.verify_certs) == (flavour, base, "portalnews", 0, True)
    store = open_store(url)
    assert isinstance(store, EngineStore) and store.config.flavour == flavour


ES, OS = "elasticsearch", "opensearch"
#: Every spelling of an engine store URL the README promises: scheme -> (client, transport).
ENGINE_SCHEMES = {
    "http": (ES, "http"), "https": (ES, "https"),
    "elasticsearch": (ES, "http"), "elasticsearch+http": (ES, "http"), "elasticsearch+https": (ES, "https"),
    "es": (ES, "http"), "es+http": (ES, "http"), "es+https": (ES, "https"),
    "opensearch": (OS, "http"), "opensearch+http": (OS, "http"), "opensearch+https": (OS, "https"),
}


def test_one_table_of_schemes_knows_every_spelling() -> None:
    assert {name for name, s in SCHEMES.items() if s.backend != "sqlite"} == set(ENGINE_SCHEMES)
    assert SCHEMES["sqlite"].backend == "sqlite"
    for scheme, (flavour, transport) in ENGINE_SCHEMES.items():
        store = open_store(f"{scheme}://search.example:9201/")
        assert isinstance(store, EngineStore), scheme
        assert (store.config.flavour, store.config.base_url) == (flavour, f"{transport}://search.example:9201")


@pytest.mark.parametrize("scheme", sorted(ENGINE_SCHEMES))
def test_every_scheme_reaches_for_its_engine(scheme: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``search x --store opensearch+http://127.0.0.1:1/`` fails in one line naming the host (nothing
    listens on port 1), never with "unknown store URL"."""
    transport = ENGINE_SCHEMES[scheme][1]
    code = cli_main(["search", "x", "--store", f"{scheme}://127.0.0.1:1/"])
    out = capsys.readouterr()
    assert (code, out.out) == (2, "")
    assert out.err == f"portalnews search: error: cannot reach the search engine at {transport}://127.0.0.1:1: " \
                      "connection refused\n"


def test_url_options_and_environment() -> None:
    c = cfg("opensearch://h:9200?prefix=test-a&replicas=1&shards=2")
    assert (c.prefix, c.replicas, c.shards) == ("test-a", 1, 2)
    c = cfg("opensearch://h", PORTALNEWS_INDEX_PREFIX="shared", PORTALNEWS_INDEX_REPLICAS="2")
    assert (c.prefix, c.replicas) == ("shared", 2)
    assert c.names.articles == "shared-articles" and c.names.articles_version(3) == "shared-articles-v3"
    for bad, message in (("opensearch://h?colour=red", "unknown option"), ("opensearch://h?prefix=Bad Name", "prefix"),
                         ("opensearch://h?replicas=-1", "replicas"), ("opensearch://:9200", "names no host"),
                         ("opensearch://h:notaport", "port")):
        with pytest.raises(StoreError, match=message):
            cfg(bad)


def test_credentials_come_from_the_environment_or_the_url_and_never_show() -> None:
    c = cfg("https://es.example", PORTALNEWS_ES_USERNAME="crawler", PORTALNEWS_ES_PASSWORD="s3cret")
    assert (c.username, c.password) == ("crawler", "s3cret")
    assert "s3cret" not in repr(c)
    c = cfg("https://crawler:p%40ss@es.example:9200")
    assert (c.username, c.password) == ("crawler", "p@ss")
    assert "p%40ss" not in c.url and "***" in c.url and "p@ss" not in repr(c)
    assert cfg("https://es.example", PORTALNEWS_ES_API_KEY="abc==").api_key == "abc=="
    with pytest.raises(StoreError, match="PORTALNEWS_ES_PASSWORD"):
        cfg("https://es.example", PORTALNEWS_ES_USERNAME="crawler")
    with pytest.raises(StoreError, match="Elasticsearch feature"):
        cfg("opensearch+https://os.example", PORTALNEWS_ES_API_KEY="abc")
    with pytest.raises(StoreError, match="no such file"):
        cfg("https://es.example", PORTALNEWS_ES_CA_CERTS="/nonexistent/ca.pem")
    assert redact_url("https://u:pw@h:9200/x?prefix=p") == "https://u:***@h:9200/x?prefix=p"
    assert "pw" not in spool_dir_name("https://u:pw@h:9200") and "pw" not in engine_store(
        "https://u:pw@h:9200").spool_name


def test_certificate_verification_stays_on_unless_explicitly_off(caplog: pytest.LogCaptureFixture) -> None:
    assert cfg("https://h", PORTALNEWS_ES_VERIFY_CERTS="").verify_certs
    assert cfg("https://h", PORTALNEWS_ES_VERIFY_CERTS="true").verify_certs
    assert not cfg("https://h", PORTALNEWS_ES_VERIFY_CERTS="false").verify_certs
    with pytest.raises(StoreError, match="true or false"):
        cfg("https://h", PORTALNEWS_ES_VERIFY_CERTS="maybe")
    store = EngineStore(cfg("https://h", PORTALNEWS_ES_VERIFY_CERTS="False"))
    with caplog.at_level(logging.WARNING):
        store._client()
    assert "verification is OFF" in caplog.text
    store.close()


# --- the spool ----------------------------------------------------------------------------
def records() -> list[Document | PageRecord | RunRecord]:
    return [
        Document(url="http://h/a.html", portal_id="p", title="Hội nghị", body="Nội dung", view_count=3,
                 extra={"tags": ["x"]}),
        PageRecord(url="http://h/a.html", portal_id="p", kind="article", status=200, fetched_at="t"),
        RunRecord(run_id="r1", portal_id="p", started_at="t", http_errors={"404": 2}),
    ]


def test_spool_round_trip_order_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    assert spool.files() == [] and spool.counts().records == 0 and not spool
    first = spool.write(records())
    second = spool.write(records()[:1])
    rejected = spool.write(records()[:1], errors=["HTTP 400: bad"], rejected=True)
    assert first is not None and second is not None and rejected is not None
    assert spool.files() == [first, second, rejected] and spool.files(rejected=False) == [first, second]
    assert spool.read(first) == records()
    counts = spool.counts()
    assert (counts.documents, counts.pages, counts.runs, counts.files, counts.rejected) == (3, 1, 1, 3, 1)
    assert counts.describe() == "3 documents, 1 page records, 1 run records (1 rejected by the engine)"
    assert json.loads(rejected.read_text("utf-8").splitlines()[0])["error"] == "HTTP 400: bad"
    assert not list((tmp_path / "spool").glob(".*"))  # no temporary file left behind
    spool.write(records()[1:], name=first.name)
    assert spool.read(first) == records()[1:]
    spool.remove(first)
    assert spool.files() == [second, rejected]


def test_spool_skips_a_damaged_line_and_a_claimed_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path)
    path = spool.write(records())
    assert path is not None
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"type": "document", "da\n')
    assert spool.read(path) == records()
    assert "unreadable" in caplog.text
    with spool.claim(path) as mine:
        assert mine
        with spool.claim(path) as again:
            assert not again  # another replayer holds it
    with spool.claim(tmp_path / "gone.jsonl") as mine:
        assert not mine


# --- names and queries --------------------------------------------------------------------------
def test_index_names_and_template() -> None:
    names = IndexNames("portalnews")
    assert (names.articles, names.pages, names.runs, names.leases, names.history) == (
        "portalnews-articles", "portalnews-pages", "portalnews-runs", "portalnews-leases", "portalnews-history")
    assert names.version_of("portalnews-articles-v12") == 12 and names.version_of("other-articles-v1") is None
    template = article_template(names, shards=1, replicas=0)
    assert template["index_patterns"] == ["portalnews-articles-v*"]
    props = template["template"]["mappings"]["properties"]
    assert {k: props[k]["type"] for k in ("id", "url", "portal_id", "province", "level", "category")} == dict.fromkeys(
        ("id", "url", "portal_id", "province", "level", "category"), "keyword")
    assert (props["published_at"]["type"], props["crawled_at"]["type"], props["view_count"]["type"]) == (
        "date", "date", "integer")
    # no analysis plugin: the sibling search fields use the built-in standard analyzer, nothing else is analysed
    assert "analysis" not in template["template"]["settings"]
    assert {k: (v["type"], v["analyzer"]) for k, v in props.items() if "analyzer" in v} == {
        f"{field}_{form}": ("text", "standard") for field in ("title", "summary", "body") for form in ("exact", "folded")}
    assert not {"title", "summary", "body"} & set(props)  # kept in _source, searched through the sibling fields
    assert template["template"]["mappings"]["_source"] == {"excludes": [
        "title_exact", "summary_exact", "body_exact", "title_folded", "summary_folded", "body_folded"]}


def test_query_dsl() -> None:
    flt = SearchQuery(portals=["p1"], province="Đắk Lắk", level="huyện", category="Tin tức - Sự kiện",
                      since="2024-01-01", until="2024-12-31", min_views=10)
    assert filters(prepare(flt)) == [
        {"terms": {"portal_id": ["p1"]}},
        {"bool": {"should": [{"terms": {"province_key": ["daklak", "phuyen"]}},
                             {"terms": {"current_key": ["daklak", "phuyen"]}}], "minimum_should_match": 1}},
        {"term": {"level": "district"}}, {"term": {"category_key": "tin tuc su kien"}},
        {"range": {"published_at.raw": {"gte": "2024-01-01", "lt": "2025-01-01"}}},
        {"range": {"view_count": {"gte": 10}}}]
    body = search_body(prepare(SearchQuery(text="Hội nghị", limit=5, offset=10, facets=True)))
    assert (body["from"], body["size"], body["track_total_hits"]) == (10, 5, True)
    assert body["query"]["bool"]["should"][0]["constant_score"]["boost"] == EXACT_BOOST  # exact spellings first
    assert set(body["aggs"]) == {"province", "level", "portal_id", "category", "month"}
    assert hit_score({"_score": 100018.0}) == (18.0, True) and hit_score({"_score": 9.0}) == (9.0, False)
    body = search_body(prepare(SearchQuery(text="hoi nghi", sort="views")))
    assert body["sort"][0] == {"view_count": {"order": "desc", "missing": "_last"}}
    assert "should" not in body["query"]["bool"] and "aggs" not in body  # no exact tier without diacritics


# --- a search that meets a member leaving the cluster --------------------------------------
def test_a_search_that_meets_a_leaving_node_is_asked_once_more() -> None:
    """A cluster answers HTTP 500 "Node not connected" to a search in flight when a member
    goes; the same search a moment later is answered from the other copy.  The user sees the
    answer, not the error.  A second 5xx in a row is an error that names the engine."""
    from http.server import BaseHTTPRequestHandler

    from tests.conftest import loopback_server

    answers: list[int] = []
    plan = [500, 200, 500, 500]

    class Engine(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = plan[len(answers)]
            answers.append(status)
            payload: dict[str, object] = (
                {"error": {"type": "search_phase_execution_exception",
                           "reason": "[node-1][127.0.0.1:9301] Node not connected"}, "status": 500}
                if status == 500 else
                {"took": 1, "timed_out": False, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}})
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    with loopback_server("127.0.0.1", Engine) as port:
        store = engine_store(f"opensearch://127.0.0.1:{port}")
        assert isinstance(store, EngineStore)
        try:
            assert store._search("portalnews-articles", {"query": {"match_all": {}}})["hits"]["hits"] == []
            assert answers == [500, 200]
            with pytest.raises(StoreError, match=r"HTTP 500.*Node not connected"):
                store._search("portalnews-articles", {"query": {"match_all": {}}})
            assert answers == [500, 200, 500, 500]
        finally:
            store.close()
