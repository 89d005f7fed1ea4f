"""Where deception data lives under a data root, how labels are read, and how raw clips are decoded.

The layout (:data:`LAYOUT`)::

    <root>/<dataset>/features/<store>/     converted feature stores (harness data convert ... --out <root>/<dataset>/features)
    <root>/<dataset>/features/<name>.pkl   organizers' pickles not yet converted (refused, with the convert command)
    <root>/dolos/Training_Protocols/{train_fold1,test_fold1,...,long,short,male,female}.csv
    <root>/dolos/clips/<file_name>.mp4 (or .avi, or a folder of frames) + optional <file_name>.wav
    <root>/<other dataset>/clips/...       same raw clip layout, labelled by <root>/<dataset>/labels.csv

Labels inside the harness: **truth = 1, lie = 0** (the SVC convention). Every dataset's own
convention is written down in :data:`LABEL_MAPS` and converted explicitly by :func:`map_label`;
DOLOS in particular uses deception = 1, the opposite (rppg_deception.md §3.1).

ASSUMPTION (UNCONFIRMED): the organizers' feature ``videoname`` of a DOLOS clip equals the
``file_name`` of DOLOS's protocol CSVs up to directory, extension and letter case; protocol rows
are matched to clips by :func:`match_name`.
"""
from __future__ import annotations

import csv
import io
import math
import re
from math import gcd
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ...errors import HarnessError

LAYOUT = """\
<root>/<dataset>/features/<store>/    converted feature stores (harness data convert <pickle> --out <root>/<dataset>/features --dataset <dataset>)
<root>/<dataset>/features/<name>.pkl  organizers' pickles not yet converted (refused until converted)
<root>/dolos/Training_Protocols/{train_fold1,test_fold1,train_fold2,test_fold2,train_fold3,test_fold3,long,short,male,female}.csv
<root>/dolos/clips/<file_name>.mp4 (or .avi, or a folder of frames) + optional <file_name>.wav   (raw DOLOS clips)
<root>/<other dataset>/clips/...      same raw clip layout, with <root>/<dataset>/labels.csv (file_name,label) for raw clips
datasets: rlt, bol, box, mu3d, dolos, mdpe, svc2025-final; split <s> = stores named <s> or <s>-part*; 'all' = every store"""

FEATURES_DIR = "features"
CLIPS_DIR = "clips"
LABELS_CSV = "labels.csv"
PROTOCOL_DIR = "Training_Protocols"

DATASETS: dict[str, dict[str, str]] = {
    "rlt": {"title": "Real-life Trial", "citation": "Pérez-Rosas et al., ICMI 2015"},
    "bol": {"title": "Bag-of-Lies", "citation": "Gupta et al., CVPR Workshops 2019"},
    "box": {"title": "Box-of-Lies", "citation": "Soldner et al., NAACL 2019"},
    "mu3d": {"title": "Miami University Deception Detection Database (MU3D)",
             "citation": "Lloyd et al., Behavior Research Methods 2019"},
    "dolos": {"title": "DOLOS", "citation": "Guo et al., ICCV 2023 (arXiv 2303.12745)"},
    "mdpe": {"title": "MDPE", "citation": "MDPE dataset (Hugging Face MDPEdataset/MDPE_Dataset), SVC 2025 stage 2"},
    "svc2025-final": {"title": "SVC 2025 final test set",
                      "citation": "Lin et al., SVC 2025 challenge, ACM MM 2025 workshop (arXiv 2508.04129)"},
}

#: DOLOS protocol split name (as used in tasks) -> CSV file in ``<root>/dolos/Training_Protocols/``
PROTOCOL_SPLITS: dict[str, str] = {
    **{f"fold{k}-{part}": f"{part}_fold{k}.csv" for k in (1, 2, 3) for part in ("train", "test")},
    "long": "long.csv", "short": "short.csv", "male": "male.csv", "female": "female.csv",
}

_TRUTH_WORDS = {"truth", "truthful"}
_LIE_WORDS = {"lie", "deception", "deceptive"}

