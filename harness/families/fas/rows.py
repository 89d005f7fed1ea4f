"""FAS frames as ``datasets`` rows, and rows written back in the MMDG layout (:mod:`.data`).

A row holds one frame: ``id`` (the list line's first field: the RGB frame's path relative to its
dataset folder, or ``<name>.npz`` for padisi), the ``rgb``, ``depth`` and ``ir`` images, ``label``
(1 bona fide, 0 attack), ``attack_type``, ``dataset`` (cefa, padisi, surf, wmca) and ``split``
(the MMDG list: train, val or test; default: the repository split's name, ``validation`` → val).

Rows are written in exactly the layout the FAS loader reads, so a ``datasets`` copy gives the
on-disk numbers:

* cefa / surf / wmca: the RGB bytes, unchanged, at ``<dataset>/<id>`` (so the sample id, and the
  video id the loader derives from it, stay the original's); depth and IR beside it as
  ``<dataset>/<id>.depth`` and ``<dataset>/<id>.ir`` (the loader's ``cv2`` reads an image by its
  content, not its name; one folder per video, as in the original); the list line names all three.
* padisi: ``<dataset>/<id>`` is an npz whose ``data`` holds the three frames as the loader
  expects them (channels RGB, IR, depth), each 8-bit level k stored as (k − ½)/255, which the
  loader's ``ceil(x·255)`` reads back as exactly k.
* attack types: a wmca attack's type (one of the FlexModal PAI types) goes into
  ``FlexModal_Protocols/WMCA_test_<type>.txt``; a cefa attack's type is its path's
  (``CeFA/CeFA-Mask/<type>/...``). The MMDG layout has no place for any other attack type, so a
  row carrying one is refused (map no ``attack_type`` column to drop them).

Every image is checked through the safe decoder first (pixel limit, refused modes); C/S/W bytes
are then written unchanged and read by the loader's own ``cv2`` path. An export writes the
C/S/W files' bytes unchanged and a padisi npz's frames as lossless PNG.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

from ...errors import HarnessError
from ...hfdata import Column, RowImage
from ...images import check_row_image
from . import data as fdata

DATASETS = tuple(fdata.DOMAINS.values())
#: repository split names read as MMDG lists (any other must be given by a ``split`` column)
SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "valid": "val", "dev": "val", "test": "test"}

def canonical_split(value: str) -> str:
    """A split's MMDG list name (``validation`` -> ``val``); an unknown name unchanged (refused
    with its row by :func:`write_rows`)."""
    return SPLIT_NAMES.get(str(value).strip().lower(), value)


COLUMNS = (
    Column("id", "path", True, help="the MMDG list line's first field: the RGB frame's path in its dataset folder "
           "(e.g. WMCA-Image/R_CDIT/<video>/color/0012.jpg; the video id is that path less its last two parts), "
           "or <name>.npz for padisi"),
    Column("rgb", "image", True, help="the colour frame"),
    Column("depth", "image", True, help="the depth frame (read as greyscale)"),
    Column("ir", "image", True, help="the infrared frame (read as greyscale)"),
    Column("label", "int", True, label=True, help="1 bona fide, 0 attack"),
    Column("attack_type", "text", label=True, help="an attack's type: wmca's FlexModal PAI types "
           f"({', '.join(fdata.WMCA_PAI_TYPES)}), cefa's CeFA-Mask types (as in its path); empty otherwise"),
    Column("dataset", "text", True, help=f"the MMDG dataset of the row ({', '.join(DATASETS)})"),
    Column("split", "text", from_split=True, canonical=canonical_split,
           help="the MMDG list of the row: train, val or test (default: the repository split's name, validation = "
           "val; an export's test split holds the scored val and test frames)"),
)


def _split(row: dict) -> str:
    value = str(row.get("split") or "").strip().lower()
    if value not in SPLIT_NAMES:
        raise HarnessError(f"{row['_where']}: split {row.get('split')!r} is not one of train, val (validation) or "
                           "test: give a split column (--columns split=COLUMN)")
    return SPLIT_NAMES[value]


def write_rows(rows: Iterable[dict], out: Path) -> int:
    """Write FAS rows under ``out`` in the MMDG layout; return how many list lines were written."""
    lists: dict[tuple[str, str], list[str]] = {}
    attacks: dict[str, list[str]] = {}
    written: dict[Path, tuple[str, str]] = {}  # file → (content digest, the row that wrote it)
    folders: set[Path] = set()

    def put(path: Path, content: bytes, where: str) -> None:
        digest = hashlib.sha256(content).hexdigest()
        if path in written:
            if written[path][0] != digest:
                raise HarnessError(f"{where}: the same id was given other images at {written[path][1]}")
            return
        try:
            if path.parent not in folders:
                path.parent.mkdir(parents=True, exist_ok=True)
                folders.add(path.parent)
            path.write_bytes(content)
        except OSError as exc:  # an id that is another id's folder, e.g. "a" and "a/b"
            raise HarnessError(f"{where}: cannot write its frame as {path.relative_to(out)} "
                               f"({exc.strerror or exc}): its id clashes with another row's") from None
        written[path] = (digest, where)

    for row in rows:
        where, name, sid = row["_where"], row["dataset"], row["id"]
        if name not in fdata.DATASET_DOMAIN:
            raise HarnessError(f"{where}: unknown FAS dataset {name!r}; known: {list(DATASETS)}")
        domain, split = fdata.DATASET_DOMAIN[name], _split(row)
        if any(c.isspace() for c in sid):
            raise HarnessError(f"{where}: id {sid!r} holds white space, which the MMDG list format cannot carry")
        label = row.get("label")
        if label not in (0, 1):
            raise HarnessError(f"{where}: label {label!r} is not 1 (bona fide) or 0 (attack)")
        images = {m: row.get(m) for m in ("rgb", "depth", "ir")}
        for m, image in images.items():
            if image is None:
                raise HarnessError(f"{where}: empty {m} image")
        shapes = {m: check_row_image(image)[1] for m, image in images.items()}
        attack = _attack_type(row, domain, sid) if label == 0 else None
        base = out / name
        if domain == "P":
            if not sid.lower().endswith(".npz") or "/" in sid:
                raise HarnessError(f"{where}: a padisi id is a file name '<name>.npz', got {sid!r}")
            if len(set(shapes.values())) > 1:
                raise HarnessError(f"{where}: a padisi frame's rgb, depth and ir must have one size, got "
                                   + ", ".join(f"{m} {h}x{w}" for m, (h, w) in shapes.items()))
            put(base / sid, _npz(images), where)
            lists.setdefault((domain, split), []).append(f"{sid}\t{label}")
            continue
        rels = [sid, f"{sid}.depth", f"{sid}.ir"]
        for rel, image in zip(rels, images.values()):
            put(base / rel, image.data, image.where)
        line = f"{' '.join(rels)} {label}"
        lists.setdefault((domain, split), []).append(line)
        if attack is not None and domain == "W":
            attacks.setdefault(attack, []).append(f"{' '.join(rels)} 0")

    (out / fdata.LIST_DIR).mkdir(parents=True, exist_ok=True)
    for (domain, split), lines in lists.items():
        fdata.list_path(out, domain, split).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if attacks:
        (out / fdata.FLEXMODAL_DIR).mkdir(parents=True, exist_ok=True)
        for pai, lines in attacks.items():
            (out / fdata.FLEXMODAL_DIR / f"WMCA_test_{pai}.txt").write_text("\n".join(dict.fromkeys(lines)) + "\n",
                                                                            encoding="utf-8")
    return sum(len(lines) for lines in lists.values())


def _attack_type(row: dict, domain: str, sid: str) -> str | None:
    """An attack row's type, if the MMDG layout can record it (else refused)."""
    attack = str(row.get("attack_type") or "").strip() or None
    implied = fdata.attack_type_of(domain, sid, {})
    if attack is None or attack == implied:
        return attack
    if domain == "W" and attack in fdata.WMCA_PAI_TYPES:
        return attack
    can = {"W": f"wmca's FlexModal types ({', '.join(fdata.WMCA_PAI_TYPES)})",
           "C": f"cefa's CeFA-Mask types, as its path says ({implied or 'this path names none'})"}
    raise HarnessError(f"{row['_where']}: attack type {attack!r} cannot be recorded in the MMDG layout, which holds "
                       f"{can.get(domain, 'no attack type for ' + fdata.DOMAINS[domain])}; map no attack_type column "
                       "to leave the types out")


