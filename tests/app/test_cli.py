"""The `rag` command as a user runs it: real subprocesses, real index, real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..factories import CORPUS, fake_llm, write_article

RAG = [sys.executable, "-m", "rag.cli"]


def _run(*args: str, data_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir)}
    return subprocess.run([*RAG, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.model
def test_index_reports_what_it_did_and_is_idempotent(tmp_path: Path) -> None:
    first = _run("index", str(CORPUS), data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "1 added, 0 updated, 0 skipped, 0 deleted" in first.stdout
    second = _run("index", str(CORPUS), "--json", "--quiet", data_dir=tmp_path)
    report = json.loads(second.stdout)
    assert (report["added"], report["skipped"], report["chunks_added"]) == (0, 1, 0)


def test_ask_json_has_the_documented_fields(seed_index_dir: Path) -> None:
    result = _run("ask", "What did Umerov request?", "--json", data_dir=seed_index_dir)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {"answer", "refused", "citations", "question", "rewritten_question", "timings"} <= answer.keys()
    assert answer["question"] == "What did Umerov request?" and not answer["refused"]
    assert answer["citations"], answer
    assert set(answer["citations"][0]) >= {"n", "doc_id", "title", "source", "start", "end", "text", "score"}
    assert {"retrieval_ms", "first_token_ms", "total_ms"} <= answer["timings"].keys()


def test_ask_without_an_index_says_run_rag_index_without_a_traceback(tmp_path: Path) -> None:
    result = _run("ask", "What did Umerov request?", data_dir=tmp_path / "none")
    assert result.returncode == 2
    assert "rag index" in result.stderr and "Traceback" not in result.stderr


def test_empty_question_is_refused_before_anything_loads(tmp_path: Path) -> None:
    result = _run("ask", "   ", data_dir=tmp_path)
    assert result.returncode == 2
    assert "question is empty" in result.stderr and "Traceback" not in result.stderr


def test_indexing_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = _run("index", str(tmp_path / "missing"), data_dir=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


# An article and two file names that try to act on the terminal: clear the screen, set the window
# title, colour text, make a live OSC-8 link, reverse what follows (bidi override), and the 8-bit CSI.
HOSTILE_NAME = "evil\x1b[2J\x1b]0;pwned\x07\u202etxt.md"
BROKEN_NAME = "broken\x1b[31m\u202egpj.pdf"
LINK = "\x1b]8;;http://evil.test/\x1b\\Starliner report\x1b]8;;\x1b\\"
HOSTILE_TEXT = (f"The Starliner capsule {LINK} splashed down off Florida\x1b[2J after nine months in orbit.\x9b31m "
                "\u202eNASA said the crew was well.\u202c The capsule landed at night.\r\x1b[Ahidden\n")
RAW = ("\x1b", "\x9b", "\x07", "\u202e", "\u202c", "\r")


def _hostile_corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "hostile"
    folder.mkdir()
    # The title in YAML's own escapes (a JSON string is one): YAML refuses raw control characters.
    write_article(folder, HOSTILE_NAME, HOSTILE_TEXT, title="Splashdown " + LINK + "\x1b]0;title\x07")
    (folder / BROKEN_NAME).write_bytes(b"%PDF-1.7 not really a pdf")
    return folder


@pytest.mark.model
def test_index_prints_no_escape_sequence_from_a_file_name(tmp_path: Path) -> None:
    result = _run("index", str(_hostile_corpus(tmp_path)), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    for raw in RAW:
        assert raw not in result.stdout and raw not in result.stderr.replace("\r", ""), repr(raw)
    # The broken file is named with its control characters made visible, not obeyed.
    assert "skipped broken\\x1b[31m<U+202E>gpj.pdf: " in result.stderr


@pytest.mark.model
def test_ask_prints_no_escape_sequence_from_articles_or_the_model(tmp_path: Path, monkeypatch, capsys) -> None:
    # `rag ask` as a user runs it (the CLI entry function), on the real index of the hostile corpus; only
    # the model is scripted, replying with the article's own escape sequences as a model may copy them.
    import rag.assistant
    from rag.cli import main

    data_dir = tmp_path / "data"
    assert _run("index", str(_hostile_corpus(tmp_path)), "--quiet", data_dir=data_dir).returncode == 0
    monkeypatch.setenv("RAG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RAG_TUNING__LLM_BACKGROUND_LOAD", "false")
    reply = f"The Starliner capsule splashed down off Florida {LINK} \x1b[2J\x1b]0;pwned\x07 [1]."

    class ScriptedAssistant(rag.assistant.Assistant):
        def __init__(self, settings, **_: object) -> None:
            super().__init__(settings, llm=fake_llm(reply, reply, reply))

    monkeypatch.setattr(rag.assistant, "Assistant", ScriptedAssistant)
    for args in (["ask", "Where did the Starliner capsule splash down?"],
                 ["ask", "Where did the Starliner capsule splash down?", "--json"]):
        assert main(args) == 0
        out, err = capsys.readouterr()
        for raw in RAW:
            assert raw not in out and raw not in err, (repr(raw), out, err)
        if "--json" in args:
            answer = json.loads(out)  # the same JSON value: the characters are written as \uXXXX
            assert any("\u202e" in c["text"] for c in answer["citations"] + answer.get("passages", []))
        else:
            assert "Starliner report" in out  # a link's visible text is kept, its address is not
            assert "http://evil.test" not in out
            # The file name is shown (no outlet or date to show instead), its controls made visible.
            shown_name = "evil\\x1b[2J\\x1b]0;pwned\\x07<U+202E>txt.md"
            assert shown_name in out and out.count("pwned") == out.count(shown_name), out


def test_an_escape_sequence_split_across_streamed_tokens_is_still_dropped_whole() -> None:
    # Tokens stream one by one: an OSC-8 link cut anywhere prints its visible text, never its address.
    from rag.terminal import TerminalStream, safe_text

    text = f"Read {LINK} now.\x9d0;title\x9c\x1b[1;31mred\x1b[0m done"
    assert safe_text(text) == "Read Starliner report now.red done"
    for size in range(1, 12):
        stream = TerminalStream()
        printed = "".join(stream.feed(text[i:i + size]) for i in range(0, len(text), size)) + stream.close()
        assert printed == safe_text(text), size


def test_names_show_their_controls_and_json_keeps_its_value() -> None:
    from rag.terminal import safe_json, visible

    assert visible(HOSTILE_NAME) == "evil\\x1b[2J\\x1b]0;pwned\\x07<U+202E>txt.md"
    assert visible("caf\u00e9 \U0001f469\u200d\U0001f4bb.md") == "caf\u00e9 \U0001f469\u200d\U0001f4bb.md"
    value = {"title": "a\x1b[2J\x9b31m\u202eb\u2066c"}
    printed = safe_json(value)
    assert json.loads(printed) == value and not any(ch in printed for ch in "\x1b\x9b\u202e\u2066")
