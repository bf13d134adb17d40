"""Reading news web pages and news feeds: the article in a page, the entries of an RSS/Atom feed.

A saved news page is mostly not the article: menus, cookie banners, "most popular" link lists,
subscription forms. `read_html` hands the page to trafilatura, the maintained main-content
extractor (F1 0.96 on the Scrapinghub article-extraction benchmark, see docs/BENCHMARKS.md), which
keeps the article body and reads the headline, publication date (htmldate), authors, site name and
canonical URL from the page's metadata. When trafilatura finds no article (a tiny hand-written page,
a page that is only a list of links) the page's visible text is used instead and that is reported.
Scripts, styles, event handlers and attributes never become text: both paths only read text nodes.

`read_feed` parses RSS/Atom with feedparser (which sanitises entry HTML and, through expat, refuses
entity-expansion bombs and external entities); each entry becomes one article.

Work is bounded for any input: a page of more than `MAX_HTML_TAGS` tags is refused unread, the
visible-text walk is linear however deep the nesting, and a feed whose entities would expand past
its text limit is refused before feedparser expands them.

This module returns raw fields; `rag.ingest.documents` cuts them to their limits and normalises dates.
It never fetches anything: `rag.ingest.fetching` does, and hands the bytes here.
"""

from __future__ import annotations

import io
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Extracted", "FeedEntry", "Feed", "FeedTooLarge", "MAX_HTML_TAGS", "read_html", "read_feed",
           "looks_like_feed", "html_to_text", "saved_from_url", "SAVED_FROM_MARKER"]

# The marker browsers write at the top of a page saved with "Save page as" (and `rag add` writes too),
# so that a page re-read from disk knows its address: `<!-- saved from url=(0023)https://example.com/ -->`.
SAVED_FROM_MARKER = "<!-- saved from url=({length:04d}){url} -->\n"
_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d+\)(\S+?)\s*-->", re.IGNORECASE)
# Fallback content of embedded objects is never article text, and trafilatura keeps some of it
# (an <iframe>'s or <noscript>'s inner text): pruned before extraction.
_PRUNE = ["//noscript", "//iframe", "//object", "//embed", "//template"]
_BLOCKS = frozenset({"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
                     "blockquote", "section", "article", "header", "footer", "pre", "dd", "dt", "figcaption"})
# The text a feed may hold when its reader gives no limit (a fetched feed): the default RAG_MAX_FILE_MB.
DEFAULT_MAX_FEED_TEXT_CHARS = 20 * 1024 * 1024
# An internal entity declaration, <!ENTITY name "value"> (or 'value'); parameter entities (%) excluded.
_ENTITY_DECLARATION = re.compile(rb"""<!ENTITY\s+([\w.:-]+)\s+(?:"([^"]*)"|'([^']*)')""")
_ENTITY_REFERENCE = re.compile(rb"&([\w.:-]+);")
_FIRST_ELEMENT = re.compile(rb"<\w")
# A page with more tags than this is refused unread. Extraction is linear but costs up to ~100 us a tag
# (trafilatura and BeautifulSoup walk every element in Python), and the largest of 181 real news pages
# (the html-extraction set) has 3,200 tags: 50,000 keeps any page within a few seconds.
MAX_HTML_TAGS = 50_000
_TAG = re.compile(r"<[A-Za-z/!?]")
# Elements whose content a reader never sees as text.
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe", "object", "embed"})
# A feed announces itself in its first bytes; checking only those keeps an .xml sniff cheap.
_FEED_ROOT = re.compile(rb"<(rss|feed|rdf:RDF)[\s>]", re.IGNORECASE)


@dataclass
class Extracted:
    """What a page says about itself, unnormalised."""

    text: str
    title: str = ""
    date: str = ""
    outlet: str = ""
    url: str = ""
    authors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refused: str = ""  # why the page was not read at all (then `text` is empty)


@dataclass
class FeedEntry:
    key: str  # entry id, else its link, else its position
    text: str
    title: str = ""
    date: str = ""  # "YYYY-MM-DD" from the feed's parsed published/updated time, or ""
    url: str = ""
    authors: list[str] = field(default_factory=list)


