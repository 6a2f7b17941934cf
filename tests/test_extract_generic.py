"""Generic-extractor building blocks that matter on unseen layouts."""

from __future__ import annotations

import pytest

from pipelines.extract.generic import strip_site_name
from pipelines.extract.heuristics import boilerplate_line, is_meta_line


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "Hội nghị trực tuyến giai đoạn 2021 - 2025 - CỔNG THÔNG TIN ĐIỆN TỬ HUYỆN NGHĨA HÀNH",
            "Hội nghị trực tuyến giai đoạn 2021 - 2025",
        ),
        ("Khánh thành cầu dân sinh | Cổng thông tin điện tử huyện Vĩnh Thạnh", "Khánh thành cầu dân sinh"),
        (
            "Trang chủ - Huyện Đông Sơn tăng cường phòng, chống dịch",
            "Huyện Đông Sơn tăng cường phòng, chống dịch",
        ),
        (
            "UBND huyện kiểm tra tiến độ kè chống sạt lở - Cổng TTĐT huyện X",
            "UBND huyện kiểm tra tiến độ kè chống sạt lở",
        ),
        ("Thông báo lịch tiếp công dân | UBND phường Tân Mai", "Thông báo lịch tiếp công dân"),
        ("Một tiêu đề không có tên trang", "Một tiêu đề không có tên trang"),
    ],
)
def test_strip_site_name(title: str, expected: str) -> None:
    assert strip_site_name(title, set()) == expected


@pytest.mark.parametrize(
    "line",
    [
        "Đăng ngày 24 - 05 - 2026 | Lượt xem: 300 A- 100% A+",
        "Ngày đăng 27/02/2025 | 09:47 | View count: 19.532",
        "Thứ bảy - 25/01/2020 21:28",
        "Cập nhật lúc 11:42, 25/01/2026",
        "Số lượt xem: 4.954",
        "Từ khóa: chuyển đổi số, HĐND xã",
        "Tin liên quan",
    ],
)
def test_meta_and_tool_lines_are_not_body(line: str) -> None:
    assert is_meta_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "Ngày 25/1/2020, UBND xã tổ chức hội nghị tổng kết công tác năm.",
        "Bài viết đã thu hút 12.000 lượt xem trên mạng xã hội trong tuần qua.",
        "Đánh giá kết quả thực hiện, đồng chí Chủ tịch nhấn mạnh vai trò của cơ sở.",
    ],
)
def test_body_sentences_are_kept(line: str) -> None:
    assert not is_meta_line(line)
    assert not boilerplate_line(line)
