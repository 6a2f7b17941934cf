"""The searchable fields: their names in every backend, their weights, their indexed text.

Each text field of a document (title, summary, body) is indexed twice, as sibling fields
filled in Python by :func:`index_fields`: ``<field>_exact`` (lower-case, tone-normalised
words) and ``<field>_folded`` (the same without diacritics), both followed by the
abbreviation keys (:func:`pipelines.search.analysis.index_text`).  SQLite FTS5 tables use
these names as columns, Elasticsearch/OpenSearch as fields analysed by the built-in
``standard`` analyzer (:func:`engine_properties`): no analysis plugin on any node.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipelines.search.abbreviations import Abbreviations, default_abbreviations
from pipelines.search.analysis import IndexText, index_text

logger = logging.getLogger(__name__)

__all__ = [
    "EXACT_WEIGHT",
    "FIELD_WEIGHTS",
    "Form",
    "IndexedTexts",
    "TextField",
    "column_weights",
    "engine_properties",
    "field_name",
    "index_fields",
    "indexed_texts",
    "search_fields",
]


class TextField(StrEnum):
    TITLE = "title"
    SUMMARY = "summary"
    BODY = "body"


class Form(StrEnum):
    EXACT = "exact"
    FOLDED = "folded"


#: How much a word counts in each field (the relevance rule of every backend).
FIELD_WEIGHTS: Mapping[TextField, float] = {TextField.TITLE: 8.0, TextField.SUMMARY: 3.0, TextField.BODY: 1.0}
#: An exact-spelling match counts this many times its field's weight on top of the folded one.
EXACT_WEIGHT = 2.0


def field_name(field: TextField | str, form: Form) -> str:
    """``title`` + exact -> ``title_exact``."""
    return f"{TextField(field).value}_{form.value}"


def search_fields(form: Form) -> tuple[str, ...]:
    """The sibling field (or FTS5 column) names of one form, in :class:`TextField` order."""
    return tuple(field_name(f, form) for f in TextField)


def column_weights(columns: tuple[str, ...]) -> tuple[float, ...]:
    """The ``bm25()`` weight of each FTS5 column named as :func:`field_name` makes them; other
    columns (unindexed ones) weigh 0."""
    out = []
    for column in columns:
        name, _, form = column.rpartition("_")
        try:
            weight = FIELD_WEIGHTS[TextField(name)]
        except ValueError:
            out.append(0.0)
            continue
        out.append(weight * EXACT_WEIGHT if form == Form.EXACT else weight)
    return tuple(out)


#: (document key, exact field, folded field) of each text field, named once.
_FIELD_NAMES = tuple((f.value, field_name(f, Form.EXACT), field_name(f, Form.FOLDED)) for f in TextField)


#: A document's (title, summary, body).
Texts = tuple["str | None", "str | None", "str | None"]


@dataclass(frozen=True)
class IndexedTexts:
    """The indexed forms of a document's three text fields (:func:`index_text` of each, in
    :class:`TextField` order), made where the page was extracted (the crawl's extraction
    worker) so that the crawl's own process does not analyse them again: ``fingerprint`` of the
    abbreviations they were made with, ``texts`` they were made from.  A store uses them only
    for those very texts and its own abbreviations (:meth:`for_texts`); else it analyses the
    text itself, so a document carrying them is indexed exactly as one without."""

    fingerprint: str
    texts: Texts
    fields: tuple[IndexText, IndexText, IndexText]

    def for_texts(self, texts: Texts, abbreviations: Abbreviations) -> tuple[IndexText, ...] | None:
        """The indexed forms when they were made of ``texts`` with ``abbreviations``, else None."""
        if self.fingerprint != abbreviations.fingerprint or self.texts != texts:
            return None
        return self.fields


def indexed_texts(texts: Texts, abbreviations: Abbreviations) -> IndexedTexts:
    """:class:`IndexedTexts` of ``texts`` (title, summary, body)."""
    title, summary, body = (index_text(t, abbreviations) for t in texts)
    return IndexedTexts(abbreviations.fingerprint, texts, (title, summary, body))


def index_fields(document: Mapping[str, Any], abbreviations: Abbreviations | None = None,
                 indexed: IndexedTexts | None = None) -> dict[str, str]:
    """The six sibling fields of one document (``title``, ``summary``, ``body`` read from
    ``document``; a missing or None field is indexed as empty).  ``indexed``: the forms made
    beforehand, used when they fit the document's texts and ``abbreviations``."""
    abbr = abbreviations if abbreviations is not None else default_abbreviations()
    values = [document.get(key) for key, _, _ in _FIELD_NAMES]
    texts: Texts = (*(v if isinstance(v, str) else None for v in values),)  # type: ignore[assignment]
    made = indexed.for_texts(texts, abbr) if indexed is not None else None
    out: dict[str, str] = {}
    for i, (_, exact_name, folded_name) in enumerate(_FIELD_NAMES):
        text = made[i] if made is not None else index_text(texts[i], abbr)
        out[exact_name] = text.exact
        out[folded_name] = text.folded
    return out


def engine_properties() -> dict[str, Any]:
    """The Elasticsearch/OpenSearch mapping of the sibling fields: text analysed by the
    built-in ``standard`` analyzer, which only has to split the words Python wrote."""
    return {name: {"type": "text", "analyzer": "standard"}
            for form in Form for name in search_fields(form)}