#: each dataset's own label convention, as found (rppg_deception.md §2.1, §3.1); map_label applies it
LABEL_MAPS: dict[str, dict[str, Any]] = {
    "dolos": {"convention": "deception = 1 (DOLOS code): 'truth'/'truthful' or 0 -> harness 1; "
                            "'deception'/'lie' or 1 -> harness 0", "numeric": {0: 1, 1: 0}},
    "mdpe": {"convention": "self-rated grade 1-5 (raw labels.csv): 1-2 lie -> 0, 3-5 truth -> 1; "
                           "organizer features already carry DD_label truth=1",
             "numeric": {1: 0, 2: 0, 3: 1, 4: 1, 5: 1}},
    "rlt": {"convention": "truth = 1 (organizer features); raw file names trial_lie_* -> 0, trial_truth_* -> 1",
            "numeric": {0: 0, 1: 1}, "names": {"trial_lie": 0, "trial_truth": 1}},
    **{name: {"convention": "truth = 1 (organizer features / labels.csv)", "numeric": {0: 0, 1: 1}}
       for name in ("bol", "box", "mu3d", "svc2025-final")},
}

_GENDERS = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female"}
_NO_GENDER = {"", "na", "n/a", "nan", "none", "unknown", "-", "?"}
_MEDIA_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".wav", ".pkl", ".npz", ".npy",
                     ".jpg", ".jpeg", ".png", ".csv", ".txt"}
_VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
_IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp"}
WAVE_RATE = 16000


class ProtocolRow(NamedTuple):
    file_name: str
    label: int          # harness convention: truth = 1, lie = 0
    gender: str         # "male", "female" or ""


class RawClip(NamedTuple):
    videoname: str
    label: int          # harness convention
    path: Path          # video file or folder of frames
    gender: str


# ----------------------------------------------------------------------------- labels
def map_label(dataset: str, raw: Any) -> int:
    """``raw`` (a dataset's own label: word, number, numpy scalar, file name) -> harness label (truth=1)."""
    if dataset not in LABEL_MAPS:
        raise HarnessError(f"unknown deception dataset {dataset!r}; known: {sorted(LABEL_MAPS)}")
    rules = LABEL_MAPS[dataset]
    value = raw
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUTH_WORDS:
            return 1
        if text in _LIE_WORDS:
            return 0
        for prefix, label in rules.get("names", {}).items():
            if match_name(text).startswith(prefix):
                return label
        try:
            value = float(text)
        except ValueError:
            value = None
    numeric = isinstance(value, (bool, int, float)) and not (isinstance(value, float) and math.isnan(value))
    if numeric and float(value).is_integer() and int(value) in rules["numeric"]:
        return rules["numeric"][int(value)]
    raise HarnessError(f"unknown {dataset} label {raw!r} ({rules['convention']})")


def normalise_gender(raw: Any) -> str:
    """'M', 'Male', 'female', 'F', ... -> 'male' / 'female'; empty or unknown-marker -> ''."""
    text = "" if raw is None else str(raw).strip().lower()
    if text in _GENDERS:
        return _GENDERS[text]
    if text in _NO_GENDER:
        return ""
    raise HarnessError(f"unknown gender value {raw!r} (expected male/female/M/F or empty)")


def match_name(file_name: str) -> str:
    """The key matching protocol rows to clips: no directory, no media extension, lower case.

    ASSUMPTION (UNCONFIRMED): organizer videonames equal DOLOS file_names under this key."""
    name = re.split(r"[\\/]", str(file_name).strip())[-1]
    stem, dot, ext = name.rpartition(".")
    if dot and stem and f".{ext.lower()}" in _MEDIA_EXTENSIONS:
        name = stem
    return name.lower()


# ----------------------------------------------------------------------------- CSVs
_FILE_COLUMNS = ("file_name", "filename", "file", "name", "videoname", "video")
_LABEL_COLUMNS = ("label", "labels", "class", "dd_label")
_GENDER_COLUMNS = ("gender", "sex")


