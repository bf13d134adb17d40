"""Fetching news pages and feeds from the web into the corpus folder (`rag add URL...`).

Each URL is fetched with httpcore (httpx's transport layer) under limits from `Settings`: only
`http`/`https`; one deadline for the whole fetch of a URL (`fetch_timeout`: resolving the name,
connecting, the headers, every redirect hop and the body), a size limit (`fetch_max_mb`) that holds
for the decompressed body too, a capped number of redirects (`fetch_max_redirects`); only web pages
and RSS/Atom feeds are accepted. A body may come compressed with one layer of gzip or deflate, which
this module inflates itself with an output bound; anything else (brotli, zstd, two layers) is refused,
as urllib3 2.6 does (CVE-2025-66471, CVE-2025-66418): a few kilobytes must not become gigabytes. Unless
`fetch_allow_private` is on, every address the host name resolves to must be a public one
(not loopback, link-local, private, shared or reserved), checked on every redirect hop, and the
connection goes to the address that was checked (the host name is still sent as `Host` and for TLS),
so a name that resolves to a public address once and to 127.0.0.1 the next time gains nothing:
a page that fetches URLs for its visitors must not become a way into the machine it runs on.

A page is stored as an `.html` file in the corpus folder, with the browsers' "saved from url"
marker on its first line, so re-indexing reads it with the same extraction (`rag.ingest.webpages`) and
knows its address. A feed is not stored: its newest entries' links are fetched as articles
(`fetch_max_feed_entries`), all of them within one time budget (`FEED_BUDGET_TIMEOUTS`), each
within its own deadline too. The name of a stored page comes from its URL; a different file of that
name is never overwritten (a number is added), while the same URL fetched again replaces its
earlier copy (a corrected article updates the index).

An IPv6 address that carries traffic to an IPv4 one (IPv4-mapped, 6to4, Teredo) is judged by the
IPv4 address it embeds: 2002:a9fe:a9fe::1 is 169.254.169.254.

This module does not index: `Assistant.add` fetches, then re-indexes the folder incrementally.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import httpx

from rag.ingest.documents import MAX_NAME_CHARS, MB, load_file, upload_target
from rag.ingest.webpages import SAVED_FROM_MARKER, looks_like_feed, read_feed, read_html, saved_from_url
from rag.settings import Settings

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


# The articles of one feed share this many `fetch_timeout`s in all: a feed's 20 articles fetched at
# an ordinary pace fit, while 20 slow links cannot hold `rag add` (and the index) for 20 timeouts.
FEED_BUDGET_TIMEOUTS = 3
# Only what this module can inflate with an output bound; sent as Accept-Encoding so that a server
# has no reason to send brotli or zstd (which the standard library cannot bound).
ACCEPT_ENCODING = "gzip, deflate"
_GZIP_NAMES = ("gzip", "x-gzip")


@dataclass(frozen=True)
class _Deadline:
    """The moment (time.monotonic) a fetch must be over, and the reason shown when it is not."""

    at: float
    reason: str

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self.left() <= 0:
            raise _Refused(self.reason)


def _url_deadline(settings: Settings) -> _Deadline:
    return _Deadline(time.monotonic() + settings.fetch_timeout,
                     f"timed out after {settings.fetch_timeout:g} s (RAG_FETCH_TIMEOUT)")


def fetch_urls(urls: Sequence[str], folder: Path | str, *, settings: Settings | None = None,
               allow_private: bool | None = None, progress: Progress | None = None) -> AddReport:
    """Fetch pages and feeds into `folder`; one report line per URL (and per article of a feed)."""
    settings = settings or Settings()
    allow = settings.fetch_allow_private if allow_private is None else allow_private
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report = AddReport(folder=str(folder))
    total = len(urls)
    done = 0
    with _Fetcher(settings, allow) as fetcher:
        for url in urls:
            try:
                final, kind, data = fetcher.get(url.strip(), _url_deadline(settings))
                if kind == "feed":
                    articles = fetcher.feed_articles(final, data)
                    total += len(articles)
                    report.items.append(AddItem(url, "ok", f"feed with {len(articles)} article link"
                                                           f"{'s' if len(articles) != 1 else ''} to fetch"))
                    budget_s = FEED_BUDGET_TIMEOUTS * settings.fetch_timeout
                    budget = _Deadline(time.monotonic() + budget_s,
                                       f"not fetched: the feed's articles took their {budget_s:g} s in all "
                                       f"({FEED_BUDGET_TIMEOUTS} x RAG_FETCH_TIMEOUT)")
                    for link in articles:
                        report.items.append(_fetch_article(fetcher, link, folder, feed=url, budget=budget))
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


def _fetch_article(fetcher: _Fetcher, url: str, folder: Path, *, feed: str, budget: _Deadline) -> AddItem:
    own = _url_deadline(fetcher.settings)
    try:
        budget.check()
        final, kind, data = fetcher.get(url, own if own.at <= budget.at else budget)
        if kind != "html":
            raise _Refused("the feed's link is not a web page")
        item = _store_page(final, data, folder, requested=url)
    except _Refused as err:
        item = AddItem(url, "failed", str(err))
    item.feed = feed
    return item


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with every socket operation cut short at the current URL's deadline.

    Why here: httpx's (and httpcore's) timeouts apply to each socket operation, so a server that sends
    its headers or body one byte a second never trips them. Giving every connect, TLS handshake, read
    and write only the time left before the deadline makes the deadline exact, in this thread. The
    alternatives are worse: a watchdog that closes the socket from another thread does not wake a
    `recv` blocked on Linux (only `shutdown` does, and httpx hands out no socket before the headers),
    and a worker thread abandoned at `join(timeout)` keeps the connection and its reads running.
    httpcore takes a network backend as documented API; httpx does not pass one through, hence
    httpcore directly (it also yields the body raw, which the bounded inflating below needs).
    """

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()
        self.deadline = _Deadline(float("inf"), "")

    def time_left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self.deadline.left()
        if left <= 0:  # a zero socket timeout would mean non-blocking, not "none left"
            raise error(self.deadline.reason)
        return left if timeout is None else min(timeout, left)

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, self.time_left(timeout, httpcore.ConnectTimeout),
                                           local_address, socket_options)
        return _DeadlineStream(stream, self)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:  # pragma: no cover - unused
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - only for retries, which are off
        time.sleep(max(0.0, min(seconds, self.deadline.left())))


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, backend: _DeadlineBackend) -> None:
        self._stream = stream
        self._backend = backend  # read per call: a kept-alive connection serves the next URL's deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._backend.time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._backend.time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname,
                                     self._backend.time_left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls, self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


