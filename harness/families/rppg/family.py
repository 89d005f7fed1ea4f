"""The rPPG family: remote heart-rate estimation from face video.

What an adapter receives (``inputs`` it declares):
    ``rgb``     (B, T, 3) float32 spatial-mean R, G, B of the face ROI per frame (0–255), one unit
                per video; padding beyond ``lengths`` repeats the last frame.
    ``frames``  (B, T, S, S, 3) uint8 face crops resized to ``frame_size`` (default 72), in parts of
                ``chunk_frames`` frames (default 180, the toolbox's chunk) so long videos stream.
    Always: ``lengths`` (B,) valid frames, ``fs`` (B,) frame rate, ``ids`` list of sample ids.
What it returns (``output``): ``bvp`` (B, T) waveform at the video frame rate, or ``hr`` (B,) bpm.
A bare tensor is taken as that output.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import pandas as pd
import torch

from ...errors import HarnessError
from ...family import cache_root, DataSource, Family, Score, StreamDataset, TestSet, Unit, fingerprint_files
from ...registry import natural_key
from . import data as rdata
from . import decode, face, metrics, predictions, signal, synth
from .types import VideoRecord

SPLITS = ("all", "half-a", "half-b")
INPUT_KINDS = ("rgb", "frames")
OUTPUT_KINDS = ("bvp", "hr")
SAMPLE_SEED = 0



def subject_halves(records: Sequence[VideoRecord]) -> dict[str, str]:
    """subject → "half-a" / "half-b": subjects in natural order, alternating (1st → A, 2nd → B, …).

    Deterministic, by subject (no subject in both halves), and balanced over recruitment order.
    """
    subjects = sorted({r.subject for r in records}, key=natural_key)
    return {s: ("half-a" if i % 2 == 0 else "half-b") for i, s in enumerate(subjects)}


def select_split(records: list[VideoRecord], split: str) -> list[VideoRecord]:
    if split == "all":
        return records
    halves = subject_halves(records)
    return [r for r in records if halves[r.subject] == split]


@dataclasses.dataclass(frozen=True)
class InputSpec:
    kind: str = "rgb"
    frame_size: int = 72
    chunk_frames: int = 180
    decoder: str = decode.OPENCV  # for video files; see decode.py

    @classmethod
    def of(cls, model: Any) -> "InputSpec":
        inputs = tuple(getattr(model, "inputs", ()) or ("rgb",))
        kinds = [k for k in inputs if k in INPUT_KINDS]
        if len(kinds) != 1:
            raise HarnessError(f"an rPPG model declares exactly one of inputs {INPUT_KINDS}, got {inputs}")
        return cls(kinds[0], int(getattr(model, "frame_size", 72)), int(getattr(model, "chunk_frames", 180)))


def stream_video(record: VideoRecord, spec: InputSpec) -> Iterator[tuple[Unit, dict]]:
    """Decode one video once, frame by frame: yield its units (one for ``rgb``, chunks for
    ``frames``), the last carrying the ground truth resampled to the decoded frame count.

    Per frame only the face crop is touched: its channel sums (``cv2.sumElems``, exact on uint8,
    so the means equal numpy's), and for ``frames`` its resize. Frames come in the decoder's own
    BGR order where the reader offers it; only the first frame (face detection) and the small
    resized crops are converted to RGB."""
    if spec.decoder == decode.GPU and spec.kind == "rgb" and record.path.suffix.lower() in decode.VIDEO_SUFFIXES:
        on_gpu = decode.gpu_crop_sums(record.path, face.face_box)
        if on_gpu is not None:
            sums, area, found = on_gpu
            yield _last_unit(record, len(sums), found, decode.GPU), {"rgb": _means(sums, area, [0, 1, 2]), "fs": record.fs}
            return
    sid = record.sample_id
    bgr = record.bgr_frames is not None
    box, found = None, True
    n = 0
    sums: list[tuple[float, ...]] = []  # per frame, rgb input only
    chunk: list[np.ndarray] = []
    part = 0
    pending = None  # a full chunk is sent once the next frame shows it is not the last one
    try:
        for frame in (record.bgr_frames() if bgr else record.frames()):
            if box is None:
                box, found = face.face_box(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if bgr else frame)
                shape = frame.shape
                area = int(np.prod(face.crop(frame, box).shape[:2]))
            elif frame.shape != shape:
                raise HarnessError(f"frame {n + 1} is {frame.shape}, the first frame {shape}: "
                                   f"a video's frames must share one size", record.path)
            n += 1
            roi = face.crop(frame, box)
            if spec.kind == "rgb":
                sums.append(cv2.sumElems(roi))
            else:
                if pending is not None:
                    yield Unit(sid, part, last=False), {"frames": pending, "fs": record.fs}
                    part, pending = part + 1, None
                small = cv2.resize(roi, (spec.frame_size, spec.frame_size), interpolation=cv2.INTER_AREA)
                chunk.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB) if bgr else small)
                if len(chunk) == spec.chunk_frames:
                    pending, chunk = np.stack(chunk), []
    except HarnessError:
        raise
    except (cv2.error, OSError, ValueError) as exc:
        raise HarnessError(f"cannot decode video: {exc}", record.path) from exc
    unit = _last_unit(record, n, found, decode.OPENCV, part)
    if spec.kind == "rgb":
        yield unit, {"rgb": _means(sums, area, [2, 1, 0] if bgr else [0, 1, 2]), "fs": record.fs}
    else:
        yield unit, {"frames": pending if pending is not None else np.stack(chunk), "fs": record.fs}


def _last_unit(record: VideoRecord, n: int, found: bool, decoder: str, part: int = 0) -> Unit:
    """A video's last unit: the ground truth matched to its ``n`` decoded frames, and its meta."""
    if n < signal.MIN_WINDOW_FRAMES:
        raise HarnessError(f"video has {n} frame(s); at least {signal.MIN_WINDOW_FRAMES} are needed", record.path)
    meta = {"n_frames": n, "face_found": found, "dataset": record.dataset, "subject": record.subject, "decoder": decoder}
    return Unit(record.sample_id, part, last=True, reference=reference(record, n), meta=meta)


def _means(sums, area: int, channels: list[int]) -> np.ndarray:
    """(T, 3) float32 R, G, B crop means from per-frame channel sums over ``area`` pixels
    (``channels`` picks R, G, B out of the sums' order)."""
    return (np.asarray(sums, dtype=np.float64)[:, channels] / area).astype(np.float32)


def reference(record: VideoRecord, n_frames: int) -> dict:
    """The ground truth a video is scored against: its waveform resampled to the decoded frame
    count (as rPPG-Toolbox does), and the frame rate."""
    wave, gt_fs = record.ground_truth()
    bvp = rdata.resample_to_frames(wave, n_frames, gt_fs, record.fs, record.gt_path or record.path)
    return {"bvp": bvp.astype(np.float64), "fs": float(record.fs)}


def count_frames(record: VideoRecord) -> int:
    try:
        return sum(1 for _ in record.frames())
    except HarnessError:
        raise
    except (cv2.error, OSError, ValueError) as exc:
        raise HarnessError(f"cannot decode video: {exc}", record.path) from exc


def _pad_stack(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack along a new batch axis, padding the time axis by repeating the last item."""
    lengths = [len(a) for a in arrays]
    longest = max(lengths)
    out = []
    for a in arrays:
        pad = np.repeat(a[-1:], longest - len(a), axis=0)
        out.append(np.concatenate([a, pad]) if len(pad) else a)
    return torch.from_numpy(np.stack(out)), torch.tensor(lengths, dtype=torch.long)


def collate(items: list[tuple[Unit, dict]]) -> tuple[list[Unit], dict]:
    units = [u for u, _ in items]
    key = "rgb" if "rgb" in items[0][1] else "frames"
    values, lengths = _pad_stack([inp[key] for _, inp in items])
    return units, {key: values, "lengths": lengths,
                   "fs": torch.tensor([inp["fs"] for _, inp in items], dtype=torch.float64),
                   "ids": [u.sample_id for u in units]}


class TrainSet:
    """What ``fit()`` receives: re-iterable, one dict per training video (streamed, never all in
    memory): ``sample_id``, ``dataset``, ``subject``, ``fs``, the adapter's input (``rgb`` (T, 3)
    or ``frames`` (T, S, S, 3)) and ``bvp`` (T,) ground truth at the frame rate."""

    def __init__(self, records: list[VideoRecord], spec: InputSpec):
        self.records, self.spec = records, spec

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict]:
        for rec in self.records:
            units = list(stream_video(rec, self.spec))
            parts = [inp[self.spec.kind] for _, inp in units]
            last = units[-1][0]
            yield {"sample_id": rec.sample_id, "dataset": rec.dataset, "subject": rec.subject,
                   "fs": rec.fs, self.spec.kind: np.concatenate(parts), "bvp": last.reference["bvp"]}


class RppgFamily(Family):
    name = "rppg"
    reference_suffix = ".npz"
    metric_specs = metrics.METRICS

    # ------------------------------------------------------------------ task checks
    def check_task(self, task) -> None:
        try:
            signal.Recipe.from_dict(task.recipe)
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"recipe: {exc}", task.path) from exc
        for role, refs in task.datasets.items():
            for ref in refs:
                if ref.name not in rdata.DATASETS:
                    raise HarnessError(f"datasets.{role}: unknown rPPG dataset {ref.name!r}; known: {sorted(rdata.DATASETS)}", task.path)
                if ref.split not in SPLITS:
                    raise HarnessError(f"datasets.{role}: unknown split {ref.split!r} (one of {SPLITS})", task.path)
        self.check_metrics(task)

    def recipe_record(self, task) -> dict[str, Any]:
        return signal.Recipe.from_dict(task.recipe).to_dict()

    # ------------------------------------------------------------------ data
    def synthesize(self, out: Path, seed: int = 0) -> Path:
        return synth.synthesize(Path(out), None, seed=seed)

    def sample_root(self) -> Path:
        """The embedded sample, generated on first use (deterministic) and cached."""
        root = cache_root() / f"rppg-sample-v{synth.GENERATOR_VERSION}-seed{SAMPLE_SEED}"
        missing = [d for d in synth.DOMAINS if not (root / d).is_dir()]
        if missing:
            synth.synthesize(root, missing, seed=SAMPLE_SEED)
        return root

    def _records(self, source_kind: str, root: Path, name: str) -> list[VideoRecord]:
        if source_kind == "sample":  # every sample domain is written in the UBFC-rPPG layout
            return [dataclasses.replace(r, dataset=name) for r in rdata.scan("ubfc-rppg", root / name)]
        return rdata.scan(name, root / name)

    def resolve_data(self, task, data_root: Path | None, need_train: bool) -> DataSource:
        root_text = str(data_root) if data_root else os.environ.get("HARNESS_DATA", "")
        roles = {r: [d.name for d in refs] for r, refs in task.datasets.items()}
        if root_text in ("", "sample"):
            root = self.sample_root()
            why = "no data root given (--data-root DIR or HARNESS_DATA)" if not root_text else "--data-root sample"
            notes = [f"using the embedded synthetic sample in {root} ({why}); results are labelled 'sample'"]
            kind = "sample"
        else:
            root = Path(root_text)
            if not root.is_dir():
                raise HarnessError("data root does not exist (use --data-root sample for the embedded sample)", root)
            notes, kind = [], "real"
            for name in roles["test"]:
                if not (root / name).is_dir():
                    raise HarnessError(f"test dataset folder is missing; expected layout: {rdata.LAYOUTS[name]}", root / name)
            missing_train = [n for n in roles.get("train", []) if not (root / n).is_dir()]
            if missing_train and need_train:
                raise HarnessError(f"training dataset folder is missing; expected layout: {rdata.LAYOUTS[missing_train[0]]}",
                                   root / missing_train[0])
            if missing_train:
                notes.append(f"training datasets absent ({', '.join(missing_train)}): not needed, the model has no fit()")
                roles["train"] = [n for n in roles["train"] if n not in missing_train]
            kind = _synthetic_or_real(root, roles["test"] + (roles.get("train", []) if need_train else []))
            if kind == "sample":
                notes.append(f"{root} holds the harness's synthetic sample (synth.json): results are labelled 'sample'")
        used = {"test": roles["test"], "train": roles.get("train", []) if need_train else []}
        per_role, all_frames, all_heads, scanned = {}, [], [], {}
        for role, names in used.items():
            frames, heads = [], []
            for name in dict.fromkeys(names):
                if name not in scanned:
                    scanned[name] = self._records(kind, root, name)
                for rec in scanned[name]:
                    for p in (rec.path, rec.gt_path):
                        if p is not None and p.is_dir():
                            frames.extend(f for f in p.iterdir() if f.is_file())
                        elif p is not None and p.is_file():
                            heads.append(p)
            if names:
                per_role[role] = fingerprint_files(root, frames, heads)
            all_frames += frames
            all_heads += heads
        return DataSource(kind, root, fingerprint_files(root, all_frames, all_heads), roles, notes, per_role, scanned)

    def _role_records(self, task, source: DataSource, role: str) -> list[VideoRecord]:
        out = []
        for ref in task.datasets.get(role, []):
            if ref.name in source.datasets.get(role, []):
                recs = source.scanned.get(ref.name) or self._records(source.kind, source.root, ref.name)
                recs = sorted(recs, key=lambda r: natural_key(r.key))
                out.extend(select_split(recs, ref.split))
        return out

    def train_data(self, task, source: DataSource, model) -> TrainSet:
        return TrainSet(self._role_records(task, source, "train"), InputSpec.of(model))

    def test_set(self, task, source: DataSource, model, limit: int | None) -> TestSet:
        records = self._role_records(task, source, "test")
        if limit is not None:
            records = records[: max(int(limit), 0)]
        spec = InputSpec.of(model)
        if spec.kind == "rgb" and any(r.path.suffix.lower() in decode.VIDEO_SUFFIXES for r in records):
            spec = dataclasses.replace(spec, decoder=decode.choose())
        by_id = {r.sample_id: r for r in records}
        if len(by_id) != len(records):
            raise HarnessError("duplicate sample ids in the test set (a dataset listed twice?)", task.path)
        on_gpu = spec.decoder == decode.GPU
        return TestSet(list(by_id), self,
                       make_dataset=lambda ids: StreamDataset([by_id[i] for i in ids], lambda r: stream_video(r, spec)),
                       collate=collate, key=f"decoder={decode.GPU}" if on_gpu else "",
                       notes=[f"video decoder: torchcodec on CUDA, in the main process (OpenCV for files it refuses; "
                              f"${decode.DECODER_ENV}=opencv decodes on the CPU)"] if on_gpu else [],
                       max_workers=0 if on_gpu else None)

    # ------------------------------------------------------------------ outputs
    def split_outputs(self, outputs: Any, units: Sequence[Unit], inputs: dict) -> list[dict]:
        if isinstance(outputs, dict):
            keys = [k for k in OUTPUT_KINDS if k in outputs]
            if len(keys) != 1:
                raise HarnessError(f"model output must hold exactly one of {OUTPUT_KINDS}, got keys {sorted(outputs)}")
            kind, value = keys[0], outputs[keys[0]]
        else:
            value = outputs
            kind = "bvp" if getattr(value, "ndim", 0) == 2 else "hr"
        value = torch.as_tensor(value).detach().float().cpu()
        lengths = inputs["lengths"]
        batch = len(units)
        expected = (batch, int(inputs[("rgb" if "rgb" in inputs else "frames")].shape[1])) if kind == "bvp" else (batch,)
        if tuple(value.shape) != expected:
            raise HarnessError(f"model returned {kind} of shape {tuple(value.shape)} for a batch of "
                               f"{batch}; expected {expected} (sample {units[0].sample_id})")
        out = []
        for i, unit in enumerate(units):
            v = value[i, : int(lengths[i])] if kind == "bvp" else value[i]
            if not torch.isfinite(v).all():
                raise HarnessError(f"model returned NaN or infinite {kind} for sample {unit.sample_id}")
            out.append({kind: v.numpy().astype(np.float64)})
        return out

    def merge_parts(self, parts: list[dict]) -> dict:
        if "bvp" in parts[0]:
            return {"bvp": np.concatenate([p["bvp"] for p in parts])}
        return {"hr": np.asarray(np.mean([float(p["hr"]) for p in parts]))}

    # ------------------------------------------------------------------ prediction files
    def prediction_suffix(self, outputs: dict[str, dict]) -> str:
        return ".npz" if all("bvp" in o for o in outputs.values()) else ".csv"

    def write_predictions(self, path: Path, outputs: dict[str, dict], references: dict[str, dict]) -> None:
        predictions.write_predictions(path, outputs, references)

    def read_predictions(self, task, upload, references: dict[str, dict], problems) -> dict[str, dict]:
        return predictions.read_predictions(task, upload, references, problems)

    def read_reference(self, task, path: Path) -> tuple[dict[str, dict], dict]:
        refs = predictions.read_reference(path)
        return refs, {"kind": "file", "path": str(path), "samples": len(refs)}

    def write_reference(self, path: Path, references: dict[str, dict]) -> None:
        predictions.write_npz(path, {i: r["bvp"] for i, r in references.items()}, {i: r["fs"] for i, r in references.items()})

    def references(self, task, data_root: Path | None) -> tuple[dict[str, dict], dict]:
        """Ground truth of the test set, read from the datasets (frames are counted, not kept)."""
        source = self.resolve_data(task, data_root, need_train=False)
        refs = {r.sample_id: reference(r, count_frames(r)) for r in self._role_records(task, source, "test")}
        return refs, {"kind": source.kind, "root": str(source.root), "fingerprint": source.fingerprint,
                      "samples": len(refs)}

    # ------------------------------------------------------------------ scoring
    def score(self, task, outputs: dict[str, dict], references: dict[str, dict], *, n_boot: int, seed: int) -> Score:
        recipe = signal.Recipe.from_dict(task.recipe)
        rows = []
        fallback = 0
        for sid, out in outputs.items():
            ref = references[sid]
            fs = float(ref["fs"])
            meta = ref.get("meta", {})
            fallback += not meta.get("face_found", True)
            base = {"sample_id": sid, "dataset": meta.get("dataset", sid.split("/")[0])}
            if "bvp" in out:
                try:
                    windows = signal.evaluate_video(out["bvp"], ref["bvp"], fs, recipe)
                except ValueError as exc:
                    raise HarnessError(f"sample {sid}: {exc}") from exc
            else:
                windows = _hr_windows(sid, np.atleast_1d(out["hr"]), ref["bvp"], fs, recipe)
            rows.extend({**base, **w} for w in windows)
        table = pd.DataFrame(rows, columns=["sample_id", "dataset", "start", "end", "hr_pred", "hr_gt", "snr_db", "macc"])
        values = metrics.summarize(table, [m.name for m in task.metrics], n_boot=n_boot, seed=seed)
        notes = []
        if fallback:
            notes.append(f"no face found in {fallback} video(s): centre-crop fallback used")
        counts = {"videos": len(outputs), "windows": len(table), "face_fallback": fallback}
        return Score(values, table, notes, counts)


def _synthetic_or_real(root: Path, names: list[str]) -> str:
    """'sample' when every dataset folder used is a copy of the synthetic sample (it carries the
    generator's ``synth.json``), 'real' when none is; a mix is refused."""
    synthetic = {n: (root / n / synth.MARKER).is_file() for n in dict.fromkeys(names)}
    if all(synthetic.values()):
        return "sample"
    if any(synthetic.values()):
        fake = [n for n, s in synthetic.items() if s]
        raise HarnessError(f"mixes the synthetic sample ({', '.join(fake)} hold {synth.MARKER}) with real "
                           f"datasets; results would be neither sample nor real", root)
    return "real"


def _hr_windows(sid: str, hr: np.ndarray, gt: np.ndarray, fs: float, recipe: signal.Recipe) -> list[dict]:
    """Rows for heart-rate outputs: one predicted HR per recipe window (no waveform: SNR and MACC
    undefined). Ground-truth HRs of equal-length windows are computed as one batch."""
    bounds = signal.window_bounds(len(gt), fs, recipe)
    if len(hr) != len(bounds):
        raise HarnessError(f"sample {sid}: {len(hr)} heart rate(s) given, the task's recipe evaluates "
                           f"{len(bounds)} window(s)")
    gt_hr = np.empty(len(bounds))
    by_length: dict[int, list[int]] = {}
    for k, (s, e) in enumerate(bounds):
        by_length.setdefault(e - s, []).append(k)
    for ks in by_length.values():
        gt_hr[ks] = signal.hr_from_bvp(np.stack([gt[bounds[k][0]:bounds[k][1]] for k in ks]), fs, recipe)
    return [{"start": s, "end": e, "hr_pred": float(h), "hr_gt": float(g), "snr_db": np.nan, "macc": np.nan}
            for (s, e), h, g in zip(bounds, hr, gt_hr)]
