"""What a search is restricted to: a date range, some outlets, and whether newer articles come first.

`SearchFilters` is a plain value. The index turns it into a Chroma `where` clause for the dense side
(`chroma_where`) and the same test in Python for the BM25 side (`matches`), so that both retrievers
search only the allowed passages: filtering happens inside the search, never by dropping results
after a top-k (which could leave nothing when the allowed articles are a small share of the corpus).

Dates are compared as integers `YYYYMMDD` (`date_int` in the stored metadata, 0 = unknown), because
Chroma's range operators work on numbers only. An article without a date never matches a date range:
we cannot say it was published in it. Outlets match case-insensitively on the exact name
(`outlet_key`, the name lower-cased with its spaces collapsed, is stored beside `outlet`).

A filter names at most `MAX_FILTER_OUTLETS` outlets, and only indexed ones (`check_outlets`, called by
the retriever with the outlets the index holds): a misspelt outlet is an error that names the indexed
outlets closest to it, not a search that silently finds nothing.

This module does not read dates out of questions ("last week"); it only holds the resolved range.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rag.errors import QuestionError

__all__ = ["SearchFilters", "date_int", "outlet_key", "indexed_outlets", "check_date", "check_range", "MAX_FILTER_OUTLETS"]

# More names than this is no longer a choice among outlets (leave the filter empty to search them all);
# the bound keeps Chroma's `$in` far below SQLite's variable limit (40,000 names failed) and a search fast.
MAX_FILTER_OUTLETS = 200
# A description names this many outlets and counts the rest: the answer never echoes a long list.
DESCRIBED_OUTLETS = 5
# An unknown outlet's error suggests this many indexed ones (the closest spellings first).
SUGGESTED_OUTLETS = 5


def date_int(date: str | None) -> int:
    """'2025-03-18' -> 20250318; '' or unreadable -> 0 (unknown)."""
    if not date:
        return 0
    try:
        day = dt.date.fromisoformat(date[:10])
    except ValueError:
        return 0
    return day.year * 10000 + day.month * 100 + day.day


def outlet_key(outlet: str | None) -> str:
    """The form outlets are matched on: case and spacing do not make a different outlet."""
    return " ".join((outlet or "").split()).casefold()


def check_date(name: str, value: str | None) -> str | None:
    """`value` as YYYY-MM-DD (None when empty); a `QuestionError` naming `name` when it is not a date."""
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise QuestionError(f"{name}={value!r} is not a date; write it as YYYY-MM-DD (e.g. 2025-03-18).") from None


def _human(day: dt.date, *, month: bool = True, year: bool = True) -> str:
    parts = [str(day.day)]
    if month:
        parts.append(day.strftime("%B"))
    if year:
        parts.append(str(day.year))
    return " ".join(parts)


def range_text(since: dt.date | None, until: dt.date | None) -> str:
    """'from 10-16 March 2025', 'since 1 May 2025', ... : the one wording of a date range (chain, page, time phrases)."""
    if since and until:
        if since == until:
            return f"from {_human(since)}"
        if (since.year, since.month) == (until.year, until.month):
            return f"from {since.day}-{_human(until)}"
        if since.year == until.year:
            return f"from {_human(since, year=False)} - {_human(until)}"
        return f"from {_human(since)} - {_human(until)}"
    if since:
        return f"since {_human(since)}"
    if until:
        return f"until {_human(until)}"
    return ""


def check_range(since: str | None, until: str | None, *, since_from: str = "since", until_from: str = "until") -> None:
    """Raise `QuestionError` when a date is not one, or the range starts after it ends; `since_from` /
    `until_from` say where each end came from ("since", "until", "as_of", the question's time phrase)."""
    since, until = check_date("since", since), check_date("until", until)
    if since and until and since > until:
        raise QuestionError(_empty_range_message(since, since_from, until, until_from))


def _empty_range_message(since: str, since_from: str, until: str, until_from: str) -> str:
    """Why the range finds nothing, naming where each end came from: "swap the two dates" only
    when both dates were given as since and until (`--since` after `--as-of` is one date)."""
    if (since_from, until_from) == ("since", "until"):
        return f"The date range starts ({since}) after it ends ({until}); swap the two dates."
    if until_from == "as_of":
        return (f"since={since} is after as_of={until}: nothing published after the as_of date is searched. "
                f"Give a since on or before {until}, or a later as_of.")
    return (f"The date range is empty: it starts on {since} ({since_from}) and ends on {until} ({until_from}). "
            "Give dates that fit together, or leave one of them out.")


# One entry: the outlet set of the BM25 side a search last used (rebuilt only when the index changes).
_INDEXED: tuple[Sequence[Mapping[str, Any]], frozenset[str]] | None = None


def indexed_outlets(keys: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The `outlet_key`s of an index's passages (its BM25 side's `keys`), computed once per index generation."""
    global _INDEXED
    cached = _INDEXED
    if cached is not None and cached[0] is keys:
        return cached[1]
    found = frozenset(k for k in (m.get("outlet_key") for m in keys) if k)
    _INDEXED = (keys, found)  # holding `keys` keeps its id from being reused while cached
    return found


@dataclass(frozen=True)
class SearchFilters:
    """A date range (inclusive, YYYY-MM-DD), outlet names, and a preference for newer articles."""

    since: str | None = None
    until: str | None = None
    outlets: tuple[str, ...] = field(default=())
    prefer_recent: bool = False

    def __post_init__(self) -> None:
        since, until = check_date("since", self.since), check_date("until", self.until)
        if since and until and since > until:
            raise QuestionError(_empty_range_message(since, "since", until, "until"))
        outlets: Iterable[str] = (self.outlets,) if isinstance(self.outlets, str) else (self.outlets or ())
        # One name per outlet: "CNN" and "cnn " are the same outlet (the first spelling is kept).
        by_key: dict[str, str] = {}
        for name in outlets:
            if name and name.strip():
                by_key.setdefault(outlet_key(name), " ".join(name.split()))
        if len(by_key) > MAX_FILTER_OUTLETS:
            raise QuestionError(f"The filter names {len(by_key)} outlets; at most {MAX_FILTER_OUTLETS} can be chosen. "
                                "Choose fewer, or none to search every outlet.")
        cleaned = tuple(by_key.values())
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "until", until)
        object.__setattr__(self, "outlets", cleaned)

    def is_empty(self) -> bool:
        return not (self.since or self.until or self.outlets or self.prefer_recent)

    @property
    def restricts(self) -> bool:
        """True when some passages are excluded (a preference for recent ones excludes nothing)."""
        return bool(self.since or self.until or self.outlets)

    def describe(self) -> str:
        """'articles from 10-16 March 2025 by USA TODAY' ('' when there is no filter)."""
        if self.is_empty():
            return ""
        since = dt.date.fromisoformat(self.since) if self.since else None
        until = dt.date.fromisoformat(self.until) if self.until else None
        words = ["the most recent articles" if self.prefer_recent and not (since or until) else "articles"]
        if since or until:
            words.append(range_text(since, until))
        if self.outlets:
            names = list(self.outlets)
            if len(names) > DESCRIBED_OUTLETS:
                names = names[:DESCRIBED_OUTLETS - 1] + [f"{len(names) - DESCRIBED_OUTLETS + 1} other outlets"]
            words.append("by " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]))
        if self.prefer_recent and (since or until):
            words.append("(newest first)")
        return " ".join(words)

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "outlets": list(self.outlets),
                "prefer_recent": self.prefer_recent}

    @cached_property
    def outlet_keys(self) -> frozenset[str]:
        """The outlets' match keys, made once per filter (not once per passage tested)."""
        return frozenset(outlet_key(o) for o in self.outlets)

    def check_outlets(self, indexed: frozenset[str] | set[str]) -> None:
        """Raise `QuestionError` when an outlet of the filter is not in `indexed` (the index's outlet keys)."""
        unknown = [o for o in self.outlets if outlet_key(o) not in indexed]
        if not unknown:
            return
        shown = ", ".join(repr(o) for o in unknown[:SUGGESTED_OUTLETS])
        more = f" and {len(unknown) - SUGGESTED_OUTLETS} more" if len(unknown) > SUGGESTED_OUTLETS else ""
        if not indexed:
            raise QuestionError(f"No indexed article names its outlet, so no article is from {shown}{more}. "
                                "Search without an outlet filter.")
        close = difflib.get_close_matches(outlet_key(unknown[0]), sorted(indexed), n=SUGGESTED_OUTLETS, cutoff=0.5)
        known = close + [k for k in sorted(indexed) if k not in close][:SUGGESTED_OUTLETS - len(close)]
        raise QuestionError(f"No indexed article is from {shown}{more}. The {len(indexed)} indexed outlets include "
                            f"{', '.join(known)} (names match whole, in any case).")

    def _bounds(self) -> tuple[int, int] | None:
        if not (self.since or self.until):
            return None
        # 1 rather than 0 as the lower bound: an undated article is never inside a range.
        return (date_int(self.since) if self.since else 1, date_int(self.until) if self.until else 99991231)

    def chroma_where(self) -> dict[str, Any] | None:
        """The Chroma `where` clause on `date_int` / `outlet_key`; None when nothing is excluded."""
        clauses: list[dict[str, Any]] = []
        bounds = self._bounds()
        if bounds:
            clauses += [{"date_int": {"$gte": bounds[0]}}, {"date_int": {"$lte": bounds[1]}}]
        if self.outlets:
            clauses.append({"outlet_key": {"$in": sorted(self.outlet_keys)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, meta: dict[str, Any]) -> bool:
        """The same test as `chroma_where`, on one passage's metadata (used for the BM25 side)."""
        bounds = self._bounds()
        if bounds:
            day = meta.get("date_int")
            day = int(day) if day is not None else date_int(meta.get("date", ""))
            if not bounds[0] <= day <= bounds[1]:
                return False
        if self.outlets:
            key = meta.get("outlet_key")
            key = key if key is not None else outlet_key(meta.get("outlet", ""))
            if key not in self.outlet_keys:
                return False
        return True
