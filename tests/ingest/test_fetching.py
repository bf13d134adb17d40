"""`rag add`: pages and feeds fetched from a local HTTP server into the corpus folder, within limits.

The server runs on 127.0.0.1, so these tests switch `allow_private` on, except those that check
that loopback and private addresses are refused by default.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.ingest import fetching
from rag.ingest.documents import load_corpus
from rag.ingest.fetching import fetch_urls
from rag.settings import Settings

from ..factories import DATA

PAGE = (DATA / "news" / "starliner-page.html").read_bytes()
OTHER = (b"<html><head><title>Launch delayed | Orbit Daily</title><meta property='og:site_name' content='Orbit Daily'>"
         b"<meta property='article:published_time' content='2025-03-17'></head><body><article><h1>Launch delayed</h1>"
         + b"<p>High winds over the Cape delayed the launch of the weather satellite by one day, officials said.</p>" * 4
         + b"</article></body></html>")


MB = 1 << 20
SLOW_ARTICLES = 8  # links in /slow-feed, each answered after SLOW_ARTICLE_S
SLOW_ARTICLE_S = 0.7  # under the tests' 1 s timeout: only a budget for the whole feed stops them


@functools.cache
def _bomb(wbits: int, size_mb: int = 64) -> bytes:
    """`size_mb` MB of zeros compressed (about a thousandth of that), without holding them at once."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = b"\0" * MB
    return b"".join(packer.compress(zeros) for _ in range(size_mb)) + packer.flush()


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


_SPLIT = PAGE.index(b"splashed down") - 10  # the article's key sentence lies in the second gzip member
# /encoded/NAME: (Content-Encoding, body)
ENCODED: dict[str, tuple[str, Callable[[], bytes]]] = {
    "gzip-bomb": ("gzip", lambda: _bomb(16 + zlib.MAX_WBITS)),
    "deflate-bomb": ("deflate", lambda: _bomb(zlib.MAX_WBITS)),
    "gzip-gzip": ("gzip, gzip", lambda: gzip.compress(gzip.compress(PAGE))),
    "br": ("br", lambda: PAGE),  # what it claims is never decoded, so plain bytes do
    "zstd": ("zstd", lambda: PAGE),
    "gzip": ("gzip", lambda: gzip.compress(PAGE)),
    "deflate": ("deflate", lambda: zlib.compress(PAGE)),
    "raw-deflate": ("deflate", lambda: _raw_deflate(PAGE)),
    "gzip-members": ("gzip", lambda: gzip.compress(PAGE[:_SPLIT]) + gzip.compress(PAGE[_SPLIT:])),
}


ACCEPT_ENCODINGS_SEEN: list[str] = []  # the Accept-Encoding of each request the server got


