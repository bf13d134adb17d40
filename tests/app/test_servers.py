"""Scale-out: a real Chroma server (`chroma run`) and a real OpenAI-compatible server (llama-cpp-python's).

Both servers are started by the fixtures below on free ports of 127.0.0.1 and stopped afterwards,
so the tests need nothing but the installed packages. Each Chroma test uses its own collection on
the shared server, and its own data directory (where the BM25 twin lives).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag import Assistant, ChromaUnreachableError, LLMUnreachableError, Settings
from rag.llm.models import BUNDLED_MODELS, ensure_gguf

from ..factories import free_port, seed_corpus

BIN = Path(sys.executable).parent
SEED_QUESTION = "What did Umerov request?"

pytestmark = pytest.mark.slow


class Server:
    """A child process serving HTTP on 127.0.0.1:port; `ready_path` answers 200 once it is up."""

    def __init__(self, args: list[str], port: int, ready_path: str, log: Path, timeout: float = 240) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log_fh, stderr=subprocess.STDOUT,
                                     env={**os.environ, "HF_HUB_OFFLINE": "1"})
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{args[0]} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{args[0]} did not come up in {timeout} s: {log.read_text()[-2000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_fh.close()


def _start_chroma(folder: Path) -> Server:
    port = free_port()
    return Server([str(BIN / "chroma"), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
                  port, "/api/v2/heartbeat", folder.with_suffix(".log"))


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _start_chroma(tmp_path_factory.mktemp("chroma-server") / "db")
    yield server
    server.stop()


@pytest.fixture
def server_settings(chroma_server: Server, tmp_path: Path) -> Settings:
    """A fresh collection on the shared server, and a fresh local data directory for BM25 and the lock."""
    return Settings(chroma_url=chroma_server.url, collection=f"t{uuid.uuid4().hex[:12]}", data_dir=tmp_path / "a")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return seed_corpus(tmp_path / "corpus",
                       {"b.txt": "The harbour reopened on Monday. Ferries resumed service to the islands."})


# ------------------------------------------------------------------------------------------ Chroma
@pytest.mark.model
def test_indexing_through_a_chroma_server_is_incremental(server_settings: Settings, corpus: Path) -> None:
    assistant = Assistant(server_settings)
    first = assistant.index(corpus)
    again = assistant.index(corpus)
    assert (first.added, first.total_documents) == (2, 2)
    assert (again.added, again.updated, again.skipped, again.chunks_added) == (0, 0, 2, 0)
    assert again.total_chunks == first.total_chunks
    assert assistant.stats()["location"] == server_settings.chroma_url
    assert not server_settings.chroma_dir.exists()  # nothing went to the local store


@pytest.mark.model
def test_a_second_client_searches_what_the_first_indexed(server_settings: Settings, corpus: Path,
                                                         tmp_path: Path) -> None:
    Assistant(server_settings).index(corpus)
    other = Assistant(server_settings.model_copy(update={"data_dir": tmp_path / "b"}))
    top = other.search(SEED_QUESTION, k=3)
    assert any("ammunition, artillery, air defense" in c.text for c in top)


@pytest.mark.model
def test_bm25_of_a_second_client_follows_changes_made_by_the_first(server_settings: Settings, corpus: Path,
                                                                   tmp_path: Path) -> None:
    writer = Assistant(server_settings)
    writer.index(corpus)
    reader = Assistant(server_settings.model_copy(update={"data_dir": tmp_path / "b", "retrieval_mode": "bm25"}))
    assert reader.search("ferries harbour", k=1)[0].doc_id == "b.txt"  # builds the reader's BM25

    (corpus / "d.txt").write_text("Zebrafish regenerate their fins remarkably quickly.")
    (corpus / "b.txt").unlink()
    writer.index(corpus)
    assert reader.search("zebrafish fins", k=1)[0].doc_id == "d.txt"
    assert all(c.doc_id != "b.txt" for c in reader.search("ferries harbour", k=5))


@pytest.mark.model
def test_rebuild_through_a_chroma_server_keeps_the_same_passages(server_settings: Settings, corpus: Path) -> None:
    assistant = Assistant(server_settings)
    assistant.index(corpus)
    before = sorted(assistant.store.all_passages()[0])
    report = assistant.index(corpus, rebuild=True)
    assert report.added == 2
    assert sorted(assistant.store.all_passages()[0]) == before


def test_answers_come_from_a_chroma_server(server_settings: Settings, corpus: Path, seed_assistant: Assistant) -> None:
    Assistant(server_settings).index(corpus)
    answer = Assistant(server_settings, llm=seed_assistant.chain.llm).ask(SEED_QUESTION)
    assert not answer.refused and answer.citations
    assert all(c.doc_id == "french-instructors-ukraine.md" for c in answer.citations)


@pytest.mark.model
def test_an_unreachable_chroma_server_is_a_clear_error_naming_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChromaUnreachableError, match=f"Chroma server at {url} did not answer"):
        Assistant(Settings(chroma_url=url)).search(SEED_QUESTION)


def test_an_unreachable_chroma_server_through_the_cli_exits_2_without_traceback(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", SEED_QUESTION], capture_output=True, text=True,
                            env={**os.environ, "RAG_CHROMA_URL": url, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert result.returncode == 2
    assert url in result.stderr and "Traceback" not in result.stderr


@pytest.mark.model
def test_a_chroma_server_that_stops_mid_session_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    server = _start_chroma(tmp_path / "db")
    try:
        assistant = Assistant(Settings(chroma_url=server.url, data_dir=tmp_path / "a"))
        assistant.index(corpus)
    finally:
        server.stop()
    with pytest.raises(ChromaUnreachableError, match=f"Chroma server at {server.url}"):
        assistant.search(SEED_QUESTION)


@pytest.mark.model
def test_a_chroma_url_without_a_scheme_is_explained() -> None:
    with pytest.raises(ChromaUnreachableError, match="http://host:port"):
        Assistant(Settings(chroma_url="localhost:8000")).search(SEED_QUESTION)


# ------------------------------------------------------------------------------------------ OpenAI-compatible
def _start_llm_server(folder: Path) -> Server:
    """llama-cpp-python's OpenAI-compatible server, serving the bundled default model."""
    name = Settings().llm_model if Settings().llm_model in BUNDLED_MODELS else "qwen2.5-coder-1.5b"
    gguf = ensure_gguf(BUNDLED_MODELS[name], Settings().model_cache)
    port = free_port()
    server = Server([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", name,
                     "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
                     "--n_threads", str(os.cpu_count() or 2)], port, "/v1/models", folder / "llm-server.log")
    server.model = name  # type: ignore[attr-defined]
    return server


