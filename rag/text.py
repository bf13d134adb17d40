"""Text helpers shared by chunking, evidence, verification and the faces: the one citation pattern
and the one sentence splitter.

Sentences end at a full stop, question or exclamation mark or ellipsis (with closing quotes,
brackets or citations after it) followed by space and a capital, digit or quote, or at a line
break. Requiring the capital keeps "U.S. officials" and "No. 3" whole more often than not, and a
list of common abbreviations ("Sen.", "Jan.") never ends a sentence. Simplification: a sentence that
starts in lower case after a full stop is joined to the one before; that only moves a boundary.
"""

from __future__ import annotations

import re

__all__ = ["CITATION", "split_sentences", "strip_citations", "cited_numbers"]

# The one citation pattern: [2], [1, 3], [1][2] (each bracket matched on its own).
CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# The one sentence splitter for text the model wrote and for passages: a full stop, question or
# exclamation mark (with closing quotes/brackets/citations after it) followed by space and a capital,
# digit or quote. Requiring the capital keeps "U.S. officials" and "No. 3" whole more often than not.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])(?:[\"'”’)\]]|\s*\[\d+(?:\s*[,;]\s*\d+)*\])*\s+(?=[\"“'‘(\[]?[A-Z0-9])|\n+")
# Abbreviations that end in a full stop but rarely end a sentence (titles, months, "No.", "U.S.").
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sen|Rep|Gov|Gen|Col|Lt|Sgt|St|Jr|Sr|No|Vol|vs|Inc|Corp|Co|Ltd|Jan|Feb|Mar|Apr|Jun|"
    r"Jul|Aug|Sep|Sept|Oct|Nov|Dec|U\.S|U\.K|U\.N|D\.C|a\.m|p\.m)|\b[A-Z])\.$")


# The longest abbreviation above ("Sept.") is 5 characters; the check reads only that much of the
# text before a break (its `\b` still sees the character before), so a run of skipped abbreviations
# ("A. B. Smith, C. D. Jones, ...") costs time linear in the text, not its square.
_ABBREVIATION_WINDOW = 8


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of `text`, whitespace trimmed, in order."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_BREAK.finditer(text):
        end = match.start()
        # A break after punctuation has no space before it; only a line break ends a sentence whatever
        # precedes it, so the abbreviation check never needs to trim trailing space.
        if text[end] != "\n" and _ABBREVIATION.search(text, max(start, end - _ABBREVIATION_WINDOW), end):
            continue  # "Sen. Warren", "Jan. 5": not a sentence end
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        # str.strip, not a loop over characters: a megabyte of spaces is one span (same `isspace` rule).
        chunk = text[s:e]
        body = chunk.strip()
        if body:
            s += len(chunk) - len(chunk.lstrip())
            trimmed.append((s, s + len(body)))
    return trimmed


_CITATION_AND_SPACE = re.compile(r"[ \t]*" + CITATION.pattern)


def strip_citations(text: str) -> str:
    """The text without its [n] markers: "Syrskyi [1] signed them [2, 3]." -> "Syrskyi signed them.", with
    no space left doubled where a marker stood or before punctuation."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", _CITATION_AND_SPACE.sub("", text)).strip()


def cited_numbers(text: str) -> list[int]:
    """Citation numbers in order of first appearance."""
    out: list[int] = []
    for match in CITATION.finditer(text):
        for n in re.split(r"\s*[,;]\s*", match.group(1)):
            if int(n) not in out:
                out.append(int(n))
    return out


