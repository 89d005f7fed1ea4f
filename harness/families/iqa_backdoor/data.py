"""NR-IQA datasets under a data root: LIVEC, KonIQ-10k and KADID-10k in their own release layouts
or a pyiqa-style ``meta_info.csv``; quality scores on one 0–100 scale; deterministic splits
(reference splicing_iqa.md §3.3, §4.3).

Layouts, per dataset folder ``<root>/<dataset>/`` (:data:`LAYOUT`):

* **livec** (ChallengeDB_release) — ``Data/AllImages_release.mat`` (cell array of image names,
  variable ``AllImages_release``) and ``Data/AllMOS_release.mat`` (MOS vector, ``AllMOS_release``),
  images under ``Images/``. The first :data:`LIVEC_SKIP` = 7 entries are the seven *training*
  images of the original release (``trainingImages/t1.bmp`` ...); BAIQA (like HyperIQA's
  ``folders.py``) reads entries ``[7:1169]``, so they are skipped here too: 1,169 → 1,162 images.
  MOS is already on 0–100 and kept as is.
* **koniq** (KonIQ-10k) — ``koniq10k_scores_and_distributions.csv`` (``image_name``, ``c1``..``c5``,
  ``c_total``, ``MOS``, ``SD``, ``MOS_zscore``), images under ``512x384/`` (else ``1024x768/``).
  The score is ``MOS`` (1–5) mapped (m − 1)·99/4 + 1, the mapping BAIQA applies to KADID, so all
  three datasets share one 1–100 scale with Δy = 10 meaning the same step. BAIQA itself trained
  KonIQ on ``MOS_zscore`` (≈ 0–100, a per-rater-normalised score, not a linear map of MOS); the
  harness uses MOS for the common scale and keeps it in ``raw_mos``.
* **kadid** (KADID-10k) — ``dmos.csv`` (``dist_img``, ``ref_img``, ``dmos``, ``var``), images under
  ``images/``. ``dmos`` (1–5, higher = better despite the name) mapped (d − 1)·99/4 + 1 (BAIQA).
* **meta_info.csv** (pyiqa style, any dataset; takes precedence over the release files) — column 0
  the image path relative to the dataset folder, column 1 the MOS, optional ``std`` and split
  columns (``official_split``, ``ratio802_seed123_split_01`` ...: values train / val / test). A
  full-reference header (``ref_name, dist_name, mos, ...``, pyiqa's KADID file) is read as
  dist_name + mos with the reference kept for grouping. MOS is read on the dataset's native range
  (:data:`NATIVE_RANGE`: livec [0, 100], koniq [1, 5], kadid [1, 5]) and mapped like the release
  files. A value outside that range is an error: pyiqa's own KonIQ meta file is on ≈ 0–100
  (MOS_zscore) and would need converting first.

Splits (``QualityRecord.split`` is ``train`` or ``test``):

* a split column of ``meta_info.csv`` when present — ``official_split`` first, else the first
  ``ratio*_seed*_split*`` column (or the one named by ``split_column``); ``val`` rows count as
  ``train`` (the harness holds out its own validation part of ``train``);
* otherwise :func:`seeded_split`: the sorted group names (image ``sample_id``; for KADID the
  *reference* image, so every distortion of one reference stays on one side) permuted by
  ``numpy.random.default_rng(0)``, the first round(80 %) → ``train``. For LIVEC this mirrors
  BAIQA's 80/20 but is NOT BAIQA's exact split (its ``CLIVE_traintest_index.pkl`` is a pickle the
  harness does not load; UNCONFIRMED which images it holds).

``sample_id`` is the image file's stem and must be unique within a dataset. Images are decoded
with the core's safe reader (:func:`harness.images.read_image`, pixel limit ``HARNESS_MAX_PIXELS``).
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ...errors import HarnessError, did_you_mean
from ...family import fingerprint_files
from ...registry import natural_key
from ...images import MAX_PIXELS, MAX_PIXELS_ENV, image_size, max_pixels_limit, read_image

__all__ = ["QualityRecord", "DATASETS", "NATIVE_RANGE", "SPLITS", "LAYOUT", "scan", "select", "fingerprint",
           "seeded_split", "to_100", "read_image", "image_size", "max_pixels_limit", "MAX_PIXELS", "MAX_PIXELS_ENV"]

DATASETS: tuple[str, ...] = ("livec", "koniq", "kadid")
#: native MOS range of each dataset (release files and meta_info.csv)
NATIVE_RANGE: dict[str, tuple[float, float]] = {"livec": (0.0, 100.0), "koniq": (1.0, 5.0), "kadid": (1.0, 5.0)}
SPLITS: tuple[str, ...] = ("all", "train", "test")
SPLIT_SEED = 0
TRAIN_FRACTION = 0.8
#: leading entries of the LIVEC .mat files that are the release's training images (skipped, as BAIQA)
LIVEC_SKIP = 7
META_CSV = "meta_info.csv"
LIVEC_NAMES, LIVEC_MOS = "Data/AllImages_release.mat", "Data/AllMOS_release.mat"
LIVEC_IMAGES = "Images"
KONIQ_CSV = "koniq10k_scores_and_distributions.csv"
KONIQ_IMAGES = ("512x384", "1024x768")
KADID_CSV = "dmos.csv"
KADID_IMAGES = "images"
SPLIT_VALUES = {"train": "train", "val": "train", "valid": "train", "validation": "train", "test": "test"}
_RATIO_SPLIT = re.compile(r"^ratio\d+_seed\d+_split_?\d+$")

LAYOUT = f"""\
<root>/livec/{LIVEC_NAMES}, {LIVEC_MOS}, {LIVEC_IMAGES}/<name>   ChallengeDB_release (first {LIVEC_SKIP} entries skipped)
<root>/koniq/{KONIQ_CSV}, {KONIQ_IMAGES[0]}/<image_name> (or {KONIQ_IMAGES[1]}/)
<root>/kadid/{KADID_CSV}, {KADID_IMAGES}/<dist_img>
or <root>/<dataset>/{META_CSV}   column 0 image path (relative to the dataset folder), column 1 MOS, optional split columns"""


@dataclass(frozen=True)
class QualityRecord:
    """One image: ``mos`` on the common 0–100 scale (higher = better), ``raw_mos`` as the dataset
    files give it, ``split`` ``train`` or ``test``."""

    sample_id: str
    dataset: str
    image: Path
    mos: float
    raw_mos: float
    split: str


def to_100(dataset: str, raw: float) -> float:
    """A native score of ``dataset`` on the common scale: LIVEC as is, 1–5 scales (m − 1)·99/4 + 1."""
    lo, hi = NATIVE_RANGE[dataset]
    if (lo, hi) == (0.0, 100.0):
        return float(raw)
    return (float(raw) - lo) * 99.0 / (hi - lo) + 1.0


# ------------------------------------------------------------------------------------------ helpers
class _Row:
    """One listed image before its split is known: (name, image path, raw MOS, group)."""

    __slots__ = ("name", "path", "raw", "group", "where")

    def __init__(self, name: str, path: Path, raw: float, group: str, where: str):
        self.name, self.path, self.raw, self.group, self.where = name, path, raw, group, where


def _resolve(folder: Path, value: object, listing: Path, where: str) -> Path:
    """``value`` as a path inside ``folder`` that exists; errors name ``listing`` and ``where``."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise HarnessError(f"{where}: empty image name", listing)
    rel = PurePosixPath(text.replace("\\", "/"))
    if rel.is_absolute() or re.match(r"^[A-Za-z]:", text):
        raise HarnessError(f"{where}: image path {text!r} is absolute; paths are relative to {folder}", listing)
    if ".." in rel.parts:
        raise HarnessError(f"{where}: image path {text!r} leaves the dataset folder ('..')", listing)
    path = folder.joinpath(*rel.parts)
    if not path.is_file():
        raise HarnessError(f"{where}: image {text!r} not found in {folder}", listing)
    return path


