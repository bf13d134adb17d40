"""`rag eval`: measure retrieval (BEIR files) and answers (question files) on a throwaway index.

Both runners build their own index of the evaluation corpus in a temporary data directory, so the
user's index is never touched, and then go through the very components the assistant uses:
- retrieval: `HybridRetriever.search` (the assistant's retriever, with its settings); passages are
  mapped back to their documents and each document is ranked by its best passage;
- answers: the full `Assistant.ask` (rewrite of follow-ups, retrieval, LLM, citation check, refusal).

Metrics (hand-written because they are a few lines each and the reference libraries, `pytrec_eval`
and the SQuAD script, are not dependencies):
- nDCG@k with binary or graded gains (`2**rel - 1` numerator, as in BEIR / trec_eval), Recall@k, MRR@k;
- SQuAD exact match and token F1 (lower-case, drop punctuation and articles, collapse spaces), best
  over the accepted answers.

This module does not tune anything and does not decide what "good" is; it reports numbers.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
import shutil
import string
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import CorpusError
from .settings import Settings

__all__ = [
    "ndcg_at_k", "recall_at_k", "mrr_at_k", "normalize_answer", "exact_match", "token_f1", "strip_citations",
    "percentile", "load_queries", "load_qrels", "load_questions", "rank_documents", "throwaway_settings",
    "evaluate_retrieval", "evaluate_qa", "QuestionResult", "score_question", "summarise_qa", "add_eval_parser",
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


_CITATION_MARK = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def strip_citations(text: str) -> str:
    """'Paris [1][2].' -> 'Paris.': citation markers are not part of the answer being scored."""
    return _CITATION_MARK.sub("", text).strip()


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
    """Question rows: `id`, `question`, `answers`, `impossible`, optional `evidence`, `doc_id`, `history`."""
    rows = []
    for lineno, row in _jsonl_rows(Path(path), "questions"):
        if not str(row.get("question", "")).strip():
            raise CorpusError(f"{path}:{lineno} has no 'question'.")
        row.setdefault("id", f"line-{lineno}")
        row["answers"] = [str(a) for a in row.get("answers") or [] if str(a).strip()]
        row["impossible"] = bool(row.get("impossible", False))
        if not row["impossible"] and not row["answers"]:
            raise CorpusError(f"{path}:{lineno}: an answerable question needs a non-empty 'answers' list "
                              "(or set \"impossible\": true).")
        rows.append(row)
    if not rows:
        raise CorpusError(f"{path} holds no questions.")
    return rows


# ---------------------------------------------------------------------------------------------- the throwaway index


@contextmanager
def throwaway_settings(base: Settings | None = None) -> Iterator[Settings]:
    """Settings like `base` but pointing at a fresh temporary data dir (always a local Chroma)."""
    base = base or Settings()
    tmp = Path(tempfile.mkdtemp(prefix="rag-eval-"))
    try:
        yield base.model_copy(update={"data_dir": tmp, "chroma_url": None, "chroma_token": None,
                                      "collection": "eval"})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _index_quietly(assistant: Any, corpus: Path, progress: bool) -> Any:
    bar: Any = None

    def update(done: int, total: int, what: str) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=f"indexing: {what}", unit="passage", file=sys.stderr)
        bar.total = total
        bar.update(done - bar.n)

    try:
        return assistant.index(corpus, rebuild=True, progress=update if progress else None)
    finally:
        if bar is not None:
            bar.close()


def rank_documents(passage_doc_ids: Sequence[str]) -> list[str]:
    """Passages best first -> documents best first, each document at the rank of its best passage."""
    return list(dict.fromkeys(passage_doc_ids))


# ---------------------------------------------------------------------------------------------- retrieval


def evaluate_retrieval(corpus: Path | str, queries: Path | str, qrels: Path | str, *,
                       settings: Settings | None = None, progress: bool = True,
                       limit: int | None = None) -> dict[str, Any]:
    """nDCG@10, Recall@10, Recall@100, MRR@10 of the assistant's retriever over a BEIR dataset."""
    from .assistant import Assistant

    all_queries = load_queries(queries)
    judged = load_qrels(qrels)
    ids = [q for q in all_queries if q in judged]
    if not ids:
        raise CorpusError(f"No query in {queries} has a judgement in {qrels}; check that the ids match.")
    if limit:
        ids = ids[:limit]
    with throwaway_settings(settings) as s:
        assistant = Assistant(s)
        t0 = time.perf_counter()
        report = _index_quietly(assistant, Path(corpus), progress)
        index_seconds = time.perf_counter() - t0
        depth = max(s.retrieval_depth, 100)
        sums = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.0)
        latencies: list[float] = []
        per_query: dict[str, list[str]] = {}
        from tqdm import tqdm

        for qid in tqdm(ids, desc="queries", unit="query", file=sys.stderr, disable=not progress):
            t = time.perf_counter()
            # k = everything fused, so documents can be ranked down to 100 (a document has several passages).
            docs = assistant.retriever.search(all_queries[qid], k=2 * depth, depth=depth)
            latencies.append((time.perf_counter() - t) * 1000)
            ranked = rank_documents([d.metadata["doc_id"] for d in docs])
            per_query[qid] = ranked[:100]
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
        "index_seconds": round(index_seconds, 1),
        "search_p50_ms": round(percentile(latencies, 50), 1),
        "search_p95_ms": round(percentile(latencies, 95), 1),
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
    correct: bool = False
    citation_ok: bool | None = None
    cited_doc_ids: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    rewritten_question: str = ""
    expected: list[str] = field(default_factory=list)
    failure: str = ""


def _squashed(text: str) -> str:
    return " ".join(text.split()).lower()


