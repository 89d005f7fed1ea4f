"""rPPG dataset scanners: the real on-disk layouts → lists of :class:`VideoRecord`.

Scanning lists files, reads video headers (frame rate) and tiny metadata only; frames and ground
truth are read when a record's ``frames()`` / ``ground_truth()`` is called. Frames are streamed
one at a time (``read_video``, ``read_image_sequence``, HDF5 slices), except MMPD's MATLAB v5
files, which scipy can only load whole. Every scanner accepts the layout in ``LAYOUTS`` (reference
§1.5); assumptions not confirmed against the dataset's own documentation say UNCONFIRMED.

Ground truth comes back raw, with its own rate (``None`` = one sample per frame); the family
matches it to the decoded frame count with :func:`resample_to_frames` (linear, like the
toolbox's ``resample_ppg``), which refuses lengths that cannot be matched.
"""
from __future__ import annotations

import functools
import inspect
import json
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import h5py
import numpy as np
import scipy.io

from ...errors import HarnessError, did_you_mean
from ...registry import natural_key
from .video import VideoRecord

DEFAULT_FS = 30.0
#: largest accepted relative gap between the ground truth's and the video's durations
MAX_DURATION_MISMATCH = 0.10
#: iBVP: the toolbox drops frames whose SQ2 quality (resampled to frames) is ≤ this
IBVP_SQ2_THRESHOLD = 0.3
#: SCAMPS frames are read from HDF5 in blocks of this many frames (bounded memory)
HDF5_BLOCK_FRAMES = 16

_MAT_ERRORS = (OSError, ValueError, TypeError, scipy.io.matlab.MatReadError)

LAYOUTS: dict[str, str] = {
    "ubfc-rppg": "subjectN/vid.avi + subjectN/ground_truth.txt (UBFC-rPPG DATASET_2; an optional "
                 "RawData/ or DATASET_2/ level is accepted)",
    "pure": "ii-jj/ii-jj/*.png + ii-jj/ii-jj.json (PPG in /FullPackage[*].Value.waveform, 60 Hz; "
            "optional RawData/ level)",
    "mmpd": "[mat_dataset/]subjectN/pN_M.mat (MATLAB v5 with video, GT_ppg, light, motion, ...)",
    "ibvp": "[iBVP_Dataset/]pXX_x/pXX_x_rgb/*.bmp + pXX_x/pXX_x_bvp.csv (BVP, SQPhysMD, SQ1, SQ2, "
            "Perfusion_Value)",
    "scamps": "[SCAMPS/]{Train,Val,Test}/P######.mat or P######.mat (MATLAB v7.3/HDF5 with Xsub, d_ppg)",
    "ubfc-phys": "sN/vid_sN_Tk.avi + sN/bvp_sN_Tk.csv (k = 1..3; one-column BVP, its rate UNCONFIRMED: "
                 "taken to span the video)",
    "physdrive": "<Driver>/<Condition>/RGB.mp4 (or Align/*.png) + <Driver>/<Condition>/Label/BVP.mat "
                 "(key BVP, else the first numeric array; BVP rate UNCONFIRMED: taken to span the video)",
    "buaa-mihr": "Sub XX/lux Y/luxY_NAME.avi + Sub XX/lux Y/luxY_NAME_wave.csv (layout UNCONFIRMED: "
                 "taken from a third-party loader)",
}


