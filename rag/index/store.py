"""The Chroma store and incremental re-indexing, with the BM25 side kept in step.

Re-indexing makes the collection mirror a folder. Each stored passage carries its document's
content hash and passage count, so Chroma itself is the record of what is indexed:
- a document whose hash and complete set of passages are already stored is skipped;
- a changed document gets its new passages upserted first, then its old ones deleted (it stays
  answerable throughout);
- a document no longer in the folder is deleted, unless its file merely failed to read this time
  (a corrupt file never costs the user what was indexed from it before). A `.jsonl` or feed holds
  many documents (`news.jsonl#<_id>`): when it fails to read, wholly or partly (a line cut off by a
  write in progress, a malformed feed read only in part), every document indexed from it stays
  until it reads cleanly again, since which of them are missing because of the failure cannot be told.
Passage ids are derived from content, so re-running after a crash (even `kill -9` mid-batch)
upserts the same ids again: never duplicates, nothing missing. This is the content-hash scheme of
LangChain's indexing API, kept in the store instead of a side database so that it holds equally for
a Chroma server shared by several machines.

The BM25 index is rebuilt from what the collection holds after every run and tagged with the
collection's `generation`; the collection is marked dirty before the first write, so a BM25 index
that missed a run (crash, other machine) is detected and rebuilt on load.

`--rebuild` fills a new collection beside the live one and then switches a pointer to it (see
"which collection is live" below): questions are answered by the old index until the new one is
ready, each from one collection and the BM25 index that belongs to it.

One re-index at a time per data directory (a file lock); a second one is refused clearly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from filelock import FileLock, Timeout

from rag.errors import ChromaUnreachableError, CorpusError, IndexBusyError, IndexMissingError, RagError
from rag.filters import SearchFilters, date_int, outlet_key
from rag.index.manifest import Manifest, drop_manifest, read_manifest, write_manifest
from rag.ingest.chunking import Chunk, chunk_document
from rag.ingest.documents import FEED_SUFFIXES, FileProblem, load_corpus
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.embed.embeddings import Embedder

__all__ = ["Index", "IndexReport", "FileReport", "ProgressCallback", "Bm25Side", "VectorBatch", "passage_metadata",
           "unique_passages", "tokenize", "get_all"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str], None]  # (done, total, what)
# One batch of passages whose vectors are already computed: (ids, embeddings, texts, metadatas).
VectorBatch = tuple[list[str], list[Any], list[str], list[dict[str, Any]]]
_DIRTY = "dirty"


@dataclass
class FileReport:
    path: str
    status: str  # added | updated | skipped | deleted | failed
    chunks: int = 0
    reason: str = ""


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    kept: int = 0  # documents not read this run, kept because their file failed to read (wholly or partly)
    chunks_added: int = 0
    chunks_deleted: int = 0
    total_documents: int = 0
    total_chunks: int = 0
    seconds: float = 0.0
    files: list[FileReport] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)

    def summary(self) -> str:
        kept = f" ({self.kept} articles of theirs kept from earlier runs)" if self.kept else ""
        return (f"{self.added} added, {self.updated} updated, {self.skipped} skipped, {self.deleted} deleted, "
                f"{self.failed} failed{kept}; {self.total_documents} documents, {self.total_chunks} passages in the index "
                f"({self.seconds:.1f} s)")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [str(p) for p in self.problems]
        return data


class _ChromaEmbeddingFunction:
    """Adapter so the collection always has our embedding function (never Chroma's downloading default)."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: list[str]) -> list[Any]:  # noqa: A002 - Chroma's protocol name
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed_documents(list(input))]

    def embed_query(self, input: list[str]) -> list[Any]:  # noqa: A002
        return self(input)

    @staticmethod
    def name() -> str:
        return "default"  # Chroma's name for "not a registered function"; keeps configs portable.

    def is_legacy(self) -> bool:
        return True


# Bumped when the stored metadata changes shape, so that `rag index` rewrites older indexes once
# (m2: date_int, outlet, url, authors, group, text_key; identical passages stored once; m3: one sentence splitter, rag.text).
_SCHEMA = "m3"

# How long the collection a `--rebuild` replaced stays readable after the switch: a search holds its
# collection handle for well under a second (one retrieval), so a minute covers any search in flight.
RETIRED_GRACE_S = 60.0


def _chunking_signature(settings: Settings) -> str:
    """What shapes a stored passage besides its document: chunking, schema, and how it was embedded.

    The embedding recipe is part of it so that a new int8 export (or another backend or model) re-embeds
    every document once instead of mixing vectors of two recipes in one collection.
    """
    from rag.embed.onnx_export import EXPORT_VERSION

    embedding = (f"{settings.embedding_model or 'bundled'}:{settings.embedding_backend}"
                 f"{':' + EXPORT_VERSION if settings.embedding_backend == 'onnx-int8' else ''}"
                 f":{settings.tuning.title_weight}")
    return f"c{settings.chunk_size}o{settings.tuning.chunk_overlap}{_SCHEMA}|{embedding}"


def _doc_hash(doc: Any, signature: str) -> str:
    """Changes with anything stored for the document: its content hash, the article fields, the chunking."""
    extra = json.dumps([getattr(doc, "outlet", ""), getattr(doc, "url", ""), list(getattr(doc, "authors", ()) or ())])
    return hashlib.sha256(f"{doc.content_hash}{extra}{signature}".encode()).hexdigest()


