"""Ask your news articles: offline retrieval-augmented answers whose every claim cites its passage.

    from rag import Assistant
    assistant = Assistant()               # settings from RAG_* environment variables
    assistant.index("corpus/")            # incremental; returns an IndexReport
    answer = assistant.ask("What did Umerov request?")
    print(answer.text, [(c.n, c.title) for c in answer.citations])

Importing this package imports only the error tree: every other public name is loaded on first
access (module `__getattr__`, PEP 562), so `rag --help` or `rag index` never pays for LangChain's
chat-model modules, and nothing imports gradio, torch or llama.cpp until it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors as _errors
from .errors import *  # noqa: F403 - the error tree is part of the public API

if TYPE_CHECKING:
    from .assistant import Assistant
    from .index import FileReport, IndexReport
    from .settings import Settings, Tuning
    from .types import REFUSAL_TEXT, Answer, Citation, Event, Timings

# public name -> the module (inside `rag`) that defines it
_LAZY: dict[str, str] = {
    "Assistant": "assistant",
    "Answer": "types",
    "Citation": "types",
    "Event": "types",
    "Timings": "types",
    "REFUSAL_TEXT": "types",
    "IndexReport": "index",
    "FileReport": "index",
    "Settings": "settings",
    "Tuning": "settings",
}

__all__ = [
    "Assistant",
    "Answer",
    "Citation",
    "Event",
    "Timings",
    "IndexReport",
    "FileReport",
    "Settings",
    "Tuning",
    "REFUSAL_TEXT",
    *_errors.__all__,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
