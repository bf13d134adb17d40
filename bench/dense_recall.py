"""Dense recall@100 of Chroma's HNSW against exact search, after a heavy add/delete sequence.

Usage: python -m bench.dense_recall [--docs 1500] [--churn 600] [--cycles 3] [--queries 300] [--json OUT]
Run it under the team lock: flock /tmp/team/heavy.lock .venv/bin/python -m bench.dense_recall

Why: issue 11 saw the approximate search stop returning passages that exact search ranked first,
after uploading and re-indexing 600 abstracts several times. HNSW marks deleted points instead of
removing them, so a graph that has lost many points is harder to walk; more effort per query
(`ef_search`) and per insertion (`ef_construction`, `M`) keeps recall up.

What it does, for each HNSW configuration (Chroma's defaults, the baseline, and this project's
settings), each in a fresh data directory through the project's own `Index.update`:
1. index the first `--docs` SciFact abstracts (one .jsonl file per abstract group of 100);
2. `--cycles` times: remove `--churn` abstracts from the folder and re-index (deletes), put them back
   and re-index (adds again); each cycle removes a different slice;
3. embed `--queries` SciFact claims, ask Chroma for the 100 nearest passages, and compare with the exact
   100 nearest by brute force (numpy dot products over every stored embedding, read back from Chroma).
recall@100 = |HNSW top-100 and exact top-100| / 100, averaged over queries. The embeddings are computed
once and reused by the second configuration (a caching wrapper around the embedder), so both see the
same vectors. CPU flags are printed with the timings, since these machines differ.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
CHROMA_DEFAULTS = {"hnsw_search_ef": 100, "hnsw_construction_ef": 100, "hnsw_m": 16}


def cpu_flags() -> str:
    """The CPU's model name and the SIMD flags that change embedding and HNSW speed."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"]
    return f"{model}; " + " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in wanted)


class CachingEmbedder:
    """Wraps the project's embedder: each text is embedded once for all configurations of the run."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._cache: dict[Any, list[float]] = {}
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _cached(self, keys: list[Any], compute: Any) -> list[list[float]]:
        missing = [i for i, key in enumerate(keys) if key not in self._cache]
        if missing:
            t0 = time.perf_counter()
            vectors = compute(missing)
            self.seconds += time.perf_counter() - t0
            for i, vector in zip(missing, vectors):
                self._cache[keys[i]] = vector
        return [self._cache[key] for key in keys]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._cached(list(texts), lambda idx: self._inner.embed_documents([texts[i] for i in idx]))

    def embed_passages(self, texts: list[str], titles: list[str]) -> list[list[float]]:
        return self._cached([(t, h) for t, h in zip(texts, titles)],
                            lambda idx: self._inner.embed_passages([texts[i] for i in idx], [titles[i] for i in idx]))

    def embed_query(self, text: str) -> list[float]:
        return self._cached([("query", text)], lambda idx: [self._inner.embed_query(text)])[0]


def _write_folder(folder: Path, rows: list[dict[str, Any]], present: np.ndarray) -> None:
    """The corpus folder with the `present` abstracts, 100 per .jsonl file (so a removal rewrites few files)."""
    for f in folder.glob("*.jsonl"):
        f.unlink()
    for start in range(0, len(rows), 100):
        kept = [json.dumps(r) for r, on in zip(rows[start:start + 100], present[start:start + 100]) if on]
        if kept:
            (folder / f"part-{start // 100:03d}.jsonl").write_text("\n".join(kept) + "\n")


def recall_at(col: Any, queries: np.ndarray, k: int) -> tuple[float, float, float]:
    """(recall@k of HNSW against exact search, seconds per HNSW query, seconds per exact query)."""
    from rag.index import get_all

    rows = get_all(col, ["embeddings"])
    ids = np.array(rows["ids"])
    matrix = np.asarray(rows["embeddings"], dtype=np.float32)
    t0 = time.perf_counter()
    exact = np.argsort(-(queries @ matrix.T), axis=1)[:, :k]
    t_exact = (time.perf_counter() - t0) / len(queries)
    hits = []
    t0 = time.perf_counter()
    for start in range(0, len(queries), 50):
        res = col.query(query_embeddings=queries[start:start + 50].tolist(), n_results=k, include=[])
        hits.extend(res["ids"])
    t_hnsw = (time.perf_counter() - t0) / len(queries)
    recall = float(np.mean([len(set(h) & set(ids[e])) / k for h, e in zip(hits, exact)]))
    return recall, t_hnsw, t_exact


def run(config: dict[str, int], rows: list[dict[str, Any]], queries: list[str], embedder: CachingEmbedder,
        churn: int, cycles: int, k: int) -> dict[str, Any]:
    from rag.index import Index
    from rag.settings import Settings

    with tempfile.TemporaryDirectory(prefix="dense-recall-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data").tuned(**config)
        index = Index(settings, embedder)  # type: ignore[arg-type]
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        present = np.ones(len(rows), dtype=bool)
        _write_folder(folder, rows, present)
        t0 = time.perf_counter()
        first = index.update(folder)
        t_first = time.perf_counter() - t0
        fresh = recall_at(index.collection(), np.asarray([embedder.embed_query(q) for q in queries]), k)
        t0 = time.perf_counter()
        deleted = 0
        for cycle in range(cycles):
            lo = (cycle * churn) % len(rows)
            gone = (np.arange(len(rows)) - lo) % len(rows) < churn  # a different slice each cycle
            present[gone] = False
            _write_folder(folder, rows, present)
            deleted += index.update(folder).chunks_deleted
            present[:] = True
            _write_folder(folder, rows, present)
            index.update(folder)
        t_churn = time.perf_counter() - t0
        col = index.collection()
        recall, t_hnsw, t_exact = recall_at(col, np.asarray([embedder.embed_query(q) for q in queries]), k)
        return {**config, "passages": col.count(), "passages_first_run": first.total_chunks,
                "passages_deleted_and_readded": deleted, "recall_fresh": round(fresh[0], 4),
                "recall_after_churn": round(recall, 4), "ms_per_query_hnsw": round(t_hnsw * 1000, 2),
                "ms_per_query_exact_numpy": round(t_exact * 1000, 2), "index_seconds_first": round(t_first, 1),
                "churn_seconds": round(t_churn, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--churn", type=int, default=600)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from rag.embed.embeddings import Embedder
    from rag.settings import Settings

    rows = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text().splitlines()[:args.docs]]
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").read_text().splitlines()[:args.queries]]
    embedder = CachingEmbedder(Embedder(Settings()))
    ours = Settings().tuning
    configs = {"chroma defaults": CHROMA_DEFAULTS,
               "project settings": {"hnsw_search_ef": ours.hnsw_search_ef,
                                    "hnsw_construction_ef": ours.hnsw_construction_ef, "hnsw_m": ours.hnsw_m}}
    print(f"CPU: {cpu_flags()}", flush=True)
    print(f"SciFact: {len(rows)} abstracts, {args.cycles} cycles of removing and re-adding {args.churn}, "
          f"{len(queries)} queries, recall@{args.k}", flush=True)
    results = {}
    for name, config in configs.items():
        results[name] = run(config, rows, queries, embedder, args.churn, args.cycles, args.k)
        print(f"{name:>17}: {json.dumps(results[name])}", flush=True)
    print(f"embedding (once, shared): {embedder.seconds:.1f} s", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu_flags(), "args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results, "embedding_seconds": round(embedder.seconds, 1)},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
