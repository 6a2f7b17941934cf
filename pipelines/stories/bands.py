"""The LSH band table in memory: band key -> the documents that have it.

``datasketch.MinHashLSH`` does this job with one Python ``set`` per band value and one
``bytes`` key per band and document; measured by ``scripts/eval_stories.py`` with the
chosen parameters (32 bands of 2 rows) it takes about 9.5 KB a document (950 MB for
100,000 documents).  This table keeps the same keys (:func:`pipelines.stories.signature.band_keys`)
in two sorted numpy arrays, 12 bytes per band and document (under 0.5 KB a document),
with a small dictionary for the keys added since the last sort; the candidates it returns
are the same.  A store keeps the same keys in a table or an index field instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["BandTable"]

#: Keys added since the last sort are merged into the arrays once they are this many, or
#: an eighth of the arrays (amortised O(log n) a key).
_MIN_MERGE = 4096


class BandTable:
    """Band keys of documents numbered 0, 1, 2 …; candidates are documents sharing a key."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)
        self._docs = np.empty(0, dtype=np.int32)
        self._recent: dict[int, list[int]] = {}
        self._recent_count = 0

    def __len__(self) -> int:
        """How many (key, document) entries the table holds."""
        return len(self._keys) + self._recent_count

    def add(self, doc: int, keys: Iterable[int]) -> None:
        for key in keys:
            self._recent.setdefault(key, []).append(doc)
            self._recent_count += 1
        if self._recent_count >= max(_MIN_MERGE, len(self._keys) // 8):
            self._merge()

    def _merge(self) -> None:
        if not self._recent:
            return
        new_keys = np.fromiter((k for k, docs in self._recent.items() for _ in docs), dtype=np.int64,
                               count=self._recent_count)
        new_docs = np.fromiter((d for docs in self._recent.values() for d in docs), dtype=np.int32,
                               count=self._recent_count)
        keys = np.concatenate((self._keys, new_keys))
        docs = np.concatenate((self._docs, new_docs))
        order = np.argsort(keys, kind="stable")
        self._keys, self._docs = keys[order], docs[order]
        self._recent.clear()
        self._recent_count = 0

    def candidates(self, keys: Iterable[int]) -> set[int]:
        """Every document that shares at least one of ``keys``."""
        wanted = np.fromiter(keys, dtype=np.int64)
        out: set[int] = set()
        if len(wanted) == 0:
            return out
        if len(self._keys):
            lo = np.searchsorted(self._keys, wanted, side="left")
            hi = np.searchsorted(self._keys, wanted, side="right")
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                if b > a:
                    out.update(self._docs[a:b].tolist())
        recent = self._recent
        for key in wanted.tolist():
            docs = recent.get(key)
            if docs:
                out.update(docs)
        return out
