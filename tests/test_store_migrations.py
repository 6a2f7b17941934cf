"""Stores written by an older portalnews: one clear line, ``portalnews migrate``, the data intact.

``tests/fixtures/store_v1/store-v1.db`` was written by portalnews before schema versions were
recorded (commit 115782f, schema version 1), and ``expected.json`` holds what that code
answered from it (see the README there).  An engine store of version 1 (before the article
history fields) is built here with the raw client, as that code wrote it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import main as cli_main
from pipelines.storage import Document, FacetValue, SearchQuery, StoreError, open_store
from pipelines.storage.engine_mappings import article_mappings, index_settings
from pipelines.storage.migrations import ENGINE_VERSION, MIGRATIONS, SCHEMA_VERSION
from pipelines.storage.sqlite import SQLiteStore
from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1"
#: Document fields the fixtures' versions did not have: the current province (schema 3), stories (schema 4).
LATER_FIELDS = ("current_province", "story_id", "story_size", "is_source")


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def answers(store: Any) -> dict[str, Any]:
    """What ``expected.json`` recorded, asked of ``store``: the fields documents had then (the
    current province came with schema 3), and the search hits with their exact flags and
    snippets in URL order (the relevance score is BM25 since schema 3)."""
    docs = list(store.iter_documents())
    return {
        "documents": [{k: v for k, v in d.to_dict().items() if k not in LATER_FIELDS} for d in docs],
        "histories": {k: {"version": h.version, **h.export_fields()}
                      for k, h in sorted(store.histories([d.id for d in docs]).items())},
        "known_pages": {p: store.known_pages(p) for p in ("p1", "p2")},
        "runs": [asdict(r) for r in store.runs()],
        "coverage": [r.to_dict() for r in store.coverage()],
        "leases": [lease.to_dict() for lease in store.leases()],
        "schedule": {k: v.to_dict() for k, v in store.schedule().items()},
        "backoffs": {k: v.to_dict() for k, v in store.backoffs().items()},
        "alert_notices": {k: v.to_dict() for k, v in store.alert_notices().items()},
        "search": sorted([h.document.url, h.exact, h.snippet] for h in store.search(SearchQuery(text="hoi nghi"))),
    }


def expected_answers(path: Path) -> dict[str, Any]:
    """``expected.json`` in the form :func:`answers` gives (the search without its scores)."""
    expected: dict[str, Any] = json.loads(path.read_text("utf-8"))
    expected["search"] = sorted([url, exact, snippet] for url, _score, exact, snippet in expected["search"])
    return expected


def copied_store(fixture: Path, tmp_path: Path) -> Path:
    """A copy of a store written by an older portalnews, where a user's store would be."""
    path = tmp_path / "data" / "portalnews.db"
    path.parent.mkdir()
    shutil.copyfile(fixture, path)
    return path


@pytest.fixture()
def v1_store(tmp_path: Path) -> Path:
    return copied_store(FIXTURE / "store-v1.db", tmp_path)


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_the_migrations_are_one_step_per_version() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


