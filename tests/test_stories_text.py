"""The text a story signature is made of (pipelines.stories.text)."""

from __future__ import annotations

import unicodedata

from pipelines.stories import make_signature
from pipelines.stories.text import distinctive_tokens, story_lines, story_words


def test_reprint_furniture_is_dropped() -> None:
    body = ("Để các cơ quan, đơn vị và Nhân dân được biết, Cổng thông tin điện tử huyện đăng tải nội dung sau:\n"
            "(Cổng TTĐT tỉnh) - Sáng 4/11, UBND xã Võ Lao tổ chức Lễ hội Hoa tam giác mạch năm 2024.\n"
            "Nghi lễ truyền thống tại Lễ hội. (Ảnh: Hồng Nhung)\n"
            "Ảnh: Cán bộ thú y kiểm tra bò giống trước khi bàn giao.\n"
            "Theo đồng chí Ma Thị Hiền, Chủ tịch UBND xã, lễ hội là dịp để Nhân dân các dân tộc tưởng nhớ tổ tiên.\n"
            "Quang cảnh Kỳ họp thứ 23 HĐND tỉnh. (Ảnh minh họa)\n"
            "(Còn nữa)\n"
            "Nguồn: Cổng Thông tin điện tử huyện Văn Bàn\n"
            "Thu Trang")
    assert story_lines(body) == [
        "Sáng 4/11, UBND xã Võ Lao tổ chức Lễ hội Hoa tam giác mạch năm 2024.",
        "Theo đồng chí Ma Thị Hiền, Chủ tịch UBND xã, lễ hội là dịp để Nhân dân các dân tộc tưởng nhớ tổ tiên.",
    ]


def test_spelling_variants_of_one_text_give_the_same_words() -> None:
    text = "Uỷ ban nhân dân xã Hoà Bình hỗ trợ 1.234 m² đất, đạt 78,6%."
    variants = [
        unicodedata.normalize("NFD", text),
        "Ủy ban nhân dân xã Hòa Bình hỗ\u00a0trợ 1234 m2 đất,\u200b đạt 78,6 %.",
    ]
    for v in variants:
        assert story_words(story_lines(v)) == story_words(story_lines(text))
        assert distinctive_tokens(story_lines(v)) == distinctive_tokens(story_lines(text))


def test_distinctive_tokens_are_numbers_dates_and_names() -> None:
    tokens = distinctive_tokens(["Đồng chí Nguyễn Ngọc Khánh tiếp công dân ngày 05/08/2024 tại thị trấn Bát Xát, "
                                 "có 13.099 lượt khách."])
    assert {"#5/8/2024", "#13099", "@nguyen ngoc khanh", "@bat xat"} <= tokens
    assert not any(t.startswith("@dong") for t in tokens)  # a sentence's first word is not a name


def test_signature_is_deterministic_and_ignores_furniture() -> None:
    body = "Sáng 4/11, UBND xã Võ Lao tổ chức Lễ hội Hoa tam giác mạch năm 2024 với nhiều hoạt động đặc sắc."
    a = make_signature(body)
    b = make_signature("(VB) - " + body + "\n(Theo Báo Lào Cai)")
    assert a.jaccard(b) == 1.0 and a.shingles == b.shingles and list(a.tokens) == list(b.tokens)
    assert make_signature(body).to_bytes() == a.to_bytes()
