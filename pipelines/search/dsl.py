"""A parsed query as an Elasticsearch/OpenSearch query (the same for both).

It searches the sibling fields of :mod:`pipelines.search.fields` (``title_folded`` …,
``title_exact`` …), analysed by the built-in ``standard`` analyzer, so it runs on a stock
node with no analysis plugin.  :func:`to_dsl` gives a ``bool`` query:

* ``must``: each term in the folded fields (phrases with ``multi_match`` of type
  ``phrase``, a one-word prefix with ``prefix`` queries, a phrase prefix with
  ``phrase_prefix``), scored by BM25 with the field weights of
  :data:`pipelines.search.fields.FIELD_WEIGHTS`;
* ``must_not``: the excluded terms;
* ``should``: each term written with diacritics, in the exact fields, with the weights times
  :data:`pipelines.search.fields.EXACT_WEIGHT`: exact spellings rank higher.

:func:`exact_filter` is the filter "every term in its exact spelling", for a hit's
``exact`` flag (or to put exact hits first).
"""

from __future__ import annotations

import logging
from typing import Any

from pipelines.search.fields import EXACT_WEIGHT, FIELD_WEIGHTS, Form, field_name
from pipelines.search.query import Abbreviation, AllOf, AnyOf, Node, Query, Term, has_diacritics

logger = logging.getLogger(__name__)

__all__ = ["PHRASE_PREFIX_EXPANSIONS", "exact_filter", "to_dsl"]

#: A phrase ending in a prefix ("hoi ngh*") tries at most this many completions of the last
#: word (the engine's ``max_expansions``); a one-word prefix has no limit.
PHRASE_PREFIX_EXPANSIONS = 256


def _weights(form: Form, boost: float) -> list[tuple[str, float]]:
    return [(field_name(f, form), w * boost) for f, w in FIELD_WEIGHTS.items()]


def _leaf(words: tuple[str, ...], prefix: bool, form: Form, boost: float) -> dict[str, Any]:
    weighted = _weights(form, boost)
    text = " ".join(words)
    if prefix and len(words) == 1:
        return {"bool": {"should": [{"prefix": {name: {"value": text, "boost": w}}} for name, w in weighted],
                         "minimum_should_match": 1}}
    query: dict[str, Any] = {"query": text, "type": "phrase_prefix" if prefix else "phrase",
                             "fields": [f"{name}^{w:g}" for name, w in weighted], "tie_breaker": 1.0}
    if prefix:
        query["max_expansions"] = PHRASE_PREFIX_EXPANSIONS
    return {"multi_match": query}


def _render(node: Node, form: Form, boost: float = 1.0) -> dict[str, Any]:
    if isinstance(node, AnyOf):
        return {"bool": {"should": [_render(i, form, boost) for i in node.items], "minimum_should_match": 1}}
    if isinstance(node, AllOf):
        return {"bool": {"must": [_render(i, form, boost) for i in node.items]}}
    if isinstance(node, Abbreviation):
        key = node.concept.key if form is Form.EXACT else node.concept.folded_key
        return _leaf((key,), False, form, boost)
    assert isinstance(node, Term)
    return _leaf(node.words if form is Form.EXACT else node.folded, node.prefix, form, boost)


def _exact_boost(node: Node) -> dict[str, Any] | None:
    """The exact-spelling bonus of the leaves of ``node`` written with diacritics."""
    if isinstance(node, (AnyOf, AllOf)):
        parts = [p for p in map(_exact_boost, node.items) if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"bool": {"should": parts}}
    return _render(node, Form.EXACT, EXACT_WEIGHT) if node.has_diacritics else None


def to_dsl(query: Query) -> dict[str, Any] | None:
    """The ``query`` part of a search request, or None for an empty query (match every
    document; the caller adds its filters)."""
    if query.is_empty:
        return None
    body: dict[str, Any] = {}
    if query.include:
        body["must"] = [_render(n, Form.FOLDED) for n in query.include]
        should = [p for p in map(_exact_boost, query.include) if p is not None]
        if should:
            body["should"] = should
    if query.exclude:
        body["must_not"] = [_render(n, Form.FOLDED) for n in query.exclude]
    return {"bool": body}


def exact_filter(query: Query) -> dict[str, Any] | None:
    """Every term of ``query`` in its exact spelling (None when the query has no diacritics)."""
    if not any(has_diacritics(n) for n in query.include):
        return None
    return {"bool": {"filter": [_render(n, Form.EXACT) for n in query.include]}}
