"""Fetching news pages and feeds from the web into the corpus folder (`rag add URL...`).

Each URL is fetched with httpx under limits from `Settings`: only `http`/`https`; a time limit for
the whole fetch (`fetch_timeout`), a size limit (`fetch_max_mb`), a capped number of redirects
(`fetch_max_redirects`); only web pages and RSS/Atom feeds are accepted. Unless
`fetch_allow_private` is on, every address the host name resolves to must be a public one
(not loopback, link-local, private, shared or reserved), checked on every redirect hop, and the
connection goes to the address that was checked (the host name is still sent as `Host` and for TLS),
so a name that resolves to a public address once and to 127.0.0.1 the next time gains nothing:
a page that fetches URLs for its visitors must not become a way into the machine it runs on.

A page is stored as an `.html` file in the corpus folder, with the browsers' "saved from url"
marker on its first line, so re-indexing reads it with the same extraction (`rag.webpages`) and
knows its address. A feed is not stored: its newest entries' links are fetched as articles
(`fetch_max_feed_entries`). The name of a stored page comes from its URL; a different file of that
name is never overwritten (a number is added), while the same URL fetched again replaces its
earlier copy (a corrected article updates the index).

This module does not index: `Assistant.add` fetches, then re-indexes the folder incrementally.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .documents import MAX_NAME_CHARS, MB, load_file, upload_target
from .settings import Settings
from .webpages import SAVED_FROM_MARKER, looks_like_feed, read_feed, read_html, saved_from_url

__all__ = ["AddItem", "AddReport", "fetch_urls", "USER_AGENT"]

USER_AGENT = "rag-news/0.1 (+personal news collection; https://github.com/)"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml")
# Types that say nothing about the content; the first bytes decide.
_VAGUE_TYPES = ("", "text/plain", "application/octet-stream", "binary/octet-stream")
_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)

Progress = Callable[[int, int, str], None]


@dataclass
class AddItem:
    """What became of one URL (a page, a feed, or an article found in a feed)."""

    url: str
    status: str  # ok | failed
    reason: str = ""
    path: str = ""  # the stored file, relative to the corpus folder
    documents: int = 0
    feed: str = ""  # the feed URL this article was listed in


@dataclass
class AddReport:
    items: list[AddItem] = field(default_factory=list)
    folder: str = ""
    index: Any = None  # the IndexReport of the re-index that followed, when there was one

    @property
    def saved(self) -> list[AddItem]:
        return [i for i in self.items if i.status == "ok" and i.path]

    @property
    def failed(self) -> list[AddItem]:
        return [i for i in self.items if i.status == "failed"]

    def summary(self) -> str:
        text = f"{len(self.saved)} page{'s' if len(self.saved) != 1 else ''} saved, {len(self.failed)} failed"
        if self.index is not None and hasattr(self.index, "summary"):
            text += "; " + self.index.summary()
        return text

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"folder": self.folder, "items": [asdict(i) for i in self.items],
                                "saved": len(self.saved), "failed": len(self.failed)}
        if self.index is not None and hasattr(self.index, "to_dict"):
            data["index"] = self.index.to_dict()
        return data


class _Refused(Exception):
    """Internal: a URL was not fetched; the message is the reason shown to the user."""


def fetch_urls(urls: Sequence[str], folder: Path | str, *, settings: Settings | None = None,
               allow_private: bool | None = None, progress: Progress | None = None) -> AddReport:
    """Fetch pages and feeds into `folder`; one report line per URL (and per article of a feed)."""
    import httpx

    settings = settings or Settings()
    allow = settings.fetch_allow_private if allow_private is None else allow_private
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report = AddReport(folder=str(folder))
    total = len(urls)
    done = 0
    with httpx.Client(timeout=httpx.Timeout(settings.fetch_timeout), follow_redirects=False, trust_env=False,
                      headers={"User-Agent": USER_AGENT}) as client:
        fetcher = _Fetcher(client, settings, allow)
        for url in urls:
            try:
                final, kind, data = fetcher.get(url.strip())
                if kind == "feed":
                    articles = fetcher.feed_articles(final, data)
                    total += len(articles)
                    report.items.append(AddItem(url, "ok", f"feed with {len(articles)} article link"
                                                           f"{'s' if len(articles) != 1 else ''} to fetch"))
                    for link in articles:
                        report.items.append(_fetch_article(fetcher, link, folder, feed=url))
                        done += 1
                        if progress:
                            progress(done, total, "fetching")
                else:
                    report.items.append(_store_page(final, data, folder, requested=url))
            except _Refused as err:
                report.items.append(AddItem(url, "failed", str(err)))
            done += 1
            if progress:
                progress(done, total, "fetching")
    return report


def _fetch_article(fetcher: _Fetcher, url: str, folder: Path, *, feed: str) -> AddItem:
    try:
        final, kind, data = fetcher.get(url)
        if kind != "html":
            raise _Refused("the feed's link is not a web page")
        item = _store_page(final, data, folder, requested=url)
    except _Refused as err:
        item = AddItem(url, "failed", str(err))
    item.feed = feed
    return item


class _Fetcher:
    def __init__(self, client: Any, settings: Settings, allow_private: bool) -> None:
        self.client = client
        self.settings = settings
        self.allow_private = allow_private

    def get(self, url: str) -> tuple[str, str, bytes]:
        """(final URL, "html" | "feed", body), following redirects by hand so that each hop is checked."""
        import httpx

        deadline = time.monotonic() + self.settings.fetch_timeout
        current = _parse(url)
        for _hop in range(self.settings.fetch_max_redirects + 1):
            address = _checked_address(current, self.allow_private)
            request = self.client.build_request(
                "GET", current.copy_with(host=address), headers={"Host": current.netloc.decode("ascii")},
                extensions={"sni_hostname": current.host})
            try:
                response = self.client.send(request, stream=True)
            except httpx.TimeoutException as err:
                raise _Refused(f"timed out after {self.settings.fetch_timeout:g} s (RAG_FETCH_TIMEOUT)") from err
            except httpx.HTTPError as err:
                raise _Refused(f"could not connect ({err.__class__.__name__}: {err})") from err
            try:
                if response.is_redirect and "location" in response.headers:
                    current = _parse(str(current.join(response.headers["location"])))
                    continue
                if response.status_code >= 400:
                    raise _Refused(f"the server answered {response.status_code} {response.reason_phrase}")
                if response.status_code != 200:
                    raise _Refused(f"the server answered {response.status_code} {response.reason_phrase}, not a page")
                kind = _kind(response.headers.get("content-type", ""))
                body = self._read(response, deadline)
            finally:
                response.close()
            if kind == "sniff":
                kind = "feed" if looks_like_feed(body) else "html" if b"<html" in body[:4096].lower() else ""
                if not kind:
                    raise _Refused("is neither a web page nor an RSS/Atom feed")
            if kind == "xml":
                if not looks_like_feed(body):
                    raise _Refused("is XML but not an RSS/Atom feed")
                kind = "feed"
            return str(current), kind, body
        raise _Refused(f"more than {self.settings.fetch_max_redirects} redirects (RAG_FETCH_MAX_REDIRECTS)")

    def _read(self, response: Any, deadline: float) -> bytes:
        """The body, refused as soon as it is over the size limit or the whole fetch over its time."""
        import httpx

        limit = self.settings.fetch_max_mb * MB
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Refused(f"{int(declared) / MB:.1f} MB is over the {self.settings.fetch_max_mb:g} MB limit "
                           "(RAG_FETCH_MAX_MB)")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise _Refused(f"over the {self.settings.fetch_max_mb:g} MB limit (RAG_FETCH_MAX_MB)")
                if time.monotonic() > deadline:
                    raise _Refused(f"took longer than {self.settings.fetch_timeout:g} s (RAG_FETCH_TIMEOUT)")
                chunks.append(chunk)
        except httpx.TimeoutException as err:
            raise _Refused(f"timed out after {self.settings.fetch_timeout:g} s (RAG_FETCH_TIMEOUT)") from err
        except httpx.HTTPError as err:
            raise _Refused(f"the download broke off ({err.__class__.__name__})") from err
        return b"".join(chunks)

    def feed_articles(self, url: str, data: bytes) -> list[str]:
        """The links of a feed's newest entries, at most `fetch_max_feed_entries`."""
        try:
            feed = read_feed(data)
        except ValueError as err:
            raise _Refused(str(err)) from err
        entries = sorted(feed.entries, key=lambda e: e.date, reverse=True)  # undated keep their order, last
        links = list(dict.fromkeys(str(_parse(url).join(e.url)) for e in entries if e.url))
        if not links:
            raise _Refused("the feed lists no article links")
        return links[: self.settings.fetch_max_feed_entries]


