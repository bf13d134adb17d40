"""`rag eval`: measure retrieval (BEIR files) and answers (question files) on an evaluation index.

Both runners index the evaluation corpus into an evaluation index of their own (never the user's
`RAG_DATA_DIR`) and then go through the very components the assistant uses:
- retrieval: `HybridRetriever.search` (the assistant's retriever, with its settings); passages are
  mapped back to their documents and each document is ranked by its best passage;
- answers: the full `Assistant.ask` (rewrite of follow-ups, retrieval, LLM, verification, refusal).

The evaluation index is kept between runs, in a folder keyed by the corpus path and the settings that
shape an index (`eval_index_dir`), so a second run costs only the questions: the incremental indexer
skips every unchanged document, re-embeds changed ones and drops deleted ones.

Metrics (hand-written because they are a few lines each and the reference libraries, `pytrec_eval`
and the SQuAD script, are not dependencies):
- nDCG@k with binary or graded gains (`2**rel - 1` numerator, as in BEIR / trec_eval), Recall@k, MRR@k;
- SQuAD exact match and token F1 (lower-case, drop punctuation and articles, collapse spaces), best
  over the accepted answers;
- accuracy: a non-refused answer that contains an accepted answer, both SQuAD-normalised, on word
  boundaries (so a sentence answer is judged by what it says, not by its length);
- citation accuracy, nugget recall (share of expected facts in the answer) and the share of the
  model's sentences that passed verification (from `Answer.sentences`).

This module does not tune anything and does not decide what "good" is; it reports numbers.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import inspect
import json
import math
import re
import string
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import CorpusError, RagError
from rag.text import strip_citations

if TYPE_CHECKING:  # imported where used: `rag --help` builds this module's parsers without pydantic
    from rag.settings import Settings

__all__ = [
    "ndcg_at_k", "recall_at_k", "mrr_at_k", "normalize_answer", "exact_match", "token_f1", "strip_citations",
    "contains_answer", "nugget_share", "corpus_id", "sentence_records", "write_result", "percentile", "load_queries",
    "load_qrels", "load_questions", "select_rows", "rank_documents", "eval_index_key", "eval_settings",
    "evaluate_retrieval", "evaluate_qa", "ask_rows", "QuestionResult", "score_question", "summarise_qa",
    "print_table", "add_eval_parser",
]

# ---------------------------------------------------------------------------------------------- metrics


def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain of a ranked id list against graded relevance."""
    if not relevant:
        return 0.0
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((r for r in relevant.values() if r > 0), reverse=True)[:k]
    idcg = sum((2 ** r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, r in relevant.items() if r > 0}
    if not wanted:
        return 0.0
    return len(wanted & set(ranked[:k])) / len(wanted)


def mrr_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k], start=1):
        if relevant.get(d, 0) > 0:
            return 1.0 / i
    return 0.0


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")


def normalize_answer(text: str) -> str:
    """The SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token F1 over the accepted answers."""
    pred_tokens = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        if not gold or not pred_tokens:
            best = max(best, float(gold == pred_tokens))
            continue
        common = sum((collections.Counter(pred_tokens) & collections.Counter(gold)).values())
        if common:
            precision, recall = common / len(pred_tokens), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _for_containment(text: str) -> str:
    # Possessives go first: "RedNote’s" must still contain "RedNote" (SQuAD's normalisation keeps the
    # curly apostrophe and turns "RedNote's" into one token "rednotes").
    return f" {normalize_answer(_POSSESSIVE.sub('', strip_citations(text)))} "


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """True when `text` contains an accepted answer, both SQuAD-normalised, on word boundaries.

    Word boundaries because a plain substring would find "men" in "women" and "3" in "30".
    """
    haystack = _for_containment(text)
    return any(needle.strip() and needle in haystack for needle in map(_for_containment, answers))


def _squashed(text: str) -> str:
    """Lower case, punctuation read as a space, single spaces, padded: how the long-form data's README
    says nuggets are matched ("U.S.-based" holds "u s based")."""
    return " ".join("".join(" " if ch in _PUNCT or ch in "‘’“”–—" else ch for ch in text.lower()).split())


