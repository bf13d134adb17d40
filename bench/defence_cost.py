"""What issue 11's defences cost: indexing with and without near-duplicate grouping and HNSW effort.

Indexes the same SciFact slice twice per variant, alternating (A B B A), into fresh data directories:
- `defences off`: `near_duplicate_threshold=0` (no MinHash grouping), Chroma's default HNSW effort
  (search 100, construction 100, M 16);
- `defences on`: the defaults (grouping at 0.5, HNSW 400 / 200 / 32).
Identical-passage storage and the per-story candidate cap cannot be switched off; they cost a hash per
passage. Prints wall seconds per run and the ratio; the CPU flags are printed with them.

    python -m bench.defence_cost --docs 1500
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.cpuinfo import describe as cpu_description
from rag import Assistant, Settings

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"
VARIANTS = {
    "defences off": {"near_duplicate_threshold": 0.0, "hnsw_search_ef": 100, "hnsw_construction_ef": 100, "hnsw_m": 16},
    "defences on": {},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        lines = SCIFACT.read_text(encoding="utf-8").splitlines()[: args.docs]
        (corpus / "scifact.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        Assistant(Settings(data_dir=Path(tmp) / "warm")).embedder.embed_query("warm up")  # export/load once
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for i, name in enumerate(["defences off", "defences on", "defences on", "defences off"]):
            settings = Settings(data_dir=Path(tmp) / f"run{i}").tuned(**VARIANTS[name])
            t0 = time.perf_counter()
            Assistant(settings).index(corpus)
            times[name].append(time.perf_counter() - t0)
            print(f"{name}: {times[name][-1]:.1f} s", flush=True)
    off, on = statistics.mean(times["defences off"]), statistics.mean(times["defences on"])
    print(cpu_description())
    print(json.dumps({"docs": args.docs, "seconds": times, "ratio_on_off": round(on / off, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