# What httpcore raises for a connection that failed or broke (its exceptions share no base class).
_NETWORK_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                   httpcore.ProxyError)
_REDIRECTS = (301, 302, 303, 307, 308)


class _Fetcher:
    def __init__(self, settings: Settings, allow_private: bool) -> None:
        self.settings = settings
        self.allow_private = allow_private
        self.backend = _DeadlineBackend()
        self.pool = httpcore.ConnectionPool(network_backend=self.backend)

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.close()

    def get(self, url: str, deadline: _Deadline) -> tuple[str, str, bytes]:
        """(final URL, "html" | "feed", body), following redirects by hand so that each hop is checked."""
        self.backend.deadline = deadline
        current = _parse(url)
        for _hop in range(self.settings.fetch_max_redirects + 1):
            address = _checked_address(current, self.allow_private, deadline)
            target = current.copy_with(host=address)
            seconds = self.settings.fetch_timeout  # the backend cuts each operation to the deadline
            try:
                with self.pool.stream(
                        "GET", httpcore.URL(scheme=target.raw_scheme, host=target.raw_host, port=target.port,
                                            target=target.raw_path),
                        headers=[(b"Host", current.netloc), (b"User-Agent", USER_AGENT.encode()),
                                 (b"Accept", b"*/*"), (b"Accept-Encoding", ACCEPT_ENCODING.encode())],
                        extensions={"sni_hostname": current.host,
                                    "timeout": dict.fromkeys(("connect", "read", "write", "pool"), seconds)},
                ) as response:
                    headers = httpx.Headers(response.headers)
                    reason = response.extensions.get("reason_phrase", b"").decode("ascii", "replace")
                    if response.status in _REDIRECTS and "location" in headers:
                        current = _parse(str(current.join(headers["location"])))
                        continue
                    if response.status >= 400:
                        raise _Refused(f"the server answered {response.status} {reason}")
                    if response.status != 200:
                        raise _Refused(f"the server answered {response.status} {reason}, not a page")
                    kind = _kind(headers.get("content-type", ""))
                    body = self._read(response, headers, deadline)
            except httpcore.TimeoutException as err:
                raise _Refused(deadline.reason) from err
            except _NETWORK_ERRORS as err:
                if deadline.left() <= 0:
                    raise _Refused(deadline.reason) from err
                if isinstance(err, httpcore.ConnectError):
                    raise _Refused(f"could not connect ({err.__class__.__name__}: {err})") from err
                raise _Refused(f"the download broke off ({err.__class__.__name__}: {err})") from err
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

    def _read(self, response: Any, headers: Any, deadline: _Deadline) -> bytes:
        """The body, inflated, refused as soon as it is over the size limit or the fetch over its time."""
        limit = int(self.settings.fetch_max_mb * MB)
        too_big = f"over the {self.settings.fetch_max_mb:g} MB limit (RAG_FETCH_MAX_MB)"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Refused(f"{int(declared) / MB:.1f} MB is {too_big}")
        inflater = _inflater(headers.get("content-encoding", ""), limit, too_big)
        chunks: list[bytes] = []
        raw_size = 0
        for raw in response.iter_stream():
            raw_size += len(raw)
            if raw_size > limit:
                raise _Refused(too_big)
            deadline.check()
            chunks.append(inflater.feed(raw) if inflater else raw)
        if inflater:
            inflater.finish()
        return b"".join(chunks)

    def feed_articles(self, url: str, data: bytes) -> list[str]:
        """The links of a feed's newest entries, at most `fetch_max_feed_entries`."""
        try:
            # A feed's text, entities expanded, is bounded like the page itself (RAG_FETCH_MAX_MB).
            feed = read_feed(data, max_text_chars=int(self.settings.fetch_max_mb * 1024 * 1024))
        except ValueError as err:
            raise _Refused(str(err)) from err
        entries = sorted(feed.entries, key=lambda e: e.date, reverse=True)  # undated keep their order, last
        links = list(dict.fromkeys(str(_parse(url).join(e.url)) for e in entries if e.url))
        if not links:
            raise _Refused("the feed lists no article links")
        return links[: self.settings.fetch_max_feed_entries]