def test_an_older_sqlite_store_names_migrate_then_migrates_with_its_data_intact(
        v1_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{v1_store}"
    original = dump(v1_store)
    for argv in (["search", "hoi nghi"], ["coverage"], ["export"], ["reindex"]):
        code, out, err = run_main(capsys, *argv, "--store", url)
        assert (code, out) == (2, "")
        assert err == (f"portalnews {argv[0]}: error: SQLite store {v1_store} has schema version 1, this portalnews "
                       f"needs {SCHEMA_VERSION}: run `portalnews migrate --store {url}` (it keeps a backup)\n")
    assert dump(v1_store) == original  # refusing touched nothing

    code, out, err = run_main(capsys, "migrate", "--store", url)
    backup = v1_store.with_name("portalnews.v1-backup.db")
    assert code == 0, err
    assert out.splitlines()[0] == (f"migrated {url} from schema version 1 to {SCHEMA_VERSION}; "
                                   f"the store as it was is kept in {backup}")
    assert dump(backup) == original

    expected = expected_answers(FIXTURE / "expected.json")
    with open_store(url) as store:
        assert json.loads(json.dumps(answers(store))) == expected
        # schema 3: every document has its current province, and the search language works on them
        assert {d.province: d.current_province for d in store.iter_documents()} == {
            "Phú Yên": "Đắk Lắk", "Bến Tre": "Vĩnh Long"}
        assert {h.document.url for h in store.search(SearchQuery(text='"Ủy ban nhân dân"'))} == {
            "http://127.0.0.1/a/1.html", "http://127.0.0.1/a/4.html"}  # written "UBND"
        assert store.search(SearchQuery(province="Đắk Lắk", facets=True)).facets["province"] == [
            FacetValue("Đắk Lắk", 2)]
    conn = sqlite3.connect(v1_store)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'meta'").fetchone()[0] == 0
    conn.close()

    assert run_main(capsys, "migrate", "--store", url)[:2] == (
        0, f"{url} is at schema version {SCHEMA_VERSION}: nothing to migrate\n")
    # and the migrated store takes new writes with their history
    with open_store(url) as store:
        first = Document.from_dict(expected["documents"][0])
        first.view_count, first.crawled_at = 1400, "2026-01-04T00:00:00+00:00"
        assert store.upsert_documents([first]).updated == 1
        assert [o.views for o in store.histories([first.id])[first.id].view_history] == [1234, 1300, 1400]


def test_a_store_from_before_the_history_tables_gets_its_history_started(v1_store: Path) -> None:
    conn = sqlite3.connect(v1_store)
    conn.executescript("DROP TABLE view_history; DROP TABLE versions; DROP TABLE leases; DROP TABLE schedule;"
                       " DROP TABLE backoffs; DROP TABLE alert_notices; DELETE FROM meta WHERE key = 'history_backfilled';")
    shown = dict(conn.execute("SELECT id, view_count FROM documents WHERE view_count IS NOT NULL").fetchall())
    crawled = dict(conn.execute("SELECT id, crawled_at FROM documents").fetchall())
    conn.close()
    store = SQLiteStore(v1_store)
    report = store.migrate()
    assert (report.from_version, report.to_version, Path(report.backup or "").is_file()) == (1, SCHEMA_VERSION, True)
    store.open()
    histories = store.histories(list(crawled))
    assert {k: [(o.t, o.views) for o in h.view_history] for k, h in histories.items()} == {
        k: ([(crawled[k], shown[k])] if k in shown else []) for k in crawled}
    assert store.leases() == [] and store.schedule() == {}
    store.close()


def test_a_second_backup_does_not_overwrite_the_first(v1_store: Path) -> None:
    v1_store.with_name("portalnews.v1-backup.db").write_bytes(b"an earlier backup")
    report = SQLiteStore(v1_store).migrate()
    assert report.backup == str(v1_store.with_name("portalnews.v1-backup-2.db"))
    assert v1_store.with_name("portalnews.v1-backup.db").read_bytes() == b"an earlier backup"


def test_new_newer_and_foreign_sqlite_files(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'new.db'}"):
        pass
    conn = sqlite3.connect(tmp_path / "new.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this portalnews"):
        open_store(f"sqlite:///{tmp_path / 'new.db'}").open()
    with pytest.raises(StoreError, match="newer than this portalnews"):
        open_store(f"sqlite:///{tmp_path / 'new.db'}").migrate()
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE invoices (n INTEGER)")
    other.close()
    with pytest.raises(StoreError, match="an SQLite database but not a portalnews store"):
        open_store(f"sqlite:///{tmp_path / 'other.db'}").open()
    with pytest.raises(StoreError, match="nothing to migrate"):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}").migrate()