def nugget_share(text: str, nuggets: Sequence[Sequence[str] | str]) -> float:
    """Share of the facts (each a list of alternative strings) that `text` states, case-insensitively."""
    if not nuggets:
        return 0.0
    answer = _squashed(strip_citations(text))
    facts = [[n] if isinstance(n, str) else list(n) for n in nuggets]
    return sum(any(_squashed(alt) in answer for alt in fact if _squashed(alt).strip()) for fact in facts) / len(facts)


def corpus_id(doc_id: str) -> str:
    """The corpus `_id` behind a stored document id.

    `.jsonl` rows are stored as "<file relative path>#<_id>" (ids namespaced by file, so no file can
    take another's place), while question files name the bare `_id`: compare by the part after the
    last "#". Ids of whole files ("a/b.md") have no "#" and stay as they are.
    """
    return doc_id.rsplit("#", 1)[-1]


def _failed_checks(checks: dict[str, Any]) -> list[str]:
    """Names of the checks no checked passage passed.

    Takes both shapes of `checks`: {check: bool}, or per passage {"2": {"names": bool, "meaning": bool, ...}}.
    """
    def is_flag(value: Any) -> bool:  # bool, or numpy's bool_ from a vector comparison
        return isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"))

    per_passage = [c for c in checks.values() if isinstance(c, dict)] or [checks]
    names = dict.fromkeys(k for c in per_passage for k, v in c.items() if is_flag(v))
    return [name for name in names if not any(is_flag(c.get(name)) and bool(c.get(name)) for c in per_passage)]


def sentence_records(answer: Any) -> list[dict[str, Any]]:
    """The answer's sentence verification record, with the names of the checks each failed.

    `Answer.sentences` rows look like {"text", "citations", "supported", "removed", "kind", "checks"},
    `checks` per passage checked ({"2": {"names": bool, "meaning": bool, "similarity": float, ...}});
    answers from before that field existed give [].
    """
    records = []
    for sentence in getattr(answer, "sentences", None) or []:
        row = dict(sentence) if isinstance(sentence, dict) else dict(vars(sentence))
        checks = dict(row.get("checks") or {})
        records.append({
            "text": str(row.get("text", "")),
            "kind": str(row.get("kind", "")),
            "citations": list(row.get("citations") or []),
            "supported": bool(row.get("supported", False)),
            "removed": bool(row.get("removed", False)),
            "failed": _failed_checks(checks),
            "checks": checks,
        })
    return records


def _jsonable(value: Any) -> Any:
    """`json.dumps` fallback for what verification records may hold (numpy scalars, tuples, sets)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without needing numpy here."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# ---------------------------------------------------------------------------------------------- input files


def _jsonl_rows(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{what} file {path} does not exist. Give a JSONL file, one JSON object a line.")
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{path}:{lineno} is not valid JSON ({err.msg}); fix or remove that line.") from err
        if not isinstance(row, dict):
            raise CorpusError(f"{path}:{lineno} is not a JSON object.")
        yield lineno, row


def load_queries(path: Path | str) -> dict[str, str]:
    """BEIR queries.jsonl: `{"_id", "text"}` per line."""
    queries: dict[str, str] = {}
    for lineno, row in _jsonl_rows(Path(path), "queries"):
        if "_id" not in row or not str(row.get("text", "")).strip():
            raise CorpusError(f"{path}:{lineno} needs '_id' and a non-empty 'text' (BEIR queries format).")
        queries[str(row["_id"])] = str(row["text"])
    return queries


def load_qrels(path: Path | str) -> dict[str, dict[str, int]]:
    """BEIR qrels.tsv: `query-id  corpus-id  score`, with a header line."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"qrels file {path} does not exist. Give a TSV with query-id, corpus-id, score.")
    qrels: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.strip().split("\t")
        if not line.strip() or (lineno == 1 and parts[0] == "query-id"):
            continue
        if len(parts) < 3:
            raise CorpusError(f"{path}:{lineno} should be 'query-id<TAB>corpus-id<TAB>score'.")
        try:
            qrels[parts[0]][parts[1]] = int(float(parts[2]))
        except ValueError as err:
            raise CorpusError(f"{path}:{lineno}: score {parts[2]!r} is not a number.") from err
    return dict(qrels)


