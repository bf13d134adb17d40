"""Near-duplicate articles: the same story from several outlets, grouped at index time.

Each article's text is reduced to its set of word 3-shingles ("the senate voted", "senate voted
on", ...) and summarised by a MinHash signature, whose agreement between two articles estimates the
Jaccard similarity of their shingle sets. Locality-sensitive hashing finds the pairs above a threshold
without comparing every pair: the signature is cut into `b` bands of `r` values, and two articles whose
values agree on a whole band are candidates; each candidate pair is then checked on its estimated
Jaccard (LSH alone lets some less similar pairs through).

The MinHash and the banding are datasketch's (`MinHash(scheme="affine32")`, `MinHashLSH`), written
out here in numpy with the permutations drawn once per process: the same signatures and the same
groups (tests/index/test_dedup.py checks both against datasketch), without datasketch's per-article
set-up or its import of scipy (together ~1.3 s of a 1,500-article `rag index`). Articles linked by such
pairs form one group (connected components, so a chain of rewrites is one story); the group's id is
its smallest doc_id, and an article with no near-duplicate is its own group.

Signatures are cached in a JSON file in the data directory keyed by the document's hash, so that a
re-index recomputes groups over every article without re-reading or re-hashing unchanged ones.

Simplifications: similarity is lexical (a paraphrase of a story in other words is a different
article); groups are recomputed from scratch on every change (milliseconds for thousands of articles).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["SHINGLE_WORDS", "NUM_PERM", "SCHEME", "shingles", "signature", "group_articles", "lsh_bands", "passage_key",
           "SignatureCache"]

# 3 words: long enough that two unrelated articles share few shingles by chance, short enough that
# one edited word in a sentence spoils only three of them.
SHINGLE_WORDS = 3
# 128 permutations: Jaccard estimated within about +-0.09 (2 standard errors at J=0.5); datasketch's default.
NUM_PERM = 128
# datasketch >= 2 names its hashing scheme; signatures of different schemes are not comparable, so the
# scheme is part of the cache file's name.
SCHEME = "affine32"
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    """The set of `size`-word shingles of `text` (case and punctuation ignored)."""
    words = _words(text)
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + size]) for i in range(len(words) - size + 1)}


# datasketch's affine32 scheme: a 32-bit SHA-1 prefix of each shingle, mixed by MurmurHash3's
# finalizer, then `a * h + b mod 2^32` per permutation, with (a, b) drawn from RandomState(seed 1).
_SEED = 1
_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)


@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)  # odd: a bijection
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = (np.uint32(c) for c in _FMIX32)
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def signature(text: str, num_perm: int = NUM_PERM) -> np.ndarray | None:
    """MinHash signature of the article's shingles (None for a text without words: it groups with nothing)."""
    pieces = shingles(text)
    if not pieces:
        return None
    digests = b"".join(hashlib.sha1(p.encode("utf-8")).digest()[:4] for p in pieces)
    hashes = _fmix32(np.frombuffer(digests, dtype="<u4").astype(np.uint32).reshape(-1, 1))
    a, b = _permutations(num_perm)
    with np.errstate(over="ignore"):  # wrapping is the modulo 2^32
        return (hashes * a + b).min(axis=0)


def _false_positive_area(threshold: float, b: int, r: int, nodes: np.ndarray, weights: np.ndarray) -> float:
    s = threshold * (nodes + 1) / 2  # Gauss-Legendre nodes mapped onto [0, threshold]
    return float(threshold / 2 * np.dot(weights, 1 - (1 - s ** r) ** b))


@functools.lru_cache(maxsize=16)
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) minimising false positives + false negatives at `threshold`, equally weighted.

    datasketch's `_optimal_param`, with its two integrals done by Gauss-Legendre quadrature instead of
    scipy's `quad`: the integrands are polynomials of degree b * r <= num_perm, which 100 nodes
    integrate exactly (up to rounding), so the choice is the same.
    """
    nodes, weights = np.polynomial.legendre.leggauss(max(100, num_perm // 2 + 1))
    best, best_error = (0, 0), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _false_positive_area(threshold, b, r, nodes, weights)
            s = threshold + (1 - threshold) * (nodes + 1) / 2  # mapped onto [threshold, 1]
            fn = float((1 - threshold) / 2 * np.dot(weights, (1 - s ** r) ** b))
            error = 0.5 * fp + 0.5 * fn
            if error < best_error:
                best, best_error = (b, r), error
    return best


def passage_key(text: str) -> str:
    """Identity of a passage's wording: identical up to case, spacing and punctuation -> same key."""
    return hashlib.sha256(" ".join(_words(text)).encode("utf-8")).hexdigest()[:16]


def group_articles(signatures: Mapping[str, np.ndarray | None], threshold: float) -> dict[str, str]:
    """{doc_id: group id}; articles whose estimated Jaccard similarity is >= `threshold` share a group.

    `threshold` <= 0 or >= 1 turns grouping off (every article is its own group).
    """
    groups = {doc_id: doc_id for doc_id in signatures}
    present = {d: s for d, s in signatures.items() if s is not None}
    if not 0 < threshold < 1 or len(present) < 2:
        return groups
    num_perm = len(next(iter(present.values())))
    bands, rows = lsh_bands(threshold, num_perm)
    buckets: dict[tuple[int, bytes], list[str]] = {}
    for doc_id, sig in present.items():
        for band in range(bands):
            buckets.setdefault((band, sig[band * rows:(band + 1) * rows].tobytes()), []).append(doc_id)

    parent = {d: d for d in present}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    checked: set[tuple[str, str]] = set()
    for members in buckets.values():
        for i, doc_id in enumerate(members):
            for other in members[i + 1:]:
                pair = (doc_id, other) if doc_id < other else (other, doc_id)
                if pair in checked:
                    continue
                checked.add(pair)
                if _jaccard(present[doc_id], present[other]) >= threshold:
                    a, b = root(doc_id), root(other)
                    if a != b:
                        parent[max(a, b)] = min(a, b)  # the smallest doc_id names the group
    for doc_id in present:
        groups[doc_id] = root(doc_id)
    return groups


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of permutations whose minimum agrees."""
    return float(np.count_nonzero(a == b)) / float(len(a))


class SignatureCache:
    """MinHash signatures by document hash, in one JSON file (about 0.7 KB per article)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = json.loads(path.read_text())
            self._data: dict[str, str | None] = raw if isinstance(raw, dict) else {}
        except (OSError, ValueError):
            self._data = {}  # missing or damaged: signatures are recomputed from the texts
        self._dirty = False

    def get(self, doc_hash: str) -> np.ndarray | None | bool:
        """The signature, None for a text without words, or False when it is not cached."""
        if doc_hash not in self._data:
            return False
        value = self._data[doc_hash]
        return None if value is None else np.frombuffer(base64.b64decode(value), dtype=np.uint32).copy()

    def put(self, doc_hash: str, sig: np.ndarray | None) -> None:
        self._data[doc_hash] = None if sig is None else base64.b64encode(sig.astype(np.uint32).tobytes()).decode()
        self._dirty = True

    def keep_only(self, doc_hashes: Iterable[str]) -> None:
        keep = set(doc_hashes)
        if set(self._data) - keep:
            self._data = {h: v for h, v in self._data.items() if h in keep}
            self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self._data))
        os.replace(tmp, self.path)  # a crash never leaves half a file
        self._dirty = False
