"""The chat page end to end in headless Chromium: real page, real model, real index.

One served app for the module, on a temporary data directory indexed from a copy of corpus/ (the
upload tests add files to that copy, never to the repository's corpus/). Screenshots go to
tests/artifacts/ (git-ignored); the README's docs/screenshot.png is chosen from them by hand.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag import Assistant, Settings

from ..factories import ARTIFACTS, CORPUS, seed_corpus, served_page, write_article

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ANSWER_TIMEOUT_MS = 300_000
# Answers are short spans; this one (a date) is several tokens long, so its streaming can be watched.
SEED = "From when did Ukraine say it was interested in receiving foreign instructors?"
NONSENSE = "zqxv blorf wugga snarp?"
WORDS = ("wind north east south west rain tide ferry harbour pilot crane cargo gull fog swell buoy quay mooring "
         "dredger tug lock gate beacon signal berth pier jetty hull keel anchor chain rope net trawler coaster "
         "schooner ketch dinghy oar sail mast boom").split()  # matches no passage: refused without asking the model

HOSTILE = """---
title: "Glimmerfield <b>lantern</b> festival"
source: "<img src=x onerror=window.__pwned=1>"
---

The Glimmerfield lantern festival was organised by Dora Pettigrew in the town of Ashcombe.
Organisers posted a note: <script>window.__pwned = 1</script> and an image <img src="x" onerror="window.__pwned=1"> for visitors.
Template text ${window.__pwned=1} and {{value}} stays as typed.
About four thousand visitors attended the festival this year.
"""
NEW_ARTICLE = """---
title: "Larkspur community orchard"
source: "uploaded in a test"
---

The Larkspur community orchard was planted by volunteers led by the gardener Imogen Vasquez.
It holds two hundred apple trees and opens to visitors every Saturday.
"""


@pytest.fixture(scope="module")
def served(seed_assistant: Assistant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Assistant]]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make browser` (apt-get install chromium).")
    root = tmp_path_factory.mktemp("ui-browser")
    corpus = seed_corpus(root / "corpus")
    settings = Settings(data_dir=root / "data", corpus_dir=corpus)
    assistant = Assistant(settings, llm=seed_assistant.chain.llm)  # the session's loaded model, not a second one
    assistant.index(corpus)
    with served_page(assistant, settings) as (url, _):
        yield url, assistant


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True).new_page()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#question textarea")
    return page


def finished(page: Any) -> int:
    return page.locator("#chat .answer-meta, #chat .answer-error").count()


def ask(page: Any, question: str) -> Any:
    """Type and send a question; return the finished answer's element."""
    before = finished(page)
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"document.querySelectorAll('#chat .answer-meta, #chat .answer-error').length > {before}",
                           timeout=ANSWER_TIMEOUT_MS, polling=200)
    return page.locator("#chat .answer").last


def reindex(page: Any) -> str:
    page.get_by_role("tab", name="Corpus").click()
    page.click("#reindex")
    page.wait_for_selector("#index-report .report-table", timeout=ANSWER_TIMEOUT_MS)
    return page.inner_text("#index-report")


def upload(page: Any, path: Path) -> str:
    page.get_by_role("tab", name="Corpus").click()
    page.set_input_files("#upload input[type=file]", [str(path)])
    page.wait_for_function(f"document.querySelector('#upload-report') && "
                           f"document.querySelector('#upload-report').innerText.includes({path.name!r})", timeout=60_000)
    return page.inner_text("#upload-report")


def in_view(page: Any, element_id: str) -> bool:
    """Whether the element is displayed inside the visible part of the sources panel and the window."""
    return page.evaluate("""(id) => {
        const el = document.getElementById(id);
        if (!el || el.offsetParent === null) return false;
        const box = el.getBoundingClientRect(), panel = document.getElementById("sources").getBoundingClientRect();
        const top = Math.max(0, panel.top), bottom = Math.min(window.innerHeight, panel.bottom);
        return box.top >= top - 1 && box.top < bottom - 20;
    }""", element_id)


@pytest.fixture(scope="module")
def answered(served: tuple[str, Assistant], browser: Any) -> tuple[Any, list[str]]:
    """A page that asked the seed question, and the answer text as it was seen while streaming."""
    page = open_page(browser, served[0])
    page.fill("#question textarea", SEED)
    page.press("#question textarea", "Enter")
    seen: list[str] = []
    deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
    while not finished(page) and time.monotonic() < deadline:
        # One read in the page: the streaming element is replaced by the final answer at any moment.
        text = page.evaluate("() => { const e = [...document.querySelectorAll('#chat .answer-text.streaming')].pop();"
                             " return e ? e.innerText : ''; }")
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        time.sleep(0.05)
    assert finished(page), "no answer within the time limit"
    return page, seen


