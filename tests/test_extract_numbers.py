"""View-count parsing."""

from __future__ import annotations

import pytest

from pipelines.normalize.numbers import find_view_count, parse_count


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("1.234", 1234),
        ("1,234", 1234),
        ("755", 755),
        ("215.008", 215008),
        ("1\u00a0234", 1234),
        ("1.234.567", 1234567),
    ],
)
def test_parse_count(text: str, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize("text", ["12,5", "1.2.3", "abc", "", "17/05/2024"])
def test_parse_count_rejects_non_counts(text: str) -> None:
    assert parse_count(text) is None


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("Lượt xem: 1.234", 1234),
        ("Số lượt xem: 4.954", 4954),
        ("Lượt đọc 87", 87),
        ("Ngày đăng 29/07/2020 | 07:50 | View count: 755", 755),
        ("Views: 1,024", 1024),
        ("Số lần đọc: 3.456", 3456),
        ("2.418 lượt xem", 2418),
    ],
)
def test_labelled_counts(text: str, count: int) -> None:
    found = find_view_count(text)
    assert found is not None and found[0] == count


def test_unlabelled_numbers_are_not_view_counts() -> None:
    assert find_view_count("Tổng kinh phí 52,3 tỷ đồng, 1.234 hộ") is None


def test_time_before_the_label_is_not_taken_for_the_count() -> None:
    found = find_view_count("Thứ năm, 22/10/2026 - 14:24 Lượt xem: 2.119")
    assert found is not None and found[0] == 2119
    assert find_view_count("1.234 lượt xem") == (1234, 0)
