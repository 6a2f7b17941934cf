"""``portalnews extract``: what the extractor makes of saved pages, for an operator who wants
to see why a page was or was not indexed, and to score any folder of saved pages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crawler.cli import main
from crawler.cli.extract import EXTRACT_FIELDS

FIXTURES = Path(__file__).parent / "fixtures"
REAL = FIXTURES / "real"
BLIND = FIXTURES / "blind"


def test_a_folder_as_json_one_object_per_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(REAL), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 15
    assert all(tuple(row) == EXTRACT_FIELDS for row in rows)
    assert {row["page_kind"] for row in rows} <= {"article", "listing", "other", "error"}
    vssid = next(r for r in rows if r["file"].endswith("cantho_odp_article_vssid.html"))
    # the URL from HTTrack's "Mirrored from" comment, the date shown as "30 tháng 8, 2024"
    assert vssid["url"] == "https://odp.cantho.gov.vn/blog/nguoi-dan-co-the-su-dung-ung-dung-tren-di-dong-thay-the-the-bao-hiem-y-te"
    assert (vssid["page_kind"], vssid["published_at"], vssid["date_precision"]) == (
        "article", "2024-08-30T00:00:00+07:00", "day")
    listing = next(r for r in rows if r["file"].endswith("hanoi_sotttt_listing_covid19.html"))
    assert listing["page_kind"] == "listing" and listing["view_count"] is None and listing["reason"]


def test_one_page_as_text_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    page = BLIND / "d02_vnpt_igate_saved_browser_table_body.html"
    assert main(["extract", str(page)]) == 0
    out = capsys.readouterr().out
    assert "url:      https://laichau.gov.vn/tin-tuc-su-kien/kinh-te/" in out  # from "saved from url="
    assert "kind:     article (" in out and "views:" in out and "| " in out


def test_url_and_profile_and_fetch_time_can_be_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    shutil.copy(BLIND / "d05_viettel_relative_2_gio_truoc.html", page)
    assert main(["extract", str(page), "--json", "--url", "https://x.gov.vn/a.html", "--profile", "generic",
                 "--fetched-at", "2024-09-02T10:00:00+07:00"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["url"], row["profile"]) == ("https://x.gov.vn/a.html", "generic")
    assert (row["published_at"], row["date_precision"]) == ("2024-09-02T08:00:00+07:00", "hour")  # "2 giờ trước"


def test_control_characters_never_reach_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "evil.html"
    page.write_text("<html><head><title>Tin \x1b[2Jxấu</title></head><body><h1>Tin \x1b[2Jxấu</h1></body></html>",
                    "utf-8")
    assert main(["extract", str(page)]) == 0
    out = capsys.readouterr().out
    # Normalisation strips the control characters from the text (issue 10), and what reaches the
    # terminal is made safe again on output: the escape sequence is gone, the words stay.
    assert "\x1b" not in out and "Tin [2Jxấu" in out


def test_bad_input_is_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(tmp_path / "missing.html")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["extract", str(REAL / "cantho_odp_listing_blog.html"), "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert main(["extract", str(REAL), "--url", "https://x.gov.vn/"]) == 2
    assert "give one file" in capsys.readouterr().err
