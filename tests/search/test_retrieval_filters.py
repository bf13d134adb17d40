"""Date and outlet filters act inside each retriever's search; "the latest" orders relevant passages by date.

Real MiniLM, real local Chroma, real bm25s; a handful of short dated articles written as Markdown
with front matter (date, source = the outlet).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Settings
from rag.filters import SearchFilters
from rag.index import Index
from rag.search.retrieval import HybridRetriever

from ..factories import write_article

ARTICLES = {
    "march-starliner.md": ("2025-03-18", "USA TODAY", "Starliner astronauts return",
                           "The two Starliner astronauts returned to Earth on Tuesday after nine months in orbit. "
                           "Their capsule splashed down off the coast of Florida."),
    "june-starliner.md": ("2024-06-06", "CNN", "Starliner docks with the station",
                          "Boeing's Starliner capsule docked with the International Space Station on Thursday, "
                          "carrying two astronauts on its first crewed flight, despite helium leaks in its thrusters."),
    "march-budget.md": ("2025-03-14", "Reuters", "Council passes budget",
                        "The city council passed its annual budget on Friday. Spending on libraries and parks rises."),
    "undated-starliner.md": ("", "AP", "Starliner history",
                             "Starliner is Boeing's crew capsule for flights to the International Space Station."),
}


def _write(folder: Path, articles: dict[str, tuple[str, str, str, str]]) -> None:
    for name, (date, outlet, title, text) in articles.items():
        write_article(folder, name, text, title=title, date=date, source=outlet)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    folder.mkdir()
    _write(folder, ARTICLES)
    return folder


def _retriever(mode: str) -> HybridRetriever:
    settings = Settings(retrieval_mode=mode)  # type: ignore[arg-type]
    return HybridRetriever(index=Index(settings), settings=settings, k=4)


@pytest.fixture
def indexed(corpus: Path) -> Path:
    Index(Settings()).update(corpus)
    return corpus


@pytest.mark.model
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_a_date_range_returns_only_articles_in_range(indexed: Path, mode: str) -> None:
    docs = _retriever(mode).search("Starliner astronauts capsule", k=4,
                                   filters=SearchFilters(since="2025-03-10", until="2025-03-20"))
    assert docs and {d.metadata["doc_id"] for d in docs} <= {"march-starliner.md", "march-budget.md"}
    assert docs[0].metadata["doc_id"] == "march-starliner.md"


@pytest.mark.model
@pytest.mark.parametrize("mode", ["dense", "bm25"])
@pytest.mark.parametrize("filters", [SearchFilters(since="2025-03-01", until="2025-03-31"),
                                     SearchFilters(outlets=("usa today",))], ids=["dates", "outlet"])
def test_the_filter_acts_inside_the_search_not_after_a_top_k(indexed: Path, mode: str, filters: SearchFilters) -> None:
    # One candidate per retriever: dropping out-of-filter results after the search would leave
    # nothing, since the best match for this query is the June article.
    query = "Starliner docked with the International Space Station despite helium leaks"
    assert _retriever(mode).search(query, k=1, depth=1)[0].metadata["doc_id"] == "june-starliner.md"
    docs = _retriever(mode).search(query, k=1, depth=1, filters=filters)
    assert [d.metadata["doc_id"] for d in docs] == ["march-starliner.md"]


@pytest.mark.model
@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_outlets_match_case_insensitively_on_both_retrievers(indexed: Path, mode: str) -> None:
    docs = _retriever(mode).search("Starliner", k=4, filters=SearchFilters(outlets=("cnn", "  Usa  Today ")))
    assert {d.metadata["outlet"] for d in docs} == {"CNN", "USA TODAY"}


@pytest.mark.model
def test_an_undated_article_is_never_inside_a_date_range(indexed: Path) -> None:
    docs = _retriever("hybrid").search("Starliner crew capsule history", k=4, filters=SearchFilters(until="2030-01-01"))
    assert "undated-starliner.md" not in {d.metadata["doc_id"] for d in docs}
    assert "undated-starliner.md" in {d.metadata["doc_id"] for d in _retriever("hybrid").search("Starliner history", k=4)}


@pytest.mark.model
def test_prefer_recent_puts_the_newer_relevant_article_first(indexed: Path) -> None:
    query = "Starliner capsule International Space Station astronauts"
    plain = _retriever("hybrid").search(query, k=3)
    recent = _retriever("hybrid").search(query, k=3, filters=SearchFilters(prefer_recent=True))
    assert plain[0].metadata["doc_id"] != "march-starliner.md"  # the older article is the closer match
    assert recent[0].metadata["doc_id"] == "march-starliner.md"
    assert "march-budget.md" not in {d.metadata["doc_id"] for d in recent}  # recency never beats relevance


@pytest.mark.model
def test_passages_carry_the_article_metadata(indexed: Path) -> None:
    doc = _retriever("hybrid").search("splashed down off Florida", k=1)[0]
    meta = doc.metadata
    assert (meta["date"], meta["date_int"], meta["outlet"], meta["outlet_key"]) == (
        "2025-03-18", 20250318, "USA TODAY", "usa today")
    assert {"url", "authors", "group", "score", "similarity", "also_reported_by"} <= set(meta)


@pytest.mark.model
def test_articles_lists_newest_first_undated_last_and_filters(indexed: Path) -> None:
    index = Index(Settings())
    assert [a["doc_id"] for a in index.articles()] == [
        "march-starliner.md", "march-budget.md", "june-starliner.md", "undated-starliner.md"]
    first = index.articles()[0]
    assert first == {"doc_id": "march-starliner.md", "title": "Starliner astronauts return", "date": "2025-03-18",
                     "outlet": "USA TODAY", "url": "", "authors": [], "passages": 1, "group": "march-starliner.md"}
    assert [a["doc_id"] for a in index.articles(SearchFilters(since="2025-01-01", outlets=("reuters",)))] == [
        "march-budget.md"]


@pytest.mark.model
def test_a_corrected_date_updates_the_article(indexed: Path) -> None:
    fixed = dict(ARTICLES)
    fixed["june-starliner.md"] = ("2024-06-07", *ARTICLES["june-starliner.md"][1:])
    _write(indexed, fixed)
    report = Index(Settings()).update(indexed)
    assert (report.updated, report.skipped) == (1, 3)
    docs = _retriever("hybrid").search("Starliner docked", k=4, filters=SearchFilters(since="2024-06-07", until="2024-06-07"))
    assert [d.metadata["doc_id"] for d in docs] == ["june-starliner.md"]
    assert Index(Settings()).articles(SearchFilters(until="2024-06-06")) == []


def test_filters_describe_themselves() -> None:
    assert SearchFilters(since="2025-03-10", until="2025-03-16", outlets=("USA TODAY",)).describe() == \
        "articles from 10-16 March 2025 by USA TODAY"
    assert SearchFilters().describe() == "" and SearchFilters().is_empty()
    assert SearchFilters(outlets=("CNN",)).to_dict() == {"since": None, "until": None, "outlets": ["CNN"],
                                                         "prefer_recent": False}


def test_a_bad_date_is_a_clear_error() -> None:
    from rag import QuestionError

    with pytest.raises(QuestionError, match="YYYY-MM-DD"):
        SearchFilters(since="March")
    with pytest.raises(QuestionError, match="swap"):
        SearchFilters(since="2025-03-20", until="2025-03-10")


@pytest.mark.model
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_an_unknown_outlet_is_an_error_naming_the_closest_indexed_ones(indexed: Path, mode: str) -> None:
    from rag import QuestionError

    with pytest.raises(QuestionError, match=r"No indexed article is from 'Reuter'\. The 4 indexed outlets include "
                                            r"reuters, ") as err:
        _retriever(mode).search("budget", k=4, filters=SearchFilters(outlets=("CNN", "Reuter")))
    assert "CNN" not in str(err.value)  # the known one is not reported
    docs = _retriever(mode).search("budget", k=4, filters=SearchFilters(outlets=("reuters",)))
    assert docs and {d.metadata["outlet"] for d in docs} == {"Reuters"}


def test_a_filter_of_more_outlets_than_the_limit_is_a_clear_error_at_once() -> None:
    # 40,000 names once reached Chroma as "too many SQL variables"; 10,000 took 36.7 s for one search.
    import time

    from rag import QuestionError
    from rag.filters import MAX_FILTER_OUTLETS

    assert SearchFilters(outlets=[f"Outlet {i}" for i in range(MAX_FILTER_OUTLETS)]).outlets
    t0 = time.perf_counter()
    with pytest.raises(QuestionError, match=f"40000 outlets; at most {MAX_FILTER_OUTLETS}"):
        SearchFilters(outlets=[f"Outlet {i}" for i in range(40_000)])
    assert time.perf_counter() - t0 < 1.0
    # The same outlet written twice is one outlet.
    assert SearchFilters(outlets=("CNN", "cnn ", " CNN")).outlets == ("CNN",)


def test_the_outlet_set_is_made_once_per_filter_not_once_per_passage(monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.filters

    filters = SearchFilters(outlets=[f"Outlet {i}" for i in range(100)])
    calls = 0
    real = rag.filters.outlet_key

    def counted(name: str | None) -> str:
        nonlocal calls
        calls += 1
        return real(name)

    monkeypatch.setattr(rag.filters, "outlet_key", counted)
    metas = [{"outlet_key": f"outlet {i % 300}", "date_int": 20250101} for i in range(3000)]
    assert sum(filters.matches(m) for m in metas) == 1000
    assert calls <= 100  # was 100 per passage: 300,000


def test_a_long_outlet_list_is_described_by_a_few_names_and_a_count() -> None:
    names = [f"Outlet {i}" for i in range(150)]
    assert SearchFilters(outlets=names).describe() == \
        "articles by Outlet 0, Outlet 1, Outlet 2, Outlet 3 or 146 other outlets"
