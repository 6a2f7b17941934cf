"""The forms of dates and view counts portals use (issue 8), and where a saved page came from."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.extract.saved import saved_origin
from pipelines.normalize.dates import VN_TZ, find_datetimes, parse_vietnamese_datetime
from pipelines.normalize.numbers import find_view_count

NOW = datetime(2024, 9, 2, 10, 0, tzinfo=VN_TZ)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VN_TZ)


@pytest.mark.parametrize(("text", "expected", "precision"), [
    ("30/08/2024", at(2024, 8, 30), "day"),
    ("30-08-2024", at(2024, 8, 30), "day"),
    ("30.08.2024", at(2024, 8, 30), "day"),
    ("17 - 05 - 2024", at(2024, 5, 17), "day"),
    ("30 tháng 8, 2024", at(2024, 8, 30), "day"),
    ("ngày 30 tháng 08 năm 2024", at(2024, 8, 30), "day"),
    ("30 Tháng Tám 2024", at(2024, 8, 30), "day"),
    ("05 Tháng Bảy, 2024", at(2024, 7, 5), "day"),
    ("Thứ Sáu, 30/08/2024 - 14:05", at(2024, 8, 30, 14, 5), "minute"),
    ("Chủ nhật, 01/09/2024", at(2024, 9, 1), "day"),
    ("Thứ Năm, 04/07/2024 2:15 CH", at(2024, 7, 4, 14, 15), "minute"),
    ("8:30 SA, 12/06/2024", at(2024, 6, 12, 8, 30), "minute"),
    ("12:20 CH, 17/05/2024", at(2024, 5, 17, 12, 20), "minute"),
    ("2:15 CH Thứ năm, 27/06/2024", at(2024, 6, 27, 14, 15), "minute"),
    ("14:05 30/08/2024", at(2024, 8, 30, 14, 5), "minute"),
    ("August 30, 2024", at(2024, 8, 30), "day"),
    ("30 Aug 2024 2:05 PM", at(2024, 8, 30, 14, 5), "minute"),
    ("Friday, 30/08/2024 | 02:05 PM", at(2024, 8, 30, 14, 5), "minute"),
    ("Posted: August 29, 2024 | 09:40 AM", at(2024, 8, 29, 9, 40), "minute"),
])
def test_every_date_form(text: str, expected: datetime, precision: str) -> None:
    assert parse_vietnamese_datetime(text) == (expected, precision)


@pytest.mark.parametrize(("text", "expected", "precision"), [
    ("2 giờ trước", at(2024, 9, 2, 8, 0), "hour"),
    ("15 phút trước", at(2024, 9, 2, 9, 45), "minute"),
    ("Hôm qua, 16:45", at(2024, 9, 1, 16, 45), "minute"),
    ("hôm qua", at(2024, 9, 1), "day"),
    ("3 ngày trước", at(2024, 8, 30), "day"),
    ("2 hours ago", at(2024, 9, 2, 8, 0), "hour"),
    ("yesterday at 2:05 PM", at(2024, 9, 1, 14, 5), "minute"),
])
def test_relative_dates_need_the_fetch_time(text: str, expected: datetime, precision: str) -> None:
    assert parse_vietnamese_datetime(text) is None  # no clock, no guess
    assert parse_vietnamese_datetime(text, now=NOW) == (expected, precision)
    assert parse_vietnamese_datetime(text, now=NOW.astimezone(datetime.now().astimezone().tzinfo)) == (
        expected, precision)


@pytest.mark.parametrize("text", [
    "Cập nhật: 11/09/2024 | 07:00 Ngày đăng: 10/09/2024 | 18:20",
    "Ngày đăng: 10/09/2024 | 18:20 (Cập nhật: 11/09/2024 07:00)",
    "18:20 10/09/2024 Ngày cập nhật: 11/09/2024 07:00",
    "Sửa đổi lần cuối: 11/09/2024 07:00 · 10/09/2024 18:20",
])
def test_the_publication_date_wins_over_the_update(text: str) -> None:
    assert parse_vietnamese_datetime(text) == (at(2024, 9, 10, 18, 20), "minute")


def test_a_date_word_inside_a_sentence_is_not_a_relative_date() -> None:
    assert find_datetimes("Bài trước: Hội nghị tổng kết", NOW) == []
    assert find_datetimes("trước ngày 30/8/2024", NOW)[0].value == at(2024, 8, 30)


@pytest.mark.parametrize(("text", "count"), [
    ("Lượt xem: 1.234", 1234),
    ("1.234 lượt xem", 1234),
    ("Đã xem: 1.234", 1234),
    ("Số lượt xem 1234", 1234),
    ("(1.234 lượt đọc)", 1234),
    ("Lượt đọc: 567", 567),
    ("Views: 1,234", 1234),
    ("👁 856", 856),
    ("👁️ 1.204", 1204),
    ("Ngày 20/09/2024 - 19:45Lượt xem: 1.987", 1987),  # two spans with no space between them
])
def test_every_view_count_form(text: str, count: int) -> None:
    found = find_view_count(text)
    assert found is not None and found[0] == count


@pytest.mark.parametrize(("head", "url", "fetched"), [
    ("<!-- saved from url=(0058)https://sotp.ninhbinh.gov.vn/ChiTietTin.aspx?id=3127&cid=8 -->\n<html>",
     "https://sotp.ninhbinh.gov.vn/ChiTietTin.aspx?id=3127&cid=8", None),
    ("<html>\n<!-- Mirrored from tamnong.phutho.gov.vn/Default.aspx?tabid=120&amp;ch=2871 by HTTrack Website "
     "Copier/3.x [XR&CO'2014], Mon, 02 Sep 2024 03:40:17 GMT -->",
     "https://tamnong.phutho.gov.vn/Default.aspx?tabid=120&ch=2871", datetime(2024, 9, 2, 10, 40, 17, tzinfo=VN_TZ)),
    ("<html><head><link rel='canonical' href='https://soyte.hagiang.gov.vn/tin-tuc/a-1.html'></head>",
     "https://soyte.hagiang.gov.vn/tin-tuc/a-1.html", None),
    ("<html><head><title>x</title></head>", None, None),
])
def test_where_a_saved_page_came_from(head: str, url: str | None, fetched: datetime | None) -> None:
    origin = saved_origin(head)
    assert origin.url == url
    assert origin.fetched_at == fetched
