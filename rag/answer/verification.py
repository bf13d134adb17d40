"""Where a citation is checked: every sentence of an answer against the passages it cites.

The answer is split into sentences (`rag.types.split_sentences`). Each sentence that makes a claim
must pass, against at least one evidence block it cites, every check of the policy:
- `missing_names`: every number, date and proper name of the sentence occurs in the block (its
  text, title, outlet or date), after normalising case, thousands separators, possessives, month
  abbreviations, small number words, dotted initialisms ("U.S." = "US", `undotted`), ordinals
  ("first" = "1st", `ordinal`), hyphens in codes ("3-D" = "3D", `unhyphenated`), magnitudes
  ("$3.5bn" = "$3.5 billion", `magnitude`) and a number written apart from its unit ("10 a.m." =
  "10am", `joined_units`). A number keeps the letters written onto it: "3D" and "250th" are
  checked whole, never as a bare 3 or 250. Names the question already uses are the user's premise
  and are not checked, unless a shown passage holds them: then the cited passage's article must name
  them too (`premise_words`: a fact of another story is not about the question's subject). Reason: a wrong name or figure is the error a reader cannot spot, and the
  one a small model makes when two people share a passage.
- `support_similarity`: the sentence means what the block says: the MiniLM cosine of the sentence,
  read after the question it answers (`claim_text`: "The speech took place in the Oval Office."
  says where the question's speech was), to the closest sentence (or pair of adjacent sentences)
  of the block is at least `min_support_similarity`.
  Reason: a sentence whose words all occur in a passage can still say something the passage does not.
A sentence that fails against what it cites but passes against another block shown to the model is
re-cited to that block; one that no block supports is removed and reported in the notes. A sentence
that only says what the articles do not state ("The articles give no date") is kept without a
citation when some claim survives: a partial answer names its gap. If no claim survives, the
answer becomes the refusal.

Nothing here judges whether an answer is *true*; only whether the cited passages say it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

import numpy as np

from rag.answer.evidence import Evidence, EvidenceBlock, human_date
from rag.answer.injection import not_evidence
from rag.types import cited_numbers, split_sentences, strip_citations

__all__ = ["VerificationPolicy", "loops", "Verified", "with_citations", "claim_text", "missing_names", "names_in", "normalise",
           "is_absence", "on_the_subject", "fastened_to_subject", "number_words", "without_apposition", "premise_spelling", "stated_fragment", "undotted", "unhyphenated", "ordinal", "magnitude", "joined_units", "initialisms_in"]

_MONTHS = {"jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june", "jul": "july",
           "aug": "august", "sep": "september", "sept": "september", "oct": "october", "nov": "november",
           "dec": "december"}
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
_COMPOUND_NUMBER = re.compile(r"\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[-\s](one|two|three|four|"
                              r"five|six|seven|eight|nine))?\b")


def number_words(text: str) -> set[str]:
    """The figures that a lower-case text writes in words up to ninety-nine: "twenty-five years" -> {"25"}.

    Reason (issue 21): a model writes "25 years" or "40-day" for a passage's "twenty-five years" or "forty
    days"; the figure is the same fact.
    """
    return {str(_TENS[tens] + int(_NUMBER_WORDS.get(unit, 0) if unit else 0))
            for tens, unit in _COMPOUND_NUMBER.findall(text)}
# Capitalised words that are not names: they start sentences or are capitalised by convention.
_NOT_NAMES = frozenset(
    "a an the this that these those it its he she they his her their them we our you your i in on at of for "
    "to from by with as after before when while if but and or so also however according yes no not there "
    "here what which who why how where some many most all both each other another one two three first "
    "last new said says despite during since until about over under than then though although because "
    "meanwhile instead still yet now today yesterday tomorrow".split())
_ORDINAL_WORDS = {w: f"{i}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(i if i < 20 else i % 10, 'th') }" for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split(), start=1)}
# A name or number of a sentence: a dotted initialism, spaced or not ("U.S.", "U. S.", "D.C."), is one
# token, not one-letter pieces; a number keeps the letters written onto it ("250th", "3D", "5G", "10am"),
# since "3D" is not the number 3 and "250th" is not a count of 250.
_TOKEN = re.compile(r"(?:[A-Z]\.\s?){2,}|[A-Za-zÀ-ÖØ-öø-ÿ][\w'’.-]*|\d[\d,.]*(?:[A-Za-z]+\d*)?")
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]\.?")
# A short initialism of a sentence ("US", "U.S", "UK", "EU", "NBA"); longer ones ("CUPE") read like names.
_SHORT_INITIALISM = re.compile(r"(?:[A-Z]\.?){2,3}")
_CAPITALS = re.compile(r"\b(?:[A-Za-z]\.\s?){2,}|\b[A-Z]{2,}\b")  # "U.S.", "a.m.", "US"
_MAGNITUDES = {"k": "thousand", "m": "million", "mn": "million", "bn": "billion", "b": "billion", "tn": "trillion",
               "trn": "trillion", **{w: w for w in ("thousand", "million", "billion", "trillion")}}
_MAGNITUDE = re.compile(r"(\d[\d,.]*)(k|mn?|bn?|trn?|thousand|million|billion|trillion)")
_NUMBER_AND_UNIT = re.compile(r"\b(\d[\d,.]*)\s+([a-z](?:\.?[a-z]){0,2})(?![\w-])\.?")
# Statements about what the evidence lacks (a partial answer naming its gap).
_WORDLIKE = re.compile(r"[^\W_]")  # a letter or a digit
_ABSENCE = re.compile(
    r"\b(?:do(?:es)?n[o']?t|do(?:es)? not|did not|didn't)\s+(?:say|mention|give|specify|state|provide|include|"
    r"report|reveal|explain|indicate|name|list)\b|\bno (?:information|details?|mention|date|figure|reason)\b|"
    r"\bnot (?:mentioned|specified|stated|given|reported|provided|known|clear)\b|\bunclear\b",
    re.IGNORECASE)


def normalise(text: str) -> str:
    """Lower case; curly quotes straight; possessives, thousands separators and month abbreviations undone."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"'s\b", "", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"\b(jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.", lambda m: _MONTHS[m.group(1)], text)
    return text


