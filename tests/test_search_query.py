"""The search language: what each query means, and that no input makes the parser fail."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.search.query import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    Abbreviation,
    AllOf,
    AnyOf,
    Query,
    Term,
    parse,
)


def t(*words: str, prefix: bool = False) -> Term:
    return Term(tuple(words), prefix)


def test_words_are_anded_and_keep_their_diacritics_tone_normalised() -> None:
    q = parse("Hội nghị tỉnh Hòa Bình")
    assert q.include == (t("hội"), t("nghị"), t("tỉnh"), t("hoà"), t("bình"))
    assert q.exclude == ()
    assert q.has_diacritics
    assert not parse("hoi nghi").has_diacritics


def test_quotes_make_a_phrase_and_an_unbalanced_quote_closes_at_the_end() -> None:
    assert parse('"hội nghị" tỉnh').include == (t("hội", "nghị"), t("tỉnh"))
    assert parse('tỉnh "hội nghị').include == (t("tỉnh"), t("hội", "nghị"))
    assert parse('""').is_empty


def test_punctuation_inside_a_word_makes_a_phrase() -> None:
    assert parse("e-mail 1.234").include == (t("e", "mail"), t("1", "234"))


def test_or_binds_the_words_next_to_it() -> None:
    q = parse("hoi OR hop nghi")
    assert q.include == (AnyOf((t("hoi"), t("hop"))), t("nghi"))
    assert parse("a OR b OR c").include == (AnyOf((t("a"), t("b"), t("c"))),)


@pytest.mark.parametrize("text", ["OR", "OR a", "a OR", "a OR OR", "OR OR OR"])
def test_a_dangling_or_is_ignored(text: str) -> None:
    assert parse(text).include in ((), (t("a"),))


def test_or_in_lower_case_is_a_word_and_and_in_upper_case_is_ignored() -> None:
    assert parse("a or b").include == (t("a"), t("or"), t("b"))
    assert parse("a AND b").include == (t("a"), t("b"))


def test_minus_excludes_words_and_phrases() -> None:
    q = parse('hoi -nghi -"hội đồng" --x')
    assert q.include == (t("hoi"),)
    assert q.exclude == (t("nghi"), t("hội", "đồng"), t("x"))


@pytest.mark.parametrize("text", ["-", " - ", "a - b", "-- "])
def test_a_lone_minus_is_ignored(text: str) -> None:
    assert parse(text).exclude == ()


def test_a_query_of_exclusions_only_has_no_include() -> None:
    q = parse("-foo")
    assert q.include == () and q.exclude == (t("foo"),) and not q.is_empty


def test_star_makes_a_prefix_of_at_least_two_letters() -> None:
    assert parse("chuyen*").include == (t("chuyen", prefix=True),)
    assert parse('"hoi ngh"*').include == (t("hoi", "ngh", prefix=True),)
    assert parse("hòa*").include == (t("hoà", prefix=True),)
    assert parse("a*").include == (t("a"),)
    assert parse("* ** *a").include == (t("a"),)
    assert parse("wo*rd").include == (t("wo", "rd"),)


def test_an_abbreviation_stands_for_its_concept_whichever_way_it_is_written() -> None:
    for text in ("UBND", "ubnd", '"Ủy ban nhân dân"', '"Uỷ ban nhân dân"', '"uy ban nhan dan"'):
        (node,) = parse(text).include
        assert isinstance(node, Abbreviation) and node.concept.key == "ubnd", text
    (node,) = parse("KT-XH").include
    assert isinstance(node, Abbreviation) and node.concept.key == "ktxh"


def test_unquoted_words_spelling_a_concept_also_match_the_concept() -> None:
    q = parse("Ủy ban nhân dân tỉnh")
    first, second = q.include
    assert isinstance(first, AnyOf)
    abbreviation, words = first.items
    assert isinstance(abbreviation, Abbreviation) and abbreviation.concept.key == "ubnd"
    assert words == AllOf((t("uỷ"), t("ban"), t("nhân"), t("dân")))
    assert second == t("tỉnh")


def test_a_phrase_containing_an_abbreviation_matches_its_other_spellings() -> None:
    (node,) = parse('"UBND tỉnh"').include
    assert node == AnyOf((t("ubnd", "tỉnh"), t("uỷ", "ban", "nhân", "dân", "tỉnh")))
    (node,) = parse('"ubnd tinh"').include  # no diacritics written: none in the variants either
    assert node == AnyOf((t("ubnd", "tinh"), t("uy", "ban", "nhan", "dan", "tinh")))


def test_an_excluded_abbreviation_excludes_the_concept() -> None:
    (node,) = parse("hop -HĐND").exclude
    assert isinstance(node, Abbreviation) and node.concept.key == "hđnd"


def test_a_prefix_is_never_an_abbreviation() -> None:
    assert parse("ubnd*").include == (t("ubnd", prefix=True),)


def test_query_syntax_of_other_engines_is_just_words() -> None:
    q = parse('NEAR(a b) title:x ^3 {col}: AND NOT (c) "d:e"')
    assert q.include == (t("near", "a"), t("b"), t("title", "x"), t("3"), t("col"), t("not"), t("c"), t("d", "e"))


def test_control_characters_are_spaces() -> None:
    assert parse("hoi\x00nghi\x1b[31m").include == (t("hoi"), t("nghi"), t("31m"))


def test_long_queries_are_cut() -> None:
    q = parse(" ".join(f"w{i}" for i in range(500)))
    assert len(q.include) == MAX_TERMS
    assert len(parse("x" * (MAX_QUERY_CHARS * 3)).include[0].words[0]) == MAX_QUERY_CHARS  # type: ignore[union-attr]


def test_a_long_query_reads_its_own_source_back() -> None:
    for text in ("a-" * 600, "x" * 3000, " ".join(["KT-XH", "-a-b-c", "x OR y-z"] * 100), '"' + "ab " * 400):
        q = parse(text)
        assert len(q.source) <= MAX_QUERY_CHARS
        assert parse(q.source) == q, text[:40]


def test_the_source_is_the_query_as_understood() -> None:
    assert parse(' "Hội  Nghị"  OR  hop  -Hòa chuyen**  AND ').source == '"hội nghị" OR hop chuyen* -hoà'
    assert str(parse("UBND")) == "ubnd"


# --- properties ----------------------------------------------------------------------------------

#: Queries made of the pieces that matter: operators, syntax characters, words, abbreviations.
query_text = st.lists(st.sampled_from(
    [*' "-*()ORANDNOTor:^{}.,&', "hoi", "nghị", "Hòa", "UBND", "Ủy ban", "nhân dân", "KT-XH", "x", "\x00",
     "\u200b", "\u0301", "ab*", '-"', "OR", " OR ", "AND", "NEAR"]),
    max_size=30).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), query_text))
@example('"')
@example("-")
@example("OR OR")
@example("*")
@example('"a" OR -"b c"* OR')
@example("\ud800\udfff")
def test_parse_never_raises_and_reads_its_own_source_back(text: str) -> None:
    q = parse(text)
    assert isinstance(q, Query)
    again = parse(q.source)
    assert again == q
    assert again.source == q.source
