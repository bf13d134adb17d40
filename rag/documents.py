"""Reading files into documents: `.txt`, `.md` (optional front matter), `.html`, `.pdf`, `.jsonl` (BEIR).

A document is the unit of incremental re-indexing: its id is its path relative to the folder being
indexed (or the `_id` of a BEIR line), and its `text` is what chunk offsets point into, so a
citation can be highlighted in exactly the text we stored.

A file that cannot be read (binary, not UTF-8, empty, too large, a PDF with no text layer or a
broken one, a broken JSONL line, a name that is not UTF-8, a link pointing outside the folder)
becomes a `FileProblem` naming the file and the fix; it never stops the rest. `upload_target` turns
a name chosen by someone else (an upload) into a path that cannot leave its folder. This module
does not chunk, embed or store anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["SourceDocument", "FileProblem", "LoadResult", "SUPPORTED_SUFFIXES", "load_corpus", "load_file",
           "upload_target"]

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class SourceDocument:
    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    date: str = ""

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that ends up in the index changes."""
        payload = json.dumps([self.doc_id, self.title, self.source, self.date, self.text])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FileProblem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class LoadResult:
    documents: list[SourceDocument] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)  # file -> doc ids it produced


class _Unreadable(Exception):
    """Internal: a file could not be turned into text; the message is the user-facing reason."""


def load_corpus(root: Path | str, *, max_file_mb: float = 20.0) -> LoadResult:
    """Read every supported file under `root` (a folder, recursively, or a single file)."""
    root = Path(root)
    result = LoadResult()
    if root.is_file():
        files, base = [root], root.parent
    else:
        files = sorted(_walk(root))
        base = root
    inside = base.resolve()
    for path in files:
        rel = path.relative_to(base).as_posix()
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            # A name that is not UTF-8 cannot be stored as an id (nor printed); show it escaped.
            shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            result.problems.append(FileProblem(shown, "file name is not valid UTF-8; rename the file"))
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(inside):
            result.problems.append(FileProblem(rel, "is a link to a file outside the folder being indexed; "
                                                    "copy the file in instead"))
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            result.problems.append(FileProblem(rel, f"unsupported file type '{path.suffix or '(none)'}'; "
                                                     f"supported: {', '.join(SUPPORTED_SUFFIXES)}"))
            continue
        try:
            docs, line_problems = load_file(path, rel, max_file_mb=max_file_mb)
        except _Unreadable as err:
            result.problems.append(FileProblem(rel, str(err)))
            continue
        result.problems.extend(line_problems)
        result.documents.extend(docs)
        result.files[rel] = [d.doc_id for d in docs]
    return result


def _walk(root: Path) -> list[Path]:
    """Regular files under `root`, skipping hidden names; linked folders are not followed (no loops)."""
    found: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file():
                found.append(path)
    return found


def upload_target(folder: Path | str, filename: str) -> Path:
    """Where to save a file someone else named: its last path component only, inside `folder`.

    Browsers and clients send names such as `../../etc/x.txt`, `C:\\Users\\a.txt` or `.bashrc`;
    only the base name is kept, hidden/empty/dot names are refused, and the result is checked to
    lie inside `folder`. Raises `ValueError` (the message names the file) when there is no safe name.
    """
    folder = Path(folder)
    base = re.split(r"[\\/]", filename)[-1].replace("\x00", "").strip()
    if not base or base in (".", "..") or base.startswith(".") or any(ord(c) < 32 for c in base):
        raise ValueError(f"{filename!r} is not a usable file name; rename the file and upload it again")
    target = (folder / base).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ValueError(f"{filename!r} would be saved outside {folder}; rename the file")
    return target


