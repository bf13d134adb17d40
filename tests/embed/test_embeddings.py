"""The embedding backends: the int8 ONNX path agrees with the PyTorch reference and is exported once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.embed.embeddings import Embedder, bundled_model_path
from rag.embed.onnx_export import export_int8, load_int8_model
from rag.errors import ModelError
from rag.ingest.chunking import sentence_spans
from rag.settings import Settings

from ..factories import CORPUS


def _real_sentences() -> list[str]:
    text = (CORPUS / "french-instructors-ukraine.md").read_text()
    return [text[s:e] for s, e in sentence_spans(text) if e - s > 30][:40]


@pytest.fixture(scope="module")
def torch_and_onnx() -> tuple[Embedder, Embedder]:
    return Embedder(Settings(embedding_backend="torch")), Embedder(Settings(embedding_backend="onnx-int8"))


@pytest.mark.model
def test_int8_onnx_vectors_agree_with_torch_on_real_sentences(torch_and_onnx: tuple[Embedder, Embedder]) -> None:
    reference, fast = torch_and_onnx
    sentences = _real_sentences()
    a = np.asarray(reference.embed_documents(sentences))
    b = np.asarray(fast.embed_documents(sentences))
    cosines = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    # int8 weights move each vector a little; on average it must stay within 1% of the fp32 direction
    assert cosines.mean() > 0.99, f"mean cosine {cosines.mean():.4f}"
    assert cosines.min() > 0.98, f"worst sentence cosine {cosines.min():.4f}"


@pytest.mark.model
def test_int8_onnx_ranks_passages_for_a_question_like_torch(torch_and_onnx: tuple[Embedder, Embedder]) -> None:
    reference, fast = torch_and_onnx
    sentences = _real_sentences()
    question = "What did Umerov request?"
    ranks = []
    for embedder in (reference, fast):
        scores = np.asarray(embedder.embed_documents(sentences)) @ np.asarray(embedder.embed_query(question))
        ranks.append(list(np.argsort(-scores)[:3]))
    assert ranks[0][0] == ranks[1][0]


@pytest.mark.model
def test_int8_onnx_vectors_are_unit_length_and_keep_input_order(torch_and_onnx: tuple[Embedder, Embedder]) -> None:
    _, fast = torch_and_onnx
    texts = ["short", "a much longer sentence about French military instructors in Ukraine", "mid length text"]
    together = np.asarray(fast.embed_documents(texts))
    one_by_one = np.asarray([fast.embed_query(t) for t in texts])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert list((together @ one_by_one.T).argmax(axis=1)) == [0, 1, 2]
    assert fast.embed_documents([]) == []


# The index's promise: a text's vector depends on the text alone, never on what it is embedded with.
# One machine runs one int8 kernel, so the vectors are identical; the tolerance only absorbs float
# printing. (Another CPU, AVX2 instead of VNNI, gives vectors within the torch tolerance above.)
BATCH_TOLERANCE = 1e-6


@pytest.mark.model
def test_int8_onnx_vector_of_a_text_does_not_depend_on_its_batch(torch_and_onnx: tuple[Embedder, Embedder]) -> None:
    _, fast = torch_and_onnx
    sentences = _real_sentences()
    probe = "short"
    alone = np.asarray(fast.embed_query(probe))
    for batch in ([probe, *sentences[:5]], [*sentences[10:40], probe], [probe, "mid length text"]):
        vectors = np.asarray(fast.embed_documents(batch))
        assert np.abs(vectors[batch.index(probe)] - alone).max() <= BATCH_TOLERANCE
    # every text of a long batch equals itself embedded alone
    batch = np.asarray(fast.embed_documents(sentences))
    singles = np.asarray([fast.embed_documents([s])[0] for s in sentences])
    assert np.abs(batch - singles).max() <= BATCH_TOLERANCE


@pytest.mark.model
def test_the_export_happens_once_and_leaves_no_temporary_files() -> None:
    cache = Settings().model_cache
    path = export_int8(bundled_model_path(), cache)
    mtime = path.stat().st_mtime_ns
    assert export_int8(bundled_model_path(), cache) == path
    assert path.stat().st_mtime_ns == mtime
    assert not [p for p in path.parent.iterdir() if ".tmp-" in p.name]
    assert load_int8_model(bundled_model_path(), cache) is load_int8_model(bundled_model_path(), cache)


def test_a_folder_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError, match="RAG_EMBEDDING_BACKEND=torch"):
        export_int8(tmp_path, tmp_path / "cache")


@pytest.mark.model
def test_passage_vectors_blend_each_title_embedded_once(torch_and_onnx: tuple[Embedder, Embedder],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, fast = torch_and_onnx
    texts = ["Umerov asked for ammunition and air defence.", "French instructors may arrive in Ukraine.",
             "Fico said he saw a NATO document."]
    titles = ["Ukraine asks allies for weapons", "Ukraine asks allies for weapons", "Slovakia and NATO"]
    encoded: list[list[str]] = []
    real = fast._encode_array
    monkeypatch.setattr(fast, "_encode_array", lambda batch: encoded.append(list(batch)) or real(batch))
    fast._titles.clear()
    vectors = np.asarray(fast.embed_passages(texts, titles))
    assert sorted(t for batch in encoded for t in batch if t in titles) == sorted(set(titles)), \
        "each distinct title is embedded once, not with every passage"
    w = fast.settings.tuning.title_weight
    p, t = np.asarray(fast.embed_documents(texts)), np.asarray(fast.embed_documents(titles))
    expected = (p + w * t) / np.linalg.norm(p + w * t, axis=1, keepdims=True)
    assert np.abs(vectors - expected).max() <= BATCH_TOLERANCE
    # the title's cached vector is the same vector: a passage embedded later, alone, matches
    alone = np.asarray(fast.embed_passages([texts[2]], [titles[2]]))[0]
    assert np.abs(alone - vectors[2]).max() <= BATCH_TOLERANCE


@pytest.mark.model
def test_passages_without_titles_or_with_weight_zero_are_their_plain_vectors() -> None:
    embedder = Embedder(Settings(embedding_backend="onnx-int8").tuned(title_weight=0.0))
    texts = ["Umerov asked for ammunition.", "French instructors may arrive."]
    plain = np.asarray(embedder.embed_documents(texts))
    assert np.abs(np.asarray(embedder.embed_passages(texts, ["A title", "Another"])) - plain).max() <= BATCH_TOLERANCE
    titled = Embedder(Settings(embedding_backend="onnx-int8"))
    assert np.abs(np.asarray(titled.embed_passages(texts, ["", ""])) - plain).max() <= BATCH_TOLERANCE
    assert titled.embed_passages([], []) == []
    with pytest.raises(ValueError):
        titled.embed_passages(texts, ["one title"])


def test_the_model_fingerprint_is_remembered_until_a_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.embed import onnx_export

    model, cache = tmp_path / "model", tmp_path / "cache"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 4}')
    (model / "model.safetensors").write_bytes(b"weights" * 1000)
    first = onnx_export._fingerprint(model, cache)
    assert (cache / "onnx" / "fingerprints.json").is_file()

    hashed: list[Path] = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: (hashed.append(self), real_open(self, *a, **k))[1])
    assert onnx_export._fingerprint(model, cache) == first
    assert not [p for p in hashed if model in p.parents], "an unchanged model is not read again"

    (model / "model.safetensors").write_bytes(b"other weights" * 1000)  # new size and mtime
    second = onnx_export._fingerprint(model, cache)
    assert second != first and model / "model.safetensors" in hashed
    assert second == onnx_export._fingerprint(model, None)  # the memo only saves time, never changes the answer
    (cache / "onnx" / "fingerprints.json").write_text("not json")  # a damaged memo: hash again, no error
    assert onnx_export._fingerprint(model, cache) == second
