"""A parsed query as an SQLite FTS5 MATCH expression.

The FTS5 table has the sibling columns of :mod:`pipelines.search.fields` (``title_exact``
… ``body_folded``), filled with :func:`pipelines.search.fields.index_fields`.  Every word
is written as a quoted FTS5 string and every operator by this module, so no user input
reaches the FTS5 parser as syntax: the expression is always valid.

* ``match``: the rows to return.  Each term must be found in the folded columns; a term
  written with diacritics may *also* be found in the exact columns, which does not change
  the rows but raises ``bm25()`` (weights from :func:`pipelines.search.fields.column_weights`)
  for exact spellings: one pass ranks them higher.
* ``exclude``: the excluded terms, for a query that only excludes (FTS5 has no unary
  NOT): ``WHERE rowid NOT IN (SELECT rowid FROM fts WHERE fts MATCH :exclude)``.
* ``exact``: every term in its exact spelling, for the ``exact`` flag of a hit (None when
  the query has no diacritics).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipelines.search.fields import Form, search_fields
from pipelines.search.query import Abbreviation, AllOf, AnyOf, Node, Query, Term, has_diacritics

logger = logging.getLogger(__name__)

__all__ = ["Fts5Columns", "Fts5Expression", "to_fts5"]


@dataclass(frozen=True)
class Fts5Columns:
    """Names of the FTS5 columns holding each form of the text fields."""

    exact: tuple[str, ...] = search_fields(Form.EXACT)
    folded: tuple[str, ...] = search_fields(Form.FOLDED)


@dataclass(frozen=True)
class Fts5Expression:
    match: str | None
    exclude: str | None
    exact: str | None


def _string(words: tuple[str, ...]) -> str:
    return '"' + " ".join(w.replace('"', '""') for w in words) + '"'


def _filter(columns: tuple[str, ...]) -> str:
    return "{" + " ".join(columns) + "}"


def _leaf(words: tuple[str, ...], prefix: bool, columns: tuple[str, ...]) -> str:
    return f"{_filter(columns)} : {_string(words)}" + (" *" if prefix else "")


def _render(node: Node, columns: Fts5Columns, form: Form | None) -> str:
    """``form`` None: folded, or folded OR exact for a leaf written with diacritics."""
    if isinstance(node, (AnyOf, AllOf)):
        op = " OR " if isinstance(node, AnyOf) else " AND "
        return "(" + op.join(_render(item, columns, form) for item in node.items) + ")"
    if isinstance(node, Abbreviation):
        folded: tuple[tuple[str, ...], bool] = ((node.concept.folded_key,), False)
        exact: tuple[tuple[str, ...], bool] = ((node.concept.key,), False)
    else:
        assert isinstance(node, Term)
        folded, exact = (node.folded, node.prefix), (node.words, node.prefix)
    if form is Form.EXACT:
        return _leaf(*exact, columns.exact)
    plain = _leaf(*folded, columns.folded)
    if form is None and node.has_diacritics:
        return f"({plain} OR {_leaf(*exact, columns.exact)})"
    return plain


def to_fts5(query: Query, columns: Fts5Columns | None = None) -> Fts5Expression:
    """The FTS5 expressions of ``query`` (see the module docstring)."""
    cols = columns or Fts5Columns()
    exclude = " OR ".join(_render(n, cols, Form.FOLDED) for n in query.exclude) or None
    if not query.include:
        return Fts5Expression(match=None, exclude=exclude, exact=None)
    match = " AND ".join(_render(n, cols, None) for n in query.include)
    if exclude:
        match = f"({match}) NOT ({exclude})"
    exact = None
    if any(has_diacritics(n) for n in query.include):
        exact = " AND ".join(_render(n, cols, Form.EXACT) for n in query.include)
    return Fts5Expression(match=match, exclude=exclude, exact=exact)
