"""Reading files into documents: `.txt`, `.md`, `.html`, `.pdf`, `.jsonl` rows and RSS/Atom feed entries.

A document is the unit of incremental re-indexing: its id is its path relative to the folder being
indexed, or, for the rows of a `.jsonl` file and the entries of a feed, `<file>#<row _id / entry id>`,
so no row can take the id of another file's document. Its `text` is what chunk offsets point into,
so a citation can be highlighted in exactly the text we stored. Each document carries what is known
of its article: title, publication `date` (`YYYY-MM-DD`, or empty: never guessed), `outlet`, `url`
and `authors`.

Where the metadata comes from (docs/COLLECTION.md):
  .html / .htm   trafilatura: headline, date, authors, site name, canonical URL (rag.ingest.webpages)
  .md            YAML front matter: title, date, source (the outlet), url, authors
  .jsonl         each row: _id, text, title, date, source (the outlet), url, authors
  .rss/.atom/.xml  feedparser: each entry's title, link, published date; the feed's title is the outlet
  .txt / others  a date at the start of the file name (`2025-03-18-starliner.txt`)

Whatever a file says, it is cut to documented limits (`MAX_TITLE_CHARS`, ...) so that no title
can fill a prompt; YAML front matter may not use aliases (283 bytes of them expand to megabytes).
A file's text is at most `TEXT_LIMIT_FACTOR` x RAG_MAX_FILE_MB (a PDF or a feed's entities can hold
far more than their size); every reader takes time linear in its input. Text files are UTF-8, or
UTF-16/UTF-32 when they start with a byte-order mark.
A file that cannot be read becomes a `FileProblem` naming the file and the fix; it never stops the
rest. Things worth knowing that did not stop a file (an unreadable date, a cut title, a page read
as plain visible text) are `LoadResult.warnings`. `upload_target` is the one policy for names
chosen by someone else (uploads, fetched pages). This module does not chunk, embed or store.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SourceDocument", "FileProblem", "LoadResult", "SUPPORTED_SUFFIXES", "FEED_SUFFIXES", "MB",
           "MAX_TITLE_CHARS", "MAX_OUTLET_CHARS", "MAX_URL_CHARS", "MAX_AUTHOR_CHARS", "MAX_AUTHORS",
           "MAX_ID_CHARS", "MAX_FRONT_MATTER_CHARS", "MAX_NAME_CHARS", "TEXT_LIMIT_FACTOR", "load_corpus",
           "load_file", "upload_target", "normalise_date", "date_from_name"]

MB = 1024 * 1024  # the one megabyte of the project (file limits, upload limits, fetch limits)
FEED_SUFFIXES = (".rss", ".atom", ".xml")
SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl") + FEED_SUFFIXES
# Limits on what a file may say about itself. A title goes into every prompt that retrieves its
# article, so it is kept to a long headline's length; the others are shown beside every source.
MAX_TITLE_CHARS = 300
MAX_OUTLET_CHARS = 100
MAX_URL_CHARS = 2048
MAX_AUTHOR_CHARS = 100
MAX_AUTHORS = 10
MAX_ID_CHARS = 200  # a row `_id` / feed entry id inside a document id
MAX_FRONT_MATTER_CHARS = 16 * 1024  # front matter is a few lines of metadata, never a document
MAX_NAME_CHARS = 120  # a saved file name's stem (uploads, fetched pages)
# The text read from one file is at most this many times RAG_MAX_FILE_MB. A text file at the limit
# holds that much; a PDF or feed can hold far more than its size (a 324 KB PDF whose 2,000 pages share
# one content stream gave 100 MB of text; a 206 KB feed repeating one entity, 105 MB), so theirs is
# counted as it is produced and the file is refused past the bound, before it costs minutes and GB.
TEXT_LIMIT_FACTOR = 1.0

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
# A level-1 heading line ("# Title", "# Title #"). `[ \t]+` and `\S` cannot overlap and the closing
# "#"s are trimmed in Python (`_heading_title`), so the pattern never backtracks: the former
# `\s+(.+?)\s*#*\s*$` took 15 s on a heading followed by 2,000 spaces, hours on 28 KB.
_HEADING = re.compile(r"^#[ \t]+(\S[^\n]*)", re.MULTILINE)
# A date written as the start of a file name, the way people sort saved articles: 2025-03-18-x.txt.
_NAME_DATE = re.compile(r"^(\d{4})[-_.]?(\d{2})[-_.]?(\d{2})(?!\d)[-_. ]*")
# An ISO date at the start of a value ("2025-03-18", "2025-03-18T10:00:00Z"): read without dateparser.
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:$|[T\s])")


@dataclass(frozen=True)
class SourceDocument:
    doc_id: str
    text: str
    title: str = ""
    source: str = ""  # the file's relative path (+ "#<_id>" for rows and feed entries)
    date: str = ""  # "YYYY-MM-DD" or ""
    outlet: str = ""
    url: str = ""
    authors: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that ends up in the index changes."""
        payload = json.dumps([self.doc_id, self.title, self.source, self.date, self.outlet, self.url,
                              list(self.authors), self.text])
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
    problems: list[FileProblem] = field(default_factory=list)  # files / rows that were not read
    warnings: list[FileProblem] = field(default_factory=list)  # read, but something was dropped or cut
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
        found, linked_out = _walk(root)
        files, base = sorted(found), root
        for link in sorted(linked_out):
            result.problems.append(FileProblem(_shown(link.relative_to(root).as_posix()) + "/",
                                               "is a link to a folder outside the folder being indexed; its files "
                                               "were not read: copy them in or index that folder itself"))
    inside = base.resolve()
    readable: list[tuple[Path, str]] = []
    for path in files:
        rel = path.relative_to(base).as_posix()
        if _shown(rel) != rel:
            result.problems.append(FileProblem(_shown(rel), "file name is not valid UTF-8; rename the file"))
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(inside):
            result.problems.append(FileProblem(rel, "is a link to a file outside the folder being indexed; "
                                                    "copy the file in instead"))
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            result.problems.append(FileProblem(rel, f"unsupported file type '{path.suffix or '(none)'}'; "
                                                     f"supported: {', '.join(SUPPORTED_SUFFIXES)}"))
            continue
        readable.append((path, rel))
    # Files whose id is their own path first: a row or feed entry can then never claim one of them.
    readable.sort(key=lambda item: _is_multi(item[0]))
    taken: dict[str, str] = {}
    for path, rel in readable:
        one = load_file(path, rel, max_file_mb=max_file_mb)
        result.problems.extend(one.problems)
        result.warnings.extend(one.warnings)
        kept: list[str] = []
        for doc in one.documents:
            if doc.doc_id in taken:
                result.problems.append(FileProblem(doc.source, f"its id {doc.doc_id!r} is already used by "
                                                               f"{taken[doc.doc_id]}; give it another id"))
                continue
            taken[doc.doc_id] = rel
            result.documents.append(doc)
            kept.append(doc.doc_id)
        if one.documents or not one.problems:
            result.files[rel] = kept
    return result


