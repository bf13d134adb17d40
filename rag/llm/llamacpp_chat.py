"""The local GGUF model as a LangChain chat model: a small adapter over llama-cpp-python.

Why our own: `langchain-community`'s `ChatLlamaCpp` announces on import that the package is sunset
and no longer maintained, and no maintained LangChain integration for llama-cpp-python exists. What
the answer chain needs is small: stream the tokens of one chat completion, with temperature,
max_tokens, repeat_penalty, seed and a logit bias, one generation at a time. llama-cpp-python
applies the GGUF's own chat template (`create_chat_completion`).

`prime(messages)` reads a fixed prompt prefix into llama.cpp's KV cache and saves llama.cpp's state
in `state_dir` (the model cache); a new process loads that file instead of reading the prefix again
(about a second of a cold `rag ask` on two cores). The file is keyed by a hash of the model's
identity, the exact prefix, llama_cpp's version and the context settings; a file that does not match
or does not load is ignored and written again (atomically). Prefix reuse in llama.cpp is by tokens:
a later prompt gains only if it starts with exactly the same tokens as the primed one.

It deliberately does not do tools, JSON mode or multimodal input.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ChatMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from rag.llm.llamacpp_load import load_llama

__all__ = ["LlamaCppChat", "STATE_MAGIC"]

log = logging.getLogger(__name__)

STATE_MAGIC = b"RAGKV001"  # file format of a saved prompt state: bump when the layout changes
_KEEP_STATES = 4  # saved prompt states kept per model (older ones are deleted): prompts change during development
# Arguments of `create_chat_completion` a caller may set per call (`llm.bind(...)` or `invoke(..., stop=...)`).
_CALL_OPTIONS = ("temperature", "max_tokens", "repeat_penalty", "seed", "logit_bias", "stop", "top_p", "top_k",
                 "min_p", "presence_penalty", "frequency_penalty")


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ChatMessage):
        return message.role
    raise ValueError(f"{type(message).__name__} is not supported by the local model")


def to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _role(m), "content": m.text if hasattr(m, "text") and isinstance(m.text, str) else str(m.content)}
            for m in messages]


class LlamaCppChat(BaseChatModel):
    """A GGUF model on llama.cpp; one `Llama` instance, one generation at a time (thread-safe)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    n_batch: int = 512
    n_ubatch: int = 512
    n_threads: int | None = None
    n_threads_batch: int | None = None
    flash_attn: bool = False
    # llama.cpp's weight repacking (its "extra buffer types") copies the Q4_K weights into an interleaved
    # layout at load. Measured on a 2-core AVX-512 VNNI Xeon: load 0.70 -> 0.30 s and prompt reading
    # ~25% faster without it (the plain Q4_K kernels are the faster ones there), so it is off by default.
    repack: bool = False
    temperature: float = 0.0
    max_tokens: int = 256
    # Answers are copied out of the passages: a repetition penalty would push the model away from the
    # very words it must quote, so it is off (llama.cpp's chat default is 1.1).
    repeat_penalty: float = 1.0
    seed: int = 0
    model_id: str = Field("", description="Identity of the model file for saved states (e.g. its sha256); "
                                          "default: path, size and modification time.")
    state_dir: Path | None = Field(None, description="Where `prime` keeps saved prompt states; None: never saved.")

    client: Any = Field(default=None, exclude=True)  # the llama_cpp.Llama
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)

    def model_post_init(self, context: Any, /) -> None:
        if self.client is None:
            self.client = load_llama(self.model_path, n_ctx=self.n_ctx, n_batch=self.n_batch, n_ubatch=self.n_ubatch,
                                     n_threads=self.n_threads, n_threads_batch=self.n_threads_batch,
                                     flash_attn=self.flash_attn, repack=self.repack, seed=self.seed)

    @property
    def _llm_type(self) -> str:
        return "llamacpp-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "temperature": self.temperature,
                "max_tokens": self.max_tokens}

    def token_ids(self, text: str) -> list[int]:
        """Token ids of `text` as it would appear inside a reply (no BOS, no special tokens)."""
        return list(self.client.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # ------------------------------------------------------------------ generation
    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens,
                                  "repeat_penalty": self.repeat_penalty, "seed": self.seed}
        params.update({k: v for k, v in kwargs.items() if k in _CALL_OPTIONS and v is not None})
        if stop:
            params["stop"] = list(stop)
        return params

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        with self._lock:
            reply = self.client.create_chat_completion(messages=to_llama_messages(messages), stream=False,
                                                       **self._params(stop, kwargs))
        choice = reply["choices"][0]
        message = AIMessage(content=choice["message"].get("content") or "",
                            usage_metadata=_usage(reply.get("usage")))
        return ChatResult(generations=[ChatGeneration(message=message,
                                                      generation_info={"finish_reason": choice.get("finish_reason")})])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        with self._lock:  # held until the stream ends or is closed: llama.cpp is not re-entrant
            for part in self.client.create_chat_completion(messages=to_llama_messages(messages), stream=True,
                                                           **self._params(stop, kwargs)):
                choice = part["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                finish = choice.get("finish_reason")
                if not text and not finish:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text),
                                            generation_info={"finish_reason": finish} if finish else None)
                if run_manager and text:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk

    # ------------------------------------------------------------------ the saved prompt prefix
    def state_key(self, messages: list[BaseMessage]) -> str:
        """Hash of everything a saved state depends on: model, prefix, llama.cpp and context settings."""
        import llama_cpp

        model_id = self.model_id
        if not model_id:
            st = os.stat(self.model_path)
            model_id = f"{os.path.abspath(self.model_path)}:{st.st_size}:{st.st_mtime_ns}"
        record = {"model": model_id, "prefix": to_llama_messages(messages), "llama_cpp": llama_cpp.__version__,
                  "n_ctx": self.n_ctx, "n_batch": self.n_batch, "n_ubatch": self.n_ubatch,
                  "flash_attn": self.flash_attn, "repack": self.repack, "format": STATE_MAGIC.decode()}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode("utf-8")).hexdigest()

    def state_path(self, messages: list[BaseMessage]) -> Path | None:
        if self.state_dir is None:
            return None
        return Path(self.state_dir) / f"{Path(self.model_path).name}.prompt-{self.state_key(messages)[:24]}.state"

    def prime(self, messages: list[BaseMessage]) -> None:
        """Have `messages` (the fixed start of every prompt) in llama.cpp's KV cache, from disk if saved.

        Reads the prefix followed by an empty user turn and one generated token, so that any
        later prompt that starts with `messages` and a user turn reuses everything up to the user's
        text (llama-cpp-python keeps the longest common token prefix and drops the rest).
        """
        path = self.state_path(messages)
        key = self.state_key(messages)
        with self._lock:
            if path is not None and self._load_state(path, key):
                return
            self.client.create_chat_completion(messages=[*to_llama_messages(messages), {"role": "user", "content": ""}],
                                               max_tokens=1, temperature=0.0, seed=self.seed,
                                               repeat_penalty=self.repeat_penalty)
            if path is not None:
                self._save_state(path, key)

    def _load_state(self, path: Path, key: str) -> bool:
        import numpy as np
        from llama_cpp import LlamaState

        try:
            with open(path, "rb") as fh:
                if fh.read(len(STATE_MAGIC)) != STATE_MAGIC:
                    return False
                (header_len,) = struct.unpack("<I", fh.read(4))
                header = json.loads(fh.read(header_len))
                if header.get("key") != key:
                    return False
                ids = np.frombuffer(fh.read(4 * header["n_tokens"]), dtype=np.intc)
                data = fh.read()
            if len(ids) != header["n_tokens"] or len(data) != header["size"]:
                return False
            input_ids = np.zeros_like(self.client.input_ids)
            input_ids[:len(ids)] = ids
            # Logits of the prefix are not saved (hundreds of MB); one zero row stands for them, and
            # llama-cpp-python decodes at least one token after a restored state before sampling.
            scores = np.zeros((1, self.client.n_vocab()), dtype=np.single)
            # `Llama.load_state` also zeroes the unused rows of its logits buffer (n_batch x vocabulary
            # floats, 311 MB here) by reading every one: in a new process that is 0.3 s of page faults,
            # for rows nothing reads (a decode writes, and sampling reads, only its own token's row).
            # So it runs on an empty view of that buffer, and the buffer is put back untouched.
            logits = self.client.scores
            self.client.scores = logits[:0]
            try:
                self.client.load_state(LlamaState(input_ids=input_ids, scores=scores, n_tokens=len(ids),
                                                  llama_state=data, llama_state_size=len(data), seed=header["seed"]))
            finally:
                self.client.scores = logits
            return True
        except (OSError, ValueError, KeyError, struct.error, RuntimeError) as err:
            log.info("saved prompt state %s not used (%s); reading the prompt again", path, err)
            self.client.reset()
            return False

    def _save_state(self, path: Path, key: str) -> None:
        import ctypes

        import llama_cpp

        # llama.cpp's own state (KV cache, RNG, last logits) through the C API: `Llama.save_state` would
        # also copy its Python-side logits buffer (n_batch x vocabulary floats, 311 MB here), never needed.
        ctx = self.client.ctx
        size = int(llama_cpp.llama_state_get_size(ctx))
        buffer = (ctypes.c_uint8 * size)()
        n_bytes = int(llama_cpp.llama_state_get_data(ctx, buffer, size))
        n_tokens = int(self.client.n_tokens)
        header = json.dumps({"key": key, "n_tokens": n_tokens, "size": n_bytes, "seed": int(self.seed)}).encode("utf-8")
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(STATE_MAGIC + struct.pack("<I", len(header)) + header)
                fh.write(self.client.input_ids[:n_tokens].astype("intc").tobytes())
                fh.write(memoryview(buffer)[:n_bytes])
            os.replace(tmp, path)  # readers never see a half-written state
        except OSError as err:  # a read-only cache still works; the prompt is read in every process
            log.info("could not save the prompt state to %s: %s", path, err)
            tmp.unlink(missing_ok=True)
            return
        others = sorted(path.parent.glob(f"{Path(self.model_path).name}.prompt-*.state"),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for old in others[_KEEP_STATES:]:
            old.unlink(missing_ok=True)


def _usage(usage: dict[str, int] | None) -> Any:
    if not usage:
        return None
    return {"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)}
