"""The hand-written MinHash gives the values datasketch gave, bit for bit.

Stores keep each document's MinHash and the band keys cut from it, and story ids follow
from them: a changed value would split stored stories from new ones.  The signatures were
made with ``datasketch`` (scheme ``affine32``) until its import cost became too high
(:mod:`pipelines.stories.signature`); ``fixtures/minhash_datasketch.json`` holds what it
gave for every body of the stories fixture and a few edge texts, with the default parameters
and two others, recorded before it was replaced (see the file's ``about``).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.stories.signature import SignatureParams, _permutations, make_signature, minhash, shingles

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = json.loads((FIXTURES / "minhash_datasketch.json").read_text(encoding="utf-8"))
with (FIXTURES / "stories" / "articles.jsonl").open(encoding="utf-8") as _f:
    BODIES = [json.loads(line).get("body") or "" for line in _f] + RECORDED["edge_texts"]
OTHER_PARAMS = {
    "shingle_words=2,num_perm=64,seed=7,bands=32": SignatureParams(shingle_words=2, num_perm=64, bands=32, seed=7),
    "shingle_words=4,num_perm=256,seed=0,bands=64": SignatureParams(shingle_words=4, num_perm=256, bands=64, seed=0),
}


def _digest(values: np.ndarray) -> str:
    return hashlib.sha256(values.astype("<u4").tobytes()).hexdigest()[:32]


def test_every_fixture_body_signs_to_the_values_datasketch_gave() -> None:
    assert len(BODIES) == len(RECORDED["default"]) > 300
    got = []
    for body in BODIES:
        sig = make_signature(body)
        assert sig.hashvalues.dtype == np.uint32 and sig.hashvalues.shape == (128,)
        got.append([_digest(sig.hashvalues), sig.shingles])
    wrong = [i for i, (g, r) in enumerate(zip(got, RECORDED["default"], strict=True)) if g != r]
    assert wrong == []


@pytest.mark.parametrize("key", sorted(OTHER_PARAMS))
def test_other_parameters_sign_as_datasketch_did(key: str) -> None:
    bodies = BODIES[:60] + RECORDED["edge_texts"]
    got = [[_digest((s := make_signature(b, OTHER_PARAMS[key])).hashvalues), s.shingles] for b in bodies]
    assert got == RECORDED["other_params"][key]


def test_the_permutations_are_datasketchs() -> None:
    a, b = _permutations(128, 1)
    assert a.tolist() == RECORDED["default_permutations"]["a"]
    assert b.tolist() == RECORDED["default_permutations"]["b"]
    for key, digest in RECORDED["permutations"].items():
        num_perm, seed = map(int, key.split(","))
        a, b = _permutations(num_perm, seed)
        assert hashlib.sha256(a.astype("<u4").tobytes() + b.astype("<u4").tobytes()).hexdigest()[:32] == digest, key


def test_a_seed_outside_32_bits_is_refused() -> None:
    with pytest.raises(ValueError):
        _permutations(4, 1 << 32)


@given(st.lists(st.binary(max_size=12), max_size=30), st.integers(1, 16), st.integers(0, 2**32 - 1))
def test_each_value_is_the_least_of_its_permutation_over_the_items(items: list[bytes], num_perm: int,
                                                                      seed: int) -> None:
    """The plain definition, in Python integers: CRC-32, MurmurHash3's finalizer, then
    ``a * h + b`` modulo 2**32; the least per permutation, 2**32 - 1 for no item."""
    a, b = _permutations(num_perm, seed)
    mask = 0xFFFFFFFF

    def fmix(h: int) -> int:
        h ^= h >> 16
        h = (h * 0x85EBCA6B) & mask
        h ^= h >> 13
        h = (h * 0xC2B2AE35) & mask
        return h ^ (h >> 16)

    mixed = [fmix(zlib.crc32(item)) for item in items]
    expected = [min(((int(ak) * h + int(bk)) & mask for h in mixed), default=mask) for ak, bk in zip(a, b, strict=True)]
    assert minhash(items, num_perm, seed).tolist() == expected


def test_shingle_order_does_not_matter() -> None:
    grams = sorted(g.encode() for g in shingles(["một", "hai", "ba", "bốn", "năm", "sáu", "bảy"], 3))
    assert minhash(grams, 128, 1).tolist() == minhash(grams[::-1], 128, 1).tolist()
