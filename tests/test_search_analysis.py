"""Vietnamese analysis for search: tone placement, folding, words, indexed text.

Examples a reader can check by eye, then properties over generated text (Hypothesis): the
functions never raise, are idempotent, and map the old and the new tone placement of any
syllable to one spelling.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.search.analysis import (
    clean,
    fold,
    fold_words,
    index_text,
    is_vietnamese_syllable,
    normalize_tones,
    normalize_word,
    tokens,
    words,
)

# --- tone placement ------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [
    ("hòa", "hoà"), ("Hòa", "Hoà"), ("HÒA", "HOÀ"), ("hóa", "hoá"), ("xóa", "xoá"), ("khỏe", "khoẻ"),
    ("thủy", "thuỷ"), ("ủy", "uỷ"), ("Ủy", "Uỷ"), ("lũy", "luỹ"), ("qúy", "quý"), ("gĩa", "giã"),
])
def test_old_and_new_tone_placement_are_one_spelling(old: str, new: str) -> None:
    assert normalize_word(old) == normalize_word(new) == new


@pytest.mark.parametrize("word", [
    "người", "được", "giường", "già", "gìn", "huỳnh", "hoàn", "toán", "ngoài", "khuỷu", "mùa", "mía",
    "hái", "rượu", "thuở", "quyển", "quý", "quá", "Nghị", "tỉnh", "Đắk", "Lắk", "thuộc", "khuya",
])
def test_words_already_spelled_by_the_rule_do_not_change(word: str) -> None:
    assert normalize_word(word) == word


@pytest.mark.parametrize("word", ["café", "résumé", "José", "naïve", "día", "hóà", "x1à", "Ω"])
def test_words_that_are_not_one_vietnamese_syllable_are_left_alone(word: str) -> None:
    assert normalize_word(word) == word


def test_normalize_tones_keeps_everything_but_the_mark_position() -> None:
    text = "Ủy ban nhân dân xã Tân Hòa: THỦY lợi, khỏe mạnh. Văn hóa!"
    assert normalize_tones(text) == "Uỷ ban nhân dân xã Tân Hoà: THUỶ lợi, khoẻ mạnh. Văn hoá!"
    assert normalize_tones(unicodedata.normalize("NFD", text)) == normalize_tones(text)


# Syllables built from their parts: every vowel cluster of the language with an initial,
# maybe a final, and one of the five marked tones placed on any of its vowels.
INITIALS = ["", "b", "ch", "d", "đ", "g", "h", "kh", "l", "m", "ng", "nh", "ph", "qu", "s", "th", "tr", "v", "x"]
OPEN_NUCLEI = ["a", "e", "i", "o", "u", "y", "ai", "ao", "au", "ay", "eo", "ia", "iu", "oa", "oe", "oi", "ua",
               "ui", "uy", "oai", "oay", "oeo", "uya", "uyu", "ưa", "ưu", "ươi", "ươu", "uôi", "iêu", "yêu",
               "âu", "ây", "êu", "ôi", "ơi"]
CLOSED = [("a", "n"), ("oa", "n"), ("oa", "ng"), ("uy", "nh"), ("uy", "t"), ("ươ", "ng"), ("uô", "c"),
          ("iê", "n"), ("oe", "n"), ("ă", "m"), ("â", "t"), ("ô", "ng"), ("ư", "c"), ("u", "ng")]
TONES = ["\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]


def _with_tone(initial: str, nucleus: str, final: str, tone: str, at: int) -> str:
    marked = nucleus[:at] + unicodedata.normalize("NFC", nucleus[at] + tone) + nucleus[at + 1:]
    return unicodedata.normalize("NFC", initial + marked + final)


syllable_parts = st.one_of(
    st.tuples(st.sampled_from(INITIALS), st.sampled_from(OPEN_NUCLEI), st.just("")),
    st.tuples(st.sampled_from(INITIALS), st.sampled_from(CLOSED)).map(lambda t: (t[0], t[1][0], t[1][1])),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(syllable_parts, st.sampled_from(TONES), st.data())
def test_any_placement_of_a_tone_in_a_syllable_normalises_to_one_spelling(
        parts: tuple[str, str, str], tone: str, data: st.DataObject) -> None:
    initial, nucleus, final = parts
    at_one = data.draw(st.integers(0, len(nucleus) - 1))
    at_other = data.draw(st.integers(0, len(nucleus) - 1))
    one = _with_tone(initial, nucleus, final, tone, at_one)
    other = _with_tone(initial, nucleus, final, tone, at_other)
    assert normalize_word(one) == normalize_word(other)
    assert normalize_word(one.upper()) == normalize_word(other.upper()) == normalize_word(one).upper()
    assert fold(normalize_word(one)) == fold(one)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(INITIALS), st.sampled_from(["oa", "oe", "uy"]), st.sampled_from(TONES))
def test_old_style_oa_oe_uy_become_the_new_style(initial: str, nucleus: str, tone: str) -> None:
    old = _with_tone(initial, nucleus, "", tone, 0)
    new = _with_tone(initial, nucleus, "", tone, 1)
    if initial == "qu" and nucleus == "uy":
        return  # "quuy" is no word
    assert normalize_word(old) == new


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
@example("Hòa\u0301")
@example("q\u0301u\u0300y")
@example("\ud800")
def test_tone_normalisation_is_idempotent_and_only_moves_marks(text: str) -> None:
    once = normalize_tones(text)
    assert normalize_tones(once) == once
    assert fold(once) == fold(text)


# --- folding -------------------------------------------------------------------------------------


def test_fold_removes_diacritics_and_case() -> None:
    assert fold("Hội nghị Đảng bộ tỉnh Đắk Lắk") == "hoi nghi dang bo tinh dak lak"
    assert fold("ĐƯỜNG") == "duong"
    assert fold(unicodedata.normalize("NFD", "Hội nghị")) == "hoi nghi"
    assert fold(None) == "" and fold("") == ""


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
@example("İ")
@example("ǅ")
@example("\u1100\u1161")
def test_fold_is_idempotent_lower_case_and_without_marks(text: str) -> None:
    once = fold(text)
    assert fold(once) == once
    assert not any(unicodedata.combining(c) for c in once)


# --- cleaning and words --------------------------------------------------------------------------


def test_clean_removes_invisible_and_control_characters() -> None:
    assert clean("Hội\u200bnghị\x00 tỉnh\ufeff\u202e") == "Hộinghị  tỉnh"
    assert clean("a\r\nb\tc") == "a b c"
    assert clean(None) == ""


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_clean_leaves_no_control_or_invisible_character(text: str) -> None:
    out = clean(text)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in out)
    assert "\u200b" not in out and "\ufeff" not in out
    assert unicodedata.is_normalized("NFC", out)


def test_words_are_lower_case_tone_normalised_and_split_on_punctuation() -> None:
    assert words("Ủy ban nhân dân tỉnh Phú Yên: KT-XH, GD&ĐT; 1.234 người_dân") == [
        "uỷ", "ban", "nhân", "dân", "tỉnh", "phú", "yên", "kt", "xh", "gd", "đt", "1", "234", "người", "dân"]
    assert words(unicodedata.normalize("NFD", "Hòa Bình")) == ["hoà", "bình"]
    assert words("Hội\u200bnghị") == ["hộinghị"]  # a zero-width space is no word break


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_words_are_a_fixed_point_of_themselves(text: str) -> None:
    once = words(text)
    assert words(" ".join(once)) == once
    assert all(w and " " not in w for w in once)


def test_tokens_give_offsets_in_the_cleaned_text() -> None:
    text = "UBND  xã\u200b Hòa"
    cleaned = clean(text)
    assert [(cleaned[s:e], w) for s, e, w in tokens(text)] == [("UBND", "UBND"), ("xã", "xã"), ("Hòa", "Hòa")]


@pytest.mark.parametrize(("word", "expected"), [
    ("nghiêng", True), ("an", True), ("quý", True), ("gì", True), ("khuỷu", True),
    ("ubnd", False), ("hcm", False), ("qp", False), ("tyt", False), ("attp", False), ("ktxh", False),
])
def test_vietnamese_syllables_are_told_from_abbreviations(word: str, expected: bool) -> None:
    assert is_vietnamese_syllable(word) is expected


# --- indexed text --------------------------------------------------------------------------------


def test_index_text_has_an_exact_and_a_folded_form_with_abbreviation_keys() -> None:
    text = index_text("UBND tỉnh Phú Yên họp với Hội đồng nhân dân về KT-XH")
    assert text.exact == "ubnd tỉnh phú yên họp với hội đồng nhân dân về kt xh hđnd ktxh"
    assert text.folded == "ubnd tinh phu yen hop voi hoi dong nhan dan ve kt xh hdnd ktxh"


def test_a_long_form_gives_the_short_key_and_the_old_tone_placement_does_not_matter() -> None:
    assert index_text("Uỷ ban nhân dân xã").exact.split()[-1] == "ubnd"
    assert index_text("Ủy ban nhân dân xã").exact.split()[-1] == "ubnd"
    # written without diacritics: only the folded form knows it is the concept
    bare = index_text("Uy ban nhan dan xa")
    assert bare.exact == "uy ban nhan dan xa" and bare.folded == "uy ban nhan dan xa ubnd"


def test_a_long_form_containing_another_gives_both_keys() -> None:
    assert index_text("vệ sinh an toàn thực phẩm").exact.split()[-2:] == ["attp", "vsattp"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_the_folded_index_text_is_the_exact_one_folded(text: str) -> None:
    indexed = index_text(text)
    n = len(words(text))
    assert indexed.folded.split()[:n] == fold_words(indexed.exact).split()[:n]
    assert indexed.exact.split()[:n] == words(text)