class _Inflater:
    """One layer of gzip or deflate, inflated chunk by chunk, never past `limit` bytes in all.

    Hand-written over zlib because httpx/httpcore offer no output bound: httpx inflates each read
    whole before anyone can count it. `max_length` makes zlib stop at the room left (plus one byte,
    to tell "exactly at the limit" from "over it"); the input it has not used waits in
    `unconsumed_tail`, so memory stays within the limit whatever the compression ratio.
    """

    def __init__(self, coding: str, limit: int, too_big: str) -> None:
        self.gzip = coding in _GZIP_NAMES
        self.limit = limit
        self.too_big = too_big
        self.size = 0
        self.started = False  # some input was accepted: too late to retry deflate without its wrapper
        self.members = 0  # complete gzip members (or deflate streams) seen
        self.trailing = False  # bytes after the last complete member that are not one: ignored
        self.zlib = self._new()

    def _new(self, raw_deflate: bool = False) -> Any:
        # gzip: its header (wbits 16+); deflate: the zlib wrapper the RFC asks for, or the bare stream
        # some servers send instead (tried when the wrapper is missing, as browsers and httpx do).
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self.gzip else -zlib.MAX_WBITS if raw_deflate
                                  else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data and not self.trailing:
            if self.zlib.eof:
                if not self.gzip:  # bytes after the end of a deflate stream are ignored
                    break
                self.zlib = self._new()  # gzip may hold several members one after the other
            try:
                piece = self.zlib.decompress(data, self.limit - self.size + 1)
            except zlib.error as err:
                if not self.started and not self.gzip:
                    self.started, self.zlib = True, self._new(raw_deflate=True)
                    continue
                if self.members:  # padding or junk after a complete member, ignored as urllib3 does
                    self.trailing = True
                    break
                raise _Refused(f"its compressed body is damaged ({err})") from err
            self.started = True
            self.size += len(piece)
            if self.size > self.limit:
                raise _Refused(self.too_big)
            out.append(piece)
            if self.zlib.eof:
                self.members += 1
                data = self.zlib.unused_data
            else:
                data = self.zlib.unconsumed_tail
        return b"".join(out)

    def finish(self) -> None:
        if not self.started:
            raise _Refused("its compressed body is empty")