def score_question(row: dict[str, Any], answer: Any) -> QuestionResult:
    """Score one `Answer` against one question row (see module docstring for the rules)."""
    res = QuestionResult(
        id=str(row["id"]), question=row["question"], impossible=row["impossible"], answer=answer.text,
        refused=bool(answer.refused), cited_doc_ids=[c.doc_id for c in answer.citations],
        latency_ms=float(answer.timings.total_ms), rewritten_question=answer.rewritten_question,
        expected=list(row["answers"]))
    if row["impossible"]:
        res.correct = res.refused
        if not res.correct:
            res.failure = "answered a question the corpus cannot answer (should refuse)"
        return res
    if res.refused:
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
        res.correct = res.exact_match == 1.0
        if not res.correct:
            res.failure = f"answer does not match (F1 {res.f1:.2f})"
    evidence, doc_id = row.get("evidence"), row.get("doc_id")
    if not res.refused and (evidence or doc_id):
        res.citation_ok = any(
            (evidence and _squashed(evidence) in _squashed(c.text)) or (doc_id and c.doc_id == str(doc_id))
            for c in answer.citations)
        if not res.citation_ok:
            why = "no citation" if not answer.citations else "no cited passage holds the evidence / expected document"
            res.failure = "; ".join(x for x in (res.failure, why) if x)
    return res


def summarise_qa(results: Sequence[QuestionResult]) -> dict[str, Any]:
    answerable = [r for r in results if not r.impossible]
    unanswerable = [r for r in results if r.impossible]
    checked = [r for r in results if r.citation_ok is not None]

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    latencies = [r.latency_ms for r in results]
    return {
        "exact_match": mean([r.exact_match or 0.0 for r in answerable]),
        "f1": mean([r.f1 or 0.0 for r in answerable]),
        "refusal_accuracy": mean([float(r.refused) for r in unanswerable]),
        # Over answered questions that name their evidence / document; refusals are counted above.
        "citation_accuracy": mean([float(bool(r.citation_ok)) for r in checked]),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answered_answerable": sum(not r.refused for r in answerable),
        "citations_checked": len(checked),
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


def default_qa_out() -> Path:
    return Path("eval-results") / f"qa-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"


def evaluate_qa(corpus: Path | str, questions: Path | str, *, limit: int | None = None,
                settings: Settings | None = None, llm: Any = None, out: Path | str | None = None,
                progress: bool = True,
                on_result: Callable[[QuestionResult], None] | None = None) -> tuple[dict[str, Any], Path]:
    """Ask every question through a full `Assistant` over a throwaway index of `corpus`.

    Returns (summary, path of the per-question JSONL). `llm` lets a caller reuse a loaded chat model.
    """
    from tqdm import tqdm

    from .assistant import Assistant

    rows = load_questions(questions)[:limit] if limit else load_questions(questions)
    out_path = Path(out) if out else default_qa_out()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    results: list[QuestionResult] = []
    with throwaway_settings(settings) as s:
        assistant = Assistant(s, llm=llm)
        _index_quietly(assistant, Path(corpus), progress)
        assistant.warm_up()
        with out_path.open("w", encoding="utf-8") as fh:
            for row in tqdm(rows, desc="questions", unit="question", file=sys.stderr, disable=not progress):
                answer = assistant.ask(row["question"], _history(row))
                res = score_question(row, answer)
                results.append(res)
                fh.write(json.dumps(asdict(res), ensure_ascii=False) + "\n")
                fh.flush()
                if on_result:
                    on_result(res)
    summary = summarise_qa(results)
    summary["results_file"] = str(out_path)
    return summary, out_path


# ---------------------------------------------------------------------------------------------- CLI


def _print_table(title: str, values: dict[str, Any]) -> None:
    print(title)
    width = max(len(k) for k in values)
    for key, value in values.items():
        shown = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
        print(f"  {key:<{width}}  {shown}")


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    result = evaluate_retrieval(args.corpus, args.queries, args.qrels, limit=args.limit, progress=not args.json)
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(f"retrieval on {args.corpus} ({result['queries']} queries)", result)
    return 0


def cmd_eval_qa(args: argparse.Namespace) -> int:
    summary, path = evaluate_qa(args.corpus, args.questions, limit=args.limit, out=args.out, progress=not args.json)
    if args.json:
        print(json.dumps(summary))
    else:
        _print_table(f"answers on {args.corpus}", {k: v for k, v in summary.items() if k != "results_file"})
    print(f"per-question results: {path}", file=sys.stderr)
    return 0


def add_eval_parser(subparsers: Any) -> None:
    """Register `rag eval retrieval` and `rag eval qa` on the main parser's subcommands."""
    p = subparsers.add_parser("eval", help="measure retrieval or answers on a throwaway index")
    sub = p.add_subparsers(dest="eval_command", required=True)

    r = sub.add_parser("retrieval", help="nDCG@10, Recall@10/100, MRR@10 on a BEIR dataset")
    r.add_argument("--corpus", type=Path, required=True, help="BEIR corpus.jsonl")
    r.add_argument("--queries", type=Path, required=True, help="BEIR queries.jsonl")
    r.add_argument("--qrels", type=Path, required=True, help="BEIR qrels .tsv")
    r.add_argument("--limit", type=int, default=None, help="only the first N judged queries")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=cmd_eval_retrieval)

    q = sub.add_parser("qa", help="exact match, F1, refusals, citations, latency of full answers")
    q.add_argument("--corpus", type=Path, required=True, help="folder of articles or a BEIR .jsonl")
    q.add_argument("--questions", type=Path, required=True, help="questions.jsonl")
    q.add_argument("--limit", type=int, default=None, help="only the first N questions")
    q.add_argument("--out", type=Path, default=None,
                   help="per-question JSONL (default eval-results/qa-<time>.jsonl)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_eval_qa)
