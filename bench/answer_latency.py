"""Answer latency of the local model: time to first token and total time on the seed questions.

One process, one loaded GGUF, one index of `corpus/` (built in a throwaway data directory). Two
answer chains share that model and answer the seed questions in alternating rounds (A B, B A, ...),
so that both see the same background load:

- `whole passages`: the current chain reading the 4 retrieved passages in full (what the model read
  before evidence selection, issue 9);
- `selected sentences (default)`: the current defaults (`Settings()`): the most relevant sentences of
  6 passages, up to `evidence_chars` characters;
- `header per block`: the same evidence in the prompt format before commit 65df7a5 (each block
  with its own `[n] "title" (outlet, date)` line and triple-quote fences, instead of one header per
  article), to measure what the shorter format gains in the same run;
- `header per block, repacked weights (before)`: that, on a second copy of the model loaded with
  llama.cpp's weight repacking (`RAG_TUNING__LLM_REPACK=1`, the default before it was measured slower here):
  the chain as it was before both changes.

The models are warm (loaded and asked once before timing), as in a running server; the system prompt
is the same for every question, so llama.cpp reuses its KV-cache prefix between answers of one
chain. It also times the start-up check of the GGUF file: a full sha256 against the verified-stamp
shortcut (`rag/llm/models.py`), and prints the CPU's flags.

It measures and prints; it asserts nothing and is not a test (the CPU is shared, so numbers are
noisy: the load average is printed with them). Usage:

    .venv/bin/python -m bench.answer_latency               # seed questions x 3 rounds
    .venv/bin/python -m bench.answer_latency --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cpuinfo import describe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "data" / "seed_questions.jsonl"

def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _header_per_block(evidence: Any) -> str:
    """The evidence in the prompt format before commit 65df7a5: a header and quote fences for every block."""
    from rag.answer.evidence import header

    return "\n\n".join(f"[{b.n}] {header(b.citation)}\n\"\"\"\n{b.text}\n\"\"\"" for b in evidence.blocks)


def _header_per_block_chain(chain: Any, llm: Any = None) -> Any:
    """`chain` (on `llm`, default its own) writing its evidence as before commit 65df7a5."""
    from rag.answer.chain import AnswerChain

    # One generation at a time, whichever model: the chains share `chain`'s lock.
    return AnswerChain(chain.retriever, llm or chain.llm, chain.settings, chain.model_name,
                       format_evidence=_header_per_block, lock=chain.llm_lock)


def _chains(assistant: Any) -> dict[str, Any]:
    from rag.answer.chain import AnswerChain
    from rag.search.retrieval import HybridRetriever

    tuned = assistant.chain
    llm = tuned.llm
    # Whole passages: the 4 retrieved passages in full (an evidence budget no passage set reaches),
    # which is what the model read before sentence selection. Same prompt, model and index.
    base_settings = assistant.settings.model_copy(update={"top_k": 4, "evidence_chars": 6000})
    baseline = AnswerChain(HybridRetriever(index=assistant.store, settings=base_settings, k=4), llm, base_settings,
                           tuned.model_name, lock=tuned.llm_lock)  # one llama.cpp context: one generation at a time
    from rag.llm.models import make_chat_model

    repacked = make_chat_model(assistant.settings.tuned(llm_repack=True))
    return {"whole passages": baseline,
            "header per block, repacked weights (before)": _header_per_block_chain(tuned, repacked),
            "header per block": _header_per_block_chain(tuned), "selected sentences (default)": tuned}


def _budget_chains(assistant: Any, budgets: list[int]) -> dict[str, Any]:
    """The default chain and chains that differ only in `evidence_chars` (the curve of issue 21)."""
    from rag.answer.chain import AnswerChain

    tuned = assistant.chain
    chains = {f"evidence {tuned.settings.evidence_chars} (default)": tuned}
    for budget in budgets:
        if budget == tuned.settings.evidence_chars:
            continue
        settings = assistant.settings.model_copy(update={"evidence_chars": budget})
        # One llama.cpp context: one generation at a time.
        chains[f"evidence {budget}"] = AnswerChain(tuned.retriever, tuned.llm, settings, tuned.model_name,
                                                   lock=tuned.llm_lock)
    return chains


def _ask(chain: Any, question: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    tokens = 0
    answer = None
    for event in chain.stream(question):
        if event.kind == "token":
            tokens += 1
        elif event.kind == "answer":
            answer = event.answer
    assert answer is not None
    total = (time.perf_counter() - t0) * 1000
    first = answer.timings.first_token_ms
    gen_s = (total - first) / 1000 if first is not None else 0.0
    return {"question": question, "ttft_ms": first, "total_ms": round(total, 1), "tokens": tokens,
            "tokens_per_s": round((tokens - 1) / gen_s, 1) if tokens > 1 and gen_s > 0 else None,
            "refused": answer.refused, "text": answer.text, "retrieval_ms": answer.timings.retrieval_ms}


def _summary(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    ttft = [r["ttft_ms"] for r in rows if r["ttft_ms"] is not None]
    total = [r["total_ms"] for r in rows]
    rates = [r["tokens_per_s"] for r in rows if r["tokens_per_s"]]
    return {"answers": len(rows), "ttft_p50_ms": _percentile(ttft, 50) if ttft else None,
            "ttft_p95_ms": _percentile(ttft, 95) if ttft else None, "total_p50_ms": _percentile(total, 50),
            "total_p95_ms": _percentile(total, 95), "tokens_per_s": statistics.median(rates) if rates else None}


def _checksum_times(settings: Any) -> dict[str, float]:
    from rag.llm.models import BUNDLED_MODELS, ensure_gguf, sha256_file

    spec = BUNDLED_MODELS.get(settings.llm_model)
    if spec is None:
        return {}
    t0 = time.perf_counter()
    path = ensure_gguf(spec, settings.model_cache)  # stamp present after the first verified start
    stamped = time.perf_counter() - t0
    t0 = time.perf_counter()
    sha256_file(path)
    full = time.perf_counter() - t0
    return {"full_sha256_s": round(full, 2), "stamp_check_s": round(stamped, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each seed question is asked per chain")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--budgets", default="", help="instead of the usual chains: the default chain and chains "
                        "reading these evidence sizes, e.g. 900,1300,1800 (first token against evidence size)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from rag import Assistant, Settings

    questions = [json.loads(line)["question"] for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rag-latency-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        checks = _checksum_times(settings)
        assistant = Assistant(settings)
        assistant.index(ROOT / "corpus")
        t0 = time.perf_counter()
        assistant.warm_up()
        load_s = time.perf_counter() - t0
        budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
        chains = _budget_chains(assistant, budgets) if budgets else _chains(assistant)
        for chain in chains.values():  # warm: first call pays one-off allocations
            list(chain.stream(questions[0]))
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in chains}
        order = list(chains)
        for _ in range(args.rounds):
            for name in order:
                for question in questions:
                    row = _ask(chains[name], question)
                    results[name].append(row)
                    print(f"{name:<9} ttft {(row['ttft_ms'] or 0) / 1000:6.2f} s  total {row['total_ms'] / 1000:6.2f} s  "
                          f"load {os.getloadavg()[0]:4.1f}  {question[:50]}", file=sys.stderr, flush=True)
            order.reverse()
    load_after = os.getloadavg()

    summary = {name: _summary(rows) for name, rows in results.items()}
    print(f"\nAnswer latency, {len(questions)} seed questions x {args.rounds} rounds, model {settings.llm_model}, "
          f"{settings.llm_threads} threads; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    print(f"CPU: {describe()}")
    print(f"model load (warm_up, file check included): {load_s:.1f} s; GGUF check at start: "
          f"full sha256 {checks.get('full_sha256_s', '-')} s, verified stamp {checks.get('stamp_check_s', '-')} s\n")
    header = f"| {'chain':<9} | TTFT p50 | TTFT p95 | total p50 | total p95 | tokens/s | answers |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, s in summary.items():
        fmt = lambda v: f"{v / 1000:.2f} s" if v is not None else "-"  # noqa: E731
        print(f"| {name:<9} | {fmt(s['ttft_p50_ms']):>8} | {fmt(s['ttft_p95_ms']):>8} | {fmt(s['total_p50_ms']):>9} | "
              f"{fmt(s['total_p95_ms']):>9} | {s['tokens_per_s'] or 0:>8.1f} | {s['answers']:>7} |")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "results": results, "checksum": checks, "cpu": describe(),
                                         "load_before": load_before, "load_after": load_after}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
