"""Splicing datasets under a data root: safe image decoding, the two folder layouts, subsets and
the SciSp split (reference splicing_iqa.md §1–§2).

Layouts (:data:`LAYOUT`), per dataset folder ``<root>/<dataset>/``:

* **A (folder)** — ``Tp/`` tampered images, ``Gt/`` their masks, optional ``Au/`` authentic
  images. Pairing is **by name, never by sort order** (IMDL-BenCo's ManiDataset pairs by sorted
  order and can pair misnamed files silently, §2.2): a mask belongs to the image whose stem equals
  the mask's stem, or the mask's stem minus one of :data:`MASK_SUFFIXES` (``_gt``, ``_mask``,
  ``-mask``, ``_GT``, ``_edgemask``: CASIA / Columbia-style names). Every tampered image needs
  exactly one mask and every mask exactly one image. Files with an extension outside
  :data:`IMAGE_EXTENSIONS` (case-insensitive), hidden files and subfolders are ignored.
* **B (JSON)** — ``list.json``: a JSON list of ``[image, mask]`` or ``[image, "Negative"]``
  (IMDL-BenCo's JsonDataset), paths relative to the dataset folder. ``Negative`` = authentic
  (label 0, no mask); any other entry is tampered (label 1). Unlike IMDL-BenCo, an all-black mask
  does not turn an entry authentic: the label comes from the list alone.
  ``list.json`` wins when both layouts are present.

``sample_id`` is the image file's stem; it must be unique within a dataset.

Subsets (the harness's convention; the SciSp distribution format is UNCONFIRMED, §1): an optional
``<dataset>/subsets.csv`` with header ``id,subset`` gives each listed sample its subset — for
SciSp ``C`` (collected from PubPeer, SciSp-C) or ``H`` (hand-made, SciSp-H). Unlisted samples
get subset ``""``.

SciSp split (the harness's own; no official split is known, §1): :func:`split_of` puts a sample
in ``test`` iff ``int(sha256(sample_id).hexdigest(), 16) % 5 == 0`` (about 20 %), else ``train``.

Decoding: images go through the core's safe reader (:mod:`harness.images`: pixel limit
``HARNESS_MAX_PIXELS`` checked on the header before decoding, mode conversions, one clear error
naming the file), shared with the IQA family; :func:`read_mask` and :func:`read_prediction_png`
build on it.

Ground-truth masks are binarised like IMDL-BenCo: the mean over the 3 RGB channels > 127.5 → 1
(so a grey value v is tampered iff v >= 128).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ...errors import HarnessError, did_you_mean
from ...family import fingerprint_files
from ...images import SIXTEEN_BIT_MODES, decode_checked, read_image, sixteen_to_8, unsupported_mode
from ...registry import natural_key

#: image file extensions a folder layout lists (compared lower-case)
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
#: a mask's stem is its image's stem, or the image's stem plus one of these (case-sensitive)
MASK_SUFFIXES: tuple[str, ...] = ("_gt", "_mask", "-mask", "_GT", "_edgemask")
TAMPERED_DIR, MASK_DIR, AUTHENTIC_DIR = "Tp", "Gt", "Au"
LIST_JSON = "list.json"
NEGATIVE = "Negative"
SUBSETS_CSV = "subsets.csv"
#: SciSp subsets (harness convention): C = collected from PubPeer, H = hand-made
SCISP_SUBSETS: dict[str, str] = {"C": "collected from PubPeer (SciSp-C)", "H": "hand-made (SciSp-H)"}
SPLITS: tuple[str, ...] = ("all", "train", "test", "authentic", "tampered")
#: how many file names an error lists
EXAMPLES = 5

LAYOUT = """\
<root>/<dataset>/Tp/<name>.<ext>        tampered images (.png .jpg .jpeg .tif .tiff .bmp)
<root>/<dataset>/Gt/<name>[suffix].<ext> one mask per tampered image, paired by name; suffix: none, _gt, _mask, -mask, _GT, _edgemask
<root>/<dataset>/Au/<name>.<ext>        optional authentic images
or <root>/<dataset>/list.json           [[image, mask], [image, "Negative"], ...], paths relative to <root>/<dataset>
optional <root>/<dataset>/subsets.csv   header id,subset (SciSp: C = collected from PubPeer, H = hand-made)"""

# ----------------------------------------------------------------------------------------- decoding
def read_mask(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """A ground-truth mask as bool (H, W): mean over the RGB channels > 127.5 (IMDL-BenCo's rule)."""
    rgb = read_image(path, max_pixels)
    return rgb.sum(axis=2, dtype=np.uint16) > 382  # sum > 382.5 <=> mean > 127.5


_PREDICTION_MODES = "L, I;16, I (0..65535), 1, P, PA, RGB, RGBA, LA"


def read_prediction_png(data: bytes, name: str, max_pixels: int | None = None,
                        size: tuple[int, int] | None = None) -> np.ndarray:
    """A participant's predicted mask PNG as uint8 (H, W), value v = probability v/255.

    ``L`` as is; ``I;16`` / ``I`` (0..65535) ``v >> 8``; ``1`` → 0 / 255; ``P`` / ``PA`` /
    ``RGB`` / ``RGBA`` / ``LA`` → RGB (alpha dropped), then the channel mean rounded to the
    nearest integer (``(R+G+B+1) // 3``; no ties are possible). Other modes are refused. With
    ``size`` (height, width), a PNG whose header declares another size is refused (:class:`harness.images.WrongSize`)
    before any pixel is decoded."""
    im = decode_checked(bytes(data), name, max_pixels, ("PNG",), what="PNG", size=size)
    try:
        mode = im.mode
        if mode == "L":
            return np.array(im, dtype=np.uint8)
        if mode in SIXTEEN_BIT_MODES or mode == "I":
            return sixteen_to_8(im, name)
        if mode == "1":
            return np.array(im.convert("L"), dtype=np.uint8)
        if mode in ("P", "PA", "RGB", "RGBA", "LA"):
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint16)
            return ((rgb.sum(axis=2) + 1) // 3).astype(np.uint8)
        raise unsupported_mode(mode, name, _PREDICTION_MODES)
    finally:
        im.close()


# ------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset: label 1 = tampered (with its mask), 0 = authentic (mask None)."""

    sample_id: str
    dataset: str
    image: Path
    mask: Path | None
    label: int
    subset: str = ""


def _names(paths: Iterable[Path], base: Path) -> str:
    paths = list(paths)
    shown = ", ".join(str(p.relative_to(base)) if p.is_relative_to(base) else str(p) for p in paths[:EXAMPLES])
    return shown + (f" ... ({len(paths)} in all)" if len(paths) > EXAMPLES else "")


def _fail(message: str, files: list[Path], folder: Path) -> HarnessError:
    """An error naming the file when there is one, else the folder plus the first few names."""
    if len(files) == 1:
        return HarnessError(message, files[0])
    return HarnessError(f"{message}: {_names(files, folder)}", folder)


def _list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _mask_candidates(stem: str) -> list[str]:
    """Image stems a mask stem may belong to: itself, and itself minus each matching suffix."""
    out = [stem]
    out += [stem[: -len(s)] for s in MASK_SUFFIXES if stem.endswith(s) and len(stem) > len(s)]
    return list(dict.fromkeys(out))


def _check_unique(records: list[ImageRecord], folder: Path) -> None:
    seen: dict[str, Path] = {}
    for r in records:
        if r.sample_id in seen:
            raise HarnessError(f"two images share the sample id {r.sample_id!r} (the file stem): "
                               f"{_names([seen[r.sample_id], r.image], folder)}", folder)
        seen[r.sample_id] = r.image


def _scan_folders(folder: Path, dataset: str) -> list[ImageRecord]:
    tampered = _list_images(folder / TAMPERED_DIR)
    masks = _list_images(folder / MASK_DIR)
    by_stem: dict[str, list[Path]] = {}
    for p in tampered:
        by_stem.setdefault(p.stem, []).append(p)
    for stem, ps in by_stem.items():
        if len(ps) > 1:
            raise HarnessError(f"two tampered images share the sample id {stem!r} (the file stem): "
                               f"{_names(ps, folder)}", folder)
    owner: dict[Path, list[Path]] = {p: [] for p in tampered}  # image -> masks
    unmatched, ambiguous = [], []
    for m in masks:
        hits = [by_stem[s][0] for s in _mask_candidates(m.stem) if s in by_stem]
        if not hits:
            unmatched.append(m)
        elif len(hits) > 1:
            ambiguous.append((m, hits))
        else:
            owner[hits[0]].append(m)
    if ambiguous:
        m, hits = ambiguous[0]
        raise HarnessError(f"mask matches more than one tampered image ({_names(hits, folder)}); "
                           f"rename it so it names one", m)
    if unmatched:
        raise _fail(f"mask with no tampered image of the same name in {TAMPERED_DIR}/ "
                    f"(accepted mask names: <image stem>[{'|'.join(MASK_SUFFIXES)}])", unmatched, folder)
    no_mask = [p for p, ms in owner.items() if not ms]
    if no_mask:
        raise _fail(f"tampered image with no mask in {MASK_DIR}/ (expected {MASK_DIR}/<stem>[suffix].<ext>, "
                    f"suffix one of none, {', '.join(MASK_SUFFIXES)})", no_mask, folder)
    for p, ms in owner.items():
        if len(ms) > 1:
            raise HarnessError(f"tampered image has more than one mask: {_names(ms, folder)}", p)
    records = [ImageRecord(p.stem, dataset, p, owner[p][0], 1) for p in tampered]
    records += [ImageRecord(p.stem, dataset, p, None, 0) for p in _list_images(folder / AUTHENTIC_DIR)]
    _check_unique(records, folder)
    return records


def _list_path(folder: Path, listing: Path, index: int, value: object, what: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise HarnessError(f"entry {index}: the {what} must be a non-empty path string, got {value!r}", listing)
    rel = PurePosixPath(value.replace("\\", "/"))
    if rel.is_absolute() or Path(value).is_absolute() or re.match(r"^[A-Za-z]:", value):
        raise HarnessError(f"entry {index}: {what} path {value!r} is absolute; paths are relative to {folder}", listing)
    if ".." in rel.parts:
        raise HarnessError(f"entry {index}: {what} path {value!r} leaves the dataset folder ('..')", listing)
    path = folder.joinpath(*rel.parts)
    if not path.is_file():
        raise HarnessError(f"entry {index}: {what} file {value!r} not found in {folder}", listing)
    return path


def _scan_json(folder: Path, dataset: str) -> list[ImageRecord]:
    listing = folder / LIST_JSON
    try:
        entries = json.loads(listing.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HarnessError(f"not valid JSON: {e}", listing) from None
    if not isinstance(entries, list):
        raise HarnessError(f"expected a JSON list of [image, mask] or [image, {NEGATIVE!r}] entries, "
                           f"got a {type(entries).__name__}", listing)
    records = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) != 2:
            raise HarnessError(f"entry {i}: expected [image, mask] or [image, {NEGATIVE!r}], got {entry!r}", listing)
        image = _list_path(folder, listing, i, entry[0], "image")
        if entry[1] == NEGATIVE:
            records.append(ImageRecord(image.stem, dataset, image, None, 0))
        else:
            records.append(ImageRecord(image.stem, dataset, image, _list_path(folder, listing, i, entry[1], "mask"), 1))
    _check_unique(records, folder)
    return records


def read_subsets(path: Path, sample_ids: Iterable[str]) -> dict[str, str]:
    """``id,subset`` rows of ``subsets.csv``; every id must be one of ``sample_ids``."""
    known = set(sample_ids)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise HarnessError(f"not UTF-8 text: {e}", path) from None
    rows = [r for r in csv.reader(io.StringIO(text))]
    numbered = [(n, [c.strip() for c in r]) for n, r in enumerate(rows, 1) if any(c.strip() for c in r)]
    if not numbered or numbered[0][1] != ["id", "subset"]:
        got = numbered[0][1] if numbered else "an empty file"
        raise HarnessError(f"expected the header 'id,subset', got {got!r}", path)
    out: dict[str, str] = {}
    for n, row in numbered[1:]:
        if len(row) != 2 or not row[0] or not row[1]:
            raise HarnessError(f"line {n}: expected 'id,subset' with both filled, got {','.join(row)!r}", path)
        sid, subset = row
        if sid not in known:
            hint = did_you_mean(sid, known, "image id").message
            raise HarnessError(f"line {n}: id {sid!r} is not an image of this dataset ({hint})", path)
        if sid in out:
            raise HarnessError(f"line {n}: id {sid!r} is listed twice", path)
        out[sid] = subset
    return out


def scan(root: Path, dataset: str) -> list[ImageRecord]:
    """The records of ``<root>/<dataset>`` (list.json, else Tp/Gt/Au), in natural sample_id order,
    with subsets from an optional ``subsets.csv``."""
    root = Path(root)
    folder = root / dataset
    if not folder.is_dir():
        raise HarnessError(f"dataset folder {dataset!r} not found; expected layout:\n{LAYOUT}", folder)
    if (folder / LIST_JSON).is_file():
        records = _scan_json(folder, dataset)
    elif any((folder / d).is_dir() for d in (TAMPERED_DIR, MASK_DIR, AUTHENTIC_DIR)):
        records = _scan_folders(folder, dataset)
    else:
        raise HarnessError(f"neither {LIST_JSON} nor {TAMPERED_DIR}/ + {MASK_DIR}/ found; expected layout:\n{LAYOUT}",
                           folder)
    if not records:
        raise HarnessError(f"no images found; expected layout:\n{LAYOUT}", folder)
    subsets_csv = folder / SUBSETS_CSV
    if subsets_csv.is_file():
        subsets = read_subsets(subsets_csv, (r.sample_id for r in records))
        records = [ImageRecord(r.sample_id, r.dataset, r.image, r.mask, r.label, subsets.get(r.sample_id, ""))
                   for r in records]
    return sorted(records, key=lambda r: (natural_key(r.sample_id), r.sample_id))


# ------------------------------------------------------------------------------------ split, select
def split_of(sample_id: str) -> str:
    """The harness's deterministic SciSp split: ``test`` iff sha256(id) % 5 == 0 (about 20 %)."""
    return "test" if int(hashlib.sha256(sample_id.encode("utf-8")).hexdigest(), 16) % 5 == 0 else "train"


def select(records: Iterable[ImageRecord], split: str) -> list[ImageRecord]:
    """Records of ``split``: all, train / test (:func:`split_of`), authentic (label 0), tampered (1)."""
    if split not in SPLITS:
        raise did_you_mean(split, SPLITS, "splicing split")
    if split == "all":
        return list(records)
    if split in ("train", "test"):
        return [r for r in records if split_of(r.sample_id) == split]
    label = 1 if split == "tampered" else 0
    return [r for r in records if r.label == label]


def fingerprint(root: Path, records: Iterable[ImageRecord]) -> str:
    """sha256 (16 hex) over every image's and mask's path and size, plus the heads of each
    dataset's ``list.json`` / ``subsets.csv``."""
    root = Path(root)
    records = list(records)
    files = {r.image for r in records} | {r.mask for r in records if r.mask is not None}
    heads = {root / d / name for d in {r.dataset for r in records} for name in (LIST_JSON, SUBSETS_CSV)}
    return fingerprint_files(root, files, [h for h in heads if h.is_file()])
