"""Crash safety and one-writer-at-a-time, with real processes: `rag index` killed with SIGKILL.

The corpus is a slice of SciFact (real abstracts, several passages each) split over a few JSONL
files; `RAG_TUNING__INDEX_BATCH_SIZE` is small so that a run has several progress steps to be killed at.
After each kill the old index must still answer, and running `rag index` again must leave exactly
what a clean build leaves: the same passages, no duplicates, nothing missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from filelock import FileLock

from rag import Assistant, IndexBusyError, Settings

from ..factories import SHARED_EVAL, write_jsonl

SCIFACT = SHARED_EVAL / "scifact" / "corpus.jsonl"
BATCH = 16
RAG = [sys.executable, "-m", "rag.cli"]
_PROGRESS = re.compile(r"(\d+)/(\d+) \[")

pytestmark = [pytest.mark.skipif(not SCIFACT.exists(), reason="needs ../shared/eval/scifact"),
              pytest.mark.model]  # `rag index` in subprocesses embeds with the real MiniLM


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`old` (what was indexed before) and `new` (what the killed run indexes).

    new = 80 abstracts in two files plus one Markdown article; old = 60 of them, three with different
    text (so they are *updated*), and a file of 4 abstracts that is gone from `new` (*deleted*).
    Big enough that a run lasts several progress steps even with the fast int8 embedder.
    """
    root = tmp_path_factory.mktemp("kill-corpora")
    rows = [json.loads(line) for line in SCIFACT.read_text().splitlines()[:84]]
    new, old = root / "new", root / "old"
    new.mkdir()
    old.mkdir()
    write_jsonl(new / "part1.jsonl", rows[:40])
    write_jsonl(new / "part2.jsonl", rows[40:80])
    (new / "note.md").write_text("# Lab note\n\nThe centrifuge in room 4 was recalibrated on Tuesday.\n")
    changed = [dict(r, text="Earlier draft. " + r["text"][: len(r["text"]) // 2]) for r in rows[:3]]
    write_jsonl(old / "part1.jsonl", changed + rows[3:40])
    write_jsonl(old / "part2.jsonl", rows[40:60])
    write_jsonl(old / "gone.jsonl", rows[80:84])
    return {"old": old, "new": new}


@pytest.fixture(scope="module")
def old_index(corpora: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the index of `old`; tests copy it before touching it."""
    data_dir = tmp_path_factory.mktemp("old-index")
    Assistant(Settings(data_dir=data_dir)).index(corpora["old"])
    return data_dir


@pytest.fixture(scope="module")
def clean_build(corpora: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Every passage of a from-scratch index of `new`: id -> (doc_id, hash, index, start, end, text)."""
    data_dir = tmp_path_factory.mktemp("clean-index")
    assistant = Assistant(Settings(data_dir=data_dir))
    assistant.index(corpora["new"])
    return _passages(assistant)


def _doc_ids(jsonl: Path) -> set[str]:
    """Stored ids of a .jsonl's rows: namespaced by their file (`part1.jsonl#<_id>`)."""
    return {f"{jsonl.name}#{json.loads(line)['_id']}" for line in jsonl.read_text().splitlines()}


def _passages(assistant: Assistant) -> dict[str, tuple]:
    ids, texts, metas = assistant.store.all_passages()
    assert len(ids) == len(set(ids))
    return {cid: (m["doc_id"], m["doc_hash"], m["index"], m["start"], m["end"], t)
            for cid, t, m in zip(ids, texts, metas)}


def _interruptible() -> None:
    """In the child before exec: SIGINT back to its default, as in a terminal's foreground job."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class IndexRun:
    """`rag index` in a child process, its progress (done, total) parsed from the progress bar."""

    def __init__(self, data_dir: Path, corpus: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_TUNING__INDEX_BATCH_SIZE": str(BATCH),
               "HF_HUB_OFFLINE": "1", **(env or {})}
        # Its own process group, as a command started from a terminal has: Ctrl-C signals the group.
        # Ctrl-C's default action too: a test run started in the background (`pytest ... &` from a script)
        # inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt.
        self.proc = subprocess.Popen([*RAG, "index", str(corpus), *extra], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True,
                                     preexec_fn=_interruptible)
        self.done = self.total = 0
        self.err = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read(1):
            self.err += chunk
            if chunk in "\r\n":
                for done, total in _PROGRESS.findall(self.err[-200:]):
                    self.done, self.total = max(self.done, int(done)), int(total)

    def wait_for(self, passages: int, timeout: float = 300) -> bool:
        """Block until at least `passages` are reported written; False if the run ended first."""
        deadline = time.monotonic() + timeout
        while self.done < passages:
            if self.proc.poll() is not None:
                return False
            assert time.monotonic() < deadline, f"no progress to {passages} passages: {self.err[-500:]}"
            time.sleep(0.05)
        return True

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def finish(self, timeout: float = 600) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()  # stderr belongs to the reader thread
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.proc.returncode, out, self.err


# Kill after the first step, in the middle, and once every passage is written (the run is then
# deleting stale passages and rebuilding BM25). Expressed in passages written.
KILL_POINTS = {"first batch": lambda total: BATCH, "half": lambda total: total // 2, "all written": lambda total: total}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_9_then_rerun_ends_exactly_like_a_clean_build(point: str, corpora: dict[str, Path], old_index: Path,
                                                           clean_build: dict[str, tuple], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(old_index, data_dir)
    run = IndexRun(data_dir, corpora["new"])
    assert run.wait_for(1), run.err[-500:]
    killed = run.wait_for(KILL_POINTS[point](run.total))
    run.kill()
    # The last phase (deletions, BM25) can be quicker than the kill on a fast machine: the run then
    # simply completed, and what follows still checks the result. Earlier points must be hit.
    if point != "all written" or run.proc.returncode != 0:
        assert killed and run.proc.returncode == -signal.SIGKILL, f"finished before the kill point ({point})"

    # Meanwhile the index still answers, and keeps every document that both versions share.
    meanwhile = Assistant(Settings(data_dir=data_dir))
    doc_ids = {p[0] for p in _passages(meanwhile).values()}
    assert _doc_ids(corpora["old"] / "part1.jsonl") | _doc_ids(corpora["old"] / "part2.jsonl") <= doc_ids
    first = json.loads((corpora["new"] / "part1.jsonl").read_text().splitlines()[0])
    hit = meanwhile.search(first["title"], k=3)
    assert hit and hit[0].doc_id == f"part1.jsonl#{first['_id']}"

    code, out, err = IndexRun(data_dir, corpora["new"], "--quiet").finish()
    assert code == 0, err
    resumed = _passages(Assistant(Settings(data_dir=data_dir)))
    assert resumed == clean_build
    keys = Counter((doc_id, index) for doc_id, _, index, *_ in resumed.values())
    assert max(keys.values()) == 1


def _pause_holding_the_lock(run: IndexRun) -> None:
    """SIGSTOP a run mid-way, so that it holds the lock for as long as the test needs (no timing race)."""
    assert run.wait_for(1), run.err[-500:]
    run.proc.send_signal(signal.SIGSTOP)
    time.sleep(0.5)  # let the reader catch up with what was printed before the stop
    # Passages were still being written when it stopped, so it was inside the locked section.
    assert run.done < run.total, "the run finished before it could be paused; use a bigger corpus"


@pytest.mark.slow
def test_a_second_rag_index_on_the_same_data_is_refused_clearly(corpora: dict[str, Path], old_index: Path,
                                                                clean_build: dict[str, tuple], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(old_index, data_dir)
    first = IndexRun(data_dir, corpora["new"])
    _pause_holding_the_lock(first)
    try:
        code, _, err = IndexRun(data_dir, corpora["new"]).finish()
    finally:
        first.proc.send_signal(signal.SIGCONT)
    assert code == 2
    assert "Another `rag index` is running" in err and "Traceback" not in err

    code, _, err = first.finish()
    assert code == 0, err
    assert _passages(Assistant(Settings(data_dir=data_dir))) == clean_build


@pytest.mark.slow
def test_a_second_rag_index_with_wait_runs_after_the_first(corpora: dict[str, Path], old_index: Path,
                                                           tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(old_index, data_dir)
    first = IndexRun(data_dir, corpora["new"])
    _pause_holding_the_lock(first)
    try:
        second = IndexRun(data_dir, corpora["new"], "--wait", "600", "--json")
        deadline = time.monotonic() + 300
        while "waiting up to 600 s" not in second.err:  # it has reached the lock and says it waits
            assert second.proc.poll() is None, second.err[-500:]
            assert time.monotonic() < deadline, second.err[-500:]
            time.sleep(0.1)
        time.sleep(1)
        assert second.proc.poll() is None  # waiting, not refused
    finally:
        first.proc.send_signal(signal.SIGCONT)

    assert first.finish()[0] == 0
    code, out, err = second.finish()
    assert code == 0, err
    report = json.loads(out)
    assert (report["added"], report["updated"], report["deleted"], report["chunks_added"]) == (0, 0, 0, 0)


def test_index_refuses_while_another_holds_the_lock(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    (tmp_path / "a.txt").write_text("Some text to index.")
    with FileLock(str(settings.lock_path)):
        with pytest.raises(IndexBusyError, match="Another `rag index` is running"):
            Assistant(settings).index(tmp_path / "a.txt")


@pytest.fixture(scope="module")
def long_run_corpus(corpora: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`new` plus 1,000 more abstracts: thousands of passages in batches of 2, so a run interrupted after its
    first batches is seconds from its end, not milliseconds (the 80-abstract corpus finished before the
    signal in 1 of 4 fresh-clone runs)."""
    root = tmp_path_factory.mktemp("long-run") / "corpus"
    shutil.copytree(corpora["new"], root)
    rows = [json.loads(line) for line in SCIFACT.read_text().splitlines()[100:1100]]
    write_jsonl(root / "bulk.jsonl", rows)
    return root


@pytest.mark.slow
def test_ctrl_c_during_rag_index_exits_quietly_and_loses_nothing(corpora: dict[str, Path], old_index: Path,
                                                                long_run_corpus: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(old_index, data_dir)
    # Embedding worker processes on (they are what printed tracebacks), passages being written.
    run = IndexRun(data_dir, long_run_corpus,
                   env={"RAG_TUNING__EMBEDDING_PROCESS_MIN": "1", "RAG_TUNING__INDEX_BATCH_SIZE": "2"})
    assert run.wait_for(BATCH), run.err[-500:]
    # Stopped first, so the interrupt lands mid-run: delivered the moment the group continues.
    os.killpg(run.proc.pid, signal.SIGSTOP)
    time.sleep(0.5)  # let the reader catch up with what was printed before the stop
    assert run.proc.poll() is None and run.done < run.total, "the run ended before the interrupt: a bigger corpus"
    os.killpg(run.proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    os.killpg(run.proc.pid, signal.SIGCONT)
    code, _, err = run.finish()
    assert code == 130, err[-1000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("interrupted; the index keeps what it held")

    # Meanwhile the index still holds every document of the old one that the new corpus keeps, and answers.
    meanwhile = Assistant(Settings(data_dir=data_dir))
    kept = _doc_ids(corpora["old"] / "part1.jsonl") | _doc_ids(corpora["old"] / "part2.jsonl")
    assert kept <= {p[0] for p in _passages(meanwhile).values()}
    first = json.loads((corpora["new"] / "part1.jsonl").read_text().splitlines()[0])
    assert meanwhile.search(first["title"], k=3)

    # Running again completes the index: every document of the corpus, each passage once, the gone file gone.
    code, _, err = IndexRun(data_dir, long_run_corpus, "--quiet").finish()
    assert code == 0, err
    resumed = _passages(Assistant(Settings(data_dir=data_dir)))
    expected = {"note.md"} | {d for f in long_run_corpus.glob("*.jsonl") for d in _doc_ids(f)}
    assert {p[0] for p in resumed.values()} == expected
    assert not any(p[5].startswith("Earlier draft.") for p in resumed.values())  # updated, not kept twice
    keys = Counter((doc_id, index) for doc_id, _, index, *_ in resumed.values())
    assert max(keys.values()) == 1


@pytest.mark.slow
def test_questions_during_a_rebuild_in_another_process_never_fail(corpora: dict[str, Path], old_index: Path,
                                                                  tmp_path: Path) -> None:
    from rag.index import Index
    from rag.search.retrieval import HybridRetriever

    data_dir = tmp_path / "data"
    shutil.copytree(old_index, data_dir)
    settings = Settings(data_dir=data_dir)
    retriever = HybridRetriever(index=Index(settings), settings=settings, k=3)
    gone = json.loads((corpora["old"] / "gone.jsonl").read_text().splitlines()[0])  # only in the old index
    note = "centrifuge recalibrated room 4"  # only in the new one (note.md)
    retriever.search(note)  # the model loaded before the rebuild starts
    answers: list[tuple[str, set[str]]] = []  # (query, doc ids found), one per search
    errors: list[BaseException] = []
    run = IndexRun(data_dir, corpora["new"], "--rebuild", "--quiet")
    while run.proc.poll() is None:
        for query in (gone["title"], note):
            try:
                answers.append((query, {d.metadata["doc_id"] for d in retriever.search(query, k=3)}))
            except Exception as err:  # noqa: BLE001 - the test reports it
                errors.append(err)
    code, _, err = run.finish()
    assert code == 0, err
    assert not errors, errors[:3]
    assert len(answers) >= 10
    old_doc, new_doc = f"gone.jsonl#{gone['_id']}", "note.md"
    # Each search saw one whole index, the old one or the new one, never none; once a search has seen the new
    # index no later search sees the old one (two searches may straddle the switch, one search never does).
    assert all(ids for _, ids in answers)
    seen = ["old" if (old_doc in ids if query == gone["title"] else new_doc not in ids) else "new"
            for query, ids in answers]
    assert seen == sorted(seen, key=("old", "new").index), seen
    assert seen[0] == "old"
    final = {d.metadata["doc_id"] for query in (note, gone["title"]) for d in retriever.search(query, k=3)}
    assert new_doc in final and old_doc not in final
