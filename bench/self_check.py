"""Would the model's own yes/no check separate right answers from wrong ones? A study, not a feature.

For every answer a recorded `rag eval qa` run kept (not refused), the conversation is rebuilt as the
chain had it: the system prompt, the same evidence (selected again from the same evaluation index
by the chain's public steps `plan` and `gather`, which stop before the model), the question, and the
kept answer as the model's turn. Then one more user turn asks the bundled model whether its answer is
stated in the evidence and answers the question, and the logits of its first reply token are read:
score = log P(yes) - log P(no) (over the "yes"/"Yes"/"no"/"No" tokens). The evidence prefix is the
prompt the answer was written from, so in the chain this check would cost only the new turn's
~30 tokens (llama.cpp reuses the cached prefix); here every row reads its whole prompt once.

Printed: the AUC of the score for right answers against the rest (wrong answers, and answers to
questions the articles cannot answer), and the share of each group kept at a few thresholds.
It measures and prints; nothing in `rag/` uses it.

    .venv/bin/python -m bench.self_check --corpus ../shared/eval/news/corpus.jsonl \
        --questions ../shared/eval/news/questions.jsonl --results RECORDED.jsonl [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag.answer.prompts import ANSWER_TEMPLATE, SYSTEM_PROMPT
from rag.assistant import Assistant
from rag.eval.evaluation import eval_settings, load_questions
from rag.llm.models import make_chat_model
from rag.settings import Settings

from .cpuinfo import describe as cpu_summary

CHECK = ("Check your answer against the evidence. Is every part of it stated in the evidence, and does it answer "
         "the question that was asked? Reply with one word: yes or no.")


def _auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def self_check(corpus: str, questions: str, results: str) -> dict[str, Any]:
    settings = eval_settings(corpus, Settings())
    finder = Assistant(settings, llm=FakeListChatModel(responses=["NOT FOUND"]))
    finder.index(corpus)  # the evaluation index `rag eval qa` keeps (built here if it is not yet)
    llm = make_chat_model(settings)
    client = llm.client
    yes = sorted({t for w in ("yes", "Yes", " yes", " Yes") for t in llm.token_ids(w)[:1]})
    no = sorted({t for w in ("no", "No", " no", " No") for t in llm.token_ids(w)[:1]})
    rows = {r["id"]: r for r in load_questions(questions)}
    chain = finder.chain
    scored: list[dict[str, Any]] = []
    for line in Path(results).read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("refused") or rec["id"] not in rows:
            continue
        row = rows[rec["id"]]
        # The chain's own steps up to the prompt: no answer is generated.
        gathered = chain.gather(chain.plan(row["question"], as_of=row.get("as_of")))
        if gathered.evidence is None:
            continue  # a digest, or refused before any evidence: not this kind of answer
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": ANSWER_TEMPLATE.format(**gathered.prompt_inputs())},
                    {"role": "assistant", "content": rec["answer"]},
                    {"role": "user", "content": CHECK}]
        client.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
        # The logits of the last prompt position (llama.cpp keeps only that row without logits_all).
        logits = np.ctypeslib.as_array(client._ctx.get_logits(), shape=(client.n_vocab(),)).astype(np.float64)
        score = _logsumexp([logits[t] for t in yes]) - _logsumexp([logits[t] for t in no])
        group = "unanswerable" if rec.get("impossible") else ("right" if rec.get("correct") else "wrong")
        scored.append({"id": rec["id"], "group": group, "score": round(float(score), 3),
                       "answer": rec["answer"][:200]})
        print(f"{group:12s} {score:+6.2f}  {rec['answer'][:90]!r}", file=sys.stderr, flush=True)
    right = [s["score"] for s in scored if s["group"] == "right"]
    rest = [s["score"] for s in scored if s["group"] != "right"]
    kept = {}
    for threshold in (-2.0, -1.0, 0.0, 1.0, 2.0):
        kept[str(threshold)] = {g: f"{sum(s['score'] >= threshold for s in scored if s['group'] == g)}/"
                                   f"{sum(s['group'] == g for s in scored)}" for g in ("right", "wrong", "unanswerable")}
    return {"cpu": cpu_summary(), "answers": len(scored), "auc_right_vs_rest": _auc(right, rest),
            "auc_right_vs_unanswerable": _auc(right, [s["score"] for s in scored if s["group"] == "unanswerable"]),
            "kept_at_threshold": kept, "rows": scored}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True)
    p.add_argument("--questions", required=True)
    p.add_argument("--results", required=True, help="per-question results of a `rag eval qa --out` run")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    result = self_check(args.corpus, args.questions, args.results)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    for key, value in result.items():
        if key != "rows":
            print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