# ----------------------------------------------------------------------------- public API
def scan(dataset: str, folder: Path, **options) -> list[VideoRecord]:
    """Records of ``dataset`` under ``folder`` (the folder named after the dataset), in natural
    order of their keys.

    ``options`` go to the dataset's scanner (e.g. ``quality_filter=True`` for iBVP).
    """
    name = dataset.strip().lower().replace("_", "-")
    if name not in DATASETS:
        raise did_you_mean(dataset, DATASETS, "rPPG dataset")
    scanner = DATASETS[name]
    allowed = set(inspect.signature(scanner).parameters) - {"folder"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise HarnessError(f"unknown option(s) {unknown} for dataset {name!r}; known: {sorted(allowed)}")
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "folder not found"
        raise HarnessError(f"{what}; expected the {name} layout: {LAYOUTS[name]}", folder)
    records = scanner(folder, **options)
    if not records:
        raise HarnessError(f"no {name} videos found; expected layout: {LAYOUTS[name]}", folder)
    return sorted(records, key=lambda r: natural_key(r.key))


def resample_to_frames(wave: np.ndarray, n_frames: int, gt_fs: float | None, fs: float, path: Path) -> np.ndarray:
    """Linearly interpolate ``wave`` to ``n_frames`` samples (the toolbox's ``resample_ppg``).

    ``gt_fs`` None means one sample per frame. Refuses (HarnessError naming ``path``) fewer than
    2 samples, non-finite values, or durations (``len/gt_fs`` vs ``n_frames/fs``) more than 10%
    apart.
    """
    wave = np.asarray(wave, dtype=np.float64).ravel()
    if n_frames < 1:
        raise HarnessError(f"cannot match the ground truth to a video of {n_frames} frames", path)
    if wave.size < 2:
        raise HarnessError(f"ground truth has {wave.size} sample(s); at least 2 are needed", path)
    bad = int(np.count_nonzero(~np.isfinite(wave)))
    if bad:
        raise HarnessError(f"ground truth has {bad} non-finite value(s) (NaN/inf)", path)
    rate = fs if gt_fs is None else float(gt_fs)
    if not rate > 0:
        raise HarnessError(f"ground-truth sampling rate must be > 0, got {gt_fs}", path)
    gt_s, video_s = wave.size / rate, n_frames / fs
    if abs(gt_s - video_s) > MAX_DURATION_MISMATCH * video_s:
        raise HarnessError(
            f"ground truth lasts {gt_s:.2f} s ({wave.size} samples at {rate:g} Hz) but the video "
            f"{video_s:.2f} s ({n_frames} frames at {fs:g} fps): more than "
            f"{MAX_DURATION_MISMATCH:.0%} apart, refusing to stretch it", path)
    if wave.size == n_frames:
        return wave.copy()
    return np.interp(np.linspace(0.0, 1.0, n_frames), np.linspace(0.0, 1.0, wave.size), wave)


def read_video(path: Path, bgr: bool = False) -> Iterator[np.ndarray]:
    """Stream RGB (``bgr``: OpenCV's native BGR) uint8 frames of a video file (OpenCV);
    HarnessError if it yields none."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError("video file not found", path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise HarnessError("cannot open video (corrupt file or unsupported codec)", path)
        count = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            count += 1
            yield frame if bgr else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if count == 0:
            raise HarnessError("no frame could be decoded (corrupt or empty video)", path)
    finally:
        cap.release()


def read_image_sequence(paths: list[Path], bgr: bool = False) -> Iterator[np.ndarray]:
    """Stream RGB (``bgr``: OpenCV's native BGR) uint8 frames from image files, one file at a
    time, in the given order."""
    if not paths:
        raise HarnessError("empty image sequence: no frame files")
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise HarnessError("cannot read image frame (missing, corrupt or unsupported)", p)
        yield img if bgr else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------- shared helpers
def _sorted(paths: Iterable[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: natural_key(p.name))


def _subdirs(folder: Path, pattern: str = r".*") -> list[Path]:
    rx = re.compile(pattern)
    return _sorted(p for p in folder.iterdir() if p.is_dir() and rx.fullmatch(p.name))


def _files(folder: Path, suffix: str) -> list[Path]:
    return _sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == suffix)


def _locate(folder: Path, has_layout: Callable[[Path], bool], levels: tuple[str, ...] = ()) -> Path:
    """``folder`` itself, or the first known intermediate level (e.g. ``RawData``) holding the layout."""
    if has_layout(folder):
        return folder
    for name in levels:
        if (folder / name).is_dir() and has_layout(folder / name):
            return folder / name
    return folder


def _need(path: Path, dataset: str, what: str) -> Path:
    """``path`` if it exists, else a HarnessError naming it and the expected layout."""
    if not path.exists():
        raise HarnessError(f"missing {what}; expected the {dataset} layout: {LAYOUTS[dataset]}", path)
    return path


def _probe_video(path: Path, default_fs: float) -> tuple[float, int]:
    """(frame rate, frame count) from a video's header; HarnessError if it can't be opened."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise HarnessError("cannot open video (corrupt file or unsupported codec)", path)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    return (fps if np.isfinite(fps) and 0 < fps < 1000 else default_fs), count


def _read_table(path: Path) -> np.ndarray:
    """Numeric CSV/whitespace table as a 2-D float array; leading non-numeric (header) lines skipped."""
    rows = []
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read ground-truth file: {exc}", path) from exc
    for number, line in enumerate(lines, 1):
        fields = [f for f in re.split(r"[,;\s]+", line.strip()) if f]
        if not fields:
            continue
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            if rows:
                raise HarnessError(f"line {number} is not numeric: {line[:60]!r}", path) from None
    if not rows:
        raise HarnessError("ground-truth file holds no numeric rows", path)
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise HarnessError(f"rows have different numbers of columns (first row has {width})", path)
    return np.asarray(rows, dtype=np.float64)


def _load_mat_vector(path: Path, preferred: tuple[str, ...]) -> np.ndarray:
    """A 1-D signal from a .mat file (v5 via scipy, v7.3 via h5py): the first ``preferred`` key
    present, else the first numeric array with ≥ 2 elements."""
    if h5py.is_hdf5(path):  # MATLAB v7.3
        with _open_hdf5(path) as f:
            arrays = {k: f[k][()] for k in f
                      if isinstance(f[k], h5py.Dataset) and f[k].attrs.get("MATLAB_class") != b"char"}
    else:
        try:
            arrays = {k: v for k, v in scipy.io.loadmat(str(path)).items() if not k.startswith("__")}
        except (*_MAT_ERRORS, NotImplementedError) as exc:
            raise HarnessError(f"cannot read .mat file: {exc}", path) from exc
    numeric = {k: np.asarray(v) for k, v in arrays.items()
               if isinstance(v, np.ndarray) and v.dtype.kind in "fiu" and v.size >= 2}
    key = next((k for k in preferred if k in numeric), next(iter(numeric), None))
    if key is None:
        raise HarnessError(f"no numeric signal in .mat file (looked for {list(preferred)} first)", path)
    return numeric[key].astype(np.float64).ravel()


def _open_hdf5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise HarnessError(f"not a readable MATLAB v7.3 (HDF5) file: {exc}", path) from exc


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    """uint8 frames pass through; float frames are taken as 0..1 (the toolbox's ×255 and round)."""
    if frame.dtype == np.uint8:
        return frame
    return np.clip(np.rint(np.asarray(frame, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def _spanning(read: Callable[[], np.ndarray], n_frames: Callable[[], int], fs: float,
              video: Path) -> tuple[np.ndarray, float]:
    """GT of unknown rate taken to span the whole video: rate = samples / (frames / fs)."""
    wave = read()
    frames = n_frames()
    if frames < 1:
        raise HarnessError("cannot infer the ground-truth rate: the video reports no frames", video)
    return wave, wave.size * fs / frames


def _frame_count(path: Path) -> int:
    """Frames in a video: the header's count, or counted (grab without decoding) if it has none."""
    count = _probe_video(path, DEFAULT_FS)[1]
    if count > 0:
        return count
    cap = cv2.VideoCapture(str(path))
    try:
        while cap.grab():
            count += 1
    finally:
        cap.release()
    return count


def _source(path: Path, default_fs: float, dataset: str) -> tuple[float, Callable, Callable[[], int]]:
    """(fs, frames, frame count) of a video file (fs from its header, else ``default_fs``), or of
    a folder of .png frames (30 fps)."""
    if path.is_dir():
        pngs = _files(path, ".png")
        if not pngs:
            raise HarnessError(f"no .png frames; expected the {dataset} layout: {LAYOUTS[dataset]}", path)
        return DEFAULT_FS, functools.partial(read_image_sequence, pngs), functools.partial(len, pngs)
    fs, _ = _probe_video(path, default_fs)
    return fs, functools.partial(read_video, path), functools.partial(_frame_count, path)


def _record(dataset: str, subject: str, key: str, fs: float, path: Path, frames: Callable[[], Iterator[np.ndarray]],
            ground_truth: Callable[[], tuple[np.ndarray, float | None]], gt_path: Path, **meta) -> VideoRecord:
    return VideoRecord(dataset=dataset, subject=subject, key=key, fs=float(fs), path=path, frames=frames,
                       ground_truth=ground_truth, gt_path=gt_path, meta=meta, bgr_frames=_bgr_twin(frames))


def _bgr_twin(frames: Callable[[], Iterator[np.ndarray]]) -> Callable[[], Iterator[np.ndarray]] | None:
    """The same stream in OpenCV's BGR order, for the OpenCV readers (``read_video``,
    ``read_image_sequence``); None for the others (HDF5, MATLAB), whose frames are RGB already."""
    if isinstance(frames, functools.partial) and frames.func in (read_video, read_image_sequence):
        return functools.partial(frames.func, *frames.args, **frames.keywords, bgr=True)
    return None


# ----------------------------------------------------------------------------- UBFC-rPPG
def scan_ubfc_rppg(folder: Path, unlabelled: bool = False) -> list[VideoRecord]:
    """UBFC-rPPG DATASET_2: ``subjectN/vid.avi`` + ``ground_truth.txt`` (line 1 PPG, line 2 HR,
    line 3 timestamps in s; a participant copy, ``unlabelled``: ``vid.avi`` only). fs from the
    video header (default 30). GT rate from the timestamps when present, else one sample per frame. Folders without ``vid.avi`` are ignored unless named
    ``subject*``. DATASET_1 (``gtdump.xmp``) is not supported.
    """
    root = _locate(folder, lambda p: any((d / "vid.avi").is_file() for d in _subdirs(p)), ("RawData", "DATASET_2"))
    records = []
    for d in _subdirs(root):
        video = d / "vid.avi"
        if not video.is_file():
            if d.name.lower().startswith("subject"):
                _need(video, "ubfc-rppg", "video vid.avi")
            continue
        fs, frames, _ = _source(video, DEFAULT_FS, "ubfc-rppg")
        if unlabelled:  # a participant copy: the ground truth is withheld
            records.append(_record("ubfc-rppg", d.name, d.name, fs, video, frames, None, None))
            continue
        gt = _need(d / "ground_truth.txt", "ubfc-rppg", "ground_truth.txt")
        records.append(_record("ubfc-rppg", d.name, d.name, fs, video, frames,
                               functools.partial(_ubfc_ground_truth, gt), gt))
    return records


def _ubfc_ground_truth(path: Path) -> tuple[np.ndarray, float | None]:
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read ground_truth.txt: {exc}", path) from exc
    if not lines:
        raise HarnessError("empty ground_truth.txt (expected 3 lines: PPG, HR, timestamps)", path)
    try:
        rows = [np.array(ln.split(), dtype=np.float64) for ln in lines[:3]]
    except ValueError:
        raise HarnessError("ground_truth.txt holds non-numeric values (expected 3 lines of floats)", path) from None
    wave = rows[0]
    if len(rows) < 3:
        return wave, None
    stamps = rows[2]
    if stamps.size != wave.size:
        raise HarnessError(f"line 3 has {stamps.size} timestamps but line 1 has {wave.size} PPG samples", path)
    span = float(stamps[-1] - stamps[0]) if stamps.size >= 2 else 0.0
    return wave, ((wave.size - 1) / span if span > 0 else None)


# ----------------------------------------------------------------------------- PURE
def scan_pure(folder: Path) -> list[VideoRecord]:
    """PURE: ``ii-jj/ii-jj/*.png`` frames (natural sort on the timestamp in the name) +
    ``ii-jj/ii-jj.json`` (``/FullPackage[*].Value.waveform``, 60 Hz). fs 30; subject ``ii``."""
    pattern = r"\d+-\d+"
    root = _locate(folder, lambda p: bool(_subdirs(p, pattern)), ("RawData",))
    records = []
    for d in _subdirs(root, pattern):
        frames_dir = _need(d / d.name, "pure", "frame folder")
        gt = _need(d / f"{d.name}.json", "pure", "PPG json")
        pngs = _files(frames_dir, ".png")
        if not pngs:
            raise HarnessError(f"no .png frames; expected the pure layout: {LAYOUTS['pure']}", frames_dir)
        subject, task = d.name.split("-")
        records.append(_record("pure", subject, d.name, DEFAULT_FS, frames_dir,
                               functools.partial(read_image_sequence, pngs),
                               functools.partial(_pure_ground_truth, gt), gt, task=task))
    return records


def _pure_ground_truth(path: Path) -> tuple[np.ndarray, float | None]:
    try:
        package = json.loads(path.read_text())["/FullPackage"]
        wave = np.array([entry["Value"]["waveform"] for entry in package], dtype=np.float64)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise HarnessError(f"malformed PURE json (expected /FullPackage[*].Value.waveform): {exc!r}", path) from None
    return wave, 60.0


# ----------------------------------------------------------------------------- MMPD
MMPD_META_KEYS = ("light", "motion", "exercise", "skin_color", "gender", "glasser", "hair_cover", "makeup")


def scan_mmpd(folder: Path) -> list[VideoRecord]:
    """MMPD: ``subjectN/pN_M.mat`` (MATLAB v5). ``video`` is read as the toolbox does, axis 0 =
    time and each ``video[t]`` an (H, W, 3) RGB image, float 0..1 scaled ×255 (uint8 passes
    through); the README's "[t, w, h, c]" naming of the two middle axes is UNCONFIRMED.
    ``GT_ppg`` is one sample per frame. The 8 condition labels are read at scan time (small
    variables only) into ``meta``. NOT streamed: scipy loads the whole ``video`` variable when
    ``frames()`` starts. fs 30.
    """
    pattern = r"subject\d+"
    root = _locate(folder, lambda p: bool(_subdirs(p, pattern)), ("mat_dataset", "MMPD_Dataset"))
    records = []
    for d in _subdirs(root, pattern):
        for mat in _files(d, ".mat"):
            records.append(_record("mmpd", d.name, f"{d.name}/{mat.stem}", DEFAULT_FS, mat,
                                   functools.partial(_mmpd_frames, mat), functools.partial(_mmpd_ground_truth, mat),
                                   mat, **_mmpd_meta(mat)))
    return records


def _load_mat(path: Path, names: list[str]) -> dict:
    try:
        mat = scipy.io.loadmat(str(path), variable_names=names)
    except NotImplementedError:
        raise HarnessError("MATLAB v7.3 file where MMPD ships v5 .mat files", path) from None
    except _MAT_ERRORS as exc:
        raise HarnessError(f"cannot read .mat file: {exc}", path) from exc
    missing = [n for n in names if n not in mat]
    if missing:
        raise HarnessError(f".mat file lacks {missing}; expected the mmpd layout: {LAYOUTS['mmpd']}", path)
    return mat


def _mat_scalar(value: np.ndarray):
    """A MATLAB scalar/string as a Python value; 'True'/'False' strings become bools."""
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        text = "".join(str(s) for s in arr.ravel()).strip()
        return {"True": True, "False": False}.get(text, text)
    if arr.size == 1 and arr.dtype.kind in "biuf":
        item = arr.item()
        return int(item) if float(item).is_integer() else float(item)
    return arr.tolist()


def _mmpd_meta(path: Path) -> dict:
    mat = _load_mat(path, list(MMPD_META_KEYS))
    return {k: _mat_scalar(mat[k]) for k in MMPD_META_KEYS}


def _mmpd_frames(path: Path) -> Iterator[np.ndarray]:
    video = _load_mat(path, ["video"])["video"]
    if video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] == 0:
        raise HarnessError(f"'video' has shape {video.shape}; expected [t, h, w, 3]", path)
    for frame in video:
        yield _to_uint8(frame)


def _mmpd_ground_truth(path: Path) -> tuple[np.ndarray, float | None]:
    return np.asarray(_load_mat(path, ["GT_ppg"])["GT_ppg"], dtype=np.float64).T.ravel(), None


# ----------------------------------------------------------------------------- iBVP
def scan_ibvp(folder: Path, quality_filter: bool = False) -> list[VideoRecord]:
    """iBVP: ``pXX_x/pXX_x_rgb/*.bmp`` + ``pXX_x/pXX_x_bvp.csv`` (BVP at 30 fps, SQPhysMD, SQ1,
    SQ2, Perfusion_Value; a header row is skipped if present). fs 30; subject ``pXX``.

    ``meta['quality_mask']`` is a per-frame bool array: SQ2 resampled to the frame count > 0.3
    (the CSV is read at scan time for it). The toolbox DROPS the other frames; pass
    ``quality_filter=True`` to do the same (``frames()`` and ``ground_truth()`` then skip them).
    """
    pattern = r"p\d+_[a-z]"
    root = _locate(folder, lambda p: bool(_subdirs(p, pattern)), ("iBVP_Dataset",))
    records = []
    for d in _subdirs(root, pattern):
        rgb_dir = _need(d / f"{d.name}_rgb", "ibvp", "RGB frame folder")
        gt = _need(d / f"{d.name}_bvp.csv", "ibvp", "BVP csv")
        bmps = _files(rgb_dir, ".bmp")
        if not bmps:
            raise HarnessError(f"no .bmp frames; expected the ibvp layout: {LAYOUTS['ibvp']}", rgb_dir)
        table = _read_table(gt)
        if table.shape[1] < 4:
            raise HarnessError(f"BVP csv has {table.shape[1]} column(s); expected BVP, SQPhysMD, SQ1, SQ2, ...", gt)
        sq2 = resample_to_frames(table[:, 3], len(bmps), None, DEFAULT_FS, gt)
        mask = sq2 > IBVP_SQ2_THRESHOLD
        kept = [p for p, keep in zip(bmps, mask) if keep] if quality_filter else bmps
        if not kept:
            raise HarnessError(f"every frame has SQ2 ≤ {IBVP_SQ2_THRESHOLD}: nothing left after the quality filter", gt)
        records.append(_record("ibvp", d.name.split("_")[0], d.name, DEFAULT_FS, rgb_dir,
                               functools.partial(read_image_sequence, kept),
                               functools.partial(_ibvp_ground_truth, gt, len(bmps), mask if quality_filter else None),
                               gt, condition=d.name.split("_")[1], quality_mask=mask, quality_filtered=quality_filter))
    return records


def _ibvp_ground_truth(path: Path, n_frames: int, keep: np.ndarray | None) -> tuple[np.ndarray, float | None]:
    wave = _read_table(path)[:, 0]
    if keep is None:
        return wave, None
    return resample_to_frames(wave, n_frames, None, DEFAULT_FS, path)[keep], None


# ----------------------------------------------------------------------------- SCAMPS
SCAMPS_SPLITS = ("Train", "Val", "Test")


def scan_scamps(folder: Path) -> list[VideoRecord]:
    """SCAMPS: ``{Train,Val,Test}/P######.mat`` or flat ``P######.mat`` (MATLAB v7.3 = HDF5, read
    with h5py). HDF5 holds MATLAB arrays transposed: ``Xsub`` is stored [c, w, h, t] (MATLAB
    [t, h, w, c], as the toolbox reads it via mat73), float 0..1; ``d_ppg`` one sample per frame.
    Frames are streamed in blocks of 16. fs 30; subject = file stem; split in ``meta``.
    """
    def has_mats(p: Path) -> bool:
        return bool(_files(p, ".mat")) or any((p / s).is_dir() and _files(p / s, ".mat") for s in SCAMPS_SPLITS)

    root = _locate(folder, has_mats, ("SCAMPS", "scamps_videos"))
    groups = [(None, root)] + [(s, root / s) for s in SCAMPS_SPLITS if (root / s).is_dir()]
    records = []
    for split, d in groups:
        for mat in _files(d, ".mat"):
            key = f"{split}/{mat.stem}" if split else mat.stem
            records.append(_record("scamps", mat.stem, key, DEFAULT_FS, mat, functools.partial(_scamps_frames, mat),
                                   functools.partial(_scamps_ground_truth, mat), mat, split=split))
    return records


def _hdf5_dataset(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise HarnessError(f"missing {key!r} in the MATLAB v7.3 file; expected the scamps layout: "
                           f"{LAYOUTS['scamps']}", path)
    return f[key]


def _scamps_frames(path: Path) -> Iterator[np.ndarray]:
    with _open_hdf5(path) as f:
        ds = _hdf5_dataset(f, "Xsub", path)
        if ds.ndim != 4 or ds.shape[0] != 3 or ds.shape[3] == 0:
            raise HarnessError(f"'Xsub' has HDF5 shape {ds.shape}; expected [3, w, h, t] (MATLAB [t, h, w, 3])", path)
        for start in range(0, ds.shape[3], HDF5_BLOCK_FRAMES):
            block = ds[:, :, :, start:start + HDF5_BLOCK_FRAMES]  # (c, w, h, k)
            for frame in block.transpose(3, 2, 1, 0):  # k × (h, w, c)
                yield _to_uint8(frame)


def _scamps_ground_truth(path: Path) -> tuple[np.ndarray, float | None]:
    with _open_hdf5(path) as f:
        return np.asarray(_hdf5_dataset(f, "d_ppg", path)[()], dtype=np.float64).ravel(), None


# ----------------------------------------------------------------------------- UBFC-Phys
def scan_ubfc_phys(folder: Path) -> list[VideoRecord]:
    """UBFC-Phys: ``sN/vid_sN_Tk.avi`` + ``sN/bvp_sN_Tk.csv`` (one-column BVP). fs from the video
    header (default 35). The BVP rate (Empatica E4, 64 Hz) is UNCONFIRMED, so the BVP is taken
    to span the whole video (rate = samples / header duration), i.e. resampled by length to the
    frame count as the toolbox does. Key ``sN/Tk``; task in ``meta``.
    """
    pattern = r"s\d+"
    records = []
    for d in _subdirs(folder, pattern):
        for video in _sorted(d.glob(f"vid_{d.name}_T*.avi")):
            task = video.stem.rsplit("_", 1)[-1]
            gt = _need(d / f"bvp_{d.name}_{task}.csv", "ubfc-phys", "BVP csv")
            fs, frames, count = _source(video, 35.0, "ubfc-phys")
            read_bvp = functools.partial(_first_column, gt)
            records.append(_record("ubfc-phys", d.name, f"{d.name}/{task}", fs, video, frames,
                                   functools.partial(_spanning, read_bvp, count, fs, video), gt, task=task))
    return records


def _first_column(path: Path) -> np.ndarray:
    return _read_table(path)[:, 0]


# ----------------------------------------------------------------------------- PhysDrive
def scan_physdrive(folder: Path) -> list[VideoRecord]:
    """PhysDrive: ``<Driver>/<Condition>/RGB.mp4`` + ``Label/BVP.mat`` (raw release), or the
    toolbox's ``Align/*.png`` frames instead of ``RGB.mp4`` (RGB.mp4 preferred when both exist).
    BVP key: ``BVP`` (as the toolbox reads it), else the first numeric array (UNCONFIRMED for
    the raw release). The BVP rate is UNCONFIRMED: taken to span the video. fs from the video
    header (default 30); Align frames at 30 fps (UNCONFIRMED). Key ``Driver/Condition``.
    """
    def sessions(p: Path) -> list[Path]:
        return [c for d in _subdirs(p) for c in _subdirs(d)
                if any((c / n).exists() for n in ("RGB.mp4", "Align", "Label"))]

    records = []
    for cond in sessions(folder):
        driver = cond.parent.name
        gt = _need(cond / "Label" / "BVP.mat", "physdrive", "Label/BVP.mat")
        source = cond / "RGB.mp4"
        if not source.is_file():
            source = cond / "Align" if (cond / "Align").is_dir() else _need(source, "physdrive", "RGB.mp4 (or Align/ frames)")
        fs, frames, count = _source(source, DEFAULT_FS, "physdrive")
        read_bvp = functools.partial(_load_mat_vector, gt, ("BVP",))
        records.append(_record("physdrive", driver, f"{driver}/{cond.name}", fs, source, frames,
                               functools.partial(_spanning, read_bvp, count, fs, source), gt,
                               condition=cond.name, source=source.name))
    return records


# ----------------------------------------------------------------------------- BUAA-MIHR
def scan_buaa_mihr(folder: Path) -> list[VideoRecord]:
    """BUAA-MIHR, layout UNCONFIRMED (no official loader found; taken from a third-party loader):
    ``Sub XX/lux Y/luxY_NAME.avi`` + ``luxY_NAME_wave.csv`` (one-column PPG; a ``luxY_NAME.csv``
    with HR is ignored). A folder named ``luxY_NAME.avi`` holding ``*.png`` frames is also read.
    fs from the header (default 30; 30 for frame folders). PPG rate UNCONFIRMED: taken to span
    the video. Key ``Sub XX/lux Y``; subject ``Sub XX``; lux and name in ``meta``.
    """
    records = []
    for sub in _subdirs(folder, r"Sub\s*\d+"):
        for lux_dir in _subdirs(sub, r"lux\s*[\d.]+"):
            videos = _sorted(p for p in lux_dir.glob("*.avi"))
            if len(videos) != 1:
                raise HarnessError(f"expected exactly one luxY_NAME.avi, found {len(videos)}; "
                                   f"expected the buaa-mihr layout: {LAYOUTS['buaa-mihr']}", lux_dir)
            video = videos[0]
            gt = _need(lux_dir / f"{video.stem}_wave.csv", "buaa-mihr", "PPG wave csv")
            fs, frames, count = _source(video, DEFAULT_FS, "buaa-mihr")
            read_ppg = functools.partial(_first_column, gt)
            records.append(_record("buaa-mihr", sub.name, f"{sub.name}/{lux_dir.name}", fs, video, frames,
                                   functools.partial(_spanning, read_ppg, count, fs, video), gt,
                                   lux=float(re.sub(r"[^\d.]", "", lux_dir.name)), name=video.stem.split("_", 1)[-1]))
    return records


DATASETS: dict[str, Callable[..., list[VideoRecord]]] = {
    "ubfc-rppg": scan_ubfc_rppg,
    "pure": scan_pure,
    "mmpd": scan_mmpd,
    "ibvp": scan_ibvp,
    "scamps": scan_scamps,
    "ubfc-phys": scan_ubfc_phys,
    "physdrive": scan_physdrive,
    "buaa-mihr": scan_buaa_mihr,
}
