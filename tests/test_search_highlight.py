"""Highlighted snippets: every spelling marked, crawled text always escaped."""

from __future__ import annotations

import html
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.search.highlight import MARK_END, MARK_START, highlight, snippet
from pipelines.search.query import parse


def marked(text: str, query: str) -> list[str]:
    """The marked pieces of ``text``."""
    h = highlight(text, parse(query))
    return [h.text[s:e] for s, e in h.spans]


def test_words_are_marked_with_or_without_diacritics_and_in_either_tone_placement() -> None:
    text = "Xã Tân Hòa tổ chức hội nghị; văn hoá và hoà giải."
    assert marked(text, "hoà") == ["Hòa", "hoá", "hoà"]
    assert marked(text, "hoi nghi") == ["hội nghị"]
    assert marked(text, '"Hội nghị"') == ["hội nghị"]


def test_an_abbreviation_marks_every_spelling() -> None:
    text = "UBND tỉnh chỉ đạo Ủy ban nhân dân các xã; Uỷ ban nhân dân huyện và uy ban nhan dan."
    expected = ["UBND", "Ủy ban nhân dân", "Uỷ ban nhân dân", "uy ban nhan dan"]
    assert marked(text, "UBND") == expected
    assert marked(text, '"Ủy ban nhân dân"') == expected
    assert marked("Phát triển KT-XH và kinh tế - xã hội", "KTXH") == ["KT-XH", "kinh tế - xã hội"]


def test_prefixes_mark_the_words_they_start_and_exclusions_are_not_marked() -> None:
    assert marked("Chuyển đổi số, chuyên đề", "chuyen*") == ["Chuyển", "chuyên"]
    assert marked("hội nghị và hội thảo", "hoi -nghi") == ["hội", "hội"]
    assert marked("hội nghị và hội thảo", '"hoi ngh"*') == ["hội nghị"]


def test_words_next_to_each_other_are_one_mark() -> None:
    h = highlight("Hội   nghị tỉnh", parse("hoi nghi"))
    assert h.html == "<mark>Hội nghị</mark> tỉnh"  # and white space is one space


def test_crawled_html_is_escaped_and_the_plain_text_is_clean() -> None:
    text = '<script>alert("UBND")</script> UBND & "x" \x1b[31m'
    h = highlight(text, parse("UBND"))
    assert h.html == ('&lt;script&gt;alert(&quot;<mark>UBND</mark>&quot;)&lt;/script&gt; <mark>UBND</mark> '
                      "&amp; &quot;x&quot; [31m")
    assert "\x1b" not in h.plain and h.plain == '<script>alert("UBND")</script> UBND & "x" [31m'


def test_a_snippet_is_a_window_around_the_first_match() -> None:
    body = " ".join(["mở đầu"] * 60) + " Tin về xã Tân Hòa hôm nay. " + " ".join(["kết thúc"] * 60)
    s = snippet(body, parse("hoà"), width=80)
    assert s.cut_start and s.cut_end
    assert s.html.startswith("…") and s.html.endswith("…")
    assert "<mark>Hòa</mark>" in s.html
    assert len(s.text) <= 80 + 30


def test_a_snippet_takes_the_first_text_with_a_match() -> None:
    s = snippet(["Tóm tắt không khớp", None, "Nội dung có UBND"], parse("ubnd"))
    assert s.html == "Nội dung có <mark>UBND</mark>"
    assert snippet(["Tóm tắt", "Nội dung"], parse("zzz")).plain == "Tóm tắt"
    assert snippet([None, ""], parse("zzz")).html == ""


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(), st.sampled_from(["hoà", "UBND", "hoi -nghi", "a* OR b", '"x y"', "<mark>", "&amp;"]))
def test_the_html_without_marks_is_the_plain_text_escaped(text: str, query: str) -> None:
    h = snippet(text, parse(query))
    without_marks = h.html.replace(MARK_START, "").replace(MARK_END, "")
    assert html.unescape(without_marks) == h.plain
    assert "<" not in re.sub(r"</?mark>", "", h.html)
    assert h.marked.replace(MARK_START, "").replace(MARK_END, "") == h.plain


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["hội", "nghị", "Hòa", "hoá", "UBND", "Ủy ban nhân dân", "uy ban", "x", "KT-XH",
                                 "kinh tế - xã hội", "_", "ŉ", "\u0301", "İ", " ", ", ", "\n"]), max_size=80).map("".join),
       st.sampled_from(["hoà", "UBND", "hoi -nghi", "ho* OR nghi", '"uy ban"', "KTXH", "x"]))
def test_a_snippet_shows_a_match_whenever_the_text_has_one(text: str, query: str) -> None:
    q = parse(query)
    whole = highlight(text, q)
    window = snippet(text, q, width=60)
    assert bool(window.spans) == bool(whole.spans)
    if whole.spans:
        s, e = window.spans[0]
        assert window.text[s:e] in [whole.text[a:b] for a, b in whole.spans]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["hội", "nghị", "Hội Nghị", "Hòa", "hoá", "HOÀ", "UBND", "Ủy ban nhân dân", "uỷ ban",
                                 "uy ban", "x", "KT-XH", "kinh tế - xã hội", "_", "Đảng", "đang", "Ð", "chuyển",
                                 "chuyên", "chuyennghiep", "ho", "hồ chí", "1.234", "Ư", "ơ", "ß", "é", " ", ", ",
                                 " - ", "\u201c", "\u201d"]), max_size=60).map(" ".join),
       st.sampled_from(["hoà", "UBND", "hoi -nghi", "ho* OR nghi", '"uy ban"', "KTXH", "x", "chuyen*", '"ho chi"*',
                        "dang", '"hội nghị"', "ß é", "1.234"]))
def test_the_fast_path_marks_what_folding_word_by_word_marks(text: str, query: str) -> None:
    """The regular expression on the unfolded text (Vietnamese text: every character folds to
    one) finds the spans the word-by-word scan finds."""
    from pipelines.search.highlight import _find, _matches, _merge, _one_line

    line = _one_line(text)
    q = parse(query)
    assert _find(line, q) == _merge(sorted(_matches(line, q)), line)
