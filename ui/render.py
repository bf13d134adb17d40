"""HTML and Markdown for the chat page: answers, source cards, reports, the conversation export.

Everything that comes from an article, a file name, the model or the user goes through `html.escape`
here, before it reaches the page. Article text is untrusted: a passage holding `<script>` or
`<img onerror=...>` must show up as those characters, and we do not count on the browser's (or
Gradio's) sanitiser to make it so. Only markup written in this module is ever emitted unescaped.

Pure functions of `rag` values: no gradio import, no retrieval, no answering.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.answer.chain import Answer, Citation, Timings
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
    "add_report_html",
    "article_rows",
    "articles_summary",
    "ARTICLE_COLUMNS",
    "article_html",
    "closest_html",
    "byline_text",
    "filters_text",
    "human_date",
    "NO_SOURCES_REFUSED",
    "NO_SOURCES_UNSUPPORTED",
    "CLOSEST_HEADING",
]

NO_SOURCES_REFUSED = "No sources: the indexed articles do not answer this question."
NO_SOURCES_UNSUPPORTED = "No sources: no passage clearly supports this answer, so treat it with care."
CLOSEST_HEADING = "Closest passages (not cited)"
CLOSEST_NOTE = "These came nearest to the question but do not answer it; they are not sources of an answer."

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


# ---------------------------------------------------------------------------- news metadata
def human_date(date: str) -> str:
    """'2025-03-18' -> '18 March 2025'; anything else is returned as it is ('' stays '')."""
    try:
        day = dt.date.fromisoformat(date[:10])
    except (TypeError, ValueError):
        return date or ""
    return f"{day.day} {day.strftime('%B')} {day.year}"


def _safe_url(url: str) -> str:
    """The URL if it is an http(s) address, else '' (a `javascript:` URL from a file must not become a link)."""
    url = (url or "").strip()
    return url if re.match(r"https?://[^\s\"'<>]+$", url, re.IGNORECASE) else ""


def _names(names: Iterable[str]) -> list[str]:
    return [n.strip() for n in names or () if isinstance(n, str) and n.strip()]


def byline_text(item: Any) -> str:
    """'USA TODAY · 18 March 2025 · by Jane Doe' for a citation or an article dict (unknowns said as such)."""
    get = item.get if isinstance(item, dict) else (lambda key, default="": getattr(item, key, default))
    outlet, date = str(get("outlet", "") or ""), str(get("date", "") or "")
    authors = get("authors", []) or []
    authors = [authors] if isinstance(authors, str) else _names(authors)
    parts = [outlet or "unknown outlet", human_date(date) if date else "undated"]
    if authors:
        parts.append("by " + ", ".join(authors))
    return " · ".join(parts)


def _byline_html(item: Any) -> str:
    get = item.get if isinstance(item, dict) else (lambda key, default="": getattr(item, key, default))
    url = _safe_url(str(get("url", "") or ""))
    link = (f' · <a class="card-link" href="{esc(url)}" target="_blank" rel="noopener noreferrer nofollow" '
            f'title="{esc(url)}">open the article ↗</a>' if url else "")
    return f'<div class="card-byline">{esc(byline_text(item))}{link}</div>'


def _also_reported(citation: Any) -> list[str]:
    return _names(getattr(citation, "also_reported_by", []) or [])


def filters_text(answer: Answer) -> str:
    """'Searched articles from 10-16 March 2025' when the search was restricted (or preferred recent ones)."""
    filters = getattr(answer, "filters", None) or {}
    if not isinstance(filters, dict):
        return ""
    description = str(filters.get("description") or "").strip()
    if not description:
        try:  # an older core without the description key: describe it the core's way
            from rag.filters import SearchFilters

            description = SearchFilters(since=filters.get("since"), until=filters.get("until"),
                                        outlets=tuple(filters.get("outlets") or ()),
                                        prefer_recent=bool(filters.get("prefer_recent"))).describe()
        except Exception:  # noqa: BLE001 - a description is a courtesy; never break the answer for it
            description = ""
    if not description:
        return ""
    return description if description.lower().startswith("searched") else f"Searched {description}"


def _entry_note(citation: Citation) -> str:
    """' · USA TODAY, 18 March 2025' after a source's title in the answer (only what is known)."""
    known = [x for x in (getattr(citation, "outlet", ""), human_date(getattr(citation, "date", ""))) if x]
    return f'<span class="entry-note"> · {esc(", ".join(known))}</span>' if known else ""


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
    searched = filters_text(answer)
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
            f'<b>[{c.n}]</b> {esc(c.title or c.doc_id)}{_entry_note(c)}</a>' for c in answer.citations)
        parts.append(f'<div class="answer-sources">Sources: {entries}</div>')
    if searched:
        parts.append(f'<div class="searched-filters">{esc(searched)}</div>')
    if answer.refused and answer.passages:
        parts.append(f'<div class="closest-pointer">{esc(CLOSEST_HEADING)}: see the Sources panel.</div>')
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


