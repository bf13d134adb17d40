"""Citation checking, refusal detection and question validation: the answer contract in isolation."""

from __future__ import annotations

import pytest

from rag import QuestionError
from rag.answering import (Citation, check_citations, ground, is_refusal, question_coverage, question_names,
                           validate_question)


def test_citations_outside_the_passages_are_removed_and_noted() -> None:
    text, cited, notes = check_citations("Ammunition [1] and artillery [7].", k=4)
    assert text == "Ammunition [1] and artillery."
    assert cited == [1]
    assert notes == ["removed citation [7]: there were only 4 passages"]


def test_grouped_citations_are_split_and_checked() -> None:
    text, cited, notes = check_citations("Weapons [2, 3, 9].", k=3)
    assert text == "Weapons [2][3]."
    assert cited == [2, 3] and len(notes) == 1


def test_valid_citations_keep_their_order_without_duplicates() -> None:
    _, cited, notes = check_citations("A [3]. B [1]. C [3].", k=4)
    assert cited == [3, 1] and notes == []


@pytest.mark.parametrize("text", ["NOT FOUND", "NOT FOUND.", "**NOT FOUND**", "",
                                  "The passages do not contain this information."])
def test_refusals_are_recognised(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", ["Umerov requested ammunition and artillery [1].",
                                  "Syrskyi signed the documents [2]."])
def test_answers_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)


def _passage(n: int, text: str) -> Citation:
    return Citation(n=n, doc_id="d", title="t", source="s", start=0, end=len(text), text=text, score=0.1)


GROUNDING_PASSAGES = [_passage(1, "Macron spoke in Paris."), _passage(2, "Syrskyi signed the documents on Sunday."),
                      _passage(3, "On Sunday it rained. Syrskyi visited a school in Lviv.")]


def test_grounding_cites_the_passage_that_states_an_uncited_answer() -> None:
    text, cited, note = ground("Syrskyi", [], GROUNDING_PASSAGES, "Who signed the documents?", 0.4)
    # [3] also names Syrskyi, but what it says around him is not about signing documents
    assert (text, cited) == ("Syrskyi [2]", [2])
    assert note == "the model cited nothing; [2] states the answer"


def test_grounding_replaces_a_wrong_citation_and_keeps_a_right_one() -> None:
    assert ground("Syrskyi [1]", [1], GROUNDING_PASSAGES, "Who signed the documents?", 0.4)[:2] == ("Syrskyi [2]", [2])
    assert ground("Syrskyi [2].", [2], GROUNDING_PASSAGES, "Who signed the documents?", 0.4) == ("Syrskyi [2].", [2], "")


def test_grounding_refuses_an_answer_no_passage_states() -> None:
    _, cited, note = ground("The moon is made of cheese [1]", [1], GROUNDING_PASSAGES, "What is the moon made of?", 0.4)
    assert cited == [] and "which no passage states" in note


def test_grounding_refuses_a_span_about_something_else() -> None:
    # "Lviv" is in [3], but nothing around it is about where the documents were signed.
    _, cited, note = ground("Lviv [3]", [3], GROUNDING_PASSAGES, "In which city were the documents signed?", 0.4)
    assert cited == [] and "covers at most" in note


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_empty_question_is_a_clear_error(question: str) -> None:
    with pytest.raises(QuestionError, match="empty"):
        validate_question(question, 2000)


def test_oversized_question_is_a_clear_error() -> None:
    with pytest.raises(QuestionError, match="limit is 2000"):
        validate_question("why " * 1000, 2000)


def test_control_characters_are_a_clear_error() -> None:
    with pytest.raises(QuestionError, match="control characters"):
        validate_question("What did\x00 Umerov request?", 2000)


def test_question_is_trimmed() -> None:
    assert validate_question("  What did Umerov request?  ", 2000) == "What did Umerov request?"


PASSAGE = ("The defence minister met the French delegation in Kyiv. Rustem Umerov requested more ammunition "
           "and air defence systems. The talks lasted two days. In 1998 the factory in Lviv was sold.")


def test_answer_about_the_question_is_covered() -> None:
    assert question_coverage("What did Umerov request?", "more ammunition and air defence systems [1]", PASSAGE) == 1.0


def test_span_from_a_sentence_about_something_else_is_not_covered() -> None:
    # Same passage, a plausible-looking span, but the sentence around "1998" is about a factory sale.
    coverage = question_coverage("In what year did Umerov visit Paris?", "1998 [1]", PASSAGE)
    assert coverage < 0.4


def test_answer_that_is_not_in_the_passage_is_not_covered() -> None:
    assert question_coverage("What did Umerov request?", "tanks and jets", PASSAGE) == 0.0


def test_answer_without_content_words_is_not_judged() -> None:
    assert question_coverage("What did Umerov request?", "[1]", PASSAGE) == 1.0


def test_question_names_are_its_capitalised_words_and_numbers() -> None:
    assert question_names("When did King George's war end in 1748?") == {"king", "georg", "1748"}
    assert question_names("What did he ask for?") == set()  # the first word is capitalised by grammar


def test_grounding_refuses_a_passage_that_lacks_a_name_of_the_question() -> None:
    # The span is stated and the words around it match, but the question is about someone else.
    _, cited, note = ground("the documents [2]", [2], GROUNDING_PASSAGES, "Which documents were signed by Umerov on Sunday?", 0.4)
    assert cited == [] and "names and numbers" in note


def test_grounding_refuses_the_positive_answer_to_a_negated_question() -> None:
    _, cited, _ = ground("Syrskyi [2]", [2], GROUNDING_PASSAGES, "Who did not sign the documents?", 0.4)
    assert cited == []
    assert ground("Syrskyi [2]", [2], GROUNDING_PASSAGES, "Who did not sign the documents?", 0)[1] == [2, 3]  # checks off
