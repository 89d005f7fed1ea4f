"""rPPG prediction files: what participants upload and what ``harness run --submission`` writes,
described by :data:`FORMAT` (examples in ``tasks/rppg/examples/``). The reference (organizer) file
uses the ``.npz`` format with the ground-truth waveforms.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import HarnessError
from ...family import PredictionFormat
from ...files import atomic_path
from ...upload import MAX_BYTES, Problems, Upload, check_ids, number_in, read_csv, read_npz
from . import signal

FORMAT = PredictionFormat(
    suffixes=(".npz", ".csv"),
    summary="BVP waveforms (.npz: one float array per test video id, one value per frame, plus __fs__, the "
            "sampling rate) or heart rates (.csv: header id,hr_bpm, one row per test video, or per window "
            "'<id>#<k>' on windowed tasks, HR in [20, 300] bpm).",
    details="""\
.npz: BVP waveforms: one 1-D float array per test video id (at the video's frame rate, one value
    per frame), plus __fs__: the sampling rate, a scalar for all ids or an array aligned with
    __ids__ (a string array of the ids in that order). Loaded with allow_pickle=False. At the
    video's rate, a waveform shorter than the video covers its first frames (a model that drops a
    chunk tail): only those are scored, the rest are counted as uncovered; it must cover at least
    half the video. A waveform at another rate is linearly resampled to the video's frame count.
.csv: heart rates: header id,hr_bpm, one row per test video; for a task whose recipe is windowed,
    one row per window with id <video id>#<k> (k = 0, 1, ... in time order). HR must be a finite
    number in [20, 300] bpm.""")

HR_RANGE = (20.0, 300.0)
CSV_HEADER = ("id", "hr_bpm")
WINDOW_SEP = "#"
RESERVED = ("__fs__", "__ids__")
MIN_COVERED = 0.5  # share of a video's frames a waveform at its rate must cover


# ----------------------------------------------------------------------------- writing
def write_npz(path: Path, waves: dict[str, np.ndarray], fs: dict[str, float]) -> None:
    """Waveforms keyed by id, float64, with their rates (scalar ``__fs__`` when all agree)."""
    ids = list(waves)
    rates = np.asarray([float(fs[i]) for i in ids])
    arrays = {i: np.asarray(waves[i], dtype=np.float64) for i in ids}
    if len(set(rates.tolist())) <= 1:
        arrays["__fs__"] = np.asarray(rates[0] if len(rates) else 30.0)
    else:
        arrays["__fs__"] = rates
        arrays["__ids__"] = np.asarray(ids, dtype=str)
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def window_ids(sample_id: str, n_windows: int) -> list[str]:
    return [f"{sample_id}{WINDOW_SEP}{k}" for k in range(n_windows)]


def write_csv(path: Path, hr: dict[str, np.ndarray]) -> None:
    """``id,hr_bpm`` rows; a sample with several values gets one ``id#k`` row per window."""
    lines = [",".join(CSV_HEADER)]
    for sid, values in hr.items():
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        ids = [sid] if values.size == 1 else window_ids(sid, values.size)
        lines += [f"{i},{v!r}" for i, v in zip(ids, values.tolist())]
    with atomic_path(Path(path)) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_predictions(path: Path, outputs: dict[str, dict], references: dict[str, dict]) -> None:
    """A run's outputs in the task's prediction format: NPZ for waveforms, CSV for heart rates."""
    path = Path(path)
    if all("bvp" in o for o in outputs.values()):
        if path.suffix.lower() != ".npz":
            raise HarnessError("this model outputs waveforms: write the submission as .npz", path)
        write_npz(path, {i: o["bvp"] for i, o in outputs.items()}, {i: float(references[i]["fs"]) for i in outputs})
    else:
        if path.suffix.lower() != ".csv":
            raise HarnessError("this model outputs heart rates: write the submission as .csv", path)
        write_csv(path, {i: o["hr"] for i, o in outputs.items()})


# ----------------------------------------------------------------------------- reading
def _load_npz(data: bytes, name: str) -> dict[str, np.ndarray]:
    """All arrays of an NPZ (:func:`harness.upload.read_npz`: no pickles, no decompression beyond
    the size limit, no header trusted)."""
    return read_npz(data, name, MAX_BYTES)


def _rates(arrays: dict[str, np.ndarray], ids: list[str], problems: Problems) -> dict[str, float] | None:
    fs = arrays.get("__fs__")
    if fs is None:
        problems.add("the .npz has no '__fs__' array (the sampling rate of the waveforms)")
        return None
    fs = np.asarray(fs)
    if fs.dtype.kind not in "fiu":
        problems.add("'__fs__' must be numeric")
        return None
    if fs.ndim == 0:
        rates = {i: float(fs) for i in ids}
    else:
        order = arrays.get("__ids__")
        if order is None or order.ndim != 1 or len(order) != fs.size:
            problems.add("'__fs__' with one rate per id needs '__ids__' listing the ids in the same order")
            return None
        rates = {str(i): float(r) for i, r in zip(order.tolist(), fs.ravel().tolist())}
        missing = [i for i in ids if i not in rates]
        problems.add_ids("id(s) without a rate in '__ids__'", missing)
    bad = [i for i, r in rates.items() if not (np.isfinite(r) and r > 0)]
    problems.add_ids("id(s) whose rate is not a positive number", bad)
    return None if bad else rates


