"""Shared fixtures and the test tiers. Every test runs with its own data directory, so no test touches a real index.

The real embedding model and the real LLM load once per session (`seed_assistant`); tests of the chain's
decisions give an `Assistant` on the seed index LangChain's scripted fake (`factories.fake_llm`): it
isolates the chain's checking logic, never stands in for a feature's real test. Builders of citations,
answers and small corpora are in factories.py.

Tiers (docs/TESTING.md): every test gets exactly one of three marks, `unit` (no model), `model` (loads
MiniLM or the LLM, in this process or in a `rag` subprocess) or `browser` (a real Chromium). The mark
comes from the fixtures a test uses (`BROWSER_FIXTURES`, `MODEL_FIXTURES`, followed through the fixtures
they use) or from an explicit `pytest.mark.model` / `pytest.mark.browser` on the test or its module;
anything else is `unit`. A unit test that loads a model fails with `UnitTestLoadedAModel`: the model
loaders raise, and `rag` subprocesses are pointed at model files that do not exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from .factories import CORPUS  # noqa: E402  (after the environment: it imports rag)


TIERS = ("unit", "model", "browser")
BROWSER_FIXTURES = {"browser"}  # a headless Chromium (tests/ui/test_ui_browser.py)
MODEL_FIXTURES = {"embed", "seed_index_dir", "seed_assistant"}  # the real MiniLM, and the real LLM


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give each test its tier: an explicit tier mark wins, then the fixtures it uses, else `unit`."""
    for item in items:
        marked = [tier for tier in TIERS if item.get_closest_marker(tier)]
        if len(marked) > 1:
            raise pytest.UsageError(f"{item.nodeid} has more than one tier mark: {marked}")
        if marked:
            continue
        fixtures = set(getattr(item, "fixturenames", ()))
        tier = "browser" if fixtures & BROWSER_FIXTURES else "model" if fixtures & MODEL_FIXTURES else "unit"
        item.add_marker(tier)


class UnitTestLoadedAModel(AssertionError):
    """A test of the `unit` tier loaded a model: mark it `pytest.mark.model` (or give it a fake)."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Around a unit test's setup, call and teardown (its module fixtures included) no model can load."""
    if not item.get_closest_marker("unit"):
        return (yield)
    with pytest.MonkeyPatch.context() as patch:
        _forbid_models(patch, item.nodeid)
        return (yield)


def _forbid_models(patch: pytest.MonkeyPatch, nodeid: str) -> None:
    from rag.embed.embedding_workers import EmbeddingWorkers
    from rag.embed.embeddings import Embedder
    from rag.embed.onnx_export import OnnxEncoder
    from rag.llm import llamacpp_chat, llamacpp_load

    def refuse(*args: object, **kwargs: object) -> None:
        raise UnitTestLoadedAModel(f"{nodeid} is in the unit tier but loads a model: mark it pytest.mark.model")

    patch.setattr(Embedder, "_load", refuse)  # both backends, MiniLM on PyTorch or int8 ONNX
    patch.setattr(OnnxEncoder, "__init__", refuse)
    patch.setattr(EmbeddingWorkers, "__init__", refuse)  # worker processes load the ONNX file themselves
    patch.setattr(llamacpp_load, "load_llama", refuse)
    patch.setattr(llamacpp_chat, "load_llama", refuse)
    # `rag` subprocesses read the model paths from the environment: give them files that do not exist.
    missing = Path(__file__).resolve().parent / "no-model-in-the-unit-tier"
    patch.setenv("RAG_EMBEDDING_MODEL", str(missing))
    patch.setenv("RAG_LLM_MODEL", str(missing / "model.gguf"))


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


@pytest.fixture(scope="session")
def embed():
    """The bundled MiniLM as a function of texts to unit vectors (what evidence selection and verification use)."""
    import numpy as np

    from rag.embed.embeddings import Embedder
    from rag.settings import Settings

    embedder = Embedder(Settings())
    return lambda texts: np.asarray(embedder.embed_documents(list(texts)), dtype=np.float32)