def _shown(rel: str) -> str:
    """A path as it can be stored and printed: a name that is not UTF-8 cannot be an id; shown escaped."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return rel


def _is_multi(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl",) + FEED_SUFFIXES


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    """(regular files under `root`, linked folders that lead outside it), skipping hidden names.

    Linked folders are not followed (no loops, no reading outside the folder): one that leads back
    inside holds files read under their own path anyway; one that leads outside is returned so that
    the user hears its files were left out.
    """
    found: list[Path] = []
    outside: list[Path] = []
    inside = root.resolve()
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in dirs:
            path = Path(folder) / name
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                outside.append(path)
        for name in names:
            path = Path(folder) / name
            if not name.startswith(".") and path.is_file():
                found.append(path)
    return found, outside


def upload_target(folder: Path | str, filename: str) -> Path:
    """Where to save a file someone else named (an upload, a fetched page): the one policy for names.

    Browsers and clients send names such as `../../etc/x.txt`, `C:\\Users\\a.txt` or `.bashrc`;
    only the last path component is kept; empty, dot, hidden (the reader skips those) and
    control-character names are refused, as are types the reader does not read; a long stem is cut
    to `MAX_NAME_CHARS`; the result is checked to lie directly inside `folder`. Raises `ValueError`
    whose message names the file and says what to do.
    """
    folder = Path(folder)
    base = re.split(r"[\\/]", filename)[-1].replace("\x00", "").strip()
    if not base or base in (".", "..") or base.startswith(".") or any(ord(c) < 32 or ord(c) == 127 for c in base):
        raise ValueError(f"{filename!r} is not a usable file name; rename the file and upload it again")
    stem, suffix = os.path.splitext(base)
    if suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ValueError(f"{filename!r}: '{suffix or 'no extension'}' is not an article type; "
                         f"use {', '.join(SUPPORTED_SUFFIXES)}")
    base = stem[:MAX_NAME_CHARS].rstrip(" .") + suffix.lower()
    target = (folder / base).resolve()
    if target.parent != folder.resolve():
        raise ValueError(f"{filename!r} would be saved outside {folder}; rename the file")
    return target


def load_file(path: Path, doc_id: str, *, max_file_mb: float = 20.0) -> LoadResult:
    """One file to documents, with its problems and warnings; never raises for a bad file."""
    result = LoadResult()
    try:
        docs = _read(path, doc_id, max_file_mb, result)
    except _Unreadable as err:
        result.problems.append(FileProblem(doc_id, str(err)))
        return result
    result.documents.extend(docs)
    result.files[doc_id] = [d.doc_id for d in docs]
    return result


def _read(path: Path, rel: str, max_file_mb: float, out: LoadResult) -> list[SourceDocument]:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise _Unreadable(f"cannot be opened ({err.strerror})") from err
    if size == 0:
        raise _Unreadable("empty file; add some text or remove it")
    if size > max_file_mb * MB:
        raise _Unreadable(f"{size / MB:.1f} MB is over the {max_file_mb:g} MB limit (RAG_MAX_FILE_MB); split it or raise the limit")
    suffix = path.suffix.lower()
    max_chars = int(max_file_mb * MB * TEXT_LIMIT_FACTOR)
    if suffix == ".pdf":
        return [_pdf_document(path, rel, out, max_chars)]
    if suffix in FEED_SUFFIXES:
        return _feed_documents(path, rel, out, max_chars)
    try:
        text = _read_text(path)
    except OSError as err:  # unreadable (permissions), vanished since the folder was listed, I/O error
        raise _Unreadable(f"cannot be read ({err.strerror or err.__class__.__name__})") from err
    if suffix == ".jsonl":
        return _jsonl_documents(text, rel, out)
    if suffix in (".html", ".htm"):
        doc = _html_document(text, rel, out)
    elif suffix in (".md", ".markdown"):
        doc = _markdown_document(text, rel, out)
    else:
        doc = _make(rel, text.strip(), {"title": _title_from_name(Path(rel)), "date": date_from_name(Path(rel))},
                    source=rel, out=out)
    if not doc.text.strip():
        raise _Unreadable("no text after reading it; nothing to index")
    return [doc]


# Byte-order marks: Windows editors save "Unicode" text as UTF-16 with one. UTF-32's are tested first
# (the UTF-32-LE mark starts with the UTF-16-LE one). Without a mark, text is UTF-8.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF8, "utf-8-sig"))


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    # A NUL byte is binary in UTF-8; UTF-16/32 text is full of them, so those are judged once decoded.
    if b"\x00" in (data[:8192] if encoding == "utf-8" else b""):
        raise _Unreadable("looks like a binary file, not text; convert it to .txt, .md, .html or .pdf")
    try:
        text = data.decode(encoding)  # the utf-16/32 codecs read the mark and drop it
    except UnicodeDecodeError as err:
        raise _Unreadable(f"is not valid {encoding.upper().removesuffix('-SIG')} (byte {err.start}); "
                          "re-save it as UTF-8") from err
    if "\x00" in text[:8192]:
        raise _Unreadable("looks like a binary file, not text; convert it to .txt, .md, .html or .pdf")
    # Normalise line endings once so offsets mean the same thing on every platform.
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ------------------------------------------------------------------------------------- metadata
def _make(doc_id: str, text: str, meta: dict[str, Any], *, source: str, out: LoadResult) -> SourceDocument:
    """A document from raw metadata: every field cut to its limit, the date normalised (or warned about)."""
    where = source

    def cut(value: object, limit: int, what: str) -> str:
        s = " ".join(str(value or "").split())
        if len(s) <= limit:
            return s
        out.warnings.append(FileProblem(where, f"{what} was {len(s)} characters; cut to {limit}"))
        return s[:limit].rsplit(" ", 1)[0].rstrip() + "…" if " " in s[:limit] else s[:limit] + "…"

    date = normalise_date(meta.get("date"))
    if date is None:
        out.warnings.append(FileProblem(where, f"date {str(meta.get('date'))[:40]!r} could not be read; left empty "
                                               "(write it as YYYY-MM-DD)"))
        date = ""
    raw_authors = meta.get("authors")
    if isinstance(raw_authors, str):
        raw_authors = [a for a in re.split(r";|\n| and ", raw_authors)]
    authors = [cut(a, MAX_AUTHOR_CHARS, "an author name") for a in (raw_authors or []) if str(a or "").strip()]
    if len(authors) > MAX_AUTHORS:
        out.warnings.append(FileProblem(where, f"{len(authors)} authors; kept the first {MAX_AUTHORS}"))
    return SourceDocument(doc_id=doc_id, text=text, title=cut(meta.get("title"), MAX_TITLE_CHARS, "title"),
                          source=source, date=date, outlet=cut(meta.get("outlet"), MAX_OUTLET_CHARS, "outlet"),
                          url=cut(meta.get("url"), MAX_URL_CHARS, "url"), authors=tuple(authors[:MAX_AUTHORS]))


def normalise_date(value: object) -> str | None:
    """`YYYY-MM-DD` for a date in any common written form, "" for no value, None when it cannot be read.

    A date must name a day, a month and a year: "March 2025" is not a publication date and is not
    completed with an invented day. Parsing is dateparser's (a maintained parser), with ISO dates
    read directly because they are most of them and dateparser is slow.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return ""
    if len(text) > 64:
        return None
    iso = _ISO_DATE.match(text)
    if iso:
        try:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3])).isoformat()
        except ValueError:
            return None
    import dateparser

    parsed = dateparser.parse(text, settings={"REQUIRE_PARTS": ["day", "month", "year"],
                                              "RETURN_AS_TIMEZONE_AWARE": False})
    return parsed.date().isoformat() if parsed else None


