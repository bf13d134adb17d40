"""Time in questions: "this week", "last month", "in March 2025", "since Monday", "the latest".

`resolve_time(question, as_of)` finds at most one time phrase in a question and turns it into an
inclusive date range (`since`, `until`, `YYYY-MM-DD`) counted from `as_of` (default: today), a
recency preference ("the latest", "most recent", "newest"), and whether the question asks for a
digest of a period ("What happened this week?", "What's new on X since Monday?", "news from last
month"). The phrase is spotted with a few small patterns, each requiring a clear form (a preposition
or "this/last" before the time word, a capital for a bare month) so that "may", "march" as a verb or
"second" never make a range; the date itself is read by dateparser (a maintained parser) relative
to `as_of`, and month/year ends come from the standard `calendar` module.

Rolling periods, as people use them in news: "this week" is the 7 days ending on `as_of`, "last
week" the 7 days before those; "this month" / "this year" run from the 1st / 1 January to `as_of`;
"last month", "in March", "in 2025" are whole calendar months or years. A bare month is its nearest
recent one, or the next calendar month in a question about what is to come (`named_month`): "could be
paused in November", asked on 30 October, is the coming November, which the answer chain does not use as a
search range (a future time names when an event is to happen). A question with no time phrase gives an empty `TimeQuery`.

A period that falls outside the calendar (`as_of` 0001-01-01 and "last year": there is no year 0) is a
`QuestionError` that says so, not an OverflowError from date arithmetic.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from rag.errors import QuestionError
from rag.filters import range_text

__all__ = ["TimeQuery", "resolve_time", "named_month"]

_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"
# "on March 3", "on 3 March 2025": one day; the preposition keeps "March 3 protesters" out.
ON_DAY = re.compile(rf"\bon\s+(?:(?:{_MONTHS})\.?\s+{_DAY}|{_DAY}\s+(?:of\s+)?(?:{_MONTHS}))(?:,?\s+{_YEAR})?\b", re.I)
# "since Monday", "since January", "since March 3", "since 2024": from then until as_of.
SINCE = re.compile(rf"\bsince\s+(?:(?:last\s+)?(?:{_WEEKDAYS})|(?:{_MONTHS})\.?(?:\s+{_DAY})?(?:,?\s+{_YEAR})?|"
                   rf"{_DAY}\s+(?:{_MONTHS})(?:,?\s+{_YEAR})?|{_YEAR}|yesterday|last\s+(?:week|month|year))\b", re.I)
# "in March 2025", "during Feb 2024": a named month of a named year (any case: the year makes it clear).
MONTH_YEAR = re.compile(rf"\b(?:in|during|from|of|for)\s+((?:{_MONTHS})\.?,?\s+{_YEAR})\b", re.I)
# "in March": a capitalised month after a preposition ("in may" / "to march" are not months).
MONTH = re.compile(rf"\b(?i:in|during|from|for|of)\s+((?:{_MONTHS})\b)")
# "in 2025": a year after a preposition (not "2025 people").
YEAR = re.compile(rf"\b(?:in|during|from|for|of)\s+({_YEAR})\b", re.I)
# "this week", "last month", "past year", "previous week".
PERIOD = re.compile(r"\b(this|last|past|previous)\s+(week|month|year)\b", re.I)
# "today", "yesterday", "on Monday", "last Tuesday": one day.
DAY_WORD = re.compile(rf"\b(today|yesterday|tonight|this morning|(?:on|last)\s+(?:{_WEEKDAYS}))\b", re.I)
# "the latest", "most recent", "newest", "recently": order by date, no range.
RECENT = re.compile(r"\b(latest|most recent|newest|recently|lately)\b", re.I)
# Questions asking what happened in a period rather than about one fact.
# "new" is the news only after a copula ("what's new", "what is new"): "What new color did ..." asks about one.
DIGEST = re.compile(r"\b(what(?:'s| is| has| have)?\s+(?:happened|happening|been going on|going on)|"
                    r"what(?:'s|\s+is|\s+has\s+been)\s+new|"
                    r"(?:any|the|top)\s+(?:news|headlines|stories)|news\s+(?:from|of|about|on|since|this|last|today)|"
                    r"headlines|round-?up|digest|catch me up|summar(?:y|ise|ize)\s+(?:the\s+)?news)\b", re.I)


# A question opening with one of these asks for one fact of a story, whatever else it says.
_FACT_QUESTION = re.compile(r"^\W*(?:who|whom|whose|which|where|when|why|how)\b", re.I)


def asks_for_digest(question: str) -> bool:
    """A digest asks for the news of a period ("What happened this week?", "Any news today?"); a question
    opening with who/which/where/when/why/how asks about one story even when it says "headlines" (the two
    digest matches of the news dev sets, "Which company made national headlines this week ...?" and "What new
    color did ... say in April 2025 ...?", were both misroutes; neither set holds a real digest)."""
    return bool(DIGEST.search(question)) and not _FACT_QUESTION.match(question)


@dataclass(frozen=True)
class TimeQuery:
    since: str | None = None  # YYYY-MM-DD, inclusive
    until: str | None = None  # YYYY-MM-DD, inclusive
    prefer_recent: bool = False
    digest: bool = False
    matched: str = ""  # the time phrase as written in the question

    @property
    def description(self) -> str:
        """"Searched articles from 10-16 March 2025", "Newest articles first" or "": derived from the range, so a
        range changed after parsing (a future year dropped) is never described stale."""
        if self.since or self.until:
            to_date = dt.date.fromisoformat
            return "Searched articles " + range_text(to_date(self.since) if self.since else None,
                                                     to_date(self.until) if self.until else None)
        return "Newest articles first" if self.prefer_recent else ""

    def is_empty(self) -> bool:
        return not (self.since or self.until or self.prefer_recent)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.description}


