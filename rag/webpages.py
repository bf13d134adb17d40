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

This module returns raw fields; `rag.documents` cuts them to their limits and normalises dates.
It never fetches anything: `rag.fetching` does, and hands the bytes here.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field

__all__ = ["Extracted", "FeedEntry", "Feed", "read_html", "read_feed", "looks_like_feed", "html_to_text",
           "saved_from_url", "SAVED_FROM_MARKER"]

# The marker browsers write at the top of a page saved with "Save page as" (and `rag add` writes too),
# so that a page re-read from disk knows its address: `<!-- saved from url=(0023)https://example.com/ -->`.
SAVED_FROM_MARKER = "<!-- saved from url=({length:04d}){url} -->\n"
_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d+\)(\S+?)\s*-->", re.IGNORECASE)
# Fallback content of embedded objects is never article text, and trafilatura keeps some of it
# (an <iframe>'s or <noscript>'s inner text): pruned before extraction.
_PRUNE = ["//noscript", "//iframe", "//object", "//embed", "//template"]
_BLOCKS = ["p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "blockquote",
           "section", "article", "header", "footer", "pre", "dd", "dt", "figcaption"]
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


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (a feed entry's summary), one line per block."""
    return _visible_text(fragment)[1]


def _visible_text(html: str) -> tuple[str, str]:
    """(title, visible text) with BeautifulSoup: what a reader would see, never scripts or attributes."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    for tag in soup(["script", "style", "noscript", "template", "head", "svg", "iframe", "object", "embed"]):
        tag.decompose()
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    # Line breaks after blocks only, so that "<b>splashed</b> down" stays one phrase.
    for tag in soup.find_all(_BLOCKS):
        tag.insert_after("\n")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
    return title, "\n".join(line for line in lines if line)


def looks_like_feed(data: bytes) -> bool:
    """Whether `data` opens like an RSS or Atom document (used for `.xml` files and fetched bytes)."""
    return bool(_FEED_ROOT.search(data[:2048]))


def read_feed(data: bytes) -> Feed:
    """Entries of an RSS/Atom feed. Raises `ValueError` with a reason when it is not a feed."""
    import feedparser

    # A file object, never a string: feedparser would fetch a string that looks like a URL.
    parsed = feedparser.parse(io.BytesIO(data))
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise ValueError(f"not an RSS/Atom feed{f' ({problem})' if problem else ''}")
    warnings = [f"feed is malformed ({parsed.bozo_exception}); read what could be read"] if parsed.get("bozo") else []
    entries: list[FeedEntry] = []
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
    return Feed(title=html_to_text(str(parsed.feed.get("title") or "")), entries=entries, warnings=warnings)


def _struct_date(entry: dict) -> str:
    """The entry's publication date (else its update date) as feedparser read it, in UTC."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return time.strftime("%Y-%m-%d", value)
    return ""
