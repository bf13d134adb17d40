"""The chat page: a Gradio Blocks app over one shared `rag.Assistant`.

What lives here: the layout, the event wiring, the queue, and turning the assistant's events into
page updates. What does not: retrieval, prompting, citation checking, indexing (all `rag`), and
HTML building (`ui.render`, which escapes everything untrusted).

Concurrency: every answer (chat or the `/ask` API) goes through one Gradio queue group, so with
the local model one answer is generated at a time and the others wait their turn in order, each
page showing its position. Beyond `settings.max_queue` waiting answers a request is refused at once
(Gradio's "This application is currently busy. Please try again."). A conversation lives in that browser session's `gr.State`; the
Assistant is the only thing sessions share.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import logging
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.answering import Message, validate_question
from rag.assistant import Assistant
from rag.errors import QuestionError, RagError
from rag.settings import Settings

from . import render
from .assets import CSS, HEAD, theme
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
        self.export_dir = Path(tempfile.mkdtemp(prefix="rag-ui-export-"))

    # ------------------------------------------------------------------ chat
    def submit(self, question: str, turns: list[render.Turn]) -> tuple[Any, Any, str]:
        """Post the question at once (not queued); `respond` answers it when its turn comes.

        Outputs: question box, chat, the pending question (empty if it was refused).
        """
        try:
            question = validate_question(question, self.settings.max_question_chars)
        except QuestionError as err:
            # Said in the chat rather than a toast (Gradio does not deliver toasts from unqueued events);
            # the question stays in the box to be fixed, and it is not part of the conversation.
            return gr.skip(), _messages(turns or []) + [{"role": "assistant", "content": render.error_html(str(err))}], ""
        messages = _messages(turns or []) + [{"role": "user", "content": render.user_html(question)},
                                             {"role": "assistant", "content": render.pending_html("", WAITING)}]
        return "", messages, question

    def respond(self, pending: str, turns: list[render.Turn]) -> Iterator[tuple[Any, ...]]:
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
            for event in self.assistant.stream(pending, _history(turns)):
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
        except RagError as err:
            turn = render.Turn(pending, error=str(err))
        turns.append(turn)
        yield (_messages(turns), turns, render.sources_panel_html(turns), *self._export(turns),
               gr.Button(interactive=True))

    def not_queued(self, turns: list[render.Turn], pending: str) -> tuple[list[dict[str, str]], str]:
        """The queue refused the question (Gradio says the app is busy): take it back off the chat and put
        it in the question box again, ready to resend."""
        return _messages(turns or []), pending

    def _export(self, turns: list[render.Turn]) -> tuple[str, Any]:
        text = render.conversation_markdown(turns)
        path = self.export_dir / f"conversation-{uuid.uuid4().hex[:10]}.md"
        path.write_text(text, encoding="utf-8")
        return text, gr.DownloadButton(value=str(path), interactive=True)

    def clear(self) -> tuple[Any, ...]:
        return ([], [], render.sources_panel_html([]), "", gr.DownloadButton(value=None, interactive=False))

    # ------------------------------------------------------------------ the API
    def ask(self, question: str) -> str:
        """Answer one question from the indexed articles; returns the answer text followed by its sources."""
        try:
            return render.answer_as_text(self.assistant.ask(question))
        except RagError as err:
            raise gr.Error(str(err)) from err

    # ------------------------------------------------------------------ corpus
    def header(self) -> str:
        try:
            stats = self.assistant.stats()
            docs, chunks = stats["documents"], stats["chunks"]
            indexed = (f"{docs} article{'s' if docs != 1 else ''} · "
                       f"{chunks} passage{'s' if chunks != 1 else ''} indexed")
        except RagError:
            indexed = "nothing indexed yet"
        return (f'<h1>Ask the news</h1><div class="subtitle">Answers come only from the indexed articles, and '
                f"every claim cites its passage. {render.esc(indexed)} · {render.esc(self.assistant.model_name)}</div>")

    def stats(self) -> str:
        try:
            return render.stats_html(self.assistant.stats(), str(self.settings.corpus_dir))
        except RagError as err:
            return render.stats_html(None, str(self.settings.corpus_dir), str(err))

    def upload(self, files: list[Any] | None) -> str:
        if not files:
            return ""
        pairs = []
        for f in files:
            path = Path(f if isinstance(f, str) else f.name)
            pairs.append((getattr(f, "orig_name", None) or path.name, path))
        results = save_uploads(pairs, self.settings.corpus_dir, self.settings.max_upload_mb)
        return render.upload_report_html(results, str(self.settings.corpus_dir))

    def reindex(self, progress: gr.Progress = gr.Progress()) -> tuple[str, str, str]:  # noqa: B008 - Gradio's idiom
        progress(0, desc="Reading the corpus folder…")

        def update(done: int, total: int, what: str) -> None:
            progress((done, total), desc=what, unit="passages")

        try:
            report = self.assistant.index(self.settings.corpus_dir, progress=update)
            result = render.index_report_html(report)
        except RagError as err:
            result = render.message_html(str(err), "error")
        return result, self.stats(), self.header()


def build_app(assistant: Assistant, settings: Settings | None = None) -> gr.Blocks:
    """The page (not yet launched). `launch` starts it with the queue, login and styling."""
    settings = settings or assistant.settings
    page = ChatPage(assistant, settings)
    limit = _concurrency(settings)

    with gr.Blocks(title="Ask the news") as demo:
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
                        upload = gr.File(label=f"Add articles ({' '.join(ALLOWED_SUFFIXES)}; up to "
                                               f"{settings.max_upload_mb:g} MB each)",
                                         file_count="multiple", file_types=list(ALLOWED_SUFFIXES), elem_id="upload")
                        upload_report = gr.HTML(elem_id="upload-report")
                    with gr.Column():
                        reindex = gr.Button("Re-index the corpus folder", variant="primary", elem_id="reindex")
                        index_report = gr.HTML(elem_id="index-report")

        pending = gr.State("")
        answer_outputs = [chatbot, turns, sources, markdown, download, clear]
        answer_opts: dict[str, Any] = dict(concurrency_limit=limit, concurrency_id=ANSWER_GROUP,
                                           show_progress_on=[chatbot], api_visibility="private")

        def wire(posted: Any) -> None:
            """After a question is posted: answer it in turn, or take it back if the queue refused it."""
            answering = posted.then(page.respond, [pending, turns], answer_outputs, **answer_opts)
            answering.failure(page.not_queued, [turns, pending], [chatbot, question], queue=False,
                              api_visibility="private")

        wire(gr.on([question.submit, send.click], page.submit, [question, turns], [question, chatbot, pending],
                   queue=False, api_visibility="private"))
        for button, text in zip(example_buttons, EXAMPLES):
            wire(button.click(lambda turns, text=text: page.submit(text, turns), turns,
                              [question, chatbot, pending], queue=False, api_visibility="private"))
        for trigger in (clear.click, chatbot.clear):
            trigger(page.clear, None, [chatbot, turns, sources, markdown, download], queue=False,
                    api_visibility="private")
        upload.upload(page.upload, upload, upload_report, api_visibility="private")
        reindex.click(page.reindex, None, [index_report, stats, header], concurrency_limit=1,
                      concurrency_id="index", show_progress_on=[index_report], api_visibility="private")
        demo.load(lambda: (page.header(), page.stats()), None, [header, stats], queue=False, api_visibility="private")
        gr.api(page.ask, api_name="ask", concurrency_limit=limit, concurrency_id=ANSWER_GROUP)
    return demo


def _auth(settings: Settings) -> tuple[str, str] | None:
    user = settings.auth_user
    password = settings.auth_password.get_secret_value() if settings.auth_password else None
    if bool(user) != bool(password):
        raise RagError("Login needs both RAG_AUTH_USER and RAG_AUTH_PASSWORD (or neither, for no login).")
    return (user, password) if user and password else None


def launch(demo: gr.Blocks, settings: Settings, host: str | None = None, port: int | None = None, *,
           block: bool = True, quiet: bool = False) -> str:
    """Queue and start the page; returns its local URL (after the server stops, if `block`)."""
    demo.queue(max_size=settings.max_queue, default_concurrency_limit=1)
    _, url, _ = demo.launch(
        server_name=host or settings.host, server_port=port or settings.port, share=False,
        auth=_auth(settings), auth_message="Log in to ask the news articles.",
        max_file_size=int(settings.max_upload_mb * 1_000_000), prevent_thread_lock=not block, quiet=quiet,
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
    print(f"Chat page on {url}{login}. API: /ask. Ctrl+C to stop.", flush=True)
    demo.block_thread()
