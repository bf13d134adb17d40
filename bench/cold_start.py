"""Cold start: `rag --help`, `rag index corpus/` (new, then unchanged) and `rag ask`, each in a new process.

Usage (under the team lock; it loads the LLM a dozen times):

    flock /tmp/team/heavy.lock .venv/bin/python -m bench.cold_start [--baseline COMMIT] [--rounds 1] [--json OUT]
        [--variant KEY=VALUE]   # a third column: the current tree with an environment variable set

Two versions of the code run in the same run, from the same virtualenv, alternating command by
command so both see the same background load: the current tree, and the baseline commit (default:
the tree issue 12 was filed against) extracted with `git archive` into a temporary folder that comes
first on the path. Each version gets its own data directory with an index of `corpus/` built by its
own `rag index`; both share the model cache (the GGUF is assembled once). "Cold" means a new process
with the model already in the cache, as a user meets `rag ask` the second time: one untimed ask per
version comes first (it fills the OS page cache, and lets the current version save its prompt state).

Wall time is measured from outside (process start to exit); `rag ask` is summarised as the p50 over
the seed questions. The import cost of each command of the current version is then broken down with
`python -X importtime` (cumulative milliseconds per top-level package). The CPU's flags are printed
with the figures. It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.cpuinfo import describe

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "eval" / "seed_questions.jsonl"
BASELINE = "470f50a"  # main when issue 12 was filed (ChatLlamaCpp, eager imports, batched int8)


def extract(commit: str, into: Path) -> Path:
    """The tree of `commit` in `into` (git archive: the working tree and the history are not touched)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run(tree: Path, args: list[str], data_dir: Path, *, importtime: bool = False,
        env_extra: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of `python -m rag.cli ARGS` run from `tree` (and stderr, for -X importtime)."""
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree),
           "GRADIO_ANALYTICS_ENABLED": "False", **(env_extra or {})}
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "rag.cli", *args]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} in {tree} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stderr


def import_breakdown(stderr: str, top: int = 8) -> list[tuple[str, float]]:
    """Cumulative import milliseconds per top-level package, largest first."""
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if name.startswith("  ") or not cumulative.strip().isdigit():
            continue  # nested: already counted in its top-level parent
        totals[name.strip().split(".")[0]] += int(cumulative) / 1000
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git commit to compare against")
    parser.add_argument("--rounds", type=int, default=1, help="times each seed question is asked per version")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE",
                        help="also run the current tree with this environment variable set (a third column), "
                             "e.g. RAG_TUNING__LLM_REPACK=1; repeat for several variables in that one variant")
    args = parser.parse_args(argv)
    variant_env = dict(v.split("=", 1) for v in args.variant)
    questions = [json.loads(line)["question"] for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    cpu_before = describe()

    with tempfile.TemporaryDirectory(prefix="rag-cold-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "baseline-tree").mkdir()
        trees = {"baseline": extract(args.baseline, tmp / "baseline-tree"), "current": ROOT}
        envs: dict[str, dict[str, str]] = {name: {} for name in trees}
        if variant_env:
            label = "current, " + " ".join(args.variant)
            trees[label], envs[label] = ROOT, variant_env
        data = {name: tmp / f"data-{name}" for name in trees}
        corpus = str(ROOT / "corpus")
        results: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in trees}

        def both(key: str, cmd: list[str], flip: bool = False) -> None:
            for name in (reversed(list(trees)) if flip else trees):
                results[name][key].append(run(trees[name], cmd, data[name], env_extra=envs[name])[0])

        both("index (new corpus)", ["index", corpus, "--quiet"])
        for i in range(3):
            both("index (unchanged corpus)", ["index", corpus, "--quiet"], flip=bool(i % 2))
        for i in range(5):
            both("--help", ["--help"], flip=bool(i % 2))
        both("ask (warm-up, untimed)", ["ask", questions[0], "--json"])
        for r in range(args.rounds):
            for i, question in enumerate(questions):
                both("ask (cold process)", ["ask", question, "--json"], flip=bool((i + r) % 2))

        imports = {}
        for label, cmd in (("--help", ["--help"]), ("index (unchanged)", ["index", corpus, "--quiet"]),
                           ("ask", ["ask", questions[0], "--json"])):
            imports[label] = import_breakdown(run(ROOT, cmd, data["current"], importtime=True)[1])

    summary = {name: {key: (statistics.median(values) if values else None) for key, values in res.items()
                      if "untimed" not in key} for name, res in results.items()}
    print(f"Cold start, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; baseline = commit {args.baseline}")
    print(f"CPU: {cpu_before}")
    names = list(trees)
    print("| command (new process, wall) | " + " | ".join(f"{n} s" for n in names) + " | goal |")
    print("|---|" + "---:|" * len(names) + "---|")
    goals = {"--help": "<= 0.5 s", "index (unchanged corpus)": "<= 1 s", "ask (cold process)": "p50 <= 5 s",
             "index (new corpus)": ""}
    for key in summary["current"]:
        print(f"| `rag {key}` | " + " | ".join(f"{summary[n][key]:.2f}" for n in names) + f" | {goals.get(key, '')} |")
    ranges = ", ".join(f"{n} min {min(results[n]['ask (cold process)']):.2f} max {max(results[n]['ask (cold process)']):.2f} s"
                       for n in names)
    print(f"(ask: p50 over {len(results['current']['ask (cold process)'])} asks of {len(questions)} seed questions; "
          f"{ranges}; index and --help: median of 1/3/5 runs)")
    print(f"CPU after: {describe()}")
    print("\nImport time of the current version, cumulative ms per top-level package (python -X importtime):")
    for label, rows in imports.items():
        print(f"- rag {label}: " + ", ".join(f"{name} {ms:.0f}" for name, ms in rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu_before, "baseline": args.baseline, "median_seconds": summary,
                                         "runs": {n: dict(r) for n, r in results.items()},
                                         "imports_ms": imports}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
