"""The story signature's fast path gives what its plain definition gives.

Every article written is signed (:func:`pipelines.storage.stories_engine.story_source`), so
the steps are written for speed: the numbers of a text are made one way once for its words
and its tokens, shingles are cut with ``zip``, paragraphs are only stripped of invisible
characters when they have some.  A changed signature would split stored stories from new
ones (the version says when signatures must be made again), so the fields of 300 bodies of
the stories fixture are checked against those recorded before the fast path.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.normalize.text import normalize_paragraphs, strip_invisible
from pipelines.search.analysis import fold_words, words
from pipelines.storage.stories_engine import story_source
from pipelines.stories.signature import shingles
from pipelines.stories.text import (
    _CAPITAL_RUN,
    _NUMBER,
    _UPPER,
    _numbers_one_way,
    distinctive_tokens,
    story_lines,
    story_words,
    words_and_tokens,
)

ARTICLES = Path(__file__).parent / "fixtures" / "stories" / "articles.jsonl"
#: sha256 of the story fields of the first 300 bodies, as signed before the fast path.
RECORDED = "39ed84bcea517e48b96f4581fba2a6943857dd856c6151da683a4b45c5dd8937"

_PIECES = ["Hội nghị", "UBND", "13.099", "05/08/2024", "m²", "Nguyễn Ngọc Khánh", "Ảnh: X", "(Theo Báo Lào Cai)",
           "\u200b", "\u00ad", "\x00", "\x07", "\r", "\x85", "\u00a0", "\n", "  ", ". ", "hoà", "ｆｕｌｌ"]
texts = st.lists(st.sampled_from(_PIECES) | st.text(max_size=8), max_size=40).map("".join)


def test_the_story_fields_of_the_fixture_bodies_are_the_recorded_ones() -> None:
    with ARTICLES.open(encoding="utf-8") as f:
        bodies = [json.loads(line).get("body") or "" for line in f][:300]
    digest = hashlib.sha256()
    for body in bodies:
        digest.update(json.dumps(story_source("x", body), sort_keys=True).encode())
    assert digest.hexdigest() == RECORDED


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_normalize_paragraphs_strips_what_strip_invisible_strips(text: str) -> None:
    plain = normalize_paragraphs(strip_invisible(text))
    assert normalize_paragraphs(text) == plain


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_story_words_and_tokens_are_the_plain_definitions(text: str) -> None:
    lines = story_lines(text)
    plain_words = fold_words(" ".join(words(_numbers_one_way("\n".join(lines))))).split()
    assert story_words(lines) == plain_words
    assert words_and_tokens(lines) == (plain_words, distinctive_tokens(lines))


@given(st.lists(st.sampled_from(["a", "b", "hội", "nghị", ""]), max_size=12), st.integers(1, 4))
def test_shingles_are_every_run_of_size_words(text_words: list[str], size: int) -> None:
    if len(text_words) <= size:
        plain = {" ".join(text_words)} if text_words else set()
    else:
        plain = {" ".join(text_words[i:i + size]) for i in range(len(text_words) - size + 1)}
    assert shingles(text_words, size) == plain


_OLD_THOUSANDS = re.compile(r"(?<=\d)\.(?=\d{3}(?!\d))")
_OLD_LEADING_ZEROS = re.compile(r"(?<![\d,.])0+(?=\d)")
_NUMBERISH = st.lists(st.sampled_from(["0", "00", "1", "13", ".", ",", "/", ":", "099", " ", "a", "²", "０"]),
                      max_size=20).map("".join)


@settings(max_examples=500, deadline=None)
@given(_NUMBERISH)
def test_numbers_are_written_one_way_as_by_the_plain_patterns(text: str) -> None:
    plain = unicodedata.normalize("NFKC", text)
    plain = _OLD_LEADING_ZEROS.sub("", _OLD_THOUSANDS.sub("", plain))
    assert _numbers_one_way(text) == plain


@settings(max_examples=300, deadline=None)
@given(texts)
def test_paragraphs_are_collapsed_as_by_the_plain_pattern(text: str) -> None:
    cleaned = unicodedata.normalize("NFC", strip_invisible(text))
    pieces = (re.sub(r"[^\S\n]+", " ", x).strip() for x in re.split(r"\s*\n\s*", cleaned))
    assert normalize_paragraphs(text, decode_entities=False) == "\n".join(p for p in pieces if p)


_OLD_NUMBER = re.compile(r"(?<!\w)\d+(?:[/,.:]\d+)*")
_OLD_CAPITAL_RUN = re.compile(rf"(?<![^\W_])[{_UPPER}][^\W_]*(?:[ \t]+[{_UPPER}][^\W_]*)+")
_NAMEISH = st.lists(st.sampled_from(["Nguyễn", "Ngọc", "Khánh", "Bát", "Xát", "x", "1", "05", "/", ".", " ", "\t",
                                     "\n", "_", "Đ", "a1", "É"]), max_size=16).map("".join)


@settings(max_examples=500, deadline=None)
@given(_NUMBERISH | _NAMEISH)
def test_numbers_and_names_are_found_as_by_the_plain_patterns(text: str) -> None:
    assert [m.span() for m in _NUMBER.finditer(text)] == [m.span() for m in _OLD_NUMBER.finditer(text)]
    assert [m.span() for m in _CAPITAL_RUN.finditer(text)] == [m.span() for m in _OLD_CAPITAL_RUN.finditer(text)]
