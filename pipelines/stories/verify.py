"""Is this pair of documents one story?  The verifier run on every LSH candidate.

LSH finds candidates with a low Jaccard on purpose (a half copy shares a quarter of its
original's shingles).  The verifier then decides with three pieces of evidence, all read
from the two :class:`~pipelines.stories.signature.Signature` (no body is read again):

* **containment** — the share of the *shorter* text's shingles found in the longer one,
  estimated from the MinHash Jaccard ``J`` and the shingle counts ``a`` and ``b``:
  ``|A ∩ B| = J (a + b) / (1 + J)``.  A trimmed or half copy keeps most of its own
  shingles in the original even when its Jaccard is low;
* **novel distinctive tokens** — numbers, dates and proper names of the shorter text that
  the longer one does not have.  A reprint adds none (its cuts only remove tokens); two
  announcements made from one template ("lịch tiếp công dân tháng 8" and "… tháng 9",
  two communes' monthly meetings) differ in exactly these, however much text they share;
* a floor on the length of the shorter text, so that two near-empty bodies are not one story.

The thresholds of :class:`StoryRule` were chosen on the "tune" half of the blind evaluation
set and are reported on the "test" half by ``scripts/eval_stories.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipelines.stories.signature import Signature

logger = logging.getLogger(__name__)

__all__ = ["Evidence", "StoryRule", "compare", "same_story"]


@dataclass(frozen=True)
class StoryRule:
    """The decision: ``containment >= min_containment`` and ``novel_tokens <= max_novel``,
    both texts having at least ``min_shingles`` shingles."""

    min_containment: float = 0.55
    max_novel: int = 2
    min_shingles: int = 20


@dataclass(frozen=True)
class Evidence:
    """What the verifier knows of one pair."""

    jaccard: float
    containment: float
    novel_tokens: int
    shorter_shingles: int


def compare(a: Signature, b: Signature) -> Evidence:
    """The evidence for one pair; symmetric (``compare(a, b) == compare(b, a)``)."""
    j = a.jaccard(b)
    # The shorter text is the one with fewer shingles; on a tie, the one with fewer tokens
    # (then the same count either way): the result never depends on the argument order.
    short, long_ = (a, b) if (a.shingles, len(a.tokens)) <= (b.shingles, len(b.tokens)) else (b, a)
    containment = 0.0
    if short.shingles:
        inter = j * (a.shingles + b.shingles) / (1.0 + j)
        containment = min(1.0, inter / short.shingles)
    novel = int(np.count_nonzero(~np.isin(short.tokens, long_.tokens, assume_unique=True)))
    return Evidence(jaccard=j, containment=containment, novel_tokens=novel, shorter_shingles=short.shingles)


def same_story(a: Signature, b: Signature, rule: StoryRule | None = None) -> bool:
    """True when ``a`` and ``b`` are copies of one story under ``rule``."""
    r = rule or StoryRule()
    e = compare(a, b)
    return (e.shorter_shingles >= r.min_shingles and e.containment >= r.min_containment
            and e.novel_tokens <= r.max_novel)