def _inflater(content_encoding: str, limit: int, too_big: str) -> _Inflater | None:
    """The inflater for a Content-Encoding header, None for an uncompressed body, or a refusal."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) > 1:
        raise _Refused(f"its body is compressed {len(codings)} times over (Content-Encoding: {content_encoding}); "
                       "only one layer of gzip or deflate is accepted")
    if codings[0] not in (*_GZIP_NAMES, "deflate"):
        raise _Refused(f"its body is compressed with '{codings[0]}', which is not accepted (only gzip or deflate; "
                       f"the request asked for {ACCEPT_ENCODING})")
    return _Inflater(codings[0], limit, too_big)


def _parse(url: str) -> Any:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as err:
        raise _Refused(f"is not a valid URL ({err})") from err
    if parsed.scheme not in ("http", "https"):
        raise _Refused(f"only http and https URLs can be fetched, not '{parsed.scheme or 'no scheme'}'")
    if not parsed.host:
        raise _Refused("has no host name")
    return parsed


def _checked_address(url: Any, allow_private: bool, deadline: _Deadline) -> str:
    """The address to connect to: the host's first resolved address, once all of them are allowed."""
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = _resolve(url.host, port, deadline)
    if not addresses:
        raise _Refused(f"the host name {url.host!r} could not be resolved")
    if not allow_private:
        for ip in addresses:
            why = address_refusal(ip)
            if why:
                inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else []
                shown = f"{ip}, which stands for {' and '.join(map(str, inner))}" if inner else str(ip)
                raise _Refused(f"{url.host} is {why} address ({shown}); such addresses are refused unless "
                               "RAG_FETCH_ALLOW_PRIVATE=true (or `rag add --allow-private`)")
    return str(addresses[0])


def _resolve(host: str, port: int, deadline: _Deadline) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    # getaddrinfo takes no timeout and cannot be interrupted, so it runs in a daemon thread that is
    # abandoned at the deadline; the thread ends by itself when the system resolver gives up.
    infos: list[Any] = []

    def lookup() -> None:
        try:
            infos.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError):
            pass

    worker = threading.Thread(target=lookup, name="rag-fetch-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline.left()))
    if worker.is_alive():
        raise _Refused(deadline.reason)
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return list(dict.fromkeys(found))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries traffic to: IPv4-mapped, 6to4, Teredo (server, client)."""
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if ip.sixtofour:  # 2002::/16: a 6to4 relay delivers to the IPv4 address in bits 16-48
        return [ip.sixtofour]
    if ip.teredo:  # 2001::/32: reaches the client IPv4 address (through the server)
        return list(ip.teredo)
    return []


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why an address may not be fetched by default ("a loopback", ...), or "" for a public address.

    An IPv6 address that embeds an IPv4 one (mapped, 6to4, Teredo) is judged by what it embeds, so
    2002:a9fe:a9fe::1 is the link-local 169.254.169.254, not a public IPv6 address.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        for embedded in inner:
            why = address_refusal(embedded)
            if why:
                return why
        if ip.ipv4_mapped:  # ::ffff:0:0/96 is itself "private" to Python; the IPv4 address decides
            return ""
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
    extracted = read_html(html, url=url)
    if extracted.refused:
        raise _Refused(f"the page {extracted.refused}")
    if not extracted.text.strip():
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
