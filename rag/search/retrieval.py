"""Hybrid retrieval: dense (Chroma, MiniLM) plus BM25 over the same passages, fused by reciprocal rank.

Each retriever proposes `retrieval_depth` candidates; a passage's fused score is
`sum(weight / (rrf_k + rank))` over the lists it appears in (Cormack et al., 2009). RRF needs no
score calibration between BM25 and cosine similarity, which is why it is the default. Every returned
passage also carries its cosine `similarity` to the question, which the answer chain uses to decide
that nothing relevant was found.

Filters (`SearchFilters`: dates, outlets) restrict each retriever's search itself: a Chroma `where`
clause on the dense side, a mask over the corpus on the BM25 side. So a filter never leaves fewer
results just because the allowed articles ranked low in an unfiltered top-k.

Stories, not copies. Passages carry their article's near-duplicate `group` (rag/index/dedup.py):
- each retriever's list runs, uncapped, until it holds `depth` candidates from distinct wordings
  with at most `candidates_per_story` per story (`prefix_with_capped`): a file of 500 repeated
  paragraphs or ten copies of one wire story lengthen the list instead of pushing every other
  article out of it;
- the lists are fused whole, and only then is each story limited to `candidates_per_story` places
  and each wording of a passage listed once per story (`cap_per_story` on the fused ranking).
  Reason (issue 21): capped before fusion, each list kept its own five passages of the one relevant
  article, usually different ones, so each got one vote (~1/61) while unrelated passages that both
  lists ranked 6th-20th got two (~2/70) and won;
- among the `k` passages returned, a story is represented by one article, its best-ranked one
  (passages of its copies are skipped), with at most `passages_per_story` passages
  (`distinct_stories`). Each returned passage lists the other outlets of its story in
  `also_reported_by`. Several passages of one article are different parts of one story, not copies,
  which is why the default lets one article fill the `k` places when it is the only relevant one.

LangChain's `EnsembleRetriever` does weighted RRF too, but it returns no scores and cannot share one
query embedding between fusion and the relevance gate, so the fusion (a dozen lines) is here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.filters import SearchFilters, indexed_outlets, outlet_key
from rag.index import Index, tokenize
from rag.settings import Settings

__all__ = ["HybridRetriever", "rrf_fuse", "cap_per_story", "prefix_with_capped", "distinct_stories", "newer_first", "also_reported_by"]

# The dense side asks Chroma for more neighbours when capping left fewer than `depth` candidates,
# up to this many times `depth`: enough to get past one flooding file, bounded in cost.
_MAX_WIDEN = 16

Keys = dict[str, dict[str, Any]]  # passage id -> its doc_id, group, text_key, date_int


def rrf_fuse(rankings: list[tuple[list[str], float]], k: int) -> dict[str, float]:
    """Fuse ranked id lists `[(ids_best_first, weight), ...]` into `{id: score}`."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, cid in enumerate(ids, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return scores


def _group(meta: dict[str, Any]) -> str:
    return str(meta.get("group") or meta.get("doc_id", ""))


def cap_per_story(ids: list[str], keys: Keys, cap: int) -> list[str]:
    """Keep at most `cap` candidates per story, and each wording of a passage once per story."""
    per_group: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    kept = []
    for cid in ids:
        meta = keys[cid]
        group = _group(meta)
        wording = (group, str(meta.get("text_key") or cid))
        if per_group.get(group, 0) >= cap or wording in seen:
            continue
        per_group[group] = per_group.get(group, 0) + 1
        seen.add(wording)
        kept.append(cid)
    return kept


def prefix_with_capped(ids: list[str], keys: Keys, cap: int, depth: int) -> list[str]:
    """The shortest head of `ids` (uncapped) that holds `depth` candidates surviving `cap_per_story`
    (all of `ids` when fewer survive): every passage keeps its own rank for the fusion, and a story
    that floods the list makes it longer rather than leaving no room for other articles."""
    per_group: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    survivors = 0
    for at, cid in enumerate(ids):
        meta = keys[cid]
        group = _group(meta)
        wording = (group, str(meta.get("text_key") or cid))
        if per_group.get(group, 0) < cap and wording not in seen:
            per_group[group] = per_group.get(group, 0) + 1
            seen.add(wording)
            survivors += 1
            if survivors >= depth:
                return ids[:at + 1]
    return list(ids)


def distinct_stories(ranked: list[str], keys: Keys, k: int, per_story: int) -> list[str]:
    """The `k` passages given to the model, best first: each story is represented by one article
    (its best-ranked one; passages of its copies are skipped) and by at most `per_story` passages."""
    chosen_doc: dict[str, str] = {}  # group -> the article that represents it
    taken: dict[str, int] = {}
    picked = []
    for cid in ranked:
        if len(picked) >= k:
            break
        group, doc_id = _group(keys[cid]), keys[cid]["doc_id"]
        if chosen_doc.setdefault(group, doc_id) != doc_id or taken.get(group, 0) >= per_story:
            continue
        taken[group] = taken.get(group, 0) + 1
        picked.append(cid)
    return picked