# --- engines --------------------------------------------------------------------------------------
V1_DOCS = [
    Document(url="http://127.0.0.1/a/1.html", portal_id="p1", title="Hội nghị tổng kết", body="UBND huyện tổ chức hội nghị.",
             published_at="2025-01-05T08:00:00+07:00", view_count=1234, crawled_at="2026-01-01T00:00:00+00:00",
             province="Phú Yên"),
    Document(url="http://127.0.0.1/a/2.html", portal_id="p1", title="Thông báo", body="Lịch tiếp công dân.",
             crawled_at="2026-01-01T00:00:00+00:00"),
]


@pytest.fixture()
def v1_engine_store(opensearch_url: str) -> Iterator[str]:
    """An engine store as version 1 wrote it: no history fields, mapping version 1 in ``_meta``."""
    from opensearchpy import OpenSearch

    url = opensearch_store_url(opensearch_url, unique_prefix())
    prefix = url.rsplit("prefix=", 1)[1]
    mappings = article_mappings()
    mappings["_meta"] = {"portalnews_mapping_version": 1}
    for name in ("view_history", "previous_versions"):
        del mappings["properties"][name]
    client = OpenSearch(opensearch_url)
    client.indices.create(index=f"{prefix}-articles-v1", body={
        "settings": index_settings(1, 0), "mappings": mappings, "aliases": {f"{prefix}-articles": {}}})
    for d in V1_DOCS:
        source = {k: v for k, v in d.to_dict().items() if k != "extra"}
        client.index(index=f"{prefix}-articles", id=d.id, refresh=True, body={
            **source, "first_seen_at": d.crawled_at, "version": 1, "indexed_at": d.crawled_at})
    client.close()
    yield url
    drop_engine_indices(url)