def test_answer_streams_in_as_it_is_written(answered: tuple[Any, list[str]]):
    page, seen = answered
    assert len(seen) >= 2, seen
    assert all(len(a) < len(b) for a, b in zip(seen, seen[1:])), seen
    final = page.locator("#chat .answer-text").last.inner_text()
    assert final.startswith(seen[0][:3]) and len(final) >= len(seen[-1])


def test_answer_shows_its_source_passage_highlighted_in_the_article(answered: tuple[Any, list[str]]):
    page, _ = answered
    assert page.locator("#chat .answer").last.locator("a.cite").count() >= 1
    card = page.locator("#sources .turn-sources.active .source-card").first
    assert "French instructors in Ukraine" in card.locator(".card-title").inner_text()
    assert re.search(r"score 0\.\d{4}", card.locator(".card-meta").inner_text())
    article = " ".join((CORPUS / "french-instructors-ukraine.md").read_text().split())
    marks = card.locator("mark.cited").all_inner_texts()  # the supporting sentences (or the whole passage)
    assert marks and sum(len(m) for m in marks) > 40, marks
    assert all(" ".join(m.split()) in article for m in marks), marks
    assert card.locator(".context").count() == 2  # surrounding text on both sides
    assert re.search(r"·\s*(undated|\d{1,2} \w+ \d{4})", card.locator(".card-byline").inner_text())
    meta = page.locator("#chat .answer-meta").last.inner_text()
    assert re.search(r"retrieval .+ · first token .+ · total .+ · qwen", meta), meta
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-answer.png"))


def test_conversation_downloads_as_markdown_with_its_sources(answered: tuple[Any, list[str]]):
    page, _ = answered
    page.get_by_text("Copy or download the conversation").click()
    markdown = page.locator("#export-markdown textarea").input_value()
    assert markdown.startswith("# Conversation with the news assistant")
    assert f"## 1. {SEED}" in markdown and "**Sources**" in markdown and "French instructors in Ukraine" in markdown
    with page.expect_download() as download:
        page.click("#download")
    assert Path(download.value.path()).read_text(encoding="utf-8") == markdown


def test_follow_up_uses_the_conversation_and_shows_the_rewritten_question(served: tuple[str, Assistant], browser: Any):
    page = open_page(browser, served[0])
    ask(page, "What did Umerov request?")
    answer = ask(page, "Who did he ask?")
    searched = answer.locator(".searched")
    assert searched.count() == 1, answer.inner_html()
    rewritten = searched.inner_text().removeprefix("Searched for:").strip().strip("“”\"")
    # Only a conversation can make the core rewrite a question, so the line itself shows the history was used.
    assert rewritten and rewritten != "Who did he ask?", rewritten
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-follow-up.png"))


def test_another_session_does_not_see_this_conversation(served: tuple[str, Assistant], browser: Any,
                                                        answered: tuple[Any, list[str]]):
    assert finished(answered[0]) >= 1  # a conversation exists in another session
    page = open_page(browser, served[0])
    answer = ask(page, "Who did he ask?")
    assert answer.locator(".searched").count() == 0, answer.inner_html()  # no history: nothing to rewrite with
    assert page.locator("#chat .user-text").count() == 1


def test_clicking_a_citation_or_source_entry_brings_its_passage_into_view(answered: tuple[Any, list[str]]):
    page, _ = answered
    first_answer = page.locator("#chat .answer").first
    n = first_answer.locator("a.cite").first.inner_text().strip("[]")
    for link in (first_answer.locator("a.cite").first, first_answer.locator("a.source-entry").first):
        # Put the panel in the state a later answer leaves it in: the first answer's sources hidden.
        page.evaluate("""() => {
            document.querySelectorAll('#sources .turn-sources').forEach(g => g.classList.remove('active'));
            document.querySelectorAll('#sources .flash').forEach(c => c.classList.remove('flash'));
            document.getElementById('sources').scrollTop = 0;
        }""")
        assert not in_view(page, f"src-0-{n}")
        link.click()
        page.wait_for_function(f"document.getElementById('src-0-{n}').classList.contains('flash')", timeout=5000)
        page.wait_for_timeout(800)  # smooth scrolling
        assert in_view(page, f"src-0-{n}")
        assert "active" in (page.get_attribute("#sources-t0", "class") or "")
        assert page.url.endswith("/")  # handled in the page; the address does not change


