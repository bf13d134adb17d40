"""Evidence selection: from the retrieved passages, the sentences the model should read.

A 1.5B model answers better from a few relevant sentences than from four whole passages, and it
reads a prompt at 60-90 tokens/s on two cores, so less evidence is also a faster first token. For
each retrieved passage the sentences are scored against the question (`sentence_score`: cosine of
the bundled MiniLM vectors plus a share of the question's words) and the best ones are taken, best
first, until `evidence_chars` is spent. A sentence that opens with a pronoun or connective brings
the sentence before it (`needs_previous`: "He said ..." means nothing alone). Within each passage
the chosen sentences keep document order. The blocks are grouped by article (`Evidence.format`): the
article's title, outlet and date once, then one line per block, "[n] sentences", numbered [1]..[m] in
the order the model reads them (articles in the order of their best passage, a block's passages by
rank). Every token of the prompt costs ~10 ms on two cores before the first answer token: a header
and quote fences repeated per block were ~15 tokens each; grouped, the seed questions' prompts are
~10% shorter with the same evidence.

Whole-article questions ("Summarize the article") take an article's lead sentences instead
(`lead_evidence`): news puts its key facts first (the inverted pyramid), and a question-similarity
ranking of "summarize the article" finds nothing in particular.

The vectors of every sentence of every block are kept: verification compares answer sentences with
them, so each sentence is embedded once per question. Sentences addressed to an AI assistant are
left out (`rag.answer.injection`). This module does not call the LLM.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rag.answer.injection import instructions_in, is_instruction
from rag.types import Citation, split_sentences

__all__ = ["EvidenceBlock", "Evidence", "select_evidence", "lead_evidence", "sentence_score", "needs_previous",
           "header", "human_date", "content_stems", "reading_order", "MAX_HEADER_TITLE", "EVIDENCE_WINDOW"]

MAX_HEADER_TITLE = 200  # characters of a title shown to the model: a title is a label, not a document
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    "a an the of to in on and or for by with as at is was were are be been being it its that this these those from "
    "he she they his her their them which who whom whose what when where why how did do does done has have had "
    "will would can could should may might about into than then there here not no but if so also more most some "
    "any all one two many much week year day month new said says say".split())
# Sentence openings that point back to the sentence before.
_BACK_REFERENCE = re.compile(
    r"^(?:[\"“'‘(]\s*)?(?:he|she|it|they|this|that|these|those|his|her|its|their|there|such|both|but|however|also|"
    r"meanwhile|instead|still|yet|then|the move|the decision|the company|the agency|the ministry|the minister|"
    r"the president|the official|the group|the report|the statement)\b", re.IGNORECASE)


def content_stems(text: str) -> set[str]:
    """Lower-cased word prefixes (5 letters) without stop-words: a crude stemmer that needs no data."""
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


def sentence_score(similarity: float, question_stems: set[str], sentence: str, lexical_weight: float) -> float:
    """Cosine to the question plus `lexical_weight` x the share of the question's words in the sentence.

    Reason: the cosine finds paraphrases; the word share keeps the sentence that names the question's
    exact entity above a similar sentence about another one.
    """
    if not question_stems:
        return similarity
    return similarity + lexical_weight * len(question_stems & content_stems(sentence)) / len(question_stems)


def needs_previous(sentence: str) -> bool:
    """True when a sentence opens with a pronoun or connective, so it needs the one before to make sense."""
    return bool(_BACK_REFERENCE.match(sentence))


def human_date(iso: str) -> str:
    """"2025-03-18" -> "18 March 2025" (the form people and the model write); other text unchanged."""
    try:
        day = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{day.day} {day.strftime('%B')} {day.year}"


def header(c: Citation) -> str:
    """What the model sees above a block: title (cut, filtered), outlet and date. All of it is data."""
    title = " ".join(c.title.split())[:MAX_HEADER_TITLE]
    if title and is_instruction(title):
        title = ""
    parts = [f'"{title}"' if title else "(untitled)"]
    meta = ", ".join(x for x in (" ".join(c.outlet.split())[:80], human_date(c.date)) if x)
    return f"{parts[0]} ({meta})" if meta else parts[0]


@dataclass
class EvidenceBlock:
    n: int
    citation: Citation                      # the passage, numbered n
    spans: list[tuple[int, int]]            # every sentence of the passage (passage coordinates)
    vectors: np.ndarray                     # one row per span
    chosen: list[int] = field(default_factory=list)  # indexes into spans, document order
    # Vectors of each two adjacent sentences, embedded on first use by verification and then kept:
    # every answer sentence checked against this block reuses them.
    pair_vectors: np.ndarray | None = field(default=None, repr=False)
    title_vector: np.ndarray | None = field(default=None, repr=False)  # the article title's, on first use

    @property
    def text(self) -> str:
        """The chosen sentences as the model reads them."""
        return " ".join(self.citation.text[s:e] for s, e in (self.spans[i] for i in self.chosen))

    def sentence(self, i: int) -> str:
        s, e = self.spans[i]
        return self.citation.text[s:e]

    def article_span(self, i: int) -> tuple[int, int]:
        s, e = self.spans[i]
        return (self.citation.start + s, self.citation.start + e)


@dataclass
class Evidence:
    blocks: list[EvidenceBlock]
    dropped_instructions: int = 0

    def format(self) -> str:
        """What the model reads: per article its header once, then one line per block.

        A block is one line (its whitespace, newlines included, collapsed): article text cannot start a
        line of its own that looks like another block, a header or the question.
        """
        groups: dict[str, list[EvidenceBlock]] = {}
        for b in self.blocks:
            groups.setdefault(b.citation.doc_id, []).append(b)
        return "\n\n".join(header(g[0].citation) + "".join(f"\n[{b.n}] {' '.join(b.text.split())}" for b in g)
                           for g in groups.values())

    @property
    def citations(self) -> list[Citation]:
        return [b.citation for b in self.blocks]

    def __bool__(self) -> bool:
        return bool(self.blocks)


def _sentences(passages: list[Citation], embed: Any) -> tuple[list[list[tuple[int, int]]], list[np.ndarray], int]:
    """Sentence spans of each passage (instructions left out) and their vectors, embedded in one call."""
    spans_of: list[list[tuple[int, int]]] = []
    dropped = 0
    for k, p in enumerate(passages):
        every = split_sentences(p.text)
        # Judged against the other passages too: the more text, the surer a sentence's language (rag.answer.injection).
        flagged = instructions_in(p.text, every, " ".join(q.text for j, q in enumerate(passages) if j != k))
        dropped += len(flagged)
        spans_of.append([span for i, span in enumerate(every) if i not in flagged])
    flat = [p.text[s:e] for p, spans in zip(passages, spans_of) for s, e in spans]
    vectors = np.asarray(embed(flat), dtype=np.float32) if flat else np.zeros((0, 384), dtype=np.float32)
    out, at = [], 0
    for spans in spans_of:
        out.append(vectors[at:at + len(spans)])
        at += len(spans)
    return spans_of, out, dropped


# Sentences taken on each side of a chosen sentence, inside its passage (a sentence window, as in
# LlamaIndex's sentence-window retrieval). Reason (issue 21): the sentence that answers often shares no
# word with the question: the attribution before a quote ("According to Reuters, ..."), the date sentence
# of an event, the second half of a quote. Measured with bench/evidence_recall.py (docs/BENCHMARKS.md).
EVIDENCE_WINDOW = 1


def select_evidence(question: str, question_vec: np.ndarray, passages: list[Citation], embed: Any, *,
                    budget_chars: int, lexical_weight: float, window: int | None = None) -> Evidence:
    """The most relevant sentences of `passages`, each with `window` neighbours on either side, within
    `budget_chars` (default `EVIDENCE_WINDOW`), grouped per passage.

    Sentences are taken best first; each brings its neighbourhood when that fits the budget, else the
    sentence alone (with the one before it when it opens with a back-reference, `needs_previous`).
    """
    window = EVIDENCE_WINDOW if window is None else window
    spans_of, vectors_of, dropped = _sentences(passages, embed)
    q_stems = content_stems(question)
    candidates = []
    for pi, (p, spans, vecs) in enumerate(zip(passages, spans_of, vectors_of)):
        sims = vecs @ question_vec if len(spans) else np.zeros(0)
        for si, (s, e) in enumerate(spans):
            candidates.append((sentence_score(float(sims[si]), q_stems, p.text[s:e], lexical_weight), pi, si))
    candidates.sort(key=lambda c: -c[0])
    chosen: dict[int, set[int]] = {}
    used = 0

    def cost(pi: int, picks: set[int]) -> int:
        return sum(spans_of[pi][i][1] - spans_of[pi][i][0] + 1 for i in picks)

    for _, pi, si in candidates:
        core = {si}
        if si > 0 and needs_previous(passages[pi].text[slice(*spans_of[pi][si])]):
            core.add(si - 1)
        have = chosen.get(pi, set())
        if si in have:
            continue
        around = core | set(range(max(0, si - window), min(len(spans_of[pi]), si + window + 1)))
        for picks in (around - have, core - have):
            # The first sentence is always read, even alone over the budget; its window only when it fits.
            if used + cost(pi, picks) <= budget_chars or (not used and picks == core - have):
                chosen.setdefault(pi, set()).update(picks)
                used += cost(pi, picks)
                break
        # else: a later, shorter sentence may still fit
        if used >= budget_chars:
            break
    blocks = []
    for pi in reading_order(passages, chosen):
        n = len(blocks) + 1
        blocks.append(EvidenceBlock(n, replace(passages[pi], n=n), spans_of[pi], vectors_of[pi], sorted(chosen[pi])))
    return Evidence(blocks, dropped)


def reading_order(passages: list[Citation], chosen: Iterable[int]) -> list[int]:
    """Indexes of the `chosen` passages as the model reads them: grouped by article, articles in the
    order of their best-ranked passage, passages by rank within an article (numbers then run 1..m)."""
    groups: dict[str, list[int]] = {}
    for pi in sorted(chosen):
        groups.setdefault(passages[pi].doc_id, []).append(pi)
    return [pi for group in groups.values() for pi in group]


def lead_evidence(passages: list[Citation], embed: Any, *, budget_chars: int) -> Evidence:
    """An article's first sentences (its passages in order) within `budget_chars`: for summaries."""
    spans_of, vectors_of, dropped = _sentences(passages, embed)
    blocks, used = [], 0
    for p, spans, vecs in zip(passages, spans_of, vectors_of):
        chosen = []
        for si, (s, e) in enumerate(spans):
            if used and used + (e - s) > budget_chars:
                break
            chosen.append(si)
            used += e - s + 1
        if chosen:
            n = len(blocks) + 1
            blocks.append(EvidenceBlock(n, replace(p, n=n), spans, vecs, chosen))
        if used >= budget_chars:
            break
    return Evidence(blocks, dropped)


