"""Reading files: each supported type becomes a document with its article's metadata; bad files are named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.ingest.documents import MAX_TITLE_CHARS, SourceDocument, load_corpus, normalise_date

from ..factories import DATA

NEWS_PAGE = DATA / "news" / "starliner-page.html"


def test_markdown_front_matter_gives_title_outlet_date_url_and_authors(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: Kyiv talks\nsource: Reuters\ndate: 2024-03-01\n"
                                   "url: https://example.com/kyiv\nauthors: [Ann Lee, Bo Chen]\n---\n\nBody text here.\n")
    doc, = load_corpus(tmp_path).documents
    assert (doc.title, doc.outlet, doc.date, doc.url, doc.authors, doc.text, doc.source) == (
        "Kyiv talks", "Reuters", "2024-03-01", "https://example.com/kyiv", ("Ann Lee", "Bo Chen"), "Body text here.", "a.md")


def test_markdown_without_front_matter_takes_its_heading_as_title(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# A heading\n\nSome text.")
    doc, = load_corpus(tmp_path).documents
    assert doc.title == "A heading" and doc.doc_id == "b.md" and doc.date == ""


def test_saved_news_page_keeps_the_article_and_drops_banner_menu_and_related_links(tmp_path: Path) -> None:
    shutil.copy(NEWS_PAGE, tmp_path / "page.html")
    result = load_corpus(tmp_path)
    doc, = result.documents
    assert "splashed down off the coast of Florida" in doc.text
    assert "redesigned" in doc.text  # the last paragraph
    for boilerplate in ("cookies", "Subscribe", "Sport", "Related stories", "moon-themed", "All rights reserved",
                        "ANALYTICS_SECRET_TOKEN", "position: fixed"):
        assert boilerplate not in doc.text, boilerplate
    assert doc.title == "Starliner crew back on Earth after nine months"  # not the "| Orbit Daily" <title>
    assert (doc.date, doc.outlet, doc.authors) == ("2025-03-18", "Orbit Daily", ("Dana Whitfield",))
    assert doc.url == "https://orbitdaily.example/2025/03/18/starliner-crew-returns"
    assert not result.warnings


def test_html_with_no_article_is_read_as_visible_text_and_reported(tmp_path: Path) -> None:
    (tmp_path / "c.html").write_text("<html><head><title>Page</title><style>p{}</style></head>"
                                     "<body><h1>Head</h1><p>Visible words.</p><script>alert(1)</script></body></html>")
    result = load_corpus(tmp_path)
    doc, = result.documents
    assert "Visible words." in doc.text and "alert" not in doc.text and "p{}" not in doc.text
    assert doc.title in ("Page", "Head")


def test_hostile_html_is_inert_bounded_and_reported(tmp_path: Path) -> None:
    """Scripts, event handlers, a 2 MB attribute, a 5,000-character title and unclosed markup."""
    (tmp_path / "hostile.html").write_text(
        f'<html><head><title>{"T" * 5000}</title><script>steal("PWNED-SCRIPT")</script></head>'
        f'<body onload="evil(\'PWNED-ONLOAD\')"><div data-blob="{"x" * 2_000_000}">'
        "<p>Council approves the new river bridge after a long debate about costs and traffic."
        "<img src=x onerror=\"alert('PWNED-ONERROR')\"><b><i>unclosed <table><tr><td>cell</div></p>"
        '<style>body{content:"PWNED-STYLE"}</style><iframe src="javascript:alert(1)">PWNED-IFRAME</iframe>'
        "<svg><script>PWNED-SVG</script></svg><noscript>PWNED-NOSCRIPT</noscript></body>")
    result = load_corpus(tmp_path)
    doc, = result.documents
    assert "Council approves the new river bridge" in doc.text
    assert "PWNED" not in doc.text + doc.title and "xxxxxxxxxx" not in doc.text
    assert len(doc.title) <= MAX_TITLE_CHARS + 1
    assert [w.reason for w in result.warnings] == [f"title was 5000 characters; cut to {MAX_TITLE_CHARS}"]


@pytest.mark.parametrize("markup", ["<html><body><p>Unclosed <b>bold <i>and <div>nested",
                                    "<<<>>><p>Half a tag <a href='", "<p>" * 20_000 + "Deep news text."])
def test_malformed_html_never_raises(markup: str, tmp_path: Path) -> None:
    (tmp_path / "bad.html").write_text(markup)
    result = load_corpus(tmp_path)
    assert len(result.documents) + len(result.problems) == 1


def test_jsonl_rows_are_namespaced_by_their_file_and_carry_news_metadata(tmp_path: Path) -> None:
    rows = [{"_id": "41", "title": "T1", "text": "First.", "date": "2025-01-17", "source": "CNN",
             "url": "https://cnn.example/1", "authors": ["Ann Lee"]},
            {"_id": "42", "title": "T2", "text": "Second."}]
    (tmp_path / "news.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    result = load_corpus(tmp_path)
    assert [d.doc_id for d in result.documents] == ["news.jsonl#41", "news.jsonl#42"]
    first = result.documents[0]
    assert (first.date, first.outlet, first.url, first.authors, first.source) == (
        "2025-01-17", "CNN", "https://cnn.example/1", ("Ann Lee",), "news.jsonl#41")
    assert [str(p) for p in result.problems] == ["news.jsonl:3: not a BEIR line with '_id' and 'text' (JSONDecodeError)"]


def test_a_duplicate_id_inside_a_jsonl_file_is_a_reported_failure_for_that_line(tmp_path: Path) -> None:
    rows = [{"_id": "a", "text": "The original."}, {"_id": "b", "text": "Other."}, {"_id": "a", "text": "Impostor."}]
    (tmp_path / "news.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    result = load_corpus(tmp_path)
    assert [d.text for d in result.documents] == ["The original.", "Other."]
    problem, = result.problems
    assert problem.path == "news.jsonl:3" and "duplicate _id 'a' (first on line 1)" in problem.reason


def test_no_row_can_take_the_id_of_another_files_document(tmp_path: Path) -> None:
    (tmp_path / "seed.md").write_text("# Seed\n\nUmerov requested artillery.")
    (tmp_path / "news.jsonl#x.md").write_text("# Real file\n\nA file whose name looks like a row id.")
    (tmp_path / "news.jsonl").write_text(json.dumps({"_id": "x.md", "text": "Forged."}) + "\n"
                                         + json.dumps({"_id": "seed.md", "text": "Also forged."}))
    result = load_corpus(tmp_path)
    by_id = {d.doc_id: d.text for d in result.documents}
    assert by_id["seed.md"].endswith("Umerov requested artillery.")
    assert by_id["news.jsonl#x.md"].endswith("A file whose name looks like a row id.")
    assert by_id["news.jsonl#seed.md"] == "Also forged."  # namespaced: no clash with seed.md
    assert [p.path for p in result.problems] == ["news.jsonl#x.md"]
    assert "already used by news.jsonl#x.md" in result.problems[0].reason


def test_txt_takes_its_date_and_title_from_a_dated_file_name(tmp_path: Path) -> None:
    (tmp_path / "2025-03-18-starliner.txt").write_text("The crew returned.")
    (tmp_path / "notes-2025.txt").write_text("Undated.")
    docs = {d.doc_id: d for d in load_corpus(tmp_path).documents}
    assert (docs["2025-03-18-starliner.txt"].date, docs["2025-03-18-starliner.txt"].title) == ("2025-03-18", "Starliner")
    assert docs["notes-2025.txt"].date == ""


RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Orbit Daily</title><link>https://orbitdaily.example/</link>
<item><title>Starliner crew home</title><link>https://orbitdaily.example/a</link><guid>orbit-1</guid>
  <pubDate>Tue, 18 Mar 2025 21:57:00 GMT</pubDate><author>news@orbitdaily.example (Dana Whitfield)</author>
  <description>&lt;p&gt;The crew &lt;b&gt;splashed down&lt;/b&gt; off Florida.&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</description></item>
<item><title>Launch delayed</title><link>https://orbitdaily.example/b</link>
  <pubDate>Mon, 17 Mar 2025 08:00:00 GMT</pubDate><description>Weather delayed the launch.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Harbour News</title><id>urn:h</id><updated>2025-02-01T00:00:00Z</updated>
<entry><title>Ferry returns</title><id>urn:h:1</id><link href="https://harbour.example/1"/>
<published>2025-02-01T09:00:00Z</published><updated>2025-02-02T09:00:00Z</updated>
<content type="html">&lt;p&gt;The ferry is back in service.&lt;/p&gt;</content></entry></feed>"""


