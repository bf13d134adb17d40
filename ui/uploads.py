"""Putting uploaded articles into the corpus folder, under the one upload policy of `rag.ingest.documents`.

A name coming from the browser is untrusted. `rag.ingest.documents.upload_target` decides what a name may
become (last path component only, no hidden or control-character names, only the types the reader
reads, inside the folder); this module applies it file by file, so one bad file in a batch is
listed while the good ones are kept, and checks the size limit (one megabyte: `documents.MB`).
A file that would replace a different corpus file of the same name first moves the old one to a
dated backup in `.backups/` inside the corpus folder (a hidden folder, which the reader never
indexes), and the report says where. Indexing the saved files is the Assistant's job; this module
only copies them.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import shutil
from dataclasses import dataclass
from pathlib import Path

from rag.ingest.documents import MB, SUPPORTED_SUFFIXES, upload_target

__all__ = ["ALLOWED_SUFFIXES", "BACKUP_DIR", "UploadResult", "backup_path", "save_uploads"]

# The page accepts exactly what the reader reads.
ALLOWED_SUFFIXES = SUPPORTED_SUFFIXES
BACKUP_DIR = ".backups"  # inside the corpus folder; hidden, so never indexed


@dataclass
class UploadResult:
    name: str  # the name the user gave
    saved_as: str  # file name inside the corpus folder ("" if refused)
    status: str  # saved | replaced (old copy kept in .backups/) | unchanged (same bytes) | refused
    reason: str = ""
    backup: str = ""  # where the replaced file went, relative to the corpus folder


def backup_path(corpus_dir: Path, name: str, now: dt.datetime | None = None) -> Path:
    """`.backups/<name>.<YYYY-MM-DDTHHMMSS>.bak` inside the corpus folder, not yet taken."""
    stamp = (now or dt.datetime.now()).strftime("%Y-%m-%dT%H%M%S")
    folder = Path(corpus_dir) / BACKUP_DIR
    path, n = folder / f"{name}.{stamp}.bak", 1
    while path.exists():  # two replacements within one second
        path, n = folder / f"{name}.{stamp}-{n}.bak", n + 1
    return path


def _replace(tmp: Path, target: Path, original: str) -> UploadResult:
    """Put the upload in place of an existing file, keeping the old one as a dated backup."""
    if not target.is_file():
        return UploadResult(original, "", "refused", f"'{target.name}' is a folder in the corpus; rename the file")
    if filecmp.cmp(tmp, target, shallow=False):
        return UploadResult(original, target.name, "unchanged", "the corpus already holds this file")
    backup = backup_path(target.parent, target.name)
    backup.parent.mkdir(exist_ok=True)
    shutil.copy2(target, backup)
    shutil.copyfile(tmp, target)
    kept = backup.relative_to(target.parent).as_posix()
    return UploadResult(original, target.name, "replaced", f"the previous {target.name} is kept as {kept}", backup=kept)


def save_uploads(files: list[tuple[str, Path]], corpus_dir: Path, max_mb: float) -> list[UploadResult]:
    """Copy uploaded files, given as (name the user gave, temporary path), into `corpus_dir`."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    results: list[UploadResult] = []
    for original, tmp in files:
        try:
            target = upload_target(corpus_dir, original)
        except ValueError as err:
            results.append(UploadResult(original, "", "refused", str(err)))
            continue
        size_mb = tmp.stat().st_size / MB
        if size_mb > max_mb:
            results.append(UploadResult(original, "", "refused",
                                        f"{size_mb:.1f} MB is over the {max_mb:g} MB upload limit (RAG_MAX_UPLOAD_MB)"))
            continue
        try:
            if target.exists():
                results.append(_replace(tmp, target, original))
            else:
                shutil.copyfile(tmp, target)
                results.append(UploadResult(original, target.name, "saved"))
        except OSError as err:  # full disk, permissions, a vanished temp file: this file only
            results.append(UploadResult(original, "", "refused", f"could not be saved ({err.strerror or err})"))
    return results
