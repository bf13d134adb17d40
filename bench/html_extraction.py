"""HTML extraction quality (issue 10): the project's HTML reader on the Scrapinghub article-extraction benchmark.

Usage: python -m bench.html_extraction [--data ../shared/eval/html-extraction] [--json OUT]

Each of the benchmark's 181 real article pages (`html/<id>.html.gz`) is written to a temporary
`.html` file and read with `rag.ingest.documents.load_file`, exactly as `rag index` reads a saved page.
The document text is the prediction (`{"<id>": {"articleBody": ...}}`, the benchmark's format),
scored by the benchmark's own `evaluate.py` (precision, recall and F1 over 4-word shingles, mean over
pages, bootstrap spreads). Also printed: the share of pages given a publication date, and the share
given an outlet and a URL. Goals: F1 >= 0.93, a date on >= 95% of pages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.ingest.documents import load_file

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "html-extraction"


def predict(data: Path, work: Path) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """The reader's article text for every page, and how many pages got a date / outlet / url."""
    import trafilatura

    pages = sorted((data / "html").glob("*.html.gz"))
    output: dict[str, dict[str, str]] = {}
    counts = {"pages": len(pages), "date": 0, "outlet": 0, "url": 0, "fallback": 0}
    t0 = time.perf_counter()
    for page in pages:
        key = page.name.removesuffix(".html.gz")
        path = work / f"{key}.html"
        path.write_bytes(gzip.decompress(page.read_bytes()))
        result = load_file(path, path.name)
        doc = result.documents[0] if result.documents else None
        output[key] = {"articleBody": doc.text if doc else ""}
        if doc:
            counts["date"] += bool(doc.date)
            counts["outlet"] += bool(doc.outlet)
            counts["url"] += bool(doc.url)
        counts["fallback"] += any("visible text" in w.reason for w in result.warnings)
    counts["seconds_per_page"] = round((time.perf_counter() - t0) / max(1, len(pages)), 3)
    counts["trafilatura"] = trafilatura.__version__
    return output, counts


def score(data: Path, work: Path, output: dict[str, dict[str, str]], version: str) -> dict[str, Any]:
    """Run the benchmark's evaluate.py (it reads ./ground-truth.json and ./output/*.json)."""
    (work / "output").mkdir()
    shutil.copy(data / "ground-truth.json", work / "ground-truth.json")
    (work / "output" / "rag_news.json").write_text(json.dumps({"version": version, "output": output}))
    subprocess.run([sys.executable, str(data / "evaluate.py"), "--output", "metrics.json"], cwd=work, check=True)
    metrics = json.loads((work / "metrics.json").read_text())["rag_news"]
    return {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pages = work / "pages"
        pages.mkdir()
        output, counts = predict(args.data, pages)
        metrics = score(args.data, work, output, f"trafilatura {counts['trafilatura']}")
    n = counts["pages"]
    report = {**metrics, **counts,
              **{f"{k}_share": round(counts[k] / n, 4) for k in ("date", "outlet", "url")}}
    print(f"F1 {metrics['f1']:.3f}  precision {metrics['precision']:.3f}  recall {metrics['recall']:.3f}  "
          f"over {n} pages; date on {counts['date']}/{n} ({report['date_share']:.1%}), outlet on "
          f"{report['outlet_share']:.1%}, url on {report['url_share']:.1%}; {counts['fallback']} read as visible "
          f"text; {counts['seconds_per_page']} s/page")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