def load_questions(path: Path | str) -> list[dict[str, Any]]:
    """Question rows: `id`, `question`, `answers`, `impossible`; optional `evidence`, `doc_id`, `doc_ids`,
    `history`, `as_of`, `nuggets` (see ../shared/eval/README.md)."""
    rows = []
    for lineno, row in _jsonl_rows(Path(path), "questions"):
        if not str(row.get("question", "")).strip():
            raise CorpusError(f"{path}:{lineno} has no 'question'.")
        row.setdefault("id", f"line-{lineno}")
        row["answers"] = [str(a) for a in row.get("answers") or [] if str(a).strip()]
        row["impossible"] = bool(row.get("impossible", False))
        if not row["impossible"] and not row["answers"] and not row.get("nuggets"):
            raise CorpusError(f"{path}:{lineno}: an answerable question needs a non-empty 'answers' list "
                              "(or 'nuggets', or set \"impossible\": true).")
        rows.append(row)
    if not rows:
        raise CorpusError(f"{path} holds no questions.")
    return rows


def select_rows(rows: Sequence[Any], *, offset: int = 0, every: int = 1, limit: int | None = None) -> list[Any]:
    """A reproducible subset for quick runs: from `offset`, every `every`-th row, at most `limit` rows."""
    if offset < 0 or every < 1 or (limit is not None and limit < 0):
        raise CorpusError("--offset must be >= 0, --every >= 1 and --limit >= 0.")
    picked = list(rows)[offset::every]
    return picked[:limit] if limit else picked


# ---------------------------------------------------------------------------------------------- the evaluation index

# Settings that change what an index holds (its passages, their vectors or their metadata). Other
# settings (retrieval, the model, the page) only change how the index is used, so changing them keeps
# the index. Prefixed names catch later additions (e.g. a title weight, near-duplicate grouping).
_INDEX_SHAPING_FIELDS = ("chunk_size", "chunk_overlap", "embedding_model", "embedding_backend", "max_file_mb")
_INDEX_SHAPING_PREFIXES = ("chunk_", "title_", "dedup_", "duplicate_", "near_duplicate_", "minhash_", "group_",
                           "hnsw_")
# Chroma lets this one change on an existing collection (the index brings it up to date when opened).
_INDEX_USING_FIELDS = ("hnsw_search_ef",)
# Bump when the stored format changes in a way the incremental indexer would not notice (its document
# hashes already cover the documents, the chunking and the metadata schema).
EVAL_INDEX_FORMAT = "2"


def eval_index_key(corpus: Path | str, settings: Settings) -> str:
    """Folder name of the evaluation index of `corpus` under `settings`: readable prefix + short hash.

    Keyed by the corpus *path*, not its contents: a changed corpus is brought up to date by the
    incremental indexer (only changed documents are embedded again), which is cheaper than a new folder.
    """
    path = Path(corpus).resolve()
    # Top-level and tuning fields in one flat map by name, so the key is the one it was before the
    # tuning group existed and an evaluation index built then is found again.
    values = {name: getattr(settings, name) for name in type(settings).model_fields if name != "tuning"}
    values.update({name: getattr(settings.tuning, name) for name in type(settings.tuning).model_fields})
    shaping = {name: str(value) for name, value in sorted(values.items())
               if (name in _INDEX_SHAPING_FIELDS or name.startswith(_INDEX_SHAPING_PREFIXES))
               and name not in _INDEX_USING_FIELDS}
    shaping["format"] = EVAL_INDEX_FORMAT
    digest = hashlib.sha256(json.dumps({"corpus": str(path), **shaping}, sort_keys=True).encode()).hexdigest()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{path.parent.name}-{path.name}").strip("-")[:60]
    return f"{stem}-{digest[:12]}"


def eval_settings(corpus: Path | str, base: Settings | None = None, index_dir: Path | str | None = None) -> Settings:
    """Settings like `base` whose data dir is the evaluation index of `corpus` (always a local Chroma)."""
    from rag.settings import Settings

    base = base or Settings()
    folder = Path(index_dir) if index_dir else Path(base.eval_index_dir) / eval_index_key(corpus, base)
    if folder.resolve() == Path(base.data_dir).resolve():
        raise CorpusError(f"--index-dir {folder} is your own index (RAG_DATA_DIR); give another folder.")
    return base.model_copy(update={"data_dir": folder, "chroma_url": None, "chroma_token": None,
                                   "collection": "eval"})


def _index_quietly(assistant: Any, corpus: Path, progress: bool, fresh: bool = False) -> Any:
    bar: Any = None

    def update(done: int, total: int, what: str) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=f"indexing: {what}", unit="passage", file=sys.stderr)
        bar.total = total
        bar.update(done - bar.n)

    try:
        # Another evaluation of the same corpus may be indexing into the same folder: wait for it,
        # then find everything already there.
        return assistant.index(corpus, rebuild=fresh, progress=update if progress else None, wait=3600)
    finally:
        if bar is not None:
            bar.close()


