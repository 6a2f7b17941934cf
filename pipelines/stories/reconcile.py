"""Stories in a store: the one reconciliation algorithm every backend runs against its own tables.

:class:`~pipelines.stories.assign.StoryIndex` keeps every signature in memory; a store keeps
them in its documents instead (see the docstring of :mod:`pipelines.stories.assign`), and a
document written since the last reconciliation is *pending*.  :func:`reconcile_batch` takes a
batch of pending documents and, through the small :class:`StoryTables` interface a backend
implements with its own queries, does what :meth:`StoryIndex.add` does:

1. the LSH candidates of each pending document (the documents that share one of its band
   keys), verified with :func:`~pipelines.stories.verify.same_story` — the same edges as in
   memory;
2. the stories those edges join: each pending document, the documents it matches and the
   stories they (and it) are already in are merged (union-find over documents and story ids);
3. every member of a changed story gets its fields again: ``story_id`` = the key of the
   earliest member (:func:`~pipelines.stories.assign.order_key`), ``story_size``,
   ``is_source``; only fields that differ are written, and the batch stops being pending.

Stories are the connected components of the verified-candidate graph, so the result does not
depend on how documents arrive or are batched, and is the same as :class:`StoryIndex` gives
for the same documents.  Existing stories are components already; a new document only adds
edges that touch it.  A pending document that another batch already joined to a story keeps
that story (its ``story_id`` is one of the nodes) and is still examined for its own edges.

The backend runs each batch serialised against other workers (SQLite: one ``BEGIN
IMMEDIATE`` transaction; engines: a store-wide lease), so two workers never make two
stories of one.  Pure: no store, no I/O of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pipelines.stories.assign import StoryFields, order_key
from pipelines.stories.signature import Signature, SignatureParams, band_keys
from pipelines.stories.verify import StoryRule, same_story

logger = logging.getLogger(__name__)

__all__ = ["ReconcileReport", "StoredStoryDoc", "StoryTables", "reconcile", "reconcile_batch"]

#: Pending documents taken per batch (one transaction or one lease renewal each).
BATCH = 500
#: A band key shared by more documents than this is boilerplate, not evidence: a phrase that
#: every article of a template has puts its minimum hash into thousands of documents, and
#: asking for all of them would cost a store O(n) a document.  Such keys are left out of the
#: candidate query.  A copy shares about ``bands * J**2`` keys with its original (three or more
#: at Jaccard 0.3), nearly all of them rare; on the evaluation sets no key comes near the limit.
MAX_BAND_DOCS = 200


@dataclass(frozen=True)
class StoredStoryDoc:
    """One document as the store keeps it for stories."""

    key: str
    published_at: str | None
    day_only: bool
    story_id: str | None = None
    story_size: int | None = None
    is_source: bool | None = None
    signature: Signature | None = None  # only where the algorithm needs it (pending and candidates)

    def fields(self) -> StoryFields | None:
        if self.story_id is None or self.story_size is None or self.is_source is None:
            return None
        return StoryFields(self.story_id, int(self.story_size), bool(self.is_source))


class StoryTables(Protocol):
    """What a backend answers for :func:`reconcile_batch` (inside its serialised section)."""

    def pending(self, limit: int) -> list[StoredStoryDoc]:
        """Up to ``limit`` pending documents, with their signatures (oldest writes first)."""

    def candidates(self, bands: Sequence[int], max_docs: int) -> set[str]:
        """The keys of every document that has one of ``bands``, leaving out the bands that
        more than ``max_docs`` documents have (:data:`MAX_BAND_DOCS`)."""

    # Optional: ``band_members(bands, max_docs) -> Mapping[int, Sequence[str]]``, the keys of
    # the documents of each band (bands with more than ``max_docs`` documents, or none, left
    # out).  A backend that answers it cheaply for a whole batch (SQLite) gets it used instead
    # of one :meth:`candidates` call a document; see :class:`_Candidates`.

    def signed(self, keys: Sequence[str]) -> dict[str, StoredStoryDoc]:
        """These documents with their signatures (unknown keys are absent)."""

    def members(self, story_ids: Sequence[str]) -> list[StoredStoryDoc]:
        """Every document whose ``story_id`` is one of ``story_ids`` (signatures not needed)."""

    def write(self, fields: Mapping[str, StoryFields], done: Sequence[str]) -> None:
        """Store ``fields`` by key; the documents of ``done`` are no longer pending."""


@dataclass
class ReconcileReport:
    """What one reconciliation did."""

    documents: int = 0  # pending documents examined
    candidates: int = 0  # LSH candidates seen
    verified: int = 0  # candidate pairs the verifier accepted
    rewritten: int = 0  # documents whose story fields changed
    merged: int = 0  # existing stories that were merged into another
    batches: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, other: ReconcileReport) -> None:
        self.documents += other.documents
        self.candidates += other.candidates
        self.verified += other.verified
        self.rewritten += other.rewritten
        self.merged += other.merged
        self.batches += other.batches
        self.notes.extend(other.notes)

    def to_dict(self) -> dict[str, object]:
        return {"documents": self.documents, "candidates": self.candidates, "verified": self.verified,
                "rewritten": self.rewritten, "merged": self.merged, "batches": self.batches}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(self, x: tuple[str, str]) -> tuple[str, str]:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: tuple[str, str], b: tuple[str, str]) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _doc(key: str) -> tuple[str, str]:
    return ("d", key)


def _story(story_id: str) -> tuple[str, str]:
    return ("s", story_id)


class _SignedRows:
    """The signatures of one batch that have ``num_perm`` values, in arrays (one row a
    document), so that a pending document is tested against all its candidates at once."""

    def __init__(self, docs: list[StoredStoryDoc]) -> None:
        sigs = [d.signature for d in docs if d.signature is not None]
        self.docs = docs
        self.row = {d.key: i for i, d in enumerate(docs)}
        self.hv = np.stack([s.hashvalues for s in sigs])
        self.shingles = np.array([s.shingles for s in sigs], dtype=np.int64)
        self.ntokens = np.array([len(s.tokens) for s in sigs], dtype=np.int64)
        self.tokens = np.concatenate([s.tokens for s in sigs]).astype(np.int64, copy=False)
        self.starts = np.cumsum(self.ntokens) - self.ntokens

    def plausible(self, sig: Signature, rows: np.ndarray, rule: StoryRule) -> np.ndarray:
        """The ``rows`` that may pass :func:`~pipelines.stories.verify.same_story` with ``sig``:
        its containment test (with a hair of slack, as :class:`StoryIndex` does) and its
        novel-token test, computed for all of them at once with numpy (on a template-heavy crawl
        1.5 million pairs pass the containment test and fail on novel tokens: one Python set
        operation a pair was a third of the reconciliation).  The survivors are then decided
        by :func:`same_story` itself, so this only saves work and never decides."""
        if len(rows) == 0:
            return rows
        j = np.count_nonzero(self.hv[rows] == sig.hashvalues, axis=1) / len(sig.hashvalues)
        theirs = self.shingles[rows]
        shorter = np.minimum(theirs, sig.shingles)
        with np.errstate(divide="ignore", invalid="ignore"):
            containment = j * (theirs + sig.shingles) / (1.0 + j) / shorter
        rows = rows[(shorter >= rule.min_shingles) & (containment >= rule.min_containment - 1e-9)]
        if len(rows) == 0:
            return rows
        # novel tokens = the shorter text's tokens minus those the two share (token arrays are
        # sets: make_signature makes them so); the shorter text as compare() chooses it
        # (fewer shingles, then fewer tokens)
        mine = np.sort(sig.tokens)
        counts = self.ntokens[rows]
        total = int(counts.sum())
        shared = np.zeros(len(rows), dtype=np.int64)
        if total and len(mine):
            seg = np.repeat(np.arange(len(rows)), counts)
            flat = self.tokens[np.repeat(self.starts[rows] - (np.cumsum(counts) - counts), counts)
                               + np.arange(total)]
            at = np.minimum(np.searchsorted(mine, flat), len(mine) - 1)
            shared = np.bincount(seg, weights=mine[at] == flat, minlength=len(rows)).astype(np.int64)
        theirs = self.shingles[rows]
        i_am_shorter = (sig.shingles < theirs) | ((sig.shingles == theirs) & (len(mine) <= counts))
        novel = np.where(i_am_shorter, len(mine), counts) - shared
        return rows[novel <= rule.max_novel]


class _Candidates:
    """The candidates of a batch's pending documents as row numbers of one :class:`_SignedRows`
    table.  A document's candidates arrive as groups of keys (the members of each of its bands,
    or the one set :meth:`StoryTables.candidates` gave); each distinct group is turned into an
    array of numbers once per batch, and a document's candidates are the union of its groups'
    arrays (numpy): on a template-heavy crawl the pending documents of a batch share most of
    their bands, and one Python set (then one dictionary look-up) per candidate key was half of
    the reconciliation.  Keys outside the table (no usable signature) get numbers past its rows,
    so that they are counted as candidates as before and never verified."""

    def __init__(self, table: _SignedRows) -> None:
        self.rows = len(table.docs)
        self.number: dict[str, int] = dict(table.row)
        self._arrays: dict[int, np.ndarray] = {}

    def _of(self, key: str) -> int:
        n = self.number.get(key)
        if n is None:
            n = self.number[key] = len(self.number)
        return n

    def _array(self, group: Collection[str]) -> np.ndarray:
        found = self._arrays.get(id(group))
        if found is None:
            found = self._arrays[id(group)] = np.fromiter((self._of(k) for k in group), dtype=np.int64,
                                                          count=len(group))
        return found

    def of(self, key: str, groups: Sequence[Collection[str]]) -> tuple[int, np.ndarray]:
        """How many distinct candidates ``key`` has (itself left out), and the sorted rows of
        those in the table."""
        if not groups:
            return 0, np.empty(0, dtype=np.int64)
        arrays = [self._array(g) for g in groups]
        mask = np.zeros(len(self.number) + 1, dtype=bool)  # a set of numbers: sorted, no repeats
        for a in arrays:
            mask[a] = True
        mask[self._of(key)] = False
        numbers = np.flatnonzero(mask)
        return len(numbers), numbers[numbers < self.rows]


def _signed_rows(docs: Iterable[StoredStoryDoc], num_perm: int) -> _SignedRows | None:
    """The documents with a signature of ``num_perm`` values, by key (None: there are none)."""
    usable = sorted((d for d in docs if d.signature is not None and len(d.signature.hashvalues) == num_perm),
                    key=lambda d: d.key)
    return _SignedRows(usable) if usable else None


def reconcile_batch(tables: StoryTables, limit: int = BATCH, params: SignatureParams | None = None,
                    rule: StoryRule | None = None, max_band_docs: int = MAX_BAND_DOCS) -> ReconcileReport:
    """Reconcile up to ``limit`` pending documents (see the module docstring)."""
    params = params or SignatureParams()
    rule = rule or StoryRule()
    report = ReconcileReport()
    pending = tables.pending(limit)
    if not pending:
        return report
    report.documents, report.batches = len(pending), 1
    mine = {p.key: p for p in pending}
    bands = {p.key: band_keys(p.signature, params) if p.signature is not None else [] for p in pending}
    # each document's candidates as groups of keys that may contain the document itself (the
    # groups are shared between documents: the same band, the same list)
    groups: dict[str, list[Collection[str]]]
    band_members = getattr(tables, "band_members", None)
    if band_members is not None:
        wanted = sorted({b for bs in bands.values() for b in bs})
        members_of: Mapping[int, Sequence[str]] = band_members(wanted, max_band_docs) if wanted else {}
        groups = {key: [g for b in bs if (g := members_of.get(b))] for key, bs in bands.items()}
    else:
        groups = {key: [tables.candidates(bs, max_band_docs)] if bs else [] for key, bs in bands.items()}
    distinct = {id(g): g for gs in groups.values() for g in gs}
    others = sorted({c for g in distinct.values() for c in g} - set(mine))
    known = tables.signed(others) if others else {}
    uf = _UnionFind()
    for p in pending:
        uf.find(_doc(p.key))
        if p.story_id is not None:
            uf.union(_doc(p.key), _story(p.story_id))
    by_size: dict[int, tuple[_SignedRows, _Candidates] | None] = {}
    for p in pending:
        if p.signature is None:
            continue
        size = len(p.signature.hashvalues)
        if size not in by_size:
            made = _signed_rows([*mine.values(), *known.values()], size)
            by_size[size] = (made, _Candidates(made)) if made is not None else None
        found = by_size[size]
        assert found is not None  # p itself has a signature of this size
        table, candidates = found
        count, rows = candidates.of(p.key, groups[p.key])
        report.candidates += count
        if not count:
            continue
        for r in table.plausible(p.signature, rows, rule).tolist():
            other = table.docs[r]
            c = other.key
            if other.signature is None or not same_story(p.signature, other.signature, rule):
                continue
            report.verified += 1
            if c in mine:
                uf.union(_doc(p.key), _doc(c))
            else:
                uf.union(_doc(p.key), _story(other.story_id) if other.story_id is not None else _doc(c))
                if other.story_id is None:  # written before stories were kept: a story of its own
                    mine.setdefault(c, other)
    # every story a node stands for, and every member of those stories
    story_ids = sorted({node[1] for node in uf.parent if node[0] == "s"})
    members: dict[str, StoredStoryDoc] = {m.key: m for m in (tables.members(story_ids) if story_ids else [])}
    for key, doc in mine.items():
        members.setdefault(key, doc)
    components: dict[tuple[str, str], list[StoredStoryDoc]] = {}
    for m in members.values():
        node = _story(m.story_id) if m.story_id is not None and _story(m.story_id) in uf.parent else _doc(m.key)
        components.setdefault(uf.find(node), []).append(m)
    changed: dict[str, StoryFields] = {}
    for docs in components.values():
        source = min(docs, key=lambda d: order_key(d.published_at, d.key, d.day_only))
        before = {d.story_id for d in docs if d.story_id is not None}
        report.merged += max(0, len(before) - 1)
        for d in docs:
            new = StoryFields(story_id=source.key, story_size=len(docs), is_source=d.key == source.key)
            if d.fields() != new:
                changed[d.key] = new
    report.rewritten = len(changed)
    tables.write(changed, [p.key for p in pending])
    return report


def reconcile(batches: Callable[[], AbstractContextManager[StoryTables]], limit: int = BATCH,
              params: SignatureParams | None = None, rule: StoryRule | None = None,
              max_batches: int | None = None, max_band_docs: int = MAX_BAND_DOCS) -> ReconcileReport:
    """Reconcile every pending document, one serialised batch at a time: ``batches()`` opens
    the backend's serialised section (a transaction, a lease) and gives its tables."""
    total = ReconcileReport()
    while max_batches is None or total.batches < max_batches:
        with batches() as tables:
            report = reconcile_batch(tables, limit, params, rule, max_band_docs)
        if not report.batches:
            break
        total.add(report)
    return total


def group_members(docs: Iterable[StoredStoryDoc]) -> dict[str, list[StoredStoryDoc]]:
    """Documents by story id, each story oldest first (the source first)."""
    out: dict[str, list[StoredStoryDoc]] = {}
    for d in docs:
        out.setdefault(d.story_id or d.key, []).append(d)
    for docs_ in out.values():
        docs_.sort(key=lambda d: order_key(d.published_at, d.key, d.day_only))
    return out