def load_file(path: Path, doc_id: str, *, max_file_mb: float = 20.0) -> tuple[list[SourceDocument], list[FileProblem]]:
    """One file to documents. Raises `_Unreadable` with a reason the user can act on."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise _Unreadable(f"cannot be opened ({err.strerror})") from err
    if size == 0:
        raise _Unreadable("empty file; add some text or remove it")
    if size > max_file_mb * 1024 * 1024:
        raise _Unreadable(f"{size / 1024 / 1024:.1f} MB is over the {max_file_mb:g} MB limit (RAG_MAX_FILE_MB); split it or raise the limit")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return [_pdf_document(path, doc_id)], []
    try:
        text = _read_text(path)
    except OSError as err:  # unreadable (permissions), vanished since the folder was listed, I/O error
        raise _Unreadable(f"cannot be read ({err.strerror or err.__class__.__name__})") from err
    if suffix == ".jsonl":
        return _jsonl_documents(text, doc_id)
    if suffix in (".html", ".htm"):
        doc = _html_document(text, doc_id)
    elif suffix in (".md", ".markdown"):
        doc = _markdown_document(text, doc_id)
    else:
        doc = SourceDocument(doc_id=doc_id, text=text.strip(), title=_title_from_name(path), source=doc_id)
    if not doc.text.strip():
        raise _Unreadable("no text after reading it; nothing to index")
    return [doc], []


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise _Unreadable("looks like a binary file, not text; convert it to .txt, .md, .html or .pdf")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _Unreadable(f"is not valid UTF-8 (byte {err.start}); re-save it as UTF-8") from err
    # Normalise line endings once so offsets mean the same thing on every platform.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize()


def _markdown_document(text: str, doc_id: str) -> SourceDocument:
    meta: dict[str, object] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as err:
            raise _Unreadable(f"front matter is not valid YAML ({err.__class__.__name__}); fix or remove it") from err
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end():]
    body = text.strip()
    title = str(meta.get("title") or "")
    if not title:
        heading = _HEADING.search(body)
        title = heading.group(1) if heading else _title_from_name(Path(doc_id))
    return SourceDocument(
        doc_id=doc_id,
        text=body,
        title=title,
        source=str(meta.get("source") or doc_id),
        date=str(meta.get("date") or ""),
    )


def _html_document(html: str, doc_id: str) -> SourceDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    # Only what a reader would see: scripts, styles and metadata are not article text.
    for tag in soup(["script", "style", "noscript", "template", "head", "svg", "iframe"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    text = "\n".join(line for line in lines if line)
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else _title_from_name(Path(doc_id))
    return SourceDocument(doc_id=doc_id, text=text, title=title, source=doc_id)


def _pdf_document(path: Path, doc_id: str) -> SourceDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "")
    except (PdfReadError, ValueError, KeyError, OSError) as err:
        raise _Unreadable(f"is not a readable PDF ({err}); re-export it") from err
    except Exception as err:  # noqa: BLE001 - pypdf raises many unrelated types on malformed files
        raise _Unreadable(f"is not a readable PDF ({err.__class__.__name__}); re-export it") from err
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise _Unreadable("PDF has no text layer (a scan?); run OCR on it first")
    return SourceDocument(doc_id=doc_id, text=text, title=title or _title_from_name(path), source=doc_id)


def _jsonl_documents(text: str, file_id: str) -> tuple[list[SourceDocument], list[FileProblem]]:
    docs: list[SourceDocument] = []
    problems: list[FileProblem] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            doc_id, body = str(row["_id"]), str(row["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            problems.append(FileProblem(f"{file_id}:{lineno}", f"not a BEIR line with '_id' and 'text' ({err.__class__.__name__})"))
            continue
        if not body.strip():
            problems.append(FileProblem(f"{file_id}:{lineno}", "empty 'text'"))
            continue
        docs.append(SourceDocument(doc_id=doc_id, text=body.strip(), title=str(row.get("title") or ""),
                                   source=f"{file_id}#{doc_id}"))
    if not docs and not problems:
        raise _Unreadable("no JSON lines in it")
    return docs, problems
