"""The search language on a live OpenSearch node, with the plugin-free mapping.

The sibling fields of :func:`pipelines.search.fields.engine_properties` use only the
built-in ``standard`` analyzer; documents are indexed with
:func:`pipelines.search.fields.index_fields` and queried with
:func:`pipelines.search.dsl.to_dsl`.  The engine must return exactly the documents the
in-memory evaluator matches (and so the FTS5 table of tests/test_search_fts5.py), flag the
same exact hits and rank "Tân Hòa" above "Văn hóa" for "hoà".
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipelines.search.dsl import exact_filter, to_dsl
from pipelines.search.evaluate import IndexedDocument, is_exact, matches
from pipelines.search.fields import engine_properties, index_fields
from pipelines.search.query import Query, parse
from tests.test_search_fts5 import DOCS, SEPARATORS, TYPICAL, VOCAB

pytestmark = pytest.mark.engine


@dataclass
class Engine:
    client: Any
    index: str
    docs: dict[int, IndexedDocument]

    def add(self, rowid: int, title: str = "", summary: str = "", body: str = "") -> None:
        fields = index_fields({"title": title, "summary": summary, "body": body})
        self.client.index(index=self.index, id=str(rowid), body={"doc_id": rowid, **fields})
        self.docs[rowid] = IndexedDocument.from_fields(fields)

    def _ids(self, query: dict[str, Any]) -> list[int]:
        res = self.client.search(index=self.index, body={
            "query": query, "size": 1000, "track_scores": True, "_source": False,
            "sort": [{"_score": {"order": "desc"}}, {"doc_id": {"order": "asc"}}]})
        return [int(h["_id"]) for h in res["hits"]["hits"]]

    def search(self, q: Query) -> list[int]:
        return self._ids(to_dsl(q) or {"match_all": {}})

    def exact(self, q: Query) -> set[int]:
        flt = exact_filter(q)
        return set(self._ids({"bool": {"filter": [to_dsl(q) or {"match_all": {}}, flt]}})) if flt else set()


@pytest.fixture(scope="module")
def engine_client(opensearch_url: str) -> Iterator[Any]:
    from opensearchpy import OpenSearch

    client = OpenSearch(opensearch_url, use_ssl=False, timeout=60)
    yield client
    client.close()


def _new_index(client: Any) -> str:
    index = f"t{uuid.uuid4().hex[:10]}-search"
    client.indices.create(index=index, body={
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"dynamic": False, "properties": {"doc_id": {"type": "integer"}, **engine_properties()}}})
    return index


@pytest.fixture(scope="module")
def demo(engine_client: Any) -> Iterator[Engine]:
    engine = Engine(engine_client, _new_index(engine_client), {})
    for rowid, (title, body) in DOCS.items():
        engine.add(rowid, title=title, body=body)
    engine_client.indices.refresh(index=engine.index)
    yield engine
    engine_client.indices.delete(index=engine.index)


def test_the_mapping_needs_no_analysis_plugin() -> None:
    mapping = json.dumps(engine_properties())
    assert set(json.loads(mapping)) == {f"{f}_{form}" for f in ("title", "summary", "body")
                                        for form in ("exact", "folded")}
    assert {p["analyzer"] for p in engine_properties().values()} == {"standard"}


@pytest.mark.parametrize("text", TYPICAL)
def test_typical_queries_return_what_the_evaluator_matches(demo: Engine, text: str) -> None:
    q = parse(text)
    found = demo.search(q)
    assert len(found) == len(set(found))
    assert set(found) == {rowid for rowid, doc in demo.docs.items() if matches(q, doc)}
    assert demo.exact(q) == {rowid for rowid, doc in demo.docs.items() if is_exact(q, doc)}


def test_an_abbreviation_and_its_long_form_find_the_same_documents(demo: Engine) -> None:
    assert set(demo.search(parse("UBND"))) == set(demo.search(parse('"Ủy ban nhân dân"'))) == {1, 2, 3, 4}


def test_hoa_flags_hoa_as_exact_and_ranks_it_above_van_hoa(demo: Engine) -> None:
    ranked = demo.search(parse("hoà"))
    assert set(ranked) == {2, 6, 7}
    assert demo.exact(parse("hoà")) == {2, 7}
    assert ranked.index(7) < ranked.index(6)
    plain = demo.search(parse("hoa"))  # on the folded words alone "Văn hóa" wins
    assert plain.index(6) < plain.index(7)


def test_generated_queries_on_a_generated_corpus_match_the_evaluator(engine_client: Any) -> None:
    rng = random.Random(20250612)

    def text(n: int) -> str:
        return "".join(rng.choice(VOCAB) + rng.choice(SEPARATORS) for _ in range(rng.randint(0, n)))

    engine = Engine(engine_client, _new_index(engine_client), {})
    try:
        for rowid in range(1, 61):
            engine.add(rowid, text(6), text(10), text(30))
        engine_client.indices.refresh(index=engine.index)
        pieces = [*VOCAB, '"', "-", "*", " OR ", " ", " ", "th*", "ngh*", "UBND", '"Ủy ban nhân dân"', "HĐND",
                  '"UBND tỉnh"', "KT-XH"]
        for _ in range(150):
            q = parse("".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))))
            expected = {rowid for rowid, doc in engine.docs.items() if matches(q, doc)}
            assert set(engine.search(q)) == expected, q.source
            assert engine.exact(q) == {rowid for rowid in expected if is_exact(q, engine.docs[rowid])}, q.source
    finally:
        engine_client.indices.delete(index=engine.index)
