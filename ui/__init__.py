"""The chat page: `rag serve` opens it. A thin face over `rag.Assistant`.

`ui.app` builds and launches the Gradio page, `ui.render` turns answers into escaped HTML and
Markdown, `ui.uploads` copies uploaded articles into the corpus folder under safe names. Nothing
here retrieves or answers; importing `rag` never imports this package (or gradio).
"""

from __future__ import annotations

__all__ = ["serve", "build_app", "launch"]


def __getattr__(name: str):  # gradio loads only when the page is actually wanted
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
