"""The GGUF start-up check: a full sha256 once, then a verified stamp, and never a stale stamp.

These tests run `ensure_gguf` on a small model file assembled from small part modules written into
a temporary folder, so the checksum logic runs exactly as for the bundled 1.1 GB model, in
milliseconds. (Whether the bundled model itself loads is covered by the seed-question tests.)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from rag.errors import ModelChecksumError
from rag.llm import models
from rag.llm.models import BundledModel, ensure_gguf, stamp_path

PARTS = [b"GGUF" + bytes(range(256)) * 40, bytes(reversed(range(256))) * 33]


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BundledModel:
    """A two-part 'model' installed as importable modules `tinypart1`, `tinypart2`."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    for i, data in enumerate(PARTS, start=1):
        (pkg / f"tiny.part{i}").write_bytes(data)
        (pkg / f"tinypart{i}.py").write_text(
            f"from pathlib import Path\ndef get_part_path():\n    return str(Path(__file__).with_name('tiny.part{i}'))\n")
    monkeypatch.syspath_prepend(str(pkg))
    for i in (1, 2):
        sys.modules.pop(f"tinypart{i}", None)
    return BundledModel("tiny", "tinypart", 2, hashlib.sha256(b"".join(PARTS)).hexdigest(), "tiny.gguf", "reinstall tiny")


def _count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = models.sha256_file

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(models, "sha256_file", counting)
    return calls


def test_assembly_records_a_verified_stamp(spec: BundledModel, tmp_path: Path) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    assert path.read_bytes() == b"".join(PARTS)
    stamp = json.loads(stamp_path(path).read_text())
    assert stamp["sha256"] == spec.sha256 and stamp["size"] == path.stat().st_size


