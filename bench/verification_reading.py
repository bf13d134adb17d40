"""How the meaning check should read an answer sentence: alone, or after the question it answers.

Usage: python -m bench.verification_reading --corpus CORPUS --questions questions.jsonl --every 3
       RESULTS.jsonl [RESULTS.jsonl ...] [--evidence-chars 900] [--json]

Re-verifies, without the LLM, the sentences a `rag eval qa` results file recorded. For each question
the chain's public steps `plan` and `gather` run up to the evidence (time filters, retrieval, evidence
selection; the model is never asked), so each recorded sentence is checked against exactly the blocks it was checked
against (the recorded per-block similarities are compared, and the figures say how many matched).
A sentence is supported when some block passes both checks, as in `VerificationPolicy.verify` (a
sentence that fails its citation is tried against every other block). Two readings are compared:
- `alone`: the sentence alone; a fragment of under 6 words after its question (the rule before);
- `with question`: every sentence after its question (`RAG_TUNING__VERIFY_WITH_QUESTION`, the default).
Sentences are labelled by their question: `right` (answerable, contains an accepted answer),
`unanswerable` (the question cannot be answered from the corpus: any claim is wrong), `other`
(answerable, no accepted answer in the sentence: a wrong entity or a supporting sentence). The
report gives, per reading and threshold, how many of each are kept, and the AUC of the best-block
similarity for right vs unanswerable sentences. Use development files only: this tunes a rule.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def capture_evidence(corpus: str, questions: str, every: int, offset: int, evidence_chars: int) -> dict[str, Any]:
    """question id -> (the question the chain verified against, its Evidence), with no LLM call."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from rag.assistant import Assistant
    from rag.eval.evaluation import eval_settings, load_questions, select_rows
    from rag.settings import Settings

    settings = eval_settings(corpus, Settings().model_copy(update={"evidence_chars": evidence_chars}))
    assistant = Assistant(settings, llm=FakeListChatModel(responses=["unused"]))
    # The evaluation index `rag eval qa` keeps (waiting, as it does, for another run indexing it).
    assistant.index(Path(corpus), wait=3600)
    chain = assistant.chain
    out = {}
    for row in select_rows(load_questions(questions), offset=offset, every=every):
        # The chain's own steps up to the prompt (`plan`, `gather`): the model is never asked.
        gathered = chain.gather(chain.plan(row["question"], as_of=row.get("as_of") or None))
        out[str(row["id"])] = (gathered.question, gathered.evidence) if gathered.evidence is not None else (None, None)
    return out


def auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return round(float(((p > n) + 0.5 * (p == n)).mean()), 3)


def main(argv: list[str] | None = None) -> int:
    from rag.answer.verification import VerificationPolicy, claim_text
    from rag.embed.embeddings import Embedder
    from rag.eval.evaluation import contains_answer
    from rag.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="`rag eval qa` per-question files of the same question rows")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--questions", required=True)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--evidence-chars", type=int, default=Settings().evidence_chars)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    evidence = capture_evidence(args.corpus, args.questions, args.every, args.offset, args.evidence_chars)
    embedder = Embedder(Settings())
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in cache]
        if new:
            cache.update(zip(new, np.asarray(embedder.embed_documents(new), dtype=np.float32)))
        return np.stack([cache[t] for t in texts])

    threshold = Settings().tuning.min_support_similarity
    sentences, seen, matched, compared = [], set(), 0, 0
    for path in args.results:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            question, ev = evidence.get(row["id"], (None, None))
            for s in row.get("sentences") or []:
                if s.get("kind") != "claim" or ev is None or (row["id"], s["text"]) in seen:
                    continue
                seen.add((row["id"], s["text"]))
                label = ("unanswerable" if row["impossible"] else
                         "right" if contains_answer(s["text"], row["expected"]) else "other")
                sentences.append((label, s, question, ev.blocks))
    policies = {name: VerificationPolicy(embed, min_support_similarity=threshold, with_question=flag)
                for name, flag in (("alone", False), ("with question", True))}
    report: dict[str, Any] = {"sentences": {k: sum(x[0] == k for x in sentences) for k in ("right", "other", "unanswerable")}}
    for name, policy in policies.items():
        best: dict[str, list[float]] = {"right": [], "other": [], "unanswerable": []}
        for label, s, question, blocks in sentences:
            vector = embed([claim_text(s["text"], question, policy.with_question)])[0]
            checks = {str(b.n): policy.check(s["text"], vector, b, question) for b in blocks}
            if name == "alone":  # the recorded checks were made with this reading: are the blocks the same?
                for n, recorded in (s.get("checks") or {}).items():
                    compared += 1
                    matched += n in checks and abs(checks[n]["similarity"] - recorded["similarity"]) < 0.011
            best[label].append(max((c["similarity"] for c in checks.values() if c["names"]), default=0.0))
        report[name] = {
            "auc_right_vs_unanswerable": auc(best["right"], best["unanswerable"]),
            "kept": {str(t): {k: sum(x >= t for x in v) for k, v in best.items()}
                     for t in (0.5, 0.55, threshold, 0.65, 0.7)},
        }
    report["recorded_similarities_reproduced"] = f"{matched}/{compared}"
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"sentences: {report['sentences']}; recorded similarities reproduced: {report['recorded_similarities_reproduced']}")
    for name in policies:
        print(f"\n{name}: AUC right vs unanswerable {report[name]['auc_right_vs_unanswerable']}")
        for t, kept in report[name]["kept"].items():
            print(f"  >= {t}: " + ", ".join(f"{k} {v}/{report['sentences'][k]}" for k, v in kept.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
