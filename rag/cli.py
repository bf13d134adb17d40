"""`rag`: the command-line face. index / ask / serve / eval, each a thin adapter over `Assistant`.

Each command imports only what it needs, inside its function: `rag --help` loads no model library,
`rag index` neither the LLM nor LangChain's chat models, `rag ask` not Gradio (docs/BENCHMARKS.md).

Errors of the project (`RagError`) print their message and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.eval.evaluation import add_eval_parser
from rag.terminal import TerminalStream, one_line, safe_json, safe_text, visible

if TYPE_CHECKING:
    from rag.settings import Settings

__all__ = ["main"]

SEED_QUESTION = "What did Umerov request?"


def _progress_bar() -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int, what: str) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=what, unit="passage", file=sys.stderr)
        b = bar["bar"]
        b.total = total
        b.update(done - b.n)

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def _settings() -> Settings:
    """The settings of this run (imported here: `rag --help` never loads pydantic)."""
    from rag.settings import Settings

    return Settings()


def cmd_index(args: argparse.Namespace) -> int:
    # The index alone (what `Assistant.index` calls): the assistant would import the answer chain and
    # LangChain's chat models (0.5 s) for a command that never asks the LLM anything.
    from rag.index import Index

    update, close = _progress_bar()
    try:
        try:
            report = Index(_settings()).update(args.path, rebuild=args.rebuild,
                                              progress=None if args.quiet else update, wait=args.wait)
        finally:
            close()  # before any message, so that the bar does not redraw after it
    except KeyboardInterrupt:
        # A stopped run is redone by the next one (content-hashed ids), and the index answers meanwhile.
        _say("interrupted; the index keeps what it held: run `rag index` again to finish")
        return 130
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    for problem in report.problems:
        print(f"skipped {visible(problem)}", file=sys.stderr)
    print(report.summary())
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    settings = _settings()
    loading = None
    if settings.tuning.llm_background_load:
        # The model loads (in C, without the GIL) while the imports below run (rag/llm/llamacpp_load.py).
        from rag.llm.models import start_local_model

        loading = start_local_model(settings)
    from rag.assistant import Assistant

    assistant = Assistant(settings, loading=loading)
    history = json.loads(Path(args.history).read_text()) if args.history else None
    answer = None
    streamed = ""
    # Everything printed below comes from articles or from a model that read them: it goes through
    # rag.terminal, so no escape sequence in an article reaches the terminal (titles, names, passages).
    stream = TerminalStream()
    for event in assistant.stream(args.question, history, since=args.since, until=args.until,
                                  outlets=args.outlet or None, as_of=args.as_of):
        if event.kind == "token" and not args.json:
            streamed += event.text
            print(stream.feed(event.text), end="", flush=True)
        elif event.kind == "answer":
            answer = event.answer
    print(stream.close(), end="")
    assert answer is not None
    if args.json:
        print(safe_json(answer.to_dict(), indent=2))
        return 0
    if streamed.strip() != answer.text:
        # The checked answer differs from the raw stream (citations fixed, or a refusal).
        print(("\n\nChecked answer: " if streamed else "") + safe_text(answer.text))
    else:
        print()
    if answer.rewritten_question and answer.rewritten_question != answer.question:
        print(f"\n(searched for: {one_line(answer.rewritten_question)})")
    if answer.filters.get("description"):
        print(f"({one_line(answer.filters['description'])})")
    for c in answer.citations:
        origin = ", ".join(x for x in (one_line(c.outlet), one_line(c.date)) if x) or visible(c.source)
        also = f"; also reported by {one_line(', '.join(c.also_reported_by))}" if c.also_reported_by else ""
        quoted = " … ".join(c.text[s - c.start:e - c.start] for s, e in c.spans) if c.spans else c.text
        print(f"\n[{c.n}] {one_line(c.title)} — {origin}{also}\n    {safe_text(quoted)}")
    if answer.refused and answer.passages:
        print("\nClosest passages (not cited):")
        for p in answer.passages[:3]:
            origin = ", ".join(x for x in (one_line(p.outlet), one_line(p.date)) if x) or visible(p.source)
            print(f"  - {one_line(p.title)} — {origin}: {one_line(p.text[:160])}…")
    for note in answer.notes:
        print(f"note: {visible(note)}", file=sys.stderr)
    t = answer.timings
    print(f"\nretrieval {t.retrieval_ms:.0f} ms, first token {t.first_token_ms or 0:.0f} ms, total {t.total_ms:.0f} ms; "
          f"model {visible(answer.model)}", file=sys.stderr)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rag.assistant import Assistant

    settings = _settings()
    assistant = Assistant(settings)
    bar = tqdm(total=len(args.urls), desc="fetching", unit="page", file=sys.stderr, disable=args.json)

    def fetched(done: int, total: int, what: str) -> None:
        bar.total = total
        bar.update(done - bar.n)

    update, close = _progress_bar()
    try:
        report = assistant.add(args.urls, folder=args.folder, allow_private=True if args.allow_private else None,
                               progress=fetched, index_progress=None if args.json else update)
    finally:
        bar.close()
        close()
    if args.json:
        print(safe_json(report.to_dict(), indent=2))
        return 0 if report.saved or not report.failed else 1
    # URLs and reasons come from feeds and pages: shown with their control characters made visible.
    for item in report.items:
        url = visible(item.url)
        via = f" (from {visible(item.feed)})" if item.feed else ""
        if item.status == "ok" and item.path:
            print(f"saved   {url}{via} -> {visible(Path(report.folder) / item.path)}")
        elif item.status == "ok":
            print(f"feed    {url}: {visible(item.reason)}")
        else:
            print(f"failed  {url}{via}: {visible(item.reason)}", file=sys.stderr)
    if report.index is not None:
        for problem in report.index.problems:
            print(f"skipped {visible(problem)}", file=sys.stderr)
    print(report.summary())
    return 0 if report.saved or not report.failed else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.app import serve

    serve(_settings(), host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Ask your news articles; answers cite their passages.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index a folder (or file) of articles; incremental")
    p.add_argument("path", type=Path)
    p.add_argument("--rebuild", action="store_true",
                   help="build the index from scratch (the old one answers until the new one is ready)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--wait", type=float, default=0, help="seconds to wait if another index run holds the lock")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask a question")
    p.add_argument("question", nargs="?", default=SEED_QUESTION)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--history", help="JSON file with earlier turns [{role, content}, ...]")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only articles published on or after this date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="only articles published on or before this date")
    p.add_argument("--outlet", action="append", metavar="NAME", help="only articles from this outlet (repeatable)")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="the date 'this week', 'yesterday' ... are relative to (default: today)")
    p.set_defaults(func=cmd_ask, quick_exit=True)

    p = sub.add_parser("add", help="fetch news pages or feeds into the corpus folder and index them")
    p.add_argument("urls", nargs="+", metavar="URL", help="a page, or an RSS/Atom feed whose articles are fetched")
    p.add_argument("--folder", type=Path, default=None, help="where pages are saved and indexed (default: RAG_CORPUS_DIR)")
    p.add_argument("--allow-private", action="store_true",
                   help="allow loopback/private addresses (RAG_FETCH_ALLOW_PRIVATE)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("serve", help="open the chat page")
    p.add_argument("--host", default=None, help="default 127.0.0.1 (RAG_HOST)")
    p.add_argument("--port", type=int, default=None, help="default 7860 (RAG_PORT)")
    p.set_defaults(func=cmd_serve)

    add_eval_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return _main(argv)[0]


def _main(argv: list[str] | None) -> tuple[int, argparse.Namespace]:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0), args
    except RagError as err:
        _say(f"error: {visible(err)}")
        return 2, args
    except KeyboardInterrupt:
        _say("interrupted")
        return 130, args


def _say(message: str) -> None:
    """To stderr, after any model load in progress: a load hides stdout/stderr (rag/llm/llamacpp_load.py)."""
    from rag.llm.llamacpp_load import output_visible

    with output_visible():
        print(message, file=sys.stderr, flush=True)


def run() -> None:
    """The `rag` console script: `main`, then exit; `rag ask` skips the interpreter's teardown.

    Tearing down a process that holds LangChain, Chroma's client, ONNX Runtime and a loaded GGUF
    takes ~0.55 s on two cores (module by module; no single culprit), after the answer is printed.
    `rag ask` writes nothing that teardown would finish (its one file, the saved prompt state, is
    written atomically while it runs), so it flushes its output and leaves with `os._exit`.
    Every other command (an index run, the server) exits normally.
    """
    code, args = _main(None)
    if getattr(args, "quick_exit", False):
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