def _feed(base: str) -> bytes:
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Orbit Daily</title>
<item><title>Older</title><link>{base}/other</link><pubDate>Mon, 17 Mar 2025 08:00:00 GMT</pubDate></item>
<item><title>Crew home</title><link>/article</link><pubDate>Tue, 18 Mar 2025 21:57:00 GMT</pubDate></item>
<item><title>Broken</title><link>{base}/missing</link><pubDate>Sun, 16 Mar 2025 08:00:00 GMT</pubDate></item>
</channel></rss>""".encode()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        base = f"http://127.0.0.1:{self.server.server_port}"
        ACCEPT_ENCODINGS_SEEN.append(self.headers.get("Accept-Encoding", ""))
        if self.path.startswith("/encoded/"):
            encoding, body = ENCODED[self.path.removeprefix("/encoded/")]
            return self._send(200, body(), **{"Content-Encoding": encoding})
        if self.path.startswith("/slow-hop/"):  # each hop answers under the timeout; together they do not
            time.sleep(0.7)
            hops = int(self.path.removeprefix("/slow-hop/"))
            return self._send(302, b"", Location=f"/slow-hop/{hops - 1}" if hops > 1 else "/article")
        if self.path == "/slow-feed":
            links = "".join(f"<item><title>{n}</title><link>{base}/slow-article/{n}</link></item>"
                            for n in range(1, SLOW_ARTICLES + 1))
            return self._send(200, f"<?xml version='1.0'?><rss version='2.0'><channel><title>Slow</title>{links}"
                                   "</channel></rss>".encode(), "application/rss+xml")
        if self.path.startswith("/slow-article/"):
            time.sleep(SLOW_ARTICLE_S)
            return self._send(200, OTHER)
        routes = {
            "/article": lambda: self._send(200, PAGE),
            "/other": lambda: self._send(200, OTHER),
            "/feed": lambda: self._send(200, _feed(base), "application/rss+xml"),
            "/redirect": lambda: self._send(302, b"", Location="/article"),
            "/loop": lambda: self._send(302, b"", Location="/loop"),
            "/image": lambda: self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png"),
            "/to-private": lambda: self._send(302, b"", Location="http://10.1.2.3/secret"),
            "/tag-flood": lambda: self._send(200, b"<html><body>" + b"<p>x</p>" * 60_000 + b"</body></html>"),
        }
        if self.path == "/slow":
            time.sleep(3)
            return self._send(200, PAGE)
        if self.path == "/big":  # no Content-Length: the limit must hold while reading
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"<p>" + b"x" * 65_536 + b"</p>")
            return None
        routes.get(self.path, lambda: self._send(404, b"not here"))()
        return None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (a timeout under test) breaks the pipe; that is expected


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", fetch_timeout=1.0, fetch_max_mb=1.0, fetch_max_redirects=3)


def _one(server: str, path: str, folder: Path, settings: Settings) -> fetching.AddItem:
    report = fetch_urls([server + path], folder, settings=settings, allow_private=True)
    item, = report.items
    return item


def test_a_page_is_stored_as_html_and_reads_back_with_its_metadata(server: str, tmp_path: Path, settings: Settings):
    item = _one(server, "/article", tmp_path, settings)
    assert (item.status, item.documents) == ("ok", 1)
    assert item.path == "127-0-0-1-article.html" and (tmp_path / item.path).exists()
    doc, = load_corpus(tmp_path).documents
    assert "splashed down off the coast of Florida" in doc.text and "cookies" not in doc.text
    assert (doc.date, doc.outlet) == ("2025-03-18", "Orbit Daily")


def test_fetching_the_same_url_again_replaces_its_copy_but_never_another_file(server: str, tmp_path: Path,
                                                                              settings: Settings):
    (tmp_path / "127-0-0-1-article.html").write_text("<p>A different article the user saved.</p>")
    first = _one(server, "/article", tmp_path, settings)
    again = _one(server, "/article", tmp_path, settings)
    assert first.path == again.path == "127-0-0-1-article-2.html"
    assert (tmp_path / "127-0-0-1-article.html").read_text() == "<p>A different article the user saved.</p>"


def test_a_feed_fetches_its_entries_links_as_articles_newest_first(server: str, tmp_path: Path, settings: Settings):
    report = fetch_urls([server + "/feed"], tmp_path, settings=settings.model_copy(update={"fetch_max_feed_entries": 2}),
                        allow_private=True)
    feed, *articles = report.items
    assert feed.status == "ok" and "2 article links" in feed.reason
    assert [(a.url, a.status) for a in articles] == [(server + "/article", "ok"), (server + "/other", "ok")]
    assert all(a.feed == server + "/feed" for a in articles)
    assert sorted(d.date for d in load_corpus(tmp_path).documents) == ["2025-03-17", "2025-03-18"]


def test_a_broken_link_in_a_feed_is_one_failed_item(server: str, tmp_path: Path, settings: Settings):
    report = fetch_urls([server + "/feed"], tmp_path, settings=settings, allow_private=True)
    failed, = report.failed
    assert failed.url == server + "/missing" and "404" in failed.reason
    assert len(report.saved) == 2


@pytest.mark.parametrize("path, reason", [
    ("/missing", "the server answered 404"),
    ("/slow", "timed out after 1 s"),
    ("/big", "over the 1 MB limit"),
    ("/loop", "more than 3 redirects"),
    ("/image", "is image/png, not a web page or an RSS/Atom feed"),
    ("/tag-flood", "has more than 50,000 tags"),
])
def test_bad_urls_fail_with_a_reason_and_store_nothing(path: str, reason: str, server: str, tmp_path: Path,
                                                       settings: Settings):
    t0 = time.monotonic()
    item = _one(server, path, tmp_path, settings)
    assert item.status == "failed" and reason in item.reason
    assert not list(tmp_path.iterdir())
    assert time.monotonic() - t0 < 2.5


def test_a_redirect_is_followed(server: str, tmp_path: Path, settings: Settings):
    item = _one(server, "/redirect", tmp_path, settings)
    assert item.status == "ok" and item.path == "127-0-0-1-article.html"


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:9/article", "is a loopback address"),
    ("http://localhost:9/", "is a loopback address"),
    ("http://10.0.0.7/", "is a private address"),
    ("http://192.168.1.1/admin", "is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "is a link-local address"),
    ("http://[::1]/", "is a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "is a loopback address"),
    ("http://0.0.0.0/", "address"),
    ("file:///etc/passwd", "only http and https"),
    ("ftp://example.com/x", "only http and https"),
])
def test_local_and_private_addresses_are_refused_by_default(url: str, reason: str, tmp_path: Path):
    report = fetch_urls([url], tmp_path, settings=Settings(data_dir=tmp_path / "data"))
    item, = report.items
    assert item.status == "failed" and reason in item.reason


def test_a_redirect_to_a_private_address_is_refused(server: str, tmp_path: Path, settings: Settings,
                                                   monkeypatch: pytest.MonkeyPatch):
    """Each hop is checked: here the test server passes for public, the address it redirects to does not."""
    real = fetching.address_refusal
    monkeypatch.setattr(fetching, "address_refusal",
                        lambda ip: "" if ip == ipaddress.ip_address("127.0.0.1") else real(ip))
    item, = fetch_urls([server + "/to-private"], tmp_path, settings=settings).items
    assert item.status == "failed" and "10.1.2.3" in item.reason and "private" in item.reason


def test_the_setting_allows_private_addresses(server: str, tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", fetch_allow_private=True)
    item, = fetch_urls([server + "/article"], tmp_path, settings=settings).items
    assert item.status == "ok"


def test_progress_is_reported_per_url(server: str, tmp_path: Path, settings: Settings):
    seen: list[tuple[int, int]] = []
    fetch_urls([server + "/article", server + "/missing"], tmp_path, settings=settings, allow_private=True,
               progress=lambda done, total, what: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


@pytest.mark.model
def test_rag_add_fetches_a_feed_indexes_its_articles_and_reports_each_item(server: str, tmp_path: Path):
    """The real command: local server, real reader, real embedding model and Chroma."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "rag.cli", "add", server + "/feed", server + "/image",
                             "--folder", str(tmp_path / "corpus"), "--allow-private", "--json"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    statuses = [(i["url"].removeprefix(server), i["status"]) for i in report["items"]]
    assert statuses == [("/feed", "ok"), ("/article", "ok"), ("/other", "ok"), ("/missing", "failed"),
                        ("/image", "failed")]
    assert report["index"]["added"] == 2
    refused = subprocess.run([sys.executable, "-m", "rag.cli", "add", server + "/article",
                              "--folder", str(tmp_path / "corpus2")], capture_output=True, text=True, env=env,
                             timeout=600)
    assert refused.returncode == 1 and "loopback" in refused.stderr and "Traceback" not in refused.stderr


