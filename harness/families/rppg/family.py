"""The rPPG family: remote heart-rate estimation from face video.

What an adapter receives (``inputs`` it declares; every knob is a class attribute, see README
"Writing your model"):
    ``rgb``     (B, T, 3) float32 spatial-mean R, G, B of the face ROI per frame (0–255); one unit
                per video unless ``chunk_frames`` is set.
    ``frames``  (B, T, S, S, C) face crops resized to ``frame_size`` S (default 72), RGB order,
                channels last; uint8 for ``frame_types = ("raw",)`` (the default), else float32
                with 3 channels per type side by side (e.g. ``("diff_normalized",
                "standardized")`` → C = 6), computed over the whole video before chunking. Cut
                in windows of ``chunk_frames`` (default 180) every ``chunk_stride`` frames, with
                ``chunk_tail`` "pad" (default), "drop" or "end" (see :mod:`.chunks`).
    Always: ``lengths`` (B,) valid frames (a padded window repeats its last frame), ``starts``
    (B,) first frame of each window, ``fs`` (B,) frame rate, ``ids`` list of sample ids.
The face ROI follows ``crop`` (the model's, else the task's ``inputs.crop``, else "harness"):
see :mod:`.face`.
What it returns (``output``): ``bvp`` (B, T) waveform at the video frame rate, ``bvp_diff``
(B, T) its first difference (integrated by ``cumsum`` over the stitched video, as the toolbox
does for DiffNormalized labels), or ``hr`` (B,) bpm (a video's HR is the mean over its windows).
A bare tensor is taken as the declared ``output``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
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
from . import chunks, decode, face, metrics, predictions, signal, synth
from .video import VideoRecord

SPLITS = ("all", "half-a", "half-b")
INPUT_KINDS = ("rgb", "frames")
OUTPUT_KINDS = ("bvp", "bvp_diff", "hr")
SAMPLE_SEED = 0
#: resized crops a ``frames`` video collects before one write to its spool (72²: 1 MB)
SPOOL_BLOCK = 64



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
    """What a model is fed and how its outputs go back to frames (recorded with every run)."""

    kind: str = "rgb"
    frame_size: int = 72
    chunking: chunks.Chunking = chunks.Chunking()  # InputSpec.of: 180-frame windows for frames models
    frame_types: tuple[str, ...] = ("raw",)
    crop: face.CropRecipe = face.CropRecipe()
    output: str = "bvp"
    decoder: str = decode.OPENCV  # for video files; see decode.py

    @classmethod
    def of(cls, model: Any, task: Any = None) -> "InputSpec":
        """The spec a model declares (class attributes), with the task's ``inputs.crop`` as the
        crop default; a bad value is refused naming the attribute."""
        inputs = tuple(getattr(model, "inputs", ()) or ("rgb",))
        kinds = [k for k in inputs if k in INPUT_KINDS]
        if len(kinds) != 1:
            raise HarnessError(f"an rPPG model declares exactly one of inputs {INPUT_KINDS}, got {inputs}")
        kind = kinds[0]
        task_crop = ((getattr(task, "config", None) or {}).get("inputs") or {}).get("crop")
        attr = "chunk_frames"
        try:
            length = getattr(model, "chunk_frames", 180 if kind == "frames" else None)
            attr = "chunk_stride/chunk_tail"
            chunking = chunks.Chunking(length, getattr(model, "chunk_stride", None), getattr(model, "chunk_tail", "pad"))
            attr = "frame_types"
            types = chunks.frame_types_of(getattr(model, "frame_types", ("raw",)))
            attr = "crop"
            crop = face.CropRecipe.of(getattr(model, "crop", None) or task_crop)
            attr = "frame_size"
            size = int(getattr(model, "frame_size", 72))
            if size < 1:
                raise ValueError(f"frame_size must be >= 1, got {size}")
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"rPPG model attribute {attr}: {exc}") from exc
        output = str(getattr(model, "output", "") or "bvp")
        if output not in OUTPUT_KINDS:
            raise HarnessError(f"rPPG model output must be one of {OUTPUT_KINDS}, got {output!r}")
        return cls(kind, size, chunking, types, crop, output)

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "chunking": self.chunking.to_dict(), "crop": self.crop.to_dict(), "output": self.output}
        if self.kind == "frames":
            d.update(frame_size=self.frame_size, frame_types=list(self.frame_types))
        return d


#: two frame rates within this fraction of each other are one (NTSC's 29.97 is 30)
FS_TOLERANCE = 0.01


def frame_rate_notes(model: Any, records: Sequence[VideoRecord]) -> list[str]:
    """A note when test videos run at another frame rate than the one a model declares (``fs``,
    e.g. a toolbox config's ``TEST.DATA.FS``): the network sees those videos' frames at their own
    rate (a pulse at another number of beats per frame than its config says), and heart rates are
    computed at each video's own rate, where rPPG-Toolbox would take the configured one."""
    declared = getattr(model, "fs", None)
    if declared is None:
        return []
    if isinstance(declared, bool) or not isinstance(declared, (int, float)) or not 0 < float(declared) < float("inf"):
        raise HarnessError(f"rPPG model attribute fs: the frame rate the model expects, a positive number of "
                           f"frames per second; got {declared!r}")
    declared = float(declared)
    other: dict[float, int] = {}
    for r in records:
        if abs(float(r.fs) - declared) > FS_TOLERANCE * declared:
            other[round(float(r.fs), 3)] = other.get(round(float(r.fs), 3), 0) + 1
    if not other:
        return []
    rates = ", ".join(f"{n} at {fs:g} fps" for fs, n in sorted(other.items()))
    return [f"frame rate: the model declares {declared:g} fps but {sum(other.values())} of {len(records)} test "
            f"video(s) run at another rate ({rates}); the network saw their frames at their own rate and heart "
            f"rates are computed at each video's own rate (rPPG-Toolbox would compute them at {declared:g} fps)"]


def decode_video(record: VideoRecord, spec: InputSpec, spool: Any = None) -> tuple[np.ndarray | None, np.ndarray | None, bool, str]:
    """Decode one video once, frame by frame: (per-frame ROI means (T, 3) float32 for ``rgb``
    models else None, face crops resized to ``frame_size`` as a read-only memmap over ``spool`` (a
    binary temp file) for ``frames`` models else None, whether every face detection found a face,
    the decoder that ran). Exactly one of the first two is None: ``spool`` decides.

    Per frame only the face crop is touched: for ``rgb`` its channel sums (``cv2.sumElems``, exact
    on uint8, so the means equal numpy's); for ``frames`` its INTER_AREA resize, written straight
    into a block of :data:`SPOOL_BLOCK` crops that goes to the spool in one write, its channels
    put in RGB order once per block; with a spare core the next frames decode meanwhile in a
    helper thread (:func:`.decode.read_ahead`). Frames come in the decoder's own BGR order where
    the reader offers it; only the frames a face detection looks at are converted to RGB. CUDA
    runs of ``rgb`` models with the harness crop decode on the GPU (torchcodec, :mod:`.decode`)
    where it can."""
    if (spec.decoder == decode.GPU and spec.kind == "rgb" and spec.crop.name == "harness"
            and record.path.suffix.lower() in decode.VIDEO_SUFFIXES):
        on_gpu = decode.gpu_crop_sums(record.path, face.face_box)
        if on_gpu is not None:
            sums, area, found = on_gpu
            _enough_frames(record, len(sums))
            return (np.asarray(sums, dtype=np.float64)[:, :3] / area).astype(np.float32), None, found, decode.GPU
    bgr = record.bgr_frames is not None
    cropper = face.Cropper.for_video(spec.crop, record.frames, bgr=bgr)
    sums: list[tuple[float, ...]] = []
    areas: list[int] = []
    size = spec.frame_size
    block = None if spool is None else np.empty((SPOOL_BLOCK, size, size, 3), np.uint8)
    shape, n = None, 0
    frames = record.bgr_frames() if bgr else record.frames()
    if block is not None and decode.read_ahead_pays():
        frames = decode.read_ahead(frames)
    try:
        for n, frame in enumerate(frames, start=1):
            if shape is None:
                shape = frame.shape
                if block is not None and (frame.dtype != np.uint8 or frame.ndim != 3 or shape[2] != 3):
                    raise HarnessError(f"frames are {frame.dtype} {shape}; a frames model needs (H, W, 3) uint8", record.path)
            elif frame.shape != shape:
                raise HarnessError(f"frame {n} is {frame.shape}, the first frame {shape}: "
                                   f"a video's frames must share one size", record.path)
            roi = cropper(n - 1, frame)
            if block is None:
                sums.append(cv2.sumElems(roi))
                areas.append(roi.shape[0] * roi.shape[1])
                continue
            cv2.resize(roi, (size, size), dst=block[(n - 1) % SPOOL_BLOCK], interpolation=cv2.INTER_AREA)
            if n % SPOOL_BLOCK == 0:
                _spill(spool, block, bgr)
    except HarnessError:
        raise
    except (cv2.error, OSError, ValueError) as exc:
        raise HarnessError(f"cannot decode video: {exc}", record.path) from exc
    finally:
        decode.close_frames(frames)
    _enough_frames(record, n)
    if block is None:
        channels = [2, 1, 0] if bgr else [0, 1, 2]
        means = (np.asarray(sums, dtype=np.float64)[:, channels] / np.asarray(areas, dtype=np.float64)[:, None]).astype(np.float32)
        return means, None, cropper.found, decode.OPENCV
    _spill(spool, block[:n % SPOOL_BLOCK], bgr)
    spool.flush()
    crops = np.memmap(spool, dtype=np.uint8, mode="r", shape=(n, size, size, 3))
    return None, crops, cropper.found, decode.OPENCV


def _spill(spool: Any, block: np.ndarray, bgr: bool) -> None:
    """Append a block of resized crops to the spool, RGB order (one channel-reversed copy)."""
    spool.write((block[..., ::-1] if bgr else block).tobytes())


def _enough_frames(record: VideoRecord, n: int) -> None:
    if n < signal.MIN_WINDOW_FRAMES:
        raise HarnessError(f"video has {n} frame(s); at least {signal.MIN_WINDOW_FRAMES} are needed", record.path)


def stream_video(record: VideoRecord, spec: InputSpec) -> Iterator[tuple[Unit, dict]]:
    """Decode one video once, then yield its windows (:meth:`Chunking.windows`) in the model's
    representation, the last carrying the ground truth resampled to the decoded frame count.
    Face crops wait in a temporary file (``frame_size``² × 3 bytes a frame), never in memory."""
    sid = record.sample_id
    with tempfile.TemporaryFile(prefix="harness-crops-") if spec.kind == "frames" else contextlib.nullcontext() as spool:
        means, crops, found, decoder = decode_video(record, spec, spool)
        n = len(means if crops is None else crops)
        windows = spec.chunking.windows(n)
        if not windows:
            raise HarnessError(f"video has {n} frames, fewer than one chunk of {spec.chunking.length} "
                               f"(chunk_tail 'drop' leaves nothing to predict)", record.path)
        source = chunks.Preprocessed(crops, spec.frame_types) if crops is not None else None
        covered = max(s + v for s, v in windows)
        meta = {"n_frames": n, "face_found": found, "dataset": record.dataset, "subject": record.subject,
                "uncovered_frames": n - covered, "decoder": decoder}
        for k, (start, valid) in enumerate(windows):
            last = k == len(windows) - 1
            length = spec.chunking.length or n
            if source is not None:
                x = source.window(start, max(length, valid))
            else:
                x = means[start:start + valid]
                if len(x) < length:
                    x = np.concatenate([x, np.repeat(x[-1:], length - len(x), axis=0)])
            truth = (reference(record, n) if record.ground_truth is not None else {"fs": float(record.fs)}) if last else None
            unit = Unit(sid, k, last=last, reference=truth,
                        meta={**(meta if last else {}), "start": start, "valid": valid, "output": spec.output})
            yield unit, {spec.kind: x, "fs": record.fs, "start": start, "valid": valid}


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
    if all("valid" in inp for _, inp in items):  # windows padded before: their valid frames
        lengths = torch.tensor([inp["valid"] for _, inp in items], dtype=torch.long)
    return units, {key: values, "lengths": lengths,
                   "starts": torch.tensor([inp.get("start", 0) for _, inp in items], dtype=torch.long),
                   "fs": torch.tensor([inp["fs"] for _, inp in items], dtype=torch.float64),
                   "ids": [u.sample_id for u in units]}


class TrainSet:
    """What ``fit()`` receives: re-iterable, one dict per training video (streamed, never all in
    memory): ``sample_id``, ``dataset``, ``subject``, ``fs``, the adapter's input for the whole
    video, unchunked (``rgb`` (T, 3) or ``frames`` (T, S, S, C) in its ``frame_types``) and
    ``bvp`` (T,) ground truth at the frame rate."""

    def __init__(self, records: list[VideoRecord], spec: InputSpec):
        self.records, self.spec = records, spec

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict]:
        frames = self.spec.kind == "frames"
        for rec in self.records:
            with tempfile.TemporaryFile(prefix="harness-crops-") if frames else contextlib.nullcontext() as spool:
                means, crops, _, _ = decode_video(rec, self.spec, spool)
                x = chunks.Preprocessed(crops, self.spec.frame_types).window(0, len(crops)) if frames else means
            yield {"sample_id": rec.sample_id, "dataset": rec.dataset, "subject": rec.subject,
                   "fs": rec.fs, self.spec.kind: x, "bvp": reference(rec, len(x))["bvp"]}


