"""The chat page: a Gradio Blocks app over one shared `rag.Assistant`.

What lives here: the layout, the event wiring, the queue, and turning the assistant's events into
page updates. What does not: retrieval, prompting, citation checking, indexing (all `rag`), and
HTML building (`ui.render`, which escapes everything untrusted).

Concurrency: every answer (chat or the `/ask` API) goes through one Gradio queue group, so with
the local model one answer is generated at a time and the others wait their turn in order, each
page showing its position. Beyond `settings.max_queue` waiting answers a request is refused at once
(Gradio's "This application is currently busy. Please try again."). A conversation lives in that browser session's `gr.State`; the
Assistant is the only thing sessions share.

Errors: a `RagError` is shown as its message (it says what to do). Anything else is a bug or an
outage: the visitor gets a plain sentence naming the exception's type, the operator's log gets the
traceback (`logging.exception`), and the question is never silently dropped.

What visitors may see: no absolute server path (the corpus folder is shown by its name, messages
have server paths replaced by their public names), no file the server wrote after it stops
(conversation exports live in one temporary folder removed at exit and when the app is closed;
Gradio's own cache of uploads and downloads is cleaned every hour, `settings.tuning.upload_cache_hours`).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import atexit
import datetime as dt
import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from rag.answer.chain import Message, validate_question
from rag.assistant import Assistant
from rag.errors import QuestionError, RagError
from rag.ingest.documents import MB
from rag.settings import Settings

from . import render
from .assets import CSS, HEAD, theme
from .login import LoginThrottle
from .uploads import ALLOWED_SUFFIXES, save_uploads

__all__ = ["EXAMPLES", "ChatPage", "build_app", "launch", "serve"]

log = logging.getLogger(__name__)

EXAMPLES = [
    "What did Umerov request?",
    "Who is Ukraine's new commander in chief?",
    "Who did Ukraine's defense minister meet?",
    "What weapons did Umerov talk about?",
]
WAITING = "Waiting for the model: questions are answered one at a time, in order of arrival."
ANSWER_GROUP = "answer"  # queue group shared by the chat and /ask: they compete for the same model
# A local llama.cpp model generates one answer at a time (the core holds a lock); a model server can
# take a few at once, and the queue should not be the bottleneck then.
SERVER_BACKEND_CONCURRENCY = 4


ARTICLES_SHOWN = 500  # rows in the corpus view; a search narrows a larger corpus
MAX_URLS = 50  # addresses per "Add from URL" request: one visitor should not queue hours of fetching


def unexpected_message(err: BaseException, doing: str = "answering this question") -> str:
    """What a visitor sees for an error that is not a `RagError` (the traceback goes to the log)."""
    return f"Something went wrong {doing} ({type(err).__name__}). The operator's log has the details."


def public_name(path: Path | str) -> str:
    """How a server folder is shown to visitors: relative to the working folder if inside it, else its name."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return path.name or str(path)


def _parse_urls(text: str) -> list[str]:
    """Addresses from a textbox: one per line (or separated by spaces/commas), in order, without repeats."""
    return list(dict.fromkeys(u for u in re.split(r"[\s,]+", text or "") if u))


def _concurrency(settings: Settings) -> int:
    return 1 if settings.llm_backend == "local" else SERVER_BACKEND_CONCURRENCY


def _history(turns: list[render.Turn]) -> list[Message]:
    history: list[Message] = []
    for turn in turns:
        if turn.answer is not None:
            history += [{"role": "user", "content": turn.question},
                        {"role": "assistant", "content": turn.answer.text}]
    return history