def date_from_name(path: Path) -> str:
    """The date a file name starts with (`2025-03-18-starliner.txt`, `20250318_x.md`), or ""."""
    match = _NAME_DATE.match(path.stem)
    if not match:
        return ""
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3])).isoformat()
    except ValueError:
        return ""


def _title_from_name(path: Path) -> str:
    stem = _NAME_DATE.sub("", path.stem) if date_from_name(path) else path.stem
    return re.sub(r"[-_]+", " ", stem or path.stem).strip().capitalize()


# ------------------------------------------------------------------------------------- formats
class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: `*ref` can repeat a value thousands of times (283 bytes -> 1.4 MB)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in front matter",
                                              event.start_mark)
        return super().compose_node(parent, index)


def _markdown_document(text: str, rel: str, out: LoadResult) -> SourceDocument:
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        block = match.group(1)
        if len(block) > MAX_FRONT_MATTER_CHARS:
            raise _Unreadable(f"front matter is over {MAX_FRONT_MATTER_CHARS // 1024} KB; keep only metadata in it")
        try:
            loaded = yaml.load(block, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.composer.ComposerError as err:
            raise _Unreadable(f"front matter uses YAML aliases ({err.problem}); write the values out") from err
        except yaml.YAMLError as err:
            raise _Unreadable(f"front matter is not valid YAML ({err.__class__.__name__}); fix or remove it") from err
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end():]
    body = text.strip()
    title = meta.get("title") or ""
    if not title:
        title = _heading_title(body) or _title_from_name(Path(rel))
    fields = {
        "title": title,
        "date": _first(meta, "date", "published") or date_from_name(Path(rel)),
        "outlet": _first(meta, "source", "outlet"),
        "url": _first(meta, "url", "link"),
        "authors": _first(meta, "authors", "author"),
    }
    return _make(rel, body, fields, source=rel, out=out)