def unique_passages(chunks: list[Chunk]) -> list[Chunk]:
    """Each wording once per document: a file that repeats a paragraph 500 times stores (and searches) it once."""
    from rag.index.dedup import passage_key  # here, not at the top: an unchanged `rag index` never needs numpy

    seen: set[str] = set()
    kept = []
    for chunk in chunks:
        key = passage_key(chunk.text)
        if key not in seen:
            seen.add(key)
            kept.append(chunk)
    return kept


def passage_metadata(c: Chunk, doc_hash: str, n_chunks: int, group: str) -> dict[str, Any]:
    """What Chroma stores beside a passage (the keys are listed in docs/COLLECTION.md)."""
    from rag.index.dedup import passage_key

    return {"doc_id": c.doc_id, "doc_hash": doc_hash, "n_chunks": n_chunks, "index": c.index, "start": c.start,
            "end": c.end, "title": c.title, "source": c.source, "date": c.date, "date_int": date_int(c.date),
            "outlet": c.outlet, "outlet_key": outlet_key(c.outlet), "url": c.url, "authors": "; ".join(c.authors),
            "group": group, "text_key": passage_key(c.text)}


@dataclass(frozen=True)
class Bm25Side:
    """The BM25 index with, for each of its passages, the few metadata keys filters and groups need."""

    retriever: Any
    ids: list[str]
    keys: list[dict[str, Any]]  # doc_id, group, text_key, date_int, outlet_key


_BM25_KEYS = ("doc_id", "group", "text_key", "date_int", "outlet_key")


