"""Titles embedded once: SciFact nDCG@10 of passage vectors blended with their title's vector.

Usage (under the team lock; it embeds ~16,000 texts):

    flock /tmp/team/heavy.lock .venv/bin/python -m bench.title_weight [--docs 1500] [--weights 0,0.2,0.5]

Compares, on the first `--docs` abstracts and the queries judged on them, the dense side as it was
("title\\ntext" embedded for every passage) with `normalize(text + w * title)` for each weight w,
which is what `Embedder.embed_passages` computes with `RAG_TUNING__TITLE_WEIGHT=w`. The vectors are computed
once per kind (texts, distinct titles, "title\\ntext") and blended in numpy; hybrid scores use the
shipped reciprocal-rank fusion with BM25 over "title\\ntext" (`bench.retrieval_quality.score`).
Prints embedding seconds and nDCG@10 (hybrid and dense only), with the CPU's flags.
"""

from __future__ import annotations

import argparse
import sys
import time
from types import SimpleNamespace

import numpy as np

from bench.cpuinfo import describe
from bench.retrieval_quality import SCIFACT, load_corpus, score
from rag.embed.embeddings import Embedder
from rag.eval.evaluation import load_qrels, load_queries
from rag.index import tokenize
from rag.ingest.chunking import chunk_document
from rag.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--weights", default="0,0.2,0.3,0.4,0.5,0.6,0.7,0.8,1.0")
    args = parser.parse_args(argv)
    import bm25s

    settings = Settings(embedding_backend=args.backend)
    docs = load_corpus(SCIFACT / "corpus.jsonl", args.docs)
    have = {d.doc_id for d in docs}
    queries = load_queries(SCIFACT / "queries.jsonl")
    qrels = {q: r for q, r in load_qrels(SCIFACT / "qrels.tsv").items() if q in queries and set(r) <= have}
    chunks = [c for d in docs for c in chunk_document(d, settings.chunk_size, settings.tuning.chunk_overlap)]
    print(f"CPU: {describe()}")
    print(f"{len(docs)} abstracts, {len(chunks)} passages, {len(qrels)} judged queries, backend {args.backend}")
    embedder = Embedder(settings)
    embedder.embed_query("load the model before timing")

    def timed(texts: list[str]) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        vectors = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
        return vectors, time.perf_counter() - t0

    texts, t_texts = timed([c.text for c in chunks])
    distinct = list(dict.fromkeys(c.title for c in chunks if c.title))
    title_vectors, t_titles = timed(distinct)
    before, t_before = timed([c.embed_text for c in chunks])
    row_of = {t: i for i, t in enumerate(distinct)}
    titles = np.stack([title_vectors[row_of[c.title]] if c.title else np.zeros(texts.shape[1], np.float32)
                       for c in chunks])

    bm25 = bm25s.BM25()
    bm25.index(tokenize([c.embed_text for c in chunks]), show_progress=False)
    bm25_lists = {}
    for q in qrels:
        ids, _ = bm25.retrieve(tokenize([queries[q]]), k=200, show_progress=False, n_threads=1)
        bm25_lists[q] = ids[0].tolist()
    query_vectors = {q: np.asarray(embedder.embed_query(queries[q]), dtype=np.float32) for q in qrels}
    run = SimpleNamespace(doc_of=[c.doc_id for c in chunks])

    def ndcg(vectors: np.ndarray) -> tuple[float, float]:
        lists = {q: (np.argsort(-(vectors @ query_vectors[q]))[:200].tolist(), bm25_lists[q]) for q in qrels}
        return score(lists, run, qrels)["ndcg@10"], score(lists, run, qrels, mode="dense")["ndcg@10"]

    print("| dense side | embedding s | nDCG@10 hybrid | nDCG@10 dense |")
    print("|---|---:|---:|---:|")
    hybrid, dense = ndcg(before)
    print(f"| title\\ntext per passage (before) | {t_before:.1f} | {hybrid:.4f} | {dense:.4f} |")
    for w in (float(x) for x in args.weights.split(",")):
        blended = texts + w * titles
        blended /= np.linalg.norm(blended, axis=1, keepdims=True)
        hybrid, dense = ndcg(blended)
        print(f"| blend w={w} | {t_texts:.1f} + {t_titles:.1f} | {hybrid:.4f} | {dense:.4f} |", flush=True)
    print(f"CPU after: {describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
