"""Content digests: of a file's bytes, of nested values by content, and short hashes of settings."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    """sha256 (hex) of a file's bytes, read in blocks (memory stays bounded for large files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def content_digest(obj: Any) -> str:
    """sha256 (16 hex) of nested dicts / lists / arrays / scalars by content: dict order, container
    types and float widths do not matter (float arrays are hashed as float64), values do."""
    import numpy as np

    digest = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, dict):
            digest.update(b"{")
            for key in sorted(x, key=str):
                feed(str(key))
                feed(x[key])
            digest.update(b"}")
        elif isinstance(x, (list, tuple)):
            digest.update(b"[")
            for v in x:
                feed(v)
            digest.update(b"]")
        elif isinstance(x, np.generic):
            feed(x.item())
        elif hasattr(x, "shape") and hasattr(x, "dtype"):  # numpy arrays, torch tensors (bfloat16 too)
            if hasattr(x, "detach"):
                x = x.detach().cpu()
                x = x.float() if x.is_floating_point() else x
            a = np.asarray(x)
            a = a.astype(np.float64) if a.dtype.kind == "f" else a
            digest.update(f"<{a.dtype.str}{a.shape}>".encode() + np.ascontiguousarray(a).tobytes())
        elif isinstance(x, float):
            digest.update(f"f{x!r};".encode())
        else:
            digest.update(f"{type(x).__name__}:{x!r};".encode())

    feed(obj)
    return digest.hexdigest()[:16]


def short_hash(data: Any, n: int = 8) -> str:
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]