def _messages(turns: list[render.Turn]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for t, turn in enumerate(turns):
        messages.append({"role": "user", "content": render.user_html(turn.question)})
        messages.append({"role": "assistant", "content": render.answer_html(turn, t)})
    return messages


class ChatPage:
    """The event handlers; one instance per app, holding nothing per user."""

    def __init__(self, assistant: Assistant, settings: Settings) -> None:
        self.assistant = assistant
        self.settings = settings
        # Every conversation export of this app, in one folder that goes when the server stops.
        self.export_dir = Path(tempfile.mkdtemp(prefix="rag-ui-export-"))
        atexit.register(self.close)
        self._server_paths = self._paths_to_hide()

    def close(self) -> None:
        """Remove the conversation exports (at exit, and when the app is closed)."""
        shutil.rmtree(self.export_dir, ignore_errors=True)

    def _paths_to_hide(self) -> list[tuple[str, str]]:
        """(absolute server path, what to show instead), longest first, for messages shown to visitors."""
        pairs: dict[str, str] = {}
        for attr in ("corpus_dir", "data_dir", "model_cache"):
            folder = getattr(self.settings, attr, None)
            if folder:
                for form in {str(Path(folder)), str(Path(folder).resolve())}:
                    if Path(form).is_absolute() and len(form) > 1:
                        pairs[form] = public_name(folder)
        return sorted(pairs.items(), key=lambda kv: -len(kv[0]))

    def public(self, message: str) -> str:
        """`message` with the server's absolute folders replaced by their public names."""
        for path, name in self._server_paths:
            message = message.replace(path, name)
        return message

    def _error(self, err: BaseException, doing: str = "answering this question") -> str:
        if isinstance(err, RagError):
            return self.public(str(err))
        log.exception("unexpected error %s", doing)
        return unexpected_message(err, doing)

    def filters(self, since: str | None = None, until: str | None = None, outlets: list[str] | str | None = None,
                as_of: str | None = None) -> dict[str, Any]:
        """The filter controls as keyword arguments for `Assistant.stream` (only those that are set).

        Dates are checked here too, so a mistyped one is said before the question is queued.
        """
        kwargs: dict[str, Any] = {}
        for name, value in (("since", since), ("until", until), ("as_of", as_of)):
            value = (value or "").strip() if isinstance(value, str) else value
            if value:
                try:
                    kwargs[name] = dt.date.fromisoformat(str(value)).isoformat()
                except ValueError:
                    raise QuestionError(f"{name.replace('_', ' ').capitalize()} {value!r} is not a date; "
                                        "write it as YYYY-MM-DD (e.g. 2025-03-18).") from None
        if kwargs.get("since") and kwargs.get("until") and kwargs["since"] > kwargs["until"]:
            raise QuestionError(f"The date range starts ({kwargs['since']}) after it ends ({kwargs['until']}); "
                                "swap the two dates.")
        names = [outlets] if isinstance(outlets, str) else list(outlets or [])
        names = [n for n in names if isinstance(n, str) and n.strip()]
        if names:
            kwargs["outlets"] = names
        return kwargs

    # ------------------------------------------------------------------ chat
    def submit(self, question: str, turns: list[render.Turn], since: str | None = None, until: str | None = None,
               outlets: list[str] | None = None, as_of: str | None = None) -> tuple[Any, Any, str]:
        """Post the question at once (not queued); `respond` answers it when its turn comes.

        Outputs: question box, chat, the pending question (empty if it was refused).
        """
        try:
            question = validate_question(question, self.settings.max_question_chars)
            self.filters(since, until, outlets, as_of)
        except Exception as err:  # noqa: BLE001 - every refusal is said in the chat, never lost
            # Said in the chat rather than a toast (Gradio does not deliver toasts from unqueued events);
            # the question stays in the box to be fixed, and it is not part of the conversation.
            message = self._error(err, "checking this question")
            return gr.skip(), _messages(turns or []) + [{"role": "assistant", "content": render.error_html(message)}], ""
        messages = _messages(turns or []) + [{"role": "user", "content": render.user_html(question)},
                                             {"role": "assistant", "content": render.pending_html("", WAITING)}]
        return "", messages, question

    def respond(self, pending: str, turns: list[render.Turn], since: str | None = None, until: str | None = None,
                outlets: list[str] | None = None, as_of: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream the answer to the pending question. Outputs: chat, turns, sources, Markdown, download, clear."""
        if not pending:
            yield (gr.skip(),) * 6
            return
        turns = list(turns or [])
        done = _messages(turns) + [{"role": "user", "content": render.user_html(pending)}]
        streamed, status = "", "Starting…"
        yield (done + [{"role": "assistant", "content": render.pending_html("", status)}],
               gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.Button(interactive=False))
        answer = None
        try:
            for event in self.assistant.stream(pending, _history(turns), **self.filters(since, until, outlets, as_of)):
                if event.kind == "status":
                    status = event.text
                elif event.kind == "token":
                    streamed += event.text
                    status = ""
                elif event.kind == "answer":
                    answer = event.answer
                    continue
                yield (done + [{"role": "assistant", "content": render.pending_html(streamed, status)}],
                       gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip())
            assert answer is not None  # the core always ends a stream with its answer
            turn = render.Turn(pending, answer, {c.n: self.assistant.context(c) for c in answer.citations})
        except Exception as err:  # noqa: BLE001 - a RagError says what to do; anything else is logged
            turn = render.Turn(pending, error=self._error(err))
        turns.append(turn)
        yield (_messages(turns), turns, render.sources_panel_html(turns), *self._export(turns),
               gr.Button(interactive=True))

    def not_queued(self, turns: list[render.Turn], pending: str) -> tuple[list[dict[str, str]], str]:
        """The queue refused the question (Gradio says the app is busy): take it back off the chat and put
        it in the question box again, ready to resend."""
        return _messages(turns or []), pending

    def _export(self, turns: list[render.Turn]) -> tuple[str, Any]:
        text = render.conversation_markdown(turns)
        self._prune_exports()
        self.export_dir.mkdir(parents=True, exist_ok=True)
        path = self.export_dir / f"conversation-{uuid.uuid4().hex[:10]}.md"
        path.write_text(text, encoding="utf-8")
        return text, gr.DownloadButton(value=str(path), interactive=True)

    def _prune_exports(self) -> None:
        """Exports older than Gradio's cache age go now (Gradio has served its own copy by then)."""
        cutoff = time.time() - self.settings.tuning.upload_cache_hours * 3600
        for old in self.export_dir.glob("conversation-*.md"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                pass

    def clear(self) -> tuple[Any, ...]:
        return ([], [], render.sources_panel_html([]), "", gr.DownloadButton(value=None, interactive=False))

    # ------------------------------------------------------------------ the API
    def ask(self, question: str) -> str:
        """Answer one question from the indexed articles; returns the answer text followed by its sources."""
        return self.ask_filtered(question)

    def ask_filtered(self, question: str, since: str = "", until: str = "", outlets: str = "",
                     as_of: str = "") -> str:
        """Answer one question from some of the articles; returns the answer text followed by its sources.

        `since` / `until` (YYYY-MM-DD, inclusive) and `outlets` (comma-separated names) restrict the
        search; `as_of` (YYYY-MM-DD, default today) is what "this week" in the question is counted from.
        Empty values do not restrict anything.
        """
        try:
            names = [o.strip() for o in (outlets or "").split(",") if o.strip()]
            kwargs = self.filters(since, until, names, as_of)
            return render.answer_as_text(self.assistant.ask(question, **kwargs))
        except Exception as err:  # noqa: BLE001 - the caller always gets a message, the log the traceback
            raise gr.Error(self._error(err)) from err

    # ------------------------------------------------------------------ corpus
    def header(self) -> str:
        try:
            stats = self.assistant.stats()
            docs, chunks = stats["documents"], stats["chunks"]
            indexed = (f"{docs} article{'s' if docs != 1 else ''} · "
                       f"{chunks} passage{'s' if chunks != 1 else ''} indexed")
        except Exception:  # noqa: BLE001 - the header is informative only; the corpus tab says what is wrong
            indexed = "nothing indexed yet"
        return (f'<h1>Ask the news</h1><div class="subtitle">Answers come only from the indexed articles, and '
                f"every claim cites its passage. {render.esc(indexed)} · {render.esc(self.assistant.model_name)}</div>")

    def stats(self) -> str:
        folder = public_name(self.settings.corpus_dir)
        try:
            return render.stats_html(self.assistant.stats(), folder)
        except Exception as err:  # noqa: BLE001
            return render.stats_html(None, folder, self._error(err, "reading the index"))

    def upload(self, files: list[Any] | None) -> str:
        if not files:
            return ""
        pairs = []
        for f in files:
            path = Path(f if isinstance(f, str) else f.name)
            pairs.append((getattr(f, "orig_name", None) or path.name, path))
        try:
            results = save_uploads(pairs, self.settings.corpus_dir, self.settings.max_upload_mb)
        except Exception as err:  # noqa: BLE001
            return render.message_html(self._error(err, "saving the upload"), "error")
        return self.public(render.upload_report_html(results, public_name(self.settings.corpus_dir)))

    def reindex(self, progress: gr.Progress = gr.Progress()) -> tuple[str, str, str]:  # noqa: B008 - Gradio's idiom
        progress(0, desc="Reading the corpus folder…")

        def update(done: int, total: int, what: str) -> None:
            progress((done, total), desc=what, unit="passages")

        try:
            report = self.assistant.index(self.settings.corpus_dir, progress=update)
            result = self.public(render.index_report_html(report))
        except Exception as err:  # noqa: BLE001
            result = render.message_html(self._error(err, "re-indexing"), "error")
        return result, self.stats(), self.header()

    # ------------------------------------------------------------------ add from URL
    def add_urls(self, text: str, progress: gr.Progress = gr.Progress()) -> tuple[str, str, str]:  # noqa: B008
        """Fetch the addresses (pages or feeds), store them in the corpus folder and index them.

        Private, loopback and link-local addresses are refused unless `fetch_allow_private` is set:
        the page passes that setting as it is and the fetcher enforces it.
        """
        urls = _parse_urls(text)
        if not urls:
            return render.message_html("Paste one or more http(s) addresses, one per line.", "error"), \
                self.stats(), self.header()
        if len(urls) > MAX_URLS:
            return render.message_html(f"{len(urls)} addresses: at most {MAX_URLS} at a time.", "error"), \
                self.stats(), self.header()
        add = getattr(self.assistant, "add", None)
        if add is None:
            return render.message_html("Adding from a URL is not available in this version.", "error"), \
                self.stats(), self.header()
        progress(0, desc="Fetching…")

        def fetched(done: int, total: int, what: str) -> None:
            progress((done, total), desc=what, unit="addresses")

        def indexed(done: int, total: int, what: str) -> None:
            progress((done, total), desc=what, unit="passages")

        try:
            report = add(urls, folder=self.settings.corpus_dir,
                         allow_private=bool(getattr(self.settings, "fetch_allow_private", False)),
                         progress=fetched, index_progress=indexed)
            result = self.public(render.add_report_html(report))
        except Exception as err:  # noqa: BLE001
            result = render.message_html(self._error(err, "adding these addresses"), "error")
        return result, self.stats(), self.header()

    # ------------------------------------------------------------------ the corpus view
    def _articles(self) -> list[dict[str, Any]]:
        try:
            return list(self.assistant.articles())
        except RagError:
            return []  # nothing indexed yet: the stats above say so

    def outlet_choices(self) -> Any:
        """The outlets of the indexed articles, for the filter's choice list (selection kept)."""
        try:
            names = sorted({str(a.get("outlet") or "").strip() for a in self._articles()} - {""}, key=str.casefold)
        except Exception:  # noqa: BLE001
            log.exception("could not list the outlets")
            names = []
        return gr.Dropdown(choices=names)

    def articles_view(self, query: str = "") -> tuple[str, Any]:
        """The corpus view: a summary line and the rows (newest first) matching `query`."""
        try:
            articles = self._articles()
        except Exception as err:  # noqa: BLE001
            return render.message_html(self._error(err, "listing the articles"), "error"), \
                pd.DataFrame([], columns=render.ARTICLE_COLUMNS)
        rows, matched = render.article_rows(articles, query or "", ARTICLES_SHOWN)
        return (render.articles_summary(len(rows), matched, len(articles), query or ""),
                pd.DataFrame(rows, columns=render.ARTICLE_COLUMNS))

    def open_article(self, evt: gr.SelectData) -> str:
        """The article of the clicked row: its metadata and its text, rebuilt from its passages."""
        row = evt.row_value if isinstance(evt.row_value, list | tuple) else None
        if not row or len(row) < len(render.ARTICLE_COLUMNS):
            return ""
        return self.article(str(row[render.ARTICLE_COLUMNS.index("File")]))

    def article(self, doc_id: str) -> str:
        try:
            found = next((a for a in self._articles() if a.get("doc_id") == doc_id), None)
            return render.article_html(found, self.assistant.article_text(doc_id) if found else "")
        except Exception as err:  # noqa: BLE001
            return render.message_html(self._error(err, "opening the article"), "error")


def build_app(assistant: Assistant, settings: Settings | None = None) -> gr.Blocks:
    """The page (not yet launched). `launch` starts it with the queue, login and styling."""
    settings = settings or assistant.settings
    page = ChatPage(assistant, settings)
    limit = _concurrency(settings)
    age = int(settings.tuning.upload_cache_hours * 3600)

    with gr.Blocks(title="Ask the news", delete_cache=(min(3600, age), age)) as demo:
        turns = gr.State([])
        header = gr.HTML(page.header(), elem_id="app-header")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        chatbot = gr.Chatbot(
                            elem_id="chat", height=600, show_label=False, buttons=[], feedback_options=None,
                            latex_delimiters=[], sanitize_html=True, layout="bubble",
                            placeholder="<b>Ask a question about the indexed news articles.</b><br>"
                                        "Answers cite their passages; click a [n] to see it.")
                        with gr.Row(equal_height=True):
                            question = gr.Textbox(placeholder="Ask about the articles…", show_label=False, scale=8,
                                                  lines=1, max_lines=4, autofocus=True, elem_id="question",
                                                  container=False)
                            send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="send")
                        with gr.Accordion("Search only some articles (dates, outlets)", open=False, elem_id="filters"):
                            with gr.Row():
                                since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", max_lines=1,
                                                   elem_id="since")
                                until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", max_lines=1,
                                                   elem_id="until")
                                as_of = gr.Textbox(label="As of (what “this week” means)", placeholder="today",
                                                   max_lines=1, elem_id="as-of")
                            outlets = gr.Dropdown(label="Outlets (none chosen: all)", choices=[], multiselect=True,
                                                  elem_id="outlets")
                        with gr.Row(elem_id="examples"):
                            example_buttons = [gr.Button(q, size="sm", variant="secondary") for q in EXAMPLES]
                    with gr.Column(scale=2, min_width=340):
                        gr.HTML("<h3 style='margin:4px 0 8px 0'>Sources</h3>")
                        sources = gr.HTML(render.sources_panel_html([]), elem_id="sources")
                with gr.Accordion("Copy or download the conversation", open=False, elem_id="export"):
                    markdown = gr.Textbox(label="Conversation with its sources, as Markdown", lines=8, max_lines=16,
                                          buttons=["copy"], interactive=False, elem_id="export-markdown")
                    with gr.Row():
                        download = gr.DownloadButton("Download as Markdown", interactive=False, elem_id="download")
                        clear = gr.Button("New conversation", elem_id="clear")
            with gr.Tab("Corpus", id="corpus-tab"):
                stats = gr.HTML(page.stats(), elem_id="stats")
                with gr.Row(equal_height=False):
                    with gr.Column():
                        # No `file_types`: Gradio would refuse the whole batch for one unknown type; each file is
                        # checked on its own instead, and the report lists the refused ones with the reason.
                        upload = gr.File(label=f"Add articles ({' '.join(ALLOWED_SUFFIXES)}; up to "
                                               f"{settings.max_upload_mb:g} MB each)",
                                         file_count="multiple", elem_id="upload")
                        upload_report = gr.HTML(elem_id="upload-report")
                        urls = gr.Textbox(label="Add from URL: news pages or feeds, one address per line",
                                          placeholder="https://…", lines=3, max_lines=12, elem_id="add-urls")
                        add = gr.Button("Fetch and index", elem_id="add-url")
                        add_report = gr.HTML(elem_id="add-report")
                    with gr.Column():
                        reindex = gr.Button("Re-index the corpus folder", variant="primary", elem_id="reindex")
                        index_report = gr.HTML(elem_id="index-report")
                gr.HTML("<h3 style='margin:16px 0 4px 0'>Indexed articles</h3>")
                articles_query = gr.Textbox(placeholder="Search titles, outlets, authors, dates, file names…",
                                            show_label=False, max_lines=1, elem_id="articles-query")
                articles_summary = gr.HTML(elem_id="articles-summary")
                articles_table = gr.Dataframe(headers=render.ARTICLE_COLUMNS, interactive=False, wrap=True,
                                              max_height=420, elem_id="articles")
                article_view = gr.HTML(elem_id="article-view")

        pending = gr.State("")
        filter_inputs = [since, until, outlets, as_of]
        answer_outputs = [chatbot, turns, sources, markdown, download, clear]
        answer_opts: dict[str, Any] = dict(concurrency_limit=limit, concurrency_id=ANSWER_GROUP,
                                           show_progress_on=[chatbot], api_visibility="private")
        private: dict[str, Any] = dict(api_visibility="private")

        def wire(posted: Any) -> None:
            """After a question is posted: answer it in turn, or take it back if the queue refused it."""
            answering = posted.then(page.respond, [pending, turns, *filter_inputs], answer_outputs, **answer_opts)
            answering.failure(page.not_queued, [turns, pending], [chatbot, question], queue=False, **private)

        wire(gr.on([question.submit, send.click], page.submit, [question, turns, *filter_inputs],
                   [question, chatbot, pending], queue=False, **private))
        for button, text in zip(example_buttons, EXAMPLES):
            wire(button.click(lambda turns, *filters, text=text: page.submit(text, turns, *filters),
                              [turns, *filter_inputs], [question, chatbot, pending], queue=False, **private))
        for trigger in (clear.click, chatbot.clear):
            trigger(page.clear, None, [chatbot, turns, sources, markdown, download], queue=False, **private)

        def refresh_corpus(query: str) -> tuple[Any, ...]:
            return (*page.articles_view(query), page.outlet_choices())

        corpus_outputs = [articles_summary, articles_table, outlets]
        upload.upload(page.upload, upload, upload_report, **private)
        reindex.click(page.reindex, None, [index_report, stats, header], concurrency_limit=1,
                      concurrency_id="index", show_progress_on=[index_report], **private
                      ).then(refresh_corpus, articles_query, corpus_outputs, **private)
        add.click(page.add_urls, urls, [add_report, stats, header], concurrency_limit=1, concurrency_id="index",
                  show_progress_on=[add_report], **private).then(refresh_corpus, articles_query, corpus_outputs,
                                                                 **private)
        articles_query.change(page.articles_view, articles_query, [articles_summary, articles_table], **private)
        articles_table.select(page.open_article, None, article_view, **private)
        demo.load(lambda query: (page.header(), page.stats(), *refresh_corpus(query)), articles_query,
                  [header, stats, *corpus_outputs], queue=False, **private)
        # Two endpoints rather than optional arguments: a raw HTTP call must send every input, and `/ask`
        # has always taken the question alone.
        gr.api(page.ask, api_name="ask", concurrency_limit=limit, concurrency_id=ANSWER_GROUP)
        gr.api(page.ask_filtered, api_name="ask_filtered", concurrency_limit=limit, concurrency_id=ANSWER_GROUP)

    close = demo.close

    def close_and_clean(*args: Any, **kwargs: Any) -> None:
        try:
            close(*args, **kwargs)
        finally:
            page.close()

    demo.close = close_and_clean  # type: ignore[method-assign] - the exports go with the server
    demo.page = page  # type: ignore[attr-defined] - tests and `serve` reach the handlers through the app
    return demo


