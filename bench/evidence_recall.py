"""How often the evidence the model reads holds an accepted answer, without running the LLM.

Usage: python -m bench.evidence_recall --corpus CORPUS --questions questions.jsonl [--every N]
       [--offset N] [--limit N] [--no-as-of] [--json]

For every answerable question it runs the assistant's own chain up to the prompt: its public steps
`plan` (filters from the question and its `as_of`) and `gather` (hybrid retrieval, the relevance gate,
sentence selection), with no model call (LangChain's fake chat model stands in for the LLM), and
counts (for rows with `nuggets`, the long-form questions: the mean share of key facts stated) whether an accepted answer (SQuAD normalisation, `contains_answer`) occurs in
- `in_passages`: the retrieved passages (what retrieval can give at all), and
- `in_evidence`: the selected sentences the model is shown (what the model can answer from).
An answer's accuracy cannot exceed `in_evidence`; the gap between the two is the evidence selection's,
the gap between `in_evidence` and `rag eval qa`'s accuracy is the model's. Settings come from the
environment as usual (e.g. `RAG_TOP_K=10`, `RAG_EVIDENCE_CHARS=600`), so variants are one variable away;
`--window` studies the selection itself, passed to the chain as its `select` function.
The evaluation index is the one `rag eval qa` keeps (same key), so nothing is re-embedded.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag.answer.chain import AnswerChain
from rag.answer.evidence import EVIDENCE_WINDOW, select_evidence
from rag.assistant import Assistant
from rag.eval.evaluation import contains_answer, eval_settings, load_questions, nugget_share, select_rows
from rag.settings import Settings

from .cpuinfo import describe as cpu_summary


def evidence_recall(corpus: str, questions: str, *, every: int = 1, offset: int = 0, limit: int | None = None,
                    use_as_of: bool = True, window: int | None = None) -> dict[str, Any]:
    settings = eval_settings(corpus, Settings())
    assistant = Assistant(settings, llm=FakeListChatModel(responses=["NOT FOUND"]))
    if not assistant.store.exists():
        sys.exit(f"No evaluation index in {settings.data_dir}; run `rag eval qa --corpus {corpus} ...` once first.")
    chain = assistant.chain
    if window is not None:
        # The study's variable: sentences read beside each chosen one.
        chain = AnswerChain(chain.retriever, chain.llm, settings, chain.model_name,
                            select=functools.partial(select_evidence, window=window))
    rows = [r for r in select_rows(load_questions(questions), offset=offset, every=every, limit=limit)
            if not r.get("impossible")]
    in_passages = in_evidence = 0
    nuggets_evidence: list[float] = []  # long-form rows: share of their key facts the evidence states
    nuggets_passages: list[float] = []
    chars: list[int] = []
    missed: list[str] = []  # ids of questions whose evidence holds no accepted answer
    for row in rows:
        gathered = chain.gather(chain.plan(row["question"], as_of=row.get("as_of") if use_as_of else None))
        evidence = gathered.evidence_text  # exactly as the prompt carries it ("" when the model is not asked)
        chars.append(len(evidence))
        passages = "\n".join(p.text for p in gathered.answer.passages)
        if row.get("nuggets"):
            nuggets_evidence.append(nugget_share(evidence, row["nuggets"]))
            nuggets_passages.append(nugget_share(passages, row["nuggets"]))
            continue
        hit = contains_answer(evidence, row["answers"])
        in_evidence += hit
        if not hit:
            missed.append(str(row["id"]))
        in_passages += contains_answer(passages, row["answers"])
    n = len(rows) - len(nuggets_evidence)
    if nuggets_evidence:
        return {"cpu": cpu_summary(), "answerable": len(nuggets_evidence),
                "nuggets_in_passages": round(sum(nuggets_passages) / len(nuggets_passages), 3),
                "nuggets_in_evidence": round(sum(nuggets_evidence) / len(nuggets_evidence), 3),
                "mean_evidence_chars": round(sum(chars) / len(chars), 1), "top_k": settings.top_k}
    return {"cpu": cpu_summary(), "answerable": n, "in_passages": in_passages, "in_evidence": in_evidence,
            "in_passages_share": round(in_passages / n, 3) if n else None,
            "in_evidence_share": round(in_evidence / n, 3) if n else None,
            "mean_evidence_chars": round(sum(chars) / n, 1) if n else None,
            "top_k": settings.top_k, "evidence_chars": settings.evidence_chars,
            "window": EVIDENCE_WINDOW if window is None else window,
            "missed": missed}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True)
    p.add_argument("--questions", required=True)
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--no-as-of", action="store_true")
    p.add_argument("--window", type=int, default=None, help="sentences read on each side of a chosen one")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = evidence_recall(args.corpus, args.questions, every=args.every, offset=args.offset, limit=args.limit,
                             use_as_of=not args.no_as_of, window=args.window)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
