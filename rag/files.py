"""What identifies a file on disk without reading it, shared by the checks that trust a file they hashed
before: the GGUF's verified stamp (`rag.llm.models`) and the embedding model's fingerprint (`rag.embed.onnx_export`)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["file_identity"]


def file_identity(path: Path) -> dict[str, int]:
    """Size, mtime, ctime and inode: any write to or replacement of the file changes one of them."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}
