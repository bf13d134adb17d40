"""The page's handlers and its served app, on a scripted stand-in for the Assistant (fast, no model).

What is checked here is the page's own behaviour: errors become messages (never a silent failure),
filters reach the core, the corpus view, "Add from URL", paths kept private, exports removed, failed
logins slowed. The same page over the real Assistant and model is checked in test_ui_api.py and
test_ui_browser.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rag.answer.chain import Answer, Citation, Event, Timings
from rag.errors import IndexMissingError, QuestionError
from rag.settings import Settings
from ui import render
from ui.login import LoginThrottle

from ..factories import free_port, make_answer, make_citation, served_page

LONE_SURROGATE = "What did Umerov request?\ud800"


def _citation(n: int = 1) -> Citation:
    return make_citation(n, "The Starliner capsule returned.", doc_id="news/a.md", title="Starliner returns",
                         score=0.03, date="2025-03-18", outlet="USA TODAY", url="https://example.com/a",
                         authors=["Jane Doe"])


class FakeAssistant:
    """Stands in for `rag.Assistant`: answers from a script, or fails the way it is told to."""

    model_name = "fake-model"

    def __init__(self, settings: Settings, fail: BaseException | None = None,
                 articles: list[dict[str, Any]] | None = None) -> None:
        self.settings = settings
        self.fail = fail
        self.calls: list[dict[str, Any]] = []
        self.added: list[dict[str, Any]] = []
        self._articles = articles or []
        self.store = SimpleNamespace(passages_of=self._passages_of)

    def stream(self, question: str, history: Any = None, **filters: Any) -> Iterator[Event]:
        from rag.answer.chain import validate_question

        validate_question(question, self.settings.max_question_chars)
        self.calls.append({"question": question, **filters})
        yield Event("status", "Searching the articles…")
        if self.fail is not None:
            raise self.fail
        yield Event("token", "It returned [1].")
        reply = make_answer("It returned [1].", [_citation()], question=question, timings=Timings(1, 2, 3),
                       model="fake-model",
                       filters={"since": filters.get("since"), "until": filters.get("until"),
                                "outlets": filters.get("outlets", []), "prefer_recent": False,
                                "description": "articles from 10-16 March 2025" if filters.get("since") else ""})
        yield Event("answer", answer=reply)

    def ask(self, question: str, history: Any = None, **filters: Any) -> Answer:
        *_, last = self.stream(question, history, **filters)
        assert last.answer is not None
        return last.answer

    def context(self, c: Citation) -> tuple[str, str, str]:
        return "", c.text, ""

    def stats(self) -> dict[str, Any]:
        return {"documents": len(self._articles), "chunks": 2, "last_indexed": "2026-01-01 00:00:00",
                "location": str(self.settings.data_dir.resolve() / "chroma")}

    def articles(self, filters: Any = None) -> list[dict[str, Any]]:
        return list(self._articles)

    def article_text(self, doc_id: str) -> str:
        return "First sentence. Second one."

    def _passages_of(self, doc_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [("First sentence.", {"start": 0, "end": 15}), ("Second one.", {"start": 16, "end": 27})]

    def add(self, urls: list[str], *, folder: Any = None, allow_private: bool | None = None,
            progress: Any = None, index_progress: Any = None) -> Any:
        self.added.append({"urls": urls, "allow_private": allow_private})
        items = [SimpleNamespace(url=u, status="failed" if "10.0." in u else "added",
                                 reason="a private address; set RAG_FETCH_ALLOW_PRIVATE" if "10.0." in u else "",
                                 title="", saved_as="") for u in urls]
        return SimpleNamespace(items=items, summary=lambda: f"{len(urls)} addresses")


ARTICLES = [
    {"doc_id": "b.md", "title": "Starliner docks", "date": "2025-03-18", "outlet": "USA TODAY", "url": "",
     "authors": ["Jane Doe"], "passages": 2},
    {"doc_id": "a.md", "title": "Budget vote", "date": "2025-03-10", "outlet": "AP", "url": "", "authors": [],
     "passages": 1},
    {"doc_id": "c.md", "title": "Undated note", "date": "", "outlet": "", "url": "", "authors": [], "passages": 1},
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "srv" / "corpus").tuned(
        login_delay=0.2, login_delay_max=1.0)


def _page(settings: Settings, **kwargs: Any) -> Any:
    from ui.app import ChatPage

    return ChatPage(FakeAssistant(settings, **kwargs), settings)  # type: ignore[arg-type]


def _last(page: Any, question: str, *filters: Any) -> tuple[Any, ...]:
    *_, last = page.respond(question, [], *filters)
    return last


# ------------------------------------------------------------------------------------------ errors
def test_an_unexpected_error_while_answering_is_a_plain_message_and_a_logged_traceback(
        settings: Settings, caplog: pytest.LogCaptureFixture):
    page = _page(settings, fail=RuntimeError("boom in the chain"))
    with caplog.at_level(logging.ERROR, logger="ui.app"):
        messages, turns, *_ = _last(page, "What did Umerov request?")
    expected = ("Something went wrong answering this question (RuntimeError). "
                "The operator's log has the details.")
    assert turns[-1].error == expected
    assert f"⚠ {render.esc(expected)}" in messages[-1]["content"]
    assert "boom in the chain" not in messages[-1]["content"]
    [record] = [r for r in caplog.records if r.exc_info]
    assert "boom in the chain" in caplog.text and record.exc_info[0] is RuntimeError  # type: ignore[index]


def test_a_rag_error_is_shown_as_it_is_with_server_paths_replaced(settings: Settings):
    location = settings.data_dir.resolve() / "chroma"
    page = _page(settings, fail=IndexMissingError(f"No index yet in {location}. Run `rag index corpus/` first."))
    messages, turns, *_ = _last(page, "What did Umerov request?")
    assert turns[-1].error.startswith("No index yet in ") and "Run `rag index corpus/` first." in turns[-1].error
    assert str(settings.data_dir.resolve()) not in messages[-1]["content"]


def test_a_question_with_a_lone_surrogate_is_refused_with_the_validation_message(settings: Settings):
    page = _page(settings)
    box, messages, pending = page.submit(LONE_SURROGATE, [])
    with pytest.raises(QuestionError) as err:
        from rag.answer.chain import validate_question

        validate_question(LONE_SURROGATE, 2000)
    assert pending == "" and render.esc(str(err.value)) in messages[-1]["content"]
    assert "surrogate" in str(err.value)
    assert page.assistant.calls == []  # nothing was asked


def test_the_api_turns_every_failure_into_a_message(settings: Settings, caplog: pytest.LogCaptureFixture):
    import gradio as gr

    page = _page(settings, fail=KeyError("x"))
    with pytest.raises(gr.Error) as err, caplog.at_level(logging.ERROR, logger="ui.app"):
        page.ask("What did Umerov request?")
    assert err.value.message == ("Something went wrong answering this question (KeyError). "
                                 "The operator's log has the details.")
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)
    with pytest.raises(gr.Error, match="surrogate"):
        page.ask(LONE_SURROGATE)


# ------------------------------------------------------------------------------------------ filters
def test_filters_reach_the_assistant_only_when_set(settings: Settings):
    page = _page(settings)
    _last(page, "What happened?", "", "  ", [], "")
    _last(page, "What happened?", "2025-03-10", "2025-03-16", ["USA TODAY"], "2025-03-17")
    assert page.assistant.calls[0] == {"question": "What happened?"}
    assert page.assistant.calls[1] == {"question": "What happened?", "since": "2025-03-10", "until": "2025-03-16",
                                       "outlets": ["USA TODAY"], "as_of": "2025-03-17"}


def test_the_searched_range_is_shown_under_the_answer(settings: Settings):
    page = _page(settings)
    messages, *_ = _last(page, "What happened?", "2025-03-10", "2025-03-16", [], "")
    assert "Searched articles from 10-16 March 2025" in messages[-1]["content"]


@pytest.mark.parametrize("since, until, message", [
    ("March 10", "", "is not a date; write it as YYYY-MM-DD"),
    ("2025-03-16", "2025-03-10", "starts (2025-03-16) after it ends (2025-03-10)"),
])
def test_a_bad_date_is_said_before_the_question_is_queued(settings: Settings, since: str, until: str, message: str):
    page = _page(settings)
    box, messages, pending = page.submit("What happened?", [], since, until, [], "")
    assert pending == "" and message in messages[-1]["content"].replace("&#x27;", "'")


def test_the_filtered_api_takes_the_filters(settings: Settings):
    page = _page(settings)
    page.ask_filtered("What happened?", since="2025-03-10", outlets="USA TODAY, AP")
    assert page.assistant.calls[-1] == {"question": "What happened?", "since": "2025-03-10",
                                        "outlets": ["USA TODAY", "AP"]}


# ------------------------------------------------------------------------------------------ corpus view
def test_the_corpus_view_lists_articles_newest_first_with_outlet_and_date_and_searches(settings: Settings):
    page = _page(settings, articles=ARTICLES)
    summary, table = page.articles_view("")
    assert table.values.tolist() == [["2025-03-18", "USA TODAY", "Starliner docks", "b.md"],
                                     ["2025-03-10", "AP", "Budget vote", "a.md"],
                                     ["undated", "", "Undated note", "c.md"]]
    assert "3 articles indexed, newest first" in summary
    summary, table = page.articles_view("jane")  # authors are searched too
    assert table.values.tolist() == [["2025-03-18", "USA TODAY", "Starliner docks", "b.md"]]
    assert "1 of 3 articles matches" in summary


def test_clicking_an_article_opens_its_text(settings: Settings):
    import gradio as gr

    page = _page(settings, articles=ARTICLES)
    event = gr.SelectData(None, {"index": [0, 2], "value": "Starliner docks",
                                 "row_value": ["2025-03-18", "USA TODAY", "Starliner docks", "b.md"]})
    html = page.open_article(event)
    assert "Starliner docks" in html and "USA TODAY · 18 March 2025 · by Jane Doe" in html
    assert "First sentence. Second one." in html


def test_the_outlet_choices_are_the_indexed_outlets(settings: Settings):
    page = _page(settings, articles=ARTICLES)
    assert [c[0] for c in page.outlet_choices().choices] == ["AP", "USA TODAY"]


# ------------------------------------------------------------------------------------------ add from URL
def test_add_from_url_never_allows_private_addresses_unless_the_setting_does(settings: Settings):
    page = _page(settings)
    report, *_ = page.add_urls("https://example.com/a\nhttp://10.0.0.5/admin\nhttps://example.com/a")
    assert page.assistant.added == [{"urls": ["https://example.com/a", "http://10.0.0.5/admin"],
                                     "allow_private": False}]
    assert "private address" in report and report.index("10.0.0.5") < report.index("example.com/a")
    allowed = settings.model_copy(update={"fetch_allow_private": True}) if "fetch_allow_private" in \
        Settings.model_fields else None
    if allowed is not None:
        page = _page(allowed)
        page.add_urls("http://10.0.0.5/")
        assert page.assistant.added[-1]["allow_private"] is True


def test_add_from_url_with_no_address_says_what_to_paste(settings: Settings):
    report, *_ = _page(settings).add_urls("  \n ")
    assert "Paste one or more http(s) addresses" in report


# ------------------------------------------------------------------------------------------ what visitors see
def test_the_corpus_tab_shows_the_folder_by_name_not_its_server_path(settings: Settings):
    page = _page(settings, articles=ARTICLES)
    html = page.stats()
    assert str(settings.corpus_dir.resolve()) not in html and str(settings.data_dir.resolve()) not in html
    assert "<code>corpus</code>" in html


def test_conversation_exports_are_removed_when_the_app_closes(settings: Settings):
    from ui.app import build_app

    demo = build_app(FakeAssistant(settings), settings)  # type: ignore[arg-type]
    page = demo.page  # type: ignore[attr-defined]
    _last(page, "What did Umerov request?")
    assert list(page.export_dir.glob("conversation-*.md"))
    demo.close()
    assert not page.export_dir.exists()


def test_gradio_cache_cleanup_is_on(settings: Settings):
    from ui.app import build_app

    demo = build_app(FakeAssistant(settings), settings.tuned(upload_cache_hours=2))  # type: ignore[arg-type]
    assert demo.delete_cache == (3600, 7200)
    demo.close()


# ------------------------------------------------------------------------------------------ logins
def test_failed_logins_wait_longer_each_time_and_a_success_resets():
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    throttle = LoginThrottle("reader", "secret", base=1.0, cap=4.0, sleep=sleep)

    async def attempts() -> list[bool]:
        results = [await throttle.check("reader", "guess") for _ in range(4)]
        results.append(await throttle.check("reader", "secret"))
        results.append(await throttle.check("reader", "secret"))
        return results

    assert asyncio.run(attempts()) == [False, False, False, False, True, True]
    assert waits == [1.0, 2.0, 4.0, 4.0]  # before attempts 2-5; none after the success


def test_failures_are_forgotten_after_a_quiet_spell():
    now = [0.0]
    throttle = LoginThrottle("reader", "secret", base=1.0, forget_after=60, clock=lambda: now[0],
                             sleep=lambda s: asyncio.sleep(0))
    asyncio.run(throttle.check("reader", "guess"))
    assert throttle.failures("reader") == 1
    now[0] = 61
    assert throttle.failures("reader") == 0


# ------------------------------------------------------------------------------------------ the served page
@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, Any]]:
    settings.corpus_dir.mkdir(parents=True)
    assistant = FakeAssistant(settings, fail=RuntimeError("boom"), articles=ARTICLES)
    with served_page(assistant, settings) as (url, _):
        yield url, assistant


def call_ask_raw(url: str, question_json: str, api: str = "ask") -> tuple[str, str]:
    """POST one question to `/ask` as raw JSON (Gradio's call API) and return the final (event, data)."""
    import httpx

    body = '{"data": [' + question_json + ']}'
    posted = httpx.post(url + f"gradio_api/call/{api}", content=body.encode(),
                        headers={"Content-Type": "application/json"}, timeout=30)
    posted.raise_for_status()
    event, data = "", ""
    with httpx.stream("GET", url + f"gradio_api/call/{api}/{posted.json()['event_id']}", timeout=300) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data = line.removeprefix("data:").strip()
                if event in ("complete", "error"):
                    break
    return event, data


def test_the_served_api_returns_a_message_not_a_null_error(served: tuple[str, Any]):
    from gradio_client import Client

    client = Client(served[0], verbose=False)
    with pytest.raises(Exception) as err:
        client.predict("What did Umerov request?", api_name="/ask")
    assert "Something went wrong answering this question (RuntimeError)" in str(err.value)
    event, data = call_ask_raw(served[0], '"What did Umerov request?"')
    assert event == "error" and "Something went wrong answering this question (RuntimeError)" in data, data
    assert data != "null"


def test_the_filtered_api_over_http_passes_the_filters(served: tuple[str, Any]):
    from gradio_client import Client

    with pytest.raises(Exception, match="RuntimeError"):
        Client(served[0], verbose=False).predict("What happened?", since="2025-03-10", outlets="AP",
                                                 api_name="/ask_filtered")
    assert served[1].calls[-1] == {"question": "What happened?", "since": "2025-03-10", "outlets": ["AP"]}
    event, data = call_ask_raw(served[0], '"What happened?", "March", "", "", ""', api="ask_filtered")
    assert event == "error" and "is not a date; write it as YYYY-MM-DD" in data, data


def test_a_lone_surrogate_sent_as_raw_json_gets_the_validation_message(served: tuple[str, Any]):
    # gradio_client cannot encode a lone surrogate; a raw request can ("\ud800" is valid JSON).
    event, data = call_ask_raw(served[0], '"What did Umerov request?\\ud800"')
    assert event == "error" and "lone UTF-16 surrogate" in data, (event, data)
    assert served[1].calls == []


def test_the_served_config_holds_no_absolute_server_path(served: tuple[str, Any], settings: Settings):
    import httpx

    config = httpx.get(served[0] + "config", timeout=30).text
    for path in (settings.corpus_dir.resolve(), settings.data_dir.resolve(), Path.home()):
        assert str(path) not in config, path


def test_repeated_failed_logins_are_slowed_on_the_served_page(settings: Settings):
    import httpx

    from ui.app import build_app, launch

    secured = Settings(data_dir=settings.data_dir, corpus_dir=settings.corpus_dir, auth_user="reader",
                       auth_password="right").tuned(login_delay=0.5, login_delay_max=5)
    demo = build_app(FakeAssistant(secured), secured)  # type: ignore[arg-type]
    url = launch(demo, secured, port=free_port(), block=False, quiet=True)
    try:
        took = []
        for _ in range(3):
            start = time.monotonic()
            response = httpx.post(url + "login", data={"username": "reader", "password": "wrong"}, timeout=30)
            took.append(time.monotonic() - start)
            assert response.status_code == 400
        assert took[0] < 0.4 and took[1] >= 0.5 and took[2] >= 1.0, took
        assert httpx.get(url + "config", timeout=30).status_code == 401  # closed without the password
    finally:
        demo.close()


# ------------------------------------------------------------------------------------------ the real Assistant
ARTICLE_PAGE = b"""<!doctype html><html><head><title>Harbour crane collapses | Coastline Gazette</title>
<meta property="og:site_name" content="Coastline Gazette">
<meta property="article:published_time" content="2025-03-18T09:00:00Z">
<meta name="author" content="Mara Quist"></head>
<body><nav>Home | World | Sport</nav><article><h1>Harbour crane collapses</h1>
<p>A crane at the Port Ellery container terminal collapsed on Tuesday morning during high winds.</p>
<p>The harbour master, Odile Fenwick, said nobody was hurt and the terminal would reopen on Thursday.</p>
<p>Engineers from the crane's maker were due to inspect the remaining cranes before work resumed.</p>
</article><footer>Subscribe to our newsletter</footer></body></html>"""


@pytest.fixture
def local_site() -> Iterator[str]:
    """A one-page news site on 127.0.0.1 (a private address, as far as the fetcher is concerned)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(ARTICLE_PAGE)))
            self.end_headers()
            self.wfile.write(ARTICLE_PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/news/harbour-crane"
    server.shutdown()


def test_add_from_url_on_the_real_assistant_refuses_a_private_address_by_default(tmp_path: Path, local_site: str):
    from rag import Assistant
    from ui.app import ChatPage

    settings = Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus")
    page = ChatPage(Assistant(settings), settings)
    report, *_ = page.add_urls(local_site)
    assert "failed" in report and "127.0.0.1" in report
    assert not list((tmp_path / "corpus").glob("*.html"))


@pytest.mark.model
def test_add_from_url_on_the_real_assistant_fetches_indexes_and_lists_the_article(tmp_path: Path, local_site: str):
    from rag import Assistant
    from ui.app import ChatPage

    settings = Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus", fetch_allow_private=True)
    page = ChatPage(Assistant(settings), settings)
    report, stats, _ = page.add_urls(local_site)
    assert "1 page saved, 0 failed" in report and "added" in report, report
    assert str(tmp_path) not in report and str(tmp_path) not in stats
    summary, table = page.articles_view("crane")
    assert table.values.tolist()[0][:3] == ["2025-03-18", "Coastline Gazette", "Harbour crane collapses"], table
    html = page.article(table.values.tolist()[0][3])
    assert "Odile Fenwick" in html and "Subscribe to our newsletter" not in html


def test_upload_and_index_reports_show_no_server_path(settings: Settings, tmp_path: Path):
    page = _page(settings)
    incoming = tmp_path / "in" / "x.md"
    incoming.parent.mkdir()
    incoming.write_text("Text.")
    report = page.upload([str(incoming)])
    assert "saved" in report and str(settings.corpus_dir.resolve()) not in report
    message = page.public(f"cannot read {settings.corpus_dir.resolve() / 'a.md'}")
    assert message == "cannot read corpus/a.md" or message.endswith("corpus/a.md"), message
