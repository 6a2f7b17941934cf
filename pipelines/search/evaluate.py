"""A parsed query matched against one document in memory, with the index's own rules.

The same answer as the FTS5 expression (:mod:`pipelines.search.fts5`) and the engine query
(:mod:`pipelines.search.dsl`) give for the document, without a store: for watchlists that
check new articles as they arrive, and as the reference the backends are tested against.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.search.abbreviations import Abbreviations
from pipelines.search.fields import Form, TextField, field_name, index_fields
from pipelines.search.query import Abbreviation, AllOf, AnyOf, Node, Query, Term

logger = logging.getLogger(__name__)

__all__ = ["IndexedDocument", "is_exact", "matches"]


@dataclass(frozen=True)
class IndexedDocument:
    """The words of each text field, in each form, as the index holds them."""

    exact: tuple[tuple[str, ...], ...]
    folded: tuple[tuple[str, ...], ...]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> IndexedDocument:
        """From :func:`pipelines.search.fields.index_fields` output."""
        def split(form: Form) -> tuple[tuple[str, ...], ...]:
            return tuple(tuple(fields.get(field_name(f, form), "").split()) for f in TextField)
        return cls(exact=split(Form.EXACT), folded=split(Form.FOLDED))

    @classmethod
    def of(cls, document: Mapping[str, Any], abbreviations: Abbreviations | None = None) -> IndexedDocument:
        """From a document with ``title``, ``summary`` and ``body``."""
        return cls.from_fields(index_fields(document, abbreviations))


def _contains(text: Sequence[str], words: tuple[str, ...], prefix: bool) -> bool:
    n = len(words)
    if not n:
        return False
    head, last = words[:-1], words[-1]
    for i in range(len(text) - n + 1):
        if tuple(text[i:i + n - 1]) == head and (text[i + n - 1].startswith(last) if prefix else text[i + n - 1] == last):
            return True
    return False


def _match(node: Node, fields: tuple[tuple[str, ...], ...], form: Form) -> bool:
    if isinstance(node, AnyOf):
        return any(_match(item, fields, form) for item in node.items)
    if isinstance(node, AllOf):
        return all(_match(item, fields, form) for item in node.items)
    if isinstance(node, Abbreviation):
        key = node.concept.key if form is Form.EXACT else node.concept.folded_key
        return any(key in words for words in fields)
    assert isinstance(node, Term)
    words = node.words if form is Form.EXACT else node.folded
    return any(_contains(text, words, node.prefix) for text in fields)


def matches(query: Query, document: IndexedDocument) -> bool:
    """True when ``document`` is a hit of ``query`` (an empty query matches everything)."""
    if any(_match(n, document.folded, Form.FOLDED) for n in query.exclude):
        return False
    return all(_match(n, document.folded, Form.FOLDED) for n in query.include)


def is_exact(query: Query, document: IndexedDocument) -> bool:
    """True when the query has diacritics and every one of its terms is in the document with
    its exact spelling (tone placement aside): the hit's ``exact`` flag."""
    return query.has_diacritics and all(_match(n, document.exact, Form.EXACT) for n in query.include)