def undotted(word: str) -> str:
    """"u.s." -> "us", "d.c" -> "dc"; other words unchanged.

    Reason: a dotted initialism and its undotted form name the same thing, and a model writes either.
    """
    return word.replace(".", "") if _DOTTED.fullmatch(word) else word


def unhyphenated(word: str) -> str:
    """"3-d" -> "3d", "covid-19" -> "covid19".

    Reason: a code of letters and digits is one name however it is hyphenated ("3D", "3-D").
    """
    return word.replace("-", "")


def ordinal(word: str) -> str:
    """"first" -> "1st", "twentieth" -> "20th"; other words unchanged.

    Reason: an ordinal is the same fact in words or figures; it stays an ordinal, never its bare
    number, because "the 250th launch" is not "250 launches".
    """
    return _ORDINAL_WORDS.get(word, word)


def magnitude(word: str) -> str:
    """"3.5bn" -> "3.5billion", "20k" -> "20thousand"; other words unchanged.

    Reason: news writes "$3.5bn" for "$3.5 billion"; the figure with its magnitude is one fact.
    """
    found = _MAGNITUDE.fullmatch(word)
    return f"{found.group(1)}{_MAGNITUDES[found.group(2)]}" if found else word


def initialisms_in(text: str) -> set[str]:
    """The initialisms a text writes in capitals or with dots ("U.S.", "U. S.", "US" -> "us"; "p.m." ->
    "pm") or spells out as a capitalised name ("United States" -> "us"), lower case and undotted.

    Reason: a short initialism is checked against these only, because "US" is not the word "us"
    ("told us") and "U.K." is not a "uk" inside another word.
    """
    found = {re.sub(r"[.\s]", "", m).lower() for m in _CAPITALS.findall(text)}
    return found | _initialisms(text)


def joined_units(text: str) -> set[str]:
    """A number with the short word after it, written together: "10 a.m." -> "10am", "5 G" -> "5g".

    Reason: a number and its unit or suffix are one token whether written together or apart.
    """
    joined = {f"{number}{unit.replace('.', '')}" for number, unit in _NUMBER_AND_UNIT.findall(text)}
    spelled = re.findall(r"\b(\d[\d,.]*)\s+(thousand|million|billion|trillion)\b", text)
    joined |= {f"{number}{word}" for number, word in spelled}
    return joined