def read_protocol_csv(path: Path, dataset: str = "dolos") -> list[ProtocolRow]:
    """Rows of a DOLOS protocol CSV (or a ``labels.csv``): columns [file_name, label, gender].

    A header row is recognised by its column names (then columns are found by name, in any order);
    without one the first three columns are taken. Extra columns, whitespace, a BOM and blank lines
    are tolerated; labels go through :func:`map_label` for ``dataset``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read the CSV: {exc}", path) from exc
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    rows = [(n, row) for n, row in enumerate(rows, 1) if any(row)]
    if not rows:
        return []
    header = [cell.lower() for cell in rows[0][1]]
    columns = (0, 1, 2)
    if any(cell in _FILE_COLUMNS + _LABEL_COLUMNS for cell in header):
        columns = tuple(_find_column(header, names, path, required)
                        for names, required in ((_FILE_COLUMNS, True), (_LABEL_COLUMNS, True), (_GENDER_COLUMNS, False)))
        rows = rows[1:]
    out = []
    for line, row in rows:
        if len(row) < 2 or not row[columns[0]]:
            raise HarnessError(f"line {line}: expected file_name,label[,gender], got {row}", path)
        try:
            label = map_label(dataset, row[columns[1]])
            gender = normalise_gender(row[columns[2]] if columns[2] is not None and columns[2] < len(row) else "")
        except HarnessError as exc:
            raise HarnessError(f"line {line}: {exc.message}", path) from None
        out.append(ProtocolRow(row[columns[0]], label, gender))
    return out


def _find_column(header: list[str], names: tuple[str, ...], path: Path, required: bool) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    if required:
        raise HarnessError(f"the header {header} has no {names[0]!r} column", path)
    return None


# ----------------------------------------------------------------------------- raw clips
def read_raw_clip(path: Path, frames: int = 32, size: int = 64) -> dict[str, np.ndarray]:
    """A raw clip -> ``faces`` (frames, size, size, 3) uint8 RGB, plus ``wave`` (L,) float32 at 16 kHz
    when a sibling ``<stem>.wav`` exists.

    ``path`` is a video file (``frames`` frames sampled uniformly) or a folder of frame images
    (natural order). Each frame is centre-cropped to a square and resized to ``size``."""
    path = Path(path)
    images = _read_frame_folder(path, frames) if path.is_dir() else _read_video(path, frames, size)
    out = {"faces": np.stack([_square(im, size) for im in images])}
    stem = path.name if path.is_dir() else path.stem
    wav = path.parent / f"{stem}.wav"
    if wav.is_file():
        out["wave"] = read_wave(wav)
    return out


def read_wave(path: Path, rate: int = WAVE_RATE) -> np.ndarray:
    """A .wav file -> mono float32 in [-1, 1] resampled to ``rate``."""
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    try:
        src_rate, data = wavfile.read(str(path))
    except (OSError, ValueError, EOFError) as exc:
        raise HarnessError(f"unreadable wav file: {exc}", path) from exc
    if data.dtype == np.uint8:
        wave = (data.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        wave = data.astype(np.float64) / float(2 ** (8 * data.dtype.itemsize - 1))
    else:
        wave = data.astype(np.float64)
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    if src_rate != rate and wave.size:
        g = gcd(int(src_rate), rate)
        wave = resample_poly(wave, rate // g, int(src_rate) // g)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def _sample(n: int, frames: int) -> np.ndarray:
    return np.round(np.linspace(0, n - 1, frames)).astype(int)


def _read_video(path: Path, frames: int, size: int) -> list[np.ndarray]:
    import cv2

    if not path.is_file():
        raise HarnessError("clip file not found", path)
    cap = cv2.VideoCapture(str(path))
    decoded = []
    try:
        if not cap.isOpened():
            raise HarnessError("cannot open the video (corrupt or unsupported)", path)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            decoded.append(_square(frame[..., ::-1], size))   # BGR -> RGB, small at once (long videos)
    finally:
        cap.release()
    if not decoded:
        raise HarnessError("the video has no readable frames (corrupt or unsupported)", path)
    return [decoded[i] for i in _sample(len(decoded), frames)]


def _read_frame_folder(path: Path, frames: int) -> list[np.ndarray]:
    import cv2

    files = sorted((p for p in path.iterdir() if p.suffix.lower() in _IMAGE_EXTENSIONS), key=_natural_key)
    if not files:
        raise HarnessError("the frame folder holds no images (.jpg/.png/.bmp)", path)
    out = []
    for i in _sample(len(files), frames):
        image = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
        if image is None:
            raise HarnessError("unreadable frame image", files[i])
        out.append(image[..., ::-1])
    return out


def _square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre square crop, resized to ``size``."""
    import cv2

    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = np.ascontiguousarray(image[top:top + side, left:left + side])
    if side == size:
        return crop.astype(np.uint8)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp).astype(np.uint8)