@pytest.mark.engine
def test_an_older_engine_store_names_migrate_then_migrates_behind_the_alias(
        v1_engine_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = v1_engine_store
    prefix = url.rsplit("prefix=", 1)[1]
    code, out, err = run_main(capsys, "search", "hoi nghi", "--store", url)
    base = url.split("?")[0].replace("opensearch://", "http://")
    assert (code, out) == (2, "")
    assert err == (f"portalnews search: error: the store {prefix}-articles at {base} has schema version 1, this "
                   f"portalnews needs {ENGINE_VERSION}: run `portalnews migrate --store {url}` (it keeps a backup)\n")

    code, out, err = run_main(capsys, "migrate", "--store", url, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["from_version"], result["to_version"], result["backup"]) == (1, ENGINE_VERSION,
                                                                              f"{prefix}-articles-v1")
    with open_store(url) as store:
        migrated = list(store.iter_documents())
        without = lambda d: {k: v for k, v in d.export_dict().items() if k not in LATER_FIELDS[1:]}  # noqa: E731
        assert [without(d) for d in migrated] == [without(d) for d in V1_DOCS]
        assert all(d.story_id == d.id and d.story_size == 1 and d.is_source for d in migrated)  # stories: schema 4
        assert [h.document.url for h in store.search(SearchQuery(text="hoi nghi"))] == [V1_DOCS[0].url]
        histories = store.histories([d.id for d in V1_DOCS])
        assert [(o.t, o.views) for o in histories[V1_DOCS[0].id].view_history] == [(V1_DOCS[0].crawled_at, 1234)]
        assert histories[V1_DOCS[1].id].view_history == [] and histories[V1_DOCS[1].id].version == 1
        client = store._client()  # type: ignore[attr-defined]
        assert sorted(client.indices.get_alias(name=f"{prefix}-articles")) == [f"{prefix}-articles-v2"]
        assert client.count(index=f"{prefix}-articles-v1")["count"] == 2  # the backup
        # the coordination indices a version-1 store lacked are there now
        assert store.acquire_lease("p1", "w1", 60) and store.schedule() == {}
    assert run_main(capsys, "migrate", "--store", url)[:2] == (
        0, f"{url} is at schema version {ENGINE_VERSION}: nothing to migrate\n")


# --- schema 2 -> 3: the search language on stores written before it -----------------------------------
FIXTURE_V2 = Path(__file__).parent / "fixtures" / "store_v2"


def v2_answers(store: Any) -> dict[str, Any]:
    """What ``store_v2/expected.json`` recorded, asked of ``store`` (documents without the current
    province of schema 3; relevance hits in URL order: the score is BM25 since schema 3)."""
    docs = list(store.iter_documents())
    search = {}
    for q in ("hoi nghi", "Hội nghị", '"tiep cong dan"', ""):
        hits = [[h.document.url, h.exact, h.snippet] for h in store.search(SearchQuery(text=q, limit=50))]
        search[q] = sorted(hits) if q else hits
    return {
        "documents": [{k: v for k, v in d.to_dict().items() if k not in LATER_FIELDS} for d in docs],
        "histories": {k: {"version": h.version, **h.export_fields()}
                      for k, h in sorted(store.histories([d.id for d in docs]).items())},
        "known_pages": {p: store.known_pages(p) for p in ("p1", "p2", "p3")},
        "runs": [asdict(r) for r in store.runs()],
        "coverage": [r.to_dict() for r in store.coverage()],
        "search": search,
    }


def v2_expected() -> dict[str, Any]:
    expected: dict[str, Any] = json.loads((FIXTURE_V2 / "expected.json").read_text("utf-8"))
    expected["search"] = {q: sorted(hits) if q else hits for q, hits in expected["search"].items()}
    return expected


def check_schema_3_search(store: Any) -> None:
    """What schema 3 adds, on the documents written before it."""
    urls = lambda result: sorted(h.document.url.rsplit("/", 1)[1] for h in result)  # noqa: E731
    assert urls(store.search(SearchQuery(text="UBND"))) == ["1.html", "4.html"]  # 4 says "Ủy ban nhân dân"
    assert urls(store.search(SearchQuery(text='"nông thôn mới"'))) == urls(store.search(SearchQuery(text="NTM"))) == [
        "3.html"]
    hoa = store.search(SearchQuery(text="hoà"))  # "Tân Hòa" is the same spelling, "văn hoá" is not
    assert {h.document.url.rsplit("/", 1)[1]: h.exact for h in hoa} == {"3.html": True, "5.html": False}
    assert hoa[0].document.url.endswith("/3.html")
    assert urls(store.search(SearchQuery(text="hoi -nghi"))) == ["5.html"]
    result = store.search(SearchQuery(facets=True))
    assert result.total == 5
    assert result.facets["province"] == [FacetValue("Vĩnh Long", 2), FacetValue("Đắk Lắk", 2),
                                         FacetValue("Lào Cai", 1)]
    assert result.facets["month"] == [FacetValue("2023-03", 1), FacetValue("2024-06", 1), FacetValue("2025-01", 1),
                                      FacetValue("2025-06", 1)]
    assert urls(store.search(SearchQuery(province="Đắk Lắk"))) == ["1.html", "2.html"]
    assert urls(store.search(SearchQuery(province="Phú Yên", text="hoi nghi"))) == ["1.html", "2.html"]


@pytest.fixture()
def v2_store(tmp_path: Path) -> Path:
    return copied_store(FIXTURE_V2 / "store-v2.db", tmp_path)


def test_a_schema_2_sqlite_store_migrates_to_the_search_language(v2_store: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{v2_store}"
    original = dump(v2_store)
    code, out, err = run_main(capsys, "search", "hoi nghi", "--store", url)
    assert (code, out) == (2, "")
    assert f"has schema version 2, this portalnews needs {SCHEMA_VERSION}: run `portalnews migrate" in err
    assert dump(v2_store) == original

    code, out, err = run_main(capsys, "migrate", "--store", url)
    assert code == 0, err
    assert dump(v2_store.with_name("portalnews.v2-backup.db")) == original
    with open_store(url) as store:
        assert json.loads(json.dumps(v2_answers(store))) == v2_expected()
        check_schema_3_search(store)
        # the old full-text tables are gone, the new ones hold every document
        conn = store._conn()  # type: ignore[attr-defined]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not {"docs_fold", "docs_exact"} & tables and {"search_text", "search_meta"} <= tables
        # a changed document leaves no trace of its old words
        first = Document.from_dict(v2_expected()["documents"][3])
        first.body, first.content_hash = "Lịch tiếp dân tháng 7.", ""
        assert store.upsert_documents([first]).updated == 1
        assert [h.document.url for h in store.search(SearchQuery(text="UBND"))] == ["http://127.0.0.1/a/1.html"]
        assert store.search(SearchQuery(text="thang 7")).total == 1


@pytest.fixture()
def v2_engine_store(opensearch_url: str) -> Iterator[str]:
    """An engine store as schema 2 wrote it (tests/fixtures/store_v2/engine-v2.json)."""
    from opensearchpy import OpenSearch

    fixture = json.loads((FIXTURE_V2 / "engine-v2.json").read_text("utf-8"))
    url = opensearch_store_url(opensearch_url, unique_prefix())
    prefix = url.rsplit("prefix=", 1)[1]
    client = OpenSearch(opensearch_url)
    client.indices.create(index=f"{prefix}-articles-v1", body={**fixture["index"], "aliases": {f"{prefix}-articles": {}}})
    for doc_id, source in fixture["documents"].items():
        client.index(index=f"{prefix}-articles", id=doc_id, body={**source, "indexed_at": source["crawled_at"]})
    client.indices.refresh(index=f"{prefix}-articles")
    client.close()
    yield url
    drop_engine_indices(url)


@pytest.mark.engine
def test_a_schema_2_engine_store_migrates_to_the_plugin_free_mapping(
        v2_engine_store: str, v2_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = v2_engine_store
    code, out, err = run_main(capsys, "search", "hoi nghi", "--store", url)
    assert (code, out) == (2, "") and f"has schema version 2, this portalnews needs {ENGINE_VERSION}" in err
    code, out, err = run_main(capsys, "migrate", "--store", url, "--json")
    assert code == 0, err
    prefix = url.rsplit("prefix=", 1)[1]
    assert json.loads(out)["backup"] == f"{prefix}-articles-v1"
    assert run_main(capsys, "migrate", "--store", f"sqlite:///{v2_store}")[0] == 0
    with open_store(url) as engine, open_store(f"sqlite:///{v2_store}") as sqlite:
        # the same documents, histories and answers as the SQLite store written by the same code
        assert [d.to_dict() for d in engine.iter_documents()] == [d.to_dict() for d in sqlite.iter_documents()]
        ids = [d.id for d in sqlite.iter_documents()]
        assert engine.histories(ids) == sqlite.histories(ids)
        check_schema_3_search(engine)
        mapping = engine._client().indices.get_mapping(index=f"{prefix}-articles")  # type: ignore[attr-defined]
        (index, body), = mapping.items()
        assert index == f"{prefix}-articles-v2" and body["mappings"]["_meta"]["portalnews_mapping_version"] == ENGINE_VERSION
        settings = engine._client().indices.get_settings(index=index)[index]["settings"]  # type: ignore[attr-defined]
        assert "analysis" not in settings["index"]  # no asciifolding any more: runs on a core node


# --- schema 3 -> 4: stories on stores written before them -------------------------------------------------
FIXTURE_V3 = Path(__file__).parent / "fixtures" / "store_v3"


def check_schema_4_stories(store: Any) -> None:
    """The true stories of ``store_v3/expected.json``: one story id per story (its source's),
    sizes, one source each; the documents are no longer pending."""
    expected = json.loads((FIXTURE_V3 / "expected.json").read_text("utf-8"))
    by_url = {d.url: d for d in store.iter_documents()}
    assert len(by_url) == sum(len(u) for u in expected["stories"].values())
    for key, story_urls in expected["stories"].items():
        source = by_url[expected["sources"][key]]
        assert {by_url[u].story_id for u in story_urls} == {source.id}, key
        assert {by_url[u].story_size for u in story_urls} == {len(story_urls)}, key
        assert [u for u in story_urls if by_url[u].is_source] == [source.url], key
    assert store.reconcile_stories().documents == 0


@pytest.fixture()
def v3_store(tmp_path: Path) -> Path:
    return copied_store(FIXTURE_V3 / "store-v3.db", tmp_path)


def test_a_schema_3_sqlite_store_migrates_to_stories(v3_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store written before stories (tests/fixtures/store_v3) says migrate, and after it every
    document is signed and in its true story; a reprint crawled later joins it."""
    url = f"sqlite:///{v3_store}"
    original = dump(v3_store)
    code, out, err = run_main(capsys, "export", "--store", url)
    assert (code, out) == (2, "") and f"has schema version 3, this portalnews needs {SCHEMA_VERSION}" in err
    code, out, err = run_main(capsys, "migrate", "--store", url)
    assert code == 0, err
    assert dump(v3_store.with_name("portalnews.v3-backup.db")) == original
    with open_store(url) as store:
        check_schema_4_stories(store)
        story = json.loads((FIXTURE_V3 / "expected.json").read_text("utf-8"))["stories"]["s026"]
        original_doc = next(d for d in store.iter_documents() if d.url == story[0])
        reprint = Document(url="http://127.0.0.1/reprint.html", portal_id="p9", title="Tin từ huyện: " + original_doc.title,
                           body="(Nguồn: huyện Bát Xát)\n" + original_doc.body, published_at="2030-01-01T00:00:00+07:00",
                           crawled_at="2030-01-01T00:00:00+00:00")
        store.upsert_documents([reprint])
        store.reconcile_stories()
        got = store.get_document(reprint.id)
        assert got is not None and got.story_id == original_doc.story_id and got.story_size == len(story) + 1
        assert got.is_source is False
    code, out, _ = run_main(capsys, "export", "--store", url)
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["story_size"] for r in rows if r["story_id"] == original_doc.story_id} == {len(story) + 1}


@pytest.mark.engine
def test_a_schema_3_engine_store_migrates_to_stories(opensearch_url: str, v3_store: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An engine store at schema 3 (the documents of store_v3, indexed with the schema-3 mapping
    and no story field) migrates: the same stories as SQLite."""
    from opensearchpy import OpenSearch

    from pipelines.storage.engine_mappings import article_mappings, index_settings
    from pipelines.storage.engine_write import search_source

    url = opensearch_store_url(opensearch_url, unique_prefix())
    prefix = url.rsplit("prefix=", 1)[1]
    client = OpenSearch(opensearch_url)
    try:
        mappings = article_mappings()
        mappings["_meta"]["portalnews_mapping_version"] = 3
        for name in ("story_signature", "story_bands", "story_id", "story_size", "is_source", "story_pending"):
            mappings["properties"].pop(name)
        client.indices.create(index=f"{prefix}-articles-v1", body={
            "settings": index_settings(1, 0), "mappings": mappings, "aliases": {f"{prefix}-articles": {}}})
        conn = sqlite3.connect(v3_store)
        conn.row_factory = sqlite3.Row
        from pipelines.storage.sqlite_search import document_from_row

        for row in conn.execute("SELECT * FROM documents"):
            d = document_from_row(row)
            src = {k: v for k, v in d.to_dict().items() if k not in ("story_id", "story_size", "is_source")}
            client.index(index=f"{prefix}-articles", id=d.id,
                         body={**src, **search_source(d, None), "first_seen_at": d.crawled_at, "version": 1,
                               "indexed_at": d.crawled_at, "view_history": [], "previous_versions": []})
        conn.close()
        client.indices.refresh(index=f"{prefix}-articles")
        code, out, err = run_main(capsys, "search", "hoi nghi", "--store", url)
        assert (code, out) == (2, "") and f"has schema version 3, this portalnews needs {ENGINE_VERSION}" in err
        code, out, err = run_main(capsys, "migrate", "--store", url)
        assert code == 0, err
        assert run_main(capsys, "migrate", "--store", f"sqlite:///{v3_store}")[0] == 0
        with open_store(url) as engine, open_store(f"sqlite:///{v3_store}") as sqlite:
            check_schema_4_stories(engine)
            assert [d.to_dict() for d in engine.iter_documents()] == [d.to_dict() for d in sqlite.iter_documents()]
            # a reindex keeps the stories
            engine.reindex()
            check_schema_4_stories(engine)
    finally:
        client.close()
        drop_engine_indices(url)


# --- schema 4 -> 5: the province indexes with dates (SQLite only) ------------------------------------
FIXTURE_V4 = Path(__file__).parent / "fixtures" / "store_v4"


def filtered_answers(store: Any, expected: dict[str, Any]) -> dict[str, Any]:
    """The filtered searches of ``store_v4/expected.json``, asked of ``store`` in its form."""
    out = {}
    for label, spec in expected.items():
        r = store.search(SearchQuery(facets=True, **spec["query"]))
        out[label] = {"query": spec["query"], "total": r.total, "urls": [h.document.url for h in r.hits],
                      "facets": {k: [[f.value, f.count] for f in v] for k, v in sorted(r.facets.items())}}
    return out


def test_a_schema_4_sqlite_store_migrates_to_the_dated_province_indexes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store written before schema 5 (tests/fixtures/store_v4) says migrate, in one line; after
    it the province indexes hold the date and the filtered searches answer what they answered
    before (same hits, order, totals and facets)."""
    path = copied_store(FIXTURE_V4 / "store-v4.db", tmp_path)
    url = f"sqlite:///{path}"
    original = dump(path)
    code, out, err = run_main(capsys, "search", "giao thong", "--store", url)
    assert (code, out) == (2, "")
    assert err == (f"portalnews search: error: SQLite store {path} has schema version 4, this portalnews needs "
                   f"{SCHEMA_VERSION}: run `portalnews migrate --store {url}` (it keeps a backup)\n")
    code, out, err = run_main(capsys, "migrate", "--store", url)
    assert code == 0, err
    assert out.splitlines()[0] == (f"migrated {url} from schema version 4 to {SCHEMA_VERSION}; the store as it "
                                   f"was is kept in {path.with_name('portalnews.v4-backup.db')}")
    assert dump(path.with_name("portalnews.v4-backup.db")) == original
    conn = sqlite3.connect(path)
    indexes = {name: [r[2] for r in conn.execute(f"PRAGMA index_info({name})")]
               for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                                           " AND tbl_name = 'search_meta'")}
    conn.close()
    assert indexes["search_meta_province"] == ["province_key", "published_at"]
    assert indexes["search_meta_current"] == ["current_key", "published_at"]
    expected = json.loads((FIXTURE_V4 / "expected.json").read_text("utf-8"))
    with open_store(url) as store:
        assert filtered_answers(store, expected) == expected


def test_a_sqlite_only_step_leaves_the_engines_version() -> None:
    """Schemas 5 and 6 changed SQLite's indexes only: engine stores written at version 4 stay current."""
    assert SCHEMA_VERSION == 6 and ENGINE_VERSION == 4
    assert [m.version for m in MIGRATIONS if m.sqlite_only] == [5, 6]
    assert article_mappings()["_meta"]["portalnews_mapping_version"] == ENGINE_VERSION
