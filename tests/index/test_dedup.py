"""The same story from several outlets is one story: grouped at index time, searched and cited once.

Unit tests of the grouping (rag/index/dedup.py) and the candidate rules (rag/search/retrieval.py), then the real
thing: MiniLM, local Chroma, bm25s, on 3 copies of one wire story from different outlets (small
edits) and 3 other stories.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag import Settings
from rag.index import Index
from rag.index.dedup import group_articles, lsh_bands, shingles, signature
from rag.search.retrieval import HybridRetriever, cap_per_story, distinct_stories

from ..factories import write_article

WIRE = ("The European Space Agency launched its Juice probe to Jupiter on Friday from Kourou in French Guiana. "
        "The spacecraft will take eight years to reach the giant planet, where it will study three of its icy moons, "
        "Ganymede, Callisto and Europa, which may hold oceans of liquid water beneath their frozen crusts. "
        "Mission controllers confirmed that the solar arrays had unfolded about half an hour after lift-off. "
        "The probe carries ten instruments, including a radar that can see nine kilometres into the ice.")

COPIES = {
    "ap-juice.md": ("AP", "Europe launches Juice probe to Jupiter", WIRE),
    "cnn-juice.md": ("CNN", "Juice mission heads for Jupiter's icy moons",
                     "Updated 5:40 p.m. ET. " + WIRE.replace("on Friday", "on Friday morning")
                     .replace("about half an hour", "roughly 30 minutes")),
    "usa-juice.md": ("USA TODAY", "Jupiter probe lifts off",
                     WIRE.replace("The probe carries ten instruments", "Juice carries ten scientific instruments")
                     + " Reporting by Jane Doe; editing by John Roe."),
}
OTHERS = {
    "bakery.md": ("Local Gazette", "Bakery wins national prize",
                  "A family bakery in the old town won the national bread prize on Sunday for its sourdough loaf. "
                  "The owners said they would use the prize money to train two apprentices."),
    "floods.md": ("Reuters", "Floods close river crossings",
                  "Heavy rain flooded the river valley overnight, closing three bridges and forcing dozens of families "
                  "from their homes. Emergency services expect the water to recede by Wednesday."),
    "mars.md": ("BBC", "Rover finds layered rocks on Mars",
                "NASA's Perseverance rover photographed layered rocks in an ancient river delta on Mars, which "
                "scientists say formed in standing water billions of years ago."),
}


def _write(folder: Path, articles: dict[str, tuple[str, str, str]]) -> None:
    for name, (outlet, title, text) in articles.items():
        write_article(folder, name, text, title=title, date="2023-04-14", source=outlet)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    folder.mkdir()
    _write(folder, {**COPIES, **OTHERS})
    return folder


def _groups(index: Index) -> dict[str, str]:
    return {a["doc_id"]: a["group"] for a in index.articles()}


# ---------------------------------------------------------------- grouping, no model
def test_copies_with_small_edits_share_a_group_and_other_stories_do_not() -> None:
    texts = {name: text for name, (_, _, text) in {**COPIES, **OTHERS}.items()}
    groups = group_articles({d: signature(t) for d, t in texts.items()},
                            threshold=Settings().tuning.near_duplicate_threshold)
    assert groups["ap-juice.md"] == groups["cnn-juice.md"] == groups["usa-juice.md"] == "ap-juice.md"
    assert {groups[d] for d in OTHERS} == set(OTHERS)


def test_a_text_without_words_and_grouping_off_leave_articles_alone() -> None:
    sigs = {"a": signature(WIRE), "b": signature(WIRE), "empty": signature("...")}
    assert signature("...") is None
    assert group_articles(sigs, 0.5) == {"a": "a", "b": "a", "empty": "empty"}
    assert group_articles(sigs, 0) == {"a": "a", "b": "b", "empty": "empty"}


def test_shingles_ignore_case_and_punctuation() -> None:
    assert shingles("The Probe, launched!") == shingles("the probe launched") == {"the probe launched"}


def test_candidates_per_story_are_capped_and_one_wording_is_listed_once() -> None:
    keys = {f"f{i}": {"doc_id": "flood.pdf", "group": "flood.pdf", "text_key": f"t{i}"} for i in range(10)}
    keys |= {"c1": {"doc_id": "copy.md", "group": "flood.pdf", "text_key": "t0"},  # same wording, a copy
             "x": {"doc_id": "x.md", "group": "x.md", "text_key": "tx"}}
    ranked = ["f0", "c1", *[f"f{i}" for i in range(1, 10)], "x"]
    assert cap_per_story(ranked, keys, cap=3) == ["f0", "f1", "f2", "x"]


def test_one_article_represents_its_story() -> None:
    keys = {"a1": {"doc_id": "a", "group": "g"}, "b1": {"doc_id": "b", "group": "g"},
            "a2": {"doc_id": "a", "group": "g"}, "c1": {"doc_id": "c", "group": "c"}}
    assert distinct_stories(["a1", "b1", "a2", "c1"], keys, k=3, per_story=3) == ["a1", "a2", "c1"]
    assert distinct_stories(["a1", "b1", "a2", "c1"], keys, k=3, per_story=1) == ["a1", "c1"]


def _datasketch_groups(texts: dict[str, str], threshold: float) -> dict[str, str]:
    """The grouping as datasketch computes it (MinHash affine32 + MinHashLSH): the reference."""
    from datasketch import MinHash, MinHashLSH

    hashes = {}
    for doc_id, text in texts.items():
        minhash = MinHash(num_perm=128, scheme="affine32")
        minhash.update_batch([p.encode("utf-8") for p in shingles(text)])
        hashes[doc_id] = minhash
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    for doc_id, minhash in hashes.items():
        lsh.insert(doc_id, minhash)
    groups = {d: d for d in texts}
    for doc_id, minhash in hashes.items():
        for other in lsh.query(minhash):
            if minhash.jaccard(hashes[other]) >= threshold:
                groups[doc_id] = groups[other] = min(groups[doc_id], groups[other], doc_id, other)
    changed = True
    while changed:  # propagate the smallest id through chains
        changed = False
        for doc_id, minhash in hashes.items():
            for other in lsh.query(minhash):
                if minhash.jaccard(hashes[other]) >= threshold and groups[doc_id] != groups[other]:
                    groups[doc_id] = groups[other] = min(groups[doc_id], groups[other])
                    changed = True
    return groups


def test_signatures_and_bands_are_datasketchs() -> None:
    from datasketch import MinHash
    from datasketch.lsh import _optimal_param

    for text in (WIRE, *(t for _, _, t in OTHERS.values()), "one two"):
        reference = MinHash(num_perm=128, scheme="affine32")
        reference.update_batch([p.encode("utf-8") for p in shingles(text)])
        assert np.array_equal(signature(text), reference.hashvalues)
    for threshold in np.arange(0.05, 0.96, 0.05):
        assert lsh_bands(float(threshold), 128) == _optimal_param(float(threshold), 128, 0.5, 0.5), threshold


def test_groups_are_datasketchs_on_a_corpus_of_rewrites() -> None:
    """Chains of rewrites (each copy edits the previous one a little more), unrelated stories and
    pairs near the threshold: the same groups as datasketch's MinHashLSH gives."""
    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(3000)]
    texts: dict[str, str] = {}
    for story in range(40):
        words = list(rng.choice(vocabulary, 150))
        for copy in range(4):
            texts[f"s{story:02d}-c{copy}"] = " ".join(words)
            for _ in range(int(rng.integers(3, 25))):  # edit a few words for the next copy
                words[int(rng.integers(0, len(words)))] = str(rng.choice(vocabulary))
    for threshold in (0.3, 0.5, 0.7):
        ours = group_articles({d: signature(t) for d, t in texts.items()}, threshold)
        assert ours == _datasketch_groups(texts, threshold)
        assert len(set(ours.values())) not in (1, len(texts)), "the corpus should make some groups, not one"


