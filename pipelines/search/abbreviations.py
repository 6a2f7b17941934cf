"""Abbreviations of Vietnamese public administration, loaded in one place.

The data is ``abbreviations.yaml`` beside this module (checked against
``abbreviations.schema.json``), optionally extended by the users' own files named by the
``PORTALNEWS_ABBREVIATIONS`` setting or environment variable (several files separated by
``os.pathsep``).  Each entry is a *concept*: short spellings ("UBND") and long ones
("Ủy ban nhân dân").  The search uses a concept in two places:

* at index time (:func:`pipelines.search.analysis.index_text`), a field that mentions any
  spelling gets the concept's *key* word appended ("ubnd"), so one indexed word stands for
  every spelling and a search for the concept is a one-word lookup however it is written;
* at query time (:mod:`pipelines.search.query`), a word or phrase that is a spelling of a
  concept is searched as that key, and the highlighter marks every spelling.

A concept whose long spelling contains another one's ("vệ sinh an toàn thực phẩm" contains
"an toàn thực phẩm") gives the document both keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from pathlib import Path
from typing import Any

from pipelines.search.analysis import fold_words, is_vietnamese_syllable, words
from pipelines.yamlfile import load_checked_yaml

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_FILE",
    "SETTING",
    "AbbreviationError",
    "Abbreviations",
    "Concept",
    "abbreviations_from_settings",
    "default_abbreviations",
    "load_abbreviations",
]

BUILTIN_FILE = Path(__file__).with_name("abbreviations.yaml")
SCHEMA_FILE = Path(__file__).with_name("abbreviations.schema.json")
#: The Scrapy setting and environment variable naming the users' files.
SETTING = "PORTALNEWS_ABBREVIATIONS"

Words = tuple[str, ...]


class AbbreviationError(ValueError):
    """An abbreviations file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Concept:
    """One abbreviation with every spelling, as exact (lower-case, tone-normalised) words."""

    key: str
    short: tuple[Words, ...]
    long: tuple[Words, ...]
    #: The spellings as the file writes them, for people ("UBND", "Ủy ban nhân dân").
    names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def forms(self) -> tuple[Words, ...]:
        return self.short + self.long

    @property
    def folded_key(self) -> str:
        return fold_words(self.key)

    @property
    def label(self) -> str:
        return " / ".join(self.names) if self.names else self.key


def _folded(form: Words) -> Words:
    return tuple(fold_words(w) for w in form)


