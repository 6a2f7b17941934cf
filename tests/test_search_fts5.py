"""The search language on a real SQLite FTS5 table, as the embedded store will run it.

Documents are indexed with :func:`pipelines.search.fields.index_fields` into the six
sibling columns; queries go through :func:`pipelines.search.fts5.to_fts5`.  What a user
notices is checked on a database file: "UBND" and "Ủy ban nhân dân" find the same
documents, "hoà" flags "Hòa" as exact and ranks it above "hóa", "-word" excludes, OR and
prefixes work.  Then Hypothesis: any input gives an expression FTS5 accepts, and FTS5
returns exactly the documents the in-memory evaluator (:mod:`pipelines.search.evaluate`)
says match.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.search.evaluate import IndexedDocument, is_exact, matches
from pipelines.search.fields import Form, column_weights, index_fields, search_fields
from pipelines.search.fts5 import to_fts5
from pipelines.search.query import Query, parse

COLUMNS = search_fields(Form.EXACT) + search_fields(Form.FOLDED)
WEIGHTS = column_weights(COLUMNS)


class Fts:
    """An FTS5 table of the sibling columns, the way a store would use it."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.conn = sqlite3.connect(path)
        self.conn.execute(f"CREATE VIRTUAL TABLE fts USING fts5({', '.join(COLUMNS)}, "
                          "tokenize = 'unicode61 remove_diacritics 0')")
        self.docs: dict[int, IndexedDocument] = {}

    def add(self, rowid: int, title: str = "", summary: str = "", body: str = "") -> None:
        fields = index_fields({"title": title, "summary": summary, "body": body})
        self.conn.execute(f"INSERT INTO fts (rowid, {', '.join(COLUMNS)}) VALUES (?, {', '.join('?' * len(COLUMNS))})",
                          [rowid, *(fields[c] for c in COLUMNS)])
        self.docs[rowid] = IndexedDocument.from_fields(fields)

    def search(self, query: Query) -> list[int]:
        """Row ids of the hits, best first (bm25 with the column weights, then rowid)."""
        expr = to_fts5(query)
        if expr.match:
            weights = ", ".join(map(str, WEIGHTS))
            sql = f"SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, {weights}), rowid"
            return [r for (r,) in self.conn.execute(sql, [expr.match])]
        if expr.exclude:
            sql = "SELECT rowid FROM fts WHERE rowid NOT IN (SELECT rowid FROM fts WHERE fts MATCH ?) ORDER BY rowid"
            return [r for (r,) in self.conn.execute(sql, [expr.exclude])]
        return [r for (r,) in self.conn.execute("SELECT rowid FROM fts ORDER BY rowid")]

    def exact(self, query: Query) -> set[int]:
        expr = to_fts5(query)
        if not expr.exact:
            return set()
        return {r for (r,) in self.conn.execute("SELECT rowid FROM fts WHERE fts MATCH ?", [expr.exact])}


def hits(fts: Fts, text: str) -> set[int]:
    return set(fts.search(parse(text)))


DOCS: Mapping[int, tuple[str, str]] = {
    1: ("UBND tỉnh Phú Yên họp phiên thường kỳ", "Sáng nay, UBND tỉnh họp."),
    2: ("Thông báo của xã", "Ủy ban nhân dân xã Sơn Hòa thông báo lịch tiếp dân."),
    3: ("Lịch công tác", "Uỷ ban nhân dân huyện Tuy An làm việc với các sở."),
    4: ("Tin khong dau", "Uy ban nhan dan xa thong bao."),
    5: ("Kỳ họp HĐND", "Hội đồng nhân dân tỉnh khai mạc kỳ họp."),
    6: ("Văn hóa", "Ngày hội văn hóa, văn hóa các dân tộc."),
    7: ("Tin xã Tân Hòa tuần này", "Ngày hội các dân tộc ở địa phương."),
    8: ("Hội nghị tổng kết", "Hội nghị tổng kết năm."),
    9: ("Hội thảo khoa học", "Hội thảo về chuyển đổi số."),
    10: ("Xây dựng nông thôn mới", "Xã đạt chuẩn nông thôn mới."),
    11: ("Kết quả NTM", "Huyện về đích NTM sớm."),
    12: ("Phát triển KT-XH", "Tình hình kinh tế - xã hội quý I."),
}


