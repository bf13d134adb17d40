"""Indexing speed: `rag index` of 1,500 SciFact abstracts against the LangChain tutorial pipeline.

Usage: python -m bench.index_speed [--docs 1500] [--json OUT] [--before REF]

Each pipeline runs end to end in a fresh Python process (imports, model load, splitting, embedding,
storing), timed from outside, in the same run:
- baseline: the LangChain RAG tutorial: `RecursiveCharacterTextSplitter(1000, 200)`,
  `HuggingFaceEmbeddings` on the same bundled MiniLM folder, `Chroma.from_documents` (langchain_chroma);
- `rag index` with the torch fp32 backend, and with the onnx-int8 backend (the default).
Retrieval quality of the two `rag` indexes is then measured with the assistant's own retriever on the
SciFact queries whose relevant abstracts are all in the slice (nDCG@10; the int8 one must stay within
0.005 of fp32). The int8 model is exported before timing (a one-off per machine, reported apart).
`--before REF` also times `rag index` (onnx-int8) of an earlier commit (its tree extracted with
`git archive`, run with the same interpreter), so a change is measured against its baseline in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cpuinfo import describe
from rag.embed.embeddings import bundled_model_path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
PY = sys.executable

BASELINE = r"""
import json, sys, os
os.environ["HF_HUB_OFFLINE"] = "1"
import chromadb
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_chroma import Chroma
corpus, model, out = sys.argv[1:4]
docs = []
for line in open(corpus):
    row = json.loads(line)
    docs.append(Document(page_content=(row["title"] + "\n" + row["text"]).strip(), metadata={"doc_id": row["_id"]}))
splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
embeddings = HuggingFaceEmbeddings(model_name=model)
Chroma.from_documents(splits, embeddings, persist_directory=out,
                      client_settings=chromadb.config.Settings(anonymized_telemetry=False, is_persistent=True,
                                                               persist_directory=out))
print(len(splits))
"""


def make_slice(n: int, folder: Path) -> tuple[Path, Path, Path]:
    """The first `n` abstracts, and the queries whose relevant abstracts are all among them."""
    lines = (SCIFACT / "corpus.jsonl").read_text().splitlines()[:n]
    have = {json.loads(line)["_id"] for line in lines}
    corpus = folder / "scifact-slice.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    qrels: dict[str, list[str]] = {}
    for row in (SCIFACT / "qrels.tsv").read_text().splitlines()[1:]:
        q, d, _ = row.split("\t")
        qrels.setdefault(q, []).append(d)
    keep = {q for q, ds in qrels.items() if set(ds) <= have}
    qrels_path = folder / "qrels.tsv"
    qrels_path.write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q in sorted(keep) for d in qrels[q]))
    queries = folder / "queries.jsonl"
    queries.write_text("".join(line + "\n" for line in (SCIFACT / "queries.jsonl").read_text().splitlines()
                               if json.loads(line)["_id"] in keep))
    return corpus, queries, qrels_path


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    return time.perf_counter() - t0


def extract(ref: str, folder: Path) -> Path:
    """The tree of commit `ref`, extracted into `folder` (for timing the code before a change)."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def ndcg_of_index(data_dir: Path, backend: str, queries: Path, qrels: Path) -> float:
    from rag.assistant import Assistant
    from rag.eval.evaluation import corpus_id, load_qrels, load_queries, ndcg_at_k, rank_documents
    from rag.settings import Settings

    assistant = Assistant(Settings(data_dir=data_dir, embedding_backend=backend))
    qs, judged = load_queries(queries), load_qrels(qrels)
    total = 0.0
    for qid, text in qs.items():
        docs = assistant.retriever.search(text, k=200, depth=100)
        # stored ids of .jsonl rows are "<file>#<_id>"; the qrels name the bare _id
        total += ndcg_at_k(rank_documents([corpus_id(d.metadata["doc_id"]) for d in docs]), judged[qid], 10)
    return total / len(qs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--before", default=None, help="also time `rag index` (onnx-int8) at this git commit")
    args = parser.parse_args(argv)

    from rag.embed.onnx_export import export_int8
    from rag.settings import Settings

    cpu_before = describe()
    t0 = time.perf_counter()
    export_int8(bundled_model_path(), Settings().model_cache)
    export_seconds = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="rag-bench-index-") as tmp_name:
        tmp = Path(tmp_name)
        corpus, queries, qrels = make_slice(args.docs, tmp)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        seconds: dict[str, float] = {}
        seconds["langchain tutorial (baseline)"] = timed(
            [PY, "-c", BASELINE, str(corpus), str(bundled_model_path()), str(tmp / "lc")], env)
        for backend in ("torch", "onnx-int8"):
            seconds[f"rag index ({backend})"] = timed(
                [PY, "-m", "rag.cli", "index", str(corpus), "--quiet"],
                {**env, "RAG_DATA_DIR": str(tmp / backend), "RAG_EMBEDDING_BACKEND": backend})
        if args.before:
            tree = extract(args.before, tmp / "before-tree")
            seconds[f"rag index at {args.before} (before)"] = timed(
                [PY, "-m", "rag.cli", "index", str(corpus), "--quiet"],
                {**env, "RAG_DATA_DIR": str(tmp / "before"), "RAG_EMBEDDING_BACKEND": "onnx-int8",
                 "PYTHONPATH": str(tree)}, cwd=tree)  # `-m` puts the working directory first on sys.path
            quality_before = ndcg_of_index_at(tree, tmp / "before", queries, qrels)
        quality = {b: ndcg_of_index(tmp / b, b, queries, qrels) for b in ("torch", "onnx-int8")}
        if args.before:
            quality[f"at {args.before} (before)"] = quality_before
        n_queries = sum(1 for _ in queries.open())

    base = seconds["langchain tutorial (baseline)"]
    print(f"Index {args.docs} SciFact abstracts, end to end (fresh process each); "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"CPU before: {cpu_before}\nCPU after:  {describe()}")
    print("| pipeline | seconds | speed-up vs baseline | nDCG@10 |")
    print("|---|---:|---:|---:|")
    for name, s in seconds.items():
        backend = name[name.find("(") + 1:-1] if name.startswith("rag index (") else name.removeprefix("rag index ")
        nd = f"{quality[backend]:.4f}" if backend in quality else "n/a"
        print(f"| {name} | {s:.1f} | {base / s:.2f}x | {nd} |")
    print(f"(nDCG@10 over {n_queries} queries whose abstracts are in the slice; "
          f"one-off int8 export {export_seconds:.1f} s, not counted)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu_before, "seconds": seconds, "ndcg@10": quality, "queries": n_queries,
                                         "export_seconds": export_seconds, "before": args.before,
                                         "commit": _head()}, indent=1))
    return 0


def ndcg_of_index_at(tree: Path, data_dir: Path, queries: Path, qrels: Path) -> float:
    """nDCG@10 of an index built by the code in `tree`, searched by that code (in its own process)."""
    script = ("import sys; from pathlib import Path; from bench.index_speed import ndcg_of_index; "
              "print(ndcg_of_index(Path(sys.argv[1]), 'onnx-int8', Path(sys.argv[2]), Path(sys.argv[3])))")
    out = subprocess.run([PY, "-c", script, str(data_dir), str(queries), str(qrels)], check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}, cwd=tree)
    return float(out.stdout.strip().splitlines()[-1])


def _head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