# ---------------------------------------------------------------- the real index
@pytest.mark.model
def test_a_broad_question_gets_distinct_stories_and_the_other_outlets(corpus: Path) -> None:
    settings = Settings()
    index = Index(settings)
    index.update(corpus)
    retriever = HybridRetriever(index=index, settings=settings, k=4)
    docs = retriever.search("What happened this week? Space launch, floods, bread prize, Mars rover", k=4, per_story=1)
    assert len({d.metadata["group"] for d in docs}) == 4  # 4 stories, never 2 copies of one
    juice = [d for d in docs if d.metadata["group"] == "ap-juice.md"]
    assert len(juice) == 1
    own = juice[0].metadata["outlet"]
    assert sorted(juice[0].metadata["also_reported_by"]) == sorted({"AP", "CNN", "USA TODAY"} - {own})
    assert all(d.metadata["also_reported_by"] == [] for d in docs if d.metadata["group"] != "ap-juice.md")

    # Without a per-story limit, one article may give several passages, but never a copy's.
    docs = retriever.search("Juice probe Jupiter icy moons launch", k=6)
    assert len({d.metadata["doc_id"] for d in docs if d.metadata["group"] == "ap-juice.md"}) == 1


@pytest.mark.model
def test_groups_follow_articles_added_and_removed(corpus: Path) -> None:
    index = Index(Settings())
    index.update(corpus)
    assert _groups(index)["usa-juice.md"] == "ap-juice.md"

    (corpus / "ap-juice.md").unlink()
    (corpus / "cnn-juice.md").unlink()
    report = index.update(corpus)
    assert report.deleted == 2 and report.chunks_added == 0  # regrouping rewrites metadata, never embeddings
    assert _groups(index)["usa-juice.md"] == "usa-juice.md"
    ids, _, metas = index.all_passages()
    assert {m["group"] for m in metas if m["doc_id"] == "usa-juice.md"} == {"usa-juice.md"}

    _write(corpus, {"cnn-juice.md": COPIES["cnn-juice.md"]})
    index.update(corpus)
    groups = _groups(index)
    assert groups["usa-juice.md"] == groups["cnn-juice.md"] == "cnn-juice.md"
    assert {groups[d] for d in OTHERS} == set(OTHERS)
