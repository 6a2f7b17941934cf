"""Scoring story detection against a labelled set (the blind set of ``tests/fixtures/stories``).

The set is one JSON article a line (``articles.jsonl``: ``id``, ``published_at``, ``body``
… and the truth ``story`` and ``split``), ``truth.json`` (per story: ``source``,
``members``, ``copies`` with their ``edits``), ``hard_negatives.tsv`` (designed pairs of
different stories) and ``similar_negatives.tsv`` (further cross-story pairs of one template).

:func:`detect` runs the detector on the articles with the truth stripped; :func:`score`
compares its stories with the truth on one split: pairwise precision and recall of "same
story" over the pairs inside the split, the share of stories whose source is right, the
false-merge rate of the hard negatives, and recall per edit kind.  ``scripts/eval_stories.py``
and ``tests/test_stories_eval.py`` both use these functions.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.stories.assign import StoryDoc, StoryFields, StoryIndex
from pipelines.stories.signature import Signature, SignatureParams, make_signature
from pipelines.stories.verify import StoryRule

logger = logging.getLogger(__name__)

__all__ = ["EvalSet", "Scores", "detect", "load_set", "score", "signatures"]


@dataclass
class EvalSet:
    """A labelled set; ``articles`` keep their truth fields, :func:`detect` never reads them."""

    articles: dict[str, dict[str, Any]]
    stories: dict[str, dict[str, Any]]
    hard_negatives: list[tuple[str, str, str]]
    similar_negatives: list[tuple[str, str, bool]]  # (a, b, both in one split)

    def story_of(self) -> dict[str, str]:
        return {m: sid for sid, st in self.stories.items() for m in st["members"]}


def load_set(folder: Path) -> EvalSet:
    folder = Path(folder)
    articles = {}
    for line in (folder / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            articles[row["id"]] = row
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    with (folder / "hard_negatives.tsv").open(encoding="utf-8", newline="") as fh:
        hard = [(r["id_a"], r["id_b"], r["why"]) for r in csv.DictReader(fh, delimiter="\t")]
    with (folder / "similar_negatives.tsv").open(encoding="utf-8", newline="") as fh:
        similar = [(r["id_a"], r["id_b"], r["same_split"] == "yes") for r in csv.DictReader(fh, delimiter="\t")]
    return EvalSet(articles=articles, stories=truth["stories"], hard_negatives=hard, similar_negatives=similar)


def signatures(articles: Mapping[str, Mapping[str, Any]], params: SignatureParams) -> dict[str, Signature]:
    """The signature of every article's body (only ``body`` is read)."""
    return {aid: make_signature(a.get("body"), params) for aid, a in articles.items()}


def detect(articles: Mapping[str, Mapping[str, Any]], params: SignatureParams, rule: StoryRule,
           sigs: Mapping[str, Signature] | None = None, order: Iterable[str] | None = None,
           batch: int = 0) -> dict[str, StoryFields]:
    """Story fields of every article; only ``id``, ``published_at`` and ``body`` are read.
    ``order`` and ``batch`` choose the arrival (default: sorted ids, one batch)."""
    sigs = sigs if sigs is not None else signatures(articles, params)
    index = StoryIndex(params, rule)
    keys = list(order) if order is not None else sorted(articles)
    docs = [StoryDoc(key=k, published_at=articles[k].get("published_at"), signature=sigs[k]) for k in keys]
    size = batch or len(docs) or 1
    for start in range(0, len(docs), size):
        index.add(docs[start:start + size])
    return index.all_fields()


class _Share:
    """A rate of :class:`Scores`, read as an attribute: counter ``part`` over counter ``whole``,
    or ``empty`` while ``whole`` is 0."""

    def __init__(self, part: str, whole: str, empty: float) -> None:
        self.part, self.whole, self.empty = part, whole, empty

    def __get__(self, scores: object, owner: type | None = None) -> float:
        whole: int = getattr(scores, self.whole)
        return getattr(scores, self.part) / whole if whole else self.empty


