"""The values an answer is made of: `Answer`, `Citation`, `Timings`, `Event`, plus the text helpers
every part of answering shares (the one citation pattern, the one sentence splitter).

These are plain dataclasses: the faces (CLI, page, HTTP API) render them, the tests compare them,
and nothing here talks to a model or a store.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rag.errors import QuestionError
from rag.text import CITATION, cited_numbers, split_sentences, strip_citations

__all__ = ["Answer", "Citation", "Timings", "Event", "Message", "REFUSAL_TEXT", "CITATION", "split_sentences",
           "strip_citations", "validate_question", "cited_numbers"]

REFUSAL_TEXT = "Not found in the indexed articles."
Message = dict[str, str]  # {"role": "user" | "assistant", "content": str}

@dataclass
class Citation:
    """A passage shown to the model (numbered `n`) and, when cited, the sentences that support the answer."""

    n: int
    doc_id: str
    title: str
    source: str
    start: int
    end: int
    text: str
    score: float
    similarity: float = 0.0
    date: str = ""
    outlet: str = ""
    url: str = ""
    authors: list[str] = field(default_factory=list)
    also_reported_by: list[str] = field(default_factory=list)
    # Supporting sentence spans in article coordinates (what the page highlights); empty = the passage.
    spans: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def from_document(cls, n: int, doc: Any) -> Citation:
        m = doc.metadata
        authors = m.get("authors") or []
        if isinstance(authors, str):
            authors = [a.strip() for a in authors.split(";") if a.strip()]
        return cls(n, str(m["doc_id"]), str(m.get("title", "")), str(m.get("source", "")), int(m["start"]),
                   int(m["end"]), doc.page_content, float(m.get("score", 0.0)), float(m.get("similarity", 0.0)),
                   date=str(m.get("date") or ""), outlet=str(m.get("outlet") or ""), url=str(m.get("url") or ""),
                   authors=list(authors), also_reported_by=list(m.get("also_reported_by") or []))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spans"] = [list(s) for s in self.spans]
        return data


@dataclass
class Timings:
    retrieval_ms: float = 0.0
    first_token_ms: float | None = None
    total_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    question: str
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    rewritten_question: str = ""
    timings: Timings = field(default_factory=Timings)
    model: str = ""
    passages: list[Citation] = field(default_factory=list)  # everything the model was shown ("closest" on a refusal)
    notes: list[str] = field(default_factory=list)
    # What was searched: {"since", "until", "outlets", "prefer_recent", "description"}; empty = everything.
    filters: dict[str, Any] = field(default_factory=dict)
    # One record per sentence the model wrote: text, citations, each check's verdict, kept or removed.
    sentences: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "answer"  # answer | summary | digest | about-assistant | refusal

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "kind": self.kind,
            "citations": [c.to_dict() for c in self.citations],
            "closest": [c.to_dict() for c in self.passages] if self.refused else [],
            "rewritten_question": self.rewritten_question,
            "filters": dict(self.filters),
            "sentences": list(self.sentences),
            "timings": self.timings.to_dict(),
            "model": self.model,
            "notes": list(self.notes),
        }


@dataclass
class Event:
    """One step of a streamed answer: `status` (what is happening), `token` (text), `answer` (the value)."""

    kind: Literal["status", "token", "answer"]
    text: str = ""
    answer: Answer | None = None


def validate_question(question: Any, max_chars: int) -> str:
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    question = question.strip()
    if not question:
        raise QuestionError("The question is empty. Type a question about the articles, e.g. 'What did Umerov request?'.")
    if len(question) > max_chars:
        raise QuestionError(f"The question is {len(question)} characters long; the limit is {max_chars} "
                            "(RAG_MAX_QUESTION_CHARS). Shorten it to the question itself.")
    bad = [c for c in question if unicodedata.category(c) == "Cc" and c not in "\n\t"]
    if bad:
        raise QuestionError(f"The question contains control characters (e.g. {bad[0]!r}). Retype it as plain text.")
    if any(unicodedata.category(c) == "Cs" for c in question):
        # A lone surrogate cannot be encoded as UTF-8: it would fail deep inside the tokenizer.
        raise QuestionError("The question contains an invalid character (a lone UTF-16 surrogate). Retype it as plain text.")
    return question
