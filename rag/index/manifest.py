"""The record of the last finished `rag index` run: an unchanged corpus is recognised without Chroma.

`Index.update` needs, to say "nothing changed", only each document's content hash (which already
includes the chunking and embedding recipe, `index._doc_hash`) and the knowledge that the store still
holds what the last run wrote. Opening Chroma to read that back costs most of an unchanged run
(importing chromadb, opening its SQLite, reading every passage's metadata: ~0.6 s of ~1 s for the
seed corpus). So a run that finishes writes this small JSON file beside the store:

- the collection and the chunking/embedding signature it was written with,
- the generation it ended with (the same tag the BM25 index on disk carries), and which collection
  was live (a `--rebuild` fills a new one and switches to it, rag/index/store.py), so the right BM25 folder
  is checked; and when a collection a rebuild replaced may be deleted, which only a run that opens
  the store can do (an unchanged run then takes the full path),
- each indexed document's id, content hash and passage count.

A later run whose documents hash to exactly that map, with the BM25 index still of that generation,
is unchanged; it reports so without importing chromadb or loading the embedding model. Any run that
goes on to read or write the store deletes the manifest first and writes a new one when it finishes,
so a crash mid-run leaves none (the next run takes the full path). Only the local store has one: a
Chroma server may have other writers this file would not see.

What it deliberately does not do: detect a store edited by something other than `Index.update`
(deleting `.rag/` deletes the manifest with it; `rag index --rebuild` ignores it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Manifest", "read_manifest", "write_manifest", "drop_manifest"]

_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    collection: str
    signature: str
    generation: str
    documents: dict[str, tuple[str, int]]  # doc_id -> (doc_hash, its passages)
    passages: int  # stored passages in all (identical passages of two documents are stored once)
    live: str = ""  # the collection the pointer named (a rebuild's `<collection>__g...`); "" = `collection`
    retired_at: float = 0.0  # when the earliest collection a rebuild replaced, not yet deleted, was retired; 0 = none

    def matches(self, collection: str, signature: str, generation: str | None,
                documents: dict[str, str]) -> bool:
        """True when the store holds exactly `documents` (doc_id -> doc_hash) as this manifest recorded."""
        return (self.collection == collection and self.signature == signature and generation == self.generation
                and len(documents) == len(self.documents)
                and all(self.documents.get(d, ("",))[0] == h for d, h in documents.items()))


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at `path`, or None if there is none or it is not one this version wrote."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != _VERSION:
            return None
        docs = {str(k): (str(v[0]), int(v[1])) for k, v in data["documents"].items()}
        return Manifest(str(data["collection"]), str(data["signature"]), str(data["generation"]), docs,
                        int(data["passages"]), live=str(data.get("live") or ""),
                        retired_at=float(data.get("retired_at") or 0.0))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write atomically (a reader sees the old file or the new one, never half of one)."""
    payload = {"version": _VERSION, "collection": manifest.collection, "signature": manifest.signature,
               "generation": manifest.generation,
               "documents": {d: [h, n] for d, (h, n) in manifest.documents.items()}, "passages": manifest.passages,
               "live": manifest.live, "retired_at": manifest.retired_at}
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a read-only data folder still indexes; the next run just takes the full path
        tmp.unlink(missing_ok=True)


def drop_manifest(path: Path) -> None:
    path.unlink(missing_ok=True)
