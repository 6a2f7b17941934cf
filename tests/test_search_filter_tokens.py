"""Filters narrow the embedded store's full-text pass (its ``filters`` column of tokens) and
never change what a search finds or how it ranks it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipelines.storage import Document, SearchQuery
from pipelines.storage.sqlite import SQLiteStore
from pipelines.storage.sqlite_search import NARROW_MONTHS, _date_tokens

PROVINCES = ("Phú Yên", "Đắk Lắk", "Hà Nội", "Bến Tre", "Lâm Đồng")
PORTALS = ("ubnd.phuyen-gov", "sonv.daklak.gov.vn", "hanoi.gov.vn", "bentre:8080")
CATEGORIES = ("Tin tức - Sự kiện", "Thông báo", None)
LEVELS = ("province", "commune", "department")
WORDS = ("giao thông", "nông thôn mới", "hội nghị", "cải cách hành chính", "phòng cháy", "du lịch")


def _documents(n: int) -> list[Document]:
    rng = random.Random(7)
    docs = []
    for i in range(n):
        words = rng.sample(WORDS, 3)
        docs.append(Document(
            url=f"http://127.0.0.1/a/{i}.html", portal_id=rng.choice(PORTALS), title=f"Bài {i}: {words[0]}",
            body=" ".join(f"Nội dung về {w} ở xã số {i}." for w in words * rng.randint(1, 4)),
            published_at=f"{rng.choice((2023, 2024, 2025))}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                         f"T{rng.randint(0, 23):02d}:00:00+07:00",
            view_count=rng.randint(0, 5000), crawled_at="2026-01-01T00:00:00+00:00",
            province=rng.choice(PROVINCES), level=rng.choice(LEVELS), category=rng.choice(CATEGORIES)))
    return docs


@pytest.fixture()
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "t.db")
    s.open()
    s.upsert_documents(_documents(400))
    return s


def _every_hit(store: SQLiteStore, **kwargs: object) -> list[tuple[str, float]]:
    result = store.search(SearchQuery(limit=1000, **kwargs))  # type: ignore[arg-type]
    return [(h.document.url, h.score) for h in result]


FILTERS = [
    {"province": "Đắk Lắk", "since": "2024-01-01", "until": "2024-12-31"},
    {"province": "Đắk Lắk"},  # Phú Yên was merged into it in 2025: both provinces' articles
    {"portals": ["bentre:8080", "hanoi.gov.vn"]},
    {"level": "commune", "since": "2024-03-15"},
    {"category": "tin tuc su kien", "until": "2024-02-10"},
    {"since": "2023-11-20T12:00:00+07:00", "until": "2024-01-03"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[",".join(f) for f in FILTERS])
@pytest.mark.parametrize("text", ["giao thong", '"nông thôn mới"', "hội nghị -du"])
def test_a_filtered_search_finds_exactly_the_matching_documents_with_unchanged_scores(
        store: SQLiteStore, filters: dict[str, object], text: str) -> None:
    """What a user sees: the filtered result is the unfiltered result with the other documents
    taken out, in the same order with the same scores."""
    everything = _every_hit(store, text=text)
    passing = {d.url for d in _filtered(store, filters)}
    filtered = _every_hit(store, text=text, **filters)
    assert filtered and len(filtered) < len(everything)
    assert filtered == [hit for hit in everything if hit[0] in passing]


def test_filters_that_tokens_say_exactly_are_not_checked_again(store: SQLiteStore) -> None:
    from pipelines.storage.searching import prepare
    from pipelines.storage.sqlite_search import _narrowing

    conn = store._conn()

    def exact(**filters: object) -> bool | None:
        narrowing = _narrowing(conn, prepare(SearchQuery(text="x", **filters)))  # type: ignore[arg-type]
        return None if narrowing is None else narrowing.exact

    assert exact(province="Đắk Lắk", since="2024-01-01", until="2024-12-31") is True
    assert exact(portals=["bentre:8080"], level="commune", category="Thông báo") is True
    assert exact(province="Đắk Lắk", min_views=10) is False
    assert exact(since="2024-01-15") is False
    assert store.search(SearchQuery(text="giao thong", province="Atlantis")).total == 0
    assert exact(min_views=10) is None


def _filtered(store: SQLiteStore, filters: dict[str, object]) -> list[Document]:
    """The documents that pass ``filters``, by a search without words (search_meta only)."""
    return [h.document for h in store.search(SearchQuery(limit=1000, **filters))]  # type: ignore[arg-type]


def test_an_article_whose_date_changed_is_found_under_its_new_month_only(store: SQLiteStore) -> None:
    doc = Document(url="http://127.0.0.1/x.html", portal_id="hanoi.gov.vn", title="Khánh thành cầu Khương Phãnh",
                   body="Cầu Khương Phãnh được khánh thành.", published_at="2020-05-04T08:00:00+07:00",
                   crawled_at="2026-01-01T00:00:00+00:00", province="Hà Nội")
    store.upsert_documents([doc])
    may = {"since": "2020-05-01", "until": "2020-05-31"}
    assert len(store.search(SearchQuery(text="khuong phanh", **may))) == 1
    doc.published_at = "2020-07-09T08:00:00+07:00"  # the portal corrected it; the text is the same
    doc.province = doc.current_province = "Bến Tre"
    store.upsert_documents([doc])
    assert len(store.search(SearchQuery(text="khuong phanh", **may))) == 0
    assert len(store.search(SearchQuery(text="khuong phanh", province="Hà Nội"))) == 0
    july = store.search(SearchQuery(text="khuong phanh", since="2020-07-01", until="2020-07-31", province="Bến Tre"))
    assert [h.document.url for h in july] == [doc.url]
    store.close()
    store.open()  # what is stored, not what the process remembers
    assert len(store.search(SearchQuery(text="khuong phanh", since="2020-07-01", province="Bến Tre"))) == 1


def test_date_tokens_cover_the_range_with_whole_years_and_stop_at_long_ranges(store: SQLiteStore) -> None:
    conn = store._conn()
    assert _date_tokens(conn, "2024-01-01", "2025-01-01") == (["fy2024"], True)
    assert _date_tokens(conn, "2023-11-20", "2024-02-01") == (["fm202311", "fm202312", "fm202401"], False)
    assert _date_tokens(conn, "2023-12-01", "2024-02-10T00:00:00+07:00") == (["fm202312", "fm202401", "fm202402"],
                                                                             False)
    last = conn.execute("SELECT max(published_at) FROM search_meta").fetchone()[0]
    assert last.startswith("2025-12")
    assert _date_tokens(conn, "2024-05-01", None) == ([f"fm2024{m:02d}" for m in range(5, 13)] + ["fy2025"], True)
    assert _date_tokens(conn, "2020-01-01", f"{2020 + NARROW_MONTHS // 12}-02-01") == (None, False)
    assert _date_tokens(conn, "yesterday", "2024-01-01") == (None, False)
