"""The project's own errors: each message says what went wrong and what to do next.

    RagError                     base of everything below; faces catch it and show `str(err)`
    ├── QuestionError            empty, oversized or unreadable question
    ├── IndexMissingError        nothing has been indexed yet ("run rag index")
    ├── IndexBusyError           another re-index holds the data directory's lock
    ├── CorpusError              a path with no readable files, or that does not exist
    ├── ModelError               the LLM cannot be loaded
    │   └── ModelChecksumError   the assembled GGUF does not match its published sha256
    ├── LLMUnreachableError      an OpenAI-compatible / Ollama model server did not answer
    └── ChromaUnreachableError   the Chroma server (RAG_CHROMA_URL) did not answer or is not an address

Faces (CLI, web page) catch `RagError` and print its message without a traceback;
anything else is a bug and is allowed to surface as one.
"""

from __future__ import annotations

__all__ = [
    "RagError",
    "QuestionError",
    "IndexMissingError",
    "IndexBusyError",
    "CorpusError",
    "ModelError",
    "ModelChecksumError",
    "LLMUnreachableError",
    "ChromaUnreachableError",
]


class RagError(Exception):
    """Base class: a problem the user can act on; the message says how."""


class QuestionError(RagError, ValueError):
    """The question cannot be asked as typed (empty, too long, control characters)."""


class IndexMissingError(RagError):
    """There is no index to answer from yet."""


class IndexBusyError(RagError):
    """Another re-index is running on the same data directory."""


class CorpusError(RagError):
    """The path to index does not exist or holds no readable files."""


class ModelError(RagError):
    """The language model could not be prepared or loaded."""


class ModelChecksumError(ModelError):
    """The assembled model file does not match its published checksum."""


class LLMUnreachableError(RagError):
    """A model server at a configured URL did not answer."""


class ChromaUnreachableError(RagError):
    """The Chroma server at RAG_CHROMA_URL did not answer (or the setting is not a server address)."""
