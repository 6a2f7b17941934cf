"""Stories are the same whatever the arrival order and batches; ids are stable and come
from the earliest publication (pipelines.stories.assign)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.stories import (
    Signature,
    SignatureParams,
    StoryDoc,
    StoryIndex,
    StoryRule,
    band_keys,
    make_signature,
    stored_fields,
)
from pipelines.stories.evaluate import EvalSet, detect, load_set, signatures

SET = Path(__file__).parent / "fixtures" / "stories"


@pytest.fixture(scope="module")
def data() -> EvalSet:
    return load_set(SET)


@pytest.fixture(scope="module")
def sample(data: EvalSet) -> tuple[dict, dict]:
    """Articles of 40 stories: every story with copies of the hard-negative groups of the
    tune half plus singletons, so that merges, non-merges and sources are all exercised."""
    chosen = sorted(sid for sid, s in data.stories.items() if s["split"] == "tune")[:40]
    ids = {m for sid in chosen for m in data.stories[sid]["members"]}
    arts = {k: v for k, v in data.articles.items() if k in ids}
    return arts, signatures(arts, SignatureParams())


@pytest.fixture(scope="module")
def reference(sample: tuple[dict, dict]) -> dict:
    arts, sigs = sample
    return detect(arts, SignatureParams(), StoryRule(), sigs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(seed=st.randoms(use_true_random=False), batch=st.integers(min_value=1, max_value=120))
def test_any_arrival_order_and_batching_gives_the_same_stories_and_ids(sample, reference, seed, batch) -> None:
    arts, sigs = sample
    order = sorted(arts)
    seed.shuffle(order)
    assert detect(arts, SignatureParams(), StoryRule(), sigs, order=order, batch=batch) == reference


def test_the_sample_has_real_stories(reference: dict) -> None:
    sizes = {f.story_id: f.story_size for f in reference.values()}
    assert max(sizes.values()) >= 4 and sum(1 for n in sizes.values() if n == 1) >= 10


def _doc(key: str, when: str | None, body: str) -> StoryDoc:
    return StoryDoc.from_text(key, when, body)


BODY = ("Sáng 4/11, UBND xã Võ Lao, huyện Văn Bàn long trọng tổ chức Lễ hội Hoa tam giác mạch năm 2024. "
        "Lễ hội năm nay đón lượng khách đông hơn mọi năm.\n"
        "Lễ hội diễn ra giữa những cánh đồng hoa tam giác mạch nở rộ, với chương trình nghệ thuật đặc sắc, "
        "trình diễn khèn Mông, thi trang phục truyền thống và không gian ẩm thực với các món bánh.\n"
        "Theo đồng chí Ma Thị Hiền, Chủ tịch UBND xã, lễ hội là dịp để Nhân dân các dân tộc trong xã tưởng nhớ "
        "công ơn tổ tiên, cầu mong mưa thuận gió hòa, mùa màng bội thu; đồng thời quảng bá tiềm năng du lịch.\n"
        "Hiện xã Võ Lao có 39 cơ sở lưu trú dạng nhà nghỉ cộng đồng (homestay), 2 điểm du lịch trải nghiệm. "
        "Từ đầu năm, xã đón trên 13.099 lượt khách, doanh thu từ du lịch ước đạt 21,3 tỉ đồng.")


def test_ids_are_stable_as_later_copies_arrive_and_follow_an_earlier_publication() -> None:
    index = StoryIndex()
    first = index.add([_doc("copy-b", "2024-11-05T12:43:00+07:00", "(VB) - " + BODY + "\nNguồn: Cổng TTĐT huyện")])
    assert first == {"copy-b": index.fields("copy-b")}
    assert index.fields("copy-b").story_id == "copy-b" and index.fields("copy-b").is_source
    changed = index.add([_doc("copy-c", "2024-11-06T16:13:00+07:00", BODY.replace("13.099", "13099"))])
    assert index.fields("copy-c").story_id == "copy-b"  # a later copy joins; the id stays
    assert set(changed) == {"copy-b", "copy-c"} and changed["copy-b"].story_size == 2
    # The original, published earlier, arrives last: the story now starts from it.
    changed = index.add([_doc("orig", "2024-11-04T18:42:00+07:00", BODY + "\nNghi lễ truyền thống. (Ảnh: Hồng Nhung)")])
    assert {k: (f.story_id, f.story_size, f.is_source) for k, f in changed.items()} == {
        "orig": ("orig", 3, True), "copy-b": ("orig", 3, False), "copy-c": ("orig", 3, False)}
    assert index.stories() == {"orig": ["orig", "copy-b", "copy-c"]}


def test_a_document_that_links_two_stories_merges_them_under_the_older_id() -> None:
    paras = BODY.split("\n")
    index = StoryIndex()
    index.add([_doc("half-1", "2024-11-05T08:00:00+07:00", "\n".join(paras[:2])),
               _doc("half-2", "2024-11-04T20:00:00+07:00", "\n".join(paras[2:]))])
    assert index.fields("half-1").story_id != index.fields("half-2").story_id
    index.add([_doc("whole", "2024-11-06T08:00:00+07:00", BODY)])
    assert {index.fields(k).story_id for k in ("half-1", "half-2", "whole")} == {"half-2"}


def test_a_known_key_is_ignored_and_an_undated_document_is_never_the_source() -> None:
    index = StoryIndex()
    index.add([_doc("undated", None, BODY)])
    assert index.add([_doc("undated", "2020-01-01", BODY)]) == {}
    index.add([_doc("dated", "2024-11-10", BODY)])
    assert index.fields("undated").story_id == "dated"


def test_same_template_announcements_of_other_months_stay_apart() -> None:
    template = ("Thực hiện Luật Tiếp công dân năm 2013; Nghị định số 64/2014/NĐ-CP ngày 26/6/2014 của Chính phủ; "
                "căn cứ Quy chế tiếp công dân của UBND huyện Bát Xát, UBND huyện thông báo lịch tiếp công dân định kỳ "
                "tháng {m}/2024 như sau:\n1. Đồng chí Nguyễn Ngọc Khánh, Chủ tịch UBND huyện tiếp công dân định kỳ vào "
                "ngày {d1}/{m}/2024 và ngày {d2}/{m}/2024.\nThời gian: Buổi sáng từ 7 giờ 30 phút đến 11 giờ 30 phút; "
                "buổi chiều từ 13 giờ 30 phút đến 17 giờ 00 phút. Địa điểm: Trụ sở Ban Tiếp công dân huyện.\n"
                "Trường hợp đồng chí lãnh đạo có lịch tiếp công dân bận công tác đột xuất, sẽ ủy quyền cho đồng chí "
                "Phó Chủ tịch UBND huyện tiếp công dân theo quy định. Công dân đến khiếu nại, tố cáo, kiến nghị, "
                "phản ánh phải xuất trình giấy tờ tùy thân, thực hiện đúng nội quy, quy chế tiếp công dân.")
    august = make_signature(template.format(m=8, d1=5, d2=26))
    september = make_signature(template.format(m=9, d1=5, d2=24))
    assert august.jaccard(september) > 0.5
    index = StoryIndex()
    index.add([StoryDoc("aug", "2024-07-29T16:54:00+07:00", august),
               StoryDoc("sep", "2024-08-28T14:34:00+07:00", september),
               StoryDoc("aug-copy", "2024-07-30T09:00:00+07:00",
                        make_signature("Tin huyện: " + template.format(m=8, d1=5, d2=26)))])
    assert index.fields("aug-copy").story_id == "aug"
    assert index.fields("sep").story_id == "sep" and index.fields("sep").story_size == 1


def test_what_a_store_persists_round_trips() -> None:
    doc = _doc("k", "2024-11-04", BODY)
    index = StoryIndex()
    index.add([doc])
    stored = stored_fields(doc, index.fields("k"))
    assert stored["story_id"] == "k" and stored["story_size"] == 1 and stored["is_source"] is True
    assert stored["story_bands"] == band_keys(doc.signature) and len(stored["story_bands"]) == SignatureParams().bands
    again = Signature.from_bytes(stored["story_signature"])  # type: ignore[arg-type]
    assert again.shingles == doc.signature.shingles and again.jaccard(doc.signature) == 1.0
    assert list(again.tokens) == list(doc.signature.tokens)
    with pytest.raises(ValueError, match="version"):
        Signature.from_bytes(b"\x09" + stored["story_signature"][1:])  # type: ignore[index]


def test_an_empty_body_is_nobodys_copy() -> None:
    index = StoryIndex()
    index.add([_doc("a", "2024-01-01", ""), _doc("b", "2024-01-02", ""), _doc("c", "2024-01-03", "Ảnh: BBT")])
    assert {index.fields(k).story_size for k in "abc"} == {1}
    assert band_keys(make_signature("")) == []


def test_the_band_table_finds_the_same_candidates_before_and_after_it_sorts() -> None:
    from pipelines.stories.bands import BandTable

    table = BandTable()
    for doc in range(3000):  # 6,000 keys: past the first merge into the sorted arrays
        table.add(doc, [doc % 500, 10_000 + doc])
    assert len(table) == 6000
    assert table.candidates([7]) == {d for d in range(3000) if d % 500 == 7}
    assert table.candidates([10_042, 10_999_999]) == {42}
    table.add(3000, [7])  # a recent key and a sorted one answer together
    assert 3000 in table.candidates([7]) and len(table.candidates([7])) == 7
    assert table.candidates([]) == set()


def test_the_reconciliations_array_prefilter_keeps_exactly_the_pairs_the_verifier_could_accept(data: EvalSet) -> None:
    """The store's reconciliation tests a document against all its candidates at once with
    numpy before it asks the verifier: on every pair of the whole blind set (copies, hard
    negatives, template announcements) it keeps exactly the pairs that pass the verifier's
    containment and novel-token tests, so no story can change."""
    import numpy as np

    from pipelines.stories import compare
    from pipelines.stories.reconcile import StoredStoryDoc, _signed_rows

    rule = StoryRule()
    sigs = signatures(data.articles, SignatureParams())
    docs = [StoredStoryDoc(key=k, published_at=None, day_only=False, signature=s) for k, s in sigs.items()]
    table = _signed_rows(docs, SignatureParams().num_perm)
    assert table is not None
    everyone = np.arange(len(table.docs), dtype=np.int64)
    kept_pairs = accepted = 0
    for i, doc in enumerate(table.docs):
        assert doc.signature is not None
        kept = set(table.plausible(doc.signature, everyone[everyone != i], rule).tolist())
        for k, other in enumerate(table.docs):
            if k == i:
                continue
            assert other.signature is not None
            e = compare(doc.signature, other.signature)
            passes = (e.shorter_shingles >= rule.min_shingles and e.containment >= rule.min_containment
                      and e.novel_tokens <= rule.max_novel)
            assert (k in kept) == passes, (doc.key, other.key, e)
            kept_pairs += k in kept
            accepted += passes
    assert accepted > 50  # the set has real copies to find
