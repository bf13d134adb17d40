"""Hybrid retrieval: dense (Chroma, MiniLM) plus BM25 over the same passages, fused by reciprocal rank.

Each retriever proposes `retrieval_depth` candidates; a passage's fused score is
`sum(weight / (rrf_k + rank))` over the lists it appears in (Cormack et al., 2009). RRF needs no
score calibration between BM25 and cosine similarity, which is why it is the default. Every returned
passage also carries its cosine `similarity` to the question, which the answer chain uses to decide
that nothing relevant was found.

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

from .index import Index, _tokenize
from .settings import Settings

__all__ = ["HybridRetriever", "rrf_fuse"]


def rrf_fuse(rankings: list[tuple[list[str], float]], k: int) -> dict[str, float]:
    """Fuse ranked id lists `[(ids_best_first, weight), ...]` into `{id: score}`."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, cid in enumerate(ids, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return scores


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over an `Index`; `k` passages come back, best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Index
    settings: Settings
    k: int = 4

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.search(query, self.k)

    def search(self, query: str, k: int | None = None, depth: int | None = None) -> list[Document]:
        k = k or self.k
        s = self.settings
        depth = depth or max(s.retrieval_depth, k)
        query_vec = np.asarray(self.index.embedder.embed_query(query), dtype=np.float32)
        # One collection handle for the whole search: each lookup is a round trip (to a server, too).
        col = self.index.collection()
        rankings: list[tuple[list[str], float]] = []
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        if s.retrieval_mode in ("hybrid", "dense"):
            dense = self.index.dense_search(query_vec.tolist(), depth, col)
            rankings.append(([cid for cid, *_ in dense], s.dense_weight))
            found.update({cid: (text, meta) for cid, text, meta, _ in dense})
        if s.retrieval_mode in ("hybrid", "bm25"):
            rankings.append((self._bm25_ids(query, depth, col), s.bm25_weight))
        fused = rrf_fuse(rankings, s.rrf_k)
        best = sorted(fused, key=fused.__getitem__, reverse=True)[:k]
        return self._documents(best, fused, found, query_vec, col)

    def _bm25_ids(self, query: str, depth: int, col: Any) -> list[str]:
        retriever, ids = self.index.bm25(col)
        if not ids:
            return []
        tokens = _tokenize([query])
        if not tokens.ids or not tokens.ids[0]:
            return []  # only stop-words: BM25 has nothing to say
        # bm25s maps the query's own vocabulary onto the index's; unknown words are dropped.
        try:
            docs, _scores = retriever.retrieve(tokens, k=min(depth, len(ids)), show_progress=False, n_threads=1)
        except ValueError:  # every query word is outside the index vocabulary
            return []
        return [ids[i] for i in docs[0]]

    def _documents(self, best: list[str], fused: dict[str, float], found: dict[str, tuple[str, dict[str, Any]]],
                   query_vec: np.ndarray, col: Any) -> list[Document]:
        if not best:
            return []
        rows = col.get(ids=best, include=["documents", "metadatas", "embeddings"])
        by_id = {cid: (text, meta, emb) for cid, text, meta, emb in
                 zip(rows["ids"], rows["documents"], rows["metadatas"], rows["embeddings"])}
        docs = []
        for cid in best:
            if cid not in by_id:  # deleted between the two reads by a concurrent re-index
                continue
            text, meta, emb = by_id[cid]
            similarity = float(np.dot(query_vec, np.asarray(emb, dtype=np.float32)))
            docs.append(Document(page_content=text, id=cid, metadata={
                **meta, "chunk_id": cid, "score": round(fused[cid], 6), "similarity": round(similarity, 4)}))
        return docs