def _words(text: str) -> set[str]:
    norm = normalise(text)
    words = set(re.findall(r"[\w.-]+", norm))
    words |= {w.strip(".-") for w in words}
    words |= {part for w in words if "-" in w for part in w.split("-") if part}  # "40-day" holds "40"
    words |= {w.replace(".", "") for w in words if "." in w}  # "u.s." also reads "us"
    words |= {unhyphenated(w) for w in words if "-" in w}
    words |= {undotted(re.sub(r"\s+", "", m)).strip(".") for m in re.findall(r"(?:\b[a-z]\.\s?){2,}", norm)}
    words |= joined_units(norm)
    words |= _initialisms(text)
    words |= {_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS} | number_words(norm)
    words |= {ordinal(w) for w in words}
    words |= {_MONTHS.get(w, w) for w in words}
    return words


_CAPITALISED_RUN = re.compile(r"(?:\b[A-Z][\w'’-]*(?:\s+(?:of|the|and|for|de|du|des|la|le)\b)*\s*)+")


def _initialisms(text: str) -> set[str]:
    """Initials of each run of capitalised words: "Canadian Union of Public Employees" gives "cupe".

    Reason: a model often adds the usual abbreviation of a name the passage spells out.
    """
    found = set()
    for run in _CAPITALISED_RUN.findall(text):
        words = [w for w in run.split() if w[:1].isupper()]
        for i in range(len(words)):
            for j in range(i + 2, min(len(words), i + 8) + 1):
                found.add("".join(w[0] for w in words[i:j]).lower())
    return found


def names_in(sentence: str) -> list[str]:
    """The numbers, dates and proper names of a sentence (citations left out)."""
    found = []
    for i, match in enumerate(_TOKEN.finditer(strip_citations(sentence))):
        token = re.sub(r"\s+", "", match.group(0)).strip(".,'’-")  # "U. S." is "U.S"
        if len(token) < 2 and not token.isdigit():
            continue  # a lone initial ("U. S.", "J. Smith") names nothing by itself
        if token[0].isdigit() or (token[0].isupper() and token.lower() not in _NOT_NAMES):
            found.append(token)
    return found


# How close (difflib ratio) a name must be to a word of the question to count as the question's own name
# misspelt ("Ukrain's" for "Ukraine's": 0.92). Reason (issue 21): the names check removed a right answer
# for a misspelling of a name the user gave; a different name of the same length differs by two or more
# letters in a short word ("Biden"/"Baden" 0.8), which stays below it.
PREMISE_SPELLING_RATIO = 0.85


def premise_spelling(name: str, premise: str, allowed: set[str] | frozenset[str] | None = None) -> bool:
    """True when `name` is a misspelling of one of the question's own words (at least 5 letters), and
    that word is among `allowed` when given (`missing_names`: the cited passage's words and the
    question's words no shown passage holds, `premise_words`).

    Reason: the question's names are the user's premise, not claims; a model that copies one with a
    typo has not invented it.
    """
    import difflib

    key = normalise(name).strip(".-'")
    if len(key) < 5:
        return False
    words = {w.strip(".-'") for w in re.findall(r"[\w'.-]+", normalise(premise))}
    return any(len(w) >= 4 and difflib.SequenceMatcher(None, key, w).ratio() >= PREMISE_SPELLING_RATIO
               and (allowed is None or w in allowed) for w in words)


def missing_names(sentence: str, evidence_text: str, premise: str = "", shown: frozenset[str] = frozenset()) -> list[str]:
    """Names and numbers of `sentence` that `evidence_text` does not contain (normalised).

    Names the question itself uses (`premise`) are not checked: restating the question's own words
    ("England beat Spain to win the 2025 Euros") is the user's premise, not a claim the model takes
    from a passage; what the answer adds must be in the passage. Except the question's names that the
    evidence shown to the model holds (`shown`, from `shown_words`): see `premise_words`.
    """
    have = _words(evidence_text) | (premise_words(premise, shown) if premise else set())
    capitals = initialisms_in(evidence_text) | (initialisms_in(premise) - shown if premise else set())
    missing = []
    for name in names_in(sentence):
        key = normalise(name).strip(".-")
        if _SHORT_INITIALISM.fullmatch(name):
            if undotted(key) not in capitals:
                missing.append(name)
            continue
        key = _NUMBER_WORDS.get(key, _MONTHS.get(key, key))
        if {key, undotted(key), unhyphenated(key), magnitude(key)} & have:
            continue
        parts = [p for p in re.split(r"[-'.]", key) if p]
        if len(parts) > 1 and all(p in have or _NUMBER_WORDS.get(p) in have or f"{p}s" in have for p in parts):
            continue  # "Kyiv-based" from "Kyiv" and "based"; "9-month" from "nine months"
        if premise and premise_spelling(name, premise, have):
            continue
        missing.append(name)
    return missing


