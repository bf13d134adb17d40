"""One typed settings object: every default in one place, each overridable by a `RAG_*` variable.

`Settings()` reads the environment (and a `.env` file in the current folder, if any); code that
needs a different configuration builds one explicitly, e.g. `Settings(data_dir=tmp)`, instead of
mutating globals. docs/SETTINGS.md is generated from the field descriptions (`python -m rag.settings`).

Two groups, in the manner of PaperQA2's per-stage settings:
- the top-level fields are what a user sets: folders, the collection, model and server addresses,
  the web page, limits, and the few answer knobs a user would turn (`RAG_TOP_K`, `RAG_EVIDENCE_CHARS`);
- `Settings.tuning` (`Tuning`) holds the knobs no user needs: fusion constants, batch sizes, HNSW effort,
  the thresholds of the checks. Each keeps the reason for its default, and the measurement that set it
  where there is one, in a comment. A study sets them as `RAG_TUNING__RRF_K=30`, or in code with
  `settings.tuned(rrf_k=30)` (a validated copy changing only the named knobs) or
  `Settings(tuning=Tuning(rrf_k=30))` (the whole group, the rest at their defaults).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "Tuning", "settings_markdown", "DEFAULT_DATA_DIR", "DEFAULT_MODEL_CACHE",
           "DEFAULT_EVAL_INDEX_DIR"]

DEFAULT_DATA_DIR = Path(".rag")
DEFAULT_MODEL_CACHE = Path(platformdirs.user_cache_dir("rag-news")) / "models"
# `rag eval` keeps one index per evaluation corpus and index-shaping settings here (never in data_dir).
DEFAULT_EVAL_INDEX_DIR = Path(platformdirs.user_cache_dir("rag-news")) / "eval-index"


class Tuning(BaseModel):
    """Knobs for tuning studies. Environment variable = `RAG_TUNING__` + field name in capitals."""

    # A misspelt knob in a study would otherwise be measured as its default.
    model_config = ConfigDict(extra="forbid")

    # --- the index ---
    # 512 / 1,024 indexed 1,000 SciFact abstracts no faster (26.0-26.1 / 25.8-26.1 s vs 25.7-26.7 s at 256;
    # Xeon-AMX, 25 Nov; docs/BENCHMARKS.md), and a smaller step loses less to a kill.
    index_batch_size: int = Field(256, ge=1, description="Passages embedded and written per step of `rag index` (one progress step; a kill loses at most one).")
    # HNSW effort, from bench/dense_recall.py (recall@100 against exact search after a heavy
    # add/delete sequence on SciFact; docs/BENCHMARKS.md). Chroma's defaults (100/100/16) lose
    # neighbours once many passages have been deleted and re-added: recall@100 0.9999 vs 0.9631, for
    # 1.6 vs 0.7 ms per query.
    hnsw_search_ef: int = Field(400, ge=10, description="HNSW candidates explored per query (Chroma `ef_search`; changeable later).")
    hnsw_construction_ef: int = Field(200, ge=10, description="HNSW candidates explored when inserting (`ef_construction`; fixed at creation).")
    hnsw_m: int = Field(32, ge=4, description="HNSW links per node (`max_neighbors`, M; fixed at creation).")
    # Syndicated copies and light rewrites of one wire story share about 0.6-0.9 of their word
    # 3-shingles; different stories on one topic share under 0.1 (rag/index/dedup.py, tests/index/test_dedup.py).
    near_duplicate_threshold: float = Field(0.5, ge=0, le=1, description="Articles whose word-shingle Jaccard similarity (MinHash) is at least this are one story; 0 turns grouping off.")

    # --- embeddings and chunking ---
    embedding_batch_size: int = Field(64, ge=1, description="Passages embedded per model call (`torch` backend; `onnx-int8` embeds one text per call, so a text's vector never depends on its batch-mates).")
    # Chroma's upsert holds the GIL, so embedding threads cannot overlap it; worker processes can.
    # Starting them costs ~0.6 s of CPU each, hidden only behind ~1,000 passages of writes (rag/embed/embedding_workers.py).
    embedding_process_min: int = Field(1000, ge=0, description="`rag index` embeds a write of at least this many passages in worker processes (onnx-int8) while Chroma stores the previous batches; 0 never does.")
    # Each article's title is embedded once and blended into its passages' vectors instead of being
    # embedded again with every passage. 0.4: the one weight within 0.005 hybrid nDCG@10 of "title\ntext"
    # on both the 1,500-abstract SciFact slice (0.8241 vs 0.8271) and the full corpus (0.7203 vs 0.7250;
    # 0.2, best on the slice alone, fell 0.0083 short at full scale); docs/BENCHMARKS.md, issue 12.
    title_weight: float = Field(0.4, ge=0, description="Share of the title in a passage's vector: normalize(passage + w * title); 0 leaves titles out.")
    # Passages end at sentence boundaries, so no sentence is ever cut; repeating one costs ~25% more
    # embedding work for no measured retrieval gain (nDCG@10 0.8355 vs 0.8403, +27 % passages;
    # EPYC-AVX2, 25 Nov; docs/BENCHMARKS.md).
    chunk_overlap: int = Field(0, ge=0, le=3, description="Sentences repeated at the start of the next passage.")

    # --- retrieval ---
    # Plain RRF: rrf_k 20 / 100, weights 1.5 : 1 either way and depth 50 / 200 all scored within 0.005
    # nDCG@10 of k 60, 1:1, depth 100 (bench/retrieval_quality.py, 184 SciFact claims; EPYC-AVX2, 25 Nov).
    retrieval_depth: int = Field(100, ge=1, description="Candidates taken from each retriever before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    bm25_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in the fusion.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense (MiniLM) ranking in the fusion.")
    # Passages of one article are different parts of its story, not copies (copies are always skipped):
    # 1 gives k distinct stories; no limit lets the one article that answers fill the places.
    passages_per_story: int | None = Field(None, ge=1, description="Most passages one story may hold among the top_k, always from one article of it (default: no limit).")
    # A file of 500 near-identical passages, or ten copies of one story, would otherwise fill a
    # retriever's whole candidate list and push every other article out before fusion.
    candidates_per_story: int = Field(5, ge=1, description="Most candidates one story (near-duplicate group) may hold in each retriever's list.")
    # "The latest on X": passages about as relevant as the best one are ordered by date; the rest keep their rank.
    recent_relevance_ratio: float = Field(0.6, gt=0, le=1, description="With prefer_recent: passages whose fused score is at least this share of the best are put newest first.")
    min_relevance: float = Field(0.15, description="Refuse without asking the LLM when the best dense cosine similarity is below this.")

    # --- answers: evidence and verification (rag/answer/evidence.py, rag/answer/verification.py) ---
    explain_evidence_chars: int = Field(1800, ge=100, le=8000, description="Characters of evidence read for \"why\"/\"how\"/multi-part questions, which are answered in three to five sentences.")
    evidence_lexical_weight: float = Field(0.3, ge=0, description="Weight of the share of question words in a sentence's relevance, beside its cosine.")
    summary_chars: int = Field(1400, ge=200, le=8000, description="Characters of an article's lead sentences read for a summary.")
    # 0.45 / 0.5 / 0.55 / 0.65 scored refusal accuracy 0.33 / 0.40 / 0.60 / 0.87 vs 0.80 at 0.6, answer
    # accuracy no better (0.534 / 0.534 / 0.534 / 0.500 vs 0.534; news dev, Xeon-AMX, 25 Nov).
    min_support_similarity: float = Field(0.6, ge=0, le=1, description="A sentence of the answer is kept only if its cosine to a sentence (or two adjacent ones) of a cited passage reaches this.")
    # Reading each sentence alone kept 8 of 27 answers to unanswerable questions vs 5 of 27, and 69 vs
    # 71 of 71 right-answer sentences (AUC 0.952 vs 0.971; news dev, Xeon-AMX, 25 Nov).
    verify_with_question: bool = Field(True, description="The meaning check reads each answer sentence after the question it answers (\"Where was the speech? The speech took place in the Oval Office.\"); off: only fragments of under 6 words are.")

    # --- the local model (llama.cpp) ---
    llm_threads_batch: int | None = Field(None, ge=1, description="Local model: CPU threads reading the prompt; default: llm_threads.")
    llm_batch: int = Field(512, ge=8, description="Local model: prompt tokens evaluated per batch.")
    # No faster: first token 2.05 / 1.86 s vs 1.99 / 1.83 s without it (Xeon-AMX, 25 Nov; docs/BENCHMARKS.md).
    llm_flash_attn: bool = Field(False, description="Local model: llama.cpp flash attention.")
    # Off by default: on the 2-core AVX-512 machine, repacked weights loaded 0.4 s slower and read prompts ~25% slower (docs/BENCHMARKS.md).
    llm_repack: bool = Field(False, description="Local model: let llama.cpp repack the weights into its interleaved CPU layout at load.")
    llm_background_load: bool = Field(True, description="Local model: on the first question, load it in a thread while the embedding model, Chroma and BM25 load.")

    # --- the web page ---
    # A login that fails makes the next attempt for that user name wait (doubling up to the cap), so
    # guessing a password through the page takes hours, not seconds. 0 turns the delay off.
    login_delay: float = Field(1.0, ge=0, description="Seconds the page waits after a failed login; doubles per failure in a row.")
    login_delay_max: float = Field(30.0, ge=0, description="Longest wait between failed logins for one user name.")
    upload_cache_hours: float = Field(24.0, gt=0, description="Uploaded files and downloads in Gradio's cache are deleted after this many hours (checked hourly).")


class Settings(BaseSettings):
    """Configuration of the assistant. Environment variable = `RAG_` + field name in capitals; the tuning
    group's fields are `RAG_TUNING__` + field name in capitals."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore", env_nested_delimiter="__")

    # --- where data lives ---
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Index (Chroma + BM25) and its lock live here.")
    model_cache: Path = Field(DEFAULT_MODEL_CACHE, description="Assembled GGUF and exported ONNX models, shared by every index.")
    corpus_dir: Path = Field(Path("corpus"), description="Folder `make run` indexes.")
    eval_index_dir: Path = Field(DEFAULT_EVAL_INDEX_DIR, description="`rag eval` keeps its evaluation indexes here, one folder per corpus and index-shaping settings, so a re-run costs only the questions.")
    collection: str = Field("articles", description="Chroma collection name.")

    # --- vector store ---
    chroma_url: str | None = Field(None, description="Use a Chroma server (http://host:port) instead of the local store.")
    chroma_token: SecretStr | None = Field(None, description="Bearer token for the Chroma server, if it requires one.")

    # --- embeddings ---
    embedding_model: Path | None = Field(None, description="sentence-transformers folder; default: the bundled all-MiniLM-L6-v2.")
    embedding_backend: Literal["onnx-int8", "torch"] = Field(
        "onnx-int8", description="int8 ONNX Runtime (exported locally on first use; see docs/BENCHMARKS.md), or PyTorch fp32.")

    # --- ingestion and chunking ---
    chunk_size: int = Field(400, ge=100, description="Target passage length in characters (sentence-aligned).")
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are skipped and reported.")

    # --- fetching articles from the web (`rag add URL`, "Add from URL" on the page) ---
    # A page that fetches URLs for its visitors must not become a way into the machine it runs on.
    fetch_allow_private: bool = Field(False, description="Allow fetching from loopback, link-local, private and reserved addresses.")
    fetch_timeout: float = Field(20.0, gt=0, description="Seconds one URL may take in all (name lookup, connecting, headers, every redirect, the body); a feed's articles share 3x this in all.")
    fetch_max_mb: float = Field(10.0, gt=0, description="Largest page or feed fetched, in MB.")
    fetch_max_redirects: int = Field(5, ge=0, description="Redirects followed per URL.")
    fetch_max_feed_entries: int = Field(20, ge=1, description="Articles fetched from one feed URL (its newest entries first).")

    # --- retrieval and answers ---
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = Field("hybrid", description="Which retrievers propose passages.")
    top_k: int = Field(6, ge=1, le=20, description="Passages retrieved per question; their most relevant sentences become the evidence.")
    # 1800 (issue 21's curve, 5 Dec, EPYC-512): news dev third accuracy 0.815 vs 0.741 at 900, check third 0.630 vs
    # 0.611, accepted answer in the evidence 0.944 vs 0.870 (dev); first token p50 2.14 vs 1.39 s, inside the 2.5 s goal.
    # Its cost: a cold `rag ask` p50 5.17 vs 4.37 s (bench.cold_start), over the 5 s goal; 900 is the setting for that.
    evidence_chars: int = Field(1800, ge=100, le=6000, description="Characters of selected sentences the model reads per question: more finds the answering sentence more often, and costs about 0.4 s of first token per 500 characters.")
    verify_names: bool = Field(True, description="Remove answer sentences whose names, numbers or dates are not in a cited passage.")
    digest_max_items: int = Field(8, ge=1, le=50, description="Stories listed for \"What happened this week?\"-style questions.")
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are rejected with a message saying so.")

    # --- the language model ---
    llm_backend: Literal["local", "openai", "ollama"] = Field("local", description="Where answers are generated: the bundled GGUF through llama.cpp, an OpenAI-compatible server, or Ollama.")
    llm_model: str = Field("qwen2.5-coder-1.5b", description="Local: a bundled model name or a path to a .gguf. Servers: the model name.")
    llm_base_url: str | None = Field(None, description="OpenAI-compatible or Ollama server URL.")
    llm_api_key: SecretStr | None = Field(None, description="API key for the OpenAI-compatible server.")
    llm_threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, description="Local model: CPU threads generating tokens.")
    llm_context: int = Field(4096, ge=512, description="Local model: context window in tokens (prompt plus answer).")
    llm_max_tokens: int = Field(192, ge=16, description="Longest answer, in tokens.")
    llm_temperature: float = Field(0.0, ge=0, description="Sampling temperature; 0 is greedy, reproducible answers.")
    llm_timeout: float = Field(120.0, gt=0, description="Seconds to wait for a model server.")

    # --- the web page ---
    host: str = Field("127.0.0.1", description="Address `rag serve` listens on.")
    port: int = Field(7860, description="Port of `rag serve`.")
    auth_user: str | None = Field(None, description="With `RAG_AUTH_PASSWORD`: the chat page asks for this user name.")
    auth_password: SecretStr | None = Field(None, description="Password for the chat page (both must be set to turn the login on).")
    max_queue: int = Field(16, ge=1, description="Waiting chats beyond this are told the server is busy.")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest file accepted by the chat page's upload.")

    # --- for tuning studies ---
    tuning: Tuning = Field(default_factory=Tuning, description="Knobs no user needs to turn (fusion constants, batch sizes, HNSW effort, thresholds of the checks).")

    def __init__(self, **values: Any) -> None:
        # `Settings(rrf_k=30)` would otherwise be ignored like any unknown name, and measured as the default.
        misplaced = sorted(set(values) & set(Tuning.model_fields))
        if misplaced:
            raise TypeError(f"{', '.join(misplaced)}: tuning settings; pass them as settings.tuned({misplaced[0]}=...) "
                            f"or Settings(tuning=Tuning({misplaced[0]}=...)).")
        super().__init__(**values)

    @model_validator(mode="after")
    def _warn_of_moved_variables(self) -> Settings:
        # These were top-level settings before; a variable still set under its old name is not read.
        moved = [f"RAG_{name.upper()}" for name in Tuning.model_fields if f"RAG_{name.upper()}" in os.environ]
        if moved:
            warnings.warn(f"{', '.join(moved)} {'is' if len(moved) == 1 else 'are'} no longer read: tuning settings "
                          f"are now RAG_TUNING__<NAME> (e.g. RAG_TUNING__{moved[0][4:]}).")
        return self

    def tuned(self, **changes: Any) -> Settings:
        """A copy with these tuning fields changed, validated: `settings.tuned(rrf_k=30, hnsw_m=16)`."""
        return self.model_copy(update={"tuning": Tuning.model_validate({**self.tuning.model_dump(), **changes})})

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def bm25_dir(self) -> Path:
        return self.data_dir / "bm25"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "index.lock"


