"""The unit tier loads no model: the guard in tests/conftest.py makes every model loader fail loudly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.embed.embeddings import Embedder
from rag.llm import llamacpp_load
from rag.settings import Settings

from ..conftest import UnitTestLoadedAModel


def test_this_test_is_in_the_unit_tier(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None


def test_a_unit_test_that_embeds_fails_naming_the_tier() -> None:
    with pytest.raises(UnitTestLoadedAModel, match="unit tier"):
        Embedder(Settings()).embed_query("What did Umerov request?")


def test_a_unit_test_that_loads_the_llm_fails() -> None:
    with pytest.raises(UnitTestLoadedAModel):
        llamacpp_load.load_llama("model.gguf", n_ctx=512, n_batch=8, n_ubatch=8, n_threads=1, n_threads_batch=1,
                                 flash_attn=False, repack=False, seed=0)


def test_rag_subprocesses_of_a_unit_test_are_given_no_model() -> None:
    assert not Path(os.environ["RAG_EMBEDDING_MODEL"]).exists()
    assert not Path(os.environ["RAG_LLM_MODEL"]).exists()