@dataclass
class Scores:
    """Figures for one split."""

    split: str
    true_pairs: int = 0
    predicted_pairs: int = 0
    correct_pairs: int = 0
    stories: int = 0
    stories_with_copies: int = 0
    source_right: int = 0
    source_right_with_copies: int = 0
    hard_pairs: int = 0
    hard_merged: int = 0
    similar_pairs: int = 0
    similar_merged: int = 0
    copies_by_edit: Counter[str] = field(default_factory=Counter)
    found_by_edit: Counter[str] = field(default_factory=Counter)
    false_merges: list[tuple[str, str]] = field(default_factory=list)
    missed_pairs: list[tuple[str, str]] = field(default_factory=list)

    precision = _Share("correct_pairs", "predicted_pairs", 1.0)
    recall = _Share("correct_pairs", "true_pairs", 1.0)
    source_share = _Share("source_right", "stories", 1.0)
    source_share_with_copies = _Share("source_right_with_copies", "stories_with_copies", 1.0)
    hard_rate = _Share("hard_merged", "hard_pairs", 0.0)
    similar_rate = _Share("similar_merged", "similar_pairs", 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "split": self.split, "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "true_pairs": self.true_pairs, "predicted_pairs": self.predicted_pairs,
            "correct_pairs": self.correct_pairs, "stories": self.stories,
            "source_right": round(self.source_share, 4),
            "source_right_with_copies": round(self.source_share_with_copies, 4),
            "hard_negative_false_merge": round(self.hard_rate, 4), "hard_pairs": self.hard_pairs,
            "hard_merged": self.hard_merged,
            "similar_negative_false_merge": round(self.similar_rate, 4), "similar_pairs": self.similar_pairs,
            "similar_merged": self.similar_merged,
            "recall_by_edit": {k: f"{self.found_by_edit[k]}/{n}" for k, n in sorted(self.copies_by_edit.items())},
        }


def score(data: EvalSet, fields: Mapping[str, StoryFields], split: str) -> Scores:
    """Compare the detected stories with the truth on the articles of ``split``."""
    s = Scores(split=split)
    truth_of = data.story_of()
    ids = sorted(a for a, row in data.articles.items() if row.get("split") == split)
    for a, b in itertools.combinations(ids, 2):
        same_truth = truth_of[a] == truth_of[b]
        same_pred = fields[a].story_id == fields[b].story_id
        s.true_pairs += same_truth
        s.predicted_pairs += same_pred
        s.correct_pairs += same_truth and same_pred
        if same_pred and not same_truth:
            s.false_merges.append((a, b))
        elif same_truth and not same_pred:
            s.missed_pairs.append((a, b))
    for st in data.stories.values():
        if st["split"] != split:
            continue
        members = st["members"]
        # The detected story most of the members are in (on a tie, the source's).
        votes = Counter(fields[m].story_id for m in members)
        top = max(votes.values())
        best = fields[st["source"]].story_id if votes[fields[st["source"]].story_id] == top else \
            min(k for k, v in votes.items() if v == top)
        right = best == st["source"]
        s.stories += 1
        s.source_right += right
        if len(members) > 1:
            s.stories_with_copies += 1
            s.source_right_with_copies += right
        for copy_id, copy in st.get("copies", {}).items():
            found = fields[copy_id].story_id == fields[st["source"]].story_id
            for edit in copy.get("edits", []):
                s.copies_by_edit[edit] += 1
                s.found_by_edit[edit] += found
    split_of = {a: row.get("split") for a, row in data.articles.items()}
    for a, b, _why in data.hard_negatives:
        if split_of[a] == split_of[b] == split:
            s.hard_pairs += 1
            s.hard_merged += fields[a].story_id == fields[b].story_id
    for a, b, same_split in data.similar_negatives:
        if same_split and split_of[a] == split:
            s.similar_pairs += 1
            s.similar_merged += fields[a].story_id == fields[b].story_id
    return s


def clusters(fields: Mapping[str, StoryFields]) -> dict[str, set[str]]:
    """story id -> member ids."""
    out: dict[str, set[str]] = defaultdict(set)
    for key, f in fields.items():
        out[f.story_id].add(key)
    return dict(out)
