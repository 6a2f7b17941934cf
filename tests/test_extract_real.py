"""Extraction on real saved pages of two .gov.vn portals (tests/fixtures/real, HTTrack mirrors
found in public repositories, labelled by hand; sources and licences in SOURCES.md): a CKAN
open-data portal whose articles carry "30 tháng 8, 2024" and a Liferay portal whose listings
show every item's view count.  The page's URL comes from its "Mirrored from" comment, as
``portalnews extract`` reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crawler.cli.extract import extract_file
from pipelines.extract.profiles import ProfileSet, load_profiles
from pipelines.extract.scoring import score_record

REAL = Path(__file__).parent / "fixtures" / "real"
PAGES = sorted(p.stem for p in REAL.glob("*.json"))


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return load_profiles()


def test_the_real_set_is_there() -> None:
    kinds = [json.loads((REAL / f"{name}.json").read_text("utf-8"))["page_kind"] for name in PAGES]
    assert (len(PAGES), kinds.count("article")) == (15, 4)
    assert (REAL / "SOURCES.md").is_file()


@pytest.mark.parametrize("name", PAGES)
def test_real_page(profiles: ProfileSet, name: str) -> None:
    want: dict[str, Any] = json.loads((REAL / f"{name}.json").read_text("utf-8"))
    got = extract_file(REAL / f"{name}.html", profiles=profiles)
    assert got["url"] == want["url"]  # from the HTTrack comment
    wrong = {field: check for field, check in score_record(got, want).items() if not check[0]}
    assert wrong == {}, got["reason"]
