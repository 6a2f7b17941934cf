"""Stories from signatures: incremental assignment and merging, independent of arrival order.

A **story** is a connected component of the graph whose edges are the pairs of documents
that are LSH candidates (:func:`~pipelines.stories.signature.band_keys`) *and* pass the
verifier (:func:`~pipelines.stories.verify.same_story`).  Both tests look at the two
documents only, so the edges, and therefore the stories, are the same whatever the order
in which documents arrive and however they are cut into batches: a document that arrives
late simply adds its edges, and a document that links two stories merges them.

A story's **source** is its earliest member: the smallest ``(published_at, key)``, a
document without a date coming after every dated one.  Its **id** is the source's key.  It
is therefore stable once given: documents published later never change it; it changes only
when an earlier publication of the same text arrives (the story had been started from a
copy) or when two stories merge (the merged story keeps the older source's id).

What a store keeps per document, so that it can run the same algorithm against its
tables (see :class:`StoryFields` and :func:`stored_fields`):

* ``story_bands`` — the band keys (an indexed ``(band, document)`` table on SQLite, a
  ``long`` field on the engines): the candidate query;
* ``story_signature`` — :meth:`Signature.to_bytes` (base64 on the engines): the verifier's input;
* ``story_id``, ``story_size``, ``is_source`` — the result, rewritten for every member
  of a story that grows or merges (the mapping :meth:`StoryIndex.add` returns).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from pipelines.stories.bands import BandTable
from pipelines.stories.signature import Signature, SignatureParams, band_keys, make_signature
from pipelines.stories.verify import StoryRule, same_story

logger = logging.getLogger(__name__)

__all__ = ["StoryDoc", "StoryFields", "StoryIndex", "order_key", "stored_fields"]

_VN = timezone(timedelta(hours=7))
_NO_DATE = datetime.max.replace(tzinfo=UTC)


def order_key(published_at: str | datetime | None, key: str) -> tuple[datetime, str]:
    """How documents of a story are ordered to find its source: publication time (ISO 8601;
    a date alone or a time without offset is Vietnamese time), then the key; no date: last."""
    when: datetime | None = None
    if isinstance(published_at, datetime):
        when = published_at
    elif published_at:
        try:
            when = datetime.fromisoformat(published_at.strip())
        except ValueError:
            try:
                day = date.fromisoformat(published_at.strip()[:10])
            except ValueError:
                when = None
            else:
                when = datetime(day.year, day.month, day.day)
    if when is None:
        return _NO_DATE, key
    if when.tzinfo is None:
        when = when.replace(tzinfo=_VN)
    return when.astimezone(UTC), key


@dataclass(frozen=True)
class StoryDoc:
    """One document as the story index sees it."""

    key: str
    published_at: str | datetime | None
    signature: Signature

    @classmethod
    def from_text(cls, key: str, published_at: str | datetime | None, body: str | None,
                  params: SignatureParams | None = None) -> StoryDoc:
        return cls(key=key, published_at=published_at, signature=make_signature(body, params))


@dataclass(frozen=True)
class StoryFields:
    """A document's place in its story, as a store and an export show it."""

    story_id: str
    story_size: int
    is_source: bool


def stored_fields(doc: StoryDoc, fields: StoryFields, params: SignatureParams | None = None) -> dict[str, object]:
    """Everything a store persists for one document (see the module docstring)."""
    return {
        "story_bands": band_keys(doc.signature, params),
        "story_signature": doc.signature.to_bytes(),
        "story_id": fields.story_id,
        "story_size": fields.story_size,
        "is_source": fields.is_source,
    }


class StoryIndex:
    """The stories of every document added so far; :meth:`add` takes batches in any order."""

    def __init__(self, params: SignatureParams | None = None, rule: StoryRule | None = None) -> None:
        self.params = params or SignatureParams()
        self.rule = rule or StoryRule()
        self._bands = BandTable()
        self._keys: list[str] = []
        self._number: dict[str, int] = {}
        self._signatures: list[Signature] = []
        self._order: list[tuple[datetime, str]] = []
        self._parent: list[int] = []
        self._members: dict[int, list[int]] = {}  # root -> members
        self._source: dict[int, int] = {}  # root -> earliest member
        #: Pairs the verifier was asked about, and how many it accepted (for the benchmark).
        self.verified = 0
        self.accepted = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._number

    # --- union-find --------------------------------------------------------------------------

    def _root(self, i: int) -> int:
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def _union(self, a: int, b: int) -> int:
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return ra
        if len(self._members[ra]) < len(self._members[rb]):
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._members[ra].extend(self._members.pop(rb))
        sa, sb = self._source[ra], self._source.pop(rb)
        self._source[ra] = sa if self._order[sa] <= self._order[sb] else sb
        return ra

    # --- adding ------------------------------------------------------------------------------

    def add(self, docs: Iterable[StoryDoc]) -> dict[str, StoryFields]:
        """Add a batch; return the fields of every document whose fields are new or changed
        (the batch's documents and the members of the stories they joined or merged).

        A key seen before is ignored: a document's signature is fixed when it is first added.
        """
        new: list[int] = []
        for doc in docs:
            if doc.key in self._number:
                continue
            i = len(self._keys)
            self._keys.append(doc.key)
            self._number[doc.key] = i
            self._signatures.append(doc.signature)
            self._order.append(order_key(doc.published_at, doc.key))
            self._parent.append(i)
            self._members[i] = [i]
            self._source[i] = i
            self._bands.add(i, band_keys(doc.signature, self.params))
            new.append(i)
        for i in new:
            sig = self._signatures[i]
            for j in sorted(self._bands.candidates(band_keys(sig, self.params))):
                if self._root(i) == self._root(j):
                    continue  # already one story: this edge changes nothing
                self.verified += 1
                if same_story(sig, self._signatures[j], self.rule):
                    self.accepted += 1
                    self._union(i, j)
        changed: dict[str, StoryFields] = {}
        for root in {self._root(i) for i in new}:
            for m in self._members[root]:
                changed[self._keys[m]] = self._fields_of_root(root, m)
        return changed

    def _fields_of_root(self, root: int, i: int) -> StoryFields:
        source = self._source[root]
        return StoryFields(story_id=self._keys[source], story_size=len(self._members[root]), is_source=source == i)

    # --- reading -----------------------------------------------------------------------------

    def fields(self, key: str) -> StoryFields:
        """The story fields of one document (KeyError for an unknown key)."""
        i = self._number[key]
        return self._fields_of_root(self._root(i), i)

    def all_fields(self) -> dict[str, StoryFields]:
        return {key: self.fields(key) for key in self._keys}

    def stories(self) -> dict[str, list[str]]:
        """story id -> member keys, oldest first."""
        out: dict[str, list[str]] = {}
        for root, members in self._members.items():
            ordered = sorted(members, key=self._order.__getitem__)
            out[self._keys[self._source[root]]] = [self._keys[m] for m in ordered]
        return out
