"""Vietnamese text analysis for search: what a word is, and its two searchable spellings.

Documents and queries go through the same functions, on every backend, so that the
search engine itself only has to split on spaces (SQLite FTS5 ``unicode61``, the
``standard`` analyzer of Elasticsearch/OpenSearch: no analysis plugin needed):

* :func:`clean` — NFC; control characters become spaces; zero-width and bidi formatting
  characters disappear; lone surrogates are dropped.
* :func:`normalize_tones` — the tone mark goes on the vowel the modern rule gives it, so
  the old and the new placement are one spelling ("hòa" = "hoà", "thủy" = "thuỷ",
  "khỏe" = "khoẻ", "qúy" = "quý").  The rule, not a word list: see :func:`tone_position`.
* :func:`fold` — lower-case, diacritics removed, "đ" -> "d" ("Hội nghị" -> "hoi nghi").
* :func:`words` — the words of a text, lower-cased and tone-normalised (the *exact* form).
* :func:`index_text` — a field's text as the index stores it, in two forms: ``exact``
  (tone-normalised, lower-cased words) and ``folded`` (the same without diacritics), each
  followed by the keys of the abbreviations it mentions (see
  :mod:`pipelines.search.abbreviations`), so that "UBND" and "Ủy ban nhân dân" find the
  same documents.

All functions are pure and never raise on any ``str``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.search.abbreviations import Abbreviations

logger = logging.getLogger(__name__)

__all__ = [
    "TOKEN",
    "IndexText",
    "clean",
    "fold",
    "fold_word",
    "fold_words",
    "folded_words",
    "index_text",
    "is_vietnamese_syllable",
    "normalize_tones",
    "normalize_word",
    "tokens",
    "tone_position",
    "words",
]

# --- characters ----------------------------------------------------------------------------------

#: Combining tone marks: huyền, sắc, ngã, hỏi, nặng.
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
#: Combining marks that make another vowel (â ê ô, ă, ơ ư) rather than a tone.
QUALITY_MARKS = frozenset("\u0302\u0306\u031b")
VOWELS = frozenset("aăâeêioôơuưy")
#: Vowels that carry a quality mark; the tone goes on them first (ươ: on ơ).
MARKED_VOWELS = frozenset("ăâêôơư")

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]+")
# Zero-width, soft hyphen, bidi controls, BOM, Mongolian vowel separator, lone surrogates.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
                        "\ud800-\udfff]+")
#: A word: letters and digits, with the combining diacritics that NFC could not compose
#: (SQLite's unicode61 tokenizer keeps those inside a token too).  Underscore separates.
TOKEN = re.compile(r"[^\W_](?:[^\W_]|[\u0300-\u036f])*")


def clean(text: str | None) -> str:
    """NFC, control characters as spaces, invisible formatting characters removed."""
    if not text:
        return ""
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


# --- folding -------------------------------------------------------------------------------------


def _fold_char(ch: str) -> str:
    """One character lower-cased and without diacritics, to a fixed point."""
    for _ in range(4):
        low = ch.lower()
        stripped = "".join(c for c in unicodedata.normalize("NFD", low) if not unicodedata.combining(c))
        out = unicodedata.normalize("NFC", stripped.replace("đ", "d").replace("Đ", "d"))
        if out == ch:
            break
        ch = out
    return ch


class _FoldTable(dict[int, str]):
    """A ``str.translate`` table filled on first sight of each character."""

    def __missing__(self, key: int) -> str:
        value = _fold_char(chr(key))
        self[key] = value
        return value


_FOLD_TABLE = _FoldTable({i: chr(i).lower() for i in range(128)})


def fold(text: str | None) -> str:
    """Lower-case ``text`` and strip its diacritics: "Hội nghị Đảng" -> "hoi nghi dang".

    Idempotent: ``fold(fold(x)) == fold(x)``.
    """
    if not text:
        return ""
    return clean(text).translate(_FOLD_TABLE)


# --- tone placement ------------------------------------------------------------------------------


def _split_letter(ch: str) -> tuple[str, str | None] | None:
    """(the letter without its tone mark, the tone mark or None); None for a character that
    is not a Latin letter of Vietnamese (a digit, another script, another diacritic)."""
    decomposed = unicodedata.normalize("NFD", ch)
    base, marks = decomposed[0], decomposed[1:]
    if not ("a" <= base.lower() <= "z" or base in "đĐ"):
        return None
    tone = None
    quality = ""
    for m in marks:
        if m in TONE_MARKS and tone is None:
            tone = m
        elif m in QUALITY_MARKS and not quality:
            quality = m
        else:
            return None
    return unicodedata.normalize("NFC", base + quality), tone


def tone_position(letters: str) -> int | None:
    """Index of the letter that carries the tone in the toneless lower-case syllable
    ``letters`` (for example "hoa" -> 2, "thuy" -> 3, "nguoi"... "người" -> the ơ), or None
    when ``letters`` is not one run of vowels between consonants.

    The modern rule (the placement of the 1980s and current school orthography):

    1. "qu" and "gi" before another vowel are consonants ("quý", "già", "giường");
    2. a vowel with a quality mark (ă â ê ô ơ ư) carries the tone; of two ("ươ"), the second;
    3. otherwise, with a final consonant, the last vowel ("hoàn", "huỳnh", "toán");
    4. otherwise "oa", "oe", "uy" put it on their second vowel ("hoà", "khoẻ", "thuỷ");
       other pairs on the first ("mùa", "hái", "mía"); three vowels on the middle one
       ("ngoài", "khuỷu").
    """
    n = len(letters)
    start = 0
    while start < n and letters[start] not in VOWELS:
        start += 1
    end = start
    while end < n and letters[end] in VOWELS:
        end += 1
    if start == end or any(c in VOWELS for c in letters[end:]):
        return None
    initial = letters[:start]
    if end - start > 1 and ((initial == "q" and letters[start] == "u") or (initial == "g" and letters[start] == "i")):
        start += 1
    nucleus = letters[start:end]
    marked = [i for i, c in enumerate(nucleus) if c in MARKED_VOWELS]
    if marked:
        return start + marked[-1]
    if end < n:  # a final consonant
        return end - 1
    if nucleus in ("oa", "oe", "uy"):
        return start + 1
    if len(nucleus) >= 3:
        return start + 1
    return start


@lru_cache(maxsize=65536)
def normalize_word(word: str) -> str:
    """One word (NFC) with its tone mark on the vowel of :func:`tone_position`; a word that
    is not a Vietnamese syllable with exactly one tone mark comes back unchanged."""
    split = []
    tones = []
    for ch in word:
        parts = _split_letter(ch)
        if parts is None:
            return word
        split.append(parts[0])
        if parts[1] is not None:
            tones.append((len(split) - 1, parts[1]))
    if len(tones) != 1:
        return word
    letters = "".join(split)
    target = tone_position(letters.lower())
    if target is None or target == tones[0][0]:
        return word
    out = list(split)
    out[target] = unicodedata.normalize("NFC", out[target] + tones[0][1])
    return "".join(out)


_TONED = "".join(sorted({chr(cp) for cp in range(0x00C0, 0x1F00)
                         if any(m in TONE_MARKS for m in unicodedata.normalize("NFD", chr(cp))[1:])}))
_TONED_WORD = re.compile(r"[^\W_]*[" + _TONED + r"](?:[^\W_]|[\u0300-\u036f])*")


def normalize_tones(text: str | None) -> str:
    """``text`` (NFC) with every word's tone mark placed by the modern rule; letter case,
    spaces and punctuation are kept.  Idempotent, and "hòa"/"hoà" give the same result."""
    text = clean(text)
    if not text:
        return ""
    return _TONED_WORD.sub(lambda m: normalize_word(m.group()), text)


# --- syllables -----------------------------------------------------------------------------------

_INITIALS = frozenset(("", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng",
                       "ngh", "nh", "p", "ph", "q", "qu", "r", "s", "t", "th", "tr", "v", "x"))
_FINALS = frozenset(("", "c", "ch", "m", "n", "ng", "nh", "p", "t"))


def is_vietnamese_syllable(word: str) -> bool:
    """True when ``word`` is spelled like one Vietnamese syllable (a standard initial, one run
    of vowels, a standard final): "nghiêng", "an", "quý" — not "ubnd", "hcm", "qp"."""
    letters = "".join(p[0] for p in map(_split_letter, clean(word).lower()) if p is not None)
    if len(letters) != len(clean(word)) or not letters:
        return False
    i = 0
    while i < len(letters) and letters[i] not in VOWELS:
        i += 1
    j = i
    while j < len(letters) and letters[j] in VOWELS:
        j += 1
    nucleus, final = letters[i:j], letters[j:]
    if nucleus == "y" and final:  # "tít", never "tyt": y alone ends its syllable
        return False
    return i < j and letters[:i] in _INITIALS and final in _FINALS and j - i <= 3


# --- words ---------------------------------------------------------------------------------------


def tokens(text: str | None) -> list[tuple[int, int, str]]:
    """``(start, end, word as written)`` for every word of ``clean(text)``; offsets are in the
    cleaned text (the highlighter marks those)."""
    return [(m.start(), m.end(), m.group()) for m in TOKEN.finditer(clean(text))]


# Words are cut with the plain ``\w+`` (fast) unless the text has something that needs
# :func:`clean` or the careful pattern: an underscore, a combining mark (NFD text), an
# invisible character or a lone surrogate.
_WORD = re.compile(r"\w+")
_CAREFUL = re.compile("[_\u0300-\u036f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                      "\u2066-\u2069\ufeff\ud800-\udfff]")
# word as cut (lower-case) -> (exact form, folded form); a text repeats its words, and the
# language has a few thousand syllables, so this is where the time is saved.  The two
# forms also have a table each (filled together), read with ``map`` at C speed by
# :func:`index_text`.
_FORMS: dict[str, tuple[str, str]] = {}
_FORMS_MAX = 200_000


class _FormTable(dict[str, str]):
    """word as cut -> one of its forms; a word not yet seen is analysed on first sight."""

    def __init__(self, which: int) -> None:
        super().__init__()
        self.which = which

    def __missing__(self, word: str) -> str:
        return _forms(word)[self.which]


_EXACT = _FormTable(0)
_FOLDED = _FormTable(1)


def _forms(word: str) -> tuple[str, str]:
    forms = _FORMS.get(word)
    if forms is None:
        exact = normalize_word(word)
        forms = (exact, exact.translate(_FOLD_TABLE))
        if len(_FORMS) >= _FORMS_MAX:
            _FORMS.clear()
            _EXACT.clear()
            _FOLDED.clear()
        _FORMS[word] = forms
        _EXACT[word], _FOLDED[word] = forms
    return forms


def _cut(text: str | None) -> list[str]:
    if not text:
        return []
    low = text.lower()
    if _CAREFUL.search(low):
        low = clean(low)
        if not unicodedata.is_normalized("NFC", low):
            low = unicodedata.normalize("NFC", low)
        return TOKEN.findall(low)
    return _WORD.findall(low)


def words(text: str | None) -> list[str]:
    """The words of ``text`` in their *exact* searchable form: lower-case, tone-normalised."""
    return list(map(_EXACT.__getitem__, _cut(text)))


def folded_words(text: str | None) -> list[str]:
    """The words of ``text`` in their *folded* form: ``fold_words`` of each of :func:`words`."""
    return list(map(_FOLDED.__getitem__, _cut(text)))


def fold_word(word: str) -> str:
    """The folded form of one word of :func:`tokens` (any case)."""
    return _FOLDED[word.lower()]


def fold_words(exact: str) -> str:
    """The folded form of a space-joined string of exact words (a word stays a word)."""
    return exact.translate(_FOLD_TABLE)


@dataclass(frozen=True)
class IndexText:
    """A field as the index stores it: space-separated words, then abbreviation keys."""

    exact: str
    folded: str
    #: The abbreviation keys appended (also at the end of ``exact`` / ``folded``): a store that
    #: must later remove exactly these tokens (SQLite FTS5 without stored content) keeps them.
    exact_keys: tuple[str, ...] = ()
    folded_keys: tuple[str, ...] = ()


def index_text(text: str | None, abbreviations: Abbreviations | None = None, *,
               keys: tuple[Sequence[str], Sequence[str]] | None = None) -> IndexText:
    """The two indexed forms of one field's text (see the module docstring).

    ``abbreviations`` defaults to the built-in list
    (:func:`pipelines.search.abbreviations.default_abbreviations`).  ``keys`` (exact, folded)
    replaces the look-up: the text as it was indexed with the keys it got then.
    """
    cut = _cut(text)
    if keys is None and not cut:
        return IndexText(exact="", folded="")
    exact_words = list(map(_EXACT.__getitem__, cut))
    folded_words = list(map(_FOLDED.__getitem__, cut))
    if keys is None:
        from pipelines.search.abbreviations import default_abbreviations

        abbr = abbreviations if abbreviations is not None else default_abbreviations()
        exact_keys, folded_keys = abbr.keys_for(exact_words, folded_words)
    else:
        exact_keys, folded_keys = list(keys[0]), list(keys[1])
    return IndexText(exact=" ".join(exact_words + exact_keys), folded=" ".join(folded_words + folded_keys),
                     exact_keys=tuple(exact_keys), folded_keys=tuple(folded_keys))