def _spans_in_passage(citation: Citation) -> list[tuple[int, int]]:
    """The citation's supporting sentence spans, as offsets inside its passage, sorted and merged.

    Spans are in article coordinates; the parts outside the passage are dropped, and spans separated
    by nothing but whitespace become one highlight.
    """
    start, end = citation.start, citation.start + len(citation.text)
    spans: list[tuple[int, int]] = []
    for span in getattr(citation, "spans", None) or []:
        try:
            s, e = int(span[0]), int(span[1])
        except (TypeError, ValueError, IndexError):
            continue
        s, e = max(s, start) - start, min(e, end) - start
        if s < e:
            spans.append((s, e))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and not citation.text[merged[-1][1]:s].strip():
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _passage_html(citation: Citation, passage: str) -> str:
    """The passage: its supporting sentences highlighted when the core named them, else all of it."""
    spans = _spans_in_passage(citation) if passage == citation.text else []
    if not spans:
        return f'<mark class="cited">{esc(passage)}</mark>'
    out, at = [], 0
    for s, e in spans:
        if s > at:
            out.append(f'<span class="passage">{esc(passage[at:s])}</span>')
        out.append(f'<mark class="cited">{esc(passage[s:e])}</mark>')
        at = e
    if at < len(passage):
        out.append(f'<span class="passage">{esc(passage[at:])}</span>')
    return "".join(out)


def source_card_html(citation: Citation, context: tuple[str, str, str] | None, t: int,
                     context_chars: int = 300) -> str:
    """One source: number, title, outlet, date, authors, link, other outlets, and the passage in its article."""
    before, passage, after = context or ("", citation.text, "")
    meta = [esc(citation.source or citation.doc_id), f"characters {citation.start}–{citation.end}",
            f"score {citation.score:.4f}", f"similarity {citation.similarity:.2f}"]
    also = _also_reported(citation)
    also_html = f'<div class="card-also">Also reported by {esc(", ".join(also))}</div>' if also else ""
    return (
        f'<article class="source-card" id="{_anchor(t, citation.n)}">'
        f'<header class="card-head"><span class="card-n">[{citation.n}]</span>'
        f'<span class="card-title">{esc(citation.title or citation.doc_id)}</span></header>'
        f"{_byline_html(citation)}{also_html}"
        f'<div class="card-meta">{" · ".join(meta)}</div>'
        f'<blockquote class="card-context">'
        f'<span class="context">{esc(_trim_before(before, context_chars))}</span>'
        f"{_passage_html(citation, passage)}"
        f'<span class="context">{esc(_trim_after(after, context_chars))}</span>'
        f"</blockquote></article>")


