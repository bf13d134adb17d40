"""Fusion with story limits: one relevant article among hundreds of unrelated ones (issue 21, defect 1).

Real MiniLM, real Chroma, real BM25: the seed article indexed beside the 411 SQuAD 2.0 paragraphs of the
development data. Capped per story before fusion, each retriever kept its own five passages of the seed
article, each got one vote, and unrelated paragraphs that both retrievers ranked lower won the places.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Assistant, Settings

from ..factories import SHARED_EVAL, seed_corpus

SQUAD = SHARED_EVAL / "squad2" / "corpus.jsonl"

pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not SQUAD.exists(), reason="needs ../shared/eval/squad2 (the distractors)")]
SEED = "french-instructors-ukraine.md"


@pytest.fixture(scope="module")
def among_distractors(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    folder = seed_corpus(tmp_path_factory.mktemp("seed-among-squad"), {"squad.jsonl": SQUAD})
    assistant = Assistant(Settings(data_dir=tmp_path_factory.mktemp("data")))
    assistant.index(folder)
    return assistant


@pytest.mark.parametrize("question,needle", [
    ("Who signed the documents allowing French instructors to arrive?", "already signed the documents"),
    ("Who is Ukraine's new commander in chief?", "Syrskyi"),
    ("What did Umerov request?", "ammunition"),
])
def test_the_one_relevant_article_fills_the_places_among_hundreds_of_distractors(
        among_distractors: Assistant, question: str, needle: str) -> None:
    found = among_distractors.search(question, k=6)
    from_seed = [p for p in found if p.doc_id == SEED]
    assert len(from_seed) >= 3, [p.doc_id for p in found]  # tree at c571c0b: 2 of 6 for the first question
    assert any(needle in p.text for p in from_seed)


def test_a_flooding_story_still_leaves_room_for_other_articles(among_distractors: Assistant, tmp_path: Path) -> None:
    # Fusion sees whole lists now; the story limit on the fused ranking keeps one story to five places.
    found = among_distractors.search("What did Umerov request?", k=8)
    assert sum(p.doc_id == SEED for p in found) <= Settings().tuning.candidates_per_story
