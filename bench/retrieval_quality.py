"""Retrieval quality on SciFact (BEIR, train queries): ablation of chunking, titles and fusion.

Usage: python -m bench.retrieval_quality [--docs N] [--configs 600:1,600:0] [--json OUT]

For each chunking configuration the corpus is chunked with `rag.ingest.chunking`, embedded once with the
configured backend (vectors cached under bench/results/cache/ by content), BM25-indexed with the
project's tokenizer, and then every fusion variant is scored from the same two ranked lists per
query: exact dense search (brute-force dot product; what Chroma's HNSW approximates) and bm25s.
Documents are ranked by their best passage, as `rag eval retrieval` does. The baseline row of
every configuration is plain RRF (k=60, weights 1:1, depth 100), measured in the same run; BM25
alone and dense alone are printed beside it.

`rag eval retrieval` remains the authority for the shipped default (it goes through Chroma and
the assistant's retriever); this script exists because re-embedding 5,000 abstracts per variant
would take hours on this machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.embeddings import Embedder
from rag.eval.evaluation import load_qrels, load_queries, mrr_at_k, ndcg_at_k, rank_documents, recall_at_k
from rag.index import tokenize
from rag.ingest.chunking import Chunk, chunk_document
from rag.ingest.documents import SourceDocument
from rag.search.retrieval import rrf_fuse
from rag.settings import Settings

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "scifact"
CACHE = Path(__file__).resolve().parent / "results" / "cache"


def load_corpus(path: Path, limit: int | None = None) -> list[SourceDocument]:
    docs = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        docs.append(SourceDocument(str(row["_id"]), row["text"].strip(), row.get("title") or ""))
    return docs[:limit] if limit else docs


def embed_cached(texts: list[str], settings: Settings) -> np.ndarray:
    key = hashlib.sha256(("\x00".join(texts) + settings.embedding_backend).encode()).hexdigest()[:20]
    path = CACHE / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = np.asarray(Embedder(settings).embed_documents(texts), dtype=np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


class Run:
    """One chunking configuration: passages, their vectors and BM25, ready for any fusion."""

    def __init__(self, docs: Sequence[SourceDocument], size: int, overlap: int, settings: Settings,
                 title_dense: bool = True, title_bm25: bool = True) -> None:
        import bm25s

        self.chunks: list[Chunk] = [c for d in docs for c in chunk_document(d, size, overlap)]
        self.doc_of = [c.doc_id for c in self.chunks]
        t0 = time.perf_counter()
        self.vectors = embed_cached([c.embed_text if title_dense else c.text for c in self.chunks], settings)
        self.embed_seconds = time.perf_counter() - t0
        self.bm25 = bm25s.BM25()
        self.bm25.index(tokenize([c.embed_text if title_bm25 else c.text for c in self.chunks]), show_progress=False)
        self.embedder = Embedder(settings)

    def lists(self, query: str, depth: int) -> tuple[list[int], list[int]]:
        q = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        sims = self.vectors @ q
        dense = np.argsort(-sims)[:depth].tolist()
        tokens = tokenize([query])
        try:
            ids, _ = self.bm25.retrieve(tokens, k=min(depth, len(self.chunks)), show_progress=False, n_threads=1)
            bm25 = ids[0].tolist()
        except ValueError:
            bm25 = []
        return dense, bm25


def score(ranked_lists: dict[str, tuple[list[int], list[int]]], run: Run, qrels: dict[str, dict[str, int]], *,
          bm25_weight: float = 1.0, dense_weight: float = 1.0, rrf_k: int = 60, depth: int = 100,
          mode: str = "hybrid") -> dict[str, float]:
    totals = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.0)
    for qid, (dense, bm25) in ranked_lists.items():
        rankings = []
        if mode in ("hybrid", "dense"):
            rankings.append(([str(i) for i in dense[:depth]], dense_weight))
        if mode in ("hybrid", "bm25"):
            rankings.append(([str(i) for i in bm25[:depth]], bm25_weight))
        fused = rrf_fuse(rankings, rrf_k)
        order = sorted(fused, key=fused.__getitem__, reverse=True)
        ranked = rank_documents([run.doc_of[int(i)] for i in order])
        rel = qrels[qid]
        totals["ndcg@10"] += ndcg_at_k(ranked, rel, 10)
        totals["recall@10"] += recall_at_k(ranked, rel, 10)
        totals["recall@100"] += recall_at_k(ranked, rel, 100)
        totals["mrr@10"] += mrr_at_k(ranked, rel, 10)
    return {k: round(v / len(ranked_lists), 4) for k, v in totals.items()}


FUSIONS: list[tuple[str, dict[str, Any]]] = [
    ("RRF k=60, 1:1, depth 100 (baseline)", {}),
    ("BM25 only", {"mode": "bm25"}),
    ("dense only", {"mode": "dense"}),
    ("RRF k=60, bm25 1.5 : dense 1", {"bm25_weight": 1.5}),
    ("RRF k=60, bm25 1 : dense 1.5", {"dense_weight": 1.5}),
    ("RRF k=20, 1:1", {"rrf_k": 20}),
    ("RRF k=100, 1:1", {"rrf_k": 100}),
    ("RRF k=60, 1:1, depth 50", {"depth": 50}),
    ("RRF k=60, 1:1, depth 200", {"depth": 200}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SCIFACT)
    parser.add_argument("--docs", type=int, default=None, help="only the first N abstracts (and queries judged on them)")
    parser.add_argument("--configs", default="600:1", help="chunk_size:overlap[:notitle] list, comma separated")
    parser.add_argument("--backend", default=None, help="embedding backend (default: the settings default)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    settings = Settings() if not args.backend else Settings(embedding_backend=args.backend)
    docs = load_corpus(args.data / "corpus.jsonl", args.docs)
    have = {d.doc_id for d in docs}
    queries = load_queries(args.data / "queries.jsonl")
    qrels = {q: r for q, r in load_qrels(args.data / "qrels.tsv").items() if q in queries and set(r) <= have}
    print(f"SciFact: {len(docs)} abstracts, {len(qrels)} judged queries, backend {settings.embedding_backend}",
          file=sys.stderr)
    results = []
    for spec in args.configs.split(","):
        parts = spec.split(":")
        size, overlap = int(parts[0]), int(parts[1])
        title_dense = "notitle" not in parts and "bm25title" not in parts
        run = Run(docs, size, overlap, settings, title_dense=title_dense, title_bm25="notitle" not in parts)
        lists = {q: run.lists(queries[q], 200) for q in qrels}
        for name, kwargs in FUSIONS:
            row = {"chunking": spec, "passages": len(run.chunks), "fusion": name, **score(lists, run, qrels, **kwargs)}
            results.append(row)
            print(f"| {spec} | {len(run.chunks)} | {name} | {row['ndcg@10']:.4f} | {row['recall@10']:.4f} | "
                  f"{row['recall@100']:.4f} | {row['mrr@10']:.4f} |", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                         "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
