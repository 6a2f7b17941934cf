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
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipelines.search.analysis import TOKEN, clean, fold, fold_word, fold_words
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


def _index(query: Query) -> tuple[dict[str, list[tuple[str, ...]]], list[tuple[str, ...]], int]:
    """The patterns by their last word, the ones ending in a prefix, the longest length."""
    by_last: dict[str, list[tuple[str, ...]]] = {}
    prefixed: list[tuple[str, ...]] = []
    longest = 0
    for words, prefix in _patterns(query):
        longest = max(longest, len(words))
        if prefix:
            prefixed.append(words)
        else:
            by_last.setdefault(words[-1], []).append(words)
    return by_last, prefixed, longest


def _matches(text: str, query: Query) -> Iterator[tuple[int, int]]:
    """Every match as (start, end) offsets in ``text``, in the order they end."""
    by_last, prefixed, longest = _index(query)
    if not longest:
        return
    recent: list[tuple[int, int, str]] = []  # the last ``longest`` words: (start, end, folded)
    for m in TOKEN.finditer(text):
        word = fold_word(m.group())
        recent.append((m.start(), m.end(), word))
        if len(recent) > longest:
            del recent[0]
        candidates = [w for w in by_last.get(word, ()) if len(w) <= len(recent)]
        candidates += [w for w in prefixed if len(w) <= len(recent) and word.startswith(w[-1])]
        for words in candidates:
            n = len(words)
            if all(recent[k - n][2] == words[k] for k in range(n - 1)):
                yield recent[-n][0], m.end()


#: Where :func:`_first` reads the text as it is: characters that fold to exactly one character
#: (Latin with its diacritics, punctuation).  A text with any other character (a combining
#: mark, a letter that folds to two) is folded first, as :func:`_matches` does.
_DIRECT_RANGES = ((0x20, 0x24F), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x20A0, 0x20CF))


@lru_cache(maxsize=1)
def _fold_classes() -> tuple[dict[str, str], re.Pattern[str]]:
    """For each folded character, a regular-expression class of every character that folds to
    it ("a" -> "[aAàÀáÁ…ặẶ]"); and the pattern of a character outside them."""
    by_fold: dict[str, list[str]] = {}
    direct: list[str] = []
    for lo, hi in _DIRECT_RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            folded = fold_words(ch)
            if len(folded) == 1:
                by_fold.setdefault(folded, []).append(ch)
                direct.append(ch)
    classes = {f: "[" + "".join(re.escape(c) for c in chars) + "]" if len(chars) > 1 else re.escape(f)
               for f, chars in by_fold.items()}
    other = re.compile("[^" + "".join(re.escape(c) for c in direct) + "]")
    return classes, other


@lru_cache(maxsize=256)
def _first_pattern(query: Query) -> re.Pattern[str] | None:
    """Every pattern of ``query`` as one regular expression on the unfolded text: each folded
    letter is the class of the letters that fold to it (no word boundary at its start:
    :func:`_first` checks that, a leading look-behind would make the search slow)."""
    classes, _ = _fold_classes()

    def word(w: str) -> str:
        return "".join(classes.get(c) or re.escape(c) for c in w)

    # the longest first, so that where several start at one word the longest is the match
    patterns = sorted(_patterns(query), key=lambda p: -sum(map(len, p[0])))
    alternatives = [r"[\W_]+".join(map(word, words)) + (r"[^\W_]*" if prefix else r"(?![^\W_])")
                    for words, prefix in patterns]
    return re.compile("(?:" + "|".join(alternatives) + ")") if alternatives else None


def _starts_word(text: str, start: int) -> bool:
    return start == 0 or not (text[start - 1].isalnum() or unicodedata.combining(text[start - 1]))


def _direct_matches(text: str, query: Query) -> Iterator[tuple[int, int]]:
    """What :func:`_matches` finds, for a text whose every character folds to one: the longest
    match starting at each word, found by the regular expression of :func:`_first_pattern`."""
    pattern = _first_pattern(query)
    if pattern is None:
        return
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        start = m.start()
        if _starts_word(text, start):
            yield start, m.end()
        pos = start + 1


def _first(text: str, query: Query) -> int:
    """Where the first match starts in ``text`` (cleaned, one line; -1: none).  A regular
    expression on the text finds it at C speed when every character of the text folds to one
    character (Vietnamese does: measured 0.1 ms for a 2 KB body, where folding the body first
    took 0.7 ms and the whole snippet 2.4 ms); otherwise the words are folded one by one."""
    _, other = _fold_classes()
    if other.search(text) is None:
        pattern = _first_pattern(query)
        if pattern is None:
            return -1
        return next((start for start, _ in _direct_matches(text, query)), -1)
    found = next(_matches(text, query), None)
    return found[0] if found else -1


def _find(text: str, query: Query) -> list[tuple[int, int]]:
    _, other = _fold_classes()
    found = _direct_matches(text, query) if other.search(text) is None else _matches(text, query)
    return _merge(sorted(found), text)


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
    chosen, first = lines[0], -1
    for line in lines:
        first = _first(line, query)
        if first >= 0:
            chosen = line
            break
    start = 0
    if first >= 0:
        start = max(0, first - width // 3)
        if start > 0:
            space = chosen.rfind(" ", 0, start)
            start = space + 1 if space != -1 and start - space < 30 else start
    end = min(len(chosen), start + width)
    if end < len(chosen):
        space = chosen.find(" ", end)
        end = space if space != -1 and space - end < 30 else end
    window = chosen[start:end]
    # the matches of the window, found with some text around it so that no word is cut
    margin = max(0, start - 60)
    around = _find(chosen[margin:end + 60], query) if first >= 0 else []
    lead = len(window) - len(window.lstrip())
    trail = len(window.rstrip())
    inner = tuple((s + margin - start - lead, e + margin - start - lead) for s, e in around
                  if s + margin >= start + lead and e + margin <= start + trail)
    return Highlight(text=window.strip(), spans=inner, cut_start=start > 0, cut_end=end < len(chosen))