def _score(dataset: str, value: object, listing: Path | None, where: str) -> float:
    try:
        raw = float(str(value).strip()) if not isinstance(value, (int, float, np.number)) else float(value)
    except ValueError:
        raise HarnessError(f"{where}: MOS {value!r} is not a number", listing) from None
    if not math.isfinite(raw):
        raise HarnessError(f"{where}: MOS is {value!r}, not a finite number", listing)
    lo, hi = NATIVE_RANGE[dataset]
    if not lo <= raw <= hi:
        raise HarnessError(f"{where}: MOS {raw:g} is outside {dataset}'s native range [{lo:g}, {hi:g}] "
                           f"(the harness maps that range to 0–100 itself)", listing)
    return raw


def check_mos(dataset: str, value: object, where: str) -> float:
    """A MOS given for ``dataset`` (on its native range) as a float; errors name ``where``."""
    return _score(dataset, value, None, where)


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise HarnessError(f"{what} not found; expected layout:\n{LAYOUT}", path)
    return path


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank rows of a CSV as (line number, stripped cells), the header included."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise HarnessError(f"not UTF-8 text: {e}", path) from None
    rows = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        cells = [c.strip() for c in row]
        if any(cells):
            rows.append((n, cells))
    if not rows:
        raise HarnessError("empty CSV file", path)
    return rows


def _columns(path: Path, header: list[str], needed: Iterable[str]) -> dict[str, int]:
    index = {c: i for i, c in enumerate(header)}
    missing = [c for c in needed if c not in index]
    if missing:
        raise HarnessError(f"missing column(s) {', '.join(missing)} in the header (got {', '.join(header)})", path)
    return index


