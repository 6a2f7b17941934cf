"""Same-story detection on the blind evaluation set (tests/fixtures/stories, issue 13).

The thresholds were chosen on the "tune" half (scripts/eval_stories.py); these tests hold
the library's defaults to the issue's targets on the "test" half, which played no part in
choosing them, and check the designed hard negatives of both halves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.stories import SignatureParams, StoryRule, same_story
from pipelines.stories.evaluate import EvalSet, detect, load_set, score, signatures

SET = Path(__file__).parent / "fixtures" / "stories"


@pytest.fixture(scope="module")
def data() -> EvalSet:
    return load_set(SET)


@pytest.fixture(scope="module")
def sigs(data: EvalSet) -> dict:
    return signatures(data.articles, SignatureParams())


@pytest.fixture(scope="module")
def fields(data: EvalSet, sigs: dict) -> dict:
    # The detector sees id, published_at and body only; arrival in a shuffled order.
    order = sorted(data.articles, key=lambda k: data.articles[k]["url"][::-1])
    return detect(data.articles, SignatureParams(), StoryRule(), sigs, order=order, batch=37)


def test_the_test_half_meets_the_targets(data: EvalSet, fields: dict) -> None:
    s = score(data, fields, "test")
    assert s.true_pairs > 300 and s.stories == 103
    assert s.precision >= 0.98, s.false_merges[:10]
    assert s.recall >= 0.95, s.missed_pairs[:10]
    assert s.source_share >= 0.98


def test_the_tune_half_too(data: EvalSet, fields: dict) -> None:
    s = score(data, fields, "tune")
    assert s.precision >= 0.98 and s.recall >= 0.95 and s.source_share >= 0.98


def test_designed_hard_negatives_are_never_one_story(data: EvalSet, sigs: dict, fields: dict) -> None:
    for a, b, why in data.hard_negatives:
        assert not same_story(sigs[a], sigs[b]), why
        assert fields[a].story_id != fields[b].story_id, why


def test_same_template_announcements_of_other_events_are_not_merged(data: EvalSet, fields: dict) -> None:
    pairs = [(a, b) for a, b, _same_split in data.similar_negatives]
    merged = [(a, b) for a, b in pairs if fields[a].story_id == fields[b].story_id]
    assert len(pairs) == 598
    assert len(merged) / len(pairs) <= 0.01, merged


def test_every_copy_kind_is_found_on_the_test_half(data: EvalSet, fields: dict) -> None:
    s = score(data, fields, "test")
    assert set(s.copies_by_edit) >= {"first_half", "local_intro", "title_rewrite", "unicode_nfd", "tone_marks"}
    for edit, n in s.copies_by_edit.items():
        assert s.found_by_edit[edit] / n >= 0.85, (edit, s.found_by_edit[edit], n)


def test_a_story_id_is_its_source_and_the_source_is_the_earliest(data: EvalSet, fields: dict) -> None:
    for st in data.stories.values():
        f = fields[st["source"]]
        if f.story_id == st["source"]:
            assert f.is_source and f.story_size >= len(st["members"]) - 1
            members = [m for m in st["members"] if fields[m].story_id == f.story_id]
            assert sum(fields[m].is_source for m in members) == 1
