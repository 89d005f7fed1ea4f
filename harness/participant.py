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
import struct
from pathlib import Path
from typing import Any

from .errors import HarnessError

MARKER = "participant.json"
#: where image families (splicing, IQA) put a copy's test images: ``<copy>/test-inputs/<dataset>/<opaque id>.<ext>``
TEST_INPUTS = "test-inputs"


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
            references = family.rename_references(references, renamed)
        fmt = family.prediction_format()
        meta = {"task": task.name, "version": task.version, "config_hash": task.config_hash, "family": task.family,
                "data": info.get("kind"), "test_samples": len(references), "ids": "opaque", "labels": "withheld",
                "prediction_file": fmt.summary.rstrip("."),
                "run": f"harness run --task {task.name} --data-root {out.name} --model MODEL --submission {fmt.example_file}",
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
                    table.write_text("original_id,participant_id\n" + "".join(
                        f"{a},{b}\n" for a, b in renamed.items() if a != b), encoding="utf-8")
        except BaseException:
            for path in written:  # ours: written a moment ago (a folder reference too)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
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


def rename_image_references(references: dict[str, dict], renamed: dict[str, str]) -> dict[str, dict]:
    """The reference of a copy whose ids are ``<image id><suffix>`` (a perturbation level, an α):
    each image's id (and ``image_id``) renamed by ``renamed`` (original image id → copy id)."""
    out = {}
    for i, r in references.items():
        image = str(r["image_id"])
        out[renamed[image] + i[len(image):]] = {**r, "image_id": renamed[image]}
    return out


def write_image_copy(task, source, out: Path, decode, write_listing, marker: str) -> dict[str, str]:
    """A participant copy for an image family (records with ``sample_id``, ``dataset``, ``image``
    and maybe ``mask``, in ``source.scanned["records"][role]``): a training dataset that is whole
    and not tested is copied as released; of one the test images come from, only the training
    images are copied, byte for byte, and ``write_listing(folder, original folder, records)``
    lists them in the family's layout; the test images go to ``test-inputs/`` without metadata.
    Return original image id → copy id."""
    import secrets

    if not source.labelled:
        raise HarnessError("this data root is already a participant copy (no test labels)", source.root)
    records = source.scanned["records"]
    tested = {ref.name for ref in task.datasets["test"]}
    whole = [ref.name for ref in task.datasets.get("train", []) if ref.split == "all" and ref.name not in tested]
    copy_dataset_folders(source.root, out, whole)
    picked: dict[str, dict] = {}
    for r in records.get("train", []):
        if r.dataset not in whole:
            picked.setdefault(r.dataset, {})[r.sample_id] = r
    for name, chosen in picked.items():
        copy_files(source.root, out, [f for r in chosen.values() for f in (r.image, getattr(r, "mask", None)) if f])
        write_listing(Path(out) / name, Path(source.root) / name, list(chosen.values()))
    ids = write_clean_test_images(records["test"], out, decode, secrets.token_hex(8))
    if source.kind == "sample":
        mark_sample(out, marker)
    return ids


def write_clean_test_images(records, out: Path, decode, salt: str) -> dict[str, str]:
    """Each test record's image (``.sample_id``, ``.dataset``, ``.image``) as
    ``test-inputs/<dataset>/<opaque key>.<ext>`` without its metadata; return image id → key."""
    ids: dict[str, str] = {}
    for r in records:
        folder = Path(out) / TEST_INPUTS / r.dataset
        folder.mkdir(parents=True, exist_ok=True)
        key = opaque_key(f"{r.dataset}/{r.sample_id}", salt)
        copy_image_clean(r.image, folder / key, decode)
        ids[r.sample_id] = key
    return ids


def mark_sample(out: Path, marker: str) -> None:
    """Mark a participant copy of the embedded sample as synthetic with a fresh ``marker`` file
    (the generator's own may list what the copy withholds, e.g. attack types)."""
    import json

    (Path(out) / marker).write_text(json.dumps({"data": "sample", "participant_copy": True,
                                                "note": "a participant copy of the harness's synthetic sample"}) + "\n",
                                    encoding="utf-8")


def copy_files(root: Path, out: Path, files) -> None:
    """Copy ``files`` (under ``root``) to the same relative paths under ``out``, byte for byte."""
    for f in dict.fromkeys(Path(f) for f in files):
        target = Path(out) / f.relative_to(root)
        if f.is_symlink() or not f.is_file():
            raise HarnessError("a training file is missing (or a link)", f)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)