def _index_summary(report: Any, settings: Settings) -> dict[str, Any]:
    return {"dir": str(settings.data_dir), "added": report.added, "updated": report.updated,
            "skipped": report.skipped, "deleted": report.deleted, "failed": report.failed,
            "passages_added": report.chunks_added, "documents": report.total_documents,
            "passages": report.total_chunks, "seconds": round(report.seconds, 1)}


def rank_documents(passage_doc_ids: Sequence[str]) -> list[str]:
    """Passages best first -> documents best first, each document at the rank of its best passage."""
    return list(dict.fromkeys(passage_doc_ids))


# ---------------------------------------------------------------------------------------------- retrieval


def evaluate_retrieval(corpus: Path | str, queries: Path | str, qrels: Path | str, *,
                       settings: Settings | None = None, progress: bool = True, limit: int | None = None,
                       offset: int = 0, every: int = 1, index_dir: Path | str | None = None,
                       fresh_index: bool = False) -> dict[str, Any]:
    """nDCG@10, Recall@10, Recall@100, MRR@10 of the assistant's retriever over a BEIR dataset."""
    from tqdm import tqdm

    from rag.assistant import Assistant

    all_queries = load_queries(queries)
    judged = load_qrels(qrels)
    ids = [q for q in all_queries if q in judged]
    if not ids:
        raise CorpusError(f"No query in {queries} has a judgement in {qrels}; check that the ids match.")
    ids = select_rows(ids, offset=offset, every=every, limit=limit)
    s = eval_settings(corpus, settings, index_dir)
    assistant = Assistant(s)
    report = _index_quietly(assistant, Path(corpus), progress, fresh_index)
    depth = max(s.tuning.retrieval_depth, 100)
    sums = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.0)
    latencies: list[float] = []
    for qid in tqdm(ids, desc="queries", unit="query", file=sys.stderr, disable=not progress):
        t = time.perf_counter()
        # k = everything fused, so documents can be ranked down to 100 (a document has several passages).
        docs = assistant.retriever.search(all_queries[qid], k=2 * depth, depth=depth)
        latencies.append((time.perf_counter() - t) * 1000)
        ranked = rank_documents([corpus_id(str(d.metadata["doc_id"])) for d in docs])
        rel = judged[qid]
        sums["ndcg@10"] += ndcg_at_k(ranked, rel, 10)
        sums["recall@10"] += recall_at_k(ranked, rel, 10)
        sums["recall@100"] += recall_at_k(ranked, rel, 100)
        sums["mrr@10"] += mrr_at_k(ranked, rel, 10)
    result: dict[str, Any] = {k: round(v / len(ids), 4) for k, v in sums.items()}
    result.update({
        "queries": len(ids),
        "documents": report.total_documents,
        "passages": report.total_chunks,
        "index_seconds": round(report.seconds, 1),
        "search_p50_ms": round(percentile(latencies, 50), 1),
        "search_p95_ms": round(percentile(latencies, 95), 1),
        "index": _index_summary(report, s),
    })
    return result


# ---------------------------------------------------------------------------------------------- answers


@dataclass
class QuestionResult:
    id: str
    question: str
    impossible: bool
    answer: str
    refused: bool
    exact_match: float | None = None
    f1: float | None = None
    correct: bool | None = False  # the accuracy judgement (impossible: refused; None: judged by nuggets only)
    citation_ok: bool | None = None
    evidence_shown: bool | None = None  # a passage shown to the model qualified as a citation would
    nugget_recall: float | None = None
    cited_doc_ids: list[str] = field(default_factory=list)
    shown_doc_ids: list[str] = field(default_factory=list)  # every passage the model was shown
    latency_ms: float = 0.0
    rewritten_question: str = ""
    expected: list[str] = field(default_factory=list)
    kind: str = ""  # Answer.kind: answer | summary | digest | about-assistant | refusal
    as_of: str = ""  # the date passed to the assistant ("" when none was)
    filters: dict[str, Any] = field(default_factory=dict)
    sentences: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: str = ""
    # Verification's cost: a removed sentence held an accepted answer that the final answer lacks
    # (`withheld_right`), and the removed sentences that held none (`withheld_wrong`, what it saved).
    withheld_right: bool = False
    withheld_wrong: int = 0


