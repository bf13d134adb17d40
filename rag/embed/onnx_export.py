"""The fast embedding path: the bundled sentence-transformers model exported to ONNX, int8, on onnxruntime.

`load_int8_model(model_path, cache_dir)` returns an encoder with the `.encode(...)` signature of
`SentenceTransformer.encode` that `rag/embed/embeddings.py` calls. The first call exports the model once,
locally, into `cache_dir/onnx/<model>-<fingerprint>/`:
1. `torch.onnx.export` of the transformer (last hidden state; dynamic batch and sequence axes);
2. `quantize_dynamic`: int8 weights of every MatMul, one scale per output channel. Per-tensor
   scales lose too much on MiniLM (cosine to fp32 ~0.94 against ~0.99 per channel), and on CPUs
   without VNNI the u8*s8 kernels saturate, which per-channel scales also keep in check.
   The graph is quantised as exported, before onnxruntime's BERT fusions: fusing first hides the
   Q/K/V projections inside a float `Attention` op, which then stays fp32. Quantising first leaves all
   six MatMuls per layer int8 and onnxruntime still fuses the rest (LayerNorm, GELU, MatMul+scale)
   when the session loads: 98 against 83 passages/s on this 2-core AVX2 machine (SciFact passages).
   One MatMul stays fp32 (`_fp32_matmuls`: the first feed-forward down-projection), for accuracy.
Each step writes a temporary file and the result is moved into place with `os.replace`, under a file
lock, so concurrent first runs export once and a crash never leaves a half-written model.

`optimum` would do the export, but `optimum-onnx` pins transformers<4.58 and this project runs
transformers 5.x; the export is a dozen lines, so it is here.

Encoding: the `tokenizers` fast tokenizer of the model folder (same ids as sentence-transformers),
then one ONNX run per text, never a padded batch, with mean pooling over the tokens and L2
normalisation in numpy (the model's own `1_Pooling` (mean) and `2_Normalize` modules). Why one text
per run: dynamic int8 quantisation picks one activation scale per tensor, i.e. over the whole batch,
padding rows included, so in a batch a text's vector moved with its batch-mates (cosine 0.980 to the
same text alone on an AVX-512 VNNI CPU). Run alone, a text's vector depends on the text only: the
index promises that the same text gives the same vector whatever it is embedded with (bit-identical
on one machine; `tests/embed/test_embeddings.py`). It is also faster: no padding, and with one
single-threaded session run per CPU in parallel the cores never wait for each other (SciFact
passages on this 2-core VNNI machine: 109/s batched by 64, 174/s one text per run on two threads).
Across CPUs the int8 kernels differ (VNNI vs AVX2), so vectors agree to the fp32 reference within the
stated tolerance (mean cosine > 0.99) rather than bit for bit.
This module does not download anything and does not support models other than BERT-style encoders
with mean pooling (the bundled MiniLM and its relatives); `embedding_backend="torch"` serves the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from rag.errors import ModelError
from rag.files import file_identity  # the GGUF's verified-stamp check (rag.llm.models) uses the same identity

__all__ = ["load_int8_model", "export_int8", "model_dimension", "OnnxEncoder", "EXPORT_VERSION"]

EXPORT_VERSION = "3"  # bump when the export recipe changes, so old caches are not reused
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_lock = threading.Lock()
_loaded: dict[tuple[str, str], OnnxEncoder] = {}


_FINGERPRINTED = ("config.json", "model.safetensors", "pytorch_model.bin", "1_Pooling/config.json")


def _fingerprint(model_path: Path, cache_dir: Path | None = None) -> str:
    """Content hash of the model files the export depends on (with the recipe and onnxruntime version).

    Hashing the 90 MB of weights took ~0.14 s of every process that embeds (every `rag ask`), so the
    result is remembered in `cache_dir/onnx/fingerprints.json` next to each file's size, mtime, ctime
    and inode (`_remembered_fingerprint`); any change to a file changes one of those and it is hashed again.
    """
    import onnxruntime


    memo = Path(cache_dir) / "onnx" / "fingerprints.json" if cache_dir is not None else None
    files = [model_path / name for name in _FINGERPRINTED if (model_path / name).is_file()]
    identity = {"recipe": EXPORT_VERSION, "onnxruntime": onnxruntime.__version__,
                "files": {str(path.resolve()): file_identity(path) for path in files}}
    known = _remembered_fingerprint(memo, identity) if memo is not None else None
    if known:
        return known
    digest = hashlib.sha256(f"{EXPORT_VERSION}\x00{onnxruntime.__version__}".encode())
    for path in files:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    fingerprint = digest.hexdigest()[:16]
    if memo is not None:
        _remember_fingerprint(memo, identity, fingerprint)
    return fingerprint


def _remembered_fingerprint(memo: Path, identity: dict[str, Any]) -> str | None:
    """The fingerprint recorded for exactly these files (same size, mtime, ctime, inode), if any."""
    try:
        for record in json.loads(memo.read_text(encoding="utf-8")):
            if isinstance(record, dict) and record.get("identity") == identity:
                return str(record["fingerprint"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return None


def _remember_fingerprint(memo: Path, identity: dict[str, Any], fingerprint: str) -> None:
    try:
        records = json.loads(memo.read_text(encoding="utf-8"))
        records = [r for r in records if set(r["identity"]["files"]) != set(identity["files"])]  # same model: replaced
    except (OSError, ValueError, TypeError, KeyError):
        records = []
    records = [*records[-7:], {"identity": identity, "fingerprint": fingerprint}]  # a few models at most
    tmp = memo.with_name(f"{memo.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(records), encoding="utf-8")
        os.replace(tmp, memo)
    except OSError:  # a read-only cache still works: the files are hashed in every process
        tmp.unlink(missing_ok=True)


def _pooling_is_mean(model_path: Path) -> bool:
    try:
        config = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return True  # a bare transformer folder: sentence-transformers defaults to mean pooling
    return bool(config.get("pooling_mode_mean_tokens", True)) and not any(
        config.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"))


def model_dimension(model_path: Path) -> int:
    """Length of the model's vectors (its hidden size: mean pooling keeps it)."""
    return int(json.loads((model_path / "config.json").read_text())["hidden_size"])


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