def shown_words(evidence: Evidence) -> frozenset[str]:
    """Every normalised word of the evidence the model read (its blocks' texts, titles, outlets, dates)."""
    return frozenset(_words(" ".join(_context(b) for b in evidence.blocks)) |
                     initialisms_in(" ".join(_context(b) for b in evidence.blocks)))


def premise_words(premise: str, shown: frozenset[str]) -> set[str]:
    """The question's words that a sentence may repeat without its cited article holding them: those no
    shown passage holds (the articles word the user's premise otherwise).

    Reason: when a shown passage names the question's subject ("Umerov", "Polish"), a sentence about that
    subject that cites an article never naming it has fastened another story's fact to it (seed questions
    among the SQuAD paragraphs: "Umerov requested a reference to ... the Court of Justice [5]", "The Polish
    president declared ..." quoting Syrskyi). Such a name must be in the cited passage's article
    (`VerificationPolicy` reads the whole article through `article_text`), not only somewhere in the evidence.
    """
    return _words(premise) - shown


def on_the_subject(question: str, passages: list[Any], article_text: Callable[[str], str]) -> list[Any]:
    """`passages` without those whose article names none of the question's names that another passage's
    article names; all of them when no article names any.

    Reason: a passage from an article that never names what the question is about ("Umerov", "NATO")
    cannot answer it, and a small model fastens its words to the question's subject anyway (seed
    questions among the SQuAD paragraphs: "Umerov requested a reference to ... the Court of Justice");
    an article naming at least one of the question's names stays, so a question of many names keeps
    every article about any of them.
    """
    opening = question.strip()
    opening = opening[:1].lower() + opening[1:]  # "Did ..." / "Name ...": the question's first word is no name
    asked = [_name_key(n) for n in names_in(opening) if not n[0].isdigit()]
    if not asked or len(passages) < 2:
        return passages
    words: dict[str, set[str]] = {}
    for p in passages:
        if p.doc_id not in words:
            words[p.doc_id] = _words(article_text(p.doc_id))
    named = {d for d, held in words.items() if any(key & held for key in asked)}
    if not named:
        return passages
    return [p for p in passages if p.doc_id in named]


def fastened_to_subject(record: dict[str, Any], question: str) -> bool:
    """A removed sentence that some shown passage means, and that fails there only for names the
    question gives: the model gave the question's subject another article's fact (`premise_words`)."""
    if not record.get("removed") or not question:
        return False
    asked = _words(question)
    return any(r.get("meaning") and r.get("missing_names") and all(_name_key(n) & asked for n in r["missing_names"])
               for r in record.get("checks", {}).values())


def claim_text(sentence: str, question: str, with_question: bool = True, min_words: int = 6) -> str:
    """What a sentence claims, for the meaning check: the question it answers, then the sentence.

    Reason: an answer sentence answers its question, and alone it often does not say what it is
    about: "The speech took place in the Oval Office." names the speech only through the question,
    and "Missouri and Texas." names nothing at all. With `with_question` off, only a fragment of
    under `min_words` words is read with the question; a full sentence stands alone.
    """
    if question and (with_question or len(sentence.split()) < min_words):
        return f"{question} {sentence}"
    return sentence


# A fragment is an answer of fewer words than this ("February 26", "New York City").
FRAGMENT_WORDS = 6


def stated_fragment(sentence: str, passage_text: str) -> bool:
    """True for a short fragment that the passage states word for word ("February 26", "Florida").

    Reason (issue 21): a fragment means what the question asks, so its cosine to any passage sentence is
    low (one was removed at 0.598 against 0.6); that the passage says it verbatim is the support.
    """
    words = _WORD_RUN.findall(normalise(strip_citations(sentence)))
    if not words or len(words) >= FRAGMENT_WORDS:
        return False
    return f" {' '.join(words)} " in f" {' '.join(_WORD_RUN.findall(normalise(passage_text)))} "


_WORD_RUN = re.compile(r"[^\W_]+")