class Abbreviations:
    """A validated set of concepts with the look-ups the index and the queries need."""

    def __init__(self, concepts: Iterable[Concept]) -> None:
        self.concepts: tuple[Concept, ...] = tuple(concepts)
        _validate(self.concepts)
        # per space (False: exact words, True: folded words): form -> concept indices,
        # first word -> forms starting with it (longest first), form -> implied concept indices
        self._by_form: dict[bool, dict[Words, set[int]]] = {False: {}, True: {}}
        for i, c in enumerate(self.concepts):
            for form in c.forms:
                self._by_form[False].setdefault(form, set()).add(i)
                self._by_form[True].setdefault(_folded(form), set()).add(i)
        # per space: one-word forms, and the longer forms by their first two words
        self._singles: dict[bool, frozenset[str]] = {}
        self._pairs: dict[bool, dict[tuple[str, str], tuple[Words, ...]]] = {}
        self._firsts: dict[bool, frozenset[str]] = {}
        self._implied: dict[bool, dict[Words, tuple[int, ...]]] = {}
        for space, by_form in self._by_form.items():
            pairs: dict[tuple[str, str], list[Words]] = {}
            implied: dict[Words, tuple[int, ...]] = {}
            for form in by_form:
                if len(form) > 1:
                    pairs.setdefault((form[0], form[1]), []).append(form)
                found = set(by_form[form])
                for a in range(len(form)):
                    for b in range(a + 1, len(form) + 1):
                        found |= by_form.get(form[a:b], set())
                implied[form] = tuple(sorted(found))
            self._singles[space] = frozenset(f[0] for f in by_form if len(f) == 1)
            self._pairs[space] = {k: tuple(sorted(v, key=len, reverse=True)) for k, v in pairs.items()}
            self._firsts[space] = self._singles[space] | {k[0] for k in pairs}
            self._implied[space] = implied
        digest = hashlib.sha256()
        for c in self.concepts:
            digest.update(json.dumps([c.key, c.short, c.long], ensure_ascii=False).encode("utf-8"))
        #: Changes whenever a key or a spelling changes: an index built with another set of
        #: abbreviations needs ``portalnews reindex`` (a store can record and compare it).
        self.fingerprint = digest.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.concepts)

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts)

    def concepts_for(self, folded_form: Sequence[str]) -> tuple[Concept, ...]:
        """The concepts one of whose spellings is ``folded_form`` (folded words)."""
        return tuple(self.concepts[i] for i in sorted(self._by_form[True].get(tuple(folded_form), ())))

    def occurrences(self, text_words: Sequence[str], folded: bool) -> Iterator[tuple[int, int, Words]]:
        """``(start, end, form)`` for every spelling found in ``text_words`` (exact or folded
        words), all of them, overlapping ones included, in order of ``start``."""
        firsts = self._firsts[folded]
        if firsts.isdisjoint(text_words):
            return
        singles, pairs = self._singles[folded], self._pairs[folded]
        n = len(text_words)
        # the positions of the words a spelling can start with, found at C speed
        for i in compress(range(n), map(firsts.__contains__, text_words)):
            w = text_words[i]
            if i + 1 < n:
                for form in pairs.get((w, text_words[i + 1]), ()):
                    if tuple(text_words[i:i + len(form)]) == form:
                        yield i, i + len(form), form
            if w in singles:
                yield i, i + 1, (w,)

    def keys_for(self, exact_words: Sequence[str], folded_words: Sequence[str]) -> tuple[list[str], list[str]]:
        """The key words to append to a field, as exact and as folded words: those of the
        concepts the field mentions, except keys already among its words, sorted.

        ``folded_words`` are the folded forms of ``exact_words``, word for word: a spelling
        found without diacritics gives the folded key; the exact key only when the same words
        are also an exact spelling."""
        found_folded: set[int] = set()
        found_exact: set[int] = set()
        implied_folded, implied_exact = self._implied[True], self._implied[False]
        for start, stop, form in self.occurrences(folded_words, folded=True):
            found_folded.update(implied_folded[form])
            exact_form = tuple(exact_words[start:stop])
            if exact_form in implied_exact:
                found_exact.update(implied_exact[exact_form])
        if not found_folded:
            return [], []
        exact_keys = {self.concepts[i].key for i in found_exact} - set(exact_words)
        folded_keys = {self.concepts[i].folded_key for i in found_folded} - set(folded_words)
        return sorted(exact_keys), sorted(folded_keys)


def _validate(concepts: Sequence[Concept]) -> None:
    keys: dict[str, Concept] = {}
    for c in concepts:
        if words(c.key) != [c.key]:
            raise AbbreviationError(f"{c.label}: key {c.key!r} must be one lower-case word")
        other = keys.get(c.folded_key)
        if other is not None:
            raise AbbreviationError(f"{c.label}: key {c.key!r} is already the key of {other.label}; "
                                    "give one of them another `key`")
        keys[c.folded_key] = c
    one_word_forms: dict[str, list[Concept]] = {}
    for c in concepts:
        for form in c.forms:
            if len(form) == 1:
                one_word_forms.setdefault(fold_words(form[0]), []).append(c)
    for c in concepts:
        shared = {_folded(f) for f in c.short}
        for owner in one_word_forms.get(c.folded_key, []):
            if owner is not c and not shared & {_folded(f) for f in owner.short}:
                raise AbbreviationError(f"{c.label}: key {c.key!r} is a spelling of {owner.label}")


