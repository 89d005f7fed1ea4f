"""Writing files safely: atomic replacement of a file or folder, JSON, and the manifest of what
the harness wrote into a folder a user named (nothing it did not create is ever replaced)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

from .errors import HarnessError


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
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=json_default) + "\n", encoding="utf-8")


def json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