def closest_html(passages: Sequence[Citation], chars: int = 400) -> str:
    """A refusal's nearest passages: under their own heading, unnumbered, styled apart from citations."""
    if not passages:
        return ""
    cards = "".join(
        f'<article class="near-card"><div class="near-title">{esc(p.title or p.doc_id)}</div>'
        f"{_byline_html(p)}"
        f'<blockquote class="near-text">{esc(_trim_after(p.text, chars))}</blockquote></article>' for p in passages)
    return (f'<section class="closest"><div class="closest-head">{esc(CLOSEST_HEADING)}</div>'
            f'<div class="closest-note">{esc(CLOSEST_NOTE)}</div>{cards}</section>')


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
            body = f'<div class="no-sources">{esc(NO_SOURCES_REFUSED)}</div>{closest_html(answer.passages)}'
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
    searched = filters_text(answer)
    if searched:
        lines += [searched, ""]
    if answer.refused:
        lines.append(NO_SOURCES_REFUSED)
        if answer.passages:
            lines += ["", f"{CLOSEST_HEADING}:"]
            for p in answer.passages:
                lines.append(f"- {p.title or p.doc_id} — {byline_text(p)}")
                lines.append(f"    {' '.join(p.text.split())}")
    elif not answer.citations:
        lines.append(NO_SOURCES_UNSUPPORTED)
    else:
        lines.append("Sources:")
        for c in answer.citations:
            lines.append(f"[{c.n}] {c.title or c.doc_id} — {_text_origin(c)} (score {c.score:.4f})")
            also = _also_reported(c)
            if also:
                lines.append(f"    Also reported by {', '.join(also)}")
            lines.append(f"    {' '.join(c.text.split())}")
    return "\n".join(lines)


def _text_origin(citation: Citation, with_url: bool = True) -> str:
    """'USA TODAY, 18 March 2025, by Jane Doe — news/a.html (https://...)': what is known, then the file."""
    authors = _names(getattr(citation, "authors", []) or [])
    known = [x for x in (getattr(citation, "outlet", ""), human_date(getattr(citation, "date", "")),
                         "by " + ", ".join(authors) if authors else "") if x]
    where = citation.source or citation.doc_id
    url = _safe_url(getattr(citation, "url", "")) if with_url else ""
    where = f"{where} ({url})" if url else where
    return f"{', '.join(known)} — {where}" if known else where