def _heading_title(body: str) -> str:
    """The text of the first "# " heading, without trailing "#"s (Markdown's optional closing sequence)."""
    match = _HEADING.search(body)
    if not match:
        return ""
    title = match.group(1).rstrip()
    return title.rstrip("#").rstrip() or title


def _first(meta: dict[str, Any], *keys: str) -> Any:
    return next((meta[k] for k in keys if meta.get(k)), "")


def _html_document(html: str, rel: str, out: LoadResult) -> SourceDocument:
    from rag.ingest.webpages import read_html

    page = read_html(html)
    if page.refused:
        raise _Unreadable(page.refused)
    out.warnings.extend(FileProblem(rel, w) for w in page.warnings)
    fields = {"title": page.title or _title_from_name(Path(rel)), "date": page.date or date_from_name(Path(rel)),
              "outlet": page.outlet, "url": page.url, "authors": page.authors}
    return _make(rel, page.text, fields, source=rel, out=out)


class _TextOverLimit(BaseException):
    """Internal: raised from inside pypdf's text extraction to stop it once the text is over the limit.
    Not an `Exception`: pypdf catches and logs those while it reads a form XObject, and carries on."""


def _pdf_document(path: Path, rel: str, out: LoadResult, max_chars: int) -> SourceDocument:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    extracted = 0

    def count(text: str, *_: Any) -> None:
        # Counted as pypdf produces it, so one page drawing the same text a million times stops too.
        nonlocal extracted
        extracted += len(text)
        if extracted > max_chars:
            raise _TextOverLimit

    pages: list[str] = []
    try:
        reader = PdfReader(str(path))
        for page in reader.pages:
            pages.append((page.extract_text(visitor_text=count) or "").strip())
        title = str((reader.metadata or {}).get("/Title") or "")
    except FileNotDecryptedError as err:
        raise _Unreadable("is protected by a password; save a copy without one and index that") from err
    except _TextOverLimit:
        raise _Unreadable(f"its text is over {_text_limit(max_chars)}: reading stopped at page {len(pages) + 1}; "
                          "split the PDF or raise RAG_MAX_FILE_MB") from None
    except (PdfReadError, ValueError, KeyError, OSError) as err:
        raise _Unreadable(f"is not a readable PDF ({err}); re-export it") from err
    except Exception as err:  # noqa: BLE001 - pypdf raises many unrelated types on malformed files
        raise _Unreadable(f"is not a readable PDF ({err.__class__.__name__}); re-export it") from err
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise _Unreadable("PDF has no text layer (a scan?); run OCR on it first")
    return _make(rel, text, {"title": title or _title_from_name(path), "date": date_from_name(path)},
                 source=rel, out=out)


