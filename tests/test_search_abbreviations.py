"""The abbreviations data: what it holds, how users extend it, what a bad file says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.search.abbreviations import (
    SETTING,
    AbbreviationError,
    abbreviations_from_settings,
    default_abbreviations,
    load_abbreviations,
)
from pipelines.search.analysis import fold_words, index_text, is_vietnamese_syllable, words


def _concept(short: str):  # type: ignore[no-untyped-def]
    found = default_abbreviations().concepts_for(tuple(fold_words(w) for w in words(short)))
    assert found, f"{short} is not in the list"
    return found


def _long_forms(short: str) -> set[str]:
    return {" ".join(form) for c in _concept(short) for form in c.long}


@pytest.mark.parametrize(("short", "long"), [
    ("UBND", "uỷ ban nhân dân"), ("HĐND", "hội đồng nhân dân"), ("MTTQ", "mặt trận tổ quốc"),
    ("NTM", "nông thôn mới"), ("ATTP", "an toàn thực phẩm"), ("ATGT", "an toàn giao thông"),
    ("BHXH", "bảo hiểm xã hội"), ("BHYT", "bảo hiểm y tế"), ("CCHC", "cải cách hành chính"),
    ("KT-XH", "kinh tế xã hội"), ("QP-AN", "quốc phòng an ninh"), ("QPAN", "quốc phòng an ninh"),
    ("ANTT", "an ninh trật tự"), ("GD&ĐT", "giáo dục và đào tạo"), ("VH-TT", "văn hoá thông tin"),
    ("TN&MT", "tài nguyên và môi trường"), ("NN&PTNT", "nông nghiệp và phát triển nông thôn"),
    ("LĐ-TB&XH", "lao động thương binh và xã hội"), ("CNTT", "công nghệ thông tin"),
    ("THCS", "trung học cơ sở"), ("THPT", "trung học phổ thông"), ("CBCCVC", "cán bộ công chức viên chức"),
    ("TP.HCM", "thành phố hồ chí minh"), ("PCCC", "phòng cháy chữa cháy"),
])
def test_the_abbreviations_of_the_issue_are_there(short: str, long: str) -> None:
    assert long in _long_forms(short)


def test_there_are_more_than_sixty_and_every_one_has_a_long_form() -> None:
    abbr = default_abbreviations()
    assert len(abbr) >= 60
    assert all(c.long for c in abbr)
    assert len({c.key for c in abbr}) == len(abbr)


def test_no_short_spelling_is_an_ordinary_vietnamese_word() -> None:
    for concept in default_abbreviations():
        for form in concept.short:
            assert not all(is_vietnamese_syllable(w) for w in form), (concept.label, form)


def test_an_ambiguous_short_spelling_stands_for_each_of_its_meanings() -> None:
    meanings = {c.key for c in _concept("VH-TT")}
    assert meanings == {"vhtt", "vhttthethao"}
    doc = index_text("Trung tâm VH-TT xã")
    assert {"vhtt", "vhttthethao"} <= set(doc.exact.split())
    assert "vhttthethao" in index_text("Trung tâm văn hóa - thể thao").exact.split()
    assert "vhtt" not in index_text("Trung tâm văn hóa - thể thao").exact.split()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_a_users_file_adds_concepts_and_spellings(tmp_path: Path) -> None:
    extra = _write(tmp_path / "mine.yaml", """
abbreviations:
  - short: [TTHCC]
    long: [Trung tâm hành chính công]
  - short: [UBND]
    long: [UB nhân dân]
""")
    abbr = load_abbreviations(extra)
    assert len(abbr) == len(default_abbreviations()) + 1
    assert index_text("Trung tâm Hành chính công tỉnh", abbr).exact.split()[-1] == "tthcc"
    assert index_text("UB nhân dân huyện", abbr).exact.split()[-1] == "ubnd"
    assert "ubnd" not in index_text("UB nhân dân huyện").exact.split()  # the built-in list alone
    assert abbr.fingerprint != default_abbreviations().fingerprint


def test_the_setting_or_the_environment_names_the_users_file(tmp_path: Path) -> None:
    extra = _write(tmp_path / "mine.yaml", "abbreviations:\n  - short: [TTHCC]\n    long: [Trung tâm hành chính công]\n")
    from_setting = abbreviations_from_settings({SETTING: str(extra)}, environ={})
    from_env = abbreviations_from_settings(None, environ={SETTING: str(extra)})
    assert from_setting.fingerprint == from_env.fingerprint != default_abbreviations().fingerprint
    assert abbreviations_from_settings({}, environ={}).fingerprint == default_abbreviations().fingerprint


@pytest.mark.parametrize(("content", "message"), [
    ("abbreviations:\n  - short: [CA]\n    long: [công an]\n", "entry 1 (CA): short spelling 'CA' is an ordinary"),
    ("abbreviations:\n  - long: [công an]\n", "abbreviations/0: 'short' is a required property"),
    ("abbreviations:\n  - short: [XYZW]\n    long: [x]\n    colour: red\n", "Additional properties"),
    ("abbreviations: [\n", "not valid YAML at line"),
    ("abbreviations:\n  - short: ['!!']\n", "'!!' has no letters or digits"),
    ("abbreviations:\n  - short: [XYZW]\n    key: two words\n", "must be one word"),
    ("abbreviations:\n  - short: [XYZW]\n    key: mttqvn\n", "key 'mttqvn' is a spelling of MTTQ"),
])
def test_a_bad_file_is_refused_with_its_name_and_the_entry(tmp_path: Path, content: str, message: str) -> None:
    path = _write(tmp_path / "bad.yaml", content)
    with pytest.raises(AbbreviationError) as info:
        load_abbreviations(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AbbreviationError, match=r"abbreviations file not found: .*nowhere\.yaml"):
        load_abbreviations(tmp_path / "nowhere.yaml")


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path / "mine.yaml", "abbreviations:\n  - short: [TTHCC]\n    long: [Trung tâm hành chính công]\n")
    first = load_abbreviations(path)
    _write(path, "abbreviations:\n  - short: [TTHCC, TTPVHCC]\n    long: [Trung tâm hành chính công]\n")
    os.utime(path, ns=(1, 1))  # another modification time, whatever the clock's resolution
    assert load_abbreviations(path).fingerprint != first.fingerprint
