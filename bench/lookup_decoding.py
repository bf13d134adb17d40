"""Would prompt-lookup decoding make the local model's answers faster? (measured: no, on 2 cores)

Answers copy whole phrases out of the evidence, so llama-cpp-python's `LlamaPromptLookupDecoding`
(draft the next tokens by finding the last two tokens earlier in the prompt, then check all drafts in
one batch) looks like a free speed-up. This measures it on the seed questions (and three more), one
process, one loaded model, the real answer chain: for each draft length (0 = plain decoding) every
question is asked twice, in alternating order of the modes, and the best time per question is kept.
It prints the sum and median of those times, how many answers are identical to plain decoding's, and
every answer.

How drafts are switched on: `Llama(draft_model=...)` would also keep the logits of every prompt token
(a 4096 x 151k float buffer, and the output layer run on every prompt token), so instead the draft
model is set on the loaded `Llama` and only batches no longer than a sampled token plus its drafts
ask llama.cpp for logits at every position (what verifying drafts needs). That touches llama-cpp-
python internals (`Llama._batch.set_batch`), which is why this lives in `bench/` and not in `rag/`.

It measures and prints; it asserts nothing. Usage:

    .venv/bin/python -m bench.lookup_decoding                 # draft lengths 0 10 5 3
    .venv/bin/python -m bench.lookup_decoding --drafts 0 4 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cpuinfo import describe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "data" / "seed_questions.jsonl"
EXTRA = ["Who is the Ukrainian defence minister?", "What did France announce?", "Summarize the article."]


def _client(assistant: Any) -> Any:
    from llama_cpp import Llama

    llm = assistant.chain.llm
    client = getattr(llm, "client", None)
    if not isinstance(client, Llama):
        raise SystemExit("this benchmark needs the local llama.cpp model (RAG_LLM_BACKEND=local)")
    return client


def _drafting(client: Any) -> Any:
    """A function that sets the draft length on `client` (0: plain decoding)."""
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    window = {"n": 0}
    plain = client._batch.set_batch

    def set_batch(batch: Any, n_past: int, logits_all: bool) -> None:
        plain(batch, n_past, logits_all or 1 < len(batch) <= window["n"] + 1)

    client._batch.set_batch = set_batch

    def use(n: int) -> None:
        window["n"] = n
        client.draft_model = LlamaPromptLookupDecoding(max_ngram_size=2, num_pred_tokens=n) if n else None

    return use


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drafts", type=int, nargs="+", default=[0, 10, 5, 3], help="draft lengths (0 = none)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from rag import Assistant, Settings

    questions = [json.loads(line)["question"] for line in SEED.read_text().splitlines() if line.strip()] + EXTRA
    with tempfile.TemporaryDirectory() as data:
        assistant = Assistant(Settings(data_dir=Path(data)))
        assistant.index(ROOT / "corpus")
        assistant.ask(questions[0])  # warm: model loaded, prompt prefix cached
        use = _drafting(_client(assistant))
        runs: dict[int, dict[str, list[tuple[float, str]]]] = {n: {} for n in args.drafts}
        for round_ in range(2):
            for n in args.drafts if round_ == 0 else list(reversed(args.drafts)):
                use(n)
                for q in questions:
                    t0 = time.perf_counter()
                    text = assistant.ask(q).text
                    runs[n].setdefault(q, []).append((time.perf_counter() - t0, text))
        use(0)
    plain = args.drafts[0]
    report: dict[str, Any] = {"cpu": describe(), "load_average": os.getloadavg(), "modes": {}}
    print(describe(), "load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    for n in args.drafts:
        best = {q: min(t for t, _ in runs[n][q]) for q in questions}
        same = sum(runs[n][q][0][1] == runs[plain][q][0][1] for q in questions)
        report["modes"][n] = {"sum_s": round(sum(best.values()), 2), "median_s": round(statistics.median(best.values()), 2),
                              "same_answers": same, "answers": {q: [round(best[q], 2), runs[n][q][0][1]] for q in questions}}
        print(f"draft {n:>2}: sum of best times {sum(best.values()):6.2f} s, median {statistics.median(best.values()):.2f} s, "
              f"answers identical to draft {plain}: {same}/{len(questions)}")
    for q in questions:
        print(f"\n{q}")
        for n in args.drafts:
            t, text = report["modes"][n]["answers"][q]
            print(f"  draft {n:>2} {t:5.2f} s  {text[:150]}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
