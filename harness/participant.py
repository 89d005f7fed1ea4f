"""``harness data participant-copy``: what an organizer hands participants, and the matching reference.

One command writes, from the organizer's labelled data root (or the embedded sample):

* ``OUT/`` — a data root participants run on (``harness run --task T --data-root OUT --model M
  --submission FILE``): the task's training datasets as they are, its test inputs with opaque ids
  and no labels (written by the family's :meth:`~harness.family.Family.write_participant_copy`),
  ``participant.json`` (task, version, config hash, data kind, the run command, the prediction
  format) and ``README.md`` for participants;
* the reference (``harness data reference``'s file and its ``.harness.json``), outside ``OUT``.

Both come from one read of the data, and the copy's test ids are checked to equal the reference's
ids before anything is kept, so the two cannot drift. Nothing that already exists is replaced.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path
from typing import Any

from .errors import HarnessError

MARKER = "participant.json"


def default_reference(out: Path, suffix: str) -> Path:
    """Where the reference goes unless named: beside the copy, never inside it."""
    return out.with_name(f"{out.name}-reference{suffix or ''}")


def participant_copy(task, data_root: str | None, out: Path, reference: Path | None = None) -> dict[str, Any]:
    """Write the participant copy of ``task`` to ``out`` and its reference; return the description."""
    from .family import FAMILIES
    from .hub import resolve_data_root
    from .files import atomic_dir, atomic_path, write_json
    from .reference import reference_sidecar, write_reference_sidecar

    family = FAMILIES.get(task.family)
    family.check_task(task)
    if not family.supports("write_participant_copy"):
        family.write_participant_copy(task, Path(), Path())  # says it is not supported, before any data is read
    out = Path(out)
    reference = Path(reference) if reference else default_reference(out, family.reference_suffix)
    written = [reference, reference_sidecar(reference), id_map_path(reference)]
    for path, what in ((out, "the participant copy"), *((p, "the reference") for p in written)):
        if path.exists() or path.is_symlink():
            raise HarnessError(f"{what} would replace something that exists; choose a new path", path)
    if reference.resolve().is_relative_to(out.resolve()):
        raise HarnessError("the reference must not be inside the participant copy (it holds the labels)", reference)
    if reference.suffix.lower() != family.reference_suffix:
        raise HarnessError(f"the reference of a {family.name} task is a {family.reference_suffix} file", reference)
    root = resolve_data_root(data_root)[0]
    references, info = family.references(task, root)
    meta: dict[str, Any] = {}
    with atomic_dir(out) as tmp:
        tmp.mkdir()
        notes, renamed = family.write_participant_copy(task, root, tmp)
        if renamed is not None:  # the copy's ids are new: key the reference by them
            references = {renamed[i]: r for i, r in references.items()}
        suffixes = family.submission_suffixes or ("",)
        example = "predictions" + suffixes[0]
        meta = {"task": task.name, "version": task.version, "config_hash": task.config_hash, "family": task.family,
                "data": info.get("kind"), "test_samples": len(references), "ids": "opaque", "labels": "withheld",
                "prediction_file": family.submission_format,
                "run": f"harness run --task {task.name} --data-root {out.name} --model MODEL --submission {example}",
                "notes": notes, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        write_json(tmp / MARKER, meta)  # before the check: families recognise a copy by it
        (tmp / "README.md").write_text(_readme(meta), encoding="utf-8")
        copied = family.resolve_data(task, tmp, need_train=False)
        if copied.labelled or set(family.test_ids(task, copied)) != set(references):
            raise HarnessError("internal: the participant copy's test ids differ from the reference's, or it "
                               "still holds labels; nothing was written", out)
        try:
            family.write_reference(reference, references)
            write_reference_sidecar(reference, task, family.read_reference(task, reference)[0], info)
            if renamed is not None:
                with atomic_path(id_map_path(reference)) as table:
                    table.write_text("original_id,participant_id\n" + "".join(f"{a},{b}\n" for a, b in renamed.items()),
                                     encoding="utf-8")
        except BaseException:
            for path in written:  # ours: written a moment ago
                path.unlink(missing_ok=True)
            raise
    return {**meta, "out": str(out), "reference": str(reference)}


def _readme(meta: dict[str, Any]) -> str:
    sample = ("\nThis copy was made from the harness's embedded synthetic sample: a rehearsal, not the "
              "challenge data.\n" if meta["data"] == "sample" else "")
    return f"""# {meta['task']} — participant data (task v{meta['version']}, config {meta['config_hash']})

The test inputs here carry opaque ids and no labels; the training datasets are as released.
{sample}
1. Install the harness at the version the organizers name, and write your model
   (`submissions/mine/`, see the harness README).
2. Run it on this folder; nothing is scored here (there are no labels), the run writes your
   prediction file:

       {meta['run']}

3. Upload that file. Its format: {meta['prediction_file']}.
   {meta['test_samples']} test ids; every one must appear exactly once.
"""


def id_map_path(reference: Path) -> Path:
    """The organizer's table of original ids → participant ids, beside the reference (families that rename)."""
    return Path(reference).with_name(Path(reference).name + ".ids.csv")


def opaque_key(sample_id: str, salt: str = "") -> str:
    """A label-free name for a test sample in a participant copy: ``p-`` + 12 hex of a salted hash
    (the copy draws a fresh salt, so the names cannot be recomputed from public sample names)."""
    return "p-" + hashlib.sha256(f"{salt}/{sample_id}".encode()).hexdigest()[:12]


def is_participant_copy(root: Path) -> bool:
    return (Path(root) / MARKER).is_file()


def copy_dataset_folders(root: Path, out: Path, names: list[str]) -> None:
    """Copy the named dataset folders (training data, shared as released) from ``root`` to ``out``."""
    for name in dict.fromkeys(names):
        src = Path(root) / name
        if src.is_symlink() or not src.is_dir():
            raise HarnessError("a training dataset folder is missing (or a link)", src)
        shutil.copytree(src, Path(out) / name, symlinks=True)
