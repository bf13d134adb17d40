"""What a search is restricted to: a date range, some outlets, and whether newer articles come first.

`SearchFilters` is a plain value. The index turns it into a Chroma `where` clause for the dense side
(`chroma_where`) and the same test in Python for the BM25 side (`matches`), so that both retrievers
search only the allowed passages: filtering happens inside the search, never by dropping results
after a top-k (which could leave nothing when the allowed articles are a small share of the corpus).

Dates are compared as integers `YYYYMMDD` (`date_int` in the stored metadata, 0 = unknown), because
Chroma's range operators work on numbers only. An article without a date never matches a date range:
we cannot say it was published in it. Outlets match case-insensitively on the exact name
(`outlet_key`, the name lower-cased with its spaces collapsed, is stored beside `outlet`).

This module does not read dates out of questions ("last week"); it only holds the resolved range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import QuestionError

__all__ = ["SearchFilters", "date_int", "outlet_key"]


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


def _check_date(name: str, value: str | None) -> str | None:
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


@dataclass(frozen=True)
class SearchFilters:
    """A date range (inclusive, YYYY-MM-DD), outlet names, and a preference for newer articles."""

    since: str | None = None
    until: str | None = None
    outlets: tuple[str, ...] = field(default=())
    prefer_recent: bool = False

    def __post_init__(self) -> None:
        since, until = _check_date("since", self.since), _check_date("until", self.until)
        if since and until and since > until:
            raise QuestionError(f"The date range starts ({since}) after it ends ({until}); swap the two dates.")
        outlets: Iterable[str] = (self.outlets,) if isinstance(self.outlets, str) else (self.outlets or ())
        cleaned = tuple(dict.fromkeys(" ".join(o.split()) for o in outlets if o and o.strip()))
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
            words.append("by " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]))
        if self.prefer_recent and (since or until):
            words.append("(newest first)")
        return " ".join(words)

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "outlets": list(self.outlets),
                "prefer_recent": self.prefer_recent}

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
            clauses.append({"outlet_key": {"$in": [outlet_key(o) for o in self.outlets]}})
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
            if key not in {outlet_key(o) for o in self.outlets}:
                return False
        return True
