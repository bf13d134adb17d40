"""HTML and Markdown for the chat page: answers, source cards, reports, the conversation export.

Everything that comes from an article, a file name, the model or the user goes through `html.escape`
here, before it reaches the page. Article text is untrusted: a passage holding `<script>` or
`<img onerror=...>` must show up as those characters, and we do not count on the browser's (or
Gradio's) sanitiser to make it so. Only markup written in this module is ever emitted unescaped.

Pure functions of `rag` values: no gradio import, no retrieval, no answering.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from typing import Any

from rag.answering import Answer, Citation, Timings
from rag.index import IndexReport

from .uploads import UploadResult

__all__ = [
    "Turn",
    "esc",
    "user_html",
    "pending_html",
    "answer_html",
    "error_html",
    "sources_panel_html",
    "source_card_html",
    "answer_as_text",
    "conversation_markdown",
    "timings_text",
    "stats_html",
    "index_report_html",
    "message_html",
    "upload_report_html",
    "NO_SOURCES_REFUSED",
    "NO_SOURCES_UNSUPPORTED",
]

NO_SOURCES_REFUSED = "No sources: the indexed articles do not answer this question."
NO_SOURCES_UNSUPPORTED = "No sources: no passage clearly supports this answer, so treat it with care."

_CITE = re.compile(r"\[(\d+)\]")


@dataclass
class Turn:
    """One question of a conversation and what came back: an answer, or the error that stopped it."""

    question: str
    answer: Answer | None = None
    # citation number -> (text before, the passage, text after), from `Assistant.context`
    contexts: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    error: str = ""


def esc(text: Any) -> str:
    """Escape for HTML text and attribute values (quotes included)."""
    return html.escape(str(text), quote=True)


def _paragraphs(text: str) -> str:
    return "<br>".join(esc(line) for line in text.strip().splitlines())


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def timings_text(timings: Timings, model: str) -> str:
    """`retrieval 120 ms · first token 2.3 s · total 6.1 s · model`."""
    return (f"retrieval {_ms(timings.retrieval_ms)} · first token {_ms(timings.first_token_ms)} · "
            f"total {_ms(timings.total_ms)} · {model}")


def _anchor(t: int, n: int) -> str:
    return f"src-{t}-{n}"


def _link_citations(escaped: str, t: int, cited: set[int]) -> str:
    """Turn `[n]` (already escaped text) into a link to source card n of turn t."""

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in cited:
            return match.group(0)
        return f'<a class="cite" href="#{_anchor(t, n)}" title="Show source {n}">[{n}]</a>'

    return _CITE.sub(link, escaped)


# ---------------------------------------------------------------------------- chat messages
def user_html(question: str) -> str:
    return f'<div class="user-text">{_paragraphs(question)}</div>'


def pending_html(streamed: str, status: str) -> str:
    """The answer while it is being written: the text so far and what is happening."""
    body = f'<div class="answer-text streaming">{_paragraphs(streamed)}<span class="caret"></span></div>' \
        if streamed else ""
    note = f'<div class="answer-status">{esc(status)}</div>' if status else ""
    return f'<div class="answer">{body}{note}</div>'


def error_html(message: str) -> str:
    return f'<div class="answer"><div class="answer-error">⚠ {esc(message)}</div></div>'


def answer_html(turn: Turn, t: int) -> str:
    """A finished answer: searched-for line, text with linked citations, source list, timings."""
    answer = turn.answer
    if answer is None:
        return error_html(turn.error)
    parts = ['<div class="answer">']
    if answer.rewritten_question and answer.rewritten_question.strip() != answer.question.strip():
        parts.append(f'<div class="searched">Searched for: <q>{esc(answer.rewritten_question)}</q></div>')
    cited = {c.n for c in answer.citations}
    text_class = "answer-text refusal" if answer.refused else "answer-text"
    parts.append(f'<div class="{text_class}">{_link_citations(_paragraphs(answer.text), t, cited)}</div>')
    if answer.refused:
        parts.append(f'<div class="no-sources">{esc(NO_SOURCES_REFUSED)}</div>')
    elif not answer.citations:
        parts.append(f'<div class="no-sources">{esc(NO_SOURCES_UNSUPPORTED)}</div>')
    else:
        entries = " ".join(
            f'<a class="source-entry" href="#{_anchor(t, c.n)}" title="Show source {c.n}">'
            f'<b>[{c.n}]</b> {esc(c.title or c.doc_id)}</a>' for c in answer.citations)
        parts.append(f'<div class="answer-sources">Sources: {entries}</div>')
    parts.append(f'<div class="answer-meta">{esc(timings_text(answer.timings, answer.model))}</div>')
    parts.append("</div>")
    return "".join(parts)


# ---------------------------------------------------------------------------- the sources panel
def _trim_before(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    space = cut.find(" ")
    return "…" + (cut[space + 1:] if 0 <= space < 40 else cut)


def _trim_after(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit - 40 else cut) + "…"


def source_card_html(citation: Citation, context: tuple[str, str, str] | None, t: int,
                     context_chars: int = 300) -> str:
    """One source: number, title, source, score, and the passage highlighted inside its surroundings."""
    before, passage, after = context or ("", citation.text, "")
    meta = [esc(citation.source or citation.doc_id), f"characters {citation.start}–{citation.end}",
            f"score {citation.score:.4f}", f"similarity {citation.similarity:.2f}"]
    return (
        f'<article class="source-card" id="{_anchor(t, citation.n)}">'
        f'<header class="card-head"><span class="card-n">[{citation.n}]</span>'
        f'<span class="card-title">{esc(citation.title or citation.doc_id)}</span></header>'
        f'<div class="card-meta">{" · ".join(meta)}</div>'
        f'<blockquote class="card-context">'
        f'<span class="context">{esc(_trim_before(before, context_chars))}</span>'
        f'<mark class="cited">{esc(passage)}</mark>'
        f'<span class="context">{esc(_trim_after(after, context_chars))}</span>'
        f"</blockquote></article>")


def sources_panel_html(turns: list[Turn]) -> str:
    """Source cards of every answer, the latest one shown; the page script switches between them."""
    answered = [(t, turn) for t, turn in enumerate(turns) if turn.answer is not None]
    if not answered:
        return ('<div class="sources-panel"><div class="sources-empty">The sources of each answer appear here: '
                "the cited passage, highlighted inside its article. Click a <b>[n]</b> in an answer to bring "
                "its passage into view.</div></div>")
    latest = answered[-1][0]
    groups = []
    for t, turn in answered:
        answer = turn.answer
        assert answer is not None
        active = " active" if t == latest else ""
        head = f'<div class="turn-head">Sources for <q>{esc(answer.question)}</q></div>'
        if answer.refused:
            body = f'<div class="no-sources">{esc(NO_SOURCES_REFUSED)}</div>'
        elif not answer.citations:
            body = f'<div class="no-sources">{esc(NO_SOURCES_UNSUPPORTED)}</div>'
        else:
            body = "".join(source_card_html(c, turn.contexts.get(c.n), t) for c in answer.citations)
        groups.append(f'<section class="turn-sources{active}" id="sources-t{t}">{head}{body}</section>')
    return f'<div class="sources-panel">{"".join(groups)}</div>'


# ---------------------------------------------------------------------------- plain text and Markdown
def answer_as_text(answer: Answer) -> str:
    """What the `/ask` API returns: the answer, then its sources."""
    lines = [answer.text, ""]
    if answer.refused:
        lines.append(NO_SOURCES_REFUSED)
    elif not answer.citations:
        lines.append(NO_SOURCES_UNSUPPORTED)
    else:
        lines.append("Sources:")
        for c in answer.citations:
            lines.append(f"[{c.n}] {c.title or c.doc_id} — {c.source or c.doc_id} (score {c.score:.4f})")
            lines.append(f"    {' '.join(c.text.split())}")
    return "\n".join(lines)


def _md_text(text: str) -> str:
    # Markdown renderers pass raw HTML through, so untrusted text is escaped in the export too.
    return html.escape(" ".join(text.split()), quote=False)


def conversation_markdown(turns: list[Turn], now: float | None = None) -> str:
    """The whole conversation with its sources, as a Markdown document."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now if now is not None else time.time()))
    out = ["# Conversation with the news assistant", "", f"_Exported {stamp}_", ""]
    for i, turn in enumerate(turns, start=1):
        out += [f"## {i}. {_md_text(turn.question)}", ""]
        answer = turn.answer
        if answer is None:
            out += [f"**Error:** {_md_text(turn.error)}", ""]
            continue
        if answer.rewritten_question and answer.rewritten_question.strip() != answer.question.strip():
            out += [f"_Searched for: {_md_text(answer.rewritten_question)}_", ""]
        out += [_md_text(answer.text), ""]
        if answer.refused:
            out += [f"_{NO_SOURCES_REFUSED}_", ""]
        elif not answer.citations:
            out += [f"_{NO_SOURCES_UNSUPPORTED}_", ""]
        else:
            out += ["**Sources**", ""]
            for c in answer.citations:
                out.append(f"- **[{c.n}] {_md_text(c.title or c.doc_id)}** — {_md_text(c.source or c.doc_id)}, "
                           f"characters {c.start}–{c.end}, score {c.score:.4f}")
                out.append(f"  > {_md_text(c.text)}")
            out.append("")
        out += [f"_{_md_text(timings_text(answer.timings, answer.model))}_", ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------- the corpus tab
def stats_html(stats: dict[str, Any] | None, corpus_dir: str, problem: str = "") -> str:
    """What is indexed: documents, passages, when, where."""
    if stats is None:
        return (f'<div class="stats empty">Nothing is indexed yet. {esc(problem)} Add articles to '
                f"<code>{esc(corpus_dir)}</code> (or upload them below) and click <b>Re-index</b>.</div>")
    cells = [("Documents", stats.get("documents", 0)), ("Passages", stats.get("chunks", 0)),
             ("Last indexed", stats.get("last_indexed") or "–")]
    tiles = "".join(f'<div class="stat"><div class="stat-value">{esc(v)}</div><div class="stat-label">{esc(k)}</div></div>'
                    for k, v in cells)
    details = (f'<div class="stats-details">Corpus folder <code>{esc(corpus_dir)}</code> · index '
               f'<code>{esc(stats.get("location", ""))}</code></div>')
    return f'<div class="stats"><div class="stat-row">{tiles}</div>{details}</div>'


_STATUS_ORDER = {"failed": 0, "added": 1, "updated": 2, "deleted": 3, "skipped": 4}


def index_report_html(report: IndexReport) -> str:
    """A per-file table of what the re-index did, problems first."""
    rows = sorted(report.files, key=lambda f: (_STATUS_ORDER.get(f.status, 9), f.path))
    body = "".join(
        f'<tr class="status-{esc(f.status)}"><td>{esc(f.path)}</td><td><span class="badge">{esc(f.status)}</span></td>'
        f'<td class="num">{f.chunks or ""}</td><td>{esc(f.reason)}</td></tr>' for f in rows)
    return (f'<div class="report"><div class="report-summary">{esc(report.summary())}</div>'
            f'<table class="report-table"><thead><tr><th>File</th><th>Status</th><th class="num">Passages</th>'
            f"<th>Why</th></tr></thead><tbody>{body}</tbody></table></div>")


def upload_report_html(results: list[UploadResult], corpus_dir: str) -> str:
    """What became of each uploaded file: saved (under which name), replaced, or refused and why."""
    rows = "".join(
        f'<tr class="status-{esc(r.status)}"><td>{esc(r.name)}</td><td><span class="badge">{esc(r.status)}</span></td>'
        f"<td>{esc(r.saved_as)}</td><td>{esc(r.reason)}</td></tr>" for r in results)
    saved = sum(r.status != "refused" for r in results)
    note = (message_html(f"{saved} file{'s' if saved != 1 else ''} copied into {corpus_dir}. Click Re-index to make "
                         f"{'them' if saved != 1 else 'it'} searchable.", "ok") if saved
            else message_html("No file was added.", "error"))
    return (f'{note}<table class="report-table"><thead><tr><th>Uploaded</th><th>Status</th><th>Saved as</th>'
            f"<th>Why</th></tr></thead><tbody>{rows}</tbody></table>")


def message_html(text: str, kind: str = "info") -> str:
    """A one-line notice in the corpus tab (`info`, `ok` or `error`)."""
    return f'<div class="notice notice-{esc(kind)}">{esc(text)}</div>'
