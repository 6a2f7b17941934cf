"""A document's story signature: MinHash of its word shingles, LSH band keys, distinctive tokens.

:func:`make_signature` turns one article body into a :class:`Signature`:

* the words of :func:`pipelines.stories.text.story_words`, cut into overlapping
  ``shingle_words``-word shingles;
* a MinHash of those shingles (:func:`minhash`: ``num_perm`` 32-bit values, the same for the
  same text on every machine; bit for bit what the ``datasketch`` library's scheme
  ``affine32`` gives with ``hashfunc=zlib.crc32``, which made the signatures of stores
  written before it was replaced);
* the number of shingles, so that containment ("a half copy is contained in the original")
  can be estimated from the MinHash Jaccard;
* the distinctive tokens of :func:`pipelines.stories.text.distinctive_tokens` (numbers,
  dates, proper names), hashed to 64-bit integers.

:func:`band_keys` cuts the MinHash into ``bands`` bands of ``rows`` values and gives one
64-bit integer per band (the band number is part of the key): two documents are LSH
candidates when they share a key.  These keys are what a store indexes (an SQLite table
``(band, document)``, a ``long`` field of the engine), and :meth:`Signature.to_bytes`
is what it keeps to verify candidates without reading their bodies again.
"""

from __future__ import annotations

import hashlib
import logging
import random
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipelines.stories.text import story_lines, words_and_tokens

logger = logging.getLogger(__name__)

__all__ = ["SIGNATURE_VERSION", "Signature", "SignatureParams", "band_keys", "make_signature", "minhash", "signature_of"]

#: Bumped when the text rules or the byte format change: stored signatures of another
#: version must be computed again from the body.
SIGNATURE_VERSION = 1
_HEADER = struct.Struct("<BHHI")  # version, num_perm, number of tokens, number of shingles


@dataclass(frozen=True)
class SignatureParams:
    """How signatures are made; measured by ``scripts/eval_stories.py``.

    ``bands * rows`` MinHash values are banded (at most ``num_perm``).  With 2 rows a band,
    a pair of Jaccard ``s`` is a candidate with probability ``1 - (1 - s**2) ** bands``:
    0.87 at s = 0.25, 0.95 at s = 0.3 and 0.996 at s = 0.4 for 32 bands (same-story pairs of
    the blind set have s >= 0.24, most above 0.6).
    """

    shingle_words: int = 3
    num_perm: int = 128
    bands: int = 32
    rows: int = 2
    seed: int = 1

    def __post_init__(self) -> None:
        if self.shingle_words < 1 or self.bands < 1 or self.rows < 1:
            raise ValueError("shingle_words, bands and rows must be at least 1")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows ({self.bands * self.rows}) exceeds num_perm ({self.num_perm})")


# The MinHash is written here rather than taken from ``datasketch``: importing that package
# loads scipy with it, which cost 57 MB of resident memory in every process that signs or
# stores documents (measured: ``import numpy`` 26 MB, ``import datasketch`` 83 MB, against
# 11 MB for the bare interpreter; the crawl process and its extraction worker both import it)
# and kept the crawl over its 400 MB limit.  The arithmetic below is datasketch 2.0's scheme
# ``affine32`` step for step, so that signatures and story ids in existing stores stay valid
# (tests/test_stories_minhash.py checks it against values recorded from datasketch).

#: MurmurHash3's 32-bit finalizer (shift, multiplier, shift, multiplier, shift): the pre-mix
#: of every input hash, a bijection on 32-bit values.
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_EMPTY = np.uint32(0xFFFFFFFF)  # the value of a permutation that has seen nothing