def _text_limit(max_chars: int) -> str:
    return f"the {max_chars / MB:g} MB text limit ({TEXT_LIMIT_FACTOR:g} x RAG_MAX_FILE_MB)"


def _row_key(value: object) -> str:
    """A row or entry id usable inside a document id: long ones (entry URLs) become a short digest."""
    key = " ".join(str(value).split())
    return key if len(key) <= MAX_ID_CHARS else "sha1-" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def _jsonl_documents(text: str, rel: str, out: LoadResult) -> list[SourceDocument]:
    docs: list[SourceDocument] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{rel}:{lineno}"
        try:
            row = json.loads(line)
            key, body = _row_key(row["_id"]), str(row["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            out.problems.append(FileProblem(where, f"not a BEIR line with '_id' and 'text' ({err.__class__.__name__})"))
            continue
        if not key:
            out.problems.append(FileProblem(where, "empty '_id'"))
            continue
        if key in first_line:
            out.problems.append(FileProblem(where, f"duplicate _id {key!r} (first on line {first_line[key]}); "
                                                   "skipped: give each row its own _id"))
            continue
        first_line[key] = lineno
        if not body.strip():
            out.problems.append(FileProblem(where, "empty 'text'"))
            continue
        fields = {"title": row.get("title"), "date": row.get("date"), "outlet": row.get("source") or row.get("outlet"),
                  "url": row.get("url"), "authors": row.get("authors") or row.get("author")}
        docs.append(_make(f"{rel}#{key}", body.strip(), fields, source=f"{rel}#{key}", out=out))
    if not docs and not out.problems:
        raise _Unreadable("no JSON lines in it")
    return docs


def _feed_documents(path: Path, rel: str, out: LoadResult, max_chars: int) -> list[SourceDocument]:
    from rag.ingest.webpages import FeedTooLarge, looks_like_feed, read_feed

    try:
        data = path.read_bytes()
    except OSError as err:
        raise _Unreadable(f"cannot be read ({err.strerror or err.__class__.__name__})") from err
    if path.suffix.lower() == ".xml" and not looks_like_feed(data):
        raise _Unreadable("is an .xml file but not an RSS/Atom feed; only feeds are read from .xml")
    try:
        feed = read_feed(data, max_text_chars=max_chars)
    except FeedTooLarge as err:
        raise _Unreadable(f"{err} ({TEXT_LIMIT_FACTOR:g} x RAG_MAX_FILE_MB); remove the entities or raise "
                          "RAG_MAX_FILE_MB") from err
    except ValueError as err:
        raise _Unreadable(f"{err}; check that it is an RSS or Atom feed") from err
    out.warnings.extend(FileProblem(rel, w) for w in feed.warnings)
    docs: list[SourceDocument] = []
    seen: set[str] = set()
    for entry in feed.entries:
        key = _row_key(entry.key)
        doc_id = f"{rel}#{key}"
        if key in seen:
            out.problems.append(FileProblem(doc_id, "duplicate entry id in the feed; skipped"))
            continue
        seen.add(key)
        text = entry.text.strip() or entry.title.strip()  # a headline-only entry is still the news
        if not text:
            out.problems.append(FileProblem(doc_id, "entry has neither text nor a title"))
            continue
        fields = {"title": entry.title, "date": entry.date, "outlet": feed.title, "url": entry.url,
                  "authors": entry.authors}
        docs.append(_make(doc_id, text, fields, source=doc_id, out=out))
    if not docs and not out.problems:
        raise _Unreadable("feed has no entries")
    return docs
