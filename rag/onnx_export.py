"""The fast embedding path: the bundled sentence-transformers model exported to ONNX, int8, on onnxruntime.

`load_int8_model(model_path, cache_dir)` returns an encoder with the `.encode(...)` signature of
`SentenceTransformer.encode` that `rag/embeddings.py` calls. The first call exports the model once,
locally, into `cache_dir/onnx/<model>-<fingerprint>/`:
1. `torch.onnx.export` of the transformer (last hidden state; dynamic batch and sequence axes);
2. `quantize_dynamic`: int8 weights of every MatMul, one scale per output channel. Per-tensor
   scales lose too much on MiniLM (cosine to fp32 ~0.94 against ~0.99 per channel), and on CPUs
   without VNNI the u8*s8 kernels saturate, which per-channel scales also keep in check.
   The graph is quantised as exported, before onnxruntime's BERT fusions: fusing first hides the
   Q/K/V projections inside a float `Attention` op, which then stays fp32. Quantising first leaves all
   six MatMuls per layer int8 and onnxruntime still fuses the rest (LayerNorm, GELU, MatMul+scale)
   when the session loads: 98 against 83 passages/s on this 2-core AVX2 machine (SciFact passages).
Each step writes a temporary file and the result is moved into place with `os.replace`, under a file
lock, so concurrent first runs export once and a crash never leaves a half-written model.

`optimum` would do the export, but `optimum-onnx` pins transformers<4.58 and this project runs
transformers 5.x; the export is a dozen lines, so it is here.

Encoding: the `tokenizers` fast tokenizer of the model folder (same ids as sentence-transformers),
texts sorted by token length so a batch carries little padding, mean pooling over the attention
mask and L2 normalisation in numpy: the model's own `1_Pooling` (mean) and `2_Normalize` modules.
This module does not download anything and does not support models other than BERT-style encoders
with mean pooling (the bundled MiniLM and its relatives); `embedding_backend="torch"` serves the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

__all__ = ["load_int8_model", "export_int8", "OnnxEncoder", "EXPORT_VERSION"]

EXPORT_VERSION = "2"  # bump when the export recipe changes, so old caches are not reused
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_lock = threading.Lock()
_loaded: dict[tuple[str, str], OnnxEncoder] = {}


def _fingerprint(model_path: Path) -> str:
    import onnxruntime

    digest = hashlib.sha256(f"{EXPORT_VERSION}\x00{onnxruntime.__version__}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "1_Pooling/config.json"):
        path = model_path / name
        if path.is_file():
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def _pooling_is_mean(model_path: Path) -> bool:
    try:
        config = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return True  # a bare transformer folder: sentence-transformers defaults to mean pooling
    return bool(config.get("pooling_mode_mean_tokens", True)) and not any(
        config.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"))


def _max_seq_length(model_path: Path) -> int:
    try:
        return int(json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def _export_fp32(model_path: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Eager attention exports as plain MatMul/Softmax, which onnxruntime fuses into its Attention op;
    # the SDPA export does not fuse.
    model = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager").eval()

    class _LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    example = torch.ones(2, 16, dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "last_hidden_state")}
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches: expected
        # The TorchScript exporter (dynamo=False) handles BERT's dynamic axes in one call and offline.
        torch.onnx.export(_LastHidden(model), (example, example, torch.zeros_like(example)), str(target),
                          input_names=list(_INPUTS), output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, do_constant_folding=True, dynamo=False)


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"],
                     # tensors whose type shape inference cannot settle are float activations
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export_int8(model_path: Path | str, cache_dir: Path | str) -> Path:
    """The int8 ONNX file for `model_path`, exported on first use (atomic, once per fingerprint)."""
    from filelock import FileLock

    model_path = Path(model_path)
    if not (model_path / "config.json").is_file():
        raise ModelError(f"{model_path} is not a transformers model folder (no config.json); "
                         "set RAG_EMBEDDING_MODEL to a sentence-transformers folder or RAG_EMBEDDING_BACKEND=torch.")
    folder = Path(cache_dir) / "onnx" / f"{model_path.name}-{_fingerprint(model_path)}"
    final = folder / "model-int8.onnx"
    if final.is_file():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".export.lock")):
        if final.is_file():  # another process finished the export while we waited
            return final
        tag = f"tmp-{os.getpid()}-{threading.get_ident()}"
        fp32, int8 = (folder / f"{name}.{tag}.onnx" for name in ("fp32", "int8"))
        try:
            _export_fp32(model_path, fp32)
            _quantize(fp32, int8)
            os.replace(int8, final)
        except Exception as err:  # torch / onnx raise many types; the user needs one clear message
            raise ModelError(f"Could not export {model_path} to ONNX ({err.__class__.__name__}: {err}); "
                             "use RAG_EMBEDDING_BACKEND=torch.") from err
        finally:
            for tmp in (fp32, int8, folder / f"fp32.{tag}.onnx.data"):
                tmp.unlink(missing_ok=True)
    return final


class OnnxEncoder:
    """`SentenceTransformer.encode` look-alike over an ONNX file, for mean-pooled BERT encoders."""

    def __init__(self, onnx_path: Path, model_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        # Idle worker threads would otherwise spin for their next job: on a shared CPU (a server that
        # also runs the LLM) that steals cycles and made single-query embedding several times slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self.session.get_inputs()}
        self.max_seq_length = _max_seq_length(model_path)
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        # tokenizer.json ships fixed 128-token padding; sentence-transformers pads to the batch and cuts at 256.
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        self.dimension = int(json.loads((model_path / "config.json").read_text())["hidden_size"])

    def _run(self, encodings: Sequence[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, :len(enc.ids)] = enc.ids
            mask[row, :len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def encode(self, sentences: str | Sequence[str], batch_size: int = 64, normalize_embeddings: bool = True,
               convert_to_numpy: bool = True, show_progress_bar: bool = False, **_: Any) -> np.ndarray:
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if texts:
            encodings = self.tokenizer.encode_batch(texts)
            # Longest first, batched by length: padding is what a transformer wastes most time on.
            order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                out[rows] = self._run([encodings[i] for i in rows])
            if normalize_embeddings:
                out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out


def load_int8_model(model_path: Path | str, cache_dir: Path | str) -> OnnxEncoder:
    """The int8 encoder for `model_path`, exporting it into `cache_dir` on first use; one per process."""
    model_path = Path(model_path)
    if not _pooling_is_mean(model_path):
        raise ModelError(f"{model_path} does not use mean pooling; the onnx-int8 backend only supports "
                         "mean-pooled encoders. Set RAG_EMBEDDING_BACKEND=torch.")
    key = (str(model_path.resolve()), str(Path(cache_dir).resolve()))
    with _lock:
        if key not in _loaded:
            _loaded[key] = OnnxEncoder(export_int8(model_path, cache_dir), model_path)
        return _loaded[key]
