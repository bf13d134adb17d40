"""`rag add`: pages and feeds fetched from a local HTTP server into the corpus folder, within limits.

The server runs on 127.0.0.1, so these tests switch `allow_private` on, except those that check
that loopback and private addresses are refused by default.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag import fetching
from rag.documents import load_corpus
from rag.fetching import fetch_urls
from rag.settings import Settings

PAGE = (Path(__file__).parent / "data" / "news" / "starliner-page.html").read_bytes()
OTHER = (b"<html><head><title>Launch delayed | Orbit Daily</title><meta property='og:site_name' content='Orbit Daily'>"
         b"<meta property='article:published_time' content='2025-03-17'></head><body><article><h1>Launch delayed</h1>"
         + b"<p>High winds over the Cape delayed the launch of the weather satellite by one day, officials said.</p>" * 4
         + b"</article></body></html>")


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
        routes = {
            "/article": lambda: self._send(200, PAGE),
            "/other": lambda: self._send(200, OTHER),
            "/feed": lambda: self._send(200, _feed(base), "application/rss+xml"),
            "/redirect": lambda: self._send(302, b"", Location="/article"),
            "/loop": lambda: self._send(302, b"", Location="/loop"),
            "/image": lambda: self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png"),
            "/to-private": lambda: self._send(302, b"", Location="http://10.1.2.3/secret"),
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


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
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