class Index:
    """A Chroma collection of passages plus its BM25 twin."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._client: Any = None
        self._bm25: tuple[str, Bm25Side] | None = None

    @property
    def embedder(self) -> Embedder:
        """Made on first use: an unchanged `rag index` decides without it (and without LangChain's import)."""
        if self._embedder is None:
            from rag.embed.embeddings import Embedder

            self._embedder = Embedder(self.settings)
        return self._embedder

    # ---------------------------------------------------------------- the store
    @property
    def client(self) -> Any:
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            if self.settings.chroma_url:
                url = urlparse(self.settings.chroma_url)
                if url.scheme not in ("http", "https") or not url.hostname:
                    raise ChromaUnreachableError(
                        f"RAG_CHROMA_URL={self.settings.chroma_url!r} is not a server address; "
                        "write it as http://host:port (or https://...).")
                headers = {}
                if self.settings.chroma_token:
                    headers["Authorization"] = f"Bearer {self.settings.chroma_token.get_secret_value()}"
                try:
                    self._client = chromadb.HttpClient(
                        host=url.hostname or "localhost", port=url.port or (443 if url.scheme == "https" else 8000),
                        ssl=url.scheme == "https", headers=headers, settings=chroma_settings)
                    self._client.heartbeat()
                except Exception as err:  # chromadb raises several unrelated types for "no server"
                    raise ChromaUnreachableError(
                        f"Chroma server at {self.settings.chroma_url} did not answer ({err.__class__.__name__}). "
                        "Start it (chroma run --path DIR --port N) or unset RAG_CHROMA_URL to use the local store.") from err
            else:
                self.settings.chroma_dir.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.settings.chroma_dir), settings=chroma_settings)
        return self._client

    def _collection(self, create: bool = False, name: str | None = None) -> Any:
        """The live collection, as the pointer names it now; with `create`, the collection `name`
        (default: the live one), made if missing."""
        ef = _ChromaEmbeddingFunction(self.embedder)
        try:
            if create:
                col = self.client.get_or_create_collection(
                    name or self._live_name(), embedding_function=ef,
                    configuration={"hnsw": self._hnsw_configuration()}, metadata={"generation": _DIRTY})
                self._tune_search_ef(col)
                return col
            # Reading the pointer and then the collection it names are two reads; a rebuild may switch
            # in between, but the collection it replaces stays for RETIRED_GRACE_S, so one more look is
            # only for a pointer read longer ago than that.
            missing: Exception | None = None
            for _ in range(2):
                try:
                    return self.client.get_collection(self._live_name(), embedding_function=ef)
                except Exception as err:
                    if not _is_not_found(err):
                        raise
                    missing = err
            leftover = self._legacy_rebuild_leftover()
            if leftover is not None:
                return leftover
            raise IndexMissingError(
                f"No index yet in {self.location}. Run `rag index corpus/` (or `make run`) first.") from missing
        except RagError:
            raise
        except Exception as err:
            if self.settings.chroma_url and _is_connection_error(err):
                raise ChromaUnreachableError(
                    f"Chroma server at {self.settings.chroma_url} stopped answering ({err.__class__.__name__}). "
                    "Check that it is running, or unset RAG_CHROMA_URL to use the local store.") from err
            raise

    def _hnsw_configuration(self) -> dict[str, Any]:
        t = self.settings.tuning
        return {"space": "cosine", "ef_construction": t.hnsw_construction_ef, "ef_search": t.hnsw_search_ef,
                "max_neighbors": t.hnsw_m}

    def _tune_search_ef(self, col: Any) -> None:
        """`ef_search` is the one HNSW parameter Chroma can change later: bring older collections up to it."""
        try:
            current = (col.configuration or {}).get("hnsw", {}) or {}
        except Exception:  # noqa: BLE001 - an older server without configurations: keep what it has
            return
        if current.get("ef_search") not in (None, self.settings.tuning.hnsw_search_ef):
            col.modify(configuration={"hnsw": {"ef_search": self.settings.tuning.hnsw_search_ef}})

    def collection(self) -> Any:
        """The live collection (IndexMissingError if there is none): fetch once per search and pass it
        on. A `--rebuild` that replaces it meanwhile leaves it readable for RETIRED_GRACE_S."""
        return self._collection()

    # ------------------------------------------------------------- which collection is live
    # Questions are answered from the collection the pointer names: a small, empty collection
    # `<collection>__live` whose metadata says {"live": name}. Without one (an index never rebuilt, or
    # made before pointers), the live collection is `<collection>` itself. `--rebuild` fills a new
    # collection `<collection>__g<hex>` (with its own BM25 folder) beside the live one and switches the
    # pointer in one metadata write; the collection it replaces is stamped `retired_at` and deleted by
    # a later run once RETIRED_GRACE_S have passed. The pointer lives in Chroma, not in a local file,
    # so that every machine sharing a Chroma server follows the switch. Chroma has no aliases, and
    # renaming (drop the old, rename the new) left a window in which a search found no collection, or
    # lost the one it held mid-search (issue 23).
    @property
    def _pointer_name(self) -> str:
        return f"{self.settings.collection}__live"

    def _live_name(self) -> str:
        try:
            pointer = self.client.get_collection(self._pointer_name,
                                                 embedding_function=_ChromaEmbeddingFunction(self.embedder))
        except Exception as err:
            if not _is_not_found(err):
                raise
            return self.settings.collection
        return str((pointer.metadata or {}).get("live") or self.settings.collection)

    def _switch_live(self, col: Any, replaced: str) -> None:
        """Make `col` the collection questions use; `replaced` (the live one until now) is kept for
        the searches that still hold it and deleted by a later run."""
        try:
            old = self.client.get_collection(replaced, embedding_function=_ChromaEmbeddingFunction(self.embedder))
        except Exception as err:
            if not _is_not_found(err):
                raise
        else:
            # Stamped before the switch: a run killed in between leaves it live (never deleted while
            # live) rather than retired without a date (deleted at once).
            self._set_metadata(old, retired_at=time.time())
        pointer = self.client.get_or_create_collection(
            self._pointer_name, embedding_function=_ChromaEmbeddingFunction(self.embedder),
            metadata={"live": col.name})
        pointer.modify(metadata={"live": col.name})

    def _is_ours(self, name: str) -> bool:
        """A data collection of this index: the original, a rebuild's, or an old-style rebuild's."""
        base = self.settings.collection
        return name in (base, f"{base}__rebuild") or name.startswith(f"{base}__g")

    def _drop_retired(self, live: str) -> float:
        """Delete the collections earlier rebuilds replaced, once no search can still hold them, and
        those of rebuilds killed before their switch, each with its BM25 folder. Returns when the
        earliest one kept was retired (0: none left). Runs under the index lock, so no rebuild is
        filling one."""
        now, earliest = time.time(), 0.0
        for col in self.client.list_collections():
            name = col.name
            if name == live or not self._is_ours(name):
                continue
            retired_at = (col.metadata or {}).get("retired_at")
            if isinstance(retired_at, (int, float)) and now < retired_at + RETIRED_GRACE_S:
                earliest = min(earliest or retired_at, retired_at)
                continue
            self._drop(name)
            shutil.rmtree(self._bm25_folder(name), ignore_errors=True)
        return earliest

    def _legacy_rebuild_leftover(self) -> Any | None:
        """A `--rebuild` of the renaming kind killed between dropping the old collection and renaming
        the new one left a finished `<collection>__rebuild`: it answers until the next run adopts it."""
        try:
            col = self.client.get_collection(f"{self.settings.collection}__rebuild",
                                             embedding_function=_ChromaEmbeddingFunction(self.embedder))
        except Exception:
            return None
        return None if (col.metadata or {}).get("generation", _DIRTY) == _DIRTY else col

    def _adopt_legacy_rebuild(self, live: str) -> str:
        """The live collection's name for a run, after pointing at an old-style rebuild's leftover
        (`_legacy_rebuild_leftover`) when it is what questions are answered from."""
        if live != self.settings.collection:
            return live
        leftover = self._legacy_rebuild_leftover()
        if leftover is None:
            return live
        try:
            self.client.get_collection(live, embedding_function=_ChromaEmbeddingFunction(self.embedder))
            return live  # the swap never began: the leftover is an unfinished rebuild's, deleted as such
        except Exception as err:
            if not _is_not_found(err):
                raise
        self._switch_live(leftover, replaced=live)
        return str(leftover.name)

    def _bm25_folder(self, name: str) -> Path:
        """Each collection has its own BM25 folder: the one a rebuild writes never replaces the one the
        live collection's searches load (the original collection keeps `bm25/`, as before pointers)."""
        base = self.settings.bm25_dir
        return base if name == self.settings.collection else base.with_name(f"{base.name}-{name}")

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_dir)

    def exists(self) -> bool:
        try:
            return self._collection().count() > 0
        except IndexMissingError:
            return False

    def stats(self) -> dict[str, Any]:
        col = self._collection()
        meta = col.metadata or {}
        rows = get_all(col, ["metadatas"])
        docs = {m["doc_id"] for m in rows["metadatas"]}
        return {"documents": len(docs), "chunks": len(rows["ids"]),
                "last_indexed": meta.get("indexed_at", ""), "location": self.location,
                "embedding": self.embedder.name}

    def _set_generation(self, col: Any, generation: str) -> None:
        changes: dict[str, Any] = {"generation": generation}
        if generation != _DIRTY:
            changes["indexed_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self._set_metadata(col, **changes)

    @staticmethod
    def _set_metadata(col: Any, **changes: Any) -> None:
        """Chroma replaces a collection's whole metadata: keep the other keys."""
        meta = dict(col.metadata or {})
        meta.pop("hnsw:space", None)  # fixed at creation; Chroma refuses to change it
        if "generation" in changes:
            meta.pop("retired_at", None)  # a collection being written is live (a killed switch left the stamp)
        meta.update(changes)
        col.modify(metadata=meta)

    # ---------------------------------------------------------------- re-indexing
    def update(self, path: Path | str, *, rebuild: bool = False, progress: ProgressCallback | None = None,
               wait: float = 0) -> IndexReport:
        """Make the index mirror `path`. Returns what was added, updated, skipped, deleted, failed."""
        t0 = time.perf_counter()
        path = Path(path)
        if not path.exists():
            raise CorpusError(f"{path} does not exist. Give a folder (or file) of .txt, .md, .html, .pdf or .jsonl articles.")
        loaded = load_corpus(path, max_file_mb=self.settings.max_file_mb)
        if not loaded.documents:
            reasons = "; ".join(str(p) for p in loaded.problems[:5]) or "the folder is empty"
            raise CorpusError(f"No readable articles in {path} ({reasons}). Add .txt, .md, .html, .pdf or .jsonl files.")
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.settings.lock_path))
        try:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                if wait <= 0:
                    raise
                # Said out loud (stderr, through logging's last-resort handler in the CLI) so that a
                # run that seems stuck explains itself.
                log.warning("Another `rag index` is running on %s; waiting up to %g s for it to finish.",
                            self.settings.data_dir, wait)
                lock.acquire(timeout=wait)
        except Timeout as err:
            raise IndexBusyError(
                f"Another `rag index` is running on {self.settings.data_dir}; wait for it to finish and run again.") from err
        try:
            # Each document's hash, computed once for both paths (in the order of loaded.documents).
            signature = _chunking_signature(self.settings)
            hashes = [_doc_hash(doc, signature) for doc in loaded.documents]
            unchanged = None if rebuild else self._unchanged_by_manifest(loaded, hashes, signature, t0)
            if unchanged is not None:
                return unchanged
            expected = self._expected_passages(loaded, rebuild)
            if expected:
                self.embedder.start_workers(expected)
            return self._update_locked(loaded, hashes, rebuild, progress, t0)
        finally:
            if self._embedder is not None:
                self._embedder.stop_workers()
            lock.release()

    @property
    def _manifest_path(self) -> Path | None:
        """Where the local store's manifest lives (rag/index/manifest.py); None for a Chroma server."""
        return None if self.settings.chroma_url else self.settings.data_dir / f"{self.settings.collection}.manifest.json"

    def _unchanged_by_manifest(self, loaded: Any, doc_hashes: list[str], signature: str,
                               t0: float) -> IndexReport | None:
        """The report of an unchanged corpus, decided from the manifest alone (no Chroma, no model);
        None when the manifest cannot say so and the full path must look at the store."""
        path = self._manifest_path
        manifest = read_manifest(path) if path is not None else None
        if manifest is None or not (self.settings.chroma_dir / "chroma.sqlite3").is_file():
            return None
        if manifest.retired_at and time.time() >= manifest.retired_at + RETIRED_GRACE_S:
            return None  # a collection a rebuild replaced is due for deletion, which needs the store
        hashes = {doc.doc_id: h for doc, h in zip(loaded.documents, doc_hashes)}
        generation = _bm25_generation(self._bm25_folder(manifest.live or self.settings.collection))
        if len(hashes) != len(loaded.documents) or not manifest.matches(
                self.settings.collection, signature, generation, hashes):
            return None
        doc_status = {d: ("skipped", manifest.documents[d][1]) for d in hashes}
        report = IndexReport(problems=list(loaded.problems), skipped=len(hashes), failed=len(loaded.problems),
                             files=_file_reports(loaded, doc_status, []), total_chunks=manifest.passages,
                             total_documents=len(hashes))
        report.seconds = time.perf_counter() - t0
        return report

    def _record_manifest(self, live: str, generation: str, doc_status: dict[str, tuple[str, int]],
                         doc_hashes: dict[str, str], stored_docs: set[str], passages: int,
                         retired_at: float) -> None:
        """Write the manifest of a finished run, when it describes the whole store (no document kept
        only because its file failed to read this time: the next run must look at the store for it)."""
        path = self._manifest_path
        if path is None or not stored_docs <= set(doc_status):
            return
        write_manifest(path, Manifest(self.settings.collection, _chunking_signature(self.settings), generation,
                                      {d: (doc_hashes[d], n) for d, (_, n) in doc_status.items()}, passages,
                                      live=live, retired_at=retired_at))

    def _expected_passages(self, loaded: Any, rebuild: bool) -> int:
        """About how many passages this run will embed, when it is known before opening the store: all
        of them for a --rebuild or where no index was ever finished (no BM25 index on disk); else 0.
        Lets a long first write start its embedding worker processes while Chroma opens (~1 s)."""
        base = self.settings.bm25_dir
        if not rebuild and any(_bm25_generation(folder) is not None
                               for folder in (base, *base.parent.glob(f"{base.name}-*"))):
            return 0
        return sum(len(doc.text) for doc in loaded.documents) // self.settings.chunk_size

    def _update_locked(self, loaded: Any, hashes: list[str], rebuild: bool, progress: ProgressCallback | None,
                       t0: float) -> IndexReport:
        report = IndexReport(problems=list(loaded.problems))
        if self._manifest_path is not None:
            drop_manifest(self._manifest_path)  # written again only when this run finishes
        live = self._adopt_legacy_rebuild(self._live_name())
        retired_at = self._drop_retired(live)
        if rebuild:
            # Build beside the live collection and switch the pointer at the end, so the old index keeps
            # answering (and survives a crash) while the new one is embedded.
            col = self._collection(create=True, name=f"{self.settings.collection}__g{uuid.uuid4().hex[:16]}")
        else:
            col = self._collection(create=True, name=live)

        existing: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        expected: dict[tuple[str, str], int] = {}
        stored = get_all(col, ["metadatas"])
        for cid, meta in zip(stored["ids"], stored["metadatas"]):
            existing[meta["doc_id"]][meta["doc_hash"]].append(cid)
            expected[(meta["doc_id"], meta["doc_hash"])] = int(meta.get("n_chunks", 0))

        doc_status: dict[str, tuple[str, int]] = {}
        doc_hashes: dict[str, str] = {}
        texts: dict[str, str] = {}
        to_write: list[tuple[Chunk, str, int]] = []
        stale: list[str] = []
        for doc, doc_hash in zip(loaded.documents, hashes):
            old = existing.get(doc.doc_id, {})
            if doc.doc_id in doc_status:  # duplicate id in the corpus: first one wins
                report.problems.append(FileProblem(doc.source, f"duplicate document id {doc.doc_id!r}; skipped"))
                continue
            chunks = unique_passages(chunk_document(doc, self.settings.chunk_size, self.settings.tuning.chunk_overlap))
            doc_hashes[doc.doc_id], texts[doc.doc_id] = doc_hash, doc.text
            complete = len(old.get(doc_hash, [])) == len(chunks) == expected.get((doc.doc_id, doc_hash))
            if complete and len(old) == 1:
                doc_status[doc.doc_id] = ("skipped", len(chunks))
                continue
            doc_status[doc.doc_id] = ("updated" if old else "added", len(chunks))
            to_write.extend((c, doc_hash, len(chunks)) for c in chunks)
            stale.extend(cid for h, ids in old.items() if h != doc_hash for cid in ids)

        kept = _kept_unread(loaded, existing, doc_status)
        removed = [d for d in existing if d not in doc_status and d not in kept]
        removed_ids = [cid for d in removed for ids in existing[d].values() for cid in ids]
        for status, _ in doc_status.values():
            setattr(report, status, getattr(report, status) + 1)
        report.deleted = len(removed)
        report.failed = len(loaded.problems)
        report.kept = len(kept)
        report.files = _file_reports(loaded, doc_status, removed)

        generation = (col.metadata or {}).get("generation", _DIRTY)
        if (not (to_write or stale or removed_ids) and generation != _DIRTY
                and _bm25_generation(self._bm25_folder(col.name)) == generation):
            # Nothing changed: the store, the groups and the BM25 index on disk are all current.
            # No write, no BM25 rebuild, and the embedding model is never loaded (issue 12).
            report.total_chunks = len(stored["ids"])
            report.total_documents = len(existing)
            self._record_manifest(live, generation, doc_status, doc_hashes, set(existing), len(stored["ids"]),
                                  retired_at)
            report.seconds = time.perf_counter() - t0
            return report

        self._set_generation(col, _DIRTY)
        batches = self._batches(to_write)
        # A long write starts embedding here, in worker processes, while the groups are computed and
        # each batch is stored (rag/embed/embedding_workers.py).
        with self.embedder.passage_batches([([c.text for c, _, _ in batch], [c.title for c, _, _ in batch])
                                            for batch in batches]) as vectors:
            # Documents that stay in the index: this run's, plus those whose file failed to read this time.
            for doc_id in kept:
                doc_hashes[doc_id] = next(iter(existing[doc_id]))
            groups = self._regroup(col, doc_hashes, texts)
            written = self._write(col, batches, vectors, progress, groups)
        self._update_groups(col, stored["ids"], stored["metadatas"], groups, skip=set(stale + removed_ids))
        self._delete(col, stale + removed_ids)
        report.chunks_added, report.chunks_deleted = len(to_write), len(stale) + len(removed_ids)

        # Into a collection that was empty (a first index, a --rebuild), this run wrote everything it
        # holds: the BM25 side is built from that instead of reading it all back. A Chroma server may
        # have other writers, so there it is always read back.
        fresh = not stored["ids"] and not self.settings.chroma_url
        new_generation = uuid.uuid4().hex
        metas = self._rebuild_bm25(col, generation=new_generation, rows=written if fresh else None)
        if rebuild:
            self._switch_live(col, replaced=live)
            live, retired_at = col.name, retired_at or time.time()  # the earliest still waiting
        report.total_chunks = len(metas)
        stored_docs = {m["doc_id"] for m in metas}
        report.total_documents = len(stored_docs)
        self._record_manifest(live, new_generation, doc_status, doc_hashes, stored_docs, len(metas), retired_at)
        report.seconds = time.perf_counter() - t0
        return report

    def _regroup(self, col: Any, doc_hashes: dict[str, str], texts: dict[str, str]) -> dict[str, str]:
        """Near-duplicate groups over every article that stays in the index (see rag/index/dedup.py)."""
        from rag.index.dedup import SCHEME, SignatureCache, group_articles, signature

        cache = SignatureCache(self.settings.data_dir / f"minhash-{SCHEME}.json")
        signatures: dict[str, Any] = {}
        for doc_id, doc_hash in doc_hashes.items():
            sig = cache.get(doc_hash)
            if sig is False:
                text = texts.get(doc_id)
                if text is None:  # a file that failed to read this time: its stored passages stand in
                    rows = col.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
                    pairs = sorted(zip(rows["metadatas"], rows["documents"]), key=lambda p: p[0]["index"])
                    text = "\n".join(t for _, t in pairs)
                sig = signature(text)
                cache.put(doc_hash, sig)
            signatures[doc_id] = sig
        cache.keep_only(doc_hashes.values())
        cache.save()
        return group_articles(signatures, self.settings.tuning.near_duplicate_threshold)

    @staticmethod
    def _update_groups(col: Any, ids: list[str], metas: list[dict[str, Any]], groups: dict[str, str],
                       skip: set[str]) -> None:
        """Stored passages whose article changed group (a copy arrived or left) get the new group id."""
        changed = [(cid, {**meta, "group": groups[meta["doc_id"]]}) for cid, meta in zip(ids, metas)
                   if cid not in skip and meta["doc_id"] in groups and meta.get("group") != groups[meta["doc_id"]]]
        for start in range(0, len(changed), 1000):
            batch = changed[start:start + 1000]
            col.update(ids=[cid for cid, _ in batch], metadatas=[meta for _, meta in batch])

    def _batches(self, items: list[tuple[Chunk, str, int]]) -> list[list[tuple[Chunk, str, int]]]:
        # Sorted by length over the whole run, so every embedding batch holds passages of about the
        # same length: padding is what a transformer wastes most time on (1,500 SciFact abstracts:
        # 106.7 -> 94.8 s). The writing order does not matter for safety: a document counts as
        # indexed only when all its passages are there (`n_chunks`), so a killed run is redone.
        items = sorted(items, key=lambda item: len(item[0].embed_text), reverse=True)
        size = self.settings.tuning.index_batch_size
        return [items[start:start + size] for start in range(0, len(items), size)]

    def _write(self, col: Any, batches: list[list[tuple[Chunk, str, int]]], vectors: Iterable[Any],
               progress: ProgressCallback | None, groups: dict[str, str]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Store each batch with its vectors; returns what was written (ids, texts, metadata), in order."""
        written: tuple[list[str], list[str], list[dict[str, Any]]] = ([], [], [])
        total = sum(len(batch) for batch in batches)
        done = 0
        for batch, batch_vectors in zip(batches, vectors):
            ids = [f"{h[:20]}-{c.index}" for c, h, _ in batch]
            texts = [c.text for c, _, _ in batch]
            metas = [passage_metadata(c, h, n, groups.get(c.doc_id, c.doc_id)) for c, h, n in batch]
            col.upsert(ids=ids, embeddings=batch_vectors, documents=texts, metadatas=metas)
            for column, values in zip(written, (ids, texts, metas)):
                column.extend(values)
            done += len(batch)
            if progress:
                progress(done, total, "embedding passages")
        return written

    def _drop(self, name: str) -> None:
        try:
            self.client.delete_collection(name)
        except Exception as err:
            if not _is_not_found(err):
                raise

    @staticmethod
    def _delete(col: Any, ids: list[str]) -> None:
        for start in range(0, len(ids), 1000):
            col.delete(ids=ids[start:start + 1000])

    # ---------------------------------------------------------------- reading passages back
    def all_passages(self, col: Any | None = None) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        col = col or self._collection()
        rows = get_all(col, ["documents", "metadatas"])
        return rows["ids"], rows["documents"], rows["metadatas"]

    def passages_of(self, doc_id: str) -> list[tuple[str, dict[str, Any]]]:
        """All passages of one document, in order: what the page uses to show a citation in context."""
        rows = self._collection().get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        pairs = sorted(zip(rows["documents"], rows["metadatas"]), key=lambda p: p[1]["index"])
        return pairs

    def dense_search(self, embedding: list[float], k: int, col: Any,
                     where: dict[str, Any] | None = None) -> list[tuple[str, str, dict[str, Any], float]]:
        """The `k` nearest passages in `col` (a handle from `collection()`, fetched once per search),
        among those matching the Chroma `where` clause when one is given."""
        n = min(k, col.count())
        if n == 0:
            return []
        res = col.query(query_embeddings=[embedding], n_results=n, where=where,
                        include=["documents", "metadatas", "distances"])
        # cosine distance -> similarity
        return [(cid, doc, meta, 1.0 - dist) for cid, doc, meta, dist in
                zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])]

    def articles(self, filters: SearchFilters | None = None, col: Any | None = None) -> list[dict[str, Any]]:
        """One dict per indexed article (matching `filters`), newest first, undated last."""
        col = col or self._collection()
        where = filters.chroma_where() if filters else None
        metas = get_all(col, ["metadatas"], where=where)["metadatas"]
        by_doc: dict[str, dict[str, Any]] = {}
        for meta in metas:
            entry = by_doc.get(meta["doc_id"])
            if entry is None:
                authors = [a for a in str(meta.get("authors") or "").split("; ") if a]
                entry = by_doc[meta["doc_id"]] = {
                    "doc_id": meta["doc_id"], "title": meta.get("title", ""), "date": meta.get("date", ""),
                    "outlet": meta.get("outlet", ""), "url": meta.get("url", ""), "authors": authors,
                    "passages": 0, "group": meta.get("group", meta["doc_id"])}
            entry["passages"] += 1
        undated = sorted((a for a in by_doc.values() if not a["date"]), key=lambda a: (a["title"], a["doc_id"]))
        dated = sorted((a for a in by_doc.values() if a["date"]), key=lambda a: (a["title"], a["doc_id"]))
        dated.sort(key=lambda a: a["date"], reverse=True)  # stable: same day keeps title order
        return dated + undated

    def group_members(self, groups: Iterable[str], col: Any) -> dict[str, list[dict[str, Any]]]:
        """{group: [first-passage metadata of each article in it]}: who else reported each story."""
        wanted = sorted(set(groups))
        if not wanted:
            return {}
        rows = col.get(where={"$and": [{"group": {"$in": wanted}}, {"index": 0}]}, include=["metadatas"])
        members: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for meta in rows["metadatas"] or []:
            members[meta["group"]].append(meta)
        return dict(members)

    # ---------------------------------------------------------------- BM25 twin
    def bm25(self, col: Any) -> Bm25Side:
        """The BM25 index matching the collection's current generation (rebuilt if stale).

        `col` must be a handle fetched for this search: its metadata carries the generation.
        """
        generation = (col.metadata or {}).get("generation", "")
        if generation == _DIRTY:
            # A re-index is running or was killed. Rebuild from what the collection holds now and
            # keep it in memory while the passage count stays the same: a killed run would otherwise
            # cost a full rebuild per question until the next `rag index`. Never saved to disk.
            generation = f"{_DIRTY}:{col.count()}"
        key = f"{col.name}/{generation}"
        if self._bm25 and self._bm25[0] == key:
            return self._bm25[1]
        folder = self._bm25_folder(col.name)
        loaded = None if generation.startswith(_DIRTY) else _load_bm25(folder, generation)
        if loaded is None:
            ids, texts, metas = self.all_passages(col)
            loaded = _build_bm25(ids, metas, texts=texts)
            if not generation.startswith(_DIRTY):
                _save_bm25(folder, generation, loaded)
        self._bm25 = (key, loaded)
        return loaded

    # ---------------------------------------------------------------- bulk writing (benchmarks)
    def write_vectors(self, batches: Iterable[VectorBatch]) -> Any:
        """Store passages whose vectors are already computed, bypassing reading, chunking and embedding
        (bench/scaling.py fills a million passages this way); returns the collection for `rebuild_bm25`.

        The live collection (made if missing) is marked dirty before the first write, as `update` does,
        so a search meanwhile rebuilds BM25 from what is there. Nothing checks the rows: build each
        metadata with `passage_metadata`, and take no lock: not for a folder `rag index` also writes.
        """
        col = self._collection(create=True)
        self._set_generation(col, _DIRTY)
        for ids, embeddings, texts, metas in batches:
            col.upsert(ids=ids, embeddings=embeddings, documents=texts, metadatas=metas)
        return col

    def rebuild_bm25(self, col: Any, generation: str) -> None:
        """BM25 over everything `col` holds, saved and tagged `generation`, which marks the collection
        clean again (the end of `write_vectors`)."""
        self._rebuild_bm25(col, generation)

    def _rebuild_bm25(self, col: Any, generation: str,
                      rows: tuple[list[str], list[str], list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
        """BM25 over the collection's passages: `rows` when the caller knows them all, else read back."""
        ids, texts, metas = rows if rows is not None else self.all_passages(col)
        side = _build_bm25(ids, metas, texts=texts)
        _save_bm25(self._bm25_folder(col.name), generation, side)
        self._set_generation(col, generation)
        self._bm25 = (f"{col.name}/{generation}", side)
        return metas


def get_all(col: Any, include: list[str], page: int = 5000, where: dict[str, Any] | None = None) -> dict[str, list[Any]]:
    """`col.get()` of the whole collection (`include`: Chroma's fields, e.g. ["embeddings"]), a page at a
    time: one unpaged get of ~100,000 rows fails inside Chroma's SQLite with "too many SQL variables"."""
    out: dict[str, list[Any]] = {"ids": [], **{key: [] for key in include}}
    offset = 0
    while True:
        rows = col.get(include=include, limit=page, offset=offset, where=where)
        for key in out:
            out[key].extend(rows[key] if rows[key] is not None else [])  # embeddings come as an array
        if len(rows["ids"]) < page:
            return out
        offset += page


def _bm25_text(text: str, meta: dict[str, Any]) -> str:
    title = meta.get("title") or ""
    return f"{title}\n{text}" if title else text


def tokenize(texts: Iterable[str]) -> Any:
    """The BM25 side's tokens of `texts` (English stop-words out, Snowball-stemmed): queries and
    passages must be tokenized alike, so retrieval and the benchmarks use this one function."""
    import bm25s
    import Stemmer

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)