def _npz(images: dict[str, RowImage]) -> bytes:
    """The padisi npz the loader reads back as exactly these frames' 8-bit levels."""
    levels = {m: _decoded(images[m], colour=m == "rgb") for m in images}
    stack = np.concatenate([levels["rgb"].transpose(2, 0, 1), levels["ir"][None], levels["depth"][None]])
    data = np.where(stack > 0, (stack.astype(np.float64) - 0.5) / 255.0, 0.0)[None]
    buf = io.BytesIO()
    np.savez(buf, data=data)
    return buf.getvalue()


def _decoded(image: RowImage, colour: bool) -> np.ndarray:
    """A checked image decoded as the loader decodes files: RGB (colour) or greyscale, with cv2."""
    flags = cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE
    out = cv2.imdecode(np.frombuffer(image.data, np.uint8), flags)
    if out is None:
        raise HarnessError(f"{image.where}: cannot decode the image")
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB) if colour else out


def export_rows(task, source, role: str) -> Iterator[dict[str, Any]]:
    """The frames of ``role`` as rows: ``test`` is what a run scores (the sources' val frames,
    then the target's test frames), ``train`` the training frames. An exact duplicate list line
    is written once."""
    seen: set[tuple[str, str, str]] = set()
    for part in (["val", "test"] if role == "test" else [role]):
        for ref in task.datasets.get(part, []):
            for s in source.scanned["samples"][(part, ref.name, ref.split)]:
                key = (ref.name, ref.split, s.sample_id)
                if key in seen:
                    continue
                seen.add(key)
                yield {"id": s.sample_id, **_frames(s), "label": int(s.label), "attack_type": s.attack_type,
                       "dataset": ref.name, "split": ref.split}


def _frames(sample: fdata.FasSample) -> dict[str, RowImage]:
    if "npz" in sample.paths:
        path = sample.paths["npz"]
        frames = fdata.load_frame(sample)
        out = {}
        for m, a in frames.items():
            ok, buf = cv2.imencode(".png", a[:, :, ::-1] if m == "rgb" else a[:, :, 0])
            if not ok:  # pragma: no cover - cv2 encodes any uint8 image
                raise HarnessError(f"cannot encode the {m} frame as PNG", path)
            out[m] = RowImage(buf.tobytes(), f"{path} ({m})", f"{path.stem}_{m}.png")
        return out
    return {m: RowImage(p.read_bytes(), str(p), p.name) for m, p in sample.paths.items()}
