"""Soak benchmark: many questions through `Assistant.ask` in one process, resident memory sampled.

It answers whether a long-running server leaks: the same assistant (real MiniLM, real Chroma,
the real local GGUF through llama.cpp) answers N questions (default 200) drawn in a fixed order
from the SQuAD 2.0 sample and the seed questions, some of them follow-ups with history, and the
process RSS (psutil) is sampled after every answer.

Growth is measured from a baseline taken after a warm-up (the first `--warmup` questions): the
model, the KV cache, tokenizer tables and Chroma's caches reach their steady size during those,
and counting them would be measuring start-up, not a leak. Growth from the very first sample is
printed too. Goal: under 10% from the warm baseline.

It measures and prints; it asserts nothing and is not part of the test suite (it takes tens of
minutes to hours on two busy cores; `--model qwen2.5-coder-0.5b --max-tokens 64` makes each
answer cheaper without changing which code runs). Usage:

    .venv/bin/python -m bench.soak                 # 200 questions, the configured model
    .venv/bin/python -m bench.soak -n 200 --model qwen2.5-coder-0.5b --max-tokens 64 --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"


def _questions(n: int) -> list[tuple[str, list[dict[str, str]] | None]]:
    """N (question, history) pairs in a fixed order: seed questions, then SQuAD, some as follow-ups."""
    rows: list[tuple[str, list[dict[str, str]] | None]] = []
    for path in (EVAL / "seed_questions.jsonl", EVAL / "squad2" / "questions.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            history = [{"role": "user", "content": h} for h in row.get("history", [])] or None
            rows.append((row["question"], history))
    out: list[tuple[str, list[dict[str, str]] | None]] = []
    i = 0
    while len(out) < n:
        q, h = rows[i % len(rows)]
        # Every tenth question is asked as a follow-up of the previous one: exercises the rewrite step.
        if h is None and out and len(out) % 10 == 9:
            prev = out[-1][0]
            h = [{"role": "user", "content": prev}, {"role": "assistant", "content": "See the passages."}]
        out.append((q, h))
        i += 1
    return out


def _corpus(folder: Path) -> Path:
    corpus = folder / "corpus"
    corpus.mkdir()
    (corpus / "squad2.jsonl").write_text((EVAL / "squad2" / "corpus.jsonl").read_text())
    (corpus / "seed.md").write_text((ROOT / "corpus" / "french-instructors-ukraine.md").read_text())
    return corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--questions", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10, help="questions before the baseline sample")
    parser.add_argument("--json", type=Path, help="also write the samples and summary here")
    parser.add_argument("--model", help="RAG_LLM_MODEL for this run (default: the configured one)")
    parser.add_argument("--max-tokens", type=int, help="RAG_LLM_MAX_TOKENS for this run")
    args = parser.parse_args(argv)

    import psutil

    from rag import Assistant, Settings

    proc = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="rag-soak-") as tmp:
        overrides: dict[str, object] = {"data_dir": Path(tmp) / "data"}
        if args.model:
            overrides["llm_model"] = args.model
        if args.max_tokens:
            overrides["llm_max_tokens"] = args.max_tokens
        settings = Settings(**overrides)
        assistant = Assistant(settings)
        t0 = time.perf_counter()
        report = assistant.index(_corpus(Path(tmp)))
        print(f"indexed: {report.summary()}", flush=True)
        assistant.warm_up()
        rss_start = proc.memory_info().rss
        print(f"model: {assistant.model_name}; RSS after warm-up {rss_start / 2**20:.1f} MiB", flush=True)

        samples: list[dict[str, float]] = []
        refused = errors = 0
        baseline = rss_start
        for i, (question, history) in enumerate(_questions(args.questions), start=1):
            t = time.perf_counter()
            try:
                answer = assistant.ask(question, history)
                refused += answer.refused
            except KeyboardInterrupt:  # Ctrl-C: stop early, still print what was measured
                print(f"  interrupted after {i - 1} questions", flush=True)
                break
            except Exception as err:  # a soak reports failures, it does not stop at the first one
                errors += 1
                print(f"  question {i} failed: {err.__class__.__name__}: {err}", file=sys.stderr, flush=True)
            rss = proc.memory_info().rss
            samples.append({"i": i, "rss_mib": rss / 2**20, "seconds": time.perf_counter() - t})
            if i == args.warmup:
                gc.collect()
                baseline = proc.memory_info().rss
            if i % 10 == 0 or i == args.questions or i <= 3:
                print(f"  {i:4d} questions  RSS {rss / 2**20:8.1f} MiB  last {samples[-1]['seconds']:.1f} s", flush=True)

        gc.collect()
        rss_end = proc.memory_info().rss
        peak = max(s["rss_mib"] for s in samples)
        summary = {
            "questions": len(samples),
            "model": assistant.model_name,
            "llm_max_tokens": settings.llm_max_tokens,
            "refused": refused,
            "errors": errors,
            "minutes": round((time.perf_counter() - t0) / 60, 1),
            "rss_after_warm_up_mib": round(rss_start / 2**20, 1),
            "rss_baseline_mib": round(baseline / 2**20, 1),
            "rss_end_mib": round(rss_end / 2**20, 1),
            "rss_peak_mib": round(peak, 1),
            "growth_from_baseline_pct": round(100 * (rss_end - baseline) / baseline, 2),
            "growth_from_start_pct": round(100 * (rss_end - rss_start) / rss_start, 2),
            "mean_seconds_per_question": round(sum(s["seconds"] for s in samples) / len(samples), 2),
        }
    print(json.dumps(summary, indent=2))
    verdict = "PASS" if summary["growth_from_baseline_pct"] < 10 else "FAIL"
    print(f"RSS growth over {len(samples)} questions after {args.warmup} warm-up questions: {summary['growth_from_baseline_pct']}% "
          f"(goal < 10%): {verdict}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "samples": samples}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
