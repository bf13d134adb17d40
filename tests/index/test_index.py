"""Incremental re-indexing against the real MiniLM and a real local Chroma store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag import Assistant, CorpusError, IndexMissingError, Settings
from rag.index import Index
from rag.search.retrieval import HybridRetriever

from ..factories import pdf_bytes, seed_corpus, write_jsonl


def _chroma_clients(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The local Chroma stores opened from now on (a spy on chromadb's own constructor)."""
    import chromadb

    opened: list[str] = []
    real = chromadb.PersistentClient
    monkeypatch.setattr(chromadb, "PersistentClient", lambda *a, **k: opened.append(k.get("path", "")) or real(*a, **k))
    return opened


def _embedding_models(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The embedding models loaded from now on (a spy on the int8 loader, the default backend's)."""
    from rag.embed import onnx_export

    loaded: list[str] = []
    real = onnx_export.load_int8_model

    def spy(model: Path, cache: Path) -> object:
        loaded.append(str(model))
        return real(model, cache)

    monkeypatch.setattr(onnx_export, "load_int8_model", spy)
    return loaded


def _ids_by_doc(assistant: Assistant) -> dict[str, set[str]]:
    ids, _, metas = assistant.store.all_passages()
    out: dict[str, set[str]] = {}
    for cid, meta in zip(ids, metas):
        out.setdefault(meta["doc_id"], set()).add(cid)
    return out


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return seed_corpus(tmp_path / "corpus", {
        "b.txt": "The harbour reopened on Monday. Ferries resumed service to the islands.",
        "c.txt": "The council approved a new library. Construction starts in spring."})


@pytest.fixture
def assistant() -> Assistant:
    return Assistant(Settings())


@pytest.mark.model
def test_first_run_adds_every_document(assistant: Assistant, corpus: Path) -> None:
    report = assistant.index(corpus)
    assert (report.added, report.updated, report.skipped, report.deleted) == (3, 0, 0, 0)
    assert report.total_documents == 3 and report.total_chunks == report.chunks_added


@pytest.mark.model
def test_rerun_unchanged_adds_nothing(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    before = _ids_by_doc(assistant)
    report = assistant.index(corpus)
    assert (report.added, report.updated, report.skipped, report.deleted, report.chunks_added) == (0, 0, 3, 0, 0)
    assert _ids_by_doc(assistant) == before


@pytest.mark.model
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


@pytest.mark.model
def test_deleting_a_file_removes_its_chunks(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    (corpus / "c.txt").unlink()
    report = assistant.index(corpus)
    assert report.deleted == 1
    assert "c.txt" not in _ids_by_doc(assistant)
    assert not [d for d in assistant.search("council library construction", k=5) if d.doc_id == "c.txt"]


@pytest.mark.model
def test_a_file_that_turns_unreadable_keeps_its_indexed_passages(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    before = _ids_by_doc(assistant)["b.txt"]
    (corpus / "b.txt").write_bytes(b"\x00\x00binary now")
    report = assistant.index(corpus)
    assert report.failed == 1 and report.deleted == 0
    assert _ids_by_doc(assistant)["b.txt"] == before
    assert any(f.path == "b.txt" and f.status == "failed" and "binary" in f.reason for f in report.files)


@pytest.mark.model
def test_rebuild_gives_the_same_passages(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    before = _ids_by_doc(assistant)
    report = assistant.index(corpus, rebuild=True)
    assert report.added == 3
    assert _ids_by_doc(assistant) == before


@pytest.mark.model
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


@pytest.mark.model
def test_hybrid_search_finds_the_seed_passage(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    top = assistant.search("What did Umerov request?", k=3)
    assert any("ammunition, artillery, air defense" in c.text for c in top)
    for c in top:
        assert c.doc_id and c.start < c.end and c.score > 0


@pytest.mark.model
def test_bm25_follows_the_index_after_changes(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    (corpus / "d.txt").write_text("Zebrafish regenerate their fins remarkably quickly.")
    assistant.index(corpus)
    fresh = Assistant(Settings())  # a new process would load BM25 from disk
    assert fresh.search("zebrafish fins", k=1)[0].doc_id == "d.txt"


@pytest.mark.model
def test_context_restores_the_text_around_a_citation(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    citation = assistant.search("What did Umerov request?", k=1)[0]
    before, passage, after = assistant.context(citation, chars=200)
    original = (corpus / "french-instructors-ukraine.md").read_text()
    assert passage == citation.text
    assert len(before) + len(after) > 0
    assert after.split()[:3] == original[original.index(passage) + len(passage):].split()[:3] or not after


# ---------------------------------------------------------------- hostile and careless files (issue 11)
ANSWER = "ammunition, artillery, air defense"  # in the seed passage that answers "What did Umerov request?"


def _write_repeating_pdf(path: Path, paragraph: str, pages: int) -> None:
    """A PDF whose every page shows the same paragraph (all pages share one content stream)."""
    stream = f"BT /F1 10 Tf 40 720 Td ({paragraph}) Tj ET".encode()
    kids = " ".join(f"{5 + i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
                b"/Resources << /Font << /F1 4 0 R >> >> >>"] * pages
    path.write_bytes(pdf_bytes(objects))


@pytest.mark.model
def test_a_pdf_repeating_one_paragraph_is_stored_once_and_does_not_bury_the_answer(assistant: Assistant,
                                                                                    corpus: Path) -> None:
    paragraph = ("Defense Minister Umerov requested support from partners, the ministry repeated in its statement "
                 "about the training of Ukrainian brigades by French instructors.")
    _write_repeating_pdf(corpus / "flood.pdf", paragraph, pages=300)
    assistant.index(corpus)
    assert len(assistant.store.passages_of("flood.pdf")) == 1
    assert any(ANSWER in c.text for c in assistant.search("What did Umerov request?", k=3))


@pytest.mark.model
def test_one_document_cannot_flood_the_dense_candidates(corpus: Path) -> None:
    # 60 differently worded passages, each closer to the question than the passage that answers it.
    lines = [f"What did Umerov request? Umerov requested support, update {i}. What did Umerov request? "
             f"Umerov requested help, item {i * 7 + 3}. Umerov made a request, note {i * 13 + 1}." for i in range(60)]
    (corpus / "flood.txt").write_text("\n\n".join(lines))
    Index(Settings()).update(corpus)

    def dense_ids(cap: int) -> list[str]:
        settings = Settings(retrieval_mode="dense").tuned(candidates_per_story=cap)
        docs = HybridRetriever(index=Index(settings), settings=settings, k=12).search(
            "What did Umerov request?", depth=12, per_story=12)
        return [d.page_content for d in docs]

    assert not any(ANSWER in text for text in dense_ids(cap=1000))  # the flood fills all 12 places...
    assert any(ANSWER in text for text in dense_ids(cap=Settings().tuning.candidates_per_story))  # ...unless capped


@pytest.mark.model
def test_an_unchanged_run_loads_no_model_and_does_not_rebuild_bm25(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.index.store

    Assistant(Settings()).index(corpus)
    generation = (Settings().bm25_dir / "generation").read_text()

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("BM25 rebuilt for an unchanged corpus")

    monkeypatch.setattr(rag.index.store, "_save_bm25", no_rebuild)
    monkeypatch.setattr(rag.index.store, "_build_bm25", no_rebuild)
    models = _embedding_models(monkeypatch)
    report = Assistant(Settings()).index(corpus)  # a new `rag index` process
    assert (report.skipped, report.chunks_added, report.total_documents) == (3, 0, 3)
    assert not models
    assert (Settings().bm25_dir / "generation").read_text() == generation


@pytest.mark.model
def test_the_collection_is_created_with_the_hnsw_settings(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    hnsw = assistant.store.collection().configuration["hnsw"]
    s = Settings()
    assert (hnsw["space"], hnsw["ef_search"], hnsw["ef_construction"], hnsw["max_neighbors"]) == (
        "cosine", s.tuning.hnsw_search_ef, s.tuning.hnsw_construction_ef, s.tuning.hnsw_m)


@pytest.mark.model
def test_an_articles_text_is_rebuilt_from_its_passages(tmp_path) -> None:
    from rag import Assistant, Settings

    folder = tmp_path / "c"
    folder.mkdir()
    text = " ".join(f"Sentence number {i} says something new.{chr(10) * 2 if i % 4 == 0 else ''}" for i in range(60))
    (folder / "a.txt").write_text(text, encoding="utf-8")
    assistant = Assistant(Settings(data_dir=tmp_path / "d", chunk_size=120))
    assistant.index(folder)
    rebuilt = assistant.article_text("a.txt")
    assert rebuilt.split() == text.split()


@pytest.mark.model
def test_an_unchanged_run_is_recognised_without_opening_chroma(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Assistant(Settings()).index(corpus)
    clients, models = _chroma_clients(monkeypatch), _embedding_models(monkeypatch)
    report = Index(Settings()).update(corpus)  # a new `rag index` process
    assert (report.added, report.updated, report.skipped, report.deleted) == (0, 0, 3, 0)
    assert (report.total_documents, report.total_chunks) == (3, first.total_chunks)
    assert [f.status for f in report.files] == ["skipped"] * 3
    assert not clients and not models  # neither Chroma nor the model opened


@pytest.mark.model
def test_a_changed_file_is_reindexed_although_a_manifest_exists(assistant: Assistant, corpus: Path) -> None:
    assistant.index(corpus)
    (corpus / "b.txt").write_text("The harbour stays closed. Ferries are cancelled until further notice.")
    fresh = Assistant(Settings())
    report = fresh.index(corpus)
    assert (report.updated, report.skipped) == (1, 2)
    assert "cancelled" in fresh.store.passages_of("b.txt")[0][0]
    again = Index(Settings()).update(corpus)  # and that run left a manifest of its own result
    assert (again.updated, again.skipped, again.total_chunks) == (0, 3, report.total_chunks)


@pytest.mark.model
def test_a_run_that_dies_mid_write_leaves_no_manifest_to_trust(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Assistant(Settings()).index(corpus)
    (corpus / "c.txt").write_text("The council rejected the library. Construction will not start.")

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(Index, "_write", crash)
        with pytest.raises(RuntimeError):
            Assistant(Settings()).index(corpus)
    assert not list(Settings().data_dir.glob("*.manifest.json"))
    report = Assistant(Settings()).index(corpus)  # the full path finishes the change
    assert (report.updated, report.skipped) == (1, 2)


@pytest.mark.model
def test_a_settings_change_that_reshapes_passages_is_not_taken_for_unchanged(corpus: Path) -> None:
    Assistant(Settings()).index(corpus)
    report = Index(Settings(chunk_size=150)).update(corpus)
    assert report.updated == 3 and report.skipped == 0


@pytest.mark.model
def test_a_file_kept_only_because_it_failed_to_read_leaves_the_full_path_on(corpus: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    Assistant(Settings()).index(corpus)
    (corpus / "b.txt").write_bytes(b"\x00\x00binary now")
    first = Assistant(Settings()).index(corpus)
    clients = _chroma_clients(monkeypatch)
    second = Index(Settings()).update(corpus)
    # The store still holds b.txt's old passages, which no manifest of this corpus could describe.
    assert clients
    assert (first.failed, second.failed, second.deleted, second.total_documents) == (1, 1, 0, 3)


@pytest.mark.model
def test_a_store_deleted_under_its_manifest_is_built_again(corpus: Path) -> None:
    import json
    import subprocess
    import sys

    Assistant(Settings()).index(corpus)
    shutil.rmtree(Settings().chroma_dir)
    # A new process, as the user runs it (Chroma caches an opened store per process).
    out = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(corpus), "--json", "--quiet"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["added"] == 3


# ---------------------------------------------------------------- a file that fails to read keeps its articles (issue 23)
def _rows(n: int) -> list[dict[str, str]]:
    topics = ["The harbour reopened on Monday after the storm.", "The council approved a new library downtown.",
              "Zebrafish regenerate their fins remarkably quickly.", "A comet will be visible from the north."]
    return [{"_id": f"r{i}", "title": f"Story {i}", "text": topics[i % len(topics)]} for i in range(n)]


def _rss(items: list[tuple[str, str]]) -> str:
    entries = "".join(f"<item><guid>{guid}</guid><title>{title}</title><description>{title} Details follow."
                      f"</description></item>" for guid, title in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{entries}</channel></rss>'


def _doc_ids_of(file: str) -> set[str]:
    return {d for d in _ids_by_doc(Assistant(Settings())) if d.startswith(f"{file}#")}


@pytest.mark.model
def test_a_jsonl_cut_off_mid_line_keeps_every_article_it_held(assistant: Assistant, corpus: Path) -> None:
    import json

    news = corpus / "news.jsonl"
    lines = [json.dumps(r) for r in _rows(4)]
    news.write_text("\n".join(lines) + "\n")
    assistant.index(corpus)
    before = _doc_ids_of("news.jsonl")
    assert len(before) == 4
    news.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # truncated while being written
    report = assistant.index(corpus)
    assert report.deleted == 0 and report.failed == 1 and report.kept == 3
    assert "3 articles of theirs kept" in report.summary()
    assert _doc_ids_of("news.jsonl") == before
    # Once the file reads cleanly again, a row that is really gone is deleted.
    news.write_text("\n".join(lines[:3]) + "\n")
    report = assistant.index(corpus)
    assert report.deleted == 1 and _doc_ids_of("news.jsonl") == before - {"news.jsonl#r3"}


@pytest.mark.model
def test_a_jsonl_that_turns_unreadable_keeps_every_article_it_held(assistant: Assistant, corpus: Path) -> None:
    import json

    news = corpus / "news.jsonl"
    write_jsonl(news, _rows(3))
    assistant.index(corpus)
    before = _doc_ids_of("news.jsonl")
    news.write_bytes(b"\xff\xfe not utf-8 any more")
    report = assistant.index(corpus)
    assert report.deleted == 0 and report.kept == 3
    assert _doc_ids_of("news.jsonl") == before
    assert any(f.path == "news.jsonl" and f.status == "failed" for f in report.files)


@pytest.mark.model
@pytest.mark.parametrize("breakage", ["truncated", "garbage"])
def test_a_feed_that_breaks_keeps_every_article_it_held(assistant: Assistant, corpus: Path, breakage: str) -> None:
    feed = corpus / "wire.rss"
    text = _rss([("a1", "Harbour reopens"), ("a2", "Library approved"), ("a3", "Comet visible tonight")])
    feed.write_text(text)
    assistant.index(corpus)
    before = _doc_ids_of("wire.rss")
    assert len(before) == 3
    # Cut inside the second entry (feedparser reads what it can), or not a feed at all any more.
    feed.write_text(text[: text.index("Library approved") + 4] if breakage == "truncated" else "{not xml")
    report = assistant.index(corpus)
    assert report.deleted == 0
    assert _doc_ids_of("wire.rss") == before
    assert report.kept >= 2


# ---------------------------------------------------------------- --rebuild without a gap (issue 23)
OLD_FERRIES, NEW_FERRIES = "Ferries resumed service", "Ferries are cancelled"


@pytest.mark.model
def test_a_search_holding_the_old_collection_finishes_after_a_rebuild(corpus: Path) -> None:
    import threading

    writer = Index(Settings())
    writer.update(corpus)
    holding, resume = threading.Event(), threading.Event()

    class PausedIndex(Index):
        """The real index; its search stops after taking the collection handle, until the rebuild is done."""

        def collection(self) -> object:
            col = super().collection()
            holding.set()
            resume.wait(120)
            return col

    settings = Settings()
    retriever = HybridRetriever(index=PausedIndex(settings, embedder=writer.embedder), settings=settings, k=3)
    outcome: dict[str, object] = {}

    def ask() -> None:
        try:
            outcome["docs"] = retriever.search("harbour ferries islands")
        except Exception as err:  # noqa: BLE001 - the test reports it
            outcome["error"] = err

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        assert holding.wait(120)
        (corpus / "b.txt").write_text(f"The harbour stays shut. {NEW_FERRIES} until further notice.")
        Index(Settings(), embedder=writer.embedder).update(corpus, rebuild=True)
    finally:
        resume.set()
        thread.join(120)
    assert "error" not in outcome, outcome.get("error")
    docs = outcome["docs"]
    assert isinstance(docs, list) and OLD_FERRIES in docs[0].page_content  # the old index answered it
    fresh = HybridRetriever(index=Index(settings, embedder=writer.embedder), settings=settings, k=3)
    assert NEW_FERRIES in fresh.search("harbour ferries islands")[0].page_content


@pytest.mark.model
def test_questions_during_rebuilds_never_fail_and_answer_from_old_or_new(corpus: Path) -> None:
    import threading

    Index(Settings()).update(corpus)
    settings = Settings()
    reader = HybridRetriever(index=Index(settings), settings=settings, k=3)  # as another process would have
    reader.search("warm up")  # its model loaded before the rebuilds start
    stop = threading.Event()
    answers: list[str] = []
    errors: list[BaseException] = []

    def ask() -> None:
        while not stop.is_set():
            try:
                answers.append(reader.search("harbour ferries islands")[0].page_content)
            except Exception as err:  # noqa: BLE001 - the test reports it
                errors.append(err)

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        for n, words in enumerate([NEW_FERRIES, OLD_FERRIES, NEW_FERRIES]):
            (corpus / "b.txt").write_text(f"The harbour news, take {n}. {words} to the islands.")
            Index(Settings()).update(corpus, rebuild=True)
    finally:
        stop.set()
        thread.join(120)
    assert not errors, errors[:3]
    assert len(answers) >= 10
    assert all(OLD_FERRIES in text or NEW_FERRIES in text for text in answers)
    assert NEW_FERRIES in reader.search("harbour ferries islands")[0].page_content


@pytest.mark.model
def test_the_collection_a_rebuild_replaced_is_deleted_by_a_later_run(corpus: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.index.store

    store = Index(Settings())
    store.update(corpus)
    store.update(corpus, rebuild=True)
    names = {c.name for c in store.client.list_collections()}
    assert "articles" in names and Settings().bm25_dir.exists()  # still readable by searches in flight
    clients = _chroma_clients(monkeypatch)
    unchanged = Index(Settings()).update(corpus)  # nothing to delete yet: decided from the manifest alone
    assert unchanged.skipped == 3 and not clients
    assert "articles" in {c.name for c in store.client.list_collections()}
    monkeypatch.setattr(rag.index.store, "RETIRED_GRACE_S", 0.0)
    assert Index(Settings()).update(corpus).skipped == 3
    assert clients  # the manifest sent this run to the store, where the deletion is done
    live = store.collection().name
    assert {c.name for c in store.client.list_collections()} == {live, "articles__live"}
    bm25 = Settings().bm25_dir
    assert not bm25.exists() and [p.name for p in bm25.parent.glob(f"{bm25.name}-*")] == [f"{bm25.name}-{live}"]
    assert Index(Settings()).update(corpus).skipped == 3