def test_rss_entries_become_documents_with_link_date_and_the_feed_as_outlet(tmp_path: Path) -> None:
    (tmp_path / "orbit.rss").write_text(RSS)
    result = load_corpus(tmp_path)
    first, second = result.documents
    assert (first.doc_id, first.title, first.date, first.outlet, first.url) == (
        "orbit.rss#orbit-1", "Starliner crew home", "2025-03-18", "Orbit Daily", "https://orbitdaily.example/a")
    assert first.text == "The crew splashed down off Florida." and "x()" not in first.text
    assert second.doc_id == "orbit.rss#https://orbitdaily.example/b" and second.date == "2025-03-17"
    assert not result.problems


def test_atom_feed_in_an_xml_file_is_read_and_other_xml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "harbour.xml").write_text(ATOM)
    (tmp_path / "sitemap.xml").write_text("<?xml version='1.0'?><urlset><url>x</url></urlset>")
    result = load_corpus(tmp_path)
    doc, = result.documents
    assert (doc.doc_id, doc.date, doc.outlet, doc.url, doc.text) == (
        "harbour.xml#urn:h:1", "2025-02-01", "Harbour News", "https://harbour.example/1", "The ferry is back in service.")
    assert [p.path for p in result.problems] == ["sitemap.xml"] and "not an RSS/Atom feed" in result.problems[0].reason