# --- loading -------------------------------------------------------------------------------------


@dataclass
class _Entry:
    key: str
    short: list[Words]
    long: list[Words]
    names: list[str]
    where: str


def _form(text: str, where: str, short: bool) -> Words:
    form = tuple(words(text))
    if not form:
        raise AbbreviationError(f"{where}: {text!r} has no letters or digits")
    if short and all(is_vietnamese_syllable(w) for w in form):
        raise AbbreviationError(f"{where}: short spelling {text!r} is an ordinary Vietnamese word; searching "
                                "it would find every document that uses the word")
    return form


def _entries(path: Path) -> list[_Entry]:
    data = load_checked_yaml(path, SCHEMA_FILE, "abbreviations file", AbbreviationError)
    out = []
    for n, item in enumerate(data["abbreviations"], 1):
        where = f"{path}: entry {n} ({item['short'][0]})"
        short = list(dict.fromkeys(_form(s, where, short=True) for s in item["short"]))
        long = [f for f in dict.fromkeys(_form(s, where, short=False) for s in item.get("long", []))
                if f not in short]
        key = item.get("key")
        if key is None:
            key = "".join(short[0])
        else:
            parts = words(key)
            if len(parts) != 1:
                raise AbbreviationError(f"{where}: key {key!r} must be one word of letters and digits")
            key = parts[0]
        out.append(_Entry(key, short, long, [*item["short"], *item.get("long", [])], where))
    return out


def _build(paths: Sequence[Path]) -> Abbreviations:
    merged: dict[str, _Entry] = {}
    for i, path in enumerate(paths):
        for entry in _entries(path):
            known = merged.get(fold_words(entry.key))
            if known is None:
                merged[fold_words(entry.key)] = entry
            elif i == 0:
                raise AbbreviationError(f"{entry.where}: key {entry.key!r} is already used by {known.where}")
            else:  # a user's file adds spellings to a concept it names by key
                known.short += [f for f in entry.short if f not in known.short]
                known.long += [f for f in entry.long if f not in known.long and f not in known.short]
                known.names += [n for n in entry.names if n not in known.names]
    try:
        return Abbreviations(Concept(e.key, tuple(e.short), tuple(e.long), tuple(e.names)) for e in merged.values())
    except AbbreviationError as exc:
        raise AbbreviationError(f"{', '.join(map(str, paths))}: {exc}") from None


@lru_cache(maxsize=16)
def _load_cached(paths: tuple[Path, ...], stamps: tuple[int, ...]) -> Abbreviations:
    abbr = _build(paths)
    logger.debug("abbreviations: %d concepts from %s", len(abbr), ", ".join(map(str, paths)))
    return abbr


def load_abbreviations(*extra: str | Path) -> Abbreviations:
    """The built-in abbreviations extended by the files ``extra`` (cached until a file changes).

    Raises :class:`AbbreviationError` with the file and entry when a file cannot be used.
    """
    paths = (BUILTIN_FILE, *(Path(p).expanduser() for p in extra))
    stamps = []
    for p in paths:
        try:
            stamps.append(p.stat().st_mtime_ns)
        except OSError:
            stamps.append(-1)  # reported by the loader with the file's name
    return _load_cached(paths, tuple(stamps))


def default_abbreviations() -> Abbreviations:
    """The built-in list alone."""
    return load_abbreviations()


def abbreviations_from_settings(settings: Mapping[str, Any] | Any | None = None,
                                environ: Mapping[str, str] | None = None) -> Abbreviations:
    """The abbreviations a component should use: the built-in list plus the files named by the
    ``PORTALNEWS_ABBREVIATIONS`` Scrapy setting (``settings.get``) or, without it, the
    environment variable of the same name."""
    value = settings.get(SETTING) if settings is not None else None
    if not value:
        value = (os.environ if environ is None else environ).get(SETTING, "")
    files = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split(os.pathsep)
    return load_abbreviations(*(f.strip() for f in files if f.strip()))
