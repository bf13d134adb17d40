"""The CPU a benchmark figure was measured on: model name and the SIMD flags that change its speed.

int8 embedding (onnxruntime) and llama.cpp pick different kernels on AVX2, AVX-512 and VNNI, and the
team's machines differ, so every benchmark prints `describe()` beside its figures.

Usage: python -m bench.cpuinfo
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["FLAGS", "cpu_flags", "describe"]

FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags() -> dict[str, bool]:
    """Which of `FLAGS` this CPU has (all False where /proc/cpuinfo cannot be read)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return dict.fromkeys(FLAGS, False)
    have = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    return {flag: flag in have for flag in FLAGS}


def _model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """One line: model, CPU count, load average and flags, e.g. '...; 2 CPUs; load 1.2; avx2=yes ...'."""
    flags = " ".join(f"{k}={'yes' if v else 'no'}" for k, v in cpu_flags().items())
    return f"{_model_name()}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}; {flags}"


if __name__ == "__main__":
    print(describe())