def _table(model: type[BaseModel], prefix: str) -> list[str]:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            continue  # a nested group has a table of its own
        default = field.default
        if field.default_factory is not None:
            default = "number of CPU cores" if name == "llm_threads" else field.default_factory()  # type: ignore[call-arg]
        elif default is None:
            default = "unset"
        elif name in ("model_cache", "eval_index_dir"):
            default = str(default).replace(str(Path.home()), "~")
        shown = default if default in ("unset", "number of CPU cores") else f"`{default}`"
        choices = getattr(field.annotation, "__args__", None)
        desc = " ".join((field.description or "").split())
        if choices and all(isinstance(c, str) for c in choices):
            desc += " One of " + ", ".join(f"`{c}`" for c in choices) + "."
        lines.append(f"| `{prefix}{name.upper()}` | {shown} | {desc.replace('|', '/')} |")
    return lines


def settings_markdown() -> str:
    """docs/SETTINGS.md: every setting, its environment variable, default and description, from the fields
    above (a test fails when the file is out of date; `python -m rag.settings > docs/SETTINGS.md` writes it)."""
    lines = ["# Settings", "",
             "Every setting is an environment variable (`RAG_` + the field name in capitals) or a line of a `.env`",
             "file in the current folder. Generated from `rag/settings.py` by `python -m rag.settings`; do not edit.", "",
             *_table(Settings, "RAG_"), "",
             "## Tuning (for studies)", "",
             "Knobs no user needs to turn: fusion constants, batch sizes, HNSW effort, thresholds of the checks.",
             "The reason for a default, and the measurement that set it where there is one, is the comment above",
             "its field in `rag/settings.py`.",
             "Set one as `RAG_TUNING__` + the field name in capitals, or in code as",
             "`Settings(tuning=Tuning(rrf_k=30))` or `settings.tuned(rrf_k=30)`.", "",
             *_table(Tuning, "RAG_TUNING__")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
