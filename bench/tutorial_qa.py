"""The plain LangChain RAG tutorial pipeline answering a question file, scored like `rag eval qa`.

Usage: python -m bench.tutorial_qa --corpus CORPUS --questions questions.jsonl [--limit N] [--offset N]
       [--every N] [--out results.jsonl] [--index-dir DIR] [--json]

The baseline the answers issue compares against, on the project's own two models:
- `RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)` over each article ("title\\ntext",
  as in `bench/index_speed.py`), read with the project's reader (`load_corpus`) so both see the same text;
- a `langchain_chroma.Chroma` store embedded with the bundled MiniLM through the project's `Embedder`,
  top 4 by similarity (`as_retriever(search_kwargs={"k": 4})`);
- the tutorial prompt (`rlm/rag-prompt`, below) with the four passages joined by blank lines, one user
  message, to the bundled LLM (`rag.llm.models.make_chat_model(Settings())`, same settings as the assistant).
It has no conversation, no dates and no citations: `history` and `as_of` are not used, and citation
accuracy is not scored (`evidence_shown` says whether the four passages held the answer). A tutorial
answer counts as refused when it says it does not know, which is what its prompt asks it to say.

Scores come from `rag.eval.evaluation` (`score_question`, `summarise_qa`), so the figures sit beside
`rag eval qa`'s. The Chroma store is kept between runs (in `eval_index_dir`, keyed like the evaluation
index, or `--index-dir`); only the questions cost time on a re-run.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rag.eval.evaluation import (
    QuestionResult,
    print_table,
    eval_index_key,
    load_questions,
    score_question,
    select_rows,
    summarise_qa,
    write_result,
)
from rag.settings import Settings

# The LangChain tutorial's prompt (hub "rlm/rag-prompt"), verbatim.
TUTORIAL_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to answer "
    "the question. If you don't know the answer, just say that you don't know. Use three sentences maximum and "
    "keep the answer concise.\nQuestion: {question} \nContext: {context} \nAnswer:"
)
CHUNK_SIZE, CHUNK_OVERLAP, TOP_K = 1000, 200, 4
_COMPLETE = "complete.json"
# What the tutorial prompt tells the model to say when it cannot answer ("just say that you don't know").
_DOES_NOT_KNOW = re.compile(r"\b(?:do not|don't|don’t|dont|does not|doesn't|doesn’t) know\b", re.IGNORECASE)


def says_it_does_not_know(text: str) -> bool:
    """A tutorial answer is a refusal when it says it does not know (its prompt's way of refusing)."""
    return bool(_DOES_NOT_KNOW.search(text))


def tutorial_index_dir(corpus: Path, settings: Settings) -> Path:
    return Path(settings.eval_index_dir) / f"tutorial-{CHUNK_SIZE}-{CHUNK_OVERLAP}-{eval_index_key(corpus, settings)}"


def build_store(corpus: Path, folder: Path, settings: Settings, progress: bool) -> tuple[Any, dict[str, Any]]:
    """The tutorial's Chroma store of `corpus`, built once into `folder` and reused while complete."""
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from tqdm import tqdm

    from rag.embed.embeddings import Embedder
    from rag.ingest.documents import load_corpus

    def open_store() -> Any:
        return Chroma(collection_name="tutorial", embedding_function=Embedder(settings),
                      persist_directory=str(folder),
                      client_settings=chromadb.config.Settings(anonymized_telemetry=False, is_persistent=True,
                                                               persist_directory=str(folder)))

    marker = folder / _COMPLETE
    if marker.is_file():
        info = json.loads(marker.read_text())
        return open_store(), {**info, "added": 0, "seconds": 0.0}
    shutil.rmtree(folder, ignore_errors=True)  # a run killed half-way: start again
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    loaded = load_corpus(corpus, max_file_mb=settings.max_file_mb)
    docs = [Document(page_content=f"{d.title}\n{d.text}".strip(), metadata={"doc_id": d.doc_id, "title": d.title,
                                                                             "source": d.source})
            for d in loaded.documents]
    splits = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP,
                                            add_start_index=True).split_documents(docs)
    store = open_store()
    batch = 256
    for start in tqdm(range(0, len(splits), batch), desc="tutorial index", unit="batch", file=sys.stderr,
                      disable=not progress):
        chunk = splits[start:start + batch]
        store.add_documents(chunk, ids=[f"p{start + i}" for i in range(len(chunk))])
    info = {"documents": len(docs), "passages": len(splits), "dir": str(folder)}
    marker.write_text(json.dumps(info))
    return store, {**info, "added": len(docs), "seconds": round(time.perf_counter() - t0, 1)}


def answer_one(store: Any, llm: Any, question: str) -> Any:
    """Retrieve 4 passages, ask the tutorial prompt, return an `Answer` the evaluation can score."""
    from langchain_core.messages import HumanMessage

    from rag.answer.chain import Answer, Citation, Timings

    t0 = time.perf_counter()
    docs = store.as_retriever(search_kwargs={"k": TOP_K}).invoke(question)
    retrieval_ms = (time.perf_counter() - t0) * 1000
    context = "\n\n".join(d.page_content for d in docs)
    reply = llm.invoke([HumanMessage(TUTORIAL_PROMPT.format(question=question, context=context))])
    text = str(reply.content).strip()
    passages = [Citation(n=i, doc_id=str(d.metadata.get("doc_id", "")), title=str(d.metadata.get("title", "")),
                         source=str(d.metadata.get("source", "")), start=int(d.metadata.get("start_index", 0)),
                         end=int(d.metadata.get("start_index", 0)) + len(d.page_content), text=d.page_content,
                         score=0.0) for i, d in enumerate(docs, start=1)]
    return Answer(question=question, text=text, refused=says_it_does_not_know(text), citations=[],
                  timings=Timings(retrieval_ms=retrieval_ms, total_ms=(time.perf_counter() - t0) * 1000),
                  passages=passages, model="tutorial")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder of articles or a .jsonl of articles")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None,
                        help="per-question JSONL (default eval-results/tutorial-<time>.jsonl)")
    parser.add_argument("--index-dir", type=Path, default=None, help="keep the tutorial's Chroma store here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from rag.llm.models import make_chat_model

    settings = Settings()
    rows = select_rows(load_questions(args.questions), offset=args.offset, every=args.every, limit=args.limit)
    folder = args.index_dir or tutorial_index_dir(args.corpus, settings)
    store, index_info = build_store(args.corpus, folder, settings, progress=not args.json)
    # The embedding model loads before llama.cpp, as in `Assistant.warm_up`: onnxruntime loaded after a
    # llama.cpp model made its first long decode crash (segmentation fault) on this machine.
    store.embeddings.embed_query("warm up")
    llm = make_chat_model(settings)
    out = args.out or Path("eval-results") / f"tutorial-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[QuestionResult] = []
    with out.open("w", encoding="utf-8") as fh:
        for row in tqdm(rows, desc="questions", unit="question", file=sys.stderr, disable=args.json):
            result = score_question(row, answer_one(store, llm, row["question"]), check_citations=False)
            results.append(result)
            write_result(fh, result)
    summary = summarise_qa(results)
    summary.update({"pipeline": f"langchain tutorial (splitter {CHUNK_SIZE}/{CHUNK_OVERLAP}, Chroma top-{TOP_K})",
                    "index": index_info, "results_file": str(out)})
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(f"tutorial pipeline on {args.corpus}", {k: v for k, v in summary.items() if k != "results_file"})
    print(f"per-question results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
