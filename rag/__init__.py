"""Ask your news articles: offline retrieval-augmented answers whose every claim cites its passage.

    from rag import Assistant
    assistant = Assistant()               # settings from RAG_* environment variables
    assistant.index("corpus/")            # incremental; returns an IndexReport
    answer = assistant.ask("What did Umerov request?")
    print(answer.text, [(c.n, c.title) for c in answer.citations])

Importing this package does not import gradio, torch or llama.cpp; they load on first use.
"""

from __future__ import annotations

from .answer import REFUSAL_TEXT, Answer, Citation, Event, Timings
from .assistant import Assistant
from . import errors as _errors
from .errors import *  # noqa: F403 - the error tree is part of the public API
from .index import FileReport, IndexReport
from .settings import Settings

__all__ = [
    "Assistant",
    "Answer",
    "Citation",
    "Event",
    "Timings",
    "IndexReport",
    "FileReport",
    "Settings",
    "REFUSAL_TEXT",
    *_errors.__all__,
]