class RppgFamily(Family):
    name = "rppg"
    plots_module = ".plots"
    rows_refused = "its test inputs are videos with ground-truth waveforms, read in their datasets' own layouts"
    submission_suffixes = (".npz", ".csv")
    reference_suffix = ".npz"
    metric_specs = metrics.METRICS

    # ------------------------------------------------------------------ task checks
    def check_task(self, task) -> None:
        try:
            signal.Recipe.from_dict(task.recipe)
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"recipe: {exc}", task.path) from exc
        inputs = task.config.get("inputs") or {}
        if not isinstance(inputs, dict) or set(inputs) - {"crop"}:
            raise HarnessError(f"inputs: an rPPG task may set only 'crop' there, got {inputs!r}", task.path)
        try:
            face.CropRecipe.of(inputs.get("crop"))
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"inputs.crop: {exc}", task.path) from exc
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

    def _records(self, source_kind: str, root: Path, name: str, unlabelled: bool = False) -> list[VideoRecord]:
        if source_kind == "sample" or unlabelled:  # the sample and participant copies use the UBFC-rPPG layout
            return [dataclasses.replace(r, dataset=name) for r in rdata.scan("ubfc-rppg", root / name, unlabelled=unlabelled)]
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
        from ...participant import is_participant_copy

        unlabelled = set(roles["test"]) if is_participant_copy(root) else set()
        if unlabelled:
            notes.append("participant copy: the test ground truth is withheld; a run writes its --submission file and "
                         "scores nothing")
        used = {"test": roles["test"], "train": roles.get("train", []) if need_train else []}
        per_role, all_frames, all_heads, scanned = {}, [], [], {}
        for role, names in used.items():
            frames, heads = [], []
            for name in dict.fromkeys(names):
                if name not in scanned:
                    scanned[name] = self._records(kind, root, name, name in unlabelled)
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
        return DataSource(kind, root, fingerprint_files(root, all_frames, all_heads), roles, notes, per_role, scanned,
                          labelled=not unlabelled)

    def _role_records(self, task, source: DataSource, role: str) -> list[VideoRecord]:
        out = []
        for ref in task.datasets.get(role, []):
            if ref.name in source.datasets.get(role, []):
                recs = source.scanned.get(ref.name) or self._records(source.kind, source.root, ref.name)
                recs = sorted(recs, key=lambda r: natural_key(r.key))
                out.extend(select_split(recs, ref.split))
        return out

    def train_data(self, task, source: DataSource, model) -> TrainSet:
        return TrainSet(self._role_records(task, source, "train"), InputSpec.of(model, task))

    def test_set(self, task, source: DataSource, model, limit: int | None) -> TestSet:
        records = self._role_records(task, source, "test")
        if limit is not None:
            records = records[: max(int(limit), 0)]
        spec = InputSpec.of(model, task)
        if spec.kind == "rgb" and spec.crop.name == "harness" and any(
                r.path.suffix.lower() in decode.VIDEO_SUFFIXES for r in records):
            spec = dataclasses.replace(spec, decoder=decode.choose())
        by_id = {r.sample_id: r for r in records}
        if len(by_id) != len(records):
            raise HarnessError("duplicate sample ids in the test set (a dataset listed twice?)", task.path)
        on_gpu = spec.decoder == decode.GPU
        return TestSet(list(by_id), self,
                       make_dataset=lambda ids: StreamDataset([by_id[i] for i in ids], lambda r: stream_video(r, spec)),
                       collate=collate, record=spec.to_dict(), key=f"decoder={decode.GPU}" if on_gpu else "",
                       notes=([f"video decoder: torchcodec on CUDA, in the main process (OpenCV for files it refuses; "
                               f"${decode.DECODER_ENV}=opencv decodes on the CPU)"] if on_gpu else [])
                       + frame_rate_notes(model, records),
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
            declared = units[0].meta.get("output", "bvp")
            kind = (declared if declared != "hr" else "bvp") if getattr(value, "ndim", 0) == 2 else "hr"
        value = torch.as_tensor(value).detach().float().cpu()
        lengths = inputs["lengths"]
        batch = len(units)
        expected = (batch, int(inputs[("rgb" if "rgb" in inputs else "frames")].shape[1])) if kind != "hr" else (batch,)
        if tuple(value.shape) != expected:
            raise HarnessError(f"model returned {kind} of shape {tuple(value.shape)} for a batch of "
                               f"{batch}; expected {expected} (sample {units[0].sample_id})")
        out = []
        for i, unit in enumerate(units):
            v = value[i, : int(lengths[i])] if kind != "hr" else value[i]
            if not torch.isfinite(v).all():
                raise HarnessError(f"model returned NaN or infinite {kind} for sample {unit.sample_id}")
            out.append({kind: v.numpy().astype(np.float64), "start": int(unit.meta.get("start", 0))})
        return out

    def merge_parts(self, parts: list[dict]) -> dict:
        """A video's windows stitched back to its frames (overlaps averaged); ``bvp_diff`` is then
        integrated by ``cumsum`` as rPPG-Toolbox does, so the prediction file holds a waveform."""
        if "hr" in parts[0]:
            return {"hr": np.asarray(np.mean([float(p["hr"]) for p in parts]))}
        kind = "bvp_diff" if "bvp_diff" in parts[0] else "bvp"
        if any(kind not in p for p in parts):
            raise HarnessError(f"model returned {kind} for some windows of a video and not for others")
        wave = chunks.stitch([(p["start"], p[kind]) for p in parts])
        return {"bvp": np.cumsum(wave) if kind == "bvp_diff" else wave}

    def write_participant_copy(self, task, root: Path, out: Path) -> tuple[list[str], dict[str, str]]:
        """Training datasets' folders as they are; each test video's file, byte for byte, as
        ``<dataset>/<opaque key>/vid.avi`` (the UBFC-rPPG layout) without its ground truth. Test
        datasets must be whole (split ``all``), not also training data, and (real data) in the
        UBFC-rPPG layout, so no video is re-encoded."""
        import secrets
        import shutil

        from ...participant import copy_dataset_folders, mark_sample, opaque_key

        train = [d.name for d in task.datasets.get("train", [])]
        for ref in task.datasets["test"]:
            if ref.name in train or ref.split != "all":
                raise HarnessError(f"participant-copy: test dataset {ref.name!r} (split {ref.split!r}) is split or shared "
                                   "with training data; only whole test datasets are supported", task.path)
        source = self.resolve_data(task, root, need_train=bool(train))
        if source.kind == "real" and any(ref.name != "ubfc-rppg" for ref in task.datasets["test"]):
            raise HarnessError("participant-copy copies test videos without re-encoding them: supported for real test "
                               "datasets in the UBFC-rPPG layout only", task.path)
        copy_dataset_folders(source.root, out, train)
        ids: dict[str, str] = {}
        salt = secrets.token_hex(8)
        for record in self._role_records(task, source, "test"):
            key = opaque_key(record.sample_id, salt)
            target = out / record.dataset / key
            if record.path.is_dir() or target.exists():
                raise HarnessError("participant-copy needs one video file per test video and distinct keys", record.path)
            target.mkdir(parents=True)
            shutil.copyfile(record.path, target / "vid.avi")
            ids[record.sample_id] = f"{record.dataset}/{key}"
            if source.kind == "sample" and not (out / record.dataset / synth.MARKER).exists():
                mark_sample(out / record.dataset, synth.MARKER)  # not the generator's: it lists each subject's HR
        return ["test videos: <dataset>/<opaque key>/vid.avi (UBFC-rPPG layout, the files as released), no ground "
                "truth"], ids

    # ------------------------------------------------------------------ prediction files
    def prediction_format(self):
        return predictions.FORMAT

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
        if not source.labelled:
            raise HarnessError("a participant copy holds no ground truth; read the reference from the organizer's "
                               "data root", source.root)
        refs = {r.sample_id: reference(r, count_frames(r)) for r in self._role_records(task, source, "test")}
        return refs, {"kind": source.kind, "root": str(source.root), "fingerprint": source.fingerprint,
                      "samples": len(refs)}

    # ------------------------------------------------------------------ scoring
    def score(self, task, outputs: dict[str, dict], references: dict[str, dict], *, n_boot: int, seed: int) -> Score:
        recipe = signal.Recipe.from_dict(task.recipe)
        rows = []
        fallback = uncovered = partial = 0
        for sid, out in outputs.items():
            ref = references[sid]
            fs = float(ref["fs"])
            meta = ref.get("meta", {})
            fallback += not meta.get("face_found", True)
            base = {"sample_id": sid, "dataset": meta.get("dataset", sid.split("/")[0])}
            if "bvp" in out:
                covered = min(len(out["bvp"]), len(ref["bvp"]))  # a chunked model may leave a tail
                uncovered += len(ref["bvp"]) - covered
                partial += covered < len(ref["bvp"])
                try:
                    windows = signal.evaluate_video(out["bvp"][:covered], ref["bvp"][:covered], fs, recipe)
                except ValueError as exc:
                    raise HarnessError(f"sample {sid}: {exc}") from exc
            else:
                windows = _hr_windows(sid, np.atleast_1d(out["hr"]), ref["bvp"], fs, recipe)
            rows.extend({**base, **w} for w in windows)
        table = pd.DataFrame(rows, columns=["sample_id", "dataset", "start", "end", "hr_pred", "hr_gt", "snr_db", "macc"])
        values = metrics.summarize(table, [m.name for m in task.metrics], n_boot=n_boot, seed=seed)
        notes = []
        if fallback:
            notes.append(f"no face found in {fallback} video(s): the crop recipe's fallback used")
        if uncovered:
            notes.append(f"{uncovered} frame(s) at the end of {partial} video(s) had no prediction (chunk tail "
                         f"dropped) and were not scored")
        counts = {"videos": len(outputs), "windows": len(table), "face_fallback": fallback}
        if uncovered:
            counts["uncovered_frames"] = uncovered
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


FAMILY = RppgFamily()