# --- bounded memory: bodies are inflated by this module, never past the size limit ---

@pytest.mark.parametrize("name", ["gzip-bomb", "deflate-bomb"])
def test_a_compression_bomb_is_refused_at_the_size_limit_without_being_inflated(name: str, server: str,
                                                                                tmp_path: Path, settings: Settings):
    """64 KB that inflate to 64 MB: refused at 1 MB, and the 64 MB never exist (httpx inflated each read whole)."""
    ENCODED[name][1]()  # build the bomb before measuring
    tracemalloc.start()
    try:
        item = _one(server, f"/encoded/{name}", tmp_path, settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert item.status == "failed" and "over the 1 MB limit (RAG_FETCH_MAX_MB)" in item.reason
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB"


@pytest.mark.parametrize("name, reason", [
    ("gzip-gzip", "its body is compressed 2 times over (Content-Encoding: gzip, gzip); only one layer"),
    ("br", "its body is compressed with 'br', which is not accepted (only gzip or deflate"),
    ("zstd", "its body is compressed with 'zstd', which is not accepted"),
])
def test_chained_and_unbounded_encodings_are_refused_with_their_name(name: str, reason: str, server: str,
                                                                     tmp_path: Path, settings: Settings):
    item = _one(server, f"/encoded/{name}", tmp_path, settings)
    assert item.status == "failed" and reason in item.reason
    assert not list(tmp_path.iterdir())


def test_the_request_asks_only_for_encodings_it_can_bound(server: str, tmp_path: Path, settings: Settings):
    ACCEPT_ENCODINGS_SEEN.clear()
    item = _one(server, "/article", tmp_path, settings)
    assert item.status == "ok"
    assert ACCEPT_ENCODINGS_SEEN == ["gzip, deflate"]


@pytest.mark.parametrize("name", ["gzip", "deflate", "raw-deflate", "gzip-members"])
def test_a_page_with_one_layer_of_gzip_or_deflate_reads_back_whole(name: str, server: str, tmp_path: Path,
                                                                   settings: Settings):
    """Deflate with or without its zlib wrapper (servers send both); gzip in several members, all of them."""
    item = _one(server, f"/encoded/{name}", tmp_path, settings)
    assert item.status == "ok", item.reason
    assert (tmp_path / item.path).read_bytes().endswith(PAGE)
    doc, = load_corpus(tmp_path).documents
    assert "splashed down off the coast of Florida" in doc.text


# --- bounded time: one deadline per URL, one budget per feed ---

@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Answers with a status line, then its headers one byte every 0.1 s for 10 s: no read ever waits 1 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65_536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Trickle: ")
                for _ in range(100):
                    if stop.is_set():
                        return
                    conn.sendall(b"a")
                    time.sleep(0.1)
                conn.sendall(b"\r\nContent-Length: %d\r\n\r\n%b" % (len(PAGE), PAGE))
            except OSError:
                return  # the client gave up

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def test_headers_trickling_in_time_out_at_the_deadline(trickling_server: str, tmp_path: Path, settings: Settings):
    t0 = time.monotonic()
    item = _one(trickling_server, "/article", tmp_path, settings)
    assert time.monotonic() - t0 < 1.6
    assert item.status == "failed" and "1 s (RAG_FETCH_TIMEOUT)" in item.reason


def test_redirect_hops_share_the_urls_deadline(server: str, tmp_path: Path, settings: Settings):
    """Three hops of 0.7 s each: every one is under the 1 s timeout, together they are not."""
    t0 = time.monotonic()
    item = _one(server, "/slow-hop/3", tmp_path, settings)
    assert time.monotonic() - t0 < 1.6
    assert item.status == "failed" and "1 s (RAG_FETCH_TIMEOUT)" in item.reason


def test_a_host_name_that_resolves_slowly_times_out_at_the_deadline(server: str, tmp_path: Path,
                                                                    settings: Settings,
                                                                    monkeypatch: pytest.MonkeyPatch):
    """The system resolver stands in for a slow DNS server (none can be run locally without root)."""
    real = socket.getaddrinfo

    def slow_getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        if host == "slow-dns.test":
            time.sleep(3)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    port = server.rsplit(":", 1)[1]
    t0 = time.monotonic()
    item, = fetch_urls([f"http://slow-dns.test:{port}/article"], tmp_path, settings=settings,
                       allow_private=True).items
    assert time.monotonic() - t0 < 1.6
    assert item.status == "failed" and "1 s (RAG_FETCH_TIMEOUT)" in item.reason


def test_a_feeds_articles_share_one_time_budget(server: str, tmp_path: Path, settings: Settings):
    """Eight links of 0.7 s each (5.6 s in all) against a budget of 3 x the 1 s timeout for all of them."""
    t0 = time.monotonic()
    report = fetch_urls([server + "/slow-feed"], tmp_path, settings=settings, allow_private=True)
    took = time.monotonic() - t0
    assert took < 4.5
    assert fetching.FEED_BUDGET_TIMEOUTS == 3
    feed, *articles = report.items
    assert feed.status == "ok" and len(articles) == SLOW_ARTICLES
    assert [a.status for a in articles[:3]] == ["ok"] * 3
    assert articles[-1].status == "failed"
    assert articles[-1].reason == "not fetched: the feed's articles took their 3 s in all (3 x RAG_FETCH_TIMEOUT)"


# --- addresses that embed an IPv4 address are judged by it ---

@pytest.mark.parametrize("url, reason", [
    ("http://[2002:a9fe:a9fe::1]/latest/meta-data/",
     "is a link-local address (2002:a9fe:a9fe::1, which stands for 169.254.169.254)"),
    ("http://[2002:7f00:1::1]/", "is a loopback address (2002:7f00:1::1, which stands for 127.0.0.1)"),
    ("http://[2002:a00:1::1]/", "is a private address"),
    # Teredo: server 65.54.227.120 (public), client 127.0.0.1 (stored inverted in the last 32 bits)
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "is a loopback address"),
])
def test_6to4_and_teredo_addresses_are_judged_by_the_ipv4_they_embed(url: str, reason: str, tmp_path: Path):
    item, = fetch_urls([url], tmp_path, settings=Settings(data_dir=tmp_path / "data")).items
    assert item.status == "failed" and reason in item.reason