def resolve_time(question: str, as_of: dt.date | None = None) -> TimeQuery:
    """The time range and preferences a question expresses, counted from `as_of` (default: today)."""
    as_of = as_of or dt.date.today()
    recent = RECENT.search(question)
    for pattern, to_range in _RULES:
        match = pattern.search(question)
        if not match:
            continue
        try:
            found = to_range(match, as_of)
        except (OverflowError, ValueError):  # date arithmetic, or dateparser, past year 1 or 9999
            raise QuestionError(f'"{match.group(0).strip()}" counted from {as_of.isoformat()} falls outside the '
                                f"calendar ({dt.date.min.year}-{dt.date.max.year}); ask as of a date inside it, "
                                "or without the time phrase.") from None
        if found is None:
            continue
        since, until = found
        until = min(until, as_of) if since <= as_of else until  # nothing is published after as_of
        return TimeQuery(since=since.isoformat(), until=until.isoformat(), prefer_recent=bool(recent),
                         digest=asks_for_digest(question), matched=match.group(0).strip())
    if recent:
        return TimeQuery(prefer_recent=True, matched=recent.group(0))
    return TimeQuery()


# --------------------------------------------------------------------------------- the rules
def _parse(phrase: str, as_of: dt.date, **extra: Any) -> dt.date | None:
    """dateparser, relative to `as_of`, preferring the past (a question looks back)."""
    import dateparser

    base = dt.datetime.combine(as_of, dt.time(12))
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False, **extra}
    parsed = dateparser.parse(phrase, languages=["en"], settings=settings)
    return parsed.date() if parsed else None


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _whole_month(day: dt.date) -> tuple[dt.date, dt.date]:
    return day.replace(day=1), _month_end(day)


def _on_day(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    day = _parse(match.group(0)[2:].strip(), as_of)
    return (day, day) if day else None


def _since(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    phrase = match.group(0)[5:].strip()
    if re.fullmatch(_YEAR, phrase):
        return dt.date(int(phrase), 1, 1), as_of
    if re.fullmatch(rf"(?:{_MONTHS})\.?", phrase, re.I):  # "since January": its first day
        day = _parse(phrase, as_of, PREFER_DAY_OF_MONTH="first")
        return (day.replace(day=1), as_of) if day else None
    if re.fullmatch(r"last\s+(week|month|year)", phrase, re.I):
        period = _period(re.match(r"(last)\s+(\w+)", phrase), as_of)  # type: ignore[arg-type]
        return (period[0], as_of) if period else None
    day = _parse(re.sub(r"^last\s+", "", phrase, flags=re.I), as_of)
    return (day, as_of) if day else None


def _month_year(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    day = _parse(match.group(1), as_of, PREFER_DAY_OF_MONTH="first")
    return _whole_month(day) if day else None


def _month(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    day = _parse(match.group(1), as_of, PREFER_DAY_OF_MONTH="first")
    if not day:
        return None
    ahead = bool(_FUTURE.search(match.string))
    return _whole_month(named_month(day.month, as_of, ahead))


# A question about what is to come: "could be paused in November", "will open in May", "is set to ...".
_FUTURE = re.compile(r"\b(?:will|could|would|might|may|shall|is set to|are set to|is expected|are expected|"
                     r"plans? to|planning|scheduled|upcoming|going to|to be held)\b")


def named_month(month: int, as_of: dt.date, ahead: bool = False) -> dt.date:
    """The first day of the month a question names without a year: the one holding `as_of`, else the most
    recent one, except that a question about what is to come (`ahead`) means the next calendar month.

    Reason (issue 21): "Which program could be paused in November?" asked on 30 October 2025 is about the
    November two days ahead (which the chain does not use as a search range), not the one a year back;
    "What happened in April?" asked in March is about the last April.
    """
    this_year = dt.date(as_of.year, month, 1)
    if this_year <= as_of <= _month_end(this_year):
        return this_year
    upcoming = this_year if this_year > as_of else (dt.date(as_of.year + 1, month, 1) if as_of.year < 9999 else None)
    if ahead and upcoming is not None and (upcoming - _month_end(as_of)).days == 1:
        return upcoming
    if this_year < as_of or as_of.year == 1:
        return this_year
    return dt.date(as_of.year - 1, month, 1)


def _year(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date]:
    year = int(match.group(1))
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _period(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    which, unit = match.group(1).lower(), match.group(2).lower()
    if unit == "week":
        end = as_of if which == "this" else as_of - dt.timedelta(days=7)
        return end - dt.timedelta(days=6), end
    if which == "past":  # "the past month / year": a rolling period ending today
        start = _parse(f"1 {unit} ago", as_of)
        return (start + dt.timedelta(days=1), as_of) if start else None
    if unit == "month":
        day = as_of if which == "this" else _parse("1 month ago", as_of)
        return (day.replace(day=1), _month_end(day)) if day else None
    year = as_of.year if which == "this" else as_of.year - 1
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _day_word(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    phrase = match.group(1).lower()
    if phrase in ("tonight", "this morning"):
        phrase = "today"
    day = _parse(re.sub(r"^(on|last)\s+", "", phrase), as_of)
    if day and day >= as_of and phrase not in ("today",):  # "on Monday" said on a Monday means the last one
        day -= dt.timedelta(days=7)
    return (day, day) if day else None


# The most specific phrase wins: a day, then "since", then a month of a year, a month, a year, a period.
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str], dt.date], tuple[dt.date, dt.date] | None]]] = [
    (ON_DAY, _on_day), (SINCE, _since), (MONTH_YEAR, _month_year), (MONTH, _month), (YEAR, _year),
    (PERIOD, _period), (DAY_WORD, _day_word),
]
