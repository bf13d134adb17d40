"""Re-score saved `rag eval qa` result files against the current questions file (its accepted answers).

Usage: python -m bench.rescore --questions ../shared/eval/news/questions.jsonl FILE.jsonl [FILE.jsonl ...]

The development questions gained accepted-answer aliases and lost rows whose gold the articles do not state
(issue 21). A saved answer is judged again with `rag.eval.evaluation.contains_answer` over the rows still in the
file, so an experiment and its baseline, run on the same day, are compared on today's scoring without
running the model again. Prints accuracy, refusal accuracy and the share of answered questions that are right.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rag.eval.evaluation import contains_answer, load_questions


def rescore(path: Path, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    answerable = right = answered = refused_impossible = impossible = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        saved = json.loads(line)
        row = rows.get(str(saved["id"]))
        if row is None:
            continue
        if row["impossible"]:
            impossible += 1
            refused_impossible += bool(saved["refused"])
            continue
        answerable += 1
        if not saved["refused"]:
            answered += 1
            right += contains_answer(saved["answer"], row["answers"])
    return {"file": path.name, "answerable": answerable, "accuracy": round(right / answerable, 3) if answerable else None,
            "refusal_accuracy": round(refused_impossible / impossible, 3) if impossible else None,
            "answered_precision": round(right / answered, 3) if answered else None, "right": right,
            "answered": answered, "unanswerable": impossible}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--questions", required=True)
    p.add_argument("files", nargs="+", type=Path)
    args = p.parse_args(argv)
    rows = {str(r["id"]): r for r in load_questions(args.questions)}
    for path in args.files:
        print(json.dumps(rescore(path, rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
