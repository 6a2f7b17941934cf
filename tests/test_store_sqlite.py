"""The embedded SQLite store: upserts, diacritic-insensitive search, filters, state."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.search import fold, parse, snippet
from pipelines.storage import (
    Document,
    ExportFilter,
    PageRecord,
    RunRecord,
    SearchQuery,
    StoreError,
    open_store,
)
from pipelines.storage.base import FacetValue
from pipelines.storage.sqlite import SQLiteStore


def doc(n: int, title: str, body: str, published: str, views: int | None = None, portal: str = "p1",
        province: str = "Phú Yên") -> Document:
    return Document(url=f"http://127.0.0.1/a/{n}.html", portal_id=portal, title=title, body=body,
                    published_at=published, view_count=views, crawled_at="2026-01-01T00:00:00+00:00",
                    province=province)


@pytest.fixture()
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "t.db")
    s.open()
    s.upsert_documents([
        doc(1, "Hội nghị tổng kết công tác năm 2024", "Sáng 5/1, UBND huyện tổ chức hội nghị tổng kết.",
            "2025-01-05T08:00:00+07:00", 1234),
        doc(2, "Hoi nghi khong dau", "Bai viet khong dau ve hoi nghi.", "2024-06-01T00:00:00+07:00", 10),
        doc(3, "Đường giao thông nông thôn", "Khánh thành đường mới ở xã Đồng Tiến.",
            "2023-03-03T00:00:00+07:00", None, portal="p2", province="Bến Tre"),
    ])
    return s


def test_fold_is_length_preserving_and_handles_d() -> None:
    assert fold("Hội nghị Đồng Tiến") == "hoi nghi dong tien"
    assert len(fold("Hội nghị Đồng Tiến")) == len("Hội nghị Đồng Tiến")


def test_search_without_diacritics_finds_title_with_diacritics(store: SQLiteStore) -> None:
    hits = store.search(SearchQuery(text="hoi nghi"))
    titles = [h.document.title for h in hits]
    assert "Hội nghị tổng kết công tác năm 2024" in titles
    assert "<mark>" in hits[0].snippet


def test_exact_diacritics_rank_higher(store: SQLiteStore) -> None:
    hits = store.search(SearchQuery(text="Hội nghị"))
    assert hits[0].document.title.startswith("Hội nghị")
    assert hits[0].exact
    assert len(hits) == 2  # the undiacritised article still matches, lower


def test_search_d_stroke(store: SQLiteStore) -> None:
    assert [h.document.portal_id for h in store.search(SearchQuery(text="dong tien"))] == ["p2"]


def test_filters_and_sorts(store: SQLiteStore) -> None:
    assert {h.document.portal_id for h in store.search(SearchQuery(text="", province="ben tre"))} == {"p2"}
    by_views = store.search(SearchQuery(text="", sort="views"))
    assert [h.document.view_count for h in by_views] == [1234, 10, None]
    by_date = store.search(SearchQuery(text="", sort="date", since="2024-01-01", until="2024-12-31"))
    assert [h.document.title for h in by_date] == ["Hoi nghi khong dau"]
    assert len(store.search(SearchQuery(text="hoi nghi", portals=["p2"]))) == 0


def test_upsert_never_duplicates(store: SQLiteStore) -> None:
    again = doc(1, "Hội nghị tổng kết công tác năm 2024", "Sáng 5/1, UBND huyện tổ chức hội nghị tổng kết.",
                "2025-01-05T08:00:00+07:00", 1500)
    result = store.upsert_documents([again])
    assert (result.inserted, result.updated) == (0, 1)
    assert store.count_documents() == 3
    assert store.get_document(again.id).view_count == 1500  # type: ignore[union-attr]
    same = store.upsert_documents([again])
    assert same.unchanged == 1
    assert len(list(store.iter_documents(ExportFilter(portals=["p1"])))) == 2


def test_crawl_state_and_coverage(store: SQLiteStore) -> None:
    store.record_pages([PageRecord(url="http://127.0.0.1/a/1.html", portal_id="p1", kind="article", status=200,
                                   fetched_at="2026-01-01T00:00:00+00:00")])
    store.record_pages([PageRecord(url="http://127.0.0.1/list?page=2", portal_id="p1", kind="listing", status=200,
                                   fetched_at="2026-01-01T00:00:00+00:00")])
    # stored documents count as known articles even without a page record
    assert store.known_pages("p1") == {"http://127.0.0.1/a/1.html": "article", "http://127.0.0.1/a/2.html": "article",
                                       "http://127.0.0.1/list?page=2": "listing"}
    store.save_run(RunRecord(run_id="r1", portal_id="p1", started_at="2026-01-01T00:00:00+00:00",
                             finished_at="2026-01-01T00:01:00+00:00", outcome="ok", pages_fetched=7))
    cov = {r.portal_id: r for r in store.coverage()}
    assert cov["p1"].articles == 2 and cov["p1"].pages_fetched == 7 and cov["p1"].last_outcome == "ok"
    assert cov["p1"].newest_article == "2025-01-05T08:00:00+07:00"


def test_bad_store_urls_and_files(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown store URL"):
        open_store("ftp://x")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable"):
        open_store(f"sqlite:///{junk}").open()


def test_snippet_highlights_original_text() -> None:
    s = snippet("Sáng nay diễn ra Hội nghị tổng kết", parse("hoi nghi"))
    assert "<mark>Hội nghị</mark>" in s.marked and "<mark>Hội nghị</mark>" in s.html


def _open_and_write(path: str, n: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    s = SQLiteStore(path)
    s.open()
    s.upsert_documents([doc(1000 + n, f"Tin số {n}", "Nội dung.", "2025-01-05T08:00:00+07:00")])
    s.close()


def test_workers_opening_one_new_store_together_all_succeed(tmp_path: Path) -> None:
    """Several scheduler workers started at once on a fresh store file: none fails with "locked"."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for round_ in range(5):
        path = str(tmp_path / f"shared-{round_}.db")
        start = ctx.Barrier(6)
        procs = [ctx.Process(target=_open_and_write, args=(path, n, start)) for n in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 6
        s = SQLiteStore(path)
        s.open()
        assert s.count_documents() == 6
        s.close()


@pytest.mark.parametrize("sort", ["date", "views"])
def test_a_date_or_views_page_walked_in_index_order_is_the_sorted_page(tmp_path: Path, sort: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A query most documents match gets its date/views pages by walking that order's index;
    the pages (hits, scores, exact flags, total) are those of sorting every match."""
    from pipelines.storage import sqlite_search

    s = SQLiteStore(tmp_path / "w.db")
    s.open()
    docs = [doc(n, f"Bài {n}: " + ("Hội nghị" if n % 3 else "Hoi nghi") + (" tỉnh" if n % 5 == 0 else ""),
                "Nội dung " + ("hội nghị" if n % 7 else "khác"), f"2025-01-{1 + n % 28:02d}T08:00:00+07:00",
                None if n % 11 == 0 else (n * 37) % 500, portal=f"p{n % 3}") for n in range(1, 90)]
    s.upsert_documents(docs)

    def pages() -> list[list[tuple[str, float, bool]]]:
        out = []
        for text, page, extra in (("hội nghị", 1, {}), ("hoi nghi", 3, {}), ("hội nghị", 2, {"portals": ["p1"]}),
                                  ("tỉnh", 1, {})):
            result = s.search(SearchQuery.paged(page, 7, text=text, sort=sort, **extra))
            out.append([(h.document.url, round(h.score, 9), h.exact) for h in result.hits] + [("total", result.total,
                                                                                               False)])
        return out

    monkeypatch.setattr(sqlite_search, "WALK_FACTOR", 10**9)
    sorted_pages = pages()
    monkeypatch.setattr(sqlite_search, "WALK_FACTOR", 0)
    walked = pages()
    assert walked == sorted_pages
    assert all(len(p) > 1 for p in sorted_pages) and any(any(h[2] for h in p) for p in sorted_pages)


def test_facets_over_many_matches_are_a_scaled_sample_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    from pipelines.storage import sqlite_search

    s = SQLiteStore(tmp_path / "f.db")
    s.open()
    s.upsert_documents([doc(n, f"Hội nghị {n}", "Nội dung hội nghị.", f"2025-0{1 + n % 3}-01T08:00:00+07:00",
                            portal=f"p{n % 2}") for n in range(1, 121)])
    exact = s.search(SearchQuery(text="hoi nghi", facets=True))
    assert exact.facets_exact and exact.total == 120
    assert exact.facets["portal_id"] == [FacetValue("p0", 60), FacetValue("p1", 60)]
    monkeypatch.setattr(sqlite_search, "EXACT_FACETS_UP_TO", 30)
    sampled = s.search(SearchQuery(text="hoi nghi", facets=True))
    assert not sampled.facets_exact and sampled.total == 120  # the total stays exact
    assert sampled.to_api()["facets_exact"] is False
    for name in ("portal_id", "month"):
        counts = sampled.facets[name]
        assert abs(sum(v.count for v in counts) - 120) <= 4 * len(counts), (name, counts)
    assert [v.value for v in sampled.facets["month"]] == ["2025-01", "2025-02", "2025-03"]


def test_a_very_large_match_set_is_ranked_among_title_candidates_and_says_so(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.storage import sqlite_search

    s = SQLiteStore(tmp_path / "r.db")
    s.open()
    docs = []
    for n in range(1, 61):
        if n % 3 == 0:  # the exact spelling in the title
            docs.append(doc(n, f"Hội nghị số {n}", "Nội dung hội nghị.", f"2025-01-{1 + n % 28:02d}T08:00:00+07:00"))
        elif n % 3 == 1:  # the exact spelling in the body only
            docs.append(doc(n, f"Tin số {n}", "Hôm nay có hội nghị lớn.", f"2025-02-{1 + n % 28:02d}T08:00:00+07:00"))
        else:  # written without diacritics, in the title
            docs.append(doc(n, f"Hoi nghi so {n}", "Noi dung hoi nghi.", f"2025-03-{1 + n % 28:02d}T08:00:00+07:00"))
    s.upsert_documents(docs)
    every = s.search(SearchQuery.paged(1, 5, text="hội nghị", facets=True))
    assert every.total == 60 and every.rank_exact and every.to_api()["rank_exact"] is True
    assert all(h.exact for h in every)

    monkeypatch.setattr(sqlite_search, "RANK_ALL_UP_TO", 10)
    monkeypatch.setattr(sqlite_search, "RANK_CANDIDATES", 8)
    ranked = s.search(SearchQuery.paged(1, 5, text="hội nghị", facets=True))
    assert ranked.total == 60 and ranked.facets == every.facets  # only the ranking is approximate
    assert not ranked.rank_exact and ranked.to_api()["rank_exact"] is False
    # the newest title matches of the exact spelling, exact first as when every match is ranked
    assert all(h.exact and h.document.title.startswith("Hội nghị") for h in ranked)
    assert {h.document.url for h in ranked} <= {f"http://127.0.0.1/a/{n}.html" for n in range(36, 61, 3)}
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    # folded queries rank their title candidates too; a page deeper than the candidates ranks every match
    folded = s.search(SearchQuery.paged(1, 5, text="hoi nghi"))
    assert not folded.rank_exact and all("nghi" in h.document.title.lower().replace("ị", "i") for h in folded)
    deep = s.search(SearchQuery.paged(2, 5, text="hội nghị"))
    assert deep.rank_exact and [h.document.url for h in deep] == [
        h.document.url for h in s.search(SearchQuery.paged(2, 5, text="hội nghị", sort="relevance"))]
    for sort in ("date", "views"):  # other orders never approximate
        assert s.search(SearchQuery.paged(1, 5, text="hội nghị", sort=sort)).rank_exact
