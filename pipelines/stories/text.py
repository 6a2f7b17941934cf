"""The text a story signature is made of: one article body reduced to what reprints keep.

Reprints of one press release differ in what the copier adds around the text, not in the
text: a caption line ("… Ảnh: X", "(Ảnh minh họa)"), a source line ("Nguồn: …",
"(Theo Báo Lào Cai)", "Theo laocai.gov.vn"), "(Còn nữa)", a byline at the end, the portal's
dateline ("(VB) - ", "(Cổng TTĐT tỉnh) - ") and a local intro ("… xin giới thiệu …:").
:func:`story_lines` drops those lines, by general rules (no portal names);
:func:`story_words` gives the words of what is left, folded the way search folds them
(:mod:`pipelines.search.analysis`: NFC, invisible characters removed, tone placement
unified, no diacritics, lower case), with numbers written one way ("13.099" = "13099",
"m²" = "m2", "05/08" = "5/8").

:func:`distinctive_tokens` picks what tells two announcements of one template apart:
numbers and dates, and proper names (runs of capitalised words inside a sentence).

All functions are pure and never raise on any ``str``.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from pipelines.normalize.text import normalize_paragraphs
from pipelines.search.analysis import fold, folded_words

logger = logging.getLogger(__name__)

__all__ = ["distinctive_tokens", "story_lines", "story_words", "words_and_tokens"]

#: A line this short (in words) can be a caption, a source or a byline; longer ones are text.
SHORT_LINE = 30
#: Trailing lines this short (a byline, "Xem chi tiết tại đây.") are dropped.
BYLINE_WORDS = 8

# Rules run on the folded line (lower case, no diacritics), so NFD, old tone marks and a
# missing diacritic do not matter.
_CAPTION = re.compile(r"(?:^|[\s(.])anh(?:\s+minh(?:\s+hoa)?)?\s*(?::|\)|$)")
# "Nguồn: …", "… (Nguồn: …)", "(Theo Báo Lào Cai)", "Theo laocai.gov.vn" — not "Theo đồng chí X, …".
_SOURCE = re.compile(r"^\(?\s*nguon\s*:|\(\s*(?:nguon|theo)\b[^()]*\)\s*$|^theo\s[^,;]*$")
#: A source line is at most this many words.
SOURCE_WORDS = 15
_MORE = re.compile(r"^\(?\s*(?:con nua|con tiep|xem tiep|xem chi tiet|xem them|doc tiep)\b")
_INTRO = re.compile(r"\b(?:gioi thieu|dang tai|dang lai|trich dang|dang nguyen van)\b")
_DATELINE = re.compile(r"^\s*\([^()]{1,60}\)\s*[-–—]+\s*")
# Numbers: thousands dots go ("13.099" -> "13099"), leading zeros of date parts go.
# (These patterns start with what they match and look behind after it, so the regex engine
# jumps from one candidate character to the next instead of trying every position.)
_THOUSANDS = re.compile(r"\.(?<=\d\.)(?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d(?<!\w\d)\d*(?:[/,.:]\d+)*")  # a number not inside a word
_LEADING_ZEROS = re.compile(r"0(?<![\d,.]0)0*(?=\d)")
# A proper name: two or more capitalised words in a row (NFC text).
_UPPER = "".join(c for c in map(chr, range(0x41, 0x1F00)) if c.isupper())
_CAPITAL_RUN = re.compile(rf"[{_UPPER}](?<![^\W_][{_UPPER}])[^\W_]*(?:[ \t]+[{_UPPER}][^\W_]*)+")
_SENTENCE_END = ".!?;:"


def _fold_line(line: str) -> str:
    return fold(line).strip()


def _is_furniture(folded: str, n_words: int) -> bool:
    """A caption, source or "read more" line: not part of the story's text."""
    if n_words > SHORT_LINE:
        return False
    if n_words <= SOURCE_WORDS and _SOURCE.search(folded):
        return True
    return bool(_CAPTION.search(folded) or _MORE.search(folded))


def story_lines(body: str | None) -> list[str]:
    """The paragraphs of ``body`` (NFC, invisible characters removed) without captions,
    source lines, "(Còn nữa)", trailing bylines, the leading dateline and a local intro."""
    lines = normalize_paragraphs(body or "").split("\n")
    kept: list[str] = []
    for line in lines:
        folded = _fold_line(line)
        if not folded or _is_furniture(folded, len(folded.split())):
            continue
        kept.append(line)
    while kept and len(kept[-1].split()) <= BYLINE_WORDS:
        kept.pop()
    if len(kept) > 1:
        first = _fold_line(kept[0])
        # A local intro: one sentence that announces the text and ends with a colon.
        if first.endswith(":") and _INTRO.search(first) and len(first.split()) <= 60:
            kept.pop(0)
    if kept:
        kept[0] = _DATELINE.sub("", kept[0], count=1)
        if not kept[0]:
            kept.pop(0)
    return kept


def _numbers_one_way(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)  # "m²" -> "m2", full-width digits
    return _LEADING_ZEROS.sub("", _THOUSANDS.sub("", text))


def story_words(lines: list[str]) -> list[str]:
    """The folded words of the lines of :func:`story_lines`, numbers written one way."""
    return _words_of(_numbers_one_way("\n".join(lines)))


def _words_of(text: str) -> list[str]:
    # the same as fold_words(" ".join(words(text))).split(): folding is character by character
    return " ".join(folded_words(text)).split()


def words_and_tokens(lines: list[str]) -> tuple[list[str], frozenset[str]]:
    """:func:`story_words` and :func:`distinctive_tokens` of the same lines, with their
    numbers written one way once for both."""
    text = _numbers_one_way("\n".join(lines))
    return _words_of(text), _tokens_of(text)


def _names(line: str) -> list[str]:
    """Runs of two or more capitalised words; a sentence's first word does not count."""
    out = []
    for m in _CAPITAL_RUN.finditer(line):
        name = m.group()
        before = line[:m.start()].rstrip()
        if not before or before[-1] in _SENTENCE_END:
            parts = name.split(None, 1)
            if len(parts) < 2 or " " not in parts[1].strip():
                continue
            name = parts[1]
        out.append(name)
    return out


def distinctive_tokens(lines: list[str] | str) -> frozenset[str]:
    """Numbers and dates ("#5/8/2024", "#13099") and proper names ("@nguyen ngoc khanh")
    of the text: what differs between two announcements made from one template."""
    text = lines if isinstance(lines, str) else "\n".join(lines)
    return _tokens_of(_numbers_one_way(text))


def _tokens_of(text: str) -> frozenset[str]:
    out = {"#" + m.group().rstrip(".,:/") for m in _NUMBER.finditer(text)}
    for line in text.split("\n"):
        out.update("@" + fold(name) for name in _names(line))  # folded: tone placement is moot
    return frozenset(out)
