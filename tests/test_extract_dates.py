"""Vietnamese date parsing."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.normalize.dates import VN_TZ, format_iso, parse_iso_datetime, parse_vietnamese_datetime


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("text", "expected", "precision"),
    [
        ("Đăng ngày 17 - 05 - 2024", at(2024, 5, 17), "day"),
        ("Ngày đăng 29/07/2020 | 07:50 | View count: 755", at(2020, 7, 29, 7, 50), "minute"),
        ("Thứ tư, 17/05/2024", at(2024, 5, 17), "day"),
        ("Thứ bảy - 25/01/2020 21:28", at(2020, 1, 25, 21, 28), "minute"),
        ("Chủ nhật, 02/06/2024 - 08:05:09", at(2024, 6, 2, 8, 5, 9), "second"),
        ("Cập nhật lúc 11:42, 25/01/2026", at(2026, 1, 25, 11, 42), "minute"),
        ("Cập nhật lúc 16:30 ngày 28/11/2025", at(2025, 11, 28, 16, 30), "minute"),
        ("ngày 29 tháng 7 năm 2020", at(2020, 7, 29), "day"),
        ("Ngày đăng: 07 Tháng 6 2024", at(2024, 6, 7), "day"),
        ("17.05.2024 - 8h30", at(2024, 5, 17, 8, 30), "minute"),
        ("2024-05-17 08:30", at(2024, 5, 17, 8, 30), "minute"),
        ("08:30 CH, 17/05/2024", at(2024, 5, 17, 20, 30), "minute"),
    ],
)
def test_formats(text: str, expected: datetime, precision: str) -> None:
    parsed = parse_vietnamese_datetime(text)
    assert parsed is not None
    value, prec = parsed
    assert value == expected
    assert value.utcoffset() == VN_TZ.utcoffset(None)
    assert prec == precision


@pytest.mark.parametrize(
    "text", ["31/02/2024", "ngày 5 tháng 13 năm 2020", "12/25/1850", "không có ngày", ""]
)
def test_impossible_or_missing_dates_are_rejected(text: str) -> None:
    assert parse_vietnamese_datetime(text) is None


def test_labelled_date_beats_earlier_unlabelled_one() -> None:
    value, _ = parse_vietnamese_datetime("(15/02/2025) Tin khác ... Ngày đăng: 01/03/2025") or (None, None)
    assert value == at(2025, 3, 1)


def test_publication_label_beats_update_label() -> None:
    value, _ = parse_vietnamese_datetime("Cập nhật: 18/05/2024 | Ngày đăng: 17/05/2024") or (None, None)
    assert value == at(2024, 5, 17)


def test_body_numbers_are_not_dates() -> None:
    assert (
        parse_vietnamese_datetime("nhiệm kỳ 2020 - 2025, đạt 5.275 tỷ đồng, điện thoại 0273.3405882") is None
    )


def test_iso_values_are_converted_to_vietnam_time() -> None:
    assert parse_iso_datetime("2024-05-17T01:30:00Z") == (at(2024, 5, 17, 8, 30), "second")
    assert parse_iso_datetime("2024-05-17T08:30+07:00") == (at(2024, 5, 17, 8, 30), "minute")
    assert parse_iso_datetime("2024-05-17") == (at(2024, 5, 17), "day")
    assert format_iso(at(2024, 5, 17)) == "2024-05-17T00:00:00+07:00"