def test_unchanged_file_is_not_hashed_again(spec: BundledModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    calls = _count_hashes(monkeypatch)
    assert ensure_gguf(spec, tmp_path / "cache") == path
    assert calls == []


def test_truncated_file_is_detected_and_reassembled(spec: BundledModel, tmp_path: Path) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    with open(path, "r+b") as fh:
        fh.truncate(100)
    ensure_gguf(spec, tmp_path / "cache")
    assert path.read_bytes() == b"".join(PARTS)


def test_altered_file_with_restored_size_and_mtime_is_detected(spec: BundledModel, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    before = path.stat()
    with open(path, "r+b") as fh:  # same size, one byte changed, modification time put back
        fh.seek(10)
        fh.write(b"X")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    calls = _count_hashes(monkeypatch)
    ensure_gguf(spec, tmp_path / "cache")
    assert calls == [path], "the stamp was trusted although the file changed (its ctime moved)"
    assert path.read_bytes() == b"".join(PARTS)


def test_forged_stamp_for_another_checksum_is_not_trusted(spec: BundledModel, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    stamp = json.loads(stamp_path(path).read_text())
    stamp_path(path).write_text(json.dumps({**stamp, "sha256": "0" * 64}))
    calls = _count_hashes(monkeypatch)
    ensure_gguf(spec, tmp_path / "cache")
    assert calls == [path]


def test_parts_that_do_not_match_raise_a_checksum_error(spec: BundledModel, tmp_path: Path) -> None:
    wrong = BundledModel(spec.name, spec.module_prefix, spec.parts, "f" * 64, spec.filename, spec.install_hint)
    with pytest.raises(ModelChecksumError, match="reinstall tiny"):
        ensure_gguf(wrong, tmp_path / "cache")
    assert not (tmp_path / "cache" / spec.filename).exists()


# ---------------------------------------------------------------------------------------------
# The local chat model (rag/llm/llamacpp_chat.py): unit tests over a scripted llama client, then the
# real bundled GGUF (slow: loads 1.1 GB).
# ---------------------------------------------------------------------------------------------

from typing import Any  # noqa: E402

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage  # noqa: E402

from rag.llm.llamacpp_chat import LlamaCppChat, to_llama_messages  # noqa: E402


class ScriptedLlama:
    """Stands in for `llama_cpp.Llama`: records each call, streams a fixed reply in pieces."""

    def __init__(self, reply: list[str]) -> None:
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    def create_chat_completion(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if kwargs["stream"]:
            return iter([{"choices": [{"delta": {"content": piece}, "finish_reason": None}]} for piece in self.reply]
                        + [{"choices": [{"delta": {}, "finish_reason": "stop"}]}])
        return {"choices": [{"message": {"content": "".join(self.reply)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def _scripted(reply: list[str], **fields: Any) -> tuple[LlamaCppChat, ScriptedLlama]:
    client = ScriptedLlama(reply)
    return LlamaCppChat(model_path="unused.gguf", client=client, **fields), client


def test_local_chat_model_streams_each_piece_as_it_comes() -> None:
    llm, _ = _scripted(["Umerov ", "asked for ", "air defence [1]"])
    pieces = [chunk.content for chunk in llm.stream([HumanMessage("What did Umerov request?")])]
    assert [p for p in pieces if p] == ["Umerov ", "asked for ", "air defence [1]"]
    assert llm.invoke("q").content == "Umerov asked for air defence [1]"


def test_local_chat_model_sends_roles_and_its_sampling_settings() -> None:
    llm, client = _scripted(["ok"], temperature=0.0, max_tokens=64, seed=7)
    list(llm.stream([SystemMessage("rules"), HumanMessage("q1"), AIMessage("a1"), HumanMessage("q2")]))
    call = client.calls[-1]
    assert call["messages"] == [{"role": "system", "content": "rules"}, {"role": "user", "content": "q1"},
                                {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}]
    assert (call["temperature"], call["max_tokens"], call["seed"], call["repeat_penalty"]) == (0.0, 64, 7, 1.0)


def test_logit_bias_and_max_tokens_bound_per_call_reach_llama_cpp() -> None:
    llm, client = _scripted(["NOT FOUND"])
    list(llm.bind(logit_bias={4183: 5.0}, max_tokens=1).stream("q"))
    assert client.calls[-1]["logit_bias"] == {4183: 5.0} and client.calls[-1]["max_tokens"] == 1
    llm.invoke("q", stop=["\n"])
    assert client.calls[-1]["stop"] == ["\n"] and "logit_bias" not in client.calls[-1]


def test_a_saved_prompt_state_belongs_to_one_weight_layout() -> None:
    plain, _ = _scripted(["ok"], model_id="m", repack=False)
    repacked, _ = _scripted(["ok"], model_id="m", repack=True)
    assert plain.state_key(PREFIX) != repacked.state_key(PREFIX)


def test_model_load_parameters_are_set_for_one_construction_only() -> None:
    import llama_cpp.llama_cpp as api

    from rag.llm.llamacpp_load import model_params as _model_params

    with _model_params(use_extra_bufts=False):
        assert api.llama_model_default_params().use_extra_bufts is False
    assert api.llama_model_default_params().use_extra_bufts is True  # llama.cpp's own default again


def test_messages_become_llama_cpp_roles() -> None:
    assert to_llama_messages([SystemMessage("s"), HumanMessage("h")]) == [
        {"role": "system", "content": "s"}, {"role": "user", "content": "h"}]


@pytest.fixture(scope="module")
def real_llm(tmp_path_factory: pytest.TempPathFactory) -> LlamaCppChat:
    from rag.llm.models import make_chat_model
    from rag.settings import Settings

    llm = make_chat_model(Settings())
    assert isinstance(llm, LlamaCppChat)
    llm.state_dir = tmp_path_factory.mktemp("prompt-states")
    return llm


PREFIX = [SystemMessage("You answer questions about news articles using only the evidence given. "
                        "End each sentence with its evidence number, like [1].")]
QUESTION = HumanMessage('Evidence:\n"Umerov in Paris" (Kyiv Post, 30 May 2024)\n'
                        "[1] Umerov asked France for more air defence systems.\n\nQuestion: What did Umerov request?")


def _answer(llm: LlamaCppChat) -> str:
    return "".join(chunk.content for chunk in llm.stream([*PREFIX, QUESTION], max_tokens=24))


def _count_completions(llm: LlamaCppChat, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = llm.client.create_chat_completion

    def counting(**kwargs: Any) -> Any:
        calls.append(1)
        return real(**kwargs)

    monkeypatch.setattr(llm.client, "create_chat_completion", counting)
    return calls


@pytest.mark.model
@pytest.mark.slow
def test_real_model_streams_an_answer_from_its_evidence(real_llm: LlamaCppChat) -> None:
    pieces = [chunk.content for chunk in real_llm.stream([*PREFIX, QUESTION], max_tokens=24)]
    assert len([p for p in pieces if p]) > 2, "the answer should arrive in several pieces"
    assert "air defence" in "".join(pieces)


@pytest.mark.model
@pytest.mark.slow
def test_real_model_loads_plain_weights_by_default_and_repacked_on_request(real_llm: LlamaCppChat) -> None:
    assert real_llm.client.model_params.use_extra_bufts is False
    repacked = LlamaCppChat(model_path=real_llm.model_path, n_threads=real_llm.n_threads, repack=True)
    assert repacked.client.model_params.use_extra_bufts is True
    assert "air defence" in _answer(repacked)


@pytest.mark.model
@pytest.mark.slow
def test_primed_prompt_state_is_saved_then_loaded_instead_of_read_again(real_llm: LlamaCppChat,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real_llm.client.reset()
    real_llm.prime(PREFIX)
    path = real_llm.state_path(PREFIX)
    assert path is not None and path.is_file()
    fresh = _answer(real_llm)
    real_llm.client.reset()  # as a new process: nothing in the KV cache
    calls = _count_completions(real_llm, monkeypatch)
    real_llm.prime(PREFIX)
    assert calls == [], "the saved state should have been loaded, not the prompt read again"
    assert real_llm.client.n_tokens > 0
    assert _answer(real_llm) == fresh, "an answer after a loaded state must equal one after reading the prompt"
    assert not [p for p in path.parent.iterdir() if ".tmp-" in p.name]


@pytest.mark.model
@pytest.mark.slow
def test_loading_a_prompt_state_leaves_the_logits_buffer_in_place_and_unread(real_llm: LlamaCppChat) -> None:
    real_llm.client.reset()
    real_llm.prime(PREFIX)
    fresh = _answer(real_llm)
    logits = real_llm.client.scores
    logits[-1, :8] = 7.0  # a row nothing should touch while a state loads (llama-cpp-python would zero it)
    real_llm.client.reset()
    real_llm.prime(PREFIX)
    assert real_llm.client.scores is logits, "the model's own logits buffer must be put back"
    assert (logits[-1, :8] == 7.0).all(), "the unused rows were read and rewritten (0.3 s of page faults)"
    assert _answer(real_llm) == fresh


@pytest.mark.model
@pytest.mark.slow
def test_a_changed_prefix_or_a_damaged_state_file_is_recomputed(real_llm: LlamaCppChat,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real_llm.prime(PREFIX)
    path = real_llm.state_path(PREFIX)
    other = [SystemMessage(PREFIX[0].content + " Be brief.")]
    assert real_llm.state_path(other) != path, "another prompt must not reuse this state"
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    real_llm.client.reset()
    calls = _count_completions(real_llm, monkeypatch)
    real_llm.prime(PREFIX)
    assert calls == [1], "a damaged state file must be ignored and the prompt read again"
    assert path.stat().st_size > 1000, "and the state written again"
    path.write_bytes(b"garbage")
    real_llm.client.reset()
    real_llm.prime(PREFIX)
    assert len(calls) == 2 and path.read_bytes()[:8] != b"garbage"
    assert "air defence" in _answer(real_llm)
