"""Extraction on pages written blind (see tests/fixtures/blind/README.md): every field of
every page right, with the family profiles on (auto) and off (generic)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.extract import decode_html, extract_page
from pipelines.extract.profiles import ProfileSet, load_profiles
from pipelines.extract.scoring import byline_name, norm, same_date, token_f1

BLIND = Path(__file__).parent / "fixtures" / "blind"
PAGES = sorted(p.stem for p in BLIND.glob("*.json"))


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return load_profiles()


def test_the_blind_set_is_there() -> None:
    assert len(PAGES) == 36
    kinds = [json.loads((BLIND / f"{name}.json").read_text("utf-8"))["page_kind"] for name in PAGES]
    assert kinds.count("article") == 30


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("mode", ["auto", "generic"])
def test_blind_page(profiles: ProfileSet, name: str, mode: str) -> None:
    want: dict[str, Any] = json.loads((BLIND / f"{name}.json").read_text("utf-8"))
    html = decode_html((BLIND / f"{name}.html").read_bytes(), None)
    got = extract_page(html, want["url"], profile=mode, profiles=profiles)
    if want["page_kind"] != "article":
        assert not got.is_article, got.reason
        return
    assert got.is_article, got.reason
    assert norm(got.title) == norm(want["title"])
    assert same_date(got.published_at, want["published_at"]), (got.published_at, want["published_at"])
    assert got.view_count == want["view_count"]
    assert token_f1(got.body, want["body"]) >= 0.95, got.body
    if want.get("author"):
        assert byline_name(got.author) == byline_name(want["author"]), got.author
    if want.get("category"):
        assert norm(got.category) == norm(want["category"])
