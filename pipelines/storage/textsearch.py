"""Backend-neutral search helpers: diacritic folding, query parsing, snippets.

Every backend uses these so that ``portalnews search`` gives the same highlighted
snippets whichever store answers.  :func:`fold` is length-preserving (one output
character per input character), so a match found in the folded text can be
highlighted at the same offsets in the original.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

logger = logging.getLogger(__name__)

MARK_START = "<mark>"
MARK_END = "</mark>"
_WORD = re.compile(r"\w+", re.UNICODE)
_QUERY_PART = re.compile(r'"([^"]*)"|(\S+)')


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in "đĐ":
        return "d"
    base = unicodedata.normalize("NFD", ch)[0]
    low = base.lower()
    return low[0] if low else base


def fold(text: str) -> str:
    """Lower-case and strip Vietnamese diacritics ("Hội nghị" -> "hoi nghi"), same length."""
    text = unicodedata.normalize("NFC", text)
    return "".join(_fold_char(ch) if ord(ch) > 127 else ch.lower() for ch in text)


@dataclass(frozen=True)
class ParsedQuery:
    """A user query: a list of terms, each a tuple of words (a phrase when longer than one)."""

    terms: tuple[tuple[str, ...], ...]

    @property
    def words(self) -> list[str]:
        return [w for term in self.terms for w in term]

    @property
    def folded_terms(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(fold(w) for w in term) for term in self.terms)

    @property
    def has_diacritics(self) -> bool:
        return any(fold(w) != w.lower() for w in self.words)

    def fts5(self, folded: bool = True) -> str:
        """An FTS5 MATCH expression: all terms required, phrases kept in order."""
        parts = []
        for term in self.folded_terms if folded else self.terms:
            parts.append('"' + " ".join(w.replace('"', "") for w in term) + '"')
        return " AND ".join(parts)


def parse_query(text: str) -> ParsedQuery:
    """Split a query into words and "quoted phrases"; punctuation is ignored."""
    text = unicodedata.normalize("NFC", text or "")
    terms: list[tuple[str, ...]] = []
    for phrase, word in _QUERY_PART.findall(text):
        words = tuple(_WORD.findall(phrase if phrase else word))
        if not words:
            continue
        if phrase:
            terms.append(words)
        else:
            terms.extend((w,) for w in words)
    return ParsedQuery(tuple(terms))


def _term_pattern(term: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in term) + r"(?!\w)")


def exact_match(text: str, query: ParsedQuery) -> bool:
    """True when every term appears with its exact diacritics (case-insensitive)."""
    low = unicodedata.normalize("NFC", text).lower()
    return all(_term_pattern(tuple(w.lower() for w in term)).search(low) for term in query.terms)


def _merge_spans(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Join overlapping spans and spans separated only by white space."""
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and (s <= merged[-1][1] or not text[merged[-1][1]:s].strip()):
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def make_snippet(text: str, query: ParsedQuery, width: int = 220) -> str:
    """A window of ``text`` around the first match, matches wrapped in <mark>…</mark>."""
    text = unicodedata.normalize("NFC", text or "").replace("\n", " ")
    if not text:
        return ""
    folded = fold(text)
    spans: list[tuple[int, int]] = []
    for term in query.folded_terms:
        for m in _term_pattern(term).finditer(folded):
            spans.append(m.span())
    spans = _merge_spans(sorted(spans), folded)
    if spans:
        first = spans[0][0]
        start = max(0, first - width // 3)
        if start > 0:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space != -1 and start - space < 30 else start
    else:
        start = 0
    end = min(len(text), start + width)
    if end < len(text):
        space = text.find(" ", end)
        end = space if space != -1 and space - end < 30 else end
    out: list[str] = []
    pos = start
    for s, e in spans:
        if s < pos or e > end:
            continue
        out.append(text[pos:s])
        out.append(MARK_START + text[s:e] + MARK_END)
        pos = e
    out.append(text[pos:end])
    snippet = "".join(out).strip()
    return ("…" if start > 0 else "") + snippet + ("…" if end < len(text) else "")
