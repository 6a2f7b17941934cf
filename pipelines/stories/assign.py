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
import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np

from pipelines.stories.bands import BandTable
from pipelines.stories.signature import Signature, SignatureParams, band_keys, make_signature
from pipelines.stories.verify import StoryRule, same_story

logger = logging.getLogger(__name__)

__all__ = ["StoryDoc", "StoryFields", "StoryIndex", "order_key", "stored_fields"]

_VN = timezone(timedelta(hours=7))
_NO_DATE = datetime.max.replace(tzinfo=UTC)


def order_key(published_at: str | datetime | None, key: str, day_only: bool = False) -> tuple[datetime, str]:
    """How documents of a story are ordered to find its source: publication time, then the key.

    ISO 8601; a time without offset is Vietnamese time.  A date without a time (``"2024-05-01"``,
    or ``day_only`` for a store that keeps such dates as midnight) counts as the end of its
    day: a portal that shows only dates does not win against a timed publication of the same
    day.  No date at all: after every dated document.
    """
    when: datetime | None = None
    if isinstance(published_at, datetime):
        when = published_at
    elif published_at:
        text = published_at.strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            when = None
        if len(text) <= 10 or when is None:
            try:
                day = date.fromisoformat(text[:10])
            except ValueError:
                return _NO_DATE, key
            when = datetime(day.year, day.month, day.day)
            day_only = True
    if when is None:
        return _NO_DATE, key
    if when.tzinfo is None:
        when = when.replace(tzinfo=_VN)
    if day_only:
        when = when.replace(hour=23, minute=59, second=59, microsecond=0)
    return when.astimezone(UTC), key