def test_refusal_shows_no_sources_and_says_so(served: tuple[str, Assistant], browser: Any):
    page = open_page(browser, served[0])
    answer = ask(page, NONSENSE)
    assert answer.locator(".answer-text").inner_text().startswith("Not found in the indexed articles.")
    assert "No sources: the indexed articles do not answer this question." in answer.inner_text()
    assert answer.locator("a.cite, a.source-entry").count() == 0
    assert page.locator("#sources .source-card").count() == 0
    assert "No sources" in page.inner_text("#sources")


def test_too_long_a_question_is_refused_with_the_limit_and_kept_for_editing(served: tuple[str, Assistant],
                                                                           browser: Any):
    page = open_page(browser, served[0])
    question = "Why? " * 500
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.locator("#chat .answer-error").wait_for(timeout=10_000)
    assert "the limit is 2000" in page.inner_text("#chat .answer-error")
    assert page.locator("#chat .user-text").count() == 0  # nothing was asked
    assert page.locator("#question textarea").input_value() == question


def test_a_waiting_chat_shows_its_place_in_the_queue(served: tuple[str, Assistant], browser: Any):
    first, second = open_page(browser, served[0]), open_page(browser, served[0])
    first.fill("#question textarea", "What did Syrskyi sign?")
    first.press("#question textarea", "Enter")
    first.wait_for_function("/Searching|Writing/.test(document.querySelector('#chat').innerText) || "
                            "document.querySelector('#chat .answer-text.streaming')", timeout=120_000)  # being answered
    second.fill("#question textarea", NONSENSE)
    second.press("#question textarea", "Enter")
    second.wait_for_function("[...document.querySelectorAll('#chat .progress-text')].some(e => /queue:/.test(e.innerText))",
                             timeout=30_000)
    position = second.locator("#chat .progress-text").first.inner_text()
    assert re.match(r"queue: 1/\d+", position), position
    assert "Waiting for the model" in second.inner_text("#chat")
    second.wait_for_selector("#chat .answer-meta", timeout=ANSWER_TIMEOUT_MS)  # and then it is answered
    first.wait_for_selector("#chat .answer-meta", timeout=ANSWER_TIMEOUT_MS)


def test_uploaded_article_is_indexed_and_answerable(served: tuple[str, Assistant], browser: Any, tmp_path: Path):
    page = open_page(browser, served[0])
    path = tmp_path / "larkspur orchard.md"
    path.write_text(NEW_ARTICLE)
    report = upload(page, path)
    assert "saved" in report and "larkspur orchard.md" in report
    indexed = reindex(page)
    assert re.search(r"larkspur orchard\.md\s+added\s+\d", indexed), indexed
    assert "added" in page.inner_text("#index-report")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "corpus-tab.png"))
    page.get_by_role("tab", name="Chat").click()
    answer = ask(page, "Who planted the Larkspur community orchard?")
    assert "Vasquez" in answer.locator(".answer-text").inner_text()
    assert "Larkspur community orchard" in page.locator("#sources .turn-sources.active").inner_text()


def test_article_markup_is_shown_as_text_and_never_runs(served: tuple[str, Assistant], browser: Any, tmp_path: Path):
    page = open_page(browser, served[0])
    path = tmp_path / "glimmerfield.md"
    path.write_text(HOSTILE)
    upload(page, path)
    reindex(page)
    page.get_by_role("tab", name="Chat").click()
    ask(page, "Who organised the Glimmerfield lantern festival?")
    card = page.locator("#sources .turn-sources.active .source-card").first
    text = card.inner_text()
    assert "<script>window.__pwned = 1</script>" in text
    assert '<img src="x" onerror="window.__pwned=1">' in text
    assert "${window.__pwned=1} and {{value}}" in text
    assert "Glimmerfield <b>lantern</b> festival" in text and "<img src=x onerror=window.__pwned=1>" in text
    assert card.locator("script, img, b").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-article.png"))


