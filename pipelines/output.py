"""Output safety: crawled text shown on a terminal, written to CSV or put into HTML.

Crawled content is hostile.  Whatever leaves the program goes through one of these:

* :func:`terminal_text` for anything printed on a terminal: control characters (C0 but
  newline and tab, DEL, C1, which can retitle, clear or reprogram a terminal: ``ESC ] 0 ;``,
  ``ESC [ 2 J``, CSI) and bidirectional overrides (which reorder what is shown) become
  ``"?"``, so nothing from the data can drive the terminal and a removal is still visible;
* :func:`json_line` for JSON printed as lines: ``ensure_ascii=False`` keeps Vietnamese
  readable but would let DEL and C1 characters through raw; they are written as ``\\u``
  escapes, which decode to the same data;
* :class:`CsvWriter` for every CSV output: a cell that starts with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return gets a leading ``'`` so that a spreadsheet shows it as text
  instead of running it as a formula (OWASP, "CSV Injection");
* :func:`snippet_html` / :func:`snippet_text` for search snippets, whose matches the stores
  mark with ``<mark>`` … ``</mark>`` inside the page's own text: the HTML form escapes the text
  and keeps only those marks, the plain form drops them.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from pipelines.search.highlight import MARK_END, MARK_START

__all__ = [
    "FORMULA_STARTS",
    "CsvWriter",
    "json_line",
    "neutralise_cell",
    "snippet_html",
    "snippet_text",
    "terminal_text",
]

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# C0 controls but tab and newline, DEL, C1 controls; bidirectional embeddings, overrides and isolates.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\n\t\u2028\u2029]+")
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")


def terminal_text(value: Any, *, multiline: bool = False) -> str:
    """``value`` as text that is safe to print on a terminal.  Unless ``multiline``, line breaks
    and tabs become single spaces, so one value stays on one line (a table cell, a title)."""
    text = "" if value is None else str(value)
    if not multiline:
        text = _LINE_BREAKS.sub(" ", text)
    return _TERMINAL_UNSAFE.sub("?", text)


def json_line(data: Any, **kwargs: Any) -> str:
    """``json.dumps(data, ensure_ascii=False)`` with DEL, C1 and line/paragraph separators escaped."""
    text = json.dumps(data, ensure_ascii=False, **kwargs)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def neutralise_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with ``= + - @``, tab or
    carriage return gets a leading ``'``.  Numbers and other values are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CsvWriter:
    """``csv.writer`` whose every cell goes through :func:`neutralise_cell`; the one CSV writer
    of the project (export, coverage …).  With ``fields`` it also takes mappings, like
    ``csv.DictWriter`` (missing keys are empty cells)."""

    def __init__(self, out: IO[str], fields: Sequence[str] | None = None) -> None:
        self._writer = csv.writer(out)
        self.fields = list(fields) if fields is not None else None

    def writeheader(self) -> None:
        if self.fields is None:
            raise ValueError("writeheader needs the fields")
        self._writer.writerow(self.fields)

    def writerow(self, row: Iterable[Any] | Mapping[str, Any]) -> None:
        if isinstance(row, Mapping):
            if self.fields is None:
                raise ValueError("a mapping row needs the fields")
            cells: Iterable[Any] = (row.get(name, "") for name in self.fields)
        else:
            cells = row
        self._writer.writerow([neutralise_cell("" if cell is None else cell) for cell in cells])


def _snippet_parts(snippet: str) -> list[tuple[str, bool]]:
    """``(text, is_match)`` pieces of a snippet marked with ``<mark>`` … ``</mark>``."""
    parts: list[tuple[str, bool]] = []
    rest = snippet or ""
    while rest:
        start = rest.find(MARK_START)
        end = rest.find(MARK_END, start + len(MARK_START)) if start != -1 else -1
        if start == -1 or end == -1:
            parts.append((rest, False))
            break
        if start:
            parts.append((rest[:start], False))
        parts.append((rest[start + len(MARK_START):end], True))
        rest = rest[end + len(MARK_END):]
    return parts


def snippet_html(snippet: str) -> str:
    """The snippet as HTML: its text escaped, its matches in ``<mark>`` elements."""
    return "".join(f"<mark>{html.escape(text)}</mark>" if match else html.escape(text)
                   for text, match in _snippet_parts(snippet))


def snippet_text(snippet: str) -> str:
    """The snippet as plain text, without marks."""
    return "".join(text for text, _match in _snippet_parts(snippet))