def _expected_ids(row: dict[str, Any]) -> set[str]:
    ids = [str(i) for i in row.get("doc_ids") or []]
    if row.get("doc_id"):
        ids.append(str(row["doc_id"]))
    return {corpus_id(i) for i in ids}


def _citation_ok(row: dict[str, Any], citations: Sequence[Any]) -> bool:
    """A cited passage holds the evidence, belongs to an expected document, or (rows with `doc_ids`,
    where other articles may state the answer too) contains an accepted answer."""
    evidence, expected = row.get("evidence"), _expected_ids(row)
    by_answer = bool(row.get("doc_ids")) and bool(row["answers"])
    return any(
        (evidence and _squashed(evidence) in _squashed(c.text))
        or corpus_id(c.doc_id) in expected
        or (by_answer and contains_answer(c.text, row["answers"]))
        for c in citations)


def score_question(row: dict[str, Any], answer: Any, *, check_citations: bool = True,
                   as_of: str = "") -> QuestionResult:
    """Score one `Answer` against one question row (see the module docstring for the rules)."""
    res = QuestionResult(
        id=str(row["id"]), question=row["question"], impossible=row["impossible"], answer=answer.text,
        refused=bool(answer.refused), cited_doc_ids=[c.doc_id for c in answer.citations],
        shown_doc_ids=list(dict.fromkeys(c.doc_id for c in getattr(answer, "passages", None) or [])),
        latency_ms=float(answer.timings.total_ms), rewritten_question=answer.rewritten_question,
        expected=list(row["answers"]), as_of=as_of, filters=dict(getattr(answer, "filters", None) or {}),
        sentences=sentence_records(answer), notes=list(getattr(answer, "notes", None) or []),
        kind=str(getattr(answer, "kind", "") or ""))
    removed = [s["text"] for s in res.sentences if s["removed"]]
    accepted = list(row.get("answers") or [])
    res.withheld_wrong = sum(not (accepted and contains_answer(text, accepted)) for text in removed)
    res.withheld_right = bool(
        accepted and not row["impossible"] and any(contains_answer(text, accepted) for text in removed)
        and (res.refused or not contains_answer(answer.text, accepted)))
    if row["impossible"]:
        res.correct = res.refused
        if not res.correct:
            res.failure = "answered a question the corpus cannot answer (should refuse)"
        return res
    if row.get("nuggets"):
        res.nugget_recall = 0.0 if res.refused else nugget_share(answer.text, row["nuggets"])
    if not row["answers"]:  # judged by its nuggets alone: no accuracy judgement
        res.correct = None
        if res.refused:
            res.failure = "refused an answerable question"
        elif res.nugget_recall is not None and res.nugget_recall < 1.0:
            res.failure = f"answer states {res.nugget_recall:.0%} of the expected facts"
    elif res.refused:
        res.exact_match = res.f1 = 0.0
        res.failure = "refused an answerable question"
    else:
        prediction = strip_citations(answer.text)
        if res.id.startswith("seed"):
            # Seed rows accept any answer that contains one of the strings (case-insensitive).
            hit = any(a.lower() in prediction.lower() for a in row["answers"])
            res.exact_match = res.f1 = float(hit)
        else:
            res.exact_match = exact_match(prediction, row["answers"])
            res.f1 = token_f1(prediction, row["answers"])
        res.correct = contains_answer(prediction, row["answers"])
        if not res.correct:
            res.failure = f"answer does not contain an accepted answer (F1 {res.f1:.2f})"
    shown = getattr(answer, "passages", None)
    if shown is not None and (row.get("evidence") or _expected_ids(row)):
        # Retrieval's share of a failure: was the answer in front of the model at all?
        res.evidence_shown = _citation_ok(row, shown)
    if check_citations and not res.refused and (row.get("evidence") or _expected_ids(row)):
        res.citation_ok = _citation_ok(row, answer.citations)
        if not res.citation_ok:
            why = "no citation" if not answer.citations else "no cited passage holds the evidence / expected document"
            res.failure = "; ".join(x for x in (res.failure, why) if x)
    return res


