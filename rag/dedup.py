"""Near-duplicate articles: the same story from several outlets, grouped at index time.

Each article's text is reduced to its set of word 3-shingles ("the senate voted", "senate voted
on", ...) and summarised by a MinHash signature (datasketch), whose agreement between two articles
estimates the Jaccard similarity of their shingle sets. Locality-sensitive hashing (`MinHashLSH`)
finds the pairs above a threshold without comparing every pair; each candidate pair is then checked
on its estimated Jaccard (LSH alone lets some less similar pairs through). Articles linked by such
pairs form one group (connected components, so a chain of rewrites is one story); the group's id is
its smallest doc_id, and an article with no near-duplicate is its own group.

Signatures are cached in a JSON file in the data directory keyed by the document's hash, so that a
re-index recomputes groups over every article without re-reading or re-hashing unchanged ones.

Simplifications: similarity is lexical (a paraphrase of a story in other words is a different
article); groups are recomputed from scratch on every change (milliseconds for thousands of articles).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["SHINGLE_WORDS", "NUM_PERM", "SCHEME", "shingles", "signature", "group_articles", "passage_key", "SignatureCache"]

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


def signature(text: str, num_perm: int = NUM_PERM) -> np.ndarray | None:
    """MinHash signature of the article's shingles (None for a text without words: it groups with nothing)."""
    from datasketch import MinHash

    pieces = shingles(text)
    if not pieces:
        return None
    minhash = MinHash(num_perm=num_perm, scheme=SCHEME)
    minhash.update_batch([p.encode("utf-8") for p in pieces])
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


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
    from datasketch import MinHash, MinHashLSH

    num_perm = len(next(iter(present.values())))
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    hashes = {d: MinHash(hashvalues=s, scheme=SCHEME) for d, s in present.items()}
    for doc_id, minhash in hashes.items():
        lsh.insert(doc_id, minhash)

    parent = {d: d for d in present}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for doc_id, minhash in hashes.items():
        for other in lsh.query(minhash):
            if other != doc_id and minhash.jaccard(hashes[other]) >= threshold:
                a, b = root(doc_id), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)  # the smallest doc_id names the group
    for doc_id in present:
        groups[doc_id] = root(doc_id)
    return groups


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
