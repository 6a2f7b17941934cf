"""Highlighted snippets: the words of a query marked in a text, the same for every backend.

A query word is marked wherever the text has it, with or without diacritics and in either
tone placement ("hoà" marks "Hòa"); an abbreviation marks every spelling of its concept
("UBND" marks "Ủy ban nhân dân" too); a prefix marks the words it starts.  Excluded words
are not marked.  The result comes twice: escaped HTML with ``<mark>…</mark>`` (crawled
text is hostile: nothing of it reaches the page unescaped) and plain text for a terminal
(control characters removed by :func:`pipelines.search.analysis.clean`).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines.search.analysis import clean, fold, tokens
from pipelines.search.query import Abbreviation, Query

logger = logging.getLogger(__name__)

__all__ = ["MARK_END", "MARK_START", "Highlight", "highlight", "snippet"]

MARK_START = "<mark>"
MARK_END = "</mark>"
#: Snippet length in characters (a little more to end on a word).
SNIPPET_WIDTH = 220


@dataclass(frozen=True)
class Highlight:
    """A text (or a window of it) with the query's matches."""

    text: str
    spans: tuple[tuple[int, int], ...]
    #: The window starts after the beginning / ends before the end of the whole text.
    cut_start: bool = False
    cut_end: bool = False

    @property
    def plain(self) -> str:
        """The text as one line for a terminal, "…" where it was cut."""
        return ("…" if self.cut_start else "") + self.text + ("…" if self.cut_end else "")

    @property
    def html(self) -> str:
        """Escaped HTML, matches in ``<mark>…</mark>``."""
        out = ["…" if self.cut_start else ""]
        pos = 0
        for s, e in self.spans:
            out.append(html.escape(self.text[pos:s]))
            out.append(MARK_START + html.escape(self.text[s:e]) + MARK_END)
            pos = e
        out.append(html.escape(self.text[pos:]))
        out.append("…" if self.cut_end else "")
        return "".join(out)

    @property
    def marked(self) -> str:
        """Plain text with ``<mark>…</mark>`` around matches and nothing escaped (for a
        terminal that shows the marks in colour)."""
        out = ["…" if self.cut_start else ""]
        pos = 0
        for s, e in self.spans:
            out += [self.text[pos:s], MARK_START, self.text[s:e], MARK_END]
            pos = e
        out += [self.text[pos:], "…" if self.cut_end else ""]
        return "".join(out)


def _patterns(query: Query) -> list[tuple[tuple[str, ...], bool]]:
    """(folded words, last word is a prefix) of everything the query marks."""
    out: list[tuple[tuple[str, ...], bool]] = []

    def add(words: tuple[str, ...], prefix: bool) -> None:
        if words and (words, prefix) not in out:
            out.append((words, prefix))

    for leaf in query.leaves():
        if isinstance(leaf, Abbreviation):
            add(leaf.written.folded, False)
            for form in leaf.concept.forms:
                add(tuple(fold(w) for w in form), False)
        else:
            add(leaf.folded, leaf.prefix)
    return out


def _find(text: str, query: Query) -> list[tuple[int, int]]:
    toks = tokens(text)
    folded = [fold(w) for _, _, w in toks]
    by_first: dict[str, list[tuple[tuple[str, ...], bool]]] = {}
    prefixes: list[str] = []
    for words, prefix in _patterns(query):
        if prefix and len(words) == 1:
            prefixes.append(words[0])
        else:
            by_first.setdefault(words[0], []).append((words, prefix))
    spans: list[tuple[int, int]] = []
    for i, word in enumerate(folded):
        for p in prefixes:
            if word.startswith(p):
                spans.append((toks[i][0], toks[i][1]))
        for words, prefix in by_first.get(word, ()):
            n = len(words)
            if i + n > len(folded) or folded[i + 1:i + n - 1] != list(words[1:-1]):
                continue
            last = folded[i + n - 1]
            if n == 1 or (last.startswith(words[-1]) if prefix else last == words[-1]):
                spans.append((toks[i][0], toks[i + n - 1][1]))
    return _merge(sorted(spans), text)


def _merge(spans: Iterable[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Join overlapping spans and spans separated only by white space."""
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and (s <= merged[-1][1] or not text[merged[-1][1]:s].strip()):
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _one_line(text: str | None) -> str:
    return " ".join(clean(text).split())


def highlight(text: str | None, query: Query) -> Highlight:
    """The whole of ``text`` (on one line) with the query's matches."""
    line = _one_line(text)
    return Highlight(text=line, spans=tuple(_find(line, query)))


def snippet(texts: str | Sequence[str | None] | None, query: Query, width: int = SNIPPET_WIDTH) -> Highlight:
    """A window of about ``width`` characters around the first match.  With several texts
    (summary, body …), the first that has a match, else the first that is not empty."""
    candidates = [texts] if texts is None or isinstance(texts, str) else list(texts)
    lines = [line for line in map(_one_line, candidates) if line]
    if not lines:
        return Highlight(text="", spans=())
    chosen, spans = lines[0], []
    for line in lines:
        found = _find(line, query)
        if found:
            chosen, spans = line, found
            break
    start = 0
    if spans:
        start = max(0, spans[0][0] - width // 3)
        if start > 0:
            space = chosen.rfind(" ", 0, start)
            start = space + 1 if space != -1 and start - space < 30 else start
    end = min(len(chosen), start + width)
    if end < len(chosen):
        space = chosen.find(" ", end)
        end = space if space != -1 and space - end < 30 else end
    window = chosen[start:end]
    inner = tuple((s - start, e - start) for s, e in spans if s >= start and e <= end)
    lead = len(window) - len(window.lstrip())
    trail = len(window.rstrip())
    inner = tuple((s - lead, e - lead) for s, e in inner if s >= lead and e <= trail)
    return Highlight(text=window.strip(), spans=inner, cut_start=start > 0, cut_end=end < len(chosen))