@pytest.fixture
def demo(tmp_path: Path) -> Fts:
    fts = Fts(tmp_path / "search.db")
    for rowid, (title, body) in DOCS.items():
        fts.add(rowid, title=title, body=body)
    return fts


def test_an_abbreviation_and_its_long_form_find_the_same_documents(demo: Fts) -> None:
    expected = {1, 2, 3, 4}
    for text in ("UBND", "ubnd", '"Ủy ban nhân dân"', '"Uỷ ban nhân dân"', '"uy ban nhan dan"', "Ủy ban nhân dân"):
        assert hits(demo, text) == expected, text
    assert hits(demo, "HĐND") == hits(demo, '"hội đồng nhân dân"') == {5}
    assert hits(demo, "NTM") == hits(demo, '"nông thôn mới"') == {10, 11}
    assert hits(demo, "KT-XH") == hits(demo, "KTXH") == hits(demo, '"kinh tế xã hội"') == {12}


def test_a_phrase_with_an_abbreviation_finds_the_long_form_too(demo: Fts) -> None:
    assert hits(demo, '"UBND tỉnh"') == {1}
    assert hits(demo, '"Ủy ban nhân dân xã"') == {2, 4}
    assert hits(demo, '"UBND xã"') == {2, 4}


def test_hoa_with_the_new_tone_placement_flags_hoa_with_the_old_as_exact_and_ranks_it_first(demo: Fts) -> None:
    q = parse("hoà")
    ranked = demo.search(q)
    assert set(ranked) == {2, 6, 7}  # Sơn Hòa, Văn hóa, Tân Hòa: without diacritics all are "hoa"
    assert demo.exact(q) == {2, 7}
    assert ranked.index(7) < ranked.index(6)  # "Tân Hòa" above "Văn hóa", the example
    # ... thanks to the exact spelling: on the folded words alone "Văn hóa" (three times) wins
    weights = ", ".join(map(str, WEIGHTS))
    folded_only = to_fts5(parse("hoa")).match
    plain = [r for (r,) in demo.conn.execute(
        f"SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, {weights})", [folded_only])]
    assert plain.index(6) < plain.index(7)
    assert demo.exact(parse("hòa")) == {2, 7}  # the old placement in the query too


def test_without_diacritics_nothing_is_exact(demo: Fts) -> None:
    assert demo.exact(parse("hoa")) == set()


def test_minus_excludes(demo: Fts) -> None:
    assert hits(demo, "hoi") == {5, 6, 7, 8, 9, 12}
    assert hits(demo, "hoi -nghi") == {5, 6, 7, 9, 12}
    assert hits(demo, 'hội -"hội nghị" -thảo') == {5, 6, 7, 12}
    assert hits(demo, "-hoi") == set(DOCS) - {5, 6, 7, 8, 9, 12}
    assert hits(demo, "ngày -UBND") == {6, 7}


def test_or_and_prefixes(demo: Fts) -> None:
    assert hits(demo, "thảo OR NTM") == {9, 10, 11}
    assert hits(demo, "chuyen* OR tổng") == {8, 9}
    assert hits(demo, '"hoi ngh"*') == {8}
    assert hits(demo, "xa") == {2, 4, 7, 10, 12}
    assert hits(demo, 'xa -UBND -"hoi" OR OR') == {10}


def test_a_title_match_outranks_a_body_match(demo: Fts) -> None:
    ranked = demo.search(parse("thông báo"))
    assert ranked[0] == 2  # "Thông báo" in the title; doc 4 has it without diacritics in the body


TYPICAL = ["UBND", "HĐND", "hdnd", '"Ủy ban nhân dân"', "Ủy ban nhân dân tỉnh", '"UBND xã"', "hoà", "hòa", "hoa",
           "hoi nghi", '"hội nghị"', "hoi -nghi", "thảo OR NTM", "chuyen*", '"hoi ngh"*', "KT-XH", "-ubnd",
           "văn hóa OR NTM -xã", "nông thôn mới", "VH-TT", "thông báo", "x*", "2024"]


@pytest.mark.parametrize("text", TYPICAL)
def test_typical_queries_return_what_the_evaluator_matches(demo: Fts, text: str) -> None:
    q = parse(text)
    found = set(demo.search(q))
    assert found == {rowid for rowid, doc in demo.docs.items() if matches(q, doc)}
    assert demo.exact(q) & found == {rowid for rowid, doc in demo.docs.items() if is_exact(q, doc)}