# The same word this many times in a row is the model looping, not a claim.
LOOP_REPEATS = 4
_LOOP = re.compile(rf"\b([^\W\d_]+)(?:\W+\1\b){{{LOOP_REPEATS - 1},}}", re.I)


def loops(sentence: str) -> bool:
    """The sentence repeats one word LOOP_REPEATS times in a row ("reacted with jubilant jubilant jubilant ...").

    Reason: greedy decoding of the small model can fall into a loop (1 of 35 dev long-form answers); such a
    sentence passes the names check (its one name is in the passage) yet says nothing, so it is removed.
    News prose never repeats a word four times running.
    """
    return bool(_LOOP.search(sentence))


def is_absence(sentence: str) -> bool:
    """True for a sentence that says what the articles do not state."""
    return bool(_ABSENCE.search(sentence))


@dataclass
class Verified:
    text: str
    cited: list[int]                                   # block numbers, in order of first citation
    spans: dict[int, list[tuple[int, int]]]            # block -> supporting sentence spans (article coords)
    sentences: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class VerificationPolicy:
    """The checks a sentence must pass, with their settings; built from `Settings`."""

    def __init__(self, embed: Any, *, min_support_similarity: float, check_names: bool = True,
                 with_question: bool = True, article_text: Callable[[str], str] | None = None) -> None:
        self.embed = embed  # texts -> unit vectors (the bundled MiniLM)
        # doc_id -> the whole article's text (title and passages): where a question's name is looked up
        # when the cited passage lacks it (`premise_words`); None: the passage alone.
        self.article_text = article_text
        self.min_support_similarity = min_support_similarity
        self.check_names = check_names
        self.with_question = with_question

    @classmethod
    def from_settings(cls, settings: Any, embed: Any,
                      article_text: Callable[[str], str] | None = None) -> VerificationPolicy:
        return cls(embed, min_support_similarity=settings.tuning.min_support_similarity,
                   check_names=settings.verify_names, with_question=settings.tuning.verify_with_question,
                   article_text=article_text)

    def support_similarity(self, vector: np.ndarray, block: EvidenceBlock) -> tuple[float, list[int]]:
        """Best cosine of the sentence to one sentence, or two adjacent sentences, of the block."""
        if not len(block.spans):
            return 0.0, []
        sims = block.vectors @ vector
        best = int(np.argmax(sims))
        score, which = float(sims[best]), [best]
        if score < self.min_support_similarity and len(block.spans) > 1:
            if block.pair_vectors is None:
                pairs = [f"{block.sentence(i)} {block.sentence(i + 1)}" for i in range(len(block.spans) - 1)]
                block.pair_vectors = np.asarray(self.embed(pairs), dtype=np.float32)
            pair_sims = block.pair_vectors @ vector
            j = int(np.argmax(pair_sims))
            if float(pair_sims[j]) > score:
                score, which = float(pair_sims[j]), [j, j + 1]
        return score, which

    def title_similarity(self, vector: np.ndarray, block: EvidenceBlock) -> float:
        """Cosine of the sentence to the block's article title, which the model reads in the evidence header."""
        title = " ".join(block.citation.title.split())
        if not title:
            return 0.0
        if block.title_vector is None:
            block.title_vector = np.asarray(self.embed([title]), dtype=np.float32)[0]
        return float(block.title_vector @ vector)

    def check(self, sentence: str, vector: np.ndarray, block: EvidenceBlock, question: str) -> dict[str, Any]:
        """One sentence (`vector`: its `claim_text` embedded) against one evidence block: each check's
        verdict, as `verify` reads it (bench/verification_reading.py compares readings with it)."""
        return self._check(sentence, vector, block, question)

    def _check(self, sentence: str, vector: np.ndarray, block: EvidenceBlock, question: str,
               shown: frozenset[str] = frozenset(), articles: dict[str, set[str]] | None = None) -> dict[str, Any]:
        c = block.citation
        context = _context(block)
        missing = missing_names(sentence, context, question, shown) if self.check_names else []
        if missing and shown and question:
            missing = self._in_article(missing, block, question, articles)
        similarity, which = self.support_similarity(vector, block)
        if not_evidence(sentence, [block.sentence(i) for i in which], c.text):
            # A sentence addressed to the assistant is never support (rag.answer.injection), by any path below.
            return {"block": block.n, "missing_names": missing, "names": not missing, "similarity": 0.0,
                    "meaning": False, "support": [], "instruction": True}
        if similarity < self.min_support_similarity:
            similarity = max(similarity, self.title_similarity(vector, block))
        named = bool(names_in(sentence)) and not missing
        meaning = similarity >= self.min_support_similarity or (named and stated_fragment(sentence, context))
        return {"block": block.n, "missing_names": missing, "names": not missing,
                "similarity": round(similarity, 3), "meaning": meaning, "support": which}

    def _in_article(self, missing: list[str], block: EvidenceBlock, question: str,
                    articles: dict[str, set[str]] | None) -> list[str]:
        """`missing` without the question's own names that the block's whole article holds (`premise_words`)."""
        asked = _words(question)
        if self.article_text is None or not any(_name_key(n) & asked for n in missing):
            return missing
        cache = articles if articles is not None else {}
        doc_id = block.citation.doc_id
        if doc_id not in cache:
            cache[doc_id] = _words(self.article_text(doc_id))
        held = cache[doc_id]
        return [n for n in missing if not (_name_key(n) & asked and _name_key(n) & held)]

    def _two_blocks(self, claim: str, results: dict[int, dict[str, Any]], blocks: dict[int, EvidenceBlock],
                    question: str, shown: frozenset[str] = frozenset()) -> list[int]:
        """Two shown blocks that support the sentence together: one means it, and its names are in the two.

        Reason (issue 21): "The Winter Olympics will be held at San Siro, Italy." joins a venue from one
        passage and a country from another; each alone misses a name, and the model cited one.
        """
        best: tuple[float, list[int]] | None = None
        asked = _words(question) if question else set()
        for a, ra in results.items():
            if not ra["meaning"] or ra["names"]:
                continue
            if any(_name_key(n) & asked for n in ra["missing_names"]):
                continue  # the question's subject must be in the passage that says the thing (`premise_words`)
            for b in blocks:
                if b == a:
                    continue
                both = " ".join(_context(blocks[n]) for n in (a, b))
                if not missing_names(claim, both, question, shown) and (best is None or ra["similarity"] > best[0]):
                    best = (ra["similarity"], [a, b])
        return best[1] if best else []

    def verify(self, text: str, evidence: Evidence, question: str = "") -> Verified:
        blocks = {b.n: b for b in evidence.blocks}
        shown = shown_words(evidence)
        articles: dict[str, set[str]] = {}  # doc_id -> its words, read once per answer (`_in_article`)
        pieces = [(text[s:e], text[max(0, s - 1):s]) for s, e in split_sentences(text)]
        # A piece with no word in it (",,, [1][3]": punctuation the model left between citations) claims
        # nothing; read after the question, it would even pass the meaning check on the question's words.
        pieces = [(p, sep) for p, sep in pieces if _WORDLIKE.search(strip_citations(p))]
        claims = [strip_citations(p).lstrip("-*• ").strip() for p, _ in pieces]
        meant = [claim_text(c, question, self.with_question) for c in claims]
        vectors = np.asarray(self.embed(meant), dtype=np.float32) if claims else np.zeros((0, 384))
        out = Verified(text="", cited=[], spans={})
        kept_text: list[str] = []
        for (raw, sep), claim, vector in zip(pieces, claims, vectors):
            record: dict[str, Any] = {"text": claim, "citations": [], "supported": False, "removed": False,
                                      "checks": {}}
            numbers = cited_numbers(raw)
            bad = [n for n in numbers if n not in blocks]
            if bad:
                out.notes.append(f"removed citation(s) {bad}: only {len(blocks)} passages were shown")
            numbers = [n for n in numbers if n in blocks]
            bullet = raw.lstrip().startswith(("- ", "* ", "• "))
            if is_absence(claim) and not names_in(claim)[1:]:
                # A statement of what the articles lack: kept, uncited (it is about the evidence).
                record.update(kind="absence", supported=True)
                out.sentences.append(record)
                kept_text.append(("\n- " if bullet else " ") + claim)
                continue
            if loops(claim):
                record.update(kind="claim", removed=True)
                out.notes.append(f"removed a sentence that repeats itself: {claim[:80]!r}")
                out.sentences.append(record)
                continue
            results = {n: self._check(claim, vector, blocks[n], question, shown, articles) for n in numbers}
            good = [n for n, r in results.items() if r["names"] and r["meaning"]]
            if not good:  # try the other blocks the model was shown: a wrong or missing citation
                others = {n: self._check(claim, vector, b, question, shown, articles) for n, b in blocks.items() if n not in results}
                ranked = sorted((r["similarity"], n) for n, r in others.items() if r["names"] and r["meaning"])
                if ranked:
                    good = [ranked[-1][1]]
                    out.notes.append(f"re-cited {claim[:80]!r} to [{good[0]}] (cited {numbers or 'nothing'})")
                results.update(others)
            if not good and self.check_names:
                good = self._two_blocks(claim, results, blocks, question, shown)
                if good:
                    out.notes.append(f"cited {claim[:80]!r} to [{good[0]}][{good[1]}]: its names are in the two together")
            if not good and self.check_names:
                trimmed = without_apposition(claim, results)
                if trimmed:
                    tvec = np.asarray(self.embed([claim_text(trimmed, question, self.with_question)]), dtype=np.float32)[0]
                    retry = {n: self._check(trimmed, tvec, b, question, shown, articles) for n, b in blocks.items()}
                    passing = sorted((r["similarity"], n) for n, r in retry.items() if r["names"] and r["meaning"])
                    if passing:
                        out.notes.append(f"cut the unsupported {claim[len(trimmed.rstrip('.')):].strip(' .')!r} "
                                         f"from {claim[:80]!r}")
                        claim, good, results = trimmed, [passing[-1][1]], {**results, **retry}
                        record["text"] = claim
            record["checks"] = {str(n): r for n, r in results.items()}
            record["kind"] = "claim"
            if not good:
                record["removed"] = True
                best = max(results.values(), key=lambda r: r["similarity"], default=None)
                why = ("no passage shown" if best is None else
                       f"missing {', '.join(best['missing_names'])}" if best["missing_names"] else
                       f"closest passage similarity {best['similarity']:.2f} < {self.min_support_similarity}")
                out.notes.append(f"removed unsupported sentence {claim[:120]!r} ({why})")
                out.sentences.append(record)
                continue
            record.update(supported=True, citations=good)
            out.sentences.append(record)
            for n in good:
                if n not in out.cited:
                    out.cited.append(n)
                block = blocks[n]
                for i in results[n]["support"]:
                    span = block.article_span(i)
                    if span not in out.spans.setdefault(n, []):
                        out.spans[n].append(span)
            kept_text.append(("\n- " if bullet else " ") + with_citations(claim, good))
        # The first check's verdict, before removals, is what `supported_sentences` measures.
        if not any(r.get("kind") == "claim" and r["supported"] for r in out.sentences):
            out.text = ""
            return out
        out.text = "".join(kept_text).strip()
        return out