@dataclass
class Feed:
    title: str
    entries: list[FeedEntry]
    warnings: list[str] = field(default_factory=list)


def saved_from_url(html: str) -> str:
    """The address a saved page came from, when its first kilobyte carries the browsers' marker."""
    match = _SAVED_FROM.search(html[:1024])
    return match.group(1) if match else ""


def read_html(html: str, *, url: str = "") -> Extracted:
    """The article in a page: trafilatura's main text and metadata, else the visible text (reported)."""
    import trafilatura

    url = url or saved_from_url(html)
    if _too_many_tags(html):
        return Extracted(text="", url=url, refused=f"has more than {MAX_HTML_TAGS:,} tags (MAX_HTML_TAGS; news "
                                                    "pages have a few thousand); save the article alone or as text")
    try:
        doc = trafilatura.bare_extraction(html, url=url or None, with_metadata=True, include_comments=False,
                                          include_tables=True, prune_xpath=_PRUNE)
    except Exception as err:  # noqa: BLE001 - malformed markup raises many lxml/trafilatura types
        doc, failure = None, err.__class__.__name__
    else:
        failure = ""
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if not text:
        visible_title, visible = _visible_text(html)
        why = f"could not be parsed as an article ({failure})" if failure else "no article body found"
        return Extracted(text=visible, title=visible_title, url=url,
                         warnings=[f"{why}; indexed the page's visible text instead"] if visible else [])
    authors = [a.strip() for a in re.split(r";|\n", doc.author or "") if a.strip()]
    return Extracted(text=text, title=(doc.title or "").strip(), date=doc.date or "",
                     outlet=(doc.sitename or "").strip(), url=(doc.url or url or "").strip(), authors=authors)


