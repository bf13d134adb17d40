"""Incremental re-indexing against the real MiniLM and a real local Chroma store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag import Assistant, CorpusError, IndexMissingError, Settings

from .conftest import CORPUS


def _ids_by_doc(assistant: Assistant) -> dict[str, set[str]]:
    ids, _, metas = assistant.store.all_passages()
    out: dict[str, set[str]] = {}
    for cid, meta in zip(ids, metas):
        out.setdefault(meta["doc_id"], set()).add(cid)
    return out


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(CORPUS / "french-instructors-ukraine.md", folder)
    (folder / "b.txt").write_text("The harbour reopened on Monday. Ferries resumed service to the islands.")
    (folder / "c.txt").write_text("The council approved a new library. Construction starts in spring.")
    return folder


@pytest.fixture
def assistant() -> Assistant:
    return Assistant(Settings())


def test_first_run_adds_every_document(assistant: Assistant, corpus: Path) -> None:
    report = assistant.index(corpus)
    assert (report.added, report.updated, report.skipped, report.deleted) == (3, 0, 0, 0)
    assert report.total_documents == 3 and report.total_chunks == report.chunks_added


def test_rerun_unchanged_adds_nothing(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    before = _ids_by_doc(assistant)
    report = assistant.index(corpus)
    assert (report.added, report.updated, report.skipped, report.deleted, report.chunks_added) == (0, 0, 3, 0, 0)
    assert _ids_by_doc(assistant) == before


def test_modifying_one_file_changes_only_its_chunks(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    before = _ids_by_doc(assistant)
    (corpus / "b.txt").write_text("The harbour stays closed. Ferries are cancelled until further notice.")
    report = assistant.index(corpus)
    assert (report.added, report.updated, report.skipped) == (0, 1, 2)
    after = _ids_by_doc(assistant)
    assert after["c.txt"] == before["c.txt"]
    assert after["french-instructors-ukraine.md"] == before["french-instructors-ukraine.md"]
    assert after["b.txt"].isdisjoint(before["b.txt"])
    texts = assistant.store.passages_of("b.txt")
    assert "cancelled" in texts[0][0]


def test_deleting_a_file_removes_its_chunks(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    (corpus / "c.txt").unlink()
    report = assistant.index(corpus)
    assert report.deleted == 1
    assert "c.txt" not in _ids_by_doc(assistant)
    assert not [d for d in assistant.search("council library construction", k=5) if d.doc_id == "c.txt"]


def test_a_file_that_turns_unreadable_keeps_its_indexed_passages(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    before = _ids_by_doc(assistant)["b.txt"]
    (corpus / "b.txt").write_bytes(b"\x00\x00binary now")
    report = assistant.index(corpus)
    assert report.failed == 1 and report.deleted == 0
    assert _ids_by_doc(assistant)["b.txt"] == before
    assert any(f.path == "b.txt" and f.status == "failed" and "binary" in f.reason for f in report.files)


def test_rebuild_gives_the_same_passages(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    before = _ids_by_doc(assistant)
    report = assistant.index(corpus, rebuild=True)
    assert report.added == 3
    assert _ids_by_doc(assistant) == before


def test_empty_corpus_is_a_clear_error_and_keeps_the_index(assistant: Assistant, corpus: Path, tmp_path: Path) -> None:
    assistant.index(corpus)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "junk.bin").write_bytes(b"\x00")
    with pytest.raises(CorpusError, match="No readable articles"):
        assistant.index(empty)
    assert assistant.stats()["documents"] == 3


def test_missing_path_is_a_clear_error(assistant: Assistant, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        assistant.index(tmp_path / "nope")


def test_asking_before_indexing_says_to_run_rag_index(assistant: Assistant) -> None:
    with pytest.raises(IndexMissingError, match="rag index"):
        assistant.ask("What did Umerov request?")


def test_hybrid_search_finds_the_seed_passage(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    top = assistant.search("What did Umerov request?", k=3)
    assert any("ammunition, artillery, air defense" in c.text for c in top)
    for c in top:
        assert c.doc_id and c.start < c.end and c.score > 0


def test_bm25_follows_the_index_after_changes(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    (corpus / "d.txt").write_text("Zebrafish regenerate their fins remarkably quickly.")
    assistant.index(corpus)
    fresh = Assistant(Settings())  # a new process would load BM25 from disk
    assert fresh.search("zebrafish fins", k=1)[0].doc_id == "d.txt"


def test_context_restores_the_text_around_a_citation(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    citation = assistant.search("What did Umerov request?", k=1)[0]
    before, passage, after = assistant.context(citation, chars=200)
    original = (corpus / "french-instructors-ukraine.md").read_text()
    assert passage == citation.text
    assert len(before) + len(after) > 0
    assert after.split()[:3] == original[original.index(passage) + len(passage):].split()[:3] or not after
