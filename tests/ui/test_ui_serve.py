"""How the page is served: `rag serve`, localhost only, no share link, the optional login."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import Assistant, RagError, Settings

from ..factories import free_port, served_page

pytestmark = pytest.mark.slow

USER, PASSWORD = "reader", "correct horse battery"


@pytest.fixture(scope="module")
def served(seed_assistant: Assistant, seed_index_dir: Path) -> Iterator[tuple[str, object]]:
    settings = Settings(data_dir=seed_index_dir, auth_user=USER, auth_password=PASSWORD)
    assistant = Assistant(settings, llm=seed_assistant.chain.llm)  # only reads the shared seed index
    with served_page(assistant, settings) as (url, demo):
        yield url, demo


def test_page_listens_on_localhost_and_makes_no_share_link(served: tuple[str, object]):
    url, demo = served
    assert url.startswith("http://127.0.0.1:")
    assert getattr(demo, "share", False) is False and getattr(demo, "share_url", None) is None


def test_without_the_password_the_page_is_closed(served: tuple[str, object]):
    import httpx
    from gradio_client import Client

    url, _ = served
    assert httpx.get(url + "config").status_code == 401
    with pytest.raises(Exception):
        Client(url, auth=(USER, "wrong password"), verbose=False)


def test_with_the_password_the_api_answers(served: tuple[str, object]):
    from gradio_client import Client

    client = Client(served[0], auth=(USER, PASSWORD), verbose=False)
    assert client.predict("zqxv blorf wugga?", api_name="/ask").startswith("Not found in the indexed articles.")


def test_login_with_only_a_user_name_is_refused_with_what_to_set(tmp_path: Path):
    from ui.app import build_app, launch

    settings = Settings(data_dir=tmp_path / "data", auth_user="someone")
    demo = build_app(Assistant(settings), settings)
    try:
        with pytest.raises(RagError, match="RAG_AUTH_USER and RAG_AUTH_PASSWORD"):
            launch(demo, settings, port=free_port(), block=False, quiet=True)
    finally:
        demo.close()


def test_rag_serve_opens_the_page_on_localhost(seed_index_dir: Path):
    import httpx

    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(seed_index_dir), "GRADIO_ANALYTICS_ENABLED": "False"}
    rag = Path(sys.executable).with_name("rag")
    proc = subprocess.Popen([str(rag), "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 180
        while "Chat page on" not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline() if proc.stdout else ""
        assert f"Chat page on http://127.0.0.1:{port}/" in line, line
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "Ask the news" in page.text
    finally:
        proc.terminate()  # it is loading the model in the background; no need to wait for that
        proc.wait(timeout=60)


def test_chat_without_an_index_says_how_to_make_one(tmp_path: Path):
    from ui.app import ChatPage

    settings = Settings(data_dir=tmp_path / "empty")
    page = ChatPage(Assistant(settings), settings)
    *_, last = page.respond("What did Umerov request?", [])
    messages, turns = last[0], last[1]
    assert "No index yet" in turns[-1].error and "rag index corpus/" in turns[-1].error
    assert "⚠ No index yet" in messages[-1]["content"]
