"""Uploads land in the corpus folder under safe names, within the type and size limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from ui.uploads import safe_name, save_uploads


@pytest.mark.parametrize("given, expected", [
    ("../../etc/passwd.md", "passwd.md"),
    ("..\\..\\windows\\evil.txt", "evil.txt"),
    ("/abs/path/article.HTML", "article.html"),
    ("..", "upload"),
    ("...md", "upload.md"),
    (".hidden.md", "hidden.md"),
    ("a..b.md", "a_b.md"),
    ("naïve café.md", "naive cafe.md"),
    ("semi;colon|pipe$.txt", "semi_colon_pipe.txt"),
])
def test_safe_name_keeps_only_a_plain_file_name(given: str, expected: str):
    assert safe_name(given) == expected


def _file(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def test_upload_never_escapes_the_corpus_folder(tmp_path: Path):
    corpus = tmp_path / "corpus"
    tmp = _file(tmp_path / "incoming", "x.md", b"# Title\n\nText.")
    [result] = save_uploads([("../../outside.md", tmp)], corpus, max_mb=1)
    assert result.status == "saved" and result.saved_as == "outside.md"
    assert (corpus / "outside.md").read_bytes() == b"# Title\n\nText."
    assert not (tmp_path / "outside.md").exists()


def test_upload_over_the_size_limit_is_refused_with_the_reason(tmp_path: Path):
    tmp = _file(tmp_path / "incoming", "big.txt", b"x" * 2_000_001)
    [result] = save_uploads([("big.txt", tmp)], tmp_path / "corpus", max_mb=2)
    assert result.status == "refused" and "over the 2 MB upload limit" in result.reason
    assert not (tmp_path / "corpus" / "big.txt").exists()


def test_upload_of_another_file_type_is_refused(tmp_path: Path):
    tmp = _file(tmp_path / "incoming", "run.sh", b"#!/bin/sh")
    [result] = save_uploads([("run.sh", tmp)], tmp_path / "corpus", max_mb=1)
    assert result.status == "refused" and "'.sh' is not an article type" in result.reason


def test_upload_with_the_same_name_replaces_the_file(tmp_path: Path):
    corpus = tmp_path / "corpus"
    _file(corpus, "a.md", b"old")
    tmp = _file(tmp_path / "incoming", "a.md", b"new")
    [result] = save_uploads([("a.md", tmp)], corpus, max_mb=1)
    assert result.status == "replaced" and (corpus / "a.md").read_bytes() == b"new"
