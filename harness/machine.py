"""What machine a number was computed on: CPU model and vector ISA, thread count and the versions
of every numeric library a result passes through. Recorded in run records and golden files, so a
drift can be laid next to the machine that made the expected number."""
from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

# vector extensions that change which kernels numpy / torch / OpenCV / MKL dispatch to
ISA_OF_INTEREST = ("SSE42", "AVX", "F16C", "FMA3", "AVX2", "AVX512F", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR",
                   "AVX512_BF16", "AVX512_FP16", "ASIMD", "ASIMDHP", "ASIMDDP", "SVE", "VSX", "VSX3", "VX")
LIBRARIES = ("torch", "numpy", "scipy", "opencv-python-headless", "pillow", "scikit-learn")


def cpu_model() -> str:
    """The processor's name as the OS reports it (``/proc/cpuinfo`` on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model", "Processor"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def isa() -> list[str]:
    """The vector extensions of interest that this CPU has, as numpy's dispatcher names them."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return [name for name in ISA_OF_INTEREST if features.get(name)]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    """CPU, ISA, threads and library versions, e.g. for ``harness regress`` to explain a drift."""
    import torch

    out: dict[str, Any] = {"cpu": cpu_model(), "arch": platform.machine(), "isa": isa(),
                           "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                           "threads": torch.get_num_threads(), "cores": os.cpu_count(),
                           "python": platform.python_version()}
    out.update({name: _version(name) for name in LIBRARIES})
    return out


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``key: a -> b`` for every field that differs between two :func:`describe` results."""
    return [f"{k}: {a.get(k)} -> {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
