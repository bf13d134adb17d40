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

from rag.answer.chain import REFUSAL_TEXT, Answer, Timings
from rag.errors import CorpusError
from rag.eval.evaluation import (
    ask_rows,
    contains_answer,
    corpus_id,
    eval_index_key,
    eval_settings,
    evaluate_qa,
    evaluate_retrieval,
    exact_match,
    load_qrels,
    load_questions,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer,
    nugget_share,
    percentile,
    rank_documents,
    recall_at_k,
    score_question,
    select_rows,
    strip_citations,
    summarise_qa,
    token_f1,
)
from rag.settings import Settings

from ..factories import CORPUS, DATA, make_answer, make_citation, write_jsonl

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
@pytest.mark.model
def test_retrieval_eval_on_a_scifact_slice_gives_sane_numbers(_isolated_data_dir: Path) -> None:
    result = evaluate_retrieval(MINI / "corpus.jsonl", MINI / "queries.jsonl", MINI / "qrels.tsv", progress=False)
    assert result["queries"] == sum(1 for _ in (MINI / "queries.jsonl").open())
    # a few hundred abstracts: the real pipeline finds most claims' abstracts in the top 10
    assert 0.6 < result["ndcg@10"] <= 1.0
    assert result["recall@10"] <= result["recall@100"] <= 1.0
    assert 0.0 < result["mrr@10"] <= 1.0
    assert not _isolated_data_dir.exists(), "the evaluation must never touch the user's data dir"


