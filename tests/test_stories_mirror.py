"""The mirror publishes known stories across portals (crawler.mirror.stories), and the
detector finds them in the pages as the extractor reads them, across layouts."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.mirror import generate_mirror, url_to_relpath
from crawler.mirror.generator import MirrorInfo
from pipelines.extract import extract_page
from pipelines.extract.profiles import load_profiles
from pipelines.stories import StoryDoc, StoryIndex


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> MirrorInfo:
    return generate_mirror(tmp_path_factory.mktemp("stories"), portals=10, articles_per_portal=6, seed=5, stories=15)


def _truth(mirror: MirrorInfo) -> list[dict]:
    return [json.loads(line) for line in mirror.truth_path.read_text(encoding="utf-8").splitlines()]


def test_the_truth_names_stories_reprints_and_look_alikes(mirror: MirrorInfo) -> None:
    rows = _truth(mirror)
    assert all(r["story"] for r in rows)
    stories = defaultdict(list)
    for r in rows:
        stories[r["story"]].append(r)
    reprinted = {k: v for k, v in stories.items() if k.startswith("mst-")}
    assert len(reprinted) == 15 and all(len(v) >= 2 for v in reprinted.values())
    # Every reprint is on another portal than its original, and most are in another layout.
    families = [len({r["family"] for r in v}) > 1 for v in reprinted.values()]
    assert sum(families) >= 12
    edits = Counter(e for v in reprinted.values() for r in v for e in r.get("story_edits", []))
    assert {"title_prefix", "para_cut", "first_half", "source_line", "author_changed", "caption_line_added"} <= set(edits)
    look_alikes = [k for k in stories if k.startswith("mlk-")]
    assert len(look_alikes) == 10 and all(len(stories[k]) == 1 for k in look_alikes)


def test_same_seed_same_stories(mirror: MirrorInfo, tmp_path: Path) -> None:
    again = generate_mirror(tmp_path / "again", portals=10, articles_per_portal=6, seed=5, stories=15)
    assert again.truth_path.read_bytes() == mirror.truth_path.read_bytes()


def test_the_detector_finds_the_stories_in_the_extracted_pages(mirror: MirrorInfo) -> None:
    profiles = load_profiles()
    rows = _truth(mirror)
    docs = []
    for r in rows:
        parts = urlsplit(r["url"])
        html = (mirror.root / "site" / parts.hostname / url_to_relpath(parts.path, parts.query)).read_text("utf-8")
        page = extract_page(html, r["url"], profiles=profiles)
        assert page.is_article and page.body, r["url"]
        docs.append(StoryDoc.from_text(r["url"], page.published_at, page.body, day_only=page.date_precision == "day"))
    index = StoryIndex()
    index.add(docs)
    story_of = {r["url"]: r["story"] for r in rows}
    truth_pairs = found = correct = 0
    for a, b in itertools.combinations(sorted(story_of), 2):
        same, pred = story_of[a] == story_of[b], index.fields(a).story_id == index.fields(b).story_id
        truth_pairs += same
        found += pred
        correct += same and pred
    assert truth_pairs >= 30
    assert correct / found >= 0.98 and correct / truth_pairs >= 0.95
    # The original (the earliest publication) is the source of its story.
    originals = [r for r in rows if r["story"].startswith("mst-") and not r.get("story_edits")]
    right = sum(index.fields(r["url"]).story_id == r["url"] for r in originals)
    assert right / len(originals) >= 0.9, right
