"""Putting uploaded articles into the corpus folder: safe names, allowed types, the size limit.

A name coming from the browser is untrusted. `safe_name` keeps only its last path component and a
conservative character set, and `save_uploads` checks that the final path still sits directly
inside the corpus folder, so no upload can write anywhere else. Indexing the saved files is the
Assistant's job; this module only copies them.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ALLOWED_SUFFIXES", "UploadResult", "safe_name", "save_uploads"]

# What the page offers; a subset of what `rag.documents` reads (which also takes .markdown/.htm).
ALLOWED_SUFFIXES = (".txt", ".md", ".html", ".pdf", ".jsonl")
_ALSO_READ = {".markdown": ".md", ".htm": ".html"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass
class UploadResult:
    name: str  # the name the user gave
    saved_as: str  # file name inside the corpus folder ("" if refused)
    status: str  # saved | replaced | refused
    reason: str = ""


def safe_name(name: str) -> str:
    """A file name that cannot leave the folder it is joined to.

    Drops every directory part (either slash), `..`, control and unusual characters, and leading
    dots (no hidden files); keeps letters, digits, `.`, `_`, `-` and spaces.
    """
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = _UNSAFE.sub("_", base).replace("..", "_")
    base = base.strip(" .")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip(" ._-") or "upload"
    return f"{stem[:120]}.{suffix.lower()}" if suffix else stem[:120]


def save_uploads(files: list[tuple[str, Path]], corpus_dir: Path, max_mb: float) -> list[UploadResult]:
    """Copy uploaded files, given as (name the user gave, temporary path), into `corpus_dir`."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    root = corpus_dir.resolve()
    results: list[UploadResult] = []
    for original, tmp in files:
        name = safe_name(original)
        suffix = Path(name).suffix.lower()
        if suffix in _ALSO_READ:
            name, suffix = Path(name).stem + _ALSO_READ[suffix], _ALSO_READ[suffix]
        if suffix not in ALLOWED_SUFFIXES:
            results.append(UploadResult(original, "", "refused",
                                        f"'{suffix or 'no extension'}' is not an article type; use {', '.join(ALLOWED_SUFFIXES)}"))
            continue
        size_mb = tmp.stat().st_size / 1_000_000
        if size_mb > max_mb:
            results.append(UploadResult(original, "", "refused",
                                        f"{size_mb:.1f} MB is over the {max_mb:g} MB upload limit (RAG_MAX_UPLOAD_MB)"))
            continue
        target = (root / name).resolve()
        if target.parent != root:  # safe_name makes this impossible; checked anyway, it is cheap
            results.append(UploadResult(original, "", "refused", "the name would leave the corpus folder"))
            continue
        existed = target.exists()
        shutil.copyfile(tmp, target)
        results.append(UploadResult(original, name, "replaced" if existed else "saved",
                                    "replaces the file of the same name" if existed else ""))
    return results
