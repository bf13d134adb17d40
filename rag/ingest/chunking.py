"""Sentence-aware passages that keep their character offsets.

The text is cut into sentences by the project's one splitter (`rag.text.split_sentences`: a full
stop, question or exclamation mark or ellipsis before a capital, or a line break); sentences are packed greedily into passages of at most `chunk_size`
characters, and the last `overlap` sentences of one passage start the next, so a fact that spans a
boundary is still found whole. A sentence longer than `chunk_size` is cut at whitespace.

Each passage carries its article's title, source, date, outlet, url and authors, so the index can
store them beside it. The passage id is chosen by the index (from the document's content hash).

Every passage is an exact slice `text[start:end]` of its document. LangChain's text splitters
recover offsets afterwards with `str.find`, which is ambiguous when a passage repeats earlier text;
keeping the spans from the start is why this small splitter is written by hand.

Simplifications: the sentence rule does not know abbreviations ("Dr. Smith" may end a sentence);
that only moves a boundary, it never loses text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rag.ingest.documents import SourceDocument
from rag.text import split_sentences

__all__ = ["Chunk", "sentence_spans", "chunk_document"]



@dataclass(frozen=True)
class Chunk:
    doc_id: str
    index: int
    start: int
    end: int
    text: str
    title: str = ""
    source: str = ""
    date: str = ""
    outlet: str = ""
    url: str = ""
    authors: tuple[str, ...] = ()

    @property
    def embed_text(self) -> str:
        """What is embedded and searched: the title gives a passage its topic."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed: the project's one splitter (`rag.text`)."""
    return split_sentences(text)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield (start, end)


def _split_long(text: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long sentence at whitespace so no piece exceeds `limit` characters."""
    while end - start > limit:
        cut = text.rfind(" ", start + 1, start + limit)
        if cut <= start:
            cut = start + limit
        yield from _trimmed(text, start, cut)
        start = cut
    yield from _trimmed(text, start, end)


def chunk_document(doc: SourceDocument, chunk_size: int = 600, overlap: int = 1) -> list[Chunk]:
    text = doc.text
    # getattr: the article fields (outlet, url, authors) are newer than some SourceDocument builders.
    meta = (getattr(doc, "outlet", "") or "", getattr(doc, "url", "") or "", tuple(getattr(doc, "authors", ()) or ()))
    sentences = [piece for s, e in sentence_spans(text) for piece in _split_long(text, s, e, chunk_size)]
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i + 1
        while j < len(sentences) and sentences[j][1] - sentences[i][0] <= chunk_size:
            j += 1
        start, end = sentences[i][0], sentences[j - 1][1]
        chunks.append(Chunk(doc.doc_id, len(chunks), start, end, text[start:end], doc.title, doc.source, doc.date,
                            *meta))
        if j >= len(sentences):
            break
        # Step back `overlap` sentences, but always move forward.
        i = max(j - overlap, i + 1)
    return chunks