def _build_bm25(ids: list[str], metas: list[dict[str, Any]], *, texts: list[str]) -> Bm25Side:
    import bm25s

    retriever = bm25s.BM25()
    if ids:
        retriever.index(tokenize(_bm25_text(t, m) for t, m in zip(texts, metas)), show_progress=False)
    keys = [{key: m.get(key) for key in _BM25_KEYS} for m in metas]
    return Bm25Side(retriever, list(ids), keys)


def _save_bm25(folder: Path, generation: str, side: Bm25Side) -> None:
    """Write to a fresh folder, then swap it in: a crash never leaves a half-written BM25 index."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    for leftover in folder.parent.glob(f"{folder.name}.*-*"):  # from writers that were killed
        if not _pid_alive(leftover.name.rsplit("-", 1)[-1]):
            shutil.rmtree(leftover, ignore_errors=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if side.ids:
        side.retriever.save(str(tmp / "bm25"))
    (tmp / "ids.json").write_text(json.dumps({"generation": generation, "ids": side.ids, "keys": side.keys}))
    (tmp / "generation").write_text(generation)
    old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def _bm25_generation(folder: Path) -> str | None:
    """The generation of the BM25 index on disk, read without loading it (the unchanged-run check)."""
    try:
        return (folder / "generation").read_text().strip() or None
    except OSError:
        return None


def _load_bm25(folder: Path, generation: str) -> Bm25Side | None:
    import bm25s

    try:
        info = json.loads((folder / "ids.json").read_text())
        if info.get("generation") != generation:
            return None
        ids, keys = info["ids"], info["keys"]
        retriever = bm25s.BM25.load(str(folder / "bm25")) if ids else bm25s.BM25()
        # Another process may have swapped the folder between the two reads: then ids and matrix
        # could belong to different generations. Re-check; on any doubt, rebuild instead.
        again = json.loads((folder / "ids.json").read_text())
        if (again.get("generation") != generation or len(keys) != len(ids)
                or (ids and retriever.scores["num_docs"] != len(ids))):
            return None
        return Bm25Side(retriever, ids, keys)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _is_not_found(err: Exception) -> bool:
    return "does not exist" in str(err) or err.__class__.__name__ in ("NotFoundError", "InvalidCollectionException")


def _is_connection_error(err: Exception) -> bool:
    import httpx

    return isinstance(err, (httpx.TransportError, ConnectionError)) or "Could not connect" in str(err)


# Where a problem points: a whole file, one line of a `.jsonl` (`news.jsonl:7`, whose row id may be
# unreadable) or one article of a multi-article file (`news.jsonl#<_id>`, `feed.rss#<entry id>`).
# Non-greedy, so a row id that itself contains ".jsonl" or "#" still names the right file.
_MULTI_ARTICLE_FILE = re.compile(
    r"^(.*?(?:\.jsonl|" + "|".join(re.escape(s) for s in FEED_SUFFIXES) + r"))(?::\d+|#.*)?$",
    re.IGNORECASE | re.DOTALL)


def _failed_multi_article_files(loaded: Any) -> set[str]:
    """`.jsonl` and feed files read in vain this run, wholly or partly: refused as a whole, with a line
    that could not be read (a file truncated while being written), or a feed read only partly (a
    file-level warning: malformed, read what could be read). Which of their articles are missing
    because of it cannot be told, so all of them are kept until the file reads cleanly."""
    files: set[str] = set()
    for problem in loaded.problems:
        match = _MULTI_ARTICLE_FILE.match(problem.path)
        if match and problem.path[len(match.group(1)):][:1] in ("", ":"):
            files.add(match.group(1))
    for warning in loaded.warnings:
        match = _MULTI_ARTICLE_FILE.match(warning.path)
        if match and warning.path == match.group(1) and warning.path.lower().endswith(FEED_SUFFIXES):
            files.add(warning.path)
    return files


def _kept_unread(loaded: Any, stored: Iterable[str], read: Iterable[str]) -> set[str]:
    """Stored documents this run did not read but must keep: those of a file that failed to read
    (a single-article file, one article of a feed, or any article of a `.jsonl`/feed read in vain)."""
    read = set(read)
    exact = {problem.path for problem in loaded.problems}
    prefixes = tuple(f"{name}#" for name in _failed_multi_article_files(loaded))
    return {doc_id for doc_id in stored
            if doc_id not in read and (doc_id in exact or (prefixes and doc_id.startswith(prefixes)))}


def _file_reports(loaded: Any, doc_status: dict[str, tuple[str, int]], removed: list[str]) -> list[FileReport]:
    reports: list[FileReport] = []
    for rel, doc_ids in loaded.files.items():
        statuses = [doc_status[d] for d in doc_ids if d in doc_status]
        if len(doc_ids) == 1 and statuses:
            status, n = statuses[0]
            reports.append(FileReport(rel, status, n))
        elif statuses:  # a JSONL file: summarise its documents
            counts: dict[str, int] = defaultdict(int)
            for status, _ in statuses:
                counts[status] += 1
            main = "updated" if counts["added"] or counts["updated"] else "skipped"
            detail = ", ".join(f"{v} {k}" for k, v in counts.items())
            reports.append(FileReport(rel, main, sum(n for _, n in statuses), f"{len(doc_ids)} documents: {detail}"))
    reports.extend(FileReport(p.path, "failed", 0, p.reason) for p in loaded.problems)
    reports.extend(FileReport(d, "deleted") for d in removed)
    return reports
