"""Reading files: each supported type becomes a document; unreadable files are named and skipped."""

from __future__ import annotations

import json
from pathlib import Path

from rag.documents import load_corpus


def test_markdown_front_matter_gives_title_source_and_date(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: Kyiv talks\nsource: Reuters\ndate: 2024-03-01\n---\n\nBody text here.\n")
    doc, = load_corpus(tmp_path).documents
    assert (doc.title, doc.source, doc.date, doc.text) == ("Kyiv talks", "Reuters", "2024-03-01", "Body text here.")


def test_markdown_without_front_matter_takes_its_heading_as_title(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# A heading\n\nSome text.")
    doc, = load_corpus(tmp_path).documents
    assert doc.title == "A heading" and doc.doc_id == "b.md"


def test_html_keeps_only_visible_text(tmp_path: Path) -> None:
    (tmp_path / "c.html").write_text("<html><head><title>Page</title><style>p{}</style></head>"
                                     "<body><h1>Head</h1><p>Visible words.</p><script>alert(1)</script></body></html>")
    doc, = load_corpus(tmp_path).documents
    assert doc.title == "Page"
    assert "Visible words." in doc.text and "alert" not in doc.text and "p{}" not in doc.text


def test_beir_jsonl_lines_become_documents_with_their_ids(tmp_path: Path) -> None:
    rows = [{"_id": "41", "title": "T1", "text": "First."}, {"_id": "42", "title": "T2", "text": "Second."}]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    result = load_corpus(tmp_path)
    assert [d.doc_id for d in result.documents] == ["41", "42"]
    assert [str(p) for p in result.problems] == ["corpus.jsonl:3: not a BEIR line with '_id' and 'text' (JSONDecodeError)"]


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
    from .pdfs import write_text_pdf

    write_text_pdf(tmp_path / "doc.pdf", "Umerov asked for artillery.")
    doc, = load_corpus(tmp_path).documents
    assert "Umerov asked for artillery." in doc.text