# Sentences a long answer ("why", "how did", "summarize") should hold (EXPLAIN_GUIDANCE asks three to five).
LONG_ANSWER_SENTENCES = 5
# Cosine above which an evidence sentence says what a kept answer sentence already says.
SAME_FACT_SIMILARITY = 0.8


def completing_sentences(question_vec: np.ndarray, question: str, evidence: Evidence, kept: list[str],
                         embed: Any, *, target: int = LONG_ANSWER_SENTENCES) -> list[str]:
    """The evidence's best sentences that a long answer of `kept` sentences lacks, as "sentence [n]", up
    to `target` sentences in all: ranked as evidence selection ranks them (`sentence_score`), leaving out
    what a kept sentence already says (cosine above SAME_FACT_SIMILARITY) and sentences that open with a
    back-reference ("He said ...", `needs_previous`), which mean nothing alone.

    Reason (issue 21): asked why/how/to summarise, the 1.5B model writes two or three sentences and
    states half of the key facts it reads (long-form dev: 0.342 of the nuggets, with 0.72 in the
    evidence); the article's own sentences, cited, complete the answer (0.448 on the recorded answers,
    measured offline over the same evidence) and are checked like every other sentence.
    """
    if len(kept) >= target:
        return []
    q_stems = content_stems(question)
    ranked = []
    for b in evidence.blocks:
        for i in b.chosen:
            text = b.sentence(i).strip()
            if needs_previous(text) or not text.endswith((".", "!", "?", '"', "”", "’")):
                continue
            ranked.append((sentence_score(float(b.vectors[i] @ question_vec), q_stems, text, 0.3), b.n, i, text))
    ranked.sort(key=lambda r: -r[0])
    have = np.asarray(embed(kept), dtype=np.float32) if kept else np.zeros((0, len(question_vec)), dtype=np.float32)
    added: list[str] = []
    for _, n, i, text in ranked:
        if len(kept) + len(added) >= target:
            break
        vec = next(b.vectors[i] for b in evidence.blocks if b.n == n)
        if len(have) and float(np.max(have @ vec)) > SAME_FACT_SIMILARITY:
            continue
        have = np.vstack([have, vec[None, :]])
        added.append(f"{text} [{n}]")
    return added