def _too_many_tags(html: str) -> bool:
    return any(n >= MAX_HTML_TAGS for n, _ in enumerate(_TAG.finditer(html)))


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (a feed entry's summary), one line per block."""
    return _visible_text(fragment)[1]


def _visible_text(html: str) -> tuple[str, str]:
    """(title, visible text) with BeautifulSoup: what a reader would see, never scripts or attributes.

    The tree is read in one walk with an explicit stack, never changed: inserting a line break after
    each block (`insert_after`) walks down to the block's last descendant, so 25,000 nested `<div>`s
    took 60 s; the walk is linear in the page and has no recursion to overflow on deep nesting.
    """
    from bs4 import BeautifulSoup, CData, NavigableString, Tag

    soup = BeautifulSoup(html, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    parts: list[str] = []
    heading: list[str] = []  # the strings of the first <h1>, the title when the page has no <title>
    in_heading: Tag | None = None
    seen_heading = bool(title)
    stack: list[tuple[Tag, Iterator[Any]]] = [(soup, iter(soup.contents))]
    while stack:
        parent, children = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            if parent is in_heading:
                in_heading = None
            # Line breaks after blocks only, so that "<b>splashed</b> down" stays one phrase.
            if parent.name in _BLOCKS:
                parts.append("\n")
        elif isinstance(node, Tag):
            if node.name in _INVISIBLE:
                continue
            if node.name == "br":
                parts.append("\n")
                continue
            if node.name == "h1" and not seen_heading:
                seen_heading, in_heading = True, node
            stack.append((node, iter(node.contents)))
        elif type(node) in (NavigableString, CData):  # what get_text() reads: not comments, not doctypes
            parts.append(node)
            if in_heading is not None and node.strip():
                heading.append(node.strip())
    if heading:
        title = " ".join(heading)
    lines = (" ".join(line.split()) for line in "".join(parts).splitlines())
    return title, "\n".join(line for line in lines if line)


def looks_like_feed(data: bytes) -> bool:
    """Whether `data` opens like an RSS or Atom document (used for `.xml` files and fetched bytes)."""
    return bool(_FEED_ROOT.search(data[:2048]))


class FeedTooLarge(ValueError):
    """A feed whose text, once its entities are expanded, is over the limit it was read with."""


def read_feed(data: bytes, *, max_text_chars: int = DEFAULT_MAX_FEED_TEXT_CHARS) -> Feed:
    """Entries of an RSS/Atom feed. Raises `ValueError` with a reason when it is not a feed, and
    `FeedTooLarge` when its text (entities expanded) would be over `max_text_chars`."""
    import feedparser

    expanded = _expanded_size(data)
    if expanded > max_text_chars:
        raise FeedTooLarge(f"its entities expand to {_mb(expanded)} of text, over the {_mb(max_text_chars)} limit")
    # A file object, never a string: feedparser would fetch a string that looks like a URL.
    parsed = feedparser.parse(io.BytesIO(data))
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise ValueError(f"not an RSS/Atom feed{f' ({problem})' if problem else ''}")
    warnings = [f"feed is malformed ({parsed.bozo_exception}); read what could be read"] if parsed.get("bozo") else []
    entries: list[FeedEntry] = []
    total = 0
    for position, entry in enumerate(parsed.entries, start=1):
        body = ""
        for content in entry.get("content") or []:
            body = max(body, html_to_text(content.get("value", "")), key=len)
        summary = html_to_text(entry.get("summary", ""))
        text = body if len(body) >= len(summary) else summary
        link = str(entry.get("link") or "")
        authors = [str(a.get("name", "")).strip() for a in entry.get("authors") or [] if a.get("name")]
        entries.append(FeedEntry(key=str(entry.get("id") or link or position), text=text,
                                 title=html_to_text(str(entry.get("title") or "")), date=_struct_date(entry),
                                 url=link, authors=authors))
        # Defence in depth for what `_expanded_size` cannot see (an encoding other than UTF-8/ASCII).
        total += len(text) + len(entries[-1].title)
        if total > max_text_chars:
            raise FeedTooLarge(f"its text is over the {_mb(max_text_chars)} limit")
    return Feed(title=html_to_text(str(parsed.feed.get("title") or "")), entries=entries, warnings=warnings)


def _mb(chars: int) -> str:
    return f"{chars / (1024 * 1024):.1f} MB"


def _expanded_size(data: bytes) -> int:
    """How long `data` becomes once the entities its DOCTYPE declares are expanded (an upper bound).

    feedparser's loose parser expands an entity whose value is plain text, and expat expands nested
    ones up to a 100x amplification, so a 206 KB feed repeating one entity became 105 MB. Each
    entity's length is worked out once, and every `&name;` of the document counted in one pass, so
    the check costs time linear in the feed.
    """
    first_element = _FIRST_ELEMENT.search(data)  # declarations come before it, as feedparser reads them
    prolog = data[: first_element.start()] if first_element else data
    values = {m[1]: m[2] if m[2] is not None else m[3] for m in _ENTITY_DECLARATION.finditer(prolog)}
    if not values:
        return len(data)
    lengths = _entity_lengths(values)
    counts = Counter(m[1] for m in _ENTITY_REFERENCE.finditer(data, len(prolog)) if m[1] in values)
    return len(data) + sum(n * lengths[name] for name, n in counts.items())


def _entity_lengths(values: dict[bytes, bytes]) -> dict[bytes, int]:
    """The expanded length of each declared entity: a depth-first walk with a stack (a chain of
    thousands of declarations must not overflow Python's recursion); a reference back into the
    chain adds nothing, as both parsers refuse to expand a recursive entity."""
    refs = {name: [r for r in _ENTITY_REFERENCE.findall(value) if r in values] for name, value in values.items()}
    lengths: dict[bytes, int] = {}
    for root in values:
        if root in lengths:
            continue
        stack = [(root, iter(refs[root]))]
        on_path = {root}
        while stack:
            name, pending = stack[-1]
            ref = next(pending, None)
            if ref is None:
                stack.pop()
                on_path.discard(name)
                lengths[name] = len(values[name]) + sum(lengths.get(r, 0) for r in refs[name])
            elif ref not in lengths and ref not in on_path:
                stack.append((ref, iter(refs[ref])))
                on_path.add(ref)
    return lengths


def _struct_date(entry: dict) -> str:
    """The entry's publication date (else its update date) as feedparser read it, in UTC."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return time.strftime("%Y-%m-%d", value)
    return ""