def _name_key(name: str) -> set[str]:
    """The forms under which a name is looked up among `_words`."""
    key = normalise(name).strip(".-")
    return {key, undotted(key)}


def _context(block: EvidenceBlock) -> str:
    c = block.citation
    return " ".join([c.text, c.title, c.outlet, c.date, human_date(c.date)])


_TRAILING_APPOSITION = re.compile(r",\s+((?:[A-Z][\w'’.-]*\s*){1,3})([.!?]?)\s*$")


def without_apposition(claim: str, results: dict[int, dict[str, Any]]) -> str:
    """The sentence without a trailing ", Georgia" when that appositive holds every name a passage that
    means the sentence lacks; "" when there is no such cut.

    Reason (issue 21): "The crime took place in Atlanta, Georgia." was removed whole for "Georgia", which
    the model added from what it knows; the passage states "Atlanta", and the answer is that part.
    """
    found = _TRAILING_APPOSITION.search(claim)
    if not found:
        return ""
    tail = set(names_in(found.group(1)))
    for r in results.values():
        if r["meaning"] and r["missing_names"] and set(r["missing_names"]) <= tail:
            return claim[:found.start()].rstrip() + (found.group(2) or ".")
    return ""


def with_citations(sentence: str, numbers: list[int]) -> str:
    """"Umerov asked for weapons." + [1] -> "Umerov asked for weapons [1].": the citation ends the sentence,
    after a closing quotation mark and before the full stop ('... down your spine" [2].')."""
    body = sentence.rstrip()
    end = re.search(r"([.!?]+)([\"'”’)]*)$", body)
    marks = "".join(f"[{n}]" for n in numbers)
    if end:
        return f"{body[:end.start()].rstrip()}{end.group(2)} {marks}{end.group(1)}"
    return f"{body} {marks}"