@pytest.mark.parametrize("written, expected", [
    ("2025-03-18", "2025-03-18"), ("2025-03-18T21:57:00-05:00", "2025-03-18"), ("March 18, 2025", "2025-03-18"),
    ("18 March 2025", "2025-03-18"), ("Tue, 18 Mar 2025 21:57:00 GMT", "2025-03-18"), ("", ""), (None, ""),
    ("March 2025", None), ("soon", None), ("2025-02-30", None), ("2025", None),
])
def test_dates_are_normalised_or_refused_never_completed(written: object, expected: str | None) -> None:
    assert normalise_date(written) == expected


def test_an_unreadable_date_is_left_empty_and_reported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ndate: sometime in spring\n---\n\nText.")
    result = load_corpus(tmp_path)
    assert result.documents[0].date == ""
    assert "date 'sometime in spring' could not be read" in result.warnings[0].reason


def test_yaml_alias_bomb_in_front_matter_is_refused(tmp_path: Path) -> None:
    bomb = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
            'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ntitle: [*d,*d,*d,*d,*d,*d,*d,*d,*d]')
    (tmp_path / "bomb.md").write_text(f"---\n{bomb}\n---\n\nBody.")
    (tmp_path / "ok.md").write_text("Fine.")
    result = load_corpus(tmp_path)
    assert [d.doc_id for d in result.documents] == ["ok.md"]
    assert result.problems[0].path == "bomb.md" and "aliases" in result.problems[0].reason


def test_a_long_title_is_cut_and_reported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: " + "word " * 1000 + "\n---\n\nBody.")
    rows = [{"_id": "1", "text": "Body.", "title": "x" * 21_000, "source": "o" * 500, "authors": ["a"] * 50}]
    (tmp_path / "b.jsonl").write_text(json.dumps(rows[0]))
    result = load_corpus(tmp_path)
    assert all(len(d.title) <= MAX_TITLE_CHARS + 1 for d in result.documents)
    row = next(d for d in result.documents if d.doc_id == "b.jsonl#1")
    assert len(row.outlet) <= 101 and len(row.authors) == 10
    assert {(w.path, w.reason.split(" was")[0]) for w in result.warnings} == {
        ("a.md", "title"), ("b.jsonl#1", "title"), ("b.jsonl#1", "outlet"), ("b.jsonl#1", "50 authors; kept the first 10")}


def test_content_hash_changes_when_the_date_is_corrected() -> None:
    a = SourceDocument(doc_id="d", text="t", date="2025-03-17")
    assert a.content_hash != SourceDocument(doc_id="d", text="t", date="2025-03-18").content_hash