def _openai_settings(server: Server, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, llm_backend="openai", llm_base_url=f"{server.url}/v1",
                    llm_model=server.model, llm_api_key="sk-local")  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _start_llm_server(tmp_path_factory.mktemp("llm-server"))
    yield server
    server.stop()


@pytest.fixture
def openai_assistant(llm_server: Server, seed_index_dir: Path) -> Assistant:
    return Assistant(_openai_settings(llm_server, seed_index_dir))


def test_openai_backend_answers_the_seed_question_with_citations(openai_assistant: Assistant) -> None:
    answer = openai_assistant.ask(SEED_QUESTION)
    assert not answer.refused and answer.citations
    assert any(word in answer.text.lower() for word in ("ammunition", "artillery", "air defense", "weapons"))
    assert "openai at http://127.0.0.1" in answer.model


def test_openai_backend_streams_tokens_before_the_answer(openai_assistant: Assistant) -> None:
    # Answers are short spans; a date is several tokens (the model writes digits one by one).
    kinds = [e.kind for e in openai_assistant.stream(
        "From when did Ukraine say it was interested in receiving foreign instructors?")]
    assert kinds[-1] == "answer"
    assert kinds.count("token") >= 2
    assert kinds.index("token") < kinds.index("answer")


def test_openai_backend_refuses_what_the_articles_do_not_say(openai_assistant: Assistant) -> None:
    answer = openai_assistant.ask("What is the boiling point of mercury on Mars?")
    assert answer.refused and not answer.citations


def test_an_unreachable_llm_server_is_a_clear_error_naming_it(seed_index_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    assistant = Assistant(Settings(data_dir=seed_index_dir, llm_backend="openai", llm_base_url=url))
    with pytest.raises(LLMUnreachableError, match=f"model server at {url} did not answer"):
        assistant.ask(SEED_QUESTION)


def test_an_unreachable_llm_server_through_the_cli_exits_2_without_traceback(seed_index_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    env = {**os.environ, "RAG_DATA_DIR": str(seed_index_dir), "RAG_LLM_BACKEND": "openai", "RAG_LLM_BASE_URL": url,
           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", SEED_QUESTION], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 2
    assert url in result.stderr and "Traceback" not in result.stderr


def test_an_llm_server_that_stops_mid_session_is_a_clear_error(seed_index_dir: Path, tmp_path: Path) -> None:
    server = _start_llm_server(tmp_path)
    try:
        assistant = Assistant(_openai_settings(server, seed_index_dir))
        assistant.warm_up()  # the chat model is made (and the server found) while it runs
    finally:
        server.stop()
    with pytest.raises(LLMUnreachableError, match=f"model server at {server.url}/v1 stopped answering"):
        assistant.ask(SEED_QUESTION)
