"""The search language, parsed once for every backend and the CLI.

::

    hoi nghi              both words (diacritics optional; exact diacritics rank higher)
    "hội nghị tỉnh"       a phrase
    UBND OR HĐND          either (upper-case OR binds the words next to it)
    hoi -nghi             "hoi" but not "nghi";  -"phrase" excludes a phrase
    chuyen*               a word starting with "chuyen" (at least 2 letters before *)

Tone placement is normalised ("hòa" = "hoà"), abbreviations stand for their long forms
and the other way round ("UBND" = "Ủy ban nhân dân"), punctuation inside a word makes a
phrase ("KT-XH" = "kt xh").  Upper-case ``AND`` is accepted and ignored (words are ANDed
anyway).  :func:`parse` never raises: unbalanced quotes close at the end, a lone ``-`` or
``*``, a dangling ``OR``, FTS5 or Lucene syntax characters and control characters are
ignored, and at most :data:`MAX_TERMS` terms of :data:`MAX_QUERY_CHARS` characters are kept.

The result is a typed tree (:class:`Query` of :class:`Term`, :class:`Abbreviation`,
:class:`AnyOf`, :class:`AllOf` nodes) that :mod:`pipelines.search.fts5`,
:mod:`pipelines.search.dsl`, :mod:`pipelines.search.evaluate` and
:mod:`pipelines.search.highlight` turn into an FTS5 MATCH expression, an
Elasticsearch/OpenSearch query, an in-memory match and highlighted snippets.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from pipelines.search.abbreviations import Abbreviations, Concept, default_abbreviations
from pipelines.search.analysis import clean, fold_words, words

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "MIN_PREFIX",
    "Abbreviation",
    "AllOf",
    "AnyOf",
    "Node",
    "Query",
    "Term",
    "parse",
]

#: Longer queries are cut (a query box, not a document).
MAX_QUERY_CHARS = 1000
#: At most this many terms (words, phrases, exclusions) are kept, in the order written.
MAX_TERMS = 32
#: ``ab*`` is a prefix search; ``a*`` is the word "a" (one letter would match half the index).
MIN_PREFIX = 2
#: A phrase with several abbreviations is searched in at most this many spellings.
MAX_VARIANTS = 8

Words = tuple[str, ...]


@dataclass(frozen=True)
class Term:
    """A word or a phrase: exact words (lower-case, tone-normalised); with ``prefix``, the
    last word is a prefix."""

    words: Words
    prefix: bool = False

    @cached_property
    def folded(self) -> Words:
        return tuple(fold_words(w) for w in self.words)

    @property
    def has_diacritics(self) -> bool:
        return self.folded != self.words

    def __str__(self) -> str:
        text = self.words[0] if len(self.words) == 1 else '"' + " ".join(self.words) + '"'
        return text + ("*" if self.prefix else "")


@dataclass(frozen=True)
class Abbreviation:
    """A spelling of an abbreviation concept as the user wrote it: matches the concept's key
    word, which the index adds to every field mentioning any spelling."""

    concept: Concept
    written: Term

    @property
    def has_diacritics(self) -> bool:
        return self.written.has_diacritics

    def __str__(self) -> str:
        return str(self.written)


@dataclass(frozen=True)
class AnyOf:
    """At least one of the items."""

    items: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.items)) + ")"


@dataclass(frozen=True)
class AllOf:
    """Every item."""

    items: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " ".join(map(str, self.items)) + ")"


Node = Term | Abbreviation | AnyOf | AllOf


def leaves(node: Node) -> Iterator[Term | Abbreviation]:
    """The words, phrases and abbreviations of a node."""
    if isinstance(node, (AnyOf, AllOf)):
        for item in node.items:
            yield from leaves(item)
    else:
        yield node


def has_diacritics(node: Node) -> bool:
    return any(leaf.has_diacritics for leaf in leaves(node))


@dataclass(frozen=True)
class Query:
    """A parsed query: every ``include`` node must match, no ``exclude`` node may."""

    include: tuple[Node, ...] = ()
    exclude: tuple[Node, ...] = ()
    #: The query as understood, in the query language: ``parse(q.source) == q``.
    source: str = field(default="", compare=False)

    @property
    def is_empty(self) -> bool:
        """Nothing to search for: every document matches (the caller's filters decide)."""
        return not self.include and not self.exclude

    @property
    def has_diacritics(self) -> bool:
        """The user wrote diacritics somewhere: exact spellings rank first."""
        return any(has_diacritics(n) for n in self.include)

    def leaves(self) -> Iterator[Term | Abbreviation]:
        """The words, phrases and abbreviations that a matching document contains (for
        highlighting): those of ``include``."""
        for node in self.include:
            yield from leaves(node)

    def __str__(self) -> str:
        return self.source


# --- lexing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lexeme:
    term: Term | None  # None: the OR keyword
    negated: bool = False


_PREFIX_END = re.compile(r"[^\W_]\*+$")


def _make_term(text: str, prefix: bool) -> Term | None:
    ws = tuple(words(text))
    if not ws:
        return None
    if prefix and len(fold_words(ws[-1])) < MIN_PREFIX:
        prefix = False
    return Term(ws, prefix)


def _lex(text: str) -> list[_Lexeme]:
    s = clean(text)[:MAX_QUERY_CHARS]
    out: list[_Lexeme] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        negated = False
        if c == "-":
            j = i
            while j < n and s[j] == "-":
                j += 1
            if j == n or s[j].isspace():
                i = j  # a lone "-"
                continue
            negated, i, c = True, j, s[j]
        if c == '"':
            j = s.find('"', i + 1)
            j = n if j == -1 else j
            body = s[i + 1:j]
            i = j + 1
            prefix = i < n and s[i] == "*"
            while i < n and s[i] == "*":
                i += 1
            term = _make_term(body, prefix)
            if term is not None:
                out.append(_Lexeme(term, negated))
            continue
        j = i
        while j < n and not s[j].isspace() and s[j] != '"':
            j += 1
        chunk, i = s[i:j], j
        if not negated and chunk == "OR":
            out.append(_Lexeme(None))
            continue
        if not negated and chunk == "AND":
            continue
        term = _make_term(chunk, bool(_PREFIX_END.search(chunk)))
        if term is not None:
            out.append(_Lexeme(term, negated))
    return out


def _group(lexemes: Sequence[_Lexeme]) -> tuple[list[list[Term]], list[Term]]:
    """OR groups of the positive terms (ANDed), and the excluded terms."""
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    pending_or = last_positive = False
    count = 0
    for lx in lexemes:
        if lx.term is None:
            pending_or = last_positive
            continue
        if count >= MAX_TERMS:
            break
        count += 1
        if lx.negated:
            if lx.term not in excluded:
                excluded.append(lx.term)
            pending_or = last_positive = False
            continue
        if pending_or and groups:
            if lx.term not in groups[-1]:
                groups[-1].append(lx.term)
        else:
            groups.append([lx.term])
        pending_or, last_positive = False, True
    unique: list[list[Term]] = []
    for g in groups:
        if g not in unique:
            unique.append(g)
    return unique, excluded


def _source(groups: Sequence[Sequence[Term]], excluded: Sequence[Term]) -> str:
    parts = [" OR ".join(map(str, g)) for g in groups]
    parts += ["-" + str(t) for t in excluded]
    return " ".join(parts)


def _fit(groups: list[list[Term]], excluded: list[Term]) -> str:
    """The source of the query, dropping words from its end until it is no longer than
    :data:`MAX_QUERY_CHARS` (quotes can make it longer than what was typed), so that the
    source parses back to the same query."""
    source = _source(groups, excluded)
    while len(source) > MAX_QUERY_CHARS:
        if excluded:
            excluded.pop()
        elif len(groups[-1]) > 1:
            groups[-1].pop()
        elif len(groups[-1][0].words) > 1:
            groups[-1][-1] = Term(groups[-1][-1].words[:-1])
        else:
            groups.pop()
        source = _source(groups, excluded)
    return source


# --- abbreviations -------------------------------------------------------------------------------


def _any(nodes: Sequence[Node]) -> Node:
    flat: list[Node] = []
    for node in nodes:
        for item in node.items if isinstance(node, AnyOf) else (node,):
            if item not in flat:
                flat.append(item)
    return flat[0] if len(flat) == 1 else AnyOf(tuple(flat))


def _spans(folded: Words, abbr: Abbreviations) -> list[tuple[int, int, Words]]:
    """Non-overlapping spellings in ``folded``, leftmost and longest first."""
    found = sorted(abbr.occurrences(folded, folded=True), key=lambda o: (o[0], -(o[1] - o[0])))
    out: list[tuple[int, int, Words]] = []
    end = 0
    for start, stop, form in found:
        if start >= end:
            out.append((start, stop, form))
            end = stop
    return out


def _expand_term(term: Term, abbr: Abbreviations) -> Node:
    """A term that is a spelling becomes the concept(s); a phrase containing spellings also
    matches the phrase with the other spellings in their place."""
    if term.prefix:
        return term
    concepts = abbr.concepts_for(term.folded)
    if concepts:
        return _any([Abbreviation(c, term) for c in concepts])
    if len(term.words) < 2:
        return term
    spans = _spans(term.folded, abbr)
    if not spans:
        return term
    own = term.words if term.has_diacritics else term.folded
    choices: list[list[Words]] = []
    for start, stop, form in spans:
        options = [own[start:stop]]
        for concept in abbr.concepts_for(form):
            for f in concept.forms:
                spelled = f if term.has_diacritics else tuple(fold_words(w) for w in f)
                if spelled not in options:
                    options.append(spelled)
        choices.append(options)
    variants: list[Node] = []
    for pick in itertools.islice(itertools.product(*choices), MAX_VARIANTS):
        out: list[str] = []
        pos = 0
        for (start, stop, _), replacement in zip(spans, pick, strict=True):
            out += own[pos:start]
            out += replacement
            pos = stop
        out += own[pos:]
        variant = term if tuple(out) == own else Term(tuple(out))
        variants.append(variant)
    return _any(variants)


def _expand_runs(groups: list[list[Term]], abbr: Abbreviations) -> list[Node]:
    """Consecutive single words that spell a concept ("Ủy ban nhân dân" unquoted) match the
    concept too: ``(UBND OR (ủy ban nhân dân))``."""
    nodes: list[Node] = []
    i = 0
    while i < len(groups):
        j = i
        while j < len(groups) and len(groups[j]) == 1 and len(groups[j][0].words) == 1 and not groups[j][0].prefix:
            j += 1
        if j - i >= 2:
            run = [g[0] for g in groups[i:j]]
            spans = [s for s in _spans(tuple(t.folded[0] for t in run), abbr) if s[1] - s[0] >= 2]
            pos = 0
            for start, stop, form in spans:
                nodes += [_expand_term(t, abbr) for t in run[pos:start]]
                written = Term(tuple(w for t in run[start:stop] for w in t.words))
                concepts = [Abbreviation(c, written) for c in abbr.concepts_for(form)]
                nodes.append(_any([*concepts, AllOf(tuple(run[start:stop]))]))
                pos = stop
            nodes += [_expand_term(t, abbr) for t in run[pos:]]
            i = j
        elif j > i:
            nodes.append(_expand_term(groups[i][0], abbr))
            i += 1
        else:
            nodes.append(_any([_expand_term(t, abbr) for t in groups[i]]))
            i += 1
    return nodes


def parse(text: str | None, abbreviations: Abbreviations | None = None) -> Query:
    """Parse a query of the search language (see the module docstring); never raises."""
    abbr = abbreviations if abbreviations is not None else default_abbreviations()
    groups, excluded = _group(_lex(text or ""))
    source = _fit(groups, excluded)
    include = tuple(_expand_runs(groups, abbr))
    exclude: list[Node] = []
    for t in excluded:
        node = _expand_term(t, abbr)
        if node not in exclude:
            exclude.append(node)
    return Query(include=include, exclude=tuple(exclude), source=source)
