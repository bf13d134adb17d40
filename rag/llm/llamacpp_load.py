"""Loading a GGUF into llama.cpp, with nothing of LangChain imported: a command can start it first.

A cold `rag ask` spends ~0.7 s importing LangChain core, Chroma and BM25 before it can build the
answer chain; loading the model (mapping the GGUF, ~0.3 s) is C code that releases the GIL. So
`rag ask` starts `load_llama` in a thread before those imports (`rag.llm.models.start_local_model`) and
the chat model (`rag.llm.llamacpp_chat.LlamaCppChat`) then wraps the loaded `Llama`. This module holds
only what that needs: the constructor call and the one load parameter llama-cpp-python does not take
as an argument, and the lock that keeps other threads' output from vanishing during a load:
llama-cpp-python (verbose=False) points file descriptors 1 and 2 at /dev/null while it constructs a
model, so whatever any thread prints meanwhile is lost. Loads hold `LOAD_LOCK`; code that prints
beside a load in progress (an error of `rag ask`, the URL of `rag serve`) does so inside
`output_visible()`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["load_llama", "model_params", "output_visible", "LOAD_LOCK"]

# Held for each model construction: `model_params` swaps a module function (one construction at a
# time), and stdout/stderr point at /dev/null meanwhile.
LOAD_LOCK = threading.RLock()


@contextlib.contextmanager
def output_visible() -> Iterator[None]:
    """Print inside this, from any thread, to be sure no model load is hiding stdout and stderr."""
    with LOAD_LOCK:
        yield


@contextlib.contextmanager
def model_params(**fields: Any) -> Iterator[None]:
    """Model-load parameters that `llama_cpp.Llama` does not take as arguments (e.g. `use_extra_bufts`).

    `Llama.__init__` starts from `llama_model_default_params()`; for the duration of one construction
    that function returns the defaults with `fields` set. Constructions go one at a time (a lock).
    """
    import llama_cpp.llama_cpp as api

    with LOAD_LOCK:
        defaults = api.llama_model_default_params

        def patched() -> Any:
            params = defaults()
            for name, value in fields.items():
                setattr(params, name, value)
            return params

        api.llama_model_default_params = patched
        try:
            yield
        finally:
            api.llama_model_default_params = defaults


def load_llama(model_path: str, *, n_ctx: int, n_batch: int, n_ubatch: int, n_threads: int | None,
               n_threads_batch: int | None, flash_attn: bool, repack: bool, seed: int) -> Any:
    """A `llama_cpp.Llama` for `model_path` (llama.cpp's weight repacking only if `repack`)."""
    from llama_cpp import Llama

    with LOAD_LOCK, model_params(use_extra_bufts=repack):
        return Llama(model_path=model_path, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_ubatch, n_threads=n_threads,
                     n_threads_batch=n_threads_batch or n_threads, flash_attn=flash_attn, seed=seed, verbose=False)
