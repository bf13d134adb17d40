"""Hostile and broken input: files, questions and a damaged model file.

Every bad file is reported by name and skipped while the rest is indexed; nothing is read or
written outside the folders involved; bad questions are `QuestionError`s (exit status 2 in the
CLI, no traceback); a truncated or altered GGUF is re-assembled from its packages (on a copy of
the model cache, never the shared one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import Assistant, QuestionError, Settings
from rag.ingest.documents import load_corpus, upload_target
from rag.llm.models import BUNDLED_MODELS, ensure_gguf, sha256_file

from ..factories import write_text_pdf


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """One readable article among every kind of bad file."""
    folder = tmp_path / "hostile"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.txt").write_text("The river festival drew forty thousand visitors this weekend.")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (folder / "cp1252.md").write_bytes("Caf\xe9 cr\xe8me \u201cquoted\u201d".encode("cp1252"))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text("   \n\n\t  \n")
    write_text_pdf(folder / "scan.pdf", "")  # a valid PDF whose page has no text layer
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ntrailer <<>>\n%%EOF")
    (folder / "huge.txt").write_bytes(b"word " * 300_000)  # 1.5 MB, over the 1 MB limit set below
    (folder / "bad-front-matter.md").write_text("---\ntitle: [unclosed\n---\nBody.")
    (folder / os.fsdecode(b"latin1-name-\xe9.txt")).write_text("A file whose name is not UTF-8.")
    (folder / "outside.txt").symlink_to("/etc/hostname")
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)
    return folder


@pytest.mark.model
def test_every_bad_file_is_reported_by_name_and_the_good_one_indexed(hostile: Path) -> None:
    report = Assistant(Settings(max_file_mb=1)).index(hostile)
    assert [f.path for f in report.files if f.status == "added"] == ["good.txt"]
    failed = {f.path: f.reason for f in report.files if f.status == "failed"}
    expected = {
        "binary.txt": "binary", "cp1252.md": "UTF-8", "empty.txt": "empty", "blank.md": "no text",
        "scan.pdf": "no text layer", "broken.pdf": "PDF", "huge.txt": "over the 1 MB limit",
        "bad-front-matter.md": "front matter", "latin1-name-\\xe9.txt": "name is not valid UTF-8",
        "outside.txt": "outside the folder",
    }
    assert set(failed) == set(expected)
    for name, words in expected.items():
        assert words in failed[name], (name, failed[name])


def test_a_linked_folder_is_not_followed(hostile: Path) -> None:
    result = load_corpus(hostile, max_file_mb=1)
    assert not any("loop" in d.doc_id for d in result.documents)
    assert [d.doc_id for d in result.documents] == ["good.txt"]


@pytest.mark.model
def test_indexing_hostile_files_through_the_cli_reports_them_without_traceback(hostile: Path, tmp_path: Path) -> None:
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_MAX_FILE_MB": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(hostile), "--quiet"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "skipped binary.txt: looks like a binary file" in result.stderr
    assert "skipped latin1-name-\\xe9.txt" in result.stderr
    assert "1 added" in result.stdout and "10 failed" in result.stdout
    # nothing but the index's own files (the MinHash signatures are the near-duplicate grouping's cache,
    # the manifest the record of this run: rag/index/manifest.py)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["articles.manifest.json", "bm25", "chroma",
                                                                      "index.lock", "minhash-affine32.json"]


@pytest.mark.parametrize("name, saved", [
    ("../../etc/passwd.txt", "passwd.txt"), ("..\\..\\windows\\a.md", "a.md"), ("/abs/path/b.html", "b.html"),
    ("report.pdf", "report.pdf"),
])
def test_upload_names_cannot_leave_their_folder(name: str, saved: str, tmp_path: Path) -> None:
    target = upload_target(tmp_path / "uploads", name)
    assert target == (tmp_path / "uploads" / saved).resolve()


@pytest.mark.parametrize("name", ["..", ".", "", "a/..", ".bashrc", "bad\x00\n.txt"])
def test_upload_names_with_no_safe_file_name_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rename the file"):
        upload_target(tmp_path / "uploads", name)


# ------------------------------------------------------------------------------------------ questions
@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("   \n\t ", "empty"), ("why " * 1000, "characters long"),
    ("What did\x00 Umerov request?", "control characters"), ("\x1b[31mred\x1b[0m", "control characters"),
])
def test_bad_questions_are_clear_errors(question: str, message: str, seed_index_dir: Path) -> None:
    with pytest.raises(QuestionError, match=message):
        Assistant(Settings(data_dir=seed_index_dir)).ask(question)


@pytest.mark.parametrize("question, message", [("", "empty"), ("x" * 5000, "characters long"),
                                               ("bell\x07", "control characters")])
def test_bad_questions_through_the_cli_exit_2_without_traceback(question: str, message: str,
                                                                seed_index_dir: Path) -> None:
    env = {**os.environ, "RAG_DATA_DIR": str(seed_index_dir), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", question], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------------ the model file
@pytest.fixture
def cache_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the default model's cache entry in a private folder (the shared cache stays untouched)."""
    spec = BUNDLED_MODELS["qwen2.5-coder-1.5b"]
    source = ensure_gguf(spec, Settings().model_cache)
    cache = tmp_path / "models"
    cache.mkdir()
    for path in source.parent.glob(spec.filename + "*"):
        if path.name == spec.filename or path.name.endswith(".verified.json"):
            shutil.copy2(path, cache / path.name)
    return cache, cache / spec.filename


@pytest.mark.slow
def test_a_truncated_gguf_is_reassembled_from_its_packages(cache_copy: tuple[Path, Path]) -> None:
    cache, gguf = cache_copy
    size = gguf.stat().st_size
    with open(gguf, "r+b") as fh:
        fh.truncate(size // 2)
    spec = BUNDLED_MODELS["qwen2.5-coder-1.5b"]
    assert ensure_gguf(spec, cache) == gguf
    assert gguf.stat().st_size == size and sha256_file(gguf) == spec.sha256


@pytest.mark.slow
def test_an_altered_byte_is_detected_even_with_size_and_mtime_put_back(cache_copy: tuple[Path, Path]) -> None:
    cache, gguf = cache_copy
    before = gguf.stat()
    with open(gguf, "r+b") as fh:
        fh.seek(before.st_size // 3)
        byte = fh.read(1)
        fh.seek(before.st_size // 3)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(gguf, ns=(before.st_atime_ns, before.st_mtime_ns))  # what a careful tamperer would do
    spec = BUNDLED_MODELS["qwen2.5-coder-1.5b"]
    assert ensure_gguf(spec, cache) == gguf
    assert sha256_file(gguf) == spec.sha256