def _auth(settings: Settings) -> Any:
    """Gradio's `auth`: None (no login), or the throttled check of the one configured account."""
    user = settings.auth_user
    password = settings.auth_password.get_secret_value() if settings.auth_password else None
    if bool(user) != bool(password):
        raise RagError("Login needs both RAG_AUTH_USER and RAG_AUTH_PASSWORD (or neither, for no login).")
    if not (user and password):
        return None
    return LoginThrottle(user, password, base=settings.tuning.login_delay, cap=settings.tuning.login_delay_max).check


def launch(demo: gr.Blocks, settings: Settings, host: str | None = None, port: int | None = None, *,
           block: bool = True, quiet: bool = False) -> str:
    """Queue and start the page; returns its local URL (after the server stops, if `block`)."""
    demo.queue(max_size=settings.max_queue, default_concurrency_limit=1)
    _, url, _ = demo.launch(
        server_name=host or settings.host, server_port=port or settings.port, share=False,
        auth=_auth(settings), auth_message="Log in to ask the news articles.",
        max_file_size=int(settings.max_upload_mb * MB), prevent_thread_lock=not block, quiet=quiet,
        footer_links=["api", "settings"], run_history=False, enable_monitoring=False, mcp_server=False,
        ssr_mode=False, theme=theme(), css=CSS, head=HEAD)
    return url


def serve(settings: Settings | None = None, host: str | None = None, port: int | None = None) -> None:
    """`rag serve`: open the page, loading the model in the background so the page comes up at once."""
    settings = settings or Settings()
    assistant = Assistant(settings)
    demo = build_app(assistant, settings)

    def warm_up() -> None:
        try:
            assistant.warm_up()
        except RagError as err:  # the page shows the same error when a question is asked
            log.warning("could not load the model yet: %s", err)

    threading.Thread(target=warm_up, name="rag-warm-up", daemon=True).start()
    url = launch(demo, settings, host, port, block=False, quiet=True)  # quiet: no "set share=True" hint
    login = " (login required)" if settings.auth_user else ""
    from rag.llm.llamacpp_load import output_visible

    with output_visible():  # the warm-up may be loading the model, which hides stdout meanwhile
        print(f"Chat page on {url}{login}. API: /ask. Ctrl+C to stop.", flush=True)
    demo.block_thread()
