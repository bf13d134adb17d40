"""Shared fixtures. Every test runs with its own data directory, so no test touches a real index.

The real embedding model and the real LLM load once per session (`seed_assistant`); tests that only
need retrieval use `fake_llm_assistant`, whose chat model is LangChain's scripted fake: it isolates
the chain's checking logic, never stands in for a feature's real test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
DATA = Path(__file__).resolve().parent / "data"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point RAG_DATA_DIR at a temporary folder; the model cache stays shared (it is read-mostly)."""
    data_dir = tmp_path / "rag-data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data_dir))
    # `rag eval` keeps its indexes in the user's cache by default; a test keeps them in its own folder.
    monkeypatch.setenv("RAG_EVAL_INDEX_DIR", str(tmp_path / "eval-index"))
    return data_dir


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the index of corpus/ (built once per session with the real MiniLM)."""
    from rag import Assistant, Settings

    data_dir = tmp_path_factory.mktemp("seed-index")
    Assistant(Settings(data_dir=data_dir)).index(CORPUS)
    return data_dir


@pytest.fixture(scope="session")
def seed_assistant(seed_index_dir: Path):
    """The real thing: bundled MiniLM, local Chroma, bundled GGUF through llama.cpp."""
    from rag import Assistant, Settings

    assistant = Assistant(Settings(data_dir=seed_index_dir))
    assistant.warm_up()
    return assistant
