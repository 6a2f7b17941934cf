"""Family profiles: loading, validation errors, navigation hints, detection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.extract import decode_html, detect_profile
from pipelines.extract.profiles import ProfileError, ProfileSet, load_profiles

PAGES = Path(__file__).parent / "fixtures" / "pages"


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return load_profiles()


def page(name: str) -> tuple[str, str]:
    meta = json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))
    html = decode_html((PAGES / f"{name}.html").read_bytes(), meta.get("content_type"))
    return html, meta["url"]


def test_bundled_families(profiles: ProfileSet) -> None:
    assert {"tandan", "nukeviet", "liferay", "metaline"} <= set(profiles.names)
    tandan = profiles.get("tandan")
    assert tandan is not None
    assert profiles.get("no-such-family") is None
    assert tandan.matches_article_url("http://x/portal/Pages/2024-5-17/Khai-mac-hoi-thaov4nkc1.aspx")
    assert tandan.matches_listing_url("http://x/portal/Pages/Kinh-te-chinh-tri.aspx?PageIndex=2")
    assert not tandan.matches_article_url("http://x/portal/Pages/Kinh-te-chinh-tri.aspx")


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("tandan_1", "tandan"),
        ("tandan_2", "tandan"),
        ("metaline_1", "metaline"),
        ("metaline_2", "metaline"),
        ("nukeviet_1", "nukeviet"),
        ("nukeviet_2", "nukeviet"),
        ("liferay_1", "liferay"),
        ("liferay_2", "liferay"),
        ("nonarticle_tandan_listing", "tandan"),
    ],
)
def test_detects_family(profiles: ProfileSet, name: str, family: str) -> None:
    html, url = page(name)
    assert detect_profile(html, url, profiles) == family


def test_unknown_layout_detects_no_family(profiles: ProfileSet) -> None:
    html, url = page("synthetic_wordpress")
    assert detect_profile(html, url, profiles) is None


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_adding_a_family_is_one_yaml_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "wordpress.yaml",
        """
name: wordpress
description: WordPress themes
detect:
  threshold: 1
  rules:
    - selector: "article.post .entry-content"
    - contains: "/wp-content/"
navigation:
  article_url: ['/\\d{4}/\\d{2}/\\d{2}/[^/]+/?$']
fields:
  title: ["h1.entry-title"]
  body: [".entry-content"]
""",
    )
    profiles = load_profiles(tmp_path)
    assert "wordpress" in profiles.names and "tandan" in profiles.names
    html, url = page("synthetic_wordpress")
    assert detect_profile(html, url, profiles) == "wordpress"


def test_extra_profile_replaces_bundled_one(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", "name: tandan\ndetect:\n  rules:\n    - contains: never-there\n")
    profiles = load_profiles(tmp_path)
    tandan = profiles.get("tandan")
    assert tandan is not None and tandan.source.endswith("t.yaml")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("name: x\n", "(root)"),
        ("name: x\ndetect:\n  rules: []\n", "detect.rules"),
        ("name: x\ndetect:\n  rules:\n    - colour: red\n", "detect.rules[0]"),
        ("name: x\ndetect:\n  rules:\n    - url: '('\n", "detect.rules[0].url"),
        ("name: x\ndetect:\n  rules:\n    - url: a\nfields:\n  title: ['p[[']\n", "fields.title[0]"),
        ("name: x\ndetect:\n  rules:\n    - url: a\nfields:\n  colour: ['p']\n", "fields"),
        ("name: x\ndetect:\n  rules:\n    - url: a\nremove:\n  - xpath: '//p['\n", "remove[0]"),
        ("name: Bad Name\ndetect:\n  rules:\n    - url: a\n", "name"),
        ("- just\n- a list\n", "(root)"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_profiles_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    write(tmp_path, "broken.yaml", text)
    with pytest.raises(ProfileError) as err:
        load_profiles(tmp_path)
    message = str(err.value)
    assert "broken.yaml" in message
    assert key in message
    assert isinstance(err.value, ValueError)


def test_missing_extra_dir(tmp_path: Path) -> None:
    with pytest.raises(ProfileError):
        load_profiles(tmp_path / "nope")
