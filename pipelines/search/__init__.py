"""Search that understands how Vietnamese government portals write, the same on every backend.

One implementation in Python of what a query means, so that SQLite FTS5 and a stock
Elasticsearch or OpenSearch node (no analysis plugin) give the same answers:

* :mod:`~pipelines.search.analysis` — NFC, tone placement, diacritic folding, words, and
  the indexed text of a field;
* :mod:`~pipelines.search.abbreviations` — UBND = Ủy ban nhân dân … (data, user-extensible);
* :mod:`~pipelines.search.fields` — the sibling fields/columns, their weights and mapping;
* :mod:`~pipelines.search.query` — the search language, parsed to a typed tree;
* :mod:`~pipelines.search.fts5`, :mod:`~pipelines.search.dsl` — that tree as an FTS5 MATCH
  expression and as an Elasticsearch/OpenSearch query;
* :mod:`~pipelines.search.evaluate` — the same match in memory (watchlists, tests);
* :mod:`~pipelines.search.highlight` — marked snippets, escaped HTML and plain text.
"""

from pipelines.search.abbreviations import (
    AbbreviationError,
    Abbreviations,
    abbreviations_from_settings,
    default_abbreviations,
    load_abbreviations,
)
from pipelines.search.analysis import IndexText, clean, fold, index_text, normalize_tones, words
from pipelines.search.dsl import exact_filter, to_dsl
from pipelines.search.evaluate import IndexedDocument, is_exact, matches
from pipelines.search.fields import (
    FIELD_WEIGHTS,
    Form,
    IndexedTexts,
    TextField,
    engine_properties,
    index_fields,
    indexed_texts,
)
from pipelines.search.fts5 import Fts5Columns, Fts5Expression, to_fts5
from pipelines.search.highlight import Highlight, highlight, snippet
from pipelines.search.query import Query, parse

__all__ = [
    "FIELD_WEIGHTS",
    "AbbreviationError",
    "Abbreviations",
    "Form",
    "Fts5Columns",
    "Fts5Expression",
    "Highlight",
    "IndexText",
    "IndexedDocument",
    "IndexedTexts",
    "Query",
    "TextField",
    "abbreviations_from_settings",
    "clean",
    "default_abbreviations",
    "engine_properties",
    "exact_filter",
    "fold",
    "highlight",
    "index_fields",
    "index_text",
    "indexed_texts",
    "is_exact",
    "load_abbreviations",
    "matches",
    "normalize_tones",
    "parse",
    "snippet",
    "to_dsl",
    "to_fts5",
    "words",
]
