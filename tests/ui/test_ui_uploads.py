"""Uploads land in the corpus folder under the reader's one name policy, within the type and size limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.ingest.documents import MB, SUPPORTED_SUFFIXES
from ui.uploads import ALLOWED_SUFFIXES, save_uploads


@pytest.mark.parametrize("given, expected", [
    ("../../etc/passwd.md", "passwd.md"),
    ("..\\..\\windows\\evil.txt", "evil.txt"),
    ("/abs/path/article.HTML", "article.html"),
    ("a..b.md", "a..b.md"),
    ("naïve café.md", "naïve café.md"),
    ("page.htm", "page.htm"),
    ("notes.markdown", "notes.markdown"),
    ("feed.rss", "feed.rss"),
])
def test_uploads_keep_only_the_last_name_component_and_every_readable_type(given: str, expected: str,
                                                                            tmp_path: Path):
    tmp = _file(tmp_path / "incoming", "x", b"# Title\n\nText.")
    [result] = save_uploads([(given, tmp)], tmp_path / "corpus", max_mb=1)
    assert (result.status, result.saved_as) == ("saved", expected)
    assert (tmp_path / "corpus" / expected).exists()


@pytest.mark.parametrize("given", ["..", ".", "", ".bashrc", ".hidden.md", "bad\x00\n.txt"])
def test_uploads_with_no_safe_name_are_refused_like_the_reader_would(given: str, tmp_path: Path):
    """The same policy as `rag.ingest.documents.upload_target`: hidden names are refused, not renamed."""
    tmp = _file(tmp_path / "incoming", "x", b"Text.")
    [result] = save_uploads([(given, tmp)], tmp_path / "corpus", max_mb=1)
    assert result.status == "refused" and "rename the file" in result.reason
    assert not list((tmp_path / "corpus").iterdir())


def test_one_bad_file_in_a_batch_does_not_refuse_the_others(tmp_path: Path):
    good = _file(tmp_path / "incoming", "good.md", b"Text.")
    bad = _file(tmp_path / "incoming", "run.sh", b"#!/bin/sh")
    results = save_uploads([("run.sh", bad), ("good.md", good)], tmp_path / "corpus", max_mb=1)
    assert [r.status for r in results] == ["refused", "saved"]


def test_the_page_accepts_exactly_what_the_reader_reads():
    assert ALLOWED_SUFFIXES == SUPPORTED_SUFFIXES


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
    tmp = _file(tmp_path / "incoming", "big.txt", b"x" * (2 * MB + 1))
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


def test_a_replaced_corpus_file_is_kept_as_a_dated_backup_and_the_report_says_so(tmp_path: Path):
    corpus = tmp_path / "corpus"
    _file(corpus, "a.md", b"old")
    tmp = _file(tmp_path / "incoming", "a.md", b"new")
    [result] = save_uploads([("a.md", tmp)], corpus, max_mb=1)
    assert result.status == "replaced" and (corpus / "a.md").read_bytes() == b"new"
    [backup] = (corpus / ".backups").iterdir()
    assert backup.read_bytes() == b"old"
    assert re.fullmatch(r"a\.md\.\d{4}-\d\d-\d\dT\d{6}\.bak", backup.name), backup.name
    assert result.backup == f".backups/{backup.name}" and result.backup in result.reason


def test_backups_are_not_indexed(tmp_path: Path):
    from rag.ingest.documents import load_corpus

    corpus = tmp_path / "corpus"
    _file(corpus, "a.md", b"The old text of the article.")
    save_uploads([("a.md", _file(tmp_path / "incoming", "a.md", b"The new text of the article."))], corpus, max_mb=1)
    assert [d.doc_id for d in load_corpus(corpus).documents] == ["a.md"]


def test_two_replacements_in_one_second_keep_both_old_versions(tmp_path: Path):
    corpus = tmp_path / "corpus"
    _file(corpus, "a.md", b"v1")
    save_uploads([("a.md", _file(tmp_path / "in1", "a.md", b"v2"))], corpus, max_mb=1)
    save_uploads([("a.md", _file(tmp_path / "in2", "a.md", b"v3"))], corpus, max_mb=1)
    assert sorted(p.read_bytes() for p in (corpus / ".backups").iterdir()) == [b"v1", b"v2"]


def test_uploading_the_same_bytes_again_changes_nothing(tmp_path: Path):
    corpus = tmp_path / "corpus"
    _file(corpus, "a.md", b"same")
    [result] = save_uploads([("a.md", _file(tmp_path / "incoming", "a.md", b"same"))], corpus, max_mb=1)
    assert result.status == "unchanged" and not (corpus / ".backups").exists()
