"""``harness run``: load → (fit) → predict → keep per-sample outputs → score → record.

The runner knows nothing of any family: data, batching, output checks and scoring come from the
task's :class:`~harness.family.Family`. Finished per-sample outputs are cached as they complete,
so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import __version__
from .errors import HarnessError
from .family import FAMILIES, Family
from .models import build_model, has_fit
from .results import (SCHEMA_VERSION, atomic_path, model_tag, results_dir, run_dir, short_hash,
                      write_json)
from .task import PROJECT_ROOT, Task


@dataclasses.dataclass
class RunOptions:
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_root: str | None = None
    device: str = "auto"
    batch_size: int = 4
    num_workers: int = 0
    limit: int | None = None
    seed: int = 0
    output: str | None = None
    n_boot: int = 1000
    progress: bool = True
    submission: str | None = None


def pick_device(spec: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda[:i]`` must exist."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise HarnessError(f"--device {spec!r} is not a device (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HarnessError(f"--device {spec}: CUDA is not available on this machine (use auto or cpu)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise HarnessError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str | None:
    return _git("rev-parse", "HEAD") or None


def git_dirty() -> bool | None:
    """Whether tracked code differs from the commit (None outside a git checkout)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def environment(device: torch.device) -> dict[str, Any]:
    env = {"harness": __version__, "git_commit": git_commit(), "git_dirty": git_dirty(), "python": platform.python_version(),
           "torch": torch.__version__, "numpy": np.__version__, "platform": platform.platform(),
           "device": str(device), "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def to_device(inputs: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in inputs.items()}


class SampleCache:
    """Finished per-sample outputs and references, one ``.npz`` each, written atomically."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, sample_id: str) -> Path:
        return self.folder / (hashlib.sha1(sample_id.encode()).hexdigest()[:20] + ".npz")

    def has(self, sample_id: str) -> bool:
        return self._path(sample_id).is_file()

    def put(self, sample_id: str, output: dict, reference: dict, meta: dict) -> None:
        arrays = {f"out__{k}": np.asarray(v) for k, v in output.items()}
        arrays.update({f"ref__{k}": np.asarray(v) for k, v in reference.items()})
        arrays["meta"] = np.asarray(json.dumps({"sample_id": sample_id, **meta}))
        with atomic_path(self._path(sample_id)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    def get(self, sample_id: str) -> tuple[dict, dict, dict]:
        with np.load(self._path(sample_id), allow_pickle=False) as z:
            out = {k[5:]: z[k] for k in z.files if k.startswith("out__")}
            ref = {k[5:]: z[k] for k in z.files if k.startswith("ref__")}
            meta = json.loads(str(z["meta"]))
        meta.pop("sample_id", None)
        return out, ref, meta


def predict_all(model: Any, family: Family, test, todo: list[str], cache: SampleCache,
                device: torch.device, opts: RunOptions, log: Callable[[str], None]) -> dict[str, float]:
    """Stream the test units through the model; store each finished sample in ``cache``."""
    loader = DataLoader(test.make_dataset(todo), batch_size=opts.batch_size, num_workers=opts.num_workers,
                        collate_fn=test.collate, pin_memory=device.type == "cuda",
                        persistent_workers=False)
    parts: dict[str, list] = {}
    t_load = t_predict = 0.0
    frames = 0
    bar = _progress(len(todo), opts.progress)
    tick = time.perf_counter()
    with torch.inference_mode():
        for units, inputs in loader:
            t_load += time.perf_counter() - tick
            t0 = time.perf_counter()
            try:
                outputs = model.predict(to_device(inputs, device))
            except HarnessError:
                raise
            except Exception as exc:  # the adapter's own code failed: name the samples, one line
                if os.environ.get("HARNESS_DEBUG"):
                    raise
                ids = ", ".join(u.sample_id for u in units[:3]) + (", …" if len(units) > 3 else "")
                raise HarnessError(f"model.predict failed on sample(s) {ids}: {type(exc).__name__}: {exc} "
                                   f"(set HARNESS_DEBUG=1 for the traceback)") from exc
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            per_unit = family.split_outputs(outputs, units, inputs)
            t_predict += time.perf_counter() - t0
            for unit, out in zip(units, per_unit):
                parts.setdefault(unit.sample_id, []).append((unit.part, out))
                frames += int(unit.meta.get("n_frames", 0)) if unit.last else 0
                if unit.last:
                    ordered = [o for _, o in sorted(parts.pop(unit.sample_id), key=lambda p: p[0])]
                    cache.put(unit.sample_id, family.merge_parts(ordered), unit.reference, unit.meta)
                    bar.update(1)
            tick = time.perf_counter()
    bar.close()
    if parts:
        raise HarnessError(f"the data stream ended inside sample(s) {sorted(parts)[:3]}")
    return {"load_s": t_load, "predict_s": t_predict, "frames": frames}


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="sample", disable=None if enabled else True, file=sys.stderr,
                dynamic_ncols=True, leave=False)


def run_task(task: Task, model_name: str, opts: RunOptions, log: Callable[[str], None] = print,
             group: str | None = None, fitted: dict | None = None) -> dict[str, Any]:
    """Run one task end to end; return the run record (also written under the results folder).

    ``fitted`` carries a trained model between the tasks of a group that share their training
    data, so a protocol like SVC 2026 PhysDG scores phase 2 with phase 1's fixed weights.
    """
    t_start = time.perf_counter()
    family: Family = FAMILIES.get(task.family)
    family.check_task(task)
    seed_everything(opts.seed)
    device = pick_device(opts.device)
    model, model_info = build_model(model_name, opts.model_args)
    if model_info["family"] != task.family:
        raise HarnessError(f"model {model_name!r} is for the {model_info['family']!r} family, "
                           f"but task {task.name!r} is {task.family!r}")
    family.check_model(task, model)
    trains = has_fit(model)
    source = family.resolve_data(task, Path(opts.data_root) if opts.data_root else None, need_train=trains)
    for note in source.notes:
        log(note)
    notes = list(source.notes)

    timings: dict[str, float] = {}
    train_key = short_hash([source.role_fingerprints.get("train"), [d.to_dict() for d in task.datasets.get("train", [])],
                            model_info, opts.seed], 12)
    if trains:
        if fitted is not None and fitted.get("key") == train_key:
            model = fitted["model"]
            notes.append("weights fixed: reused the model trained for the previous task of the group")
        else:
            t0 = time.perf_counter()
            log(f"training {model_name} on {', '.join(source.datasets.get('train', []))}")
            try:
                model.fit(family.train_data(task, source, model))
            except HarnessError:
                raise
            except Exception as exc:  # the adapter's own training code failed
                if os.environ.get("HARNESS_DEBUG"):
                    raise
                raise HarnessError(f"model.fit failed: {type(exc).__name__}: {exc} "
                                   f"(set HARNESS_DEBUG=1 for the traceback)") from exc
            timings["fit_s"] = time.perf_counter() - t0
            if fitted is not None:
                fitted.update(key=train_key, model=model)
    elif task.datasets.get("train"):
        notes.append("model has no fit(): training datasets not used")
    if hasattr(model, "to"):
        model = model.to(device) or model
    if hasattr(model, "eval") and callable(model.eval):
        model.eval()

    test = family.test_set(task, source, model, opts.limit)
    for note in test.notes:
        log(note)
    notes.extend(test.notes)
    results = results_dir(opts.output)
    run_key = short_hash([task.name, task.version, task.config_hash, model_info, source.fingerprint,
                          opts.seed, train_key if trains else None] + ([test.key] if test.key else []), 16)
    cache = SampleCache(results / "cache" / "runs" / run_key)
    todo = [sid for sid in test.sample_ids if not cache.has(sid)]
    reused = len(test.sample_ids) - len(todo)
    if reused:
        log(f"resuming: {reused} of {len(test.sample_ids)} samples already done")
    stats = predict_all(model, family, test, todo, cache, device, opts, log) if todo else {"load_s": 0.0, "predict_s": 0.0, "frames": 0}
    timings.update(load_s=stats["load_s"], predict_s=stats["predict_s"])

    t0 = time.perf_counter()
    outputs, references = {}, {}
    for sid in test.sample_ids:
        out, ref, meta = cache.get(sid)
        outputs[sid] = out
        references[sid] = {**ref, "meta": meta}
    score = family.score(task, outputs, references, n_boot=opts.n_boot, seed=opts.seed)
    timings["score_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    notes.extend(score.notes)

    tag = model_tag(model_name, opts.model_args)
    # a --limit smoke run never replaces a full run's record; other seeds sit beside seed 0
    folder_name = tag + (f"@seed{opts.seed}" if opts.seed else "") + (f"@limit{opts.limit}" if opts.limit is not None else "")
    folder = run_dir(results, source.kind, task.name, folder_name)
    outputs_file = "outputs" + family.prediction_suffix(outputs)
    family.write_predictions(folder / outputs_file, outputs, references)
    if opts.submission:
        family.write_predictions(Path(opts.submission), outputs, references)
    with atomic_path(folder / "samples.csv") as tmp:
        score.rows.to_csv(tmp, index=False)
    record = {
        "schema": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "task": {"name": task.name, "version": task.version, "config_hash": task.config_hash,
                 "family": task.family, "group": group, "recipe": family.recipe_record(task),
                 "datasets": {r: [d.to_dict() for d in refs] for r, refs in task.datasets.items()}},
        "model": {**model_info, "tag": tag},
        "data": source.to_dict(),
        "metrics": {k: v.to_dict() for k, v in score.metrics.items()},
        "primary_metric": task.primary_metric,
        "directions": task.directions,
        "n_samples": len(test.sample_ids),
        "counts": score.counts,
        "breakdowns": score.breakdowns,
        "reportable": opts.limit is None,
        "limit": opts.limit,
        "seed": opts.seed,
        "n_boot": opts.n_boot,
        "environment": environment(device),
        "timings": timings,
        "throughput": {"samples_per_s": len(todo) / max(stats["load_s"] + stats["predict_s"], 1e-9) if todo else None,
                       "frames_per_s": stats["frames"] / max(stats["load_s"] + stats["predict_s"], 1e-9) if todo else None,
                       "samples_processed": len(todo), "samples_reused": reused},
        "notes": notes,
        "files": {"outputs": outputs_file, "samples": "samples.csv", "submission": opts.submission},
    }
    write_json(folder / "record.json", record)
    record["_path"] = str(folder / "record.json")
    return record