# Markdown's inline syntax: links and images ([ ] !), emphasis, code, tables, strikethrough, escapes.
_MD_INLINE = re.compile(r"([\\`*_\[\]!|~])")
# What GFM turns into a link by itself: "scheme://", "www.", an e-mail's "@" (escaped, they are text).
_MD_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9]):(?=//)|(?<=www)\.|@", re.IGNORECASE)
# A citation marker "[1]" stays as written: with every other bracket escaped there is no link definition
# for it to name, and not before "(" or ":" it cannot start a link of its own.
_MD_CITATION = re.compile(r"\\\[(\d{1,3})\\\](?![(:])")
# Syntax that counts only at the start of a line: a heading, quote, list item or rule.
_MD_LINE_START = re.compile(r"^([#>+\-=])|^(\d+)([.)])")


def _md_text(text: str) -> str:
    """Article-derived text as Markdown text: never a link, image, tag or heading in a Markdown viewer.

    The page escapes HTML; the export must also escape Markdown, or an article's `![x](http://...)`
    would load an address when the file is opened (a channel out). Each escape is a backslash before
    ASCII punctuation, which CommonMark shows as the character itself.
    """
    # Markdown renderers pass raw HTML through, so untrusted text is escaped as HTML too.
    escaped = html.escape(" ".join(text.split()), quote=False)
    escaped = _MD_INLINE.sub(r"\\\1", escaped)
    escaped = _MD_AUTOLINK.sub(lambda m: "\\" + m.group(0), escaped)
    escaped = _MD_CITATION.sub(r"[\1]", escaped)
    return _MD_LINE_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", escaped)


def _md_url(citation: Citation) -> str:
    """The article's own address as the one link the export makes (as the page does): ' (<https://...>)'."""
    url = _safe_url(getattr(citation, "url", ""))
    return f" (<{url}>)" if url else ""


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
        searched = filters_text(answer)
        if searched:
            out += [f"_{_md_text(searched)}_", ""]
        if answer.refused:
            out += [f"_{NO_SOURCES_REFUSED}_", ""]
            if answer.passages:
                out += [f"**{CLOSEST_HEADING}**", ""]
                for p in answer.passages:
                    out.append(f"- {_md_text(p.title or p.doc_id)} — {_md_text(byline_text(p))}")
                    out.append(f"  > {_md_text(p.text)}")
                out.append("")
        elif not answer.citations:
            out += [f"_{NO_SOURCES_UNSUPPORTED}_", ""]
        else:
            out += ["**Sources**", ""]
            for c in answer.citations:
                out.append(f"- **[{c.n}] {_md_text(c.title or c.doc_id)}** — "
                           f"{_md_text(_text_origin(c, with_url=False))}{_md_url(c)}, "
                           f"characters {c.start}–{c.end}, score {c.score:.4f}")
                also = _also_reported(c)
                if also:
                    out.append(f"  _Also reported by {_md_text(', '.join(also))}_")
                out.append(f"  > {_md_text(c.text)}")
            out.append("")
        out += [f"_{_md_text(timings_text(answer.timings, answer.model))}_", ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------- the corpus tab
def stats_html(stats: dict[str, Any] | None, corpus_dir: str, problem: str = "") -> str:
    """What is indexed: documents, passages, when, and the corpus folder by its public name.

    `corpus_dir` is the name visitors may see (never an absolute server path); where the index lives
    on the server is not shown at all.
    """
    if stats is None:
        return (f'<div class="stats empty">Nothing is indexed yet. {esc(problem)} Add articles to '
                f"<code>{esc(corpus_dir)}</code> (or upload them below) and click <b>Re-index</b>.</div>")
    cells = [("Documents", stats.get("documents", 0)), ("Passages", stats.get("chunks", 0)),
             ("Last indexed", stats.get("last_indexed") or "–")]
    tiles = "".join(f'<div class="stat"><div class="stat-value">{esc(v)}</div><div class="stat-label">{esc(k)}</div></div>'
                    for k, v in cells)
    details = f'<div class="stats-details">Corpus folder <code>{esc(corpus_dir)}</code></div>'
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
    """What became of each uploaded file: saved (under which name), replaced (old copy kept), or refused and why."""
    rows = "".join(
        f'<tr class="status-{esc(r.status)}"><td>{esc(r.name)}</td><td><span class="badge">{esc(r.status)}</span></td>'
        f"<td>{esc(r.saved_as)}</td><td>{esc(r.reason)}</td></tr>" for r in results)
    saved = sum(r.status in ("saved", "replaced") for r in results)
    kept = sum(r.status == "replaced" for r in results)
    if saved:
        text = (f"{saved} file{'s' if saved != 1 else ''} copied into {corpus_dir}. Click Re-index to make "
                f"{'them' if saved != 1 else 'it'} searchable.")
        if kept:
            text += (f" {kept} replaced a file of the same name; the old version{'s are' if kept != 1 else ' is'} "
                     f"kept in {corpus_dir}/.backups.")
        note = message_html(text, "ok")
    elif any(r.status == "unchanged" for r in results):
        note = message_html("Nothing new: the corpus folder already holds these files.", "info")
    else:
        note = message_html("No file was added.", "error")
    return (f'{note}<table class="report-table"><thead><tr><th>Uploaded</th><th>Status</th><th>Saved as</th>'
            f"<th>Why</th></tr></thead><tbody>{rows}</tbody></table>")


def message_html(text: str, kind: str = "info") -> str:
    """A one-line notice in the corpus tab (`info`, `ok` or `error`)."""
    return f'<div class="notice notice-{esc(kind)}">{esc(text)}</div>'


_ADD_ORDER = {"failed": 0, "refused": 0, "ok": 1, "added": 1, "saved": 1, "updated": 2, "unchanged": 3, "skipped": 4}


def _field(item: Any, *names: str) -> str:
    for name in names:
        value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
        if value:
            return str(value)
    return ""


def _add_reason(item: Any) -> str:
    feed = _field(item, "feed")
    return _field(item, "reason", "error") or (f"listed in the feed {feed}" if feed else "")


def add_report_html(report: Any) -> str:
    """What "Add from URL" did, one row per address (problems first), then what indexing did.

    Reads the core's `AddReport` loosely (`items` with url/status/reason/saved_as, `index`, `summary()`)
    so that a field the core adds later does not break the page.
    """
    items = list(getattr(report, "items", None) or getattr(report, "results", None) or [])
    items.sort(key=lambda i: _ADD_ORDER.get(_field(i, "status"), 9))
    rows = "".join(
        f'<tr class="status-{esc(_field(i, "status"))}"><td>{esc(_field(i, "url"))}</td>'
        f'<td><span class="badge">{esc(_field(i, "status"))}</span></td>'
        f'<td>{esc(_field(i, "title"))}</td><td>{esc(_field(i, "saved_as", "path", "doc_id"))}</td>'
        f'<td>{esc(_add_reason(i))}</td></tr>' for i in items)
    summary = report.summary() if callable(getattr(report, "summary", None)) else ""
    parts = [f'<div class="report"><div class="report-summary">{esc(summary)}</div>']
    if rows:
        parts.append('<table class="report-table"><thead><tr><th>Address</th><th>Status</th><th>Title</th>'
                     f"<th>Saved as</th><th>Why</th></tr></thead><tbody>{rows}</tbody></table>")
    parts.append("</div>")
    index = getattr(report, "index", None)
    if isinstance(index, IndexReport):
        parts.append(index_report_html(index))
    return "".join(parts)


ARTICLE_COLUMNS = ["Date", "Outlet", "Title", "File"]


def article_rows(articles: list[dict[str, Any]], query: str = "", limit: int = 500) -> tuple[list[list[str]], int]:
    """Rows for the corpus view (in the core's order: newest first) whose title, outlet, author, date or
    file name holds every word of `query`; at most `limit` of them, and how many matched in all."""
    words = query.casefold().split()
    rows, matched = [], 0
    for a in articles:
        authors = a.get("authors") or []
        authors = [authors] if isinstance(authors, str) else list(authors)
        hay = " ".join([str(a.get("title", "")), str(a.get("outlet", "")), str(a.get("date", "")),
                        str(a.get("doc_id", "")), *map(str, authors)]).casefold()
        if all(w in hay for w in words):
            matched += 1
            if len(rows) < limit:
                rows.append([str(a.get("date") or "undated"), str(a.get("outlet") or ""),
                             str(a.get("title") or a.get("doc_id", "")), str(a.get("doc_id", ""))])
    return rows, matched


def articles_summary(shown: int, matched: int, total: int, query: str = "") -> str:
    """'12 of 40 articles match "starliner"' above the corpus view."""
    noun = "article" if total == 1 else "articles"
    if query.strip():
        text = f"{matched} of {total} {noun} match{'es' if matched == 1 else ''} “{query.strip()}”"
    else:
        text = f"{total} {noun} indexed, newest first"
    if shown < matched:
        text += f" (the first {shown} shown; narrow the search to see others)"
    return f'<div class="articles-summary">{esc(text)}. Click a row to read the article.</div>'


def article_html(article: dict[str, Any] | None, text: str) -> str:
    """One indexed article: title, outlet, date, authors, link, and its text (escaped)."""
    if article is None:
        return message_html("That article is no longer in the index; re-index or pick another.", "error")
    title = article.get("title") or article.get("doc_id", "")
    paragraphs = "".join(f"<p>{esc(p)}</p>" for p in re.split(r"\n\s*\n|\n", text) if p.strip())
    return (f'<article class="article-view"><h3 class="article-title">{esc(title)}</h3>{_byline_html(article)}'
            f'<div class="card-meta">{esc(article.get("doc_id", ""))}</div>'
            f'<div class="article-text">{paragraphs}</div></article>')
