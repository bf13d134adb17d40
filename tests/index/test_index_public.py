"""The index's public names that the benchmarks use: the bulk path for precomputed vectors and the
BM25 tokenizer, against the real MiniLM and a real local Chroma store."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.index import get_all, passage_metadata, tokenize
from rag.ingest.chunking import Chunk

TEXTS = {"harbour": "The harbour reopened on Monday. Ferries resumed service to the islands.",
         "library": "The council approved a new library. Construction starts in spring."}


@pytest.mark.model
def test_vectors_written_in_bulk_are_searchable_and_rebuild_bm25_marks_them_clean(tmp_path: Path) -> None:
    assistant = Assistant(Settings(data_dir=tmp_path / "data"))
    store = assistant.store
    vectors = store.embedder.embed_documents(list(TEXTS.values()))
    metas = [passage_metadata(Chunk(doc, 0, 0, len(text), text, doc.title()), "bulk", 1, group=doc)
             for doc, text in TEXTS.items()]
    col = store.write_vectors([(["p0", "p1"], vectors, list(TEXTS.values()), metas)])
    assert col.metadata["generation"] == "dirty"  # a search meanwhile rebuilds BM25 from what is there
    store.rebuild_bm25(col, generation="bulk-1")
    assert store.collection().metadata["generation"] == "bulk-1"
    assert sorted(get_all(store.collection(), ["metadatas"])["ids"]) == ["p0", "p1"]
    assert store.bm25(store.collection()).ids  # the saved BM25 side of that generation
    assert assistant.search("When do the ferries sail again?", 1)[0].doc_id == "harbour"


def test_queries_and_passages_share_one_tokenizer() -> None:
    tokens = tokenize(["The ferries resumed", "ferry resuming"])
    words = {i: w for w, i in tokens.vocab.items()}
    first, second = ({words[i] for i in ids} for ids in tokens.ids)
    assert first == second == {"ferri", "resum"}  # stop-words out, stemmed alike