@dataclass(frozen=True)
class StoryDoc:
    """One document as the story index sees it."""

    key: str
    published_at: str | datetime | None
    signature: Signature
    day_only: bool = False  # the page showed a date without a time (``date_precision: day``)

    @classmethod
    def from_text(cls, key: str, published_at: str | datetime | None, body: str | None,
                  params: SignatureParams | None = None, day_only: bool = False) -> StoryDoc:
        return cls(key=key, published_at=published_at, signature=make_signature(body, params), day_only=day_only)


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
    r"""The stories of every document added so far; :meth:`add` takes batches in any order.

    Kept compactly (measured by ``scripts/eval_stories.py``): the MinHash values in one
    growing uint32 matrix, publication times and union-find parents in ``array``\ s,
    member lists only for stories of two or more documents.
    """

    def __init__(self, params: SignatureParams | None = None, rule: StoryRule | None = None) -> None:
        self.params = params or SignatureParams()
        self.rule = rule or StoryRule()
        self._bands = BandTable()
        self._keys: list[str] = []
        self._number: dict[str, int] = {}
        self._hv = np.empty((0, self.params.num_perm), dtype=np.uint32)
        self._shingles = np.empty(0, dtype=np.int64)
        self._tokens: list[np.ndarray] = []
        self._time = array("d")  # UTC timestamp; +inf without a date
        self._parent = array("q")
        self._members: dict[int, list[int]] = {}  # root -> members, stories of 2+ only
        self._source: dict[int, int] = {}  # root -> earliest member, stories of 2+ only
        #: LSH candidates seen, pairs the verifier was asked about, and how many it accepted.
        self.candidates = 0
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

    def _before(self, a: int, b: int) -> bool:
        """Whether document ``a`` comes before ``b`` (see :func:`order_key`)."""
        ta, tb = self._time[a], self._time[b]
        return ta < tb or (ta == tb and self._keys[a] <= self._keys[b])

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return
        ma, mb = self._members.pop(ra, [ra]), self._members.pop(rb, [rb])
        if len(ma) < len(mb):
            ra, rb, ma, mb = rb, ra, mb, ma
        sa, sb = self._source.pop(ra, ra), self._source.pop(rb, rb)
        self._parent[rb] = ra
        ma.extend(mb)
        self._members[ra] = ma
        self._source[ra] = sa if self._before(sa, sb) else sb

    # --- adding ------------------------------------------------------------------------------

    def _append(self, doc: StoryDoc) -> int:
        i = len(self._keys)
        sig = doc.signature
        if len(sig.hashvalues) != self.params.num_perm:
            raise ValueError(f"{doc.key}: signature of {len(sig.hashvalues)} values, expected {self.params.num_perm}")
        if i == len(self._hv):  # grow by half
            size = max(1024, i + i // 2)
            grown = np.empty((size, self.params.num_perm), dtype=np.uint32)
            grown[:i] = self._hv[:i]
            self._hv = grown
            counts = np.empty(size, dtype=np.int64)
            counts[:i] = self._shingles[:i]
            self._shingles = counts
        self._hv[i] = sig.hashvalues
        self._shingles[i] = sig.shingles
        self._keys.append(doc.key)
        self._number[doc.key] = i
        self._tokens.append(sig.tokens.copy())
        when = order_key(doc.published_at, doc.key, doc.day_only)[0]
        self._time.append(math.inf if when == _NO_DATE else when.timestamp())
        self._parent.append(i)
        self._bands.add(i, band_keys(sig, self.params))
        return i

    def _signature(self, i: int) -> Signature:
        return Signature(hashvalues=self._hv[i], shingles=int(self._shingles[i]), tokens=self._tokens[i])

    def _matches(self, i: int, candidates: list[int]) -> list[int]:
        """The candidates the verifier accepts as one story with ``i``.

        The containment test is first run on all candidates at once with numpy (the same
        formula as :func:`~pipelines.stories.verify.compare`, with a hair of slack); the
        survivors then go through :func:`~pipelines.stories.verify.same_story` itself.
        """
        self.candidates += len(candidates)
        if not candidates:
            return []
        rule = self.rule
        idx = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        j = np.count_nonzero(self._hv[idx] == self._hv[i], axis=1) / self.params.num_perm
        mine = self._shingles[i]
        theirs = self._shingles[idx]
        shorter = np.minimum(theirs, mine)
        with np.errstate(divide="ignore", invalid="ignore"):
            containment = j * (theirs + mine) / (1.0 + j) / shorter
        keep = (shorter >= rule.min_shingles) & (containment >= rule.min_containment - 1e-9)
        mine_sig = self._signature(i)
        out = []
        for k in idx[keep].tolist():
            self.verified += 1
            if same_story(mine_sig, self._signature(k), rule):
                self.accepted += 1
                out.append(k)
        return out

    def add(self, docs: Iterable[StoryDoc]) -> dict[str, StoryFields]:
        """Add a batch; return the fields of every document whose fields are new or changed
        (the batch's documents and the members of the stories they joined or merged).

        A key seen before is ignored: a document's signature is fixed when it is first added.
        """
        new = [self._append(doc) for doc in docs if doc.key not in self._number]
        for i in new:
            keys = band_keys(self._signature(i), self.params)
            candidates = [j for j in sorted(self._bands.candidates(keys)) if self._root(j) != self._root(i)]
            for j in self._matches(i, candidates):
                self._union(i, j)
        changed: dict[str, StoryFields] = {}
        for root in {self._root(i) for i in new}:
            for m in self._members.get(root, [root]):
                changed[self._keys[m]] = self._fields_of_root(root, m)
        return changed

    def _fields_of_root(self, root: int, i: int) -> StoryFields:
        source = self._source.get(root, root)
        size = len(self._members.get(root, (root,)))
        return StoryFields(story_id=self._keys[source], story_size=size, is_source=source == i)

    # --- reading -----------------------------------------------------------------------------

    def fields(self, key: str) -> StoryFields:
        """The story fields of one document (KeyError for an unknown key)."""
        i = self._number[key]
        return self._fields_of_root(self._root(i), i)

    def all_fields(self) -> dict[str, StoryFields]:
        return {key: self.fields(key) for key in self._keys}

    def stories(self) -> dict[str, list[str]]:
        """story id -> member keys, oldest first (every document is in one story)."""
        out: dict[str, list[str]] = {}
        for i, key in enumerate(self._keys):
            root = self._root(i)
            if root == i and root not in self._members:
                out[key] = [key]
        for root, members in self._members.items():
            ordered = sorted(members, key=lambda m: (self._time[m], self._keys[m]))
            out[self._keys[self._source[root]]] = [self._keys[m] for m in ordered]
        return out