def _parse(url: str) -> Any:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as err:
        raise _Refused(f"is not a valid URL ({err})") from err
    if parsed.scheme not in ("http", "https"):
        raise _Refused(f"only http and https URLs can be fetched, not '{parsed.scheme or 'no scheme'}'")
    if not parsed.host:
        raise _Refused("has no host name")
    return parsed


def _checked_address(url: Any, allow_private: bool) -> str:
    """The address to connect to: the host's first resolved address, once all of them are allowed."""
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = _resolve(url.host, port)
    if not addresses:
        raise _Refused(f"the host name {url.host!r} could not be resolved")
    if not allow_private:
        for ip in addresses:
            why = address_refusal(ip)
            if why:
                raise _Refused(f"{url.host} is {why} address ({ip}); such addresses are refused unless "
                               "RAG_FETCH_ALLOW_PRIVATE=true (or `rag add --allow-private`)")
    return str(addresses[0])


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return list(dict.fromkeys(found))


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why an address may not be fetched by default ("a loopback", ...), or "" for a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for test, name in ((ip.is_loopback, "a loopback"), (ip.is_link_local, "a link-local"),
                       (ip.is_private, "a private"), (ip.is_multicast, "a multicast"),
                       (ip.is_unspecified, "an unspecified"), (ip.is_reserved, "a reserved")):
        if test:
            return name
    return "" if ip.is_global else "a non-public"


