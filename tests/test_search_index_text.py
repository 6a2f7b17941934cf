"""index_text / index_fields give what the plain definition gives, on any text.

The write path runs :func:`pipelines.search.analysis.index_text` on every field of every
document, so it is written for speed (form tables read with ``map``, a C-speed scan for
abbreviation starts).  The oracle here is the definition written plainly: each word's exact
form is :func:`normalize_word` of the word as cut, its folded form that without diacritics,
and the keys are those of every concept one of whose spellings occurs (any sub-spelling of
an occurrence included), minus keys already among the words.
"""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.search import index_fields
from pipelines.search.abbreviations import Abbreviations, default_abbreviations
from pipelines.search.analysis import _cut, fold_words, index_text, normalize_word

ABBR = default_abbreviations()


def _concepts_of(abbr: Abbreviations, form: tuple[str, ...], folded: bool) -> set[int]:
    """Concepts with a spelling equal to a contiguous part of ``form`` (exact or folded words)."""
    spellings = {}
    for i, c in enumerate(abbr.concepts):
        for f in c.forms:
            spellings.setdefault(tuple(fold_words(w) for w in f) if folded else f, set()).add(i)
    out: set[int] = set()
    for a in range(len(form)):
        for b in range(a + 1, len(form) + 1):
            out |= spellings.get(form[a:b], set())
    return out


def oracle(text: str | None, abbr: Abbreviations) -> tuple[str, str]:
    exact = [normalize_word(w) for w in _cut(text)]
    folded = [fold_words(w) for w in exact]
    folded_spellings = {tuple(fold_words(w) for w in f) for c in abbr.concepts for f in c.forms}
    exact_spellings = {f for c in abbr.concepts for f in c.forms}
    found_folded: set[int] = set()
    found_exact: set[int] = set()
    for start in range(len(folded)):
        for form in folded_spellings:
            stop = start + len(form)
            if tuple(folded[start:stop]) == form:
                found_folded |= _concepts_of(abbr, form, folded=True)
                if tuple(exact[start:stop]) in exact_spellings:
                    found_exact |= _concepts_of(abbr, tuple(exact[start:stop]), folded=False)
    exact_keys = sorted({abbr.concepts[i].key for i in found_exact} - set(exact)) if found_folded else []
    folded_keys = sorted({abbr.concepts[i].folded_key for i in found_folded} - set(folded))
    return " ".join(exact + exact_keys), " ".join(folded + folded_keys)


_WORDS = ["hội", "nghị", "Hội Nghị", "hòa", "hoà", "HOÀ", "thủy", "thuỷ", "khỏe", "khoẻ", "qúy", "quý", "người",
          "UBND", "ubnd", "Ủy ban nhân dân", "uỷ ban nhân dân", "uy ban nhan dan", "HĐND", "hội đồng nhân dân",
          "an toàn thực phẩm", "vệ sinh an toàn thực phẩm", "Mặt trận Tổ quốc", "KT-XH", "Đảng", "đảng bộ",
          "ḿa", "x", "13.099", "2025", "m²", "ｆｕｌｌ", "İstanbul", "ß", "a_b", "\u200bẩn", "\x07chữ", "ﬁ"]
_SEPARATORS = [" ", "  ", ", ", ".\n", "\n", "_", "-", "/", "(", ")", ":"]


@st.composite
def vietnamese_ish(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_SEPARATORS)), max_size=30))
    text = "".join(w + s for w, s in parts)
    form = draw(st.sampled_from(["NFC", "NFD", "upper", "as is"]))
    if form == "upper":
        return text.upper()
    return text if form == "as is" else unicodedata.normalize(form, text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vietnamese_ish())
def test_index_text_is_the_plain_definition_on_vietnamese_text(text: str) -> None:
    got = index_text(text, ABBR)
    assert (got.exact, got.folded) == oracle(text, ABBR)
    assert got.exact_keys == tuple(got.exact.split()[len(_cut(text)):]) or not got.exact_keys


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_index_text_is_the_plain_definition_on_any_text(text: str) -> None:
    got = index_text(text, ABBR)
    assert (got.exact, got.folded) == oracle(text, ABBR)


def test_index_fields_of_a_document() -> None:
    doc = {"title": "Hội nghị UBND tỉnh", "summary": None, "body": "Ủy ban nhân dân huyện khoẻ"}
    out = index_fields(doc, ABBR)
    assert out["title_exact"] == "hội nghị ubnd tỉnh"
    assert out["title_folded"] == "hoi nghi ubnd tinh"
    assert out["summary_exact"] == out["summary_folded"] == ""
    assert out["body_exact"] == "uỷ ban nhân dân huyện khoẻ ubnd"
    assert out["body_folded"] == "uy ban nhan dan huyen khoe ubnd"
    for field in ("title", "summary", "body"):
        text = doc[field]
        assert (out[f"{field}_exact"], out[f"{field}_folded"]) == oracle(text, ABBR)
