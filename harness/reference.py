"""The ground truth a prediction is scored against: an organizer's exported reference (checked
against its ``.harness.json`` sidecar: task, version, config and content digest) or the
datasets under a data root (the embedded sample by default).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .digest import content_digest
from .errors import HarnessError
from .records import utc_now


def reference_sidecar(path: Path) -> Path:
    """The description written beside an exported reference: ``<file or folder>.harness.json``."""
    return Path(path).with_name(Path(path).name + ".harness.json")


def write_reference_sidecar(path: Path, task, references: dict[str, Any], info: dict) -> dict:
    """Describe an exported reference (task name, version, config hash, content digest) beside it, so
    scoring can refuse a reference of another task or one changed since."""
    from .files import write_json

    meta = {"task": task.name, "version": task.version, "config_hash": task.config_hash, "family": task.family,
            "samples": len(references), "digest": content_digest(references), "data": info.get("kind"),
            "created": utc_now()}
    write_json(reference_sidecar(path), meta)
    return meta


def load_references(task, data_root: str | Path | None = None, reference: Path | None = None) -> tuple[dict[str, Any], dict]:
    """(references, description) of a task: from the organizer's ``reference`` file, else from the
    datasets under ``data_root`` (default: the embedded sample). The description's ``digest``
    identifies the ground truth. A reference file whose sidecar names another task (or version,
    config, or content) is refused; a broken reference is the organizer's error (a
    :class:`HarnessError`)."""
    from .family import FAMILIES

    family = FAMILIES.get(task.family)
    family.check_task(task)
    if reference is not None:
        references, info = family.read_reference(task, Path(reference))
        info = {**info, "digest": content_digest(references), "data": None}
        sidecar = reference_sidecar(Path(reference))
        if not sidecar.is_file():
            return references, {**info, "warning": f"no {sidecar.name} beside the reference (written by harness data "
                                                   f"reference): cannot check that it belongs to {task.name}"}
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            exported = (meta["task"], meta["version"], meta["config_hash"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HarnessError(f"unreadable reference description: {exc}", sidecar) from exc
        if exported != (task.name, task.version, task.config_hash):
            raise HarnessError(f"this reference was exported for task {exported[0]} v{exported[1]} (config {exported[2]}), "
                               f"not {task.name} v{task.version} (config {task.config_hash}): export it again with "
                               f"harness data reference --task {task.name}", reference)
        if meta.get("digest") != info["digest"]:
            raise HarnessError(f"the reference changed after it was exported (content digest {info['digest']}, "
                               f"{sidecar.name} says {meta.get('digest')}): export it again", reference)
        return references, {**info, "checked": sidecar.name, "data": meta.get("data")}
    from .hfdata import references as data_references  # any data root, a datasets repository included
    from .hub import resolve_data_root

    references, info = data_references(family, task, resolve_data_root(str(data_root) if data_root else None)[0])
    return references, {**info, "digest": content_digest(references), "data": info.get("kind")}


def say_reference(info: dict) -> None:
    """Tell the organizer what the scores are against when it is not a checked reference file."""
    if info.get("warning"):
        print(f"harness: warning: {info['warning']}", file=sys.stderr)
    if info.get("kind") == "sample":
        print("harness: note: scored against the embedded synthetic sample (no --reference or --data-root given)",
              file=sys.stderr)