def _kind(content_type: str) -> str:
    mime = content_type.split(";")[0].strip().lower()
    if mime in _HTML_TYPES:
        return "html"
    if mime in _FEED_TYPES:
        return "xml"
    if mime in _VAGUE_TYPES:
        return "sniff"
    raise _Refused(f"is {mime}, not a web page or an RSS/Atom feed")


def _decode(data: bytes) -> str:
    """The page as text: its declared charset (meta tag), else UTF-8 with bad bytes replaced."""
    match = _CHARSET.search(data[:4096])
    for encoding in ([match.group(1).decode("ascii")] if match else []) + ["utf-8"]:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")


def _store_page(url: str, data: bytes, folder: Path, *, requested: str) -> AddItem:
    """Save a fetched page as `<name from URL>.html` with its address marker; report its documents."""
    html = _decode(data).replace("\x00", "")
    if not read_html(html, url=url).text.strip():
        raise _Refused("no article text found on the page")
    content = SAVED_FROM_MARKER.format(length=len(url), url=url) + html
    target = _free_target(folder, _name_for(url), url, content)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fetch-", suffix=".tmp")  # hidden: the reader skips it
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)
    os.replace(tmp, target)
    rel = target.name
    loaded = load_file(target, rel)
    if not loaded.documents:
        reason = "; ".join(p.reason for p in loaded.problems) or "nothing readable"
        return AddItem(requested, "failed", f"saved as {rel} but not readable: {reason}", rel)
    return AddItem(requested, "ok", "", rel, len(loaded.documents))


def _name_for(url: str) -> str:
    """A readable file name from a URL: host and path as a slug, plus a digest of any query."""
    import httpx

    parsed = httpx.URL(url)
    path = parsed.path.rstrip("/")
    path = re.sub(r"\.(s?html?|php|aspx?)$", "", path, flags=re.IGNORECASE)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{parsed.host}{path}").strip("-").lower() or "page"
    if parsed.query:
        slug += "-" + hashlib.sha1(parsed.query).hexdigest()[:8]
    return slug[:MAX_NAME_CHARS] + ".html"


def _free_target(folder: Path, name: str, url: str, content: str) -> Path:
    """`name` in `folder`, unless a different file has it: then name-2.html, name-3.html, ...

    A file that is the earlier copy of the same URL is replaced (the article may have been corrected).
    """
    base = upload_target(folder, name)
    stem = base.stem
    for n in range(1, 1000):
        target = base if n == 1 else base.with_name(f"{stem}-{n}.html")
        if not target.exists():
            return target
        try:
            existing = target.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if existing == content or saved_from_url(existing) == url:
            return target
    raise _Refused(f"too many files named like {name} in {folder}")
