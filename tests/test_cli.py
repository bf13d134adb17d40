"""The `rag` command as a user runs it: real subprocesses, real index, real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import CORPUS

RAG = [sys.executable, "-m", "rag.cli"]


def _run(*args: str, data_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir)}
    return subprocess.run([*RAG, *args], capture_output=True, text=True, env=env, timeout=timeout)


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