def _cell(path: Path, n: int, row: list[str], col: int, name: str) -> str:
    if col >= len(row):
        raise HarnessError(f"line {n}: no {name} value (row has {len(row)} columns)", path)
    return row[col]


# ------------------------------------------------------------------------------------------ loaders
def _mat_var(path: Path, key: str) -> np.ndarray:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # noqa: BLE001  scipy raises several types for a bad file
        raise HarnessError(f"cannot read MATLAB file: {e}", path) from None
    if key in mat:
        return np.asarray(mat[key])
    keys = [k for k in mat if not k.startswith("__")]
    if len(keys) == 1:
        return np.asarray(mat[keys[0]])
    raise HarnessError(f"variable {key!r} not found (variables: {', '.join(keys) or 'none'})", path)


def _mat_string(value: object) -> str | None:
    """A cell of a MATLAB cell array of strings (nested 1×1 arrays) as str."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    return value if isinstance(value, str) else None


def _load_livec(folder: Path) -> list[_Row]:
    names_mat, mos_mat = _require(folder / LIVEC_NAMES, "LIVEC image list"), _require(folder / LIVEC_MOS, "LIVEC MOS")
    names = _mat_var(names_mat, "AllImages_release").reshape(-1)
    scores = _mat_var(mos_mat, "AllMOS_release").reshape(-1)
    if len(names) != len(scores):
        raise HarnessError(f"{len(names)} image names but {len(scores)} MOS values in {mos_mat.name}", names_mat)
    if len(names) <= LIVEC_SKIP:
        raise HarnessError(f"only {len(names)} entries; the first {LIVEC_SKIP} (the release's training "
                           f"images) are skipped, leaving none", names_mat)
    images = folder / LIVEC_IMAGES
    rows = []
    for i in range(LIVEC_SKIP, len(names)):
        where = f"entry {i + 1}"
        name = _mat_string(names[i])
        if name is None:
            raise HarnessError(f"{where}: not an image name string ({names[i]!r})", names_mat)
        raw = _score("livec", scores[i] if scores.dtype.kind in "fiu" else _mat_string(scores[i]), mos_mat, where)
        path = _resolve(images, name, names_mat, where)
        rows.append(_Row(path.stem, path, raw, path.stem, f"{names_mat.name} {where}"))
    return rows


def _load_koniq(folder: Path) -> list[_Row]:
    listing = _require(folder / KONIQ_CSV, "KonIQ-10k score file")
    images = next((folder / d for d in KONIQ_IMAGES if (folder / d).is_dir()), None)
    if images is None:
        raise HarnessError(f"no image folder {' or '.join(KONIQ_IMAGES)}; expected layout:\n{LAYOUT}", folder)
    (_, header), *body = _read_csv(listing)
    col = _columns(listing, header, ("image_name", "MOS"))
    rows = []
    for n, row in body:
        where = f"line {n}"
        raw = _score("koniq", _cell(listing, n, row, col["MOS"], "MOS"), listing, where)
        path = _resolve(images, _cell(listing, n, row, col["image_name"], "image_name"), listing, where)
        rows.append(_Row(path.stem, path, raw, path.stem, f"{listing.name} {where}"))
    return rows


def _load_kadid(folder: Path) -> list[_Row]:
    listing = _require(folder / KADID_CSV, "KADID-10k score file")
    (_, header), *body = _read_csv(listing)
    col = _columns(listing, header, ("dist_img", "ref_img", "dmos"))
    rows = []
    for n, row in body:
        where = f"line {n}"
        raw = _score("kadid", _cell(listing, n, row, col["dmos"], "dmos"), listing, where)
        path = _resolve(folder / KADID_IMAGES, _cell(listing, n, row, col["dist_img"], "dist_img"), listing, where)
        ref = _cell(listing, n, row, col["ref_img"], "ref_img")
        if not ref:
            raise HarnessError(f"{where}: empty ref_img", listing)
        rows.append(_Row(path.stem, path, raw, Path(ref).stem, f"{listing.name} {where}"))
    return rows


def _kadid_reference(stem: str) -> str:
    """KADID-10k names ``I01_03_05`` (reference, distortion type, level) → ``I01``."""
    m = re.match(r"^(.+?)_\d+_\d+$", stem)
    return m.group(1) if m else stem


def _load_meta(folder: Path, dataset: str, split_column: str | None) -> tuple[list[_Row], dict[str, str] | None]:
    """Rows of ``meta_info.csv`` and, when it has a split column, name → train/test."""
    listing = folder / META_CSV
    (_, header), *body = _read_csv(listing)
    if len(header) < 2:
        raise HarnessError(f"expected at least two columns (image path, MOS), got header {header}", listing)
    full_reference = header[0].lower() in ("ref_name", "ref_img") and header[1].lower() in ("dist_name", "dist_img")
    path_col, mos_col, ref_col = (1, 2, 0) if full_reference else (0, 1, None)
    if full_reference and len(header) < 3:
        raise HarnessError("full-reference header needs ref_name, dist_name, mos", listing)
    if split_column is not None:
        if split_column not in header:
            raise did_you_mean(split_column, [h for h in header if "split" in h.lower()] or header,
                               f"split column of {listing}")
        split_col: int | None = header.index(split_column)
    elif "official_split" in header:
        split_col = header.index("official_split")
    else:
        split_col = next((i for i, h in enumerate(header) if _RATIO_SPLIT.match(h)), None)
    rows, splits = [], {} if split_col is not None else None
    for n, row in body:
        where = f"line {n}"
        raw = _score(dataset, _cell(listing, n, row, mos_col, "MOS"), listing, where)
        path = _resolve(folder, _cell(listing, n, row, path_col, "image path"), listing, where)
        if ref_col is not None:
            group = Path(_cell(listing, n, row, ref_col, "reference")).stem
        elif dataset == "kadid":
            group = _kadid_reference(path.stem)
        else:
            group = path.stem
        rows.append(_Row(path.stem, path, raw, group, f"{listing.name} {where}"))
        if splits is not None:
            value = _cell(listing, n, row, split_col, header[split_col]).lower()
            if value not in SPLIT_VALUES:
                raise HarnessError(f"{where}: split {value!r} in column {header[split_col]!r} is not "
                                   f"train, val or test", listing)
            splits[path.stem] = SPLIT_VALUES[value]
    return rows, splits


def seeded_split(groups: Iterable[str], seed: int = SPLIT_SEED, train_fraction: float = TRAIN_FRACTION) -> dict[str, str]:
    """group → train/test: sorted unique names permuted by ``default_rng(seed)``, the first
    round(``train_fraction``·n) (halves round up) are ``train``."""
    names = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    n_train = math.floor(train_fraction * len(names) + 0.5)
    return {names[k]: ("train" if rank < n_train else "test") for rank, k in enumerate(order)}


def scan(root: Path, dataset: str, split_column: str | None = None) -> list[QualityRecord]:
    """The records of ``<root>/<dataset>`` (``meta_info.csv`` if present, else the release files),
    sorted naturally by ``sample_id``; ``split_column`` picks a meta_info.csv split column."""
    if dataset not in DATASETS:
        raise did_you_mean(dataset, DATASETS, "IQA dataset")
    folder = Path(root) / dataset
    if not folder.is_dir():
        raise HarnessError(f"dataset folder {dataset!r} not found; expected layout:\n{LAYOUT}", folder)
    splits = None
    if (folder / META_CSV).is_file():
        rows, splits = _load_meta(folder, dataset, split_column)
    elif split_column is not None:
        raise HarnessError(f"split column {split_column!r} given but there is no {META_CSV}", folder)
    else:
        rows = {"livec": _load_livec, "koniq": _load_koniq, "kadid": _load_kadid}[dataset](folder)
    if not rows:
        raise HarnessError(f"no images listed; expected layout:\n{LAYOUT}", folder)
    seen: dict[str, _Row] = {}
    for r in rows:
        if r.name in seen:
            raise HarnessError(f"{r.where}: image {r.path.name!r} has the same sample id {r.name!r} (file stem) "
                               f"as {seen[r.name].where}", folder)
        seen[r.name] = r
    if splits is None:
        by_group = seeded_split(r.group for r in rows)
        splits = {r.name: by_group[r.group] for r in rows}
    records = [QualityRecord(r.name, dataset, r.path, to_100(dataset, r.raw), r.raw, splits[r.name]) for r in rows]
    return sorted(records, key=lambda r: (natural_key(r.sample_id), r.sample_id))


def select(records: Iterable[QualityRecord], split: str) -> list[QualityRecord]:
    """Records of ``split``: all, train or test."""
    if split not in SPLITS:
        raise did_you_mean(split, SPLITS, "IQA split")
    return list(records) if split == "all" else [r for r in records if r.split == split]


def fingerprint(root: Path, records: Iterable[QualityRecord]) -> str:
    """sha256 (16 hex) over every image's path and size plus the heads of each dataset's score
    files (meta_info.csv, the .mat files, the CSVs)."""
    root = Path(root)
    records = list(records)
    names = (META_CSV, LIVEC_NAMES, LIVEC_MOS, KONIQ_CSV, KADID_CSV)
    heads = {root / d / n for d in {r.dataset for r in records} for n in names}
    return fingerprint_files(root, {r.image for r in records}, [h for h in heads if h.is_file()])
