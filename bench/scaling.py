"""Retrieval scaling: index time, query latency and memory from 1,000 to 100,000 passages.

Usage: python -m bench.scaling [--sizes 1000,10000,100000] [--queries 50] [--plot docs/scaling.png]

Passages are SciFact passages (600 characters, sentence-aligned) replicated with variations: replica
r of a passage has its sentences rotated by r (so BM25 statistics change) and its vector nudged by
small Gaussian noise and re-normalised (so HNSW sees distinct points). Embedding 100,000 passages on
two shared cores would take hours, so vectors are reused across replicas: the index-time column
covers storing (Chroma upsert + HNSW) and BM25, and embedding time is given separately, measured on
the base passages with the default backend. Each size runs in a fresh process so the resident memory
(RSS) after loading the index and answering the queries is that size's alone. Queries are SciFact
claims going through the assistant's `HybridRetriever.search` (query embedding, dense + BM25, fusion,
fetch of the passages). The baseline is the smallest size, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"


def _base_passages(base: int) -> tuple[list[tuple[str, str, str]], np.ndarray, float]:
    """(doc_id, title, text) of the first `base` SciFact passages, their vectors, embedding seconds."""
    from bench.retrieval_quality import load_corpus
    from rag.embed.embeddings import Embedder
    from rag.ingest.chunking import chunk_document
    from rag.settings import Settings

    settings = Settings()
    chunks = [c for d in load_corpus(SCIFACT / "corpus.jsonl") for c in chunk_document(
        d, settings.chunk_size, settings.tuning.chunk_overlap)][:base]
    embedder = Embedder(settings)
    embedder.embed_query("warm up")
    t0 = time.perf_counter()
    vectors = np.asarray(embedder.embed_documents([c.embed_text for c in chunks]), dtype=np.float32)
    return [(c.doc_id, c.title, c.text) for c in chunks], vectors, time.perf_counter() - t0


def _rotate(text: str, r: int) -> str:
    from rag.ingest.chunking import sentence_spans

    sentences = [text[s:e] for s, e in sentence_spans(text)]
    if len(sentences) < 2:
        return text
    r %= len(sentences)
    return " ".join(sentences[r:] + sentences[:r])


def run_one(size: int, base_file: Path, n_queries: int) -> dict[str, float]:
    """Build an index of `size` passages in a temp data dir, then time queries (run in a child process)."""
    import psutil

    from rag.assistant import Assistant
    from rag.eval.evaluation import load_queries, percentile
    from rag.index import VectorBatch, passage_metadata
    from rag.ingest.chunking import Chunk
    from rag.settings import Settings

    data = np.load(base_file, allow_pickle=True)
    rows, vectors = list(data["rows"]), data["vectors"]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="rag-bench-scale-") as tmp:
        assistant = Assistant(Settings(data_dir=Path(tmp)))
        store = assistant.store

        def batches(batch: int = 4000) -> Iterator[VectorBatch]:
            for start in range(0, size, batch):
                ids, embs, docs, metas = [], [], [], []
                for i in range(start, min(size, start + batch)):
                    r, j = divmod(i, len(rows))
                    doc_id, title, text = rows[j]
                    vec = vectors[j] if r == 0 else vectors[j] + rng.normal(0, 0.02, vectors.shape[1]).astype(np.float32)
                    ids.append(f"p{i}")
                    embs.append(vec / np.linalg.norm(vec))
                    docs.append(_rotate(text, r))
                    chunk = Chunk(f"{doc_id}-r{r}", 0, 0, len(text), docs[-1], title, "bench")
                    metas.append(passage_metadata(chunk, "bench", 1, group=chunk.doc_id))  # the index's own schema
                yield ids, embs, docs, metas

        t0 = time.perf_counter()
        col = store.write_vectors(batches())
        store_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        store.rebuild_bm25(col, generation=f"bench-{size}")
        bm25_seconds = time.perf_counter() - t1
        queries = list(load_queries(SCIFACT / "queries.jsonl").values())[:n_queries]
        assistant.search(queries[0], 4)  # first query loads the model and the BM25 index
        latencies = []
        for q in queries:
            t = time.perf_counter()
            assistant.search(q, assistant.settings.top_k)
            latencies.append((time.perf_counter() - t) * 1000)
        rss = psutil.Process().memory_info().rss / 2**20
        disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
    return {"passages": size, "store_seconds": store_seconds, "bm25_seconds": bm25_seconds,
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "rss_mb": rss, "disk_mb": disk}


def plot(results: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["passages"] for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(n, [r["store_seconds"] + r["bm25_seconds"] for r in results], "o-", label="store + BM25")
    axes[0].set_title("index time (s), vectors precomputed")
    axes[1].plot(n, [r["p50_ms"] for r in results], "o-", label="p50")
    axes[1].plot(n, [r["p95_ms"] for r in results], "s--", label="p95")
    axes[1].axhline(50, color="grey", lw=0.8, ls=":", label="50 ms goal")
    axes[1].set_title("hybrid search latency (ms)")
    axes[2].plot(n, [r["rss_mb"] for r in results], "o-", label="process RSS")
    axes[2].plot(n, [r["disk_mb"] for r in results], "s--", label="index on disk")
    axes[2].set_title("memory / disk (MiB)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("passages")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--base", type=int, default=2000, help="distinct passages embedded (then replicated)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scaling.png")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--base-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(run_one(args.one, args.base_file, args.queries)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, vectors, embed_seconds = _base_passages(args.base)
    results = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-base-") as tmp:
        base_file = Path(tmp) / "base.npz"
        np.savez(base_file, rows=np.array(rows, dtype=object), vectors=vectors)
        for size in sizes:
            out = subprocess.run([sys.executable, "-m", "bench.scaling", "--one", str(size), "--base-file",
                                  str(base_file), "--queries", str(args.queries)],
                                 capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            if out.returncode:
                print(f"  {size} passages FAILED:\n{out.stderr[-3000:]}", file=sys.stderr, flush=True)
                continue
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {size} passages: {results[-1]}", file=sys.stderr, flush=True)
    per_passage_ms = embed_seconds / len(rows) * 1000
    print(f"Retrieval scaling; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs; "
          f"embedding (default backend) {per_passage_ms:.1f} ms/passage on {len(rows)} base passages")
    print("| passages | store s | BM25 s | embed s (est.) | search p50 ms | p95 ms | RSS MiB | disk MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['passages']:,} | {r['store_seconds']:.1f} | {r['bm25_seconds']:.1f} | "
              f"{r['passages'] * per_passage_ms / 1000:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
              f"{r['rss_mb']:.0f} | {r['disk_mb']:.0f} |")
    if results:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"embed_ms_per_passage": per_passage_ms, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
