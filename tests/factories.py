"""What the tests build again and again, built in one place.

- where the test data is (`CORPUS`, `DATA`, `SHARED_EVAL`, ...);
- `rag` values made by hand: `make_citation` and `make_answer` (an `Answer` is plain data, so a test of the page or
  of the metrics needs no index);
- small corpora written into a temporary folder: `write_article` (Markdown with front matter),
  `write_jsonl` (BEIR-style rows), `seed_corpus` (a copy of corpus/ plus a few files of the test's own),
  `write_text_pdf` / `pdf_bytes` (PDFs without a PDF library);
- `fake_llm`: LangChain's scripted chat model, to isolate the chain's decisions from the LLM's; a feature's
  real test uses the real model (`seed_assistant` in conftest.py);
- `free_port`, for servers a test starts on 127.0.0.1, and `served_page`, the chat page served on one.

Fixtures live in conftest.py; these are plain functions, imported as `from ..factories import ...`.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.types import Answer, Citation, Timings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SEED_ARTICLE = "french-instructors-ukraine.md"  # the one article of corpus/; the seed questions are about it
SHARED_EVAL = ROOT.parent / "shared" / "eval"
DATA = Path(__file__).resolve().parent / "data"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots of the browser tests (git-ignored)


# ------------------------------------------------------------------------------------------ values
def make_citation(n: int = 1, text: str = "Umerov asked France for more weapons.", *, doc_id: str | None = None,
             title: str = "French instructors in Ukraine", source: str | None = None, start: int = 0,
             score: float = 0.1, similarity: float = 0.5, date: str = "2024-05-30", outlet: str = "Kyiv Post",
             **more: Any) -> Citation:
    """A passage as retrieval returns it: `text` at `start` of its article (`end` follows from the text)."""
    doc_id = f"d{n}.md" if doc_id is None else doc_id
    return Citation(n=n, doc_id=doc_id, title=title, source=doc_id if source is None else source, start=start,
                    end=start + len(text), text=text, score=score, similarity=similarity, date=date, outlet=outlet,
                    **more)


def make_answer(text: str = "Umerov asked France for more weapons [1].", citations: list[Citation] | None = None, *,
           question: str = "What did Umerov request?", refused: bool = False, **more: Any) -> Answer:
    """An answer citing `citations` (one default passage if None); they are also the passages it was shown."""
    citations = [make_citation()] if citations is None else citations
    more.setdefault("passages", list(citations))
    more.setdefault("timings", Timings())
    return Answer(question=question, text=text, refused=refused, citations=citations, **more)


# ------------------------------------------------------------------------------------------ corpora
def write_article(folder: Path, name: str, text: str, *, title: str | None = None, date: str | None = None,
                  source: str | None = None, **front: str) -> Path:
    """`folder/name`: a Markdown article whose front matter holds the fields given (strings as JSON, which YAML
    reads as they are; the date bare, as a writer types it)."""
    lines = [f"title: {json.dumps(title)}"] if title is not None else []
    lines += [f"date: {date}"] if date else []
    lines += [f"source: {json.dumps(source)}"] if source is not None else []
    lines += [f"{key}: {json.dumps(value)}" for key, value in front.items()]
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("---\n" + "\n".join(lines) + "\n---\n\n" if lines else "") + text + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """One JSON object a line, as `rag index` reads BEIR-style corpora."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def seed_corpus(folder: Path, files: Mapping[str, str | Path] | None = None) -> Path:
    """`folder` (created) holding a copy of corpus/ and `files`: text to write, or a file to copy, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    for article in CORPUS.iterdir():
        shutil.copy(article, folder / article.name)
    for name, content in (files or {}).items():
        if isinstance(content, Path):
            shutil.copy(content, folder / name)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    return folder


def write_text_pdf(path: Path, text: str) -> None:
    """A valid one-page PDF with a text layer, written without extra dependencies."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    path.write_bytes(pdf_bytes(objects))


def pdf_bytes(objects: list[bytes]) -> bytes:
    """A PDF file of numbered `objects` (object 1 is the catalog) with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# ------------------------------------------------------------------------------------------ stand-ins
def fake_llm(*replies: str) -> Any:
    """A chat model that streams `replies`, one per call, in order (none: any call fails)."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    return GenericFakeChatModel(messages=iter([AIMessage(reply) for reply in replies]))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served_page(assistant: Any, settings: Any) -> Iterator[tuple[str, Any]]:
    """The chat page for `assistant` served on a free port of 127.0.0.1: its URL and the Gradio app."""
    from ui.app import build_app, launch

    demo = build_app(assistant, settings)
    try:
        yield launch(demo, settings, port=free_port(), block=False, quiet=True), demo
    finally:
        demo.close()
