"""`rag eval`: the metric functions against hand-computed values, and both runners end to end.

The retrieval runner is run on a small real slice of SciFact (`tests/data/scifact-mini/`) with the
real embedding model, Chroma and BM25; the answer runner on the seed article with the session's real
LLM.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rag.answering import REFUSAL_TEXT, Answer, Citation, Timings
from rag.errors import CorpusError
from rag.evaluation import (
    evaluate_qa,
    evaluate_retrieval,
    exact_match,
    load_qrels,
    load_questions,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer,
    percentile,
    rank_documents,
    recall_at_k,
    score_question,
    strip_citations,
    token_f1,
)

from .conftest import CORPUS, DATA

MINI = DATA / "scifact-mini"


# ------------------------------------------------------------------------------------------ ranking metrics
def test_ndcg_is_one_when_the_only_relevant_document_is_first() -> None:
    assert ndcg_at_k(["a", "b", "c"], {"a": 1}) == 1.0


def test_ndcg_discounts_a_relevant_document_at_rank_three_by_log2_of_four() -> None:
    assert ndcg_at_k(["x", "y", "a"], {"a": 1}) == pytest.approx(1 / math.log2(4))


def test_ndcg_with_two_relevant_documents_against_the_ideal_order() -> None:
    # relevant at ranks 1 and 3; ideal has them at ranks 1 and 2
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "x", "b"], {"a": 1, "b": 1}) == pytest.approx(expected)


def test_ndcg_ignores_documents_below_the_cutoff() -> None:
    assert ndcg_at_k([str(i) for i in range(10)] + ["a"], {"a": 1}, k=10) == 0.0


def test_recall_counts_the_share_of_relevant_documents_found() -> None:
    assert recall_at_k(["a", "x", "y"], {"a": 1, "b": 1}, k=3) == 0.5
    assert recall_at_k(["a", "x", "b"], {"a": 1, "b": 1}, k=2) == 0.5
    assert recall_at_k(["a", "x", "b"], {"a": 1, "b": 1}, k=3) == 1.0


def test_mrr_is_the_inverse_rank_of_the_first_relevant_document() -> None:
    assert mrr_at_k(["x", "y", "a", "b"], {"a": 1, "b": 1}) == pytest.approx(1 / 3)
    assert mrr_at_k(["x"] * 10 + ["a"], {"a": 1}, k=10) == 0.0


def test_documents_are_ranked_by_their_best_passage() -> None:
    assert rank_documents(["d2", "d1", "d2", "d3", "d1"]) == ["d2", "d1", "d3"]


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)


# ------------------------------------------------------------------------------------------ answer metrics
def test_squad_normalisation_drops_case_punctuation_and_articles() -> None:
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"


def test_exact_match_takes_the_best_accepted_answer() -> None:
    assert exact_match("the Eiffel tower", ["Louvre", "Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0


def test_token_f1_against_a_hand_computed_value() -> None:
    # prediction 3 tokens, gold 2 tokens, 2 in common: P=2/3, R=1, F1=0.8
    assert token_f1("in Paris France", ["Paris, France"]) == pytest.approx(0.8)
    assert token_f1("Berlin", ["Paris"]) == 0.0


def test_citation_markers_are_not_part_of_the_scored_answer() -> None:
    assert strip_citations("Syrskyi [1] signed them [2, 3].") == "Syrskyi signed them."
    assert exact_match(strip_citations("Syrskyi [1]."), ["Syrskyi"]) == 1.0


# ------------------------------------------------------------------------------------------ input files
def test_qrels_header_is_skipped_and_scores_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t2\n")
    assert load_qrels(path) == {"1": {"d1": 1, "d2": 2}}


def test_an_answerable_question_without_answers_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"id": "1", "question": "Who?", "answers": [], "impossible": False}) + "\n")
    with pytest.raises(CorpusError, match="answers"):
        load_questions(path)


def test_a_missing_queries_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        evaluate_retrieval(MINI / "corpus.jsonl", tmp_path / "nope.jsonl", MINI / "qrels.tsv", progress=False)


# ------------------------------------------------------------------------------------------ runners end to end
def test_retrieval_eval_on_a_scifact_slice_gives_sane_numbers(_isolated_data_dir: Path) -> None:
    result = evaluate_retrieval(MINI / "corpus.jsonl", MINI / "queries.jsonl", MINI / "qrels.tsv", progress=False)
    assert result["queries"] == sum(1 for _ in (MINI / "queries.jsonl").open())
    # a few hundred abstracts: the real pipeline finds most claims' abstracts in the top 10
    assert 0.6 < result["ndcg@10"] <= 1.0
    assert result["recall@10"] <= result["recall@100"] <= 1.0
    assert 0.0 < result["mrr@10"] <= 1.0
    assert not _isolated_data_dir.exists(), "the evaluation must never touch the user's data dir"


def test_retrieval_eval_command_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    from rag.cli import main

    code = main(["eval", "retrieval", "--corpus", str(MINI / "corpus.jsonl"), "--queries",
                 str(MINI / "queries.jsonl"), "--qrels", str(MINI / "qrels.tsv"), "--limit", "5", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10", "queries"} <= result.keys()
    assert result["queries"] == 5


def _answer(text: str, refused: bool = False, cited: list[tuple[str, str]] | None = None) -> Answer:
    citations = [Citation(i, doc, "", "", 0, len(t), t, 0.0) for i, (doc, t) in enumerate(cited or [], start=1)]
    return Answer(question="q", text=text, refused=refused, citations=citations, timings=Timings(total_ms=10.0))


def test_seed_rows_count_as_correct_when_the_answer_contains_an_accepted_string() -> None:
    row = {"id": "seed-x", "question": "Who signed?", "answers": ["Syrskyi"], "impossible": False}
    assert score_question(row, _answer("General Oleksandr Syrskyi signed them [1].")).correct
    assert not score_question(row, _answer("Umerov signed them [1].")).correct


def test_squad_rows_are_scored_after_removing_citation_markers() -> None:
    row = {"id": "5a1", "question": "Where?", "answers": ["Paris"], "impossible": False}
    result = score_question(row, _answer("Paris [2]."))
    assert result.exact_match == 1.0 and result.f1 == 1.0


def test_a_refusal_is_right_for_an_impossible_question_and_wrong_for_an_answerable_one() -> None:
    impossible = {"id": "i", "question": "?", "answers": [], "impossible": True}
    answerable = {"id": "a", "question": "?", "answers": ["x"], "impossible": False}
    assert score_question(impossible, _answer(REFUSAL_TEXT, refused=True)).correct
    wrong = score_question(answerable, _answer(REFUSAL_TEXT, refused=True))
    assert not wrong.correct and wrong.f1 == 0.0 and "refused" in wrong.failure


def test_a_citation_is_right_when_its_passage_holds_the_evidence_or_the_expected_document() -> None:
    row = {"id": "a", "question": "?", "answers": ["x"], "impossible": False, "evidence": "already  signed the",
           "doc_id": "d1"}
    assert score_question(row, _answer("x [1]", cited=[("d9", "He had already signed the documents.")])).citation_ok
    assert score_question(row, _answer("x [1]", cited=[("d1", "unrelated text")])).citation_ok
    missed = score_question(row, _answer("x [1]", cited=[("d9", "unrelated text")]))
    assert missed.citation_ok is False and "evidence" in missed.failure


@pytest.mark.slow
def test_qa_eval_asks_every_question_through_the_assistant_and_writes_one_line_each(seed_assistant,
                                                                                   tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        {"id": "seed-a", "question": "Who signed the documents allowing French instructors to arrive?",
         "answers": ["Syrskyi"], "impossible": False, "evidence": "already signed the documents"},
        {"id": "seed-b", "question": "What is the population of France?", "answers": [], "impossible": True},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "results.jsonl"
    summary, path = evaluate_qa(CORPUS, questions, llm=seed_assistant.chain.llm, out=out, progress=False)
    assert path == out
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["seed-a", "seed-b"]
    assert all(r["answer"] for r in lines)
    # the summary is exactly the per-question scores, aggregated
    assert summary["answerable"] == 1 and summary["unanswerable"] == 1
    assert summary["exact_match"] == lines[0]["exact_match"]
    assert summary["refusal_accuracy"] == float(lines[1]["refused"])
    assert summary["latency_p50_ms"] > 0
    if not lines[0]["refused"]:
        assert lines[0]["cited_doc_ids"], "an answer always carries the passages it cites"
    assert (lines[0]["failure"] == "") == (lines[0]["correct"] and lines[0]["citation_ok"] is not False)
