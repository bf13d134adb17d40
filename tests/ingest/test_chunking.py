"""Passages are sentence-aligned exact slices of their document, with offsets that point back into it."""

from __future__ import annotations

from rag.ingest.chunking import chunk_document, sentence_spans
from rag.ingest.documents import SourceDocument

from ..factories import CORPUS


def _doc(text: str) -> SourceDocument:
    return SourceDocument(doc_id="d", text=text, title="T", source="s")


def test_every_chunk_is_the_exact_slice_at_its_offsets() -> None:
    text = (CORPUS / "french-instructors-ukraine.md").read_text()
    chunks = chunk_document(_doc(text), chunk_size=400, overlap=1)
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert len(chunk.text) <= 400


def test_chunks_cover_every_sentence() -> None:
    text = "One. Two is here! Three? " * 40
    chunks = chunk_document(_doc(text), chunk_size=120, overlap=0)
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_chunks_break_at_sentence_ends() -> None:
    text = "Alpha beta gamma. " * 30
    for c in chunk_document(_doc(text), chunk_size=100, overlap=0):
        assert c.text.endswith(".")


def test_overlap_repeats_the_last_sentence() -> None:
    text = "First sentence here. Second sentence here. Third sentence here. Fourth sentence here."
    a, b, *_ = chunk_document(_doc(text), chunk_size=45, overlap=1)
    assert b.start < a.end
    assert a.text.split(". ")[-1].rstrip(".") in b.text


def test_overlong_sentence_is_cut_at_whitespace() -> None:
    text = " ".join(["word"] * 500)
    chunks = chunk_document(_doc(text), chunk_size=100, overlap=0)
    assert all(len(c.text) <= 100 and text[c.start:c.end] == c.text for c in chunks)
    assert not any(c.text.startswith(" ") or c.text.endswith(" ") for c in chunks)


def test_sentence_spans_trim_whitespace() -> None:
    text = "  Hello world.  Next one!\n\nLast line"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["Hello world.", "Next one!", "Last line"]


def test_chunks_carry_the_articles_metadata() -> None:
    doc = SourceDocument(doc_id="d", text="One sentence. Another one.", title="T", source="s", date="2025-03-18")
    for name, value in (("outlet", "USA TODAY"), ("url", "https://example.com/a"), ("authors", ("A. B", "C. D"))):
        object.__setattr__(doc, name, value)  # works before and after SourceDocument gained these fields
    chunk = chunk_document(doc, 100, 0)[0]
    assert (chunk.date, chunk.outlet, chunk.url, chunk.authors) == ("2025-03-18", "USA TODAY", "https://example.com/a",
                                                                    ("A. B", "C. D"))