def _natural_key(p: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", p.name)]


def _clip_index(folder: Path) -> dict[str, Path]:
    """match_name -> clip path (video file or frame folder) of a clips folder."""
    index: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_dir() or p.suffix.lower() in _VIDEO_EXTENSIONS:
            index.setdefault(match_name(p.name) if p.is_file() else p.name.lower(), p)
    return index


def scan_raw(root: Path, dataset: str) -> list[RawClip]:
    """The raw clips of a dataset (``<root>/<dataset>/clips``), labelled in the harness convention.

    DOLOS: the clips named in any protocol CSV (their union). Others: the rows of
    ``<root>/<dataset>/labels.csv``; for ``rlt`` without a labels.csv, every clip is labelled from
    its file name (trial_lie_* / trial_truth_*). Clips not listed are ignored; a listed clip with no
    file raises. No clips folder: []."""
    root = Path(root)
    folder = root / dataset / CLIPS_DIR
    if not folder.is_dir():
        return []
    index = _clip_index(folder)
    if dataset == "dolos":
        rows = _protocol_union(root / dataset / PROTOCOL_DIR)
    elif (root / dataset / LABELS_CSV).is_file():
        rows = read_protocol_csv(root / dataset / LABELS_CSV, dataset)
    elif "names" in LABEL_MAPS.get(dataset, {}):
        rows = [ProtocolRow(p.stem if p.is_file() else p.name, map_label(dataset, p.name), "")
                for p in index.values()]
    else:
        raise HarnessError(f"raw clips need {LABELS_CSV} (file_name,label; {LABEL_MAPS[dataset]['convention']})",
                           root / dataset / LABELS_CSV)
    out, seen = [], set()
    for row in rows:
        key = match_name(row.file_name)
        if key in seen:
            continue
        seen.add(key)
        if key not in index:
            raise HarnessError(f"clip {row.file_name!r} is listed but has no video file or frame folder "
                               f"(.mp4/.avi/... or a folder) in {folder}", folder / row.file_name)
        name = re.split(r"[\\/]", row.file_name.strip())[-1]
        if match_name(name) != name.lower():        # a media extension was given in the CSV
            name = name.rsplit(".", 1)[0]
        out.append(RawClip(name, row.label, index[key], row.gender))
    return out


def _protocol_union(folder: Path) -> list[ProtocolRow]:
    """Every row of DOLOS's protocol CSVs; a clip labelled differently by two files raises."""
    if not folder.is_dir():
        raise HarnessError("raw DOLOS clips are labelled by the protocol CSVs, and this folder is missing", folder)
    rows: dict[str, ProtocolRow] = {}
    for split, file in PROTOCOL_SPLITS.items():
        path = folder / file
        if not path.is_file():
            continue
        for row in read_protocol_csv(path, "dolos"):
            key = match_name(row.file_name)
            gender = split if split in ("male", "female") else row.gender
            old = rows.get(key)
            if old is not None and old.label != row.label:
                raise HarnessError(f"clip {row.file_name!r} has label {row.label} here but {old.label} in another "
                                   f"protocol file (harness convention truth=1)", path)
            if old is None:
                rows[key] = ProtocolRow(row.file_name, row.label, gender)
            elif gender and not old.gender:
                rows[key] = old._replace(gender=gender)
    if not rows:
        raise HarnessError(f"no protocol CSVs ({', '.join(sorted(PROTOCOL_SPLITS.values()))})", folder)
    return list(rows.values())
