"""The seed questions, asked of the real assistant: bundled MiniLM, local Chroma, bundled GGUF.

Each row of `tests/data/seed_questions.jsonl` (a copy of the shared evaluation file) is one test:
an answerable question must be answered with one of the expected strings and cite a passage that
contains its `evidence`; an unanswerable one must be refused with no citation. The other tests
cover the conversational and streaming behaviour of the same chain.
"""

from __future__ import annotations

import json

import pytest

from rag import REFUSAL_TEXT

from ..factories import DATA

SEED_FILE = DATA / "seed_questions.jsonl"
ROWS = [json.loads(line) for line in SEED_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]

pytestmark = pytest.mark.slow


# seed-d1 ("What did Umerov request?"): the article reports two requests by Umerov, more weapons
# ("specifically pleading with France to deliver more weapons") and that France "deploy the instructors as
# soon as possible". The development file accepts only the first; the model has answered each in different
# builds of the evidence (the first since the evidence is grouped by article). Either is a right reading of
# the article, so this test accepts both; the goal figure (`rag eval qa` on the shared file,
# docs/BENCHMARKS.md) counts only what the file accepts.
# id -> (answers, the passage text that states them)
_ALSO_RIGHT = {"seed-d1": (["deploy the instructors", "deploy instructors"], "deploy the instructors as soon as possible")}


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_seed_question(seed_assistant, row: dict) -> None:
    answer = seed_assistant.ask(row["question"], row.get("history"))
    if row["impossible"]:
        assert answer.refused, f"expected a refusal, got {answer.text!r}"
        assert answer.text.startswith(REFUSAL_TEXT) and len(answer.text) > len(REFUSAL_TEXT)  # with its reason
        assert answer.citations == []
        return
    assert not answer.refused, f"refused an answerable question; notes: {answer.notes}"
    text = answer.text.lower()
    evidence = row["evidence"]
    if not any(expected.lower() in text for expected in row["answers"]) and row["id"] in _ALSO_RIGHT:
        also, evidence = _ALSO_RIGHT[row["id"]]
        assert any(expected in text for expected in also), answer.text
    else:
        assert any(expected.lower() in text for expected in row["answers"]), answer.text
    # answered in sentences, each ending with its citation, every one verified
    assert answer.sentences and all(s["supported"] for s in answer.sentences if not s["removed"])
    assert answer.text.rstrip().endswith(("].", "]")) and len(answer.text.split()) >= 3, answer.text
    assert any(evidence in c.text for c in answer.citations), (
        f"no cited passage contains {evidence!r}: {[c.text[:80] for c in answer.citations]}")


def test_follow_up_question_is_rewritten_with_the_earlier_turn(seed_assistant) -> None:
    history = [
        {"role": "user", "content": "What did Slovak Prime Minister Robert Fico claim to have seen?"},
        {"role": "assistant", "content": "A “limited” NATO document [1]"},
    ]
    answer = seed_assistant.ask("What happened to him since then?", history)
    # The rewrite resolves "him", so retrieval finds the passage that answers the follow-up.
    # (Which fact the 1.5B model then picks from it varies with the prompt; the seed rows test that.)
    assert "fico" in answer.rewritten_question.lower(), answer.rewritten_question
    assert any("assassination" in p.text for p in answer.passages), [p.text[:80] for p in answer.passages]
    assert not answer.refused, answer.notes
    assert answer.citations and all(c in answer.passages for c in answer.citations)


def test_answer_streams_tokens_before_the_final_answer(seed_assistant) -> None:
    # Answers are sentences: many tokens stream before the answer is verified.
    events = list(seed_assistant.stream("From when did Ukraine say it was interested in receiving foreign instructors?"))
    kinds = [e.kind for e in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    tokens = [e.text for e in events if e.kind == "token"]
    assert len(tokens) >= 3, kinds
    final = events[-1].answer
    assert final is not None and not final.refused
    # what was streamed is the answer being written (the final text only settles the citations)
    assert "".join(tokens).split("[")[0].strip().lower()[:10] in final.text.lower()
    assert all(c.spans for c in final.citations)  # the supporting sentences, for highlighting
    assert final.timings.first_token_ms is not None and final.timings.first_token_ms <= final.timings.total_ms
