"""The index: the Chroma store with its BM25 side and incremental re-indexing (`store`), near-duplicate
articles (`dedup`) and the record of which collection is live (`manifest`).

The public names of `store` are importable from here (`from rag.index import Index`).
"""

from rag.index.store import (Bm25Side, FileReport, Index, IndexReport, ProgressCallback, VectorBatch, get_all,
                             passage_metadata, tokenize, unique_passages)

__all__ = ["Index", "IndexReport", "FileReport", "ProgressCallback", "Bm25Side", "VectorBatch", "passage_metadata",
           "unique_passages", "tokenize", "get_all"]