def test_an_empty_query_matches_everything(demo: Fts) -> None:
    assert demo.search(parse('- * OR ""')) == sorted(DOCS)


# --- properties ----------------------------------------------------------------------------------

VOCAB = ["hội", "Hội", "hoi", "nghị", "nghi", "Hòa", "hoà", "hóa", "hoá", "hoa", "bình", "binh", "UBND", "Ủy",
         "Uỷ", "uy", "ban", "nhân", "dân", "nhan", "dan", "tỉnh", "tinh", "KT-XH", "kinh", "tế", "xã", "HĐND", "HDND",
         "đồng", "dong", "nông", "thôn", "mới", "NTM", "thủy", "thuỷ", "lợi", "văn", "VH-TT", "thể", "thao", "thông",
         "tin", "chuyển", "chuyên", "đổi", "số", "an", "toàn", "thực", "phẩm", "ATTP", "2024", "x"]
SEPARATORS = [" ", " ", " ", ", ", ". ", " - ", "\n", " & "]

texts = st.lists(st.tuples(st.sampled_from(VOCAB), st.sampled_from(SEPARATORS)), max_size=12).map(
    lambda parts: "".join(w + s for w, s in parts))
documents = st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=8)
ABBREVIATED = ["UBND", '"Ủy ban nhân dân"', "HĐND", "HDND", '"hội đồng nhân dân"', "KT-XH", "NTM", "VH-TT", "ATTP",
               '"UBND tỉnh"', '"uy ban nhan dan xa"']
query_pieces = st.one_of(st.sampled_from(VOCAB), st.sampled_from(ABBREVIATED), st.sampled_from(['"', "-", "*", " OR ", " ", " ", "-\""]),
                         st.sampled_from(["th*", "ngh*", "ho*", "tin*", "ch*", "đô*", "nh*", "kinh t*"]))
queries = st.lists(query_pieces, max_size=10).map("".join)


def _corpus(docs: Sequence[tuple[str, str, str]]) -> Fts:
    fts = Fts()
    for i, (title, summary, body) in enumerate(docs, 1):
        fts.add(i, title, summary, body)
    return fts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, queries)
@example([("UBND tỉnh", "", "Ủy ban nhân dân xã")], '"Ủy ban nhân dân"')
@example([("hòa bình", "", "")], "hoà* -x")
@example([("x", "", "")], "-x")
@example([("HĐND tỉnh", "", "hội đồng nhân dân")], "HĐND")
def test_fts5_returns_exactly_the_documents_the_evaluator_matches(docs: list[tuple[str, str, str]],
                                                                  text: str) -> None:
    fts = _corpus(docs)
    q = parse(text)
    found = fts.search(q)
    assert len(found) == len(set(found))
    expected = {rowid for rowid, doc in fts.docs.items() if matches(q, doc)}
    assert set(found) == expected
    exact = {rowid for rowid, doc in fts.docs.items() if is_exact(q, doc)}
    assert fts.exact(q) & set(found) == exact & expected


@pytest.fixture(scope="module")
def any_table() -> Fts:
    fts = Fts()
    fts.add(1, "Hội nghị UBND", "tóm tắt", "nội dung KT-XH")
    return fts


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), queries, st.text(alphabet=st.characters(codec="utf-8"))))
@example('"')
@example("\u0301")
@example('a"b"c -"')
@example("*")
@example("NEAR(a b, 3) OR ^title AND NOT {x}: -")
def test_any_input_renders_to_an_expression_fts5_accepts(any_table: Fts, text: str) -> None:
    expr = to_fts5(parse(text))
    for sql in (expr.match, expr.exclude, expr.exact):
        if sql:
            any_table.conn.execute("SELECT rowid FROM fts WHERE fts MATCH ?", [sql]).fetchall()


def test_the_largest_query_is_still_one_fts5_can_run(any_table: Fts) -> None:
    phrase = '"UBND HĐND KT-XH NTM ATTP tỉnh {i}"'
    text = " OR ".join(phrase.format(i=i) for i in range(20)) + " " + " ".join(
        f"-{phrase.format(i=i)} hòa{i}*" for i in range(40))
    q = parse(text)
    expr = to_fts5(q)
    assert expr.match and len(expr.match) > 10_000
    for sql in (expr.match, expr.exclude, expr.exact):
        any_table.conn.execute("SELECT rowid FROM fts WHERE fts MATCH ?", [sql]).fetchall()