def read_waves(upload: Upload, references: dict[str, dict], problems: Problems, task_name: str) -> dict[str, dict]:
    """Validated waveforms at each reference's frame count, or problems."""
    arrays = _load_npz(upload.data, upload.name)
    ids = [k for k in arrays if k not in RESERVED]
    check_ids(ids, list(references), problems, task_name)
    rates = _rates(arrays, ids, problems)
    bad_shape, not_finite, too_short = [], [], []
    outputs = {}
    for sid in ids:
        wave = arrays[sid]
        if wave.ndim != 1 or wave.dtype.kind not in "fiu":
            bad_shape.append(sid)
        elif not np.isfinite(wave).all():
            not_finite.append(sid)
        elif sid in references and rates and sid in rates:
            ref = references[sid]
            n_ref, fs_ref = len(ref["bvp"]), float(ref["fs"])
            if rates[sid] == fs_ref and len(wave) <= n_ref:
                # the video's first len(wave) frames (a chunked model's dropped tail is not scored)
                if len(wave) >= max(signal.MIN_WINDOW_FRAMES, MIN_COVERED * n_ref):
                    outputs[sid] = {"bvp": wave.astype(np.float64)}
                else:
                    too_short.append(sid)
            elif abs(len(wave) / rates[sid] - n_ref / fs_ref) > 0.1 * n_ref / fs_ref or len(wave) < 2:
                too_short.append(sid)
            else:  # another rate: linear interpolation onto the video's frames
                t_src = np.arange(len(wave)) / rates[sid]
                t_dst = np.arange(n_ref) / fs_ref
                outputs[sid] = {"bvp": np.interp(t_dst, t_src, wave.astype(np.float64))}
    problems.add_ids("id(s) whose waveform is not a 1-D numeric array", bad_shape)
    problems.add_ids("id(s) whose waveform has NaN or infinite values", not_finite)
    problems.add_ids("id(s) whose waveform does not cover the video (under half its frames, or duration off by more than 10%)", too_short)
    return outputs


def expected_csv_ids(task, references: dict[str, dict]) -> dict[str, tuple[str, int]]:
    """CSV id → (sample id, window index) the task expects."""
    recipe = signal.Recipe.from_dict(task.recipe)
    out = {}
    for sid, ref in references.items():
        n = len(signal.window_bounds(len(ref["bvp"]), float(ref["fs"]), recipe))
        ids = [sid] if recipe.window == "whole" else window_ids(sid, n)
        out.update({cid: (sid, k) for k, cid in enumerate(ids)})
    return out


def read_rates(task, upload: Upload, references: dict[str, dict], problems: Problems) -> dict[str, dict]:
    """Validated ``id,hr_bpm`` rows gathered into per-sample HR arrays (one value per window)."""
    expected = expected_csv_ids(task, references)
    rows, seen = read_csv(upload, CSV_HEADER, {"hr_bpm": number_in(*HR_RANGE, "bpm")}, problems)
    check_ids(seen, list(expected), problems, task.name)
    per_sample: dict[str, dict[int, float]] = {}
    for cid, values in rows.items():
        if cid in expected:
            sid, k = expected[cid]
            per_sample.setdefault(sid, {})[k] = values["hr_bpm"]
    return {sid: {"hr": np.asarray([v[k] for k in sorted(v)])} for sid, v in per_sample.items()}


def read_predictions(task, upload: Upload, references: dict[str, dict], problems: Problems) -> dict[str, dict]:
    suffix = Path(upload.name).suffix.lower()
    if suffix == ".npz":
        return read_waves(upload, references, problems, task.name)
    if suffix == ".csv":
        return read_rates(task, upload, references, problems)
    raise HarnessError("unknown prediction format: use .npz (waveforms) or .csv (id,hr_bpm), or a .zip holding one", upload.name)


def read_reference(path: Path) -> dict[str, dict]:
    """The organizer's reference file (ground-truth waveforms, .npz format); malformed → error naming it."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError("reference file not found", path)
    problems = Problems()
    try:
        arrays = _load_npz(path.read_bytes(), str(path))
    except HarnessError as exc:
        raise HarnessError(f"malformed reference file: {exc.message}", path) from exc
    ids = [k for k in arrays if k not in RESERVED]
    rates = _rates(arrays, ids, problems)
    bad = [i for i in ids if arrays[i].ndim != 1 or arrays[i].dtype.kind not in "fiu" or not np.isfinite(arrays[i]).all()]
    problems.add_ids("id(s) with a waveform that is not finite 1-D numbers", bad)
    if problems or not ids or rates is None:
        detail = "; ".join(problems.messages) or "no waveforms"
        raise HarnessError(f"malformed reference file: {detail}", path)
    return {i: {"bvp": arrays[i].astype(np.float64), "fs": rates[i]} for i in ids}
