"""Run records on disk: atomic writes, where runs live, and reading them back.

Layout: ``<results>/runs/<source>/<task>/<model-tag>/`` holds ``record.json`` (the run record),
the per-sample outputs and the per-sample table; ``<results>/cache/`` holds resumable state.
Sample-data and real-data runs live in different trees, so they can never be mixed.
:func:`iter_records` also reads an export of run records (``harness push``; see :mod:`harness.hub`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

from .errors import HarnessError
from .task import PROJECT_ROOT

SCHEMA_VERSION = 1


def results_dir(override: str | Path | None = None) -> Path:
    """The results folder (``--results``, else ``$HARNESS_RESULTS``, else ``./results``); a link is
    refused rather than followed silently: name the folder it points to."""
    path = Path(override or os.environ.get("HARNESS_RESULTS") or PROJECT_ROOT / "results")
    if path.is_symlink():
        raise HarnessError(f"the results folder is a link (to {os.readlink(path)}); links are not followed: "
                           f"pass the real folder (--results {path.resolve()})", path)
    return path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder path beside ``path`` (not yet created: the writer makes it); on
    success it replaces ``path`` (one rename each way), so readers see the old folder or the
    complete new one, never a half-written one."""
    tag = f"{os.getpid()}-{threading.get_ident()}"
    tmp = path.with_name(f".{path.name}.tmp-{tag}")
    old = path.with_name(f".{path.name}.old-{tag}")
    shutil.rmtree(tmp, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


MANIFEST = ".harness-manifest.json"  # what the harness wrote into a folder the user named


def write_manifest(folder: Path) -> None:
    """List every file under ``folder`` in its manifest: what a later ``--overwrite`` may replace."""
    names = sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*")
                   if p.name != MANIFEST and not p.is_dir())
    (Path(folder) / MANIFEST).write_text(json.dumps({"written_by": "harness", "files": names}, indent=1) + "\n",
                                         encoding="utf-8")


def check_replaceable(path: Path, overwrite: bool) -> None:
    """Refuse to write a user-named output ``path`` over anything the harness did not write: an
    existing file or non-empty folder needs ``overwrite``; even then a folder is replaced only when
    every file in it is listed in its manifest (:func:`write_manifest`), and links or special files
    are never replaced."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        entries = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
        if not entries and not any(path.iterdir()):
            return
        if not overwrite:
            raise HarnessError("exists and is not empty; pass --overwrite to replace what the harness wrote there", path)
        try:
            listed = set(json.loads((path / MANIFEST).read_text(encoding="utf-8"))["files"]) | {MANIFEST}
        except (OSError, ValueError, KeyError, TypeError):
            raise HarnessError(f"exists and was not written by the harness (no readable {MANIFEST}); it is never "
                               "replaced: choose another output", path) from None
        foreign = [e for e in entries if e not in listed]
        if foreign:
            raise HarnessError(f"holds {len(foreign)} file(s) the harness did not write (e.g. {foreign[0]!r}); "
                               "nothing it did not create is replaced: choose another output", path)
        return
    if not stat.S_ISREG(mode):
        raise HarnessError("exists and is not a regular file (a link or a special file); it is never replaced", path)
    if not overwrite:
        raise HarnessError("exists; pass --overwrite to replace it", path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n", encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


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


def model_tag(name: str, args: dict) -> str:
    """Folder name for a model + its arguments: the name alone when there are no arguments."""
    return name if not args else f"{name}-{short_hash(args, 6)}"


def run_dir(results: Path, source: str, task: str, tag: str) -> Path:
    return results / "runs" / source / task / tag


def read_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"unreadable run record: {exc}", path) from exc


def iter_records(results: Path, task: str | None = None, source: str | None = None,
                 skipped: list[str] | None = None) -> Iterator[dict]:
    """Every run record under ``results`` (optionally one task / one source), each with ``_path``.
    An unreadable record raises, or, when ``skipped`` is a list, is named there and left out.

    When ``results/runs`` does not exist, ``results`` is read as an export (``harness push``, e.g. a
    Hub dataset snapshot): its ``runs`` Parquet config (read through ``datasets``) when present, else
    ``<task>/<model-tag>/results_*.json``, filtered by ``data.source``; JSON files there that are
    not harness run records are skipped."""
    results = Path(results)
    base = results / "runs"
    if not base.is_dir() and results.is_dir():
        yield from _iter_exported(results, task, source, skipped)
        return
    pattern = f"{source or '*'}/{task or '*'}/*/record.json"
    for path in sorted(base.glob(pattern)):
        rec = _read_or_skip(path, skipped)
        if rec is not None:
            rec["_path"] = str(path)
            yield rec


def _read_or_skip(path: Path, skipped: list[str] | None) -> dict | None:
    try:
        return read_record(path)
    except HarnessError as exc:
        if skipped is None:
            raise
        skipped.append(str(exc))
        return None


def _iter_exported(results: Path, task: str | None, source: str | None, skipped: list[str] | None) -> Iterator[dict]:
    from .hub import RUNS_FILE, parquet_records

    if (results / RUNS_FILE).is_file():  # the export's `runs` config, read through datasets
        yield from parquet_records(results, task, source, skipped)
        return
    for path in sorted(results.glob(f"{task or '*'}/*/results_*.json")):
        if any(part.startswith(".") for part in path.relative_to(results).parts):
            continue  # e.g. a download's .cache folder
        rec = _read_or_skip(path, skipped)
        if rec is None:
            continue
        if not (isinstance(rec, dict) and isinstance(rec.get("task"), dict) and isinstance(rec.get("model"), dict)
                and isinstance(rec.get("data"), dict) and "metrics" in rec):
            continue  # another tool's results file
        if source is not None and rec["data"].get("source") != source:
            continue
        rec["_path"] = str(path)
        yield rec
