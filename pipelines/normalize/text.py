"""Text normalisation for extracted fields.

Everything the extractor returns goes through :func:`normalize_text` (one line) or
:func:`normalize_paragraphs` (several lines joined by ``"\\n"``):

* Unicode NFC (Vietnamese pages often arrive decomposed, e.g. from windows-1258),
* HTML entities decoded, named ones such as ``&ocirc;`` included (only for raw strings;
  text taken from the parsed DOM is already decoded),
* NBSP and other exotic spaces become plain spaces,
* zero-width characters (U+200B/C/D, U+FEFF, U+2060, soft hyphen) are removed,
* control characters (C0 but newline and tab, DEL, C1) are removed, so that a title such as
  ``ESC ] 0 ; … BEL`` cannot drive the terminal it is printed on; the ones that are
  whitespace (carriage return, form feed, U+0085 …) become spaces instead, so words they
  separate stay apart,
* whitespace is collapsed inside a paragraph, paragraphs stay ``"\\n"``-separated and
  empty paragraphs are dropped.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType

logger = logging.getLogger(__name__)

__all__ = [
    "collapse_spaces",
    "normalize_paragraphs",
    "normalize_text",
    "strip_invisible",
    "text_key",
]

# Zero-width and invisible formatting characters that must disappear entirely.
_INVISIBLE: Mapping[int, None] = MappingProxyType(
    dict.fromkeys(
        map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u180e"),
        None,
    )
)
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a-\u202e\u180e]")
_NEWLINES = re.compile(r"\s*\n\s*")
# Control characters that are not whitespace (C0 but tab, newline, VT, FF, CR and the separators
# FS..US; DEL; C1 but NEL): removed.  The whitespace ones become spaces with the other whitespace.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
#: Anything strip_invisible removes but NUL (the HTML parser never yields one: it reads it as U+FFFD,
#: so the extractor may use NUL as its own mark): a quick test before calling it.
UNCLEAN_RE = re.compile(f"{_INVISIBLE_RE.pattern[:-1]}\x01{_CONTROLS.pattern[2:]}")
_ENTITY_HINT = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});?")
_KEY_DROP = re.compile(r"[\W_]+")


def strip_invisible(text: str) -> str:
    """Remove zero-width / bidi formatting characters and control characters other than whitespace."""
    return _CONTROLS.sub("", text.translate(_INVISIBLE))


def collapse_spaces(text: str) -> str:
    """Collapse every run of whitespace (newlines, NBSP included) into one space and strip."""
    return " ".join(text.split())


def normalize_text(text: str | None, *, decode_entities: bool = True) -> str:
    """Normalise one paragraph/field to a single clean NFC line.

    ``decode_entities`` decodes HTML character references (``&ocirc;`` -> ``ô``); leave it
    on for raw strings, turn it off for text that already came out of an HTML parser.
    """
    if not text:
        return ""
    if decode_entities and "&" in text and _ENTITY_HINT.search(text):
        text = html.unescape(text)
    if UNCLEAN_RE.search(text) or "\x00" in text:
        text = strip_invisible(text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return collapse_spaces(text)


def normalize_paragraphs(parts: str | Iterable[str] | None, *, decode_entities: bool = True) -> str:
    """Normalise multi-paragraph text: each paragraph cleaned, empty ones dropped, ``\\n``-joined.

    ``parts`` is either a string whose paragraphs are separated by newlines or an iterable of
    paragraph strings.
    """
    if parts is None:
        return ""
    if isinstance(parts, str):
        if decode_entities and "&" in parts and _ENTITY_HINT.search(parts):
            parts = html.unescape(parts)
        if UNCLEAN_RE.search(parts) or "\x00" in parts:  # a quick test: most texts have nothing to strip
            parts = strip_invisible(parts)
        parts = unicodedata.normalize("NFC", parts)
        pieces: Iterable[str] = _NEWLINES.split(parts)
        # a piece has no newline: every whitespace flavour (NBSP, thin space, tabs ...) collapses to a space
        return "\n".join(p for p in map(collapse_spaces, pieces) if p)
    out = []
    for part in parts:
        cleaned = normalize_paragraphs(part, decode_entities=decode_entities)
        if cleaned:
            out.append(cleaned)
    return "\n".join(out)


def text_key(text: str | None) -> str:
    """A comparison key: NFC, case-folded, punctuation and spaces removed."""
    if not text:
        return ""
    return _KEY_DROP.sub("", unicodedata.normalize("NFC", text).casefold())
