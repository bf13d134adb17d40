"""The facade every face calls: `Assistant().ask(...)`, `.stream(...)`, `.index(path)`.

It owns one embedder, one index and (once the first question arrives) one loaded LLM, so a long
running server pays for loading once. It knows nothing about terminals or web pages.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from rag.answer.chain import AnswerChain
from rag.embed.embeddings import Embedder
from rag.errors import IndexMissingError
from rag.index import Index, IndexReport, ProgressCallback
from rag.llm.models import make_chat_model, model_label, start_local_model
from rag.search.retrieval import HybridRetriever
from rag.settings import Settings
from rag.types import Answer, Citation, Event, Message, validate_question

__all__ = ["Assistant"]


class Assistant:
    """Ask questions about the indexed articles and keep the index up to date."""

    def __init__(self, settings: Settings | None = None, *, llm: BaseChatModel | None = None,
                 loading: Future[Any] | None = None) -> None:
        """`llm`: a chat model to use instead of the configured one; `loading`: the configured local
        model already loading (`rag.llm.models.start_local_model`), as `rag ask` starts it before its imports."""
        self.settings = settings or Settings()
        self.embedder = Embedder(self.settings)
        self.store = Index(self.settings, self.embedder)
        self.retriever = HybridRetriever(index=self.store, settings=self.settings, k=self.settings.top_k)
        self._llm = llm
        self._loading = loading
        self._chain: AnswerChain | None = None
        # A server warms up in the background while the first questions may already arrive:
        # without this lock two threads could each load the (1 GB) model.
        self._chain_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return model_label(self.settings)

    @property
    def chain(self) -> AnswerChain:
        if self._chain is None:
            with self._chain_lock:
                if self._chain is None:
                    if self._llm is None:
                        self._llm = self._make_llm()
                    self._chain = AnswerChain(self.retriever, self._llm, self.settings, self.model_name,
                                              serialize=self.settings.llm_backend == "local")
        return self._chain

    def _load_llm_while_searching(self, question: str) -> None:
        """Load the local model in a thread while this one searches for `question` (result unused).

        A first question needs the LLM (mapping the GGUF, ~0.3 s) and the embedding model, Chroma and
        BM25 (~0.4 s): independent work, and llama.cpp loads in C without holding the GIL, so on two
        cores the two overlap. The search only loads what the answer's own search then finds ready.
        A load the caller started earlier (`loading`, e.g. `rag ask` before its imports) is used as is,
        without the search: the imports already overlapped it.
        """
        with self._chain_lock:  # a server's warm-up thread may be loading it already: load once
            if self._llm is not None:
                return
            if self._loading is None:
                self._loading = start_local_model(self.settings)
                self.retriever.search(question, self.settings.top_k)
            # else: loading since before the imports (`rag ask`): a search here would only be repeated by the chain
            self._llm = self._make_llm()

    def _make_llm(self) -> BaseChatModel:
        """The configured chat model, from the load in progress if there is one. A load that failed is
        forgotten, so that the next question (a server's, after the user fixed the file) loads again."""
        loading, self._loading = self._loading, None
        return make_chat_model(self.settings, loading=loading)

    def warm_up(self) -> None:
        """Load the embedding model and the LLM now rather than on the first question."""
        self.embedder.embed_query("warm up")
        _ = self.chain

    # ------------------------------------------------------------------ asking
    def stream(self, question: str, history: list[Message] | None = None, *, since: str | None = None,
               until: str | None = None, outlets: list[str] | tuple[str, ...] | None = None,
               as_of: Any = None) -> Iterator[Event]:
        """Yield `status` and `token` events, then one `answer` event carrying the `Answer`.

        `since`/`until` (YYYY-MM-DD, inclusive) and `outlets` restrict the search; `as_of` (a date,
        default today) is what "this week" or "yesterday" in the question is relative to.
        """
        question = validate_question(question, self.settings.max_question_chars)
        if not self.store.exists():
            raise IndexMissingError(f"No index yet in {self.store.location}. Run `rag index corpus/` (or `make run`) first.")
        if self._llm is None and self.settings.tuning.llm_background_load and self.settings.llm_backend == "local":
            self._load_llm_while_searching(question)
        yield from self.chain.stream(question, history, since=since, until=until, outlets=outlets, as_of=as_of)

    def ask(self, question: str, history: list[Message] | None = None, *, since: str | None = None,
            until: str | None = None, outlets: list[str] | tuple[str, ...] | None = None,
            as_of: Any = None) -> Answer:
        answer: Answer | None = None
        for event in self.stream(question, history, since=since, until=until, outlets=outlets, as_of=as_of):
            if event.kind == "answer":
                answer = event.answer
        assert answer is not None  # the chain always ends with an answer event
        return answer

    def articles(self, filters: Any = None) -> list[dict[str, Any]]:
        """The indexed articles (doc_id, title, date, outlet, url, authors, passages), newest first."""
        return self.store.articles(filters)

    def search(self, query: str, k: int | None = None) -> list[Citation]:
        """Retrieval only: the passages the assistant would hand to the LLM."""
        docs = self.retriever.search(query, k or self.settings.top_k)
        return [Citation.from_document(i, d) for i, d in enumerate(docs, start=1)]

    # ------------------------------------------------------------------ the index
    def index(self, path: Path | str, *, rebuild: bool = False, progress: ProgressCallback | None = None,
              wait: float = 0) -> IndexReport:
        """Make the index mirror `path` (incremental unless `rebuild`)."""
        return self.store.update(path, rebuild=rebuild, progress=progress, wait=wait)

    def add(self, urls: list[str], *, folder: Path | str | None = None, allow_private: bool | None = None,
            progress: ProgressCallback | None = None, index_progress: ProgressCallback | None = None,
            wait: float = 0) -> Any:
        """Fetch pages or feeds into `folder` (default: the corpus folder), then re-index it incrementally.

        Returns an `AddReport` (rag.ingest.fetching): one line per URL and per article of a feed, and the
        `IndexReport` of the re-index as `.index` (None when nothing was saved).
        """
        from rag.ingest.fetching import fetch_urls

        folder = Path(folder) if folder is not None else self.settings.corpus_dir
        report = fetch_urls(urls, folder, settings=self.settings, allow_private=allow_private, progress=progress)
        if report.saved:
            report.index = self.index(folder, progress=index_progress, wait=wait)
        return report

    def stats(self) -> dict[str, Any]:
        return self.store.stats()

    def article_text(self, doc_id: str) -> str:
        """An indexed article's text, rebuilt from its stored passages.

        Passages are exact slices at known offsets, so laying them back at their offsets restores the
        document; the only gaps are the whitespace between sentences, shown as a space.
        """
        pieces = self.store.passages_of(doc_id)
        length = max((int(m["end"]) for _, m in pieces), default=0)
        buffer = [" "] * length
        for text, meta in pieces:
            start = int(meta["start"])
            buffer[start:start + len(text)] = text
        return "".join(buffer)

    def context(self, citation: Citation, chars: int = 400) -> tuple[str, str, str]:
        """(text before, the passage, text after) from the article's stored passages (`article_text`)."""
        document = self.article_text(citation.doc_id)
        before = document[max(0, citation.start - chars):citation.start]
        return before, citation.text, document[citation.end:citation.end + chars]