@pytest.mark.model
def test_retrieval_eval_command_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    from rag.cli import main

    code = main(["eval", "retrieval", "--corpus", str(MINI / "corpus.jsonl"), "--queries",
                 str(MINI / "queries.jsonl"), "--qrels", str(MINI / "qrels.tsv"), "--limit", "5", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"ndcg@10", "recall@10", "recall@100", "mrr@10", "queries"} <= result.keys()
    assert result["queries"] == 5


def _answer(text: str, refused: bool = False, cited: list[tuple[str, str]] | None = None) -> Answer:
    citations = [make_citation(i, t, doc_id=doc) for i, (doc, t) in enumerate(cited or [], start=1)]
    return make_answer(text, citations, question="q", refused=refused, timings=Timings(total_ms=10.0), passages=[])


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
    write_jsonl(questions, rows)
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


# ------------------------------------------------------------------------------------------ accuracy
def _with(answer: Answer, **extra: object) -> Answer:
    """Answer fields the lead's Answer gains (`sentences`, `filters`) set on whatever Answer we have."""
    for key, value in extra.items():
        setattr(answer, key, value)
    return answer


def test_an_answer_is_accurate_when_it_contains_an_accepted_answer_after_squad_normalisation() -> None:
    assert contains_answer("The app is called RedNote [1].", ["RedNote"])
    assert contains_answer("The speech was given from the Oval Office [2].", ["the oval office"])
    assert contains_answer("RedNote’s downloads surged [1].", ["RedNote"])  # possessive, curly apostrophe
    assert contains_answer("Red No. 3 was banned.", ["Red No. 3"])


def test_accuracy_compares_whole_words_not_characters() -> None:
    assert not contains_answer("The women's team won.", ["men"])
    assert not contains_answer("It cost 30 dollars.", ["3"])
    assert not contains_answer("anything", [""])


def test_a_sentence_answer_is_correct_for_accuracy_though_its_exact_match_is_zero() -> None:
    row = {"id": "news-1", "question": "Which app?", "answers": ["RedNote"], "impossible": False}
    result = score_question(row, _answer("Americans moved to RedNote, a Chinese app [1]."))
    assert result.correct and result.exact_match == 0.0 and result.failure == ""


def test_accuracy_is_over_answerable_questions_and_a_refusal_counts_as_wrong() -> None:
    rows = [{"id": f"a{i}", "question": "?", "answers": ["Paris"], "impossible": False} for i in range(3)]
    impossible = {"id": "i", "question": "?", "answers": [], "impossible": True}
    results = [score_question(rows[0], _answer("It is Paris [1].")),
               score_question(rows[1], _answer("It is Lyon [1].")),
               score_question(rows[2], _answer(REFUSAL_TEXT, refused=True)),
               score_question(impossible, _answer("Paris [1]."))]
    summary = summarise_qa(results)
    assert summary["accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["refusal_accuracy"] == 0.0
    assert summary["refused_answerable"] == pytest.approx(1 / 3, abs=1e-4)


# ------------------------------------------------------------------------------------------ citations by document
def test_a_namespaced_jsonl_document_id_maps_back_to_its_corpus_id() -> None:
    assert corpus_id("corpus.jsonl#abc") == "abc"
    assert corpus_id("news/corpus.jsonl#a#b") == "b"  # the part after the last '#'
    assert corpus_id("french-instructors-ukraine.md") == "french-instructors-ukraine.md"


def test_a_citation_is_right_when_it_belongs_to_one_of_the_rows_doc_ids() -> None:
    row = {"id": "n", "question": "?", "answers": ["Starbucks"], "impossible": False, "doc_ids": ["be3c", "ae1c"]}
    assert score_question(row, _answer("Starbucks [1].", cited=[("news.jsonl#ae1c", "unrelated")])).citation_ok
    wrong = score_question(row, _answer("Starbucks [1].", cited=[("news.jsonl#zzz", "unrelated")]))
    assert wrong.citation_ok is False and not wrong.failure == ""


def test_a_citation_outside_doc_ids_is_right_when_its_passage_contains_an_accepted_answer() -> None:
    row = {"id": "n", "question": "?", "answers": ["Starbucks"], "impossible": False, "doc_ids": ["be3c"]}
    other = ("news.jsonl#other", "Starbucks said on Monday that its restrooms are for customers.")
    assert score_question(row, _answer("Starbucks [1].", cited=[other])).citation_ok


def test_a_squad_doc_id_matches_its_namespaced_stored_id() -> None:
    row = {"id": "5a", "question": "?", "answers": ["x"], "impossible": False, "doc_id": "a65b"}
    assert score_question(row, _answer("x [1]", cited=[("corpus.jsonl#a65b", "text")])).citation_ok


def test_citation_accuracy_summarises_answered_rows_with_doc_ids() -> None:
    row = {"id": "n", "question": "?", "answers": ["x"], "impossible": False, "doc_ids": ["d1"]}
    results = [score_question(row, _answer("x [1]", cited=[("c.jsonl#d1", "t")])),
               score_question(row, _answer("x [1]", cited=[("c.jsonl#d2", "t")])),
               score_question(row, _answer(REFUSAL_TEXT, refused=True))]
    summary = summarise_qa(results)
    assert summary["citation_accuracy"] == 0.5 and summary["citations_checked"] == 2


# ------------------------------------------------------------------------------------------ nuggets
def test_nugget_share_counts_facts_present_by_any_alternative_case_insensitively() -> None:
    nuggets = [["ammunition"], ["air defense", "air defence"], ["armored vehicles"], ["F-16"]]
    answer = "Umerov asked for Ammunition [1], artillery and air defence [1], and armored  vehicles [2]."
    assert nugget_share(answer, nuggets) == 0.75


def test_nugget_recall_is_the_mean_share_over_rows_with_nuggets_and_a_refusal_scores_zero() -> None:
    row = {"id": "seed-l1", "question": "What did Umerov request?", "answers": ["ammunition"],
           "impossible": False, "nuggets": [["ammunition"], ["artillery"]]}
    plain = {"id": "seed-x", "question": "?", "answers": ["x"], "impossible": False}
    results = [score_question(row, _answer("Ammunition and artillery [1].")),
               score_question(row, _answer("Ammunition [1].")),
               score_question(row, _answer(REFUSAL_TEXT, refused=True)),
               score_question(plain, _answer("x [1]."))]
    assert [r.nugget_recall for r in results] == [1.0, 0.5, 0.0, None]
    assert summarise_qa(results)["nugget_recall"] == 0.5


def test_a_row_with_nuggets_and_no_answers_is_judged_by_nuggets_only() -> None:
    row = {"id": "seed-s", "question": "Summarize the article.", "answers": [], "impossible": False,
           "nuggets": [["instructors"], ["Syrskyi"]]}
    result = score_question(row, _answer("France sends instructors to Ukraine [1]."))
    assert result.nugget_recall == 0.5 and result.correct is None and result.exact_match is None
    summary = summarise_qa([result])
    assert summary["accuracy"] is None and summary["nugget_recall"] == 0.5


# ------------------------------------------------------------------------------------------ verified sentences
def _sentence(text: str, supported: bool, removed: bool = False, **checks: bool) -> dict[str, object]:
    return {"text": text, "citations": [1], "supported": supported, "checks": checks, "removed": removed}


def test_supported_sentences_is_the_share_of_written_sentences_that_passed_verification() -> None:
    row = {"id": "n", "question": "?", "answers": ["x"], "impossible": False}
    first = _with(_answer("x [1]. y [1]."), sentences=[_sentence("x [1].", True, names=True, meaning=True),
                                                       _sentence("y [1].", True, names=True, meaning=True)])
    second = _with(_answer("x [1]."), sentences=[_sentence("x [1].", True, names=True, meaning=True),
                                                 _sentence("z [2].", False, True, names=False, meaning=True)])
    summary = summarise_qa([score_question(row, first), score_question(row, second)])
    assert summary["supported_sentences"] == 0.75 and summary["sentences_written"] == 4


def test_supported_sentences_is_none_when_no_answer_carries_sentences() -> None:
    row = {"id": "n", "question": "?", "answers": ["x"], "impossible": False}
    assert summarise_qa([score_question(row, _answer("x [1]."))])["supported_sentences"] is None


def test_the_per_question_result_lists_each_sentence_with_the_checks_it_failed() -> None:
    row = {"id": "n", "question": "?", "answers": ["x"], "impossible": False}
    answer = _with(_answer("x [1]."), sentences=[_sentence("z [2].", False, True, names=False, meaning=True)],
                   filters={"since": "2025-01-10", "until": "2025-01-17", "outlets": [], "prefer_recent": False})
    result = score_question(row, answer)
    assert result.sentences[0]["failed"] == ["names"] and result.sentences[0]["removed"] is True
    assert result.sentences[0]["checks"] == {"names": False, "meaning": True}
    assert result.filters["since"] == "2025-01-10"


def test_checks_recorded_per_passage_name_the_checks_no_passage_passed(tmp_path: Path) -> None:
    import numpy as np

    row = {"id": "n", "question": "?", "answers": ["x"], "impossible": False}
    removed = {"text": "Macron visited Kyiv.", "citations": [], "supported": False, "removed": True, "kind": "claim",
               "checks": {"1": {"names": False, "meaning": np.bool_(True), "similarity": np.float32(0.61),
                                "missing_names": ["Kyiv"], "support": [0]},
                          "2": {"names": False, "meaning": False, "similarity": 0.2, "missing_names": ["Macron"],
                                "support": []}}}
    kept = {"text": "x.", "citations": [1], "supported": True, "removed": False, "kind": "claim",
            "checks": {"1": {"names": True, "meaning": True, "similarity": 0.9, "missing_names": [], "support": [1]}}}
    ask_rows(type("Fake", (), {"ask": lambda self, q, h=None: _with(_answer("x [1]."), sentences=[removed, kept])})(),
             [row], tmp_path / "r.jsonl", progress=False)
    sentences = json.loads((tmp_path / "r.jsonl").read_text())["sentences"]
    assert sentences[0]["failed"] == ["names"] and sentences[0]["kind"] == "claim"
    assert sentences[0]["checks"]["1"]["similarity"] == pytest.approx(0.61)  # numpy values written as numbers
    assert sentences[1]["failed"] == []


# ------------------------------------------------------------------------------------------ asking: dates, subsets
class _DatedAssistant:
    """A fake assistant with the `as_of` keyword of the dates issue; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def ask(self, question: str, history: list | None = None, *, since: str | None = None,
            until: str | None = None, outlets: list | None = None, as_of: str | None = None) -> Answer:
        self.calls.append({"question": question, "as_of": as_of})
        return _with(_answer("RedNote [1].", cited=[("corpus.jsonl#d1", "RedNote")]),
                     filters={"since": "2025-01-10", "until": "2025-01-17"} if as_of else {})


class _UndatedAssistant:
    """A fake assistant from before the dates issue: `ask(question, history)` only."""

    def __init__(self) -> None:
        self.questions: list[str] = []

    def ask(self, question: str, history: list | None = None) -> Answer:
        self.questions.append(question)
        return _answer(REFUSAL_TEXT, refused=True)


_DATED_ROWS = [
    {"id": "news-1", "question": "Which app surged this week?", "answers": ["RedNote"], "impossible": False,
     "as_of": "2025-01-17", "doc_ids": ["d1"]},
    {"id": "news-2", "question": "Who won?", "answers": [], "impossible": True, "as_of": "2025-01-24"},
]


def test_each_rows_as_of_date_is_passed_to_an_assistant_that_takes_it(tmp_path: Path) -> None:
    fake = _DatedAssistant()
    results = ask_rows(fake, _DATED_ROWS, tmp_path / "r.jsonl", progress=False)
    assert [c["as_of"] for c in fake.calls] == ["2025-01-17", "2025-01-24"]
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines[0]["as_of"] == "2025-01-17" and lines[0]["filters"]["until"] == "2025-01-17"
    assert lines[0]["correct"] is True and lines[0]["cited_doc_ids"] == ["corpus.jsonl#d1"]
    assert summarise_qa(results)["asked_with_as_of"] == 2


def test_no_as_of_asks_without_dates(tmp_path: Path) -> None:
    fake = _DatedAssistant()
    results = ask_rows(fake, _DATED_ROWS, tmp_path / "r.jsonl", use_as_of=False, progress=False)
    assert [c["as_of"] for c in fake.calls] == [None, None]
    assert summarise_qa(results)["asked_with_as_of"] == 0


def test_an_assistant_without_as_of_is_asked_without_it(tmp_path: Path) -> None:
    fake = _UndatedAssistant()
    results = ask_rows(fake, _DATED_ROWS, tmp_path / "r.jsonl", progress=False)
    assert fake.questions == [r["question"] for r in _DATED_ROWS]
    assert [r.as_of for r in results] == ["", ""]


def test_the_per_question_file_keeps_its_fields_and_adds_the_new_ones(tmp_path: Path) -> None:
    ask_rows(_DatedAssistant(), _DATED_ROWS[:1], tmp_path / "r.jsonl", progress=False)
    line = json.loads((tmp_path / "r.jsonl").read_text())
    assert {"id", "question", "answer", "refused", "exact_match", "f1", "correct", "citation_ok", "cited_doc_ids",
            "latency_ms", "rewritten_question", "expected", "failure", "sentences", "filters", "as_of",
            "nugget_recall", "shown_doc_ids"} <= line.keys()


def test_a_subset_is_taken_from_an_offset_every_nth_row_up_to_a_limit() -> None:
    rows = list(range(10))
    assert select_rows(rows, offset=1, every=3) == [1, 4, 7]
    assert select_rows(rows, offset=1, every=3, limit=2) == [1, 4]
    assert select_rows(rows, limit=3) == [0, 1, 2]
    with pytest.raises(CorpusError):
        select_rows(rows, every=0)


def test_question_files_with_doc_ids_as_of_and_nuggets_load(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(_DATED_ROWS[0]) + "\n" + json.dumps(
        {"id": "s", "question": "Summarize.", "answers": [], "impossible": False, "nuggets": [["a"]]}) + "\n")
    rows = load_questions(path)
    assert rows[0]["doc_ids"] == ["d1"] and rows[0]["as_of"] == "2025-01-17" and rows[1]["nuggets"] == [["a"]]


# ------------------------------------------------------------------------------------------ the evaluation index
def test_the_eval_index_key_follows_the_corpus_and_the_settings_that_shape_an_index(tmp_path: Path) -> None:
    corpus = tmp_path / "news.jsonl"
    base = Settings()
    key = eval_index_key(corpus, base)
    assert key == eval_index_key(corpus, base.model_copy(update={"top_k": 8, "llm_max_tokens": 300}))
    assert key != eval_index_key(corpus, base.model_copy(update={"chunk_size": 800}))
    assert key != eval_index_key(corpus, base.model_copy(update={"embedding_backend": "torch"}))
    assert key != eval_index_key(corpus, base.tuned(title_weight=0.0))
    assert key != eval_index_key(corpus, base.tuned(near_duplicate_threshold=0.9))
    assert key == eval_index_key(corpus, base.tuned(hnsw_search_ef=50))  # changeable later
    assert key != eval_index_key(tmp_path / "other.jsonl", base)
    assert key.startswith(f"{tmp_path.name}-news.jsonl-")


def test_the_eval_index_is_never_the_users_own_index(tmp_path: Path, _isolated_data_dir: Path) -> None:
    settings = eval_settings(tmp_path / "c.jsonl")
    assert settings.data_dir.parent == tmp_path / "eval-index"  # RAG_EVAL_INDEX_DIR in these tests
    with pytest.raises(CorpusError, match="your own index"):
        eval_settings(tmp_path / "c.jsonl", index_dir=_isolated_data_dir)


def _tiny_beir(folder: Path) -> tuple[Path, Path, Path]:
    folder.mkdir()
    docs = {"d1": "The Eiffel Tower is in Paris, France.", "d2": "Mount Fuji is the highest mountain in Japan.",
            "d3": "The Nile flows north through Egypt into the Mediterranean Sea."}
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items()))
    queries = folder / "queries.jsonl"
    queries.write_text(json.dumps({"_id": "q1", "text": "Which river flows through Egypt?"}) + "\n")
    qrels = folder / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td3\t1\n")
    return corpus, queries, qrels


@pytest.mark.model
def test_a_second_evaluation_reuses_the_eval_index_and_indexes_nothing(tmp_path: Path,
                                                                        _isolated_data_dir: Path) -> None:
    corpus, queries, qrels = _tiny_beir(tmp_path / "beir")
    first = evaluate_retrieval(corpus, queries, qrels, progress=False)
    second = evaluate_retrieval(corpus, queries, qrels, progress=False)
    assert first["index"]["added"] == 3 and first["index"]["passages_added"] > 0
    assert second["index"]["added"] == 0 and second["index"]["passages_added"] == 0
    assert second["index"]["skipped"] == 3 and second["index"]["dir"] == first["index"]["dir"]
    assert second["ndcg@10"] == first["ndcg@10"] == 1.0  # qrels name bare ids; stored ids are namespaced
    assert not _isolated_data_dir.exists(), "the evaluation must never touch the user's data dir"


@pytest.mark.model
def test_an_explicit_index_dir_is_used_and_kept(tmp_path: Path) -> None:
    corpus, queries, qrels = _tiny_beir(tmp_path / "beir")
    result = evaluate_retrieval(corpus, queries, qrels, progress=False, index_dir=tmp_path / "mine")
    assert result["index"]["dir"] == str(tmp_path / "mine") and (tmp_path / "mine").is_dir()


# ------------------------------------------------------------------------------------------ the tutorial baseline
def test_the_tutorial_baseline_counts_i_dont_know_as_a_refusal_and_is_scored_like_rag_eval() -> None:
    from langchain_core.documents import Document
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from bench.tutorial_qa import answer_one, says_it_does_not_know

    assert says_it_does_not_know("I don't know the answer.") and says_it_does_not_know("I do not know.")
    assert not says_it_does_not_know("Syrskyi signed the documents.")

    passage = Document(page_content="Syrskyi has already signed the documents.",
                       metadata={"doc_id": "seed.md", "start_index": 0})
    store = type("Store", (), {"as_retriever": lambda self, **kw: type(
        "R", (), {"invoke": lambda self, q: [passage]})()})()
    llm = FakeListChatModel(responses=["Syrskyi signed them.", "I don't know."])
    row = {"id": "seed-d2", "question": "Who signed?", "answers": ["Syrskyi"], "impossible": False,
           "evidence": "already signed the documents"}
    impossible = {"id": "seed-d5", "question": "Population?", "answers": [], "impossible": True}
    first = score_question(row, answer_one(store, llm, row["question"]), check_citations=False)
    second = score_question(impossible, answer_one(store, llm, impossible["question"]), check_citations=False)
    assert first.correct and first.evidence_shown and first.citation_ok is None
    assert second.refused and second.correct


# ------------------------------------------------------------------------ what verification withheld (issue 21)
def _with_sentences(answer: Answer, sentences: list[tuple[str, bool]]) -> Answer:
    answer.sentences = [{"text": t, "citations": [], "supported": not removed, "removed": removed, "kind": "claim",
                         "checks": {}} for t, removed in sentences]
    return answer


def test_a_refusal_whose_removed_sentence_held_the_answer_counts_as_withheld_right() -> None:
    row = {"id": "n1", "question": "Where did the theft happen?", "answers": ["Atlanta"], "impossible": False}
    withheld = score_question(row, _with_sentences(_answer(REFUSAL_TEXT, refused=True),
                                                   [("The crime took place in Atlanta, Georgia.", True)]))
    assert withheld.withheld_right and withheld.withheld_wrong == 0


def test_removed_sentences_without_the_answer_count_as_withheld_wrong_and_a_kept_answer_is_not_withheld() -> None:
    row = {"id": "n2", "question": "Where?", "answers": ["Atlanta"], "impossible": False}
    kept = score_question(row, _with_sentences(_answer("It happened in Atlanta [1]."),
                                               [("It happened in Atlanta.", False), ("Atlanta is in Ohio.", True),
                                                ("Police named Bob Smith.", True)]))
    assert not kept.withheld_right and kept.withheld_wrong == 1
    impossible = {"id": "n3", "question": "?", "answers": [], "impossible": True}
    refused = score_question(impossible, _with_sentences(_answer(REFUSAL_TEXT, refused=True), [("Paris.", True)]))
    summary = summarise_qa([kept, refused])
    assert (summary["withheld_right"], summary["withheld_wrong"], summary["answered_precision"]) == (0, 2, 1.0)


def test_a_nugget_reads_punctuation_as_a_space_as_the_data_says() -> None:
    assert nugget_share("Ukraine asked for air defense systems [1].", [["air-defense"], ["Kyiv's"]]) == 0.5