def _fp32_matmuls(model: Any) -> list[str]:
    """MatMuls left in fp32: the first layer's feed-forward down-projection.

    Its input is the GELU output of the first layer, whose long tail takes most of a per-tensor
    activation scale; quantised, a short sentence alone loses the most there (worst cosine to fp32
    over 40 news sentences, one text per run, VNNI: 0.9795 all-int8, 0.9857 with this one MatMul in
    fp32, for ~9% of the speed; both layer-0 FFN MatMuls: 0.9902 for ~17%).
    """
    down = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name.endswith("/output/dense/MatMul")
            and "attention" not in n.name]
    return down[:1]  # graph order is layer order


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = _fp32_matmuls(onnx.load(str(source), load_external_data=False))
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=keep,
                     # tensors whose type shape inference cannot settle are float activations
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export_int8(model_path: Path | str, cache_dir: Path | str) -> Path:
    """The int8 ONNX file for `model_path`, exported on first use (atomic, once per fingerprint)."""
    from filelock import FileLock

    model_path = Path(model_path)
    if not (model_path / "config.json").is_file():
        raise ModelError(f"{model_path} is not a transformers model folder (no config.json); "
                         "set RAG_EMBEDDING_MODEL to a sentence-transformers folder or RAG_EMBEDDING_BACKEND=torch.")
    folder = Path(cache_dir) / "onnx" / f"{model_path.name}-{_fingerprint(model_path, Path(cache_dir))}"
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
    """`SentenceTransformer.encode` look-alike over an ONNX file, for mean-pooled BERT encoders.

    Each text is one session run (batch of one, no padding), spread over `threads` workers that
    each run single-threaded: the vector of a text never depends on the texts around it.
    """

    def __init__(self, onnx_path: Path, model_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.threads = threads or os.cpu_count() or 1
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Parallel across texts, not inside one: a single text's matrices are too small to split
        # well over cores, and one thread per run means no worker ever spins waiting for another.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self.session.get_inputs()}
        self.max_seq_length = _max_seq_length(model_path)
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        # tokenizer.json ships fixed 128-token padding; sentence-transformers cuts at 256 and pads nothing here.
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        self.dimension = model_dimension(model_path)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _run(self, encoding: Any) -> np.ndarray:
        """Mean-pooled hidden state of one text (one run, no padding, so every token counts)."""
        import numpy as np

        ids = np.asarray([encoding.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]
        return hidden[0].mean(axis=0)

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-embed")
            return self._pool

    def encode(self, sentences: str | Sequence[str], batch_size: int = 64, normalize_embeddings: bool = True,
               convert_to_numpy: bool = True, show_progress_bar: bool = False, **_: Any) -> np.ndarray:
        """Vectors of `sentences`, in their order. `batch_size` is accepted for compatibility and unused."""
        # numpy on use, not on import: `rag index` reads EXPORT_VERSION from here for an unchanged corpus.
        import numpy as np

        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if texts:
            encodings = self.tokenizer.encode_batch(texts)
            if len(texts) == 1 or self.threads == 1:
                for i, enc in enumerate(encodings):
                    out[i] = self._run(enc)
            else:
                # Longest first, so the last jobs are short and no worker idles at the end.
                order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
                for i, vector in zip(order, self._workers().map(lambda i: self._run(encodings[i]), order)):
                    out[i] = vector
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