def _mt19937_words(seed: int, count: int) -> list[int]:
    """The first ``count`` 32-bit outputs of the Mersenne Twister seeded with ``seed`` the way
    ``numpy.random.RandomState(seed)`` seeds it (``init_genrand``; Python's own ``random.seed``
    mixes the seed otherwise, so the state is set directly).  Spares every signing process
    the import of ``numpy.random`` (7 MB measured)."""
    if not 0 <= seed < 1 << 32:
        raise ValueError(f"seed must be between 0 and 2**32 - 1, not {seed}")
    state = [seed]
    for i in range(1, 624):
        prev = state[-1]
        state.append((1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF)
    twister = random.Random()
    twister.setstate((3, (*state, 624), None))  # 624: the whole state is used, twist first
    return [twister.getrandbits(32) for _ in range(count)]


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``num_perm`` affine permutations ``h -> a * h + b (mod 2**32)`` of the seed: the
    odd multipliers ``a`` and the offsets ``b`` that datasketch draws with
    ``RandomState(seed).randint`` (``a``: a 31-bit draw times two plus one, ``b``: a 32-bit
    draw; one twister output each, all the ``a`` first)."""
    words = _mt19937_words(seed, 2 * num_perm)
    a = np.array(words[:num_perm], dtype=np.uint32) & np.uint32(0x7FFFFFFF)
    a = a * np.uint32(2) + np.uint32(1)
    b = np.array(words[num_perm:], dtype=np.uint32)
    return a, b


def minhash(items: list[bytes], num_perm: int, seed: int) -> np.ndarray:
    """The ``num_perm`` uint32 MinHash values of a set of byte strings: each item hashed with
    CRC-32, pre-mixed with the MurmurHash3 finalizer, sent through every affine permutation
    modulo 2**32 (numpy's uint32 arithmetic wraps), and the least value kept per permutation
    (all ``0xFFFFFFFF`` for no item)."""
    a, b = _permutations(num_perm, seed)
    if not items:
        return np.full(num_perm, _EMPTY, dtype=np.uint32)
    hv = np.fromiter(map(zlib.crc32, items), dtype=np.uint32, count=len(items))
    s1, m1, s2, m2, s3 = _FMIX32
    hv ^= hv >> s1
    hv *= m1
    hv ^= hv >> s2
    hv *= m2
    hv ^= hv >> s3
    return (hv[:, None] * a + b).min(axis=0)


def _hash64(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


@dataclass(frozen=True, eq=False)
class Signature:
    """What the verifier needs of one document (``hashvalues``: uint32 MinHash; ``tokens``:
    sorted int64 hashes of the distinctive tokens; ``shingles``: how many shingles)."""

    hashvalues: np.ndarray
    shingles: int
    tokens: np.ndarray

    def jaccard(self, other: Signature) -> float:
        """The MinHash estimate of the shingle Jaccard of the two documents."""
        if self.shingles == 0 or other.shingles == 0:
            return 0.0
        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / len(self.hashvalues)

    def to_bytes(self) -> bytes:
        """A compact, versioned form for a store (4 bytes a MinHash value, 8 a token)."""
        head = _HEADER.pack(SIGNATURE_VERSION, len(self.hashvalues), len(self.tokens), self.shingles)
        return head + self.hashvalues.astype("<u4").tobytes() + self.tokens.astype("<i8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """The inverse of :meth:`to_bytes`; ValueError for another version or a cut record."""
        if len(data) < _HEADER.size:
            raise ValueError("story signature: too short")
        version, num_perm, ntokens, shingles = _HEADER.unpack_from(data)
        if version != SIGNATURE_VERSION:
            raise ValueError(f"story signature: version {version}, expected {SIGNATURE_VERSION}")
        if len(data) != _HEADER.size + 4 * num_perm + 8 * ntokens:
            raise ValueError("story signature: wrong length")
        hv = np.frombuffer(data, dtype="<u4", count=num_perm, offset=_HEADER.size).astype(np.uint32)
        tokens = np.frombuffer(data, dtype="<i8", count=ntokens, offset=_HEADER.size + 4 * num_perm).astype(np.int64)
        return cls(hashvalues=hv, shingles=shingles, tokens=tokens)


def shingles(words: list[str], size: int) -> set[str]:
    """The distinct ``size``-word shingles of ``words`` (one shingle when there are fewer)."""
    if not words:
        return set()
    if len(words) <= size:
        return {" ".join(words)}
    return set(map(" ".join, zip(*(words[i:] for i in range(size)), strict=False)))


def make_signature(body: str | None, params: SignatureParams | None = None) -> Signature:
    """The signature of one article body (title, author and portal play no part)."""
    p = params or SignatureParams()
    lines = story_lines(body)
    text_words, distinctive = words_and_tokens(lines)
    grams = shingles(text_words, p.shingle_words)
    # CRC-32 hashes a shingle 3x faster than SHA-1 (measured: 0.65 ms of 1.0 ms a document);
    # the finalizer pre-mixes every input hash, so its weak spread does not matter.
    hashvalues = minhash([g.encode("utf-8") for g in grams], p.num_perm, p.seed)
    tokens = np.array(sorted({_hash64(t) for t in distinctive}), dtype=np.int64)
    return Signature(hashvalues=hashvalues, shingles=len(grams), tokens=tokens)


def signature_of(body: str | None, presigned: bytes | None = None, params: SignatureParams | None = None) -> Signature:
    """The signature of ``body``: ``presigned`` (:meth:`Signature.to_bytes` of
    :func:`make_signature` of this same body with the default parameters, made where the page
    was extracted, off the crawl's process) when it is of this version and these parameters,
    else :func:`make_signature` here (an import, a migration, a record from the spool)."""
    if presigned is not None and (params is None or params == SignatureParams()):
        try:
            signature = Signature.from_bytes(presigned)
        except ValueError:
            pass
        else:
            if len(signature.hashvalues) == SignatureParams().num_perm:
                return signature
    return make_signature(body, params)


def band_keys(signature: Signature, params: SignatureParams | None = None) -> list[int]:
    """One signed 64-bit key per LSH band (none for an empty text: it is nobody's candidate)."""
    p = params or SignatureParams()
    if signature.shingles == 0:
        return []
    raw = signature.hashvalues.astype("<u4").tobytes()
    width = 4 * p.rows  # bytes of one band
    out = []
    for band, person in enumerate(_band_persons(p.bands)):
        digest = hashlib.blake2b(raw[band * width:(band + 1) * width], digest_size=8, person=person).digest()
        out.append(int.from_bytes(digest, "little", signed=True))
    return out


@lru_cache(maxsize=8)
def _band_persons(bands: int) -> tuple[bytes, ...]:
    """The personalisation of each band's hash: the band number, two bytes little-endian."""
    return tuple(band.to_bytes(2, "little") for band in range(bands))
