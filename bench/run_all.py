"""`make bench`: run every benchmark in turn and print its table (each compares against its baseline).

Usage: python -m bench.run_all [--quick]

- `bench.retrieval_quality`: SciFact nDCG@10 ablation (chunking, titles, fusion) against plain RRF;
- `bench.index_speed`: `rag index` of 1,500 abstracts against the LangChain tutorial pipeline;
- `bench.scaling`: index time, search latency and memory from 1,000 to 100,000 passages (+ PNG plot);
- `bench.answer_latency` (written by the answers work): time to first token and total per answer;
- `bench.cold_start`: `rag --help`, `rag index` (new and unchanged) and a cold `rag ask`, each a new
  process, against the commit issue 12 was filed on.

The machine's CPU (model, count, load average, AVX2/AVX-512/VNNI flags) is printed first: the CPU is shared, so figures are noisy,
and every benchmark measures its baseline in the same run for that reason. `--quick` runs smaller
sizes (a smoke run, not a measurement). Results also go to bench/results/*.json.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that everything runs")
    args = parser.parse_args(argv)
    from bench.cpuinfo import describe

    print(f"# benchmarks {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}: {describe()}",
          flush=True)
    quick = args.quick
    runs = [
        ("retrieval quality", ["bench.retrieval_quality", "--configs", "600:0,600:1,400:0,800:0,600:0:notitle",
                               "--json", str(RESULTS / "quality.json")] + (["--docs", "300"] if quick else [])),
        ("index speed", ["bench.index_speed", "--json", str(RESULTS / "index-speed.json")]
         + (["--docs", "200"] if quick else [])),
        ("scaling", ["bench.scaling", "--json", str(RESULTS / "scaling.json")]
         + (["--sizes", "1000,3000", "--base", "200", "--queries", "10", "--plot", str(RESULTS / "scaling.png")]
            if quick else [])),
        ("answer latency", ["bench.answer_latency"] + (["--rounds", "1"] if quick else [])),
        ("cold start", ["bench.cold_start", "--json", str(RESULTS / "cold-start.json")]),
    ]
    failed = []
    for title, cmd in runs:
        if not (ROOT / (cmd[0].replace(".", "/") + ".py")).is_file():
            continue
        print(f"\n## {title}\n", flush=True)
        code = subprocess.run([sys.executable, "-m", *cmd], cwd=ROOT).returncode
        if code:
            failed.append(title)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
