"""A long write embedded in worker processes: the same vectors as in-process, bit for bit, and the same index."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import psutil
import pytest

from rag.embed.embedding_workers import EmbeddingWorkers
from rag.embed.embeddings import Embedder, bundled_model_path
from rag.embed.onnx_export import export_int8, model_dimension
from rag.index import Index, get_all
from rag.ingest.chunking import sentence_spans
from rag.settings import Settings

from ..factories import CORPUS, ROOT

pytestmark = pytest.mark.model  # every test embeds with the real MiniLM, in this process or in workers


@pytest.fixture(autouse=True)
def _own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers' texts file goes to this test's folder, where `_texts_files` looks for it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _workers() -> list[psutil.Process]:
    """The embedding worker processes this process runs, as `ps` shows them."""
    found = []
    for child in psutil.Process().children():
        try:
            if "rag.embed.embedding_workers" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            pass  # exited meanwhile
    return found


def _texts_files() -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob("rag-embed-*.json"))


def _sentences() -> list[str]:
    text = "\n".join((CORPUS / name).read_text() for name in sorted(p.name for p in CORPUS.iterdir() if p.suffix == ".md"))
    return [text[s:e] for s, e in sentence_spans(text) if e - s > 20][:120]


def _batches(sentences: list[str]) -> list[tuple[list[str], list[str]]]:
    """Batches of passages whose titles repeat within and across batches, plus untitled passages."""
    titles = [f"Story {i // 7}" if i % 5 else "" for i in range(len(sentences))]
    return [(sentences[s:s + 25], titles[s:s + 25]) for s in range(0, len(sentences), 25)]


def test_worker_processes_give_the_in_process_vectors_bit_for_bit() -> None:
    in_process = Embedder(Settings().tuned(embedding_process_min=0))
    in_workers = Embedder(Settings().tuned(embedding_process_min=1))
    batches = _batches(_sentences())
    with in_workers.passage_batches(batches) as stream:
        assert _workers(), "this write should have gone to worker processes"
        from_workers = [np.asarray(next(stream))]
        # every worker has read the texts by its first chunk: their file is gone (a kill -9 leaves none)
        assert not _texts_files()
        from_workers += [np.asarray(v) for v in stream]
    expected = [np.asarray(in_process.embed_passages(texts, titles)) for texts, titles in batches]
    assert [v.shape for v in from_workers] == [v.shape for v in expected]
    for got, want in zip(from_workers, expected):
        assert np.array_equal(got, want)


def test_small_writes_and_the_torch_backend_embed_in_process() -> None:
    batches = _batches(_sentences()[:30])
    with Embedder(Settings().tuned(embedding_process_min=1000)).passage_batches(batches) as stream:
        assert not _workers()
        assert len(list(stream)) == len(batches)
    with Embedder(Settings(embedding_backend="torch").tuned(embedding_process_min=1)).passage_batches(batches) as stream:
        assert not _workers()


def test_windows_of_worker_processes_follow_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.embed.embeddings

    monkeypatch.setattr(rag.embed.embeddings, "_WINDOW_TEXTS", 40)  # three sets of workers for 120 passages
    batches = _batches(_sentences())
    with Embedder(Settings().tuned(embedding_process_min=1)).passage_batches(batches) as stream:
        from_workers = [np.asarray(v) for v in stream]
    expected = [np.asarray(Embedder(Settings()).embed_passages(texts, titles)) for texts, titles in batches]
    for got, want in zip(from_workers, expected):
        assert np.array_equal(got, want)


def test_a_worker_that_dies_is_a_clear_error_not_a_hang() -> None:
    model = bundled_model_path()
    workers = EmbeddingWorkers(export_int8(model, Settings().model_cache), model, model_dimension(model),
                               processes=2).run(["one text"] * 64)
    try:
        for proc in _workers():
            proc.kill()
        from rag.errors import ModelError

        with pytest.raises(ModelError, match="worker process stopped"):
            workers.vectors(0, 64)
    finally:
        workers.close()


def test_an_index_written_through_workers_equals_one_written_in_process(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "title": f"Article {i % 4}", "text": " ".join(chunk)}) + "\n"
                              for i, chunk in enumerate(np.array_split(_sentences(), 12))))
    stores = {}
    for name, minimum in (("workers", 1), ("in-process", 0)):
        settings = Settings(data_dir=tmp_path / name).tuned(embedding_process_min=minimum, index_batch_size=16)
        index = Index(settings)
        report = index.update(corpus)
        col = index.collection()
        rows = get_all(col, ["documents", "metadatas", "embeddings"])
        side = index.bm25(col)
        stores[name] = (report.total_chunks, rows, side)
    (n_a, a, bm25_a), (n_b, b, bm25_b) = stores["workers"], stores["in-process"]
    assert n_a == n_b == len(a["ids"]) > 12
    assert a["ids"] == b["ids"] and a["documents"] == b["documents"] and a["metadatas"] == b["metadatas"]
    assert np.array_equal(np.asarray(a["embeddings"]), np.asarray(b["embeddings"]))
    # and so is the BM25 side built from what was written
    assert bm25_a.ids == bm25_b.ids == a["ids"] and bm25_a.keys == bm25_b.keys


def test_workers_started_ahead_serve_the_first_long_write_and_unused_ones_are_stopped(tmp_path: Path) -> None:
    embedder = Embedder(Settings().tuned(embedding_process_min=1))
    embedder.start_workers(100)
    started = {p.pid for p in _workers()}
    assert started
    batches = _batches(_sentences())
    with embedder.passage_batches(batches) as stream:
        assert {p.pid for p in _workers()} == started, "the write uses the workers started ahead, no others"
        got = [np.asarray(v) for v in stream]
    expected = [np.asarray(Embedder(Settings()).embed_passages(texts, titles)) for texts, titles in batches]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    embedder.start_workers(100)
    unused = _workers()
    assert unused
    embedder.stop_workers()
    assert not _workers() and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in unused)
    # an index that exists already (BM25 on disk) is not expected to re-embed: nothing starts ahead
    corpus = tmp_path / "c.txt"
    corpus.write_text("The harbour reopened on Monday. " * 50)
    index = Index(Settings(data_dir=tmp_path / "d").tuned(embedding_process_min=1))
    started_ahead: list[int] = []
    start_workers = index.embedder.start_workers
    index.embedder.start_workers = lambda n: started_ahead.append(n) or start_workers(n)  # type: ignore[method-assign]
    index.update(corpus)  # the first write
    corpus.write_text("The harbour reopened on Tuesday. " * 50)
    index.update(corpus)  # a change to an index that exists
    index.update(corpus, rebuild=True)
    assert len(started_ahead) == 2 and all(n > 0 for n in started_ahead), started_ahead


_ORPHAN_SCRIPT = """
import sys, time
from pathlib import Path
from rag.embed.embedding_workers import EmbeddingWorkers
from rag.embed.embeddings import bundled_model_path
from rag.embed.onnx_export import export_int8, model_dimension
from rag.settings import Settings
model = bundled_model_path()
workers = EmbeddingWorkers(export_int8(model, Settings().model_cache), model, model_dimension(model), processes=2)
if sys.argv[1] == "working":
    workers.run(["a sentence about the harbour and its ferries"] * 20000)  # never read: the pipes fill up
print("ready", flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status


@pytest.mark.parametrize("state", ["waiting", "working"])
def test_workers_exit_when_their_parent_is_killed(state: str, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    # TMPDIR: killed before reading any vector, the parent leaves its texts' file behind (a real run reads
    # the first chunks within seconds and removes it then); here it stays in the test's folder
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT, state], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        pids = [child.pid for child in psutil.Process(parent.pid).children()]
        assert len(pids) == 2
        time.sleep(3 if state == "working" else 0.5)  # let the workers load and (working) fill their pipes
        assert not any(_gone(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(_gone(pid) for pid in pids):
            time.sleep(0.1)
        assert all(_gone(pid) for pid in pids), "worker processes outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