def test_questions_are_answered_while_the_corpus_is_reindexed(served: tuple[str, Assistant], browser: Any,
                                                             tmp_path: Path):
    url, assistant = served
    page = open_page(browser, url)
    path = tmp_path / "port ellery weather.md"
    # ~2,600 passages (about 10 s of indexing here): no two alike, so none is stored once for two.
    words = random.Random(7).choices(WORDS, k=24 * 5000)
    days = [f"On day {d} the harbour office of Port Ellery logged {' '.join(words[24 * d - 24:24 * d])}."
            for d in range(1, 5000)]
    write_article(path.parent, path.name, "\n".join(days), title="Port Ellery harbour log")
    upload(page, path)
    page.click("#reindex")
    page.get_by_role("tab", name="Chat").click()
    ask(page, NONSENSE)
    assert page.locator("#index-report .report-table").count() == 0, "the re-index ended before the answer came"
    page.get_by_role("tab", name="Corpus").click()
    page.wait_for_selector("#index-report .report-table", timeout=ANSWER_TIMEOUT_MS)
    assert "port ellery weather.md" in page.inner_text("#index-report")
    (Path(assistant.settings.corpus_dir) / "port ellery weather.md").unlink()
    assistant.index(assistant.settings.corpus_dir)


def test_a_date_range_restricts_the_search_and_is_shown_under_the_answer(served: tuple[str, Assistant], browser: Any):
    page = open_page(browser, served[0])
    page.get_by_text("Search only some articles").click()
    page.fill("#since textarea, #since input", "2025-03-10")
    page.fill("#until textarea, #until input", "2025-03-16")
    answer = ask(page, "What did Umerov request?")  # the seed article is undated: never inside a range
    assert answer.locator(".answer-text").inner_text().startswith("Not found in the indexed articles.")
    assert "Searched articles from 10-16 March 2025" in answer.inner_text()


def test_a_mistyped_date_is_said_and_the_question_kept(served: tuple[str, Assistant], browser: Any):
    page = open_page(browser, served[0])
    page.get_by_text("Search only some articles").click()
    page.fill("#since textarea, #since input", "10 March")
    page.fill("#question textarea", "What did Umerov request?")
    page.press("#question textarea", "Enter")
    page.locator("#chat .answer-error").wait_for(timeout=10_000)
    assert "write it as YYYY-MM-DD" in page.inner_text("#chat .answer-error")
    assert page.locator("#question textarea").input_value() == "What did Umerov request?"


def test_the_corpus_view_lists_the_articles_and_opens_one(served: tuple[str, Assistant], browser: Any):
    page = open_page(browser, served[0])
    page.get_by_role("tab", name="Corpus").click()
    table = page.locator("#articles")
    title = table.get_by_text("French instructors in Ukraine", exact=True).filter(visible=True).first
    title.wait_for(timeout=30_000)
    assert re.search(r"\d+ articles? indexed, newest first", page.inner_text("#articles-summary"))
    page.fill("#articles-query textarea, #articles-query input", "zqxv no such article")
    page.wait_for_function("document.querySelector('#articles-summary').innerText.startsWith('0 of')",
                           timeout=10_000)
    page.fill("#articles-query textarea, #articles-query input", "french instructors")
    page.wait_for_function("document.querySelector('#articles-summary').innerText.startsWith('1 of')",
                           timeout=10_000)
    title.click()
    page.wait_for_selector("#article-view .article-text", timeout=10_000)
    text = " ".join(page.inner_text("#article-view .article-text").split())
    assert "Umerov" in text and len(text) > 1000
    assert page.locator("#article-view .article-title").inner_text() == "French instructors in Ukraine"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "corpus-view.png"), full_page=True)


def test_one_bad_file_in_an_upload_batch_is_listed_and_the_others_saved(served: tuple[str, Assistant],
                                                                      browser: Any, tmp_path: Path):
    page = open_page(browser, served[0])
    good, bad = tmp_path / "thornbury note.htm", tmp_path / "install.sh"
    good.write_text("<html><head><title>Thornbury note</title></head><body><p>A note.</p></body></html>")
    bad.write_text("#!/bin/sh\necho hi\n")
    page.get_by_role("tab", name="Corpus").click()
    page.set_input_files("#upload input[type=file]", [str(good), str(bad)])
    page.wait_for_function("document.querySelector('#upload-report') && "
                           "document.querySelector('#upload-report').innerText.includes('install.sh')", timeout=60_000)
    report = page.inner_text("#upload-report")
    assert re.search(r"thornbury note\.htm\s+saved", report), report
    assert re.search(r"install\.sh\s+refused", report), report
    (Path(served[1].settings.corpus_dir) / "thornbury note.htm").unlink()
