"""The GGUF start-up check: a full sha256 once, then a verified stamp, and never a stale stamp.

These tests run `ensure_gguf` on a small model file assembled from small part modules written into
a temporary folder, so the checksum logic runs exactly as for the bundled 1.1 GB model, in
milliseconds. (Whether the bundled model itself loads is covered by the seed-question tests.)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from rag import models
from rag.errors import ModelChecksumError
from rag.models import BundledModel, ensure_gguf, stamp_path

PARTS = [b"GGUF" + bytes(range(256)) * 40, bytes(reversed(range(256))) * 33]


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BundledModel:
    """A two-part 'model' installed as importable modules `tinypart1`, `tinypart2`."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    for i, data in enumerate(PARTS, start=1):
        (pkg / f"tiny.part{i}").write_bytes(data)
        (pkg / f"tinypart{i}.py").write_text(
            f"from pathlib import Path\ndef get_part_path():\n    return str(Path(__file__).with_name('tiny.part{i}'))\n")
    monkeypatch.syspath_prepend(str(pkg))
    for i in (1, 2):
        sys.modules.pop(f"tinypart{i}", None)
    return BundledModel("tiny", "tinypart", 2, hashlib.sha256(b"".join(PARTS)).hexdigest(), "tiny.gguf", "reinstall tiny")


def _count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = models.sha256_file

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(models, "sha256_file", counting)
    return calls


def test_assembly_records_a_verified_stamp(spec: BundledModel, tmp_path: Path) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    assert path.read_bytes() == b"".join(PARTS)
    stamp = json.loads(stamp_path(path).read_text())
    assert stamp["sha256"] == spec.sha256 and stamp["size"] == path.stat().st_size


def test_unchanged_file_is_not_hashed_again(spec: BundledModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    calls = _count_hashes(monkeypatch)
    assert ensure_gguf(spec, tmp_path / "cache") == path
    assert calls == []


def test_truncated_file_is_detected_and_reassembled(spec: BundledModel, tmp_path: Path) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    with open(path, "r+b") as fh:
        fh.truncate(100)
    ensure_gguf(spec, tmp_path / "cache")
    assert path.read_bytes() == b"".join(PARTS)


def test_altered_file_with_restored_size_and_mtime_is_detected(spec: BundledModel, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    before = path.stat()
    with open(path, "r+b") as fh:  # same size, one byte changed, modification time put back
        fh.seek(10)
        fh.write(b"X")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    calls = _count_hashes(monkeypatch)
    ensure_gguf(spec, tmp_path / "cache")
    assert calls == [path], "the stamp was trusted although the file changed (its ctime moved)"
    assert path.read_bytes() == b"".join(PARTS)


def test_forged_stamp_for_another_checksum_is_not_trusted(spec: BundledModel, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_gguf(spec, tmp_path / "cache")
    stamp = json.loads(stamp_path(path).read_text())
    stamp_path(path).write_text(json.dumps({**stamp, "sha256": "0" * 64}))
    calls = _count_hashes(monkeypatch)
    ensure_gguf(spec, tmp_path / "cache")
    assert calls == [path]


def test_parts_that_do_not_match_raise_a_checksum_error(spec: BundledModel, tmp_path: Path) -> None:
    wrong = BundledModel(spec.name, spec.module_prefix, spec.parts, "f" * 64, spec.filename, spec.install_hint)
    with pytest.raises(ModelChecksumError, match="reinstall tiny"):
        ensure_gguf(wrong, tmp_path / "cache")
    assert not (tmp_path / "cache" / spec.filename).exists()
