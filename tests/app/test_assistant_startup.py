"""Start-up of the first question: the local model loads in a thread while the first search runs.

The real index of corpus/ (bundled MiniLM); the slow test loads the real GGUF.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from rag import Assistant, Settings
from rag.errors import ModelError


@pytest.fixture
def loaded_in(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads the model was loaded in, in order."""
    import rag.llm.models

    names: list[str] = []
    real = rag.llm.models._load_client

    def recording(settings: Settings) -> Any:
        names.append(threading.current_thread().name)
        return real(settings)

    monkeypatch.setattr(rag.llm.models, "_load_client", recording)
    return names


def test_a_model_that_fails_to_load_in_the_background_is_reported_to_the_caller(seed_index_dir: Path,
                                                                               tmp_path: Path) -> None:
    assistant = Assistant(Settings(data_dir=seed_index_dir, llm_model=str(tmp_path / "missing.gguf")))
    with pytest.raises(ModelError, match="missing.gguf"):
        assistant.ask("What did Fico claim to have seen?")


@pytest.mark.slow
def test_the_first_question_loads_the_model_in_a_thread_and_is_answered(seed_index_dir: Path,
                                                                       loaded_in: list[str]) -> None:
    assistant = Assistant(Settings(data_dir=seed_index_dir))
    answer = assistant.ask("What did Fico claim to have seen?")
    assert loaded_in == ["rag-llm-load"], "the model should load once, beside the first search"
    assert "NATO" in answer.text and answer.citations
    assistant.ask("Who signed the documents allowing French instructors to arrive?")
    assert loaded_in == ["rag-llm-load"], "and never again"


def test_without_background_loading_the_model_loads_in_the_callers_thread(seed_index_dir: Path, tmp_path: Path,
                                                                          loaded_in: list[str]) -> None:
    assistant = Assistant(Settings(data_dir=seed_index_dir, llm_model=str(tmp_path / "missing.gguf"))
                          .tuned(llm_background_load=False))
    with pytest.raises(ModelError):
        assistant.ask("What did Fico claim to have seen?")
    assert loaded_in == [threading.current_thread().name]


@pytest.mark.slow
def test_a_load_started_before_the_assistant_existed_is_the_one_used(seed_index_dir: Path, loaded_in: list[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.llm.models import start_local_model

    settings = Settings(data_dir=seed_index_dir)
    loading = start_local_model(settings)  # what `rag ask` does before importing the assistant
    assistant = Assistant(settings, loading=loading)
    searched: list[str] = []
    real_search = type(assistant.retriever).search
    monkeypatch.setattr(type(assistant.retriever), "search",
                        lambda self, query, *a, **k: (searched.append(query), real_search(self, query, *a, **k))[1])
    answer = assistant.ask("What did Fico claim to have seen?")
    assert loaded_in == ["rag-llm-load"]
    assert "NATO" in answer.text and answer.citations
    assert searched == ["What did Fico claim to have seen?"], "no warm-up search: the load already overlapped the imports"


def test_the_model_loader_imports_nothing_of_langchain() -> None:
    """Why `rag ask` can start the load first: importing it costs nothing the load could overlap."""
    import subprocess
    import sys

    code = "import sys, rag.llm.models, rag.llm.llamacpp_load; print(sorted(m for m in sys.modules if m.startswith('langchain')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_a_model_that_failed_to_load_is_loaded_again_on_the_next_question(seed_index_dir: Path, tmp_path: Path) -> None:
    """A server keeps running after a failed load; once the file is there, the next question loads it."""
    from rag.llm.models import BUNDLED_MODELS, ensure_gguf

    later = tmp_path / "later.gguf"
    assistant = Assistant(Settings(data_dir=seed_index_dir, llm_model=str(later)))
    with pytest.raises(ModelError, match="later.gguf"):
        assistant.ask("What did Fico claim to have seen?")
    later.symlink_to(ensure_gguf(BUNDLED_MODELS["qwen2.5-coder-1.5b"], Settings().model_cache))
    answer = assistant.ask("What did Fico claim to have seen?")
    assert "NATO" in answer.text and answer.citations