def copy_dataset_folders(root: Path, out: Path, names: list[str]) -> None:
    """Copy the named dataset folders (training data, shared as released) from ``root`` to ``out``."""
    for name in dict.fromkeys(names):
        src = Path(root) / name
        if src.is_symlink() or not src.is_dir():
            raise HarnessError("a training dataset folder is missing (or a link)", src)
        shutil.copytree(src, Path(out) / name, symlinks=True)


def test_inputs(root: Path, dataset: str) -> list[Path]:
    """The test images of ``dataset`` in a participant copy (``test-inputs/<dataset>/``), sorted."""
    folder = Path(root) / TEST_INPUTS / dataset
    if not folder.is_dir():
        raise HarnessError(f"a participant copy without its test inputs for {dataset!r}", folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise HarnessError("no test images in this participant copy's folder", folder)
    return files


#: PNG chunks a decoder needs; every other (text, time, EXIF, ICC, private) is left out of a copy
_PNG_KEPT = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_pixels_only(blob: bytes, src: Path) -> bytes:
    out, at = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while at + 8 <= len(blob):
        length, kind = struct.unpack(">I4s", blob[at:at + 8])
        end = at + 12 + length
        if end > len(blob):
            raise HarnessError("truncated PNG chunk", src)
        if kind in _PNG_KEPT:
            out.append(blob[at:end])
        at = end
        if kind == b"IEND":  # anything appended after the image is left out too
            return b"".join(out)
    raise HarnessError("PNG without its IEND chunk", src)


def _jpeg_pixels_only(blob: bytes, src: Path) -> bytes:
    """The JPEG without APP1–APP13/APP15 (EXIF, XMP, IPTC, ICC…) and COM segments, and without
    anything after its end marker; APP0 (JFIF) and APP14 (Adobe: the colour transform) stay."""
    out, at = [blob[:2]], 2
    while at + 4 <= len(blob):
        if blob[at] != 0xFF:
            raise HarnessError(f"malformed JPEG marker at byte {at}", src)
        marker = blob[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        length = struct.unpack(">H", blob[at + 2:at + 4])[0]
        end = at + 2 + length
        if marker == 0xDA:  # start of scan: the entropy-coded data runs to the end marker
            eoi = blob.find(b"\xff\xd9", end)
            if eoi < 0:
                raise HarnessError("JPEG without its end marker", src)
            out.append(blob[at:eoi + 2])
            return b"".join(out)
        if not (0xE1 <= marker <= 0xEF and marker != 0xEE or marker == 0xFE):
            out.append(blob[at:end])
        at = end
    raise HarnessError("JPEG without image data", src)


def _named(stem: Path, suffix: str) -> Path:
    return stem.with_name(stem.name + suffix)


def copy_image_clean(src: Path, dst_stem: Path, decode) -> Path:
    """Write the image ``src`` as ``dst_stem`` + its format's suffix with its pixels only: PNG and JPEG lose
    their metadata losslessly (chunks and segments dropped, the compressed data untouched), BMP is
    copied, other formats (TIFF) are re-encoded as PNG. ``decode(path)`` (the family's reader) must
    give the same array for the copy as for the original, else nothing is kept."""
    import numpy as np

    blob = Path(src).read_bytes()
    if blob.startswith(_PNG_SIGNATURE):
        dst, data = _named(dst_stem, ".png"), _png_pixels_only(blob, src)
    elif blob.startswith(b"\xff\xd8"):
        dst, data = _named(dst_stem, ".jpg"), _jpeg_pixels_only(blob, src)
    elif blob.startswith(b"BM"):
        dst, data = _named(dst_stem, ".bmp"), blob
    else:
        import io

        from PIL import Image

        dst, buffer = _named(dst_stem, ".png"), io.BytesIO()
        try:
            with Image.open(io.BytesIO(blob)) as im:
                im.save(buffer, format="PNG")
        except (OSError, ValueError) as exc:
            raise HarnessError(f"cannot copy this image without its metadata ({exc})", src) from None
        data = buffer.getvalue()
    dst.write_bytes(data)
    before, after = decode(Path(src)), decode(dst)
    same = (before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)) \
        if isinstance(before, dict) else np.array_equal(before, after)
    if not same:
        dst.unlink()
        raise HarnessError("the copy of this image without its metadata decodes differently (e.g. an EXIF "
                           "orientation); nothing was written", src)
    return dst
