"""A document carrying the indexed forms its extraction made is stored and searched exactly
like one without them; forms made of other text or with other abbreviations are ignored.

The crawl's extraction worker analyses an article's title, summary and body for the search
index (:func:`pipelines.search.indexed_texts`, with the store's abbreviations) so that the
crawl's own process does not; the store must give the same index either way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pipelines.search import IndexedTexts, index_fields, indexed_texts, load_abbreviations
from pipelines.search.abbreviations import default_abbreviations
from pipelines.stages.extraction_pool import extract_one
from pipelines.storage import Document, SearchQuery
from pipelines.storage.sqlite import SQLiteStore

ABBR = default_abbreviations()

DOCS = [
    ("https://a.example.gov.vn/tin/1.html", "UBND tỉnh họp bàn kế hoạch KT-XH",
     "Sáng nay Ủy ban nhân dân tỉnh tổ chức hội nghị về vệ sinh an toàn thực phẩm năm 2025.", "Tóm tắt hội nghị"),
    ("https://a.example.gov.vn/tin/2.html", "Hội đồng nhân dân huyện khai mạc kỳ họp",
     "HĐND huyện khai mạc kỳ họp thứ mười, bàn về thủy lợi và người dân vùng khó khăn.", None),
    ("https://a.example.gov.vn/tin/3.html", "Mặt trận Tổ quốc thăm hỏi gia đình chính sách",
     "Đoàn công tác của Mặt trận Tổ quốc thăm hỏi, tặng quà các gia đình chính sách trong tỉnh.", ""),
]
QUERIES = ["ubnd", "ủy ban nhân dân", "uy ban nhan dan", "hđnd", "hoi dong nhan dan", "thuỷ lợi", "an toàn thực phẩm",
           "mat tran to quoc", "kt-xh", "kinh tế xã hội", "khó khăn", "tóm tắt", "quà"]


def _docs(with_indexed: IndexedTexts | str | None) -> list[Document]:
    out = []
    for url, title, body, summary in DOCS:
        doc = Document(url=url, portal_id="p1", title=title, body=body, summary=summary,
                       published_at="2025-03-01T08:00:00+07:00", crawled_at="2025-03-02T00:00:00+00:00")
        if with_indexed == "made":
            doc.indexed_texts = indexed_texts((title, summary, body), ABBR)
        elif isinstance(with_indexed, IndexedTexts):
            doc.indexed_texts = with_indexed
        out.append(doc)
    return out


def _answers(store: SQLiteStore) -> list[list[tuple[str, bool]]]:
    return [[(hit.document.url, hit.exact) for hit in store.search(SearchQuery(text=q)).hits] for q in QUERIES]


def _index_keys(path: Path) -> list[tuple[str, str | None]]:
    con = sqlite3.connect(str(path))
    try:
        return con.execute("SELECT url, index_keys FROM search_meta ORDER BY url").fetchall()
    finally:
        con.close()


def _store(path: Path, docs: list[Document]) -> SQLiteStore:
    store = SQLiteStore(path)
    store.open()
    store.upsert_documents(docs)
    return store


def test_documents_with_the_extractions_indexed_forms_are_found_exactly_as_without(tmp_path: Path) -> None:
    plain = _store(tmp_path / "plain.db", _docs(None))
    made = _store(tmp_path / "made.db", _docs("made"))
    try:
        answers = _answers(plain)
        assert answers[0], "the abbreviation UBND finds the article"
        assert all(answers), "every query finds something"
        assert _answers(made) == answers
        assert _index_keys(tmp_path / "made.db") == _index_keys(tmp_path / "plain.db")
        # a rewrite of the same text (the indexed forms given again) changes nothing either
        made.upsert_documents(_docs("made"))
        assert _answers(made) == answers
    finally:
        plain.close()
        made.close()


def test_forms_made_of_other_text_or_with_other_abbreviations_are_not_used(tmp_path: Path) -> None:
    other_text = indexed_texts(("Bão số 3 đổ bộ", None, "Bão số 3 gây mưa lớn ở miền Bắc."), ABBR)
    store = _store(tmp_path / "s.db", _docs(other_text))
    try:
        assert store.search(SearchQuery(text="bão")).total == 0
        assert store.search(SearchQuery(text="ubnd")).total == 1
    finally:
        store.close()
    # the same text analysed with a longer abbreviation list: another fingerprint
    extra = tmp_path / "extra.yaml"
    extra.write_text("abbreviations:\n  - short: [TTXVN]\n    long: [Thông tấn xã Việt Nam]\n", encoding="utf-8")
    other_list = load_abbreviations(extra)
    assert other_list.fingerprint != ABBR.fingerprint
    title, body, summary = DOCS[0][1], DOCS[0][2] + " Theo TTXVN.", DOCS[0][3]
    plain, doc = _docs(None)[0], _docs(None)[0]
    plain.body = doc.body = body
    doc.indexed_texts = indexed_texts((title, summary, body), other_list)
    assert doc.indexed_texts.fields[2].exact_keys, "the other list gives the body a key of its own"
    stores = [_store(tmp_path / "plain2.db", [plain]), _store(tmp_path / "t.db", [doc])]
    try:
        assert _answers(stores[1]) == _answers(stores[0])
        assert _index_keys(tmp_path / "t.db") == _index_keys(tmp_path / "plain2.db")
    finally:
        for s in stores:
            s.close()


def test_index_fields_with_the_indexed_forms_equal_those_without() -> None:
    for _url, title, body, summary in DOCS:
        fields = {"title": title, "summary": summary, "body": body}
        made = indexed_texts((title, summary, body), ABBR)
        assert index_fields(fields, ABBR, made) == index_fields(fields, ABBR)
        assert index_fields({**fields, "body": body + " thêm"}, ABBR, made) == index_fields(
            {**fields, "body": body + " thêm"}, ABBR)


def test_the_extraction_worker_makes_the_forms_of_an_articles_stored_text() -> None:
    html = ("<html><head><title>UBND tỉnh họp bàn kế hoạch</title></head><body><article>"
            "<h1>UBND tỉnh họp bàn kế hoạch phát triển KT-XH năm 2025</h1>"
            "<div class='date'>Ngày 01/03/2025 08:00</div><div class='content'>"
            + "".join(f"<p>Đoạn {i}: Ủy ban nhân dân tỉnh tổ chức hội nghị bàn về kế hoạch phát triển "
                      f"kinh tế xã hội, an toàn thực phẩm và thủy lợi cho người dân trong tỉnh.</p>" for i in range(6))
            + "</div></article></body></html>")
    result, _, _, _, made = extract_one(html, "https://a.example.gov.vn/tin/9.html", "auto", None,
                                        "2025-03-02T00:00:00+00:00", ABBR)
    assert result.is_article
    assert made is not None
    texts = (result.title or "", result.summary, result.body)
    assert made.for_texts(texts, ABBR) == indexed_texts(texts, ABBR).fields
    # without the store's abbreviations the worker leaves the analysis to the store
    assert extract_one(html, "https://a.example.gov.vn/tin/9.html", "auto", None,
                       "2025-03-02T00:00:00+00:00")[4] is None