def summarise_qa(results: Sequence[QuestionResult]) -> dict[str, Any]:
    answerable = [r for r in results if not r.impossible]
    unanswerable = [r for r in results if r.impossible]
    checked = [r for r in results if r.citation_ok is not None]
    nuggets = [r.nugget_recall for r in results if r.nugget_recall is not None]
    squad = [r for r in answerable if r.exact_match is not None]
    sentences = [s for r in results for s in r.sentences]

    def mean(values: Sequence[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    latencies = [r.latency_ms for r in results]
    return {
        "accuracy": mean([float(bool(r.correct) and not r.refused) for r in answerable if r.correct is not None]),
        "exact_match": mean([r.exact_match or 0.0 for r in squad]),
        "f1": mean([r.f1 or 0.0 for r in squad]),
        "refusal_accuracy": mean([float(r.refused) for r in unanswerable]),
        # Over answered questions that name their evidence / document(s); refusals are counted above.
        "citation_accuracy": mean([float(bool(r.citation_ok)) for r in checked]),
        # Over answerable rows that name their evidence / document(s): a shown passage qualified.
        "evidence_shown": mean([float(bool(r.evidence_shown)) for r in answerable if r.evidence_shown is not None]),
        "nugget_recall": mean(nuggets),
        # Pooled over every sentence the model wrote, before verification removed any.
        "supported_sentences": mean([float(s["supported"]) for s in sentences]),
        # Of the answerable questions answered (not refused), the share answered right.
        "answered_precision": mean([float(bool(r.correct)) for r in answerable
                                    if not r.refused and r.correct is not None]),
        # Answerable questions whose right answer verification removed (goal: at most 1%), and removed
        # sentences that held no accepted answer (what verification saved the reader from).
        "withheld_right": sum(r.withheld_right for r in answerable),
        "withheld_right_share": mean([float(r.withheld_right) for r in answerable]),
        "withheld_wrong": sum(r.withheld_wrong for r in results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answered_answerable": sum(not r.refused for r in answerable),
        "refused_answerable": mean([float(r.refused) for r in answerable]),
        "citations_checked": len(checked),
        "sentences_written": len(sentences),
        "asked_with_as_of": sum(bool(r.as_of) for r in results),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p95_ms": round(percentile(latencies, 95), 1),
    }


def _history(row: dict[str, Any]) -> list[dict[str, str]] | None:
    turns = row.get("history") or []
    messages = []
    for turn in turns:
        if isinstance(turn, dict):
            messages.append({"role": str(turn.get("role", "user")), "content": str(turn.get("content", ""))})
        else:
            messages.append({"role": "user", "content": str(turn)})
    return messages or None


def _accepts_as_of(ask: Callable[..., Any]) -> bool:
    """Whether `ask` takes `as_of=` (assistants from before the dates issue do not)."""
    try:
        params = inspect.signature(ask).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "as_of" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def write_result(fh: Any, result: QuestionResult) -> None:
    """One per-question line, flushed at once so that an interrupted run keeps what it measured."""
    fh.write(json.dumps(asdict(result), ensure_ascii=False, default=_jsonable) + "\n")
    fh.flush()


def default_qa_out() -> Path:
    return Path("eval-results") / f"qa-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"


def ask_rows(assistant: Any, rows: Sequence[dict[str, Any]], out_path: Path, *, use_as_of: bool = True,
             progress: bool = True,
             on_result: Callable[[QuestionResult], None] | None = None) -> list[QuestionResult]:
    """Ask each row through `assistant.ask` (anything with that method), score it, write one JSON line each."""
    from tqdm import tqdm

    dated = use_as_of and _accepts_as_of(assistant.ask)
    results: list[QuestionResult] = []
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8") as fh:
        for row in tqdm(rows, desc="questions", unit="question", file=sys.stderr, disable=not progress):
            as_of = str(row.get("as_of") or "") if dated else ""
            kwargs = {"as_of": as_of} if as_of else {}
            try:
                answer = assistant.ask(row["question"], _history(row), **kwargs)
            except RagError as err:
                # One question the assistant rejects (e.g. a date range it cannot search) is a failed
                # question in the report, not the end of a run of hundreds.
                from rag.types import Answer

                answer = Answer(question=row["question"], text=f"error: {err}", refused=True, notes=[str(err)])
            res = score_question(row, answer, as_of=as_of)
            if answer.text.startswith("error: "):
                res.failure = answer.text
            results.append(res)
            write_result(fh, res)
            if on_result:
                on_result(res)
    return results


def evaluate_qa(corpus: Path | str, questions: Path | str, *, limit: int | None = None, offset: int = 0,
                every: int = 1, settings: Settings | None = None, llm: Any = None, out: Path | str | None = None,
                progress: bool = True, use_as_of: bool = True, index_dir: Path | str | None = None,
                fresh_index: bool = False,
                on_result: Callable[[QuestionResult], None] | None = None) -> tuple[dict[str, Any], Path]:
    """Ask every question through a full `Assistant` over the evaluation index of `corpus`.

    Returns (summary, path of the per-question JSONL). `llm` lets a caller reuse a loaded chat model.
    """
    from rag.assistant import Assistant

    rows = select_rows(load_questions(questions), offset=offset, every=every, limit=limit)
    out_path = Path(out) if out else default_qa_out()
    s = eval_settings(corpus, settings, index_dir)
    assistant = Assistant(s, llm=llm)
    report = _index_quietly(assistant, Path(corpus), progress, fresh_index)
    assistant.warm_up()
    results = ask_rows(assistant, rows, out_path, use_as_of=use_as_of, progress=progress, on_result=on_result)
    summary = summarise_qa(results)
    summary["index"] = _index_summary(report, s)
    summary["results_file"] = str(out_path)
    return summary, out_path


# ---------------------------------------------------------------------------------------------- CLI


def print_table(title: str, values: dict[str, Any]) -> None:
    print(title)
    width = max(len(k) for k in values)
    for key, value in values.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        shown = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
        print(f"  {key:<{width}}  {shown}")


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    result = evaluate_retrieval(args.corpus, args.queries, args.qrels, limit=args.limit, offset=args.offset,
                                every=args.every, progress=not args.json, index_dir=args.index_dir,
                                fresh_index=args.fresh_index)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(f"retrieval on {args.corpus} ({result['queries']} queries)", result)
    return 0


def cmd_eval_qa(args: argparse.Namespace) -> int:
    summary, path = evaluate_qa(args.corpus, args.questions, limit=args.limit, offset=args.offset,
                                every=args.every, out=args.out, progress=not args.json,
                                use_as_of=not args.no_as_of, index_dir=args.index_dir,
                                fresh_index=args.fresh_index)
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(f"answers on {args.corpus}", {k: v for k, v in summary.items() if k != "results_file"})
    print(f"per-question results: {path}", file=sys.stderr)
    return 0


def _add_common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--limit", type=int, default=None, help=f"at most N {what}")
    p.add_argument("--offset", type=int, default=0, help=f"skip the first N {what}")
    p.add_argument("--every", type=int, default=1, help=f"take every N-th {what[:-1]} (after --offset)")
    p.add_argument("--index-dir", type=Path, default=None,
                   help="keep the evaluation index here (default: RAG_EVAL_INDEX_DIR/<corpus and settings key>)")
    p.add_argument("--fresh-index", action="store_true", help="rebuild the evaluation index from scratch")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def add_eval_parser(subparsers: Any) -> None:
    """Register `rag eval retrieval` and `rag eval qa` on the main parser's subcommands."""
    p = subparsers.add_parser("eval", help="measure retrieval or answers on an evaluation index")
    sub = p.add_subparsers(dest="eval_command", required=True)

    r = sub.add_parser("retrieval", help="nDCG@10, Recall@10/100, MRR@10 on a BEIR dataset")
    r.add_argument("--corpus", type=Path, required=True, help="BEIR corpus.jsonl")
    r.add_argument("--queries", type=Path, required=True, help="BEIR queries.jsonl")
    r.add_argument("--qrels", type=Path, required=True, help="BEIR qrels .tsv")
    _add_common(r, "queries")
    r.set_defaults(func=cmd_eval_retrieval)

    q = sub.add_parser("qa", help="accuracy, exact match, F1, refusals, citations, nuggets, verified sentences")
    q.add_argument("--corpus", type=Path, required=True, help="folder of articles or a .jsonl of articles")
    q.add_argument("--questions", type=Path, required=True, help="questions.jsonl")
    q.add_argument("--out", type=Path, default=None,
                   help="per-question JSONL (default eval-results/qa-<time>.jsonl)")
    q.add_argument("--no-as-of", action="store_true", help="ignore the questions' `as_of` dates")
    _add_common(q, "questions")
    q.set_defaults(func=cmd_eval_qa)