def newer_first(ranked: list[str], fused: dict[str, float], keys: Keys, ratio: float) -> list[str]:
    """"The latest ...": passages scoring at least `ratio` x the best are ordered newest first
    (undated last); the others keep their place after them. Relevance first, then recency."""
    if not ranked:
        return ranked
    bar = fused[ranked[0]] * ratio
    pool = [cid for cid in ranked if fused[cid] >= bar]
    rest = [cid for cid in ranked if fused[cid] < bar]
    pool.sort(key=lambda cid: int(keys[cid].get("date_int") or 0), reverse=True)  # stable: score breaks ties
    return pool + rest


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over an `Index`; `k` passages come back, best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Index
    settings: Settings
    k: int = 4

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.search(query, self.k)

    def search(self, query: str, k: int | None = None, depth: int | None = None,
               filters: SearchFilters | None = None, per_story: int | None = None) -> list[Document]:
        """`k` passages, best first, from at most one article per story and at most `per_story`
        (default: the `passages_per_story` setting) passages per story; `per_story=1` gives `k` distinct
        stories (a digest)."""
        k = k or self.k
        s, t = self.settings, self.settings.tuning
        depth = depth or max(t.retrieval_depth, k)
        filters = filters or SearchFilters()
        query_vec = np.asarray(self.index.embedder.embed_query(query), dtype=np.float32)
        # One collection handle for the whole search: each lookup is a round trip (to a server, too).
        col = self.index.collection()
        if filters.outlets:  # a name no article has is a mistake to report, not a search that finds nothing
            filters.check_outlets(indexed_outlets(self.index.bm25(col).keys))
        rankings: list[tuple[list[str], float]] = []
        keys: Keys = {}
        if s.retrieval_mode in ("hybrid", "dense"):
            rankings.append((self._dense_ids(query_vec, depth, col, filters, keys), t.dense_weight))
        if s.retrieval_mode in ("hybrid", "bm25"):
            rankings.append((self._bm25_ids(query, depth, col, filters, keys), t.bm25_weight))
        fused = rrf_fuse(rankings, t.rrf_k)
        ranked = cap_per_story(sorted(fused, key=fused.__getitem__, reverse=True), keys, t.candidates_per_story)
        if filters.prefer_recent:
            ranked = newer_first(ranked, fused, keys, t.recent_relevance_ratio)
        best = distinct_stories(ranked, keys, k, per_story or t.passages_per_story or k)
        return self._documents(best, fused, query_vec, col)

    def _dense_ids(self, query_vec: np.ndarray, depth: int, col: Any, filters: SearchFilters, keys: Keys) -> list[str]:
        where = filters.chroma_where()
        total = col.count()
        n = min(depth, total)
        while True:
            hits = self.index.dense_search(query_vec.tolist(), n, col, where)
            for cid, _text, meta, _sim in hits:
                keys[cid] = meta
            ids = [cid for cid, *_ in hits]
            head = prefix_with_capped(ids, keys, self.settings.tuning.candidates_per_story, depth)
            # Stop when enough candidates survived, or Chroma has no more (filter exhausted / whole collection).
            if len(head) < len(ids) or len(hits) < n or n >= total or n >= depth * _MAX_WIDEN:
                return head
            n = min(n * 4, total, depth * _MAX_WIDEN)

    def _bm25_ids(self, query: str, depth: int, col: Any, filters: SearchFilters, keys: Keys) -> list[str]:
        side = self.index.bm25(col)
        if not side.ids:
            return []
        tokens = tokenize([query])
        if not tokens.ids or not tokens.ids[0]:
            return []  # only stop-words: BM25 has nothing to say
        mask = None
        if filters.restricts:
            mask = np.fromiter((filters.matches(m) for m in side.keys), dtype=np.float32, count=len(side.keys))
            if not mask.any():
                return []
        n = min(depth * _MAX_WIDEN, len(side.ids))
        # bm25s maps the query's own vocabulary onto the index's; unknown words are dropped. The mask
        # zeroes the scores of passages the filters exclude, inside the search.
        try:
            docs, scores = side.retriever.retrieve(tokens, k=n, show_progress=False, n_threads=1, weight_mask=mask)
        except ValueError:  # every query word is outside the index vocabulary
            return []
        # A score of 0 means no query word in the passage (or a passage the filters exclude).
        ranked = [side.ids[i] for i, score in zip(docs[0], scores[0]) if score > 0]
        for i in docs[0]:
            keys.setdefault(side.ids[i], side.keys[i])
        return prefix_with_capped(ranked, keys, self.settings.tuning.candidates_per_story, depth)

    def _documents(self, best: list[str], fused: dict[str, float], query_vec: np.ndarray, col: Any) -> list[Document]:
        if not best:
            return []
        rows = col.get(ids=best, include=["documents", "metadatas", "embeddings"])
        by_id = {cid: (text, meta, emb) for cid, text, meta, emb in
                 zip(rows["ids"], rows["documents"], rows["metadatas"], rows["embeddings"])}
        members = self.index.group_members([_group(meta) for _, meta, _ in by_id.values()], col)
        docs = []
        for cid in best:
            if cid not in by_id:  # deleted between the two reads by a concurrent re-index
                continue
            text, meta, emb = by_id[cid]
            similarity = float(np.dot(query_vec, np.asarray(emb, dtype=np.float32)))
            docs.append(Document(page_content=text, id=cid, metadata={
                **meta, "chunk_id": cid, "score": round(fused[cid], 6), "similarity": round(similarity, 4),
                "also_reported_by": also_reported_by(meta, members.get(_group(meta), []))}))
        return docs


def also_reported_by(meta: dict[str, Any], members: list[dict[str, Any]]) -> list[str]:
    """Outlets of the other articles of this passage's story (deduplicated, never its own outlet)."""
    own = outlet_key(meta.get("outlet", ""))
    seen = {own}
    outlets = []
    for other in sorted(members, key=lambda m: m["doc_id"]):
        key = outlet_key(other.get("outlet", ""))
        if other["doc_id"] != meta["doc_id"] and key and key not in seen:
            seen.add(key)
            outlets.append(str(other["outlet"]).strip())
    return outlets
