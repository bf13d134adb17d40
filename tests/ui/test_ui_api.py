"""The page's `/ask` API through `gradio_client`, against a served app with the real model.

One app for the module: a temporary data directory indexed from corpus/ plus eight short articles
written for these tests, each holding one fact nobody could guess, so an answer (and its source)
shows which question it belongs to.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag import Assistant, Settings

from ..factories import seed_corpus, served_page, write_article

pytestmark = pytest.mark.slow

# (file stem, title, text, question, a word the answer must contain)
ARTICLES = [
    ("quillby", "Quillby harbour lighthouse",
     "The new lighthouse at Quillby harbour was designed by the architect Marisol Okonkwo. It opened in spring.",
     "Who designed the new lighthouse at Quillby harbour?", "Okonkwo"),
    ("tarnwick", "Tarnwick chess championship",
     "The Tarnwick chess championship was won by Elias Brandvold after a long final game.",
     "Who won the Tarnwick chess championship?", "Brandvold"),
    ("velmora", "Velmora pear harvest",
     "The Velmora orchard cooperative harvested 812 tonnes of pears this season, a record.",
     "How many tonnes of pears did the Velmora orchard cooperative harvest?", "812"),
    ("kestrel", "Kestrel Valley tunnel",
     "The Kestrel Valley rail tunnel opened in the village of Dunmarrow after six years of work.",
     "In which village did the Kestrel Valley rail tunnel open?", "Dunmarrow"),
    ("brisling", "Brisling Bay ferry",
     "The Brisling Bay ferry service is operated by the shipping company Tidewell Lines.",
     "Which company operates the Brisling Bay ferry service?", "Tidewell"),
    ("pellingford", "Pellingford town hall",
     "The mayor of Pellingford, Ruth Achterberg, opened the renovated town hall on Monday.",
     "Who is the mayor of Pellingford?", "Achterberg"),
    ("corvane", "Corvane observatory comet",
     "Astronomers at the Corvane observatory discovered a comet and named it Halvard-7.",
     "What did astronomers at the Corvane observatory name the comet they discovered?", "Halvard"),
    ("emberlake", "Emberlake marathon",
     "The Emberlake marathon was won by the runner Tomasz Wielgus in two hours and nine minutes.",
     "Who won the Emberlake marathon?", "Wielgus"),
]
MAX_QUEUE = 8


@pytest.fixture(scope="module")
def app_url(seed_assistant: Assistant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui-api")
    corpus = seed_corpus(root / "corpus")
    for stem, title, text, _, _ in ARTICLES:
        write_article(corpus, f"{stem}.md", text, title=title, source="test article")
    settings = Settings(data_dir=root / "data", corpus_dir=corpus, max_queue=MAX_QUEUE)
    assistant = Assistant(settings, llm=seed_assistant.chain.llm)  # the session's loaded model, not a second one
    assistant.index(corpus)
    with served_page(assistant, settings) as (url, _):
        yield url


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _split(result: str) -> tuple[str, str]:
    """(answer, what follows it: the sources or the no-sources note)."""
    answer, _, rest = result.partition("\n\n")
    return answer, rest


def test_ask_answers_the_seed_question_with_a_citation(app_url: str):
    result = _client(app_url).predict("What did Umerov request?", api_name="/ask")
    answer, sources = _split(result)
    assert re.search(r"\[\d\]", answer), result
    assert re.search(r"weapon|ammunition|artillery|air defen", answer, re.IGNORECASE), result
    assert sources.startswith("Sources:\n[") and "French instructors in Ukraine" in sources, result


def test_eight_simultaneous_chats_each_get_the_answer_to_their_own_question(app_url: str):
    start = threading.Barrier(len(ARTICLES))

    def ask(question: str) -> str:
        client = _client(app_url)  # one client = one session, as eight browsers would be
        start.wait()
        return client.predict(question, api_name="/ask")

    with ThreadPoolExecutor(len(ARTICLES)) as pool:
        results = list(pool.map(ask, [a[3] for a in ARTICLES]))
    for (_, title, _, question, keyword), result in zip(ARTICLES, results):
        answer, sources = _split(result)
        assert keyword.lower() in answer.lower(), f"{question!r} got {result!r}"
        assert f"] {title} — test article" in sources, f"{question!r} got {result!r}"


def test_beyond_the_queue_limit_requests_are_refused_at_once_as_busy(app_url: str):
    from gradio_client.utils import QueueError, Status

    holder = _client(app_url).submit("What did Umerov request?", api_name="/ask")
    deadline = time.monotonic() + 120
    while holder.status().code != Status.PROCESSING:  # the model is now busy with it
        assert time.monotonic() < deadline, "the first question never started"
        time.sleep(0.1)

    clients = [_client(app_url) for _ in range(MAX_QUEUE + 3)]
    # Questions that match nothing are refused without the model, so the accepted ones finish fast.
    jobs = [c.submit(f"zqxv blorf {i} wugga?", api_name="/ask") for i, c in enumerate(clients)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not holder.done():
        time.sleep(0.2)
    answered_at_once = {i for i, job in enumerate(jobs) if job.done()}  # while the model was still busy

    outcomes: list[str] = []
    for job in jobs:
        try:
            outcomes.append(job.result(timeout=300))
        except QueueError as err:
            outcomes.append(f"busy: {err}")
    refused = {i for i, o in enumerate(outcomes) if o.startswith("busy: ")}
    assert refused, outcomes
    assert all("Queue is full! Please try again." in outcomes[i] for i in refused), outcomes
    assert refused <= answered_at_once, "a refused request waited instead of being refused at once"
    assert len(refused) <= 3, outcomes  # the first MAX_QUEUE waiting requests were accepted
    assert all(o.startswith("Not found in the indexed articles.") for i, o in enumerate(outcomes) if i not in refused)
    assert holder.result(timeout=300)  # the question that held the model was answered, not dropped


def test_ask_refuses_a_lone_surrogate_with_the_validation_message(app_url: str):
    from .test_ui_page import call_ask_raw

    # gradio_client cannot even encode a lone surrogate; a raw JSON request can ("\ud800" is valid JSON).
    event, data = call_ask_raw(app_url, '"What did Umerov request?\\ud800"')
    assert event == "error" and "lone UTF-16 surrogate" in data, (event, data)


def test_ask_with_a_date_range_searches_only_articles_in_it(app_url: str):
    # Every article here is undated, and an undated article is never inside a date range.
    result = _client(app_url).predict("What did Umerov request?", since="2025-03-10", until="2025-03-16",
                                      api_name="/ask_filtered")
    assert result.startswith("Not found in the indexed articles."), result
    assert "Searched articles from 10-16 March 2025" in result, result


def test_ask_with_a_mistyped_date_says_how_to_write_it(app_url: str):
    with pytest.raises(Exception) as err:
        _client(app_url).predict("What did Umerov request?", since="March 10", api_name="/ask_filtered")
    assert "write it as YYYY-MM-DD" in str(err.value), err.value
