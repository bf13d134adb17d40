"""Time phrases in questions become date ranges counted from `as_of`; ordinary words never do."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.search.timeparse import TimeQuery, resolve_time

AS_OF = dt.date(2025, 3, 18)  # a Tuesday


@pytest.mark.parametrize("question, since, until, matched", [
    ("What happened this week?", "2025-03-12", "2025-03-18", "this week"),
    ("What happened last week?", "2025-03-05", "2025-03-11", "last week"),
    ("Any news today?", "2025-03-18", "2025-03-18", "today"),
    ("What did Reuters report yesterday?", "2025-03-17", "2025-03-17", "yesterday"),
    ("What happened this month?", "2025-03-01", "2025-03-18", "this month"),
    ("news from last month", "2025-02-01", "2025-02-28", "last month"),
    ("What did CNN report in March 2025?", "2025-03-01", "2025-03-18", "in March 2025"),
    ("What happened in March?", "2025-03-01", "2025-03-18", "in March"),
    ("What happened in April?", "2024-04-01", "2024-04-30", "in April"),  # the most recent April
    ("What's new on the Starliner since Monday?", "2025-03-17", "2025-03-18", "since Monday"),
    ("What changed since January?", "2025-01-01", "2025-03-18", "since January"),
    ("What happened this year?", "2025-01-01", "2025-03-18", "this year"),
    ("Who won the election last year?", "2024-01-01", "2024-12-31", "last year"),
    ("How many launches were there in 2024?", "2024-01-01", "2024-12-31", "in 2024"),
    ("What happened on March 3?", "2025-03-03", "2025-03-03", "on March 3"),
    ("What was announced in Jan 2025?", "2025-01-01", "2025-01-31", "in Jan 2025"),
])
def test_time_phrases_resolve_to_inclusive_ranges(question: str, since: str, until: str, matched: str):
    found = resolve_time(question, AS_OF)
    assert (found.since, found.until, found.matched) == (since, until, matched)


@pytest.mark.parametrize("question", [
    "Who may attend the march in may?", "Protesters march to the capitol", "The second launch failed",
    "What did Umerov request?", "May 2025 be a better year?", "Who scored 2024 points?", "Is the weekend busy?",
])
def test_ordinary_words_make_no_range(question: str):
    assert resolve_time(question, AS_OF) == TimeQuery()


@pytest.mark.parametrize("question", ["What's the latest on Starliner?", "the most recent ferry strike",
                                      "newest findings on the vaccine"])
def test_latest_asks_for_recent_articles_without_a_range(question: str):
    found = resolve_time(question, AS_OF)
    assert found.prefer_recent and found.since is None and found.description == "Newest articles first"


@pytest.mark.parametrize("question, digest", [
    ("What happened this week?", True), ("What's new on the Starliner since Monday?", True),
    ("news from last month", True), ("What did CNN report yesterday about the ferry?", False),
    ("What happened to Starliner?", False),  # no period: an ordinary question
    ("Is there any news today?", True), ("Catch me up on this week", True),
    # About one story, though they say "headlines" / "new" and name a period (both were routed as digests).
    ("Which company made national headlines this week by debuting a new inclusive toy?", False),
    ("What new color did researchers say they had seen in April 2025?", False),
])
def test_digest_questions_are_recognised(question: str, digest: bool):
    assert resolve_time(question, AS_OF).digest is digest


def test_the_range_is_described_for_the_user():
    assert resolve_time("What happened this week?", dt.date(2025, 3, 16)).description == \
        "Searched articles from 10-16 March 2025"
    assert resolve_time("news from last month", AS_OF).description == "Searched articles from 1-28 February 2025"
    assert resolve_time("What happened on March 3?", AS_OF).description == "Searched articles from 3 March 2025"
    assert resolve_time("since January", AS_OF).description == "Searched articles from 1 January - 18 March 2025"


def test_as_of_defaults_to_today():
    today = dt.date.today().isoformat()
    assert resolve_time("What happened today?").since == today


def test_a_question_without_time_is_empty():
    found = resolve_time("What did Umerov request?", AS_OF)
    assert found.is_empty() and found.to_dict()["since"] is None and not found.digest


@pytest.mark.parametrize("question", ["What happened this week?", "Who won the election last year?",
                                      "What happened last week?", "What changed since last week?"])
def test_a_period_before_year_one_is_a_clear_error(question: str):
    # Counted from 0001-01-01 these periods start before the calendar does: a message, not an OverflowError.
    from rag import QuestionError

    with pytest.raises(QuestionError, match="outside the calendar"):
        resolve_time(question, dt.date(1, 1, 1))


def test_a_period_inside_the_calendar_near_its_ends_still_resolves():
    assert resolve_time("What happened this year?", dt.date(1, 1, 1)) == \
        TimeQuery(since="0001-01-01", until="0001-01-01", digest=True, matched="this year")
    assert resolve_time("What happened this week?", dt.date(9999, 12, 31)).since == "9999-12-25"


def test_as_of_year_one_with_a_time_phrase_gives_the_chain_a_clear_error():
    # The same input through the filters the CLI and the page build (`rag ask --as-of 0001-01-01`).
    from rag import QuestionError
    from rag.answer.chain import build_filters

    with pytest.raises(QuestionError, match="outside the calendar"):
        build_filters("Who won the election last year?", as_of="0001-01-01")


@pytest.mark.parametrize("kwargs, message", [
    # One date given (--since), the other is the day the question is asked as of: no "swap the two dates".
    (dict(since="2025-06-01", as_of="2025-05-01"), "since=2025-06-01 is after as_of=2025-05-01"),
    (dict(since="2025-06-01", until="2025-07-01", as_of="2025-05-01"), "since=2025-06-01 is after as_of=2025-05-01"),
    # A date given and the question's own period: both named.
    (dict(since="2025-03-28", as_of="2025-04-01", question="What happened last week?"),
     r'starts on 2025-03-28 \(since\) and ends on 2025-03-25 \("last week" in the question\)'),
    (dict(since="2025-06-01", until="2025-05-01"), "swap the two dates"),
])
def test_an_empty_date_range_says_where_its_dates_came_from(kwargs: dict, message: str):
    from rag import QuestionError
    from rag.answer.chain import build_filters

    question = kwargs.pop("question", "What did Umerov request?")
    with pytest.raises(QuestionError, match=message) as err:
        build_filters(question, **kwargs)
    if "until" not in kwargs:
        assert "swap" not in str(err.value)


@pytest.mark.parametrize("as_of,month,ahead,expected", [
    ("2025-10-30", 11, True, "2025-11-01"),   # "could be paused in November": two days ahead
    ("2025-10-30", 11, False, "2024-11-01"),  # "what happened in November": the last one
    ("2025-10-30", 12, True, "2024-12-01"),   # not the next calendar month: the last one
    ("2025-01-10", 12, False, "2024-12-01"),
    ("2025-03-18", 3, True, "2025-03-01"),    # the month that holds the day
    ("2025-12-05", 1, True, "2026-01-01"),    # across the new year
])
def test_a_month_without_a_year_is_the_last_one_or_the_coming_one_for_what_is_to_come(
        as_of: str, month: int, ahead: bool, expected: str) -> None:
    from rag.search.timeparse import named_month

    assert named_month(month, dt.date.fromisoformat(as_of), ahead).isoformat() == expected


def test_a_month_about_to_come_is_not_a_search_range() -> None:
    from rag.answer.chain import build_filters

    filters, _ = build_filters("Which program could be paused in November due to the government shutdown?",
                               as_of="2025-10-30")
    assert filters.since is None and filters.until == "2025-10-30"