def test_unreadable_files_are_reported_by_name_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Fine text.")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    result = load_corpus(tmp_path)
    assert [d.doc_id for d in result.documents] == ["good.txt"]
    reasons = {p.path: p.reason for p in result.problems}
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "empty" in reasons["empty.md"]
    assert "PDF" in reasons["scan.pdf"]
    assert "unsupported" in reasons["image.png"]


def test_files_over_the_size_limit_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 3_000_000)
    result = load_corpus(tmp_path, max_file_mb=1)
    assert not result.documents and "over the 1 MB limit" in result.problems[0].reason


def test_hidden_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "a.txt").write_text("Text.")
    result = load_corpus(tmp_path)
    assert [d.doc_id for d in result.documents] == ["a.txt"] and not result.problems


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    from ..factories import write_text_pdf

    write_text_pdf(tmp_path / "doc.pdf", "Umerov asked for artillery.")
    doc, = load_corpus(tmp_path).documents
    assert "Umerov asked for artillery." in doc.text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_saved_with_a_byte_order_mark_is_decoded_by_it(encoding: str, tmp_path: Path) -> None:
    """Windows editors save "Unicode" text as UTF-16 with a mark; it was refused as binary."""
    text = "Zelensky met Umerov in Kyiv — talks went on."

    def encoded(s: str) -> bytes:  # the -be codec writes no mark of its own
        return (b"\xfe\xff" if encoding == "utf-16-be" else b"") + s.encode(encoding)

    (tmp_path / "note.txt").write_bytes(encoded(text))
    (tmp_path / "rows.jsonl").write_bytes(encoded(json.dumps({"_id": "1", "text": text})))
    result = load_corpus(tmp_path)
    assert not result.problems
    assert [d.text for d in result.documents] == [text, text]


def test_a_pdf_encrypted_with_an_empty_user_password_is_read(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    from ..factories import write_text_pdf

    write_text_pdf(tmp_path / "plain.pdf", "Umerov asked for artillery.")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for algorithm, password in [("AES-256", ""), ("AES-128", ""), ("AES-256", "secret")]:
        writer = PdfWriter(clone_from=str(tmp_path / "plain.pdf"))
        writer.encrypt(user_password=password, owner_password="owner", algorithm=algorithm)
        writer.write(str(corpus / f"{algorithm}-{password or 'open'}.pdf"))
    result = load_corpus(corpus)
    assert {d.doc_id: d.text for d in result.documents} == {"AES-128-open.pdf": "Umerov asked for artillery.",
                                                           "AES-256-open.pdf": "Umerov asked for artillery."}
    problem, = result.problems
    assert problem.path == "AES-256-secret.pdf" and "password" in problem.reason


def test_a_linked_folder_outside_the_corpus_is_reported_and_one_inside_is_not(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("Not part of the corpus.")
    corpus = tmp_path / "corpus"
    (corpus / "real").mkdir(parents=True)
    (corpus / "real" / "a.txt").write_text("Inside text.")
    (corpus / "out-link").symlink_to(outside, target_is_directory=True)
    (corpus / "in-link").symlink_to(corpus / "real", target_is_directory=True)
    result = load_corpus(corpus)
    assert [d.doc_id for d in result.documents] == ["real/a.txt"]
    problem, = result.problems
    assert problem.path == "out-link/" and "link to a folder outside" in problem.reason


@pytest.mark.parametrize("markdown, title", [
    ("# Kyiv talks ##\n\nBody.", "Kyiv talks"), ("Intro.\n\n#   Kyiv talks   \nBody.", "Kyiv talks"),
    ("# Issue #5 of the C# weekly\nBody.", "Issue #5 of the C# weekly"),
    ("#\n\nNot a heading.", "Note"), ("#hashtag\nBody.", "Note"), ("## Sub only\nBody.", "Note"),
])
def test_the_first_level_one_heading_is_the_title(markdown: str, title: str, tmp_path: Path) -> None:
    (tmp_path / "note.md").write_text(markdown)
    doc, = load_corpus(tmp_path).documents
    assert doc.title == title
