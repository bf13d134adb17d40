"""A long write's embedding, done in worker processes ahead of the Chroma writes that store it.

Why processes: Chroma's `upsert` holds Python's GIL for its whole call (its Rust core does not
release it; 7,150 SciFact passages: 6.4-7 s of single-threaded writes). Embedding threads in the same
process then stall at every text boundary, so overlapping the two in threads gains nothing (measured,
docs/BENCHMARKS.md). Worker processes keep embedding while the main process writes, so both cores
stay busy for the whole run.

How: `EmbeddingWorkers` starts one plain subprocess per CPU (`python -m rag.embed.embedding_workers`, not
`multiprocessing`, which would re-import the caller's main script in each child); each loads the model,
then waits on its stdin. The work (every text of the run, in write order) is known before the first
write: `run(texts)` writes it to a temporary file and sends its name to the workers. Worker `k` of `w`
embeds chunks `k, k + w, k + 2w, ...` of `_CHUNK` texts (the texts are sorted by length, so the workers
stay level) and writes their float32 vectors to its stdout; the main process reads chunk after chunk,
in order, when it needs a batch's rows. A pipe enlarged to 1 MiB holds ~680 vectors, a few seconds of
work, so a worker is not held up while the main process is inside a long `upsert`.

Each worker runs the same encoder as the main process (`OnnxEncoder`: one text per single-threaded
ONNX run, then `encode`'s normalisation), so a text's vector is bit-identical to the one the main
process computes (`tests/embed/test_embedding_workers.py`). A worker whose parent dies (kill -9) gets a
broken pipe at its next write and exits; Ctrl-C reaches the main process only (the workers have a
session of their own), which stops them. Only for the onnx-int8 backend; torch embeds in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from rag.errors import ModelError

__all__ = ["EmbeddingWorkers"]

# Texts per chunk: big enough that a pipe write per chunk costs nothing next to embedding it
# (~16 x 3 ms), small enough that the two workers finish within a few milliseconds of each other.
_CHUNK = 16
_PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged F_SETPIPE_SZ
_F_SETPIPE_SZ = 1031


class EmbeddingWorkers:
    """Unit vectors of a list of texts (in order), computed by `processes` worker processes.

    The processes start (imports, ONNX session) as soon as the object is made, so that can happen while
    the caller still works out what to embed; `run(texts)` then hands them the texts, and
    `vectors(start, stop)` waits for rows `start:stop` (asked for in increasing order) and returns them.
    Use as a context manager, or call `close()`: it stops the workers and removes the temporary file.
    """

    def __init__(self, onnx_path: Path, model_path: Path, dimension: int, processes: int) -> None:
        self._dimension = dimension
        self._n = 0
        self._out = np.zeros((0, dimension), dtype=np.float32)
        self._read_chunks = 0
        self._work_file: Path | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        package_root = str(Path(__file__).resolve().parents[2])  # `rag` importable whatever the cwd
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        n_workers = max(1, processes)
        for k in range(n_workers):
            # A session of their own: Ctrl-C in a terminal signals the whole foreground process group,
            # and each worker would die printing a KeyboardInterrupt traceback. The main process alone
            # gets it, and stops the workers on its way out (`close`).
            proc = subprocess.Popen(
                [sys.executable, "-m", "rag.embed.embedding_workers", str(onnx_path), str(model_path), str(k), str(n_workers)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True)
            try:
                import fcntl

                fcntl.fcntl(proc.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[union-attr]
            except (ImportError, OSError):
                pass  # the default 64 KiB pipe still works; the worker just waits sooner
            self._procs.append(proc)

    def run(self, texts: Sequence[str]) -> EmbeddingWorkers:
        """Give the workers their texts (once): they start embedding at once."""
        if self._work_file is not None:
            raise RuntimeError("these workers already have their texts")
        self._n = len(texts)
        self._out = np.zeros((self._n, self._dimension), dtype=np.float32)
        fd, name = tempfile.mkstemp(prefix="rag-embed-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(list(texts), fh)
        self._work_file = Path(name)
        for proc in self._procs:
            try:
                if proc.stdin:
                    proc.stdin.write(f"{name}\n".encode())
                    proc.stdin.close()
            except BrokenPipeError:
                pass  # a worker that died already: `vectors` reports it
        return self

    def vectors(self, start: int, stop: int) -> np.ndarray:
        """Rows `start:stop` (a copy), reading the workers' output up to them."""
        stop = min(stop, self._n)
        need = -(-stop // _CHUNK)
        while self._read_chunks < need:
            chunk = self._read_chunks
            rows = slice(chunk * _CHUNK, min((chunk + 1) * _CHUNK, self._n))
            proc = self._procs[chunk % len(self._procs)]
            size = (rows.stop - rows.start) * self._dimension * 4
            data = proc.stdout.read(size) if proc.stdout else b""
            if len(data) != size:
                code = proc.wait()
                raise ModelError(f"An embedding worker process stopped (exit code {code}) before finishing; "
                                 "run `rag index` again, or set RAG_TUNING__EMBEDDING_PROCESS_MIN=0 "
                                 "to embed in-process.")
            self._out[rows] = np.frombuffer(data, dtype=np.float32).reshape(-1, self._dimension)
            self._read_chunks += 1
            if self._read_chunks == len(self._procs) and self._work_file is not None:
                # every worker has sent a chunk, so has read the texts: the file is not needed any more
                # (removed now rather than at close(), so a killed run leaves it for a few seconds at most)
                self._work_file.unlink(missing_ok=True)
        return self._out[start:stop].copy()

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe and not pipe.closed:
                    try:
                        pipe.close()
                    except BrokenPipeError:
                        pass
        self._procs = []
        if self._work_file is not None:
            self._work_file.unlink(missing_ok=True)
            self._work_file = None

    def __enter__(self) -> EmbeddingWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _work(onnx_path: str, model_path: str, k: int, n_workers: int, out: IO[bytes]) -> None:
    """Worker `k` of `n_workers`: load the model, wait for the texts, embed chunks k, k + n_workers, ...
    and write their vectors."""
    from rag.embed.onnx_export import OnnxEncoder

    encoder = OnnxEncoder(Path(onnx_path), Path(model_path), threads=1)
    work_file = sys.stdin.readline().strip()
    if not work_file:  # closed without work: the write turned out small, or the run ended
        return
    texts = json.loads(Path(work_file).read_text(encoding="utf-8"))
    for start in range(k * _CHUNK, len(texts), n_workers * _CHUNK):
        vectors = encoder.encode(texts[start:start + _CHUNK], normalize_embeddings=True)
        out.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        out.flush()


if __name__ == "__main__":
    # The vectors get the real stdout to themselves; anything a library prints goes to stderr instead.
    vectors_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        _work(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), vectors_out)
    except BrokenPipeError:  # the main process is gone (killed, or closed us early): nothing to deliver
        os._exit(1)
    except KeyboardInterrupt:  # a SIGINT sent to the worker itself: the main process reports the stop
        os._exit(130)
