"""``harness run``: load → (fit) → predict → keep per-sample outputs → score → record.

The runner knows nothing of any family: data, batching, output checks and scoring come from the
task's :class:`~harness.family.Family`. Finished per-sample outputs are cached as they complete,
so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import pickle
import platform
import random
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import __version__, distributed, machine
from .errors import HarnessError
from .family import FAMILIES, Family, ThreadedLoader, WorkerFailure
from . import hfdata
from .hub import fold_revision, resolve_data_root
from .models import build_model, has_fit
from .digest import content_digest, short_hash
from .files import atomic_path, write_json
from .records import IDENTITY_KEYS, RunRecord, TaskHeader, model_tag, results_dir, run_dir
from .task import PROJECT_ROOT, Task


@dataclasses.dataclass
class RunOptions:
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_root: str | None = None
    device: str = "auto"
    batch_size: int = 4
    num_workers: int | None = None   # None: one decoding worker per available core (see loader_workers)
    precision: str = "auto"          # auto: AMP on CUDA where the adapter allows it; fp32: never
    limit: int | None = None
    seed: int = 0
    output: str | None = None
    n_boot: int = 1000
    progress: bool = True
    submission: str | None = None
    columns: dict[str, str] | None = None  # a datasets repository's column mapping (harness.hfdata)


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


PRECISIONS = ("auto", "fp32")


def autocast_dtype(device: torch.device, model: Any, precision: str) -> torch.dtype | None:
    """The AMP dtype of a run, or None (fp32): only on CUDA, only for adapters that declare
    ``amp = True``, never with ``precision="fp32"``; bfloat16 where the GPU has it, else float16."""
    if precision not in PRECISIONS:
        raise HarnessError(f"--precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32" or device.type != "cuda" or not getattr(model, "amp", False):
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's or taskset's)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # no affinity API (macOS, Windows)
        return os.cpu_count() or 1


def local_ranks() -> int:
    """Processes of this job on this machine (torchrun's LOCAL_WORLD_SIZE; 1 without torchrun)."""
    try:
        return max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


#: the most decoding workers a run starts by default (each holds its own decoder and a few batches)
MAX_DEFAULT_WORKERS = 32


def loader_workers(opts: "RunOptions", device: torch.device, n_items: int | None = None, threads: bool = False) -> int:
    """Decoding workers ahead of the model: as asked (``--num-workers``), else one per available
    core, the cores shared by this machine's torchrun ranks, never more than the ``n_items``
    streamed (samples, or images for families that cut an image into units) nor
    :data:`MAX_DEFAULT_WORKERS`. DataLoader processes (``threads=False``): at most 4 on CUDA
    (decoding overlaps with compute, one core feeds the GPU), and 0 off Linux (the families'
    datasets reach them by fork). Threads (a test set whose decoding releases the GIL,
    :class:`~harness.family.ThreadedLoader`): one per core on any device and platform."""
    if opts.num_workers is not None:
        return opts.num_workers
    if not threads and not sys.platform.startswith("linux"):
        return 0
    cores = max(available_cores() // local_ranks(), 1)
    if device.type == "cuda" and not threads:  # one core feeds the GPU, up to 4 decode ahead of it
        workers = max(0, min(4, cores - 1))
    else:
        workers = min(cores, MAX_DEFAULT_WORKERS)
    if n_items is not None:
        workers = min(workers, n_items)
    # on the CPU one worker alone would only move the decoding away from the model's core: none then
    return workers if device.type == "cuda" or workers > 1 else 0


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch; ``HARNESS_DETERMINISTIC=1`` also turns on torch's
    deterministic algorithms (``harness regress --platform-check`` runs with it)."""
    if os.environ.get("HARNESS_DETERMINISTIC") == "1":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
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
           "device": str(device), "cpu_count": os.cpu_count(), "machine": machine.describe()}
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
                device: torch.device, opts: RunOptions, log: Callable[[str], None],
                amp: torch.dtype | None = None) -> dict[str, float]:
    """Stream the test units through the model; store each finished sample in ``cache``. On CUDA,
    batches come from pinned memory with non-blocking copies, decoded ahead of the model
    (:func:`test_batches`), under autocast when ``amp`` is a dtype."""
    in_loader = _prepared_in_loader(test, device)
    loader = test_batches(test, todo, device, opts, log)
    autocast = torch.autocast(device.type, dtype=amp) if amp is not None else nullcontext()
    parts: dict[str, list] = {}
    t_load = t_predict = 0.0
    frames = 0
    bar = Progress(len(todo), opts.progress, log)
    tick = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            if isinstance(batch, WorkerFailure):
                raise batch.error()
            units, inputs = batch
            t_load += time.perf_counter() - tick
            t0 = time.perf_counter()
            try:
                with autocast:
                    outputs = model.predict(inputs if in_loader else (test.prepare or to_device)(inputs, device))
                if amp is not None:
                    outputs = _as_fp32(outputs)
            except HarnessError:
                raise
            except Exception as exc:  # the adapter's own code failed: name the samples, one line
                if os.environ.get("HARNESS_DEBUG"):
                    raise
                named = list(dict.fromkeys(u.sample_id for u in units))  # a video's windows name it once
                ids = ", ".join(named[:3]) + (", …" if len(named) > 3 else "")
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
                    cache.put(unit.sample_id, family.merge_parts(ordered), unit.reference or {}, unit.meta)
                    bar.update(1, int(unit.meta.get("n_frames", 0)))
            tick = time.perf_counter()
    bar.close()
    if parts:
        raise HarnessError(f"the data stream ended inside sample(s) {sorted(parts)[:3]}")
    return {"load_s": t_load, "predict_s": t_predict, "frames": frames}


def test_batches(test, todo: list[str], device: torch.device, opts: RunOptions,
                 log: Callable[[str], None] = print):
    """The batches of ``todo`` as the model gets them: ``(units, inputs)`` (or a
    :class:`WorkerFailure`), decoded ahead of the model by worker threads (``test.threads``:
    :class:`~harness.family.ThreadedLoader`) or DataLoader processes; on CUDA in pinned memory.
    A CPU model's inputs are made by the test set's ``prepare`` in the decoding workers; a GPU
    model's on the device, in :func:`predict_all`."""
    dataset = test.make_dataset(todo)
    workers = loader_workers(opts, device, len(getattr(dataset, "items", todo)), threads=test.threads)
    if test.max_workers is not None and workers > test.max_workers:
        if opts.num_workers is not None:
            log(f"--num-workers {workers}: this test set decodes with at most {test.max_workers} worker(s) "
                f"({'; '.join(test.notes)})")
        workers = test.max_workers
    collate = functools.partial(_collate, test.collate, test.prepare if _prepared_in_loader(test, device) else None)
    if test.threads and workers > 0:
        return ThreadedLoader(dataset, opts.batch_size, collate, workers,
                              finish=_pinned if device.type == "cuda" else None)
    return DataLoader(dataset, batch_size=opts.batch_size, num_workers=workers, collate_fn=collate,
                      pin_memory=device.type == "cuda",
                      persistent_workers=False, prefetch_factor=4 if workers and device.type == "cuda" else None)


def _prepared_in_loader(test, device: torch.device) -> bool:
    """Whether the model's inputs are made in the decoding workers (a CPU model with a test set
    ``prepare``) rather than on the device by :func:`predict_all`: where it is cheapest."""
    return test.prepare is not None and device.type == "cpu"


def _pinned(batch: Any) -> Any:
    """The batch with its tensors in pinned memory, contiguous (for non-blocking copies to a GPU:
    a strided tensor, e.g. an RGB view of a decoder's RGBX pixels, would be copied again first)."""
    if isinstance(batch, torch.Tensor):
        return torch.empty(batch.shape, dtype=batch.dtype, pin_memory=True).copy_(batch)
    if isinstance(batch, dict):
        return {k: _pinned(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_pinned(v) for v in batch)
    return batch


def _collate(collate: Callable, prepare: Callable | None, items: list) -> Any:
    """The family's collate (then the test set's ``prepare`` for the CPU, when given), unless a
    worker's item reports a failure: that is the batch."""
    failed = next((i for i in items if isinstance(i, WorkerFailure)), None)
    if failed is not None:
        return failed
    units, inputs = collate(items)
    return units, (prepare(inputs, torch.device("cpu")) if prepare is not None else inputs)


def _as_fp32(outputs: Any) -> Any:
    """Half-precision tensors (AMP outputs) as float32, so families see one dtype."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float() if outputs.dtype in (torch.float16, torch.bfloat16) else outputs
    if isinstance(outputs, dict):
        return {k: _as_fp32(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_as_fp32(v) for v in outputs)
    return outputs


class Progress:
    """A run's progress: samples done, frames/s (families that count frames) and the ETA. On a
    terminal a tqdm bar; otherwise (a log file, a batch job) one line every ``every`` seconds
    through ``log``, so long runs show they are alive. ``enabled=False``: silent."""

    def __init__(self, total: int, enabled: bool, log: Callable[[str], None], every: float = 60.0):
        from tqdm.auto import tqdm

        self.total, self.log, self.every = total, log, every
        self.done = self.frames = 0
        self.start = self.last_line = time.perf_counter()
        self.bar = tqdm(total=total, unit="sample", disable=None if enabled else True, file=sys.stderr,
                        dynamic_ncols=True, leave=False)
        self.lines = enabled and self.bar.disable  # enabled, but no terminal to draw a bar on

    def rate(self) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        return f"{self.frames / elapsed:,.0f} frames/s" if self.frames else f"{self.done / elapsed:.2f} samples/s"

    def eta(self) -> str:
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        return str(dt.timedelta(seconds=round(left))) if left == left else "?"

    def update(self, samples: int, frames: int = 0) -> None:
        self.done += samples
        self.frames += frames
        if not self.bar.disable:
            self.bar.set_postfix_str(self.rate(), refresh=False)
            self.bar.update(samples)
        elif self.lines and time.perf_counter() - self.last_line >= self.every and self.done < self.total:
            self.last_line = time.perf_counter()
            self.log(f"progress: {self.done}/{self.total} samples, {self.rate()}, ETA {self.eta()}")

    def close(self) -> None:
        self.bar.close()


def _fit(model: Any, family: Family, task: Task, source, world: distributed.World) -> Any:
    """Train ``model``; return the trained model. Under torchrun, rank 0 trains and sends the
    weights to the other ranks (so every rank predicts with the same model), unless the adapter
    sets ``distributed_fit = True`` and trains on every rank itself (e.g. with DDP)."""
    alone = world.size > 1 and not getattr(model, "distributed_fit", False)
    failure = None
    if world.main or not alone:
        try:
            model.fit(family.train_data(task, source, model))
        except HarnessError as exc:
            failure = exc
        except Exception as exc:  # the adapter's own training code failed
            if os.environ.get("HARNESS_DEBUG"):
                raise
            failure = HarnessError(f"model.fit failed: {type(exc).__name__}: {exc} "
                                   f"(set HARNESS_DEBUG=1 for the traceback)")
    if not alone:
        if world.size > 1:  # every rank trained: a failure anywhere stops all, and the weights must agree
            failures = world.all_gather(str(failure) if failure is not None else None, "training on every rank")
            if failure is not None:
                raise failure
            failed = next(((r, f) for r, f in enumerate(failures) if f is not None), None)
            if failed is not None:
                raise HarnessError(f"{world.label}: training failed on rank {failed[0]}: {failed[1]}")
            world.check_same({"weights": _model_digest(model)}, "trained weights",
                             hint="an adapter with distributed_fit = True must leave every rank with the same "
                                  "weights (e.g. by training through DistributedDataParallel)")
        elif failure is not None:
            raise failure
        return model
    blob = None
    if world.main and failure is None:
        if hasattr(model, "to"):
            model = model.to(torch.device("cpu")) or model
        try:  # rank 0's own trained model, sent to the ranks of the same job
            blob = pickle.dumps(model)
        except Exception as exc:
            failure = HarnessError(f"the trained model cannot be sent to the other ranks ({type(exc).__name__}: {exc}); "
                                   "give the adapter distributed_fit = True or run on one process")
    shared = world.broadcast(("failed", str(failure)) if failure is not None else ("ok", blob), "sharing the trained model")
    if shared[0] == "failed":
        raise failure if failure is not None else HarnessError(f"{world.label}: training failed on rank 0: {shared[1]}")
    return model if world.main else pickle.loads(shared[1])  # from rank 0 of this job: trusted


def _model_digest(model: Any) -> str | None:
    """A digest of a model's weights (its ``state_dict``, else its pickle), to compare ranks."""
    state = model.state_dict() if callable(getattr(model, "state_dict", None)) else None
    if isinstance(state, dict):
        return content_digest(state)
    try:
        return hashlib.sha256(pickle.dumps(model)).hexdigest()
    except Exception:  # unpicklable adapter: nothing to compare
        return None


@dataclasses.dataclass
class _Run:
    """What the steps of one run share: built by :func:`_set_up`, then read (and the model, notes
    and timings updated) by :func:`_train`, :func:`_predict`, :func:`_score` and :func:`_write`."""

    task: Task
    header: TaskHeader
    model_name: str
    opts: RunOptions
    log: Callable[[str], None]
    world: distributed.World
    family: Family
    device: torch.device
    model: Any
    model_info: dict[str, Any]
    trains: bool
    amp: torch.dtype | None
    precision: str
    source: Any
    test: Any
    train_key: str
    cache: SampleCache
    shard: list[str]
    todo: list[str]
    reused: int
    to_predict: int              # samples left to predict, all ranks together
    notes: list[str]
    started: float
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def tag(self) -> str:
        return model_tag(self.model_name, self.opts.model_args)


def run_task(task: Task, model_name: str, opts: RunOptions, log: Callable[[str], None] = print,
             group: str | None = None, fitted: dict | None = None) -> dict[str, Any] | None:
    """Run one task end to end; return the run record (also written under the results folder).

    ``fitted`` carries a trained model between the tasks of a group that share their training
    data, so a protocol like SVC 2026 PhysDG scores phase 2 with phase 1's fixed weights.

    Under torchrun each rank predicts its shard of the test samples (``World.shard``); rank 0
    gathers every rank's per-sample outputs, scores them once over the whole set and writes the
    record; the other ranks return None.
    """
    run = _set_up(task, model_name, opts, log, group)
    _train(run, fitted)
    gathered = _predict(run)
    if gathered is None:  # not rank 0: rank 0 scores and writes
        return None
    outputs, references, shards = gathered
    if not run.source.labelled:  # a participant copy: the prediction file is the result
        run.family.write_predictions(Path(opts.submission), outputs, references)
        return _unscored(run, len(outputs))
    score = _score(run, outputs, references)
    return _write(run, outputs, references, score, shards)


def _set_up(task: Task, model_name: str, opts: RunOptions, log: Callable[[str], None], group: str | None) -> _Run:
    """Check the task and the model, resolve the data, build the test set and find which of this
    rank's samples earlier runs of the same key already predicted."""
    started = time.perf_counter()
    world = distributed.current()
    family: Family = FAMILIES.get(task.family)
    family.check_task(task)
    seed_everything(opts.seed)
    device = pick_device(distributed.rank_device(opts.device, world))
    model, model_info = build_model(model_name, opts.model_args)
    if model_info["family"] != task.family:
        raise HarnessError(f"model {model_name!r} is for the {model_info['family']!r} family, "
                           f"but task {task.name!r} is {task.family!r}")
    family.check_model(task, model)
    trains = has_fit(model)
    amp = autocast_dtype(device, model, opts.precision)
    precision = "fp32" if amp is None else f"amp-{str(amp).removeprefix('torch.')}"
    root, origin = resolve_data_root(opts.data_root)  # an hf://datasets/... root: its cached snapshot
    source = hfdata.resolve_data(family, task, root, trains, opts.columns)  # a datasets repository, or a layout
    if origin:  # the repository commit is part of what the data is
        source.fingerprint, source.origin = fold_revision(source.fingerprint, origin), origin
    world.check_same({"task": task.name, "version": task.version, "config_hash": task.config_hash,
                      "model": model_info, "data": source.fingerprint, "seed": opts.seed, "limit": opts.limit,
                      "n_boot": opts.n_boot, "precision": precision,
                      "results folder": str(results_dir(opts.output))}, "run setup")
    if not source.labelled and not opts.submission:
        raise HarnessError("the test samples carry no labels (a participant copy): add --submission FILE; the run "
                           "writes your prediction file and scores nothing", source.root)
    for note in source.notes:
        log(note)
    notes = list(source.notes)

    # the model's identity by content (its fingerprint covers code, weights and argument files), not
    # by where its files lie: a moved checkpoint resumes, a swapped one makes a new run
    model_key = {k: v for k, v in model_info.items() if k != "files"}
    train_key = short_hash([source.role_fingerprints.get("train"), [d.to_dict() for d in task.datasets.get("train", [])],
                            model_key, opts.seed], 12)
    test = family.test_set(task, source, model, opts.limit)
    for note in test.notes:
        log(note)
    notes.extend(test.notes)
    # the world size is not in the key: outputs are per sample, so any number of ranks resumes them
    run_key = short_hash([task.name, task.version, task.config_hash, model_key, source.fingerprint,
                          opts.seed, train_key if trains else None] + ([test.key] if test.key else [])
                         + ([precision] if amp is not None else []), 16)
    cache = SampleCache(results_dir(opts.output) / "cache" / "runs" / run_key)
    shard = world.shard(test.sample_ids)
    todo = [sid for sid in shard if not cache.has(sid)]
    reused = len(shard) - len(todo)
    progress = world.all_gather((len(todo), reused), "comparing the ranks' progress")
    if sum(p[1] for p in progress):
        log(f"resuming: {sum(p[1] for p in progress)} of {len(test.sample_ids)} samples already done")
    return _Run(task=task, header=TaskHeader.of(task, family, group), model_name=model_name, opts=opts, log=log,
                world=world, family=family, device=device, model=model, model_info=model_info, trains=trains, amp=amp,
                precision=precision, source=source, test=test, train_key=train_key, cache=cache, shard=shard,
                todo=todo, reused=reused, to_predict=sum(p[0] for p in progress), notes=notes, started=started)


def _train(run: _Run, fitted: dict | None) -> None:
    """Fit the model when it trains and some sample is left to predict (or reuse the group's
    fitted model), then move it to the device in eval mode."""
    task, world = run.task, run.world
    if run.trains and not run.to_predict:
        run.notes.append("training skipped: every test sample's output was already cached for this run")
    elif run.trains:
        if fitted is not None and fitted.get("key") == run.train_key:
            run.model = fitted["model"]
            run.notes.append("weights fixed: reused the model trained for the previous task of the group")
        else:
            t0 = time.perf_counter()
            run.log(f"training {run.model_name} on {', '.join(run.source.datasets.get('train', []))}")
            run.model = _fit(run.model, run.family, task, run.source, world)
            if world.size > 1:
                run.notes.append(f"trained on every one of {world.size} ranks (distributed_fit)"
                                 if getattr(run.model, "distributed_fit", False)
                                 else f"trained on rank 0 and sent to the other {world.size - 1} rank(s)")
            run.timings["fit_s"] = time.perf_counter() - t0
            if fitted is not None:
                fitted.update(key=run.train_key, model=run.model)
    elif task.datasets.get("train"):
        run.notes.append("model has no fit(): training datasets not used")
    if hasattr(run.model, "to"):
        run.model = run.model.to(run.device) or run.model
    if hasattr(run.model, "eval") and callable(run.model.eval):
        run.model.eval()


def _predict(run: _Run) -> tuple[dict, dict, list[dict]] | None:
    """Predict this rank's samples left to do, then gather every rank's per-sample outputs on rank 0:
    (outputs, references, each rank's shard report) there, None on the other ranks."""
    world, opts = run.world, run.opts
    no_work = {"load_s": 0.0, "predict_s": 0.0, "frames": 0}
    opts_here = opts if world.main else dataclasses.replace(opts, progress=False)
    stats = predict_all(run.model, run.family, run.test, run.todo, run.cache, run.device, opts_here, run.log,
                        run.amp) if run.todo else no_work

    t0 = time.perf_counter()
    mine = {sid: run.cache.get(sid) for sid in run.shard}
    info = {"rank": world.rank, "device": str(run.device), "samples": len(run.shard), "processed": len(run.todo),
            "reused": run.reused, "load_s": stats["load_s"], "predict_s": stats["predict_s"], "frames": stats["frames"],
            "test": short_hash([run.test.sample_ids, run.test.key], 16)}
    gathered = world.gather((info, mine), "gathering the per-sample outputs")
    if gathered is None:
        return None
    shards = [g[0] for g in gathered]
    done = _merge_shards(gathered, run.test.sample_ids, world)
    run.timings["gather_s"] = time.perf_counter() - t0
    run.timings.update(load_s=max(i["load_s"] for i in shards), predict_s=max(i["predict_s"] for i in shards))

    outputs, references = {}, {}
    for sid in run.test.sample_ids:
        out, ref, meta = done[sid]
        outputs[sid] = out
        references[sid] = {**ref, "meta": meta}
    return outputs, references, shards


def _unscored(run: _Run, n_samples: int) -> dict[str, Any]:
    """What a run on a participant copy returns: no labels, nothing scored, nothing recorded."""
    return {"scored": False, "task": run.header.to_dict(IDENTITY_KEYS),
            "model": {**run.model_info, "tag": run.tag}, "data": run.source.to_dict(),
            "n_samples": n_samples, "notes": run.notes,
            "files": {"submission": str(Path(run.opts.submission).resolve())}}


def _score(run: _Run, outputs: dict, references: dict):
    """Score the whole test set once (the family's own ``score``)."""
    t0 = time.perf_counter()
    score = run.family.score(run.task, outputs, references, n_boot=run.opts.n_boot, seed=run.opts.seed)
    run.timings["score_s"] = time.perf_counter() - t0
    run.timings["total_s"] = time.perf_counter() - run.started
    run.notes.extend(score.notes)
    return score


def _write(run: _Run, outputs: dict, references: dict, score, shards: list[dict]) -> dict[str, Any]:
    """Write the outputs, the per-sample table and ``record.json`` under the run's folder; return
    the record (its JSON form, with ``_path``)."""
    opts, family, world, timings = run.opts, run.family, run.world, run.timings
    # a --limit smoke run never replaces a full run's record; other seeds sit beside seed 0
    folder_name = run.tag + (f"@seed{opts.seed}" if opts.seed else "") + (f"@limit{opts.limit}" if opts.limit is not None else "")
    folder = run_dir(results_dir(opts.output), run.source.kind, run.task.name, folder_name)
    outputs_file = "outputs" + family.prediction_suffix(outputs)
    family.write_predictions(folder / outputs_file, outputs, references)
    if opts.submission:
        family.write_predictions(Path(opts.submission), outputs, references)
    with atomic_path(folder / "samples.csv") as tmp:
        score.rows.to_csv(tmp, index=False)
    processed = sum(i["processed"] for i in shards)
    busy = timings["load_s"] + timings["predict_s"]
    record = RunRecord(
        task=run.header,
        model={**run.model_info, "tag": run.tag},
        inputs=run.test.record,
        data=run.source.to_dict(),
        metrics={k: v.to_dict() for k, v in score.metrics.items()},
        primary_metric=run.task.primary_metric,
        directions=run.task.directions,
        n_samples=len(run.test.sample_ids),
        counts=score.counts,
        breakdowns=score.breakdowns,
        reportable=opts.limit is None,
        limit=opts.limit,
        seed=opts.seed,
        n_boot=opts.n_boot,
        precision=run.precision,
        environment={**environment(run.device), "world_size": world.size},
        distributed={"world_size": world.size, "backend": world.backend, "shards": shards} if world.size > 1 else None,
        timings=timings,
        throughput={"samples_per_s": processed / max(busy, 1e-9) if processed else None,
                    "frames_per_s": sum(i["frames"] for i in shards) / max(busy, 1e-9) if processed else None,
                    "samples_processed": processed, "samples_reused": sum(i["reused"] for i in shards)},
        notes=run.notes,
        files={"outputs": outputs_file, "samples": "samples.csv",
               "submission": str(Path(opts.submission).resolve()) if opts.submission else None},
        path=folder / "record.json")
    written = record.to_dict()
    write_json(record.path, written)
    written["_path"] = str(record.path)
    return written


def _merge_shards(gathered: list, sample_ids: list[str], world: distributed.World) -> dict[str, tuple]:
    """Rank 0: the ranks' outputs as one set, checked to hold every test sample exactly once."""
    first = gathered[0][0]["test"]
    for info, _ in gathered[1:]:
        if info["test"] != first:
            raise HarnessError(f"rank {info['rank']} built a different test set than rank 0 "
                               "(same command, different files?); nothing was scored")
    done: dict[str, tuple] = {}
    for info, part in gathered:
        twice = sorted(set(done) & set(part))
        if twice:
            raise HarnessError(f"sample(s) {twice[:3]} came from two ranks; nothing was scored")
        done.update(part)
    missing = [sid for sid in sample_ids if sid not in done]
    if missing or len(done) != len(sample_ids):
        raise HarnessError(f"{len(missing)} test sample(s) missing after gathering from {world.size} ranks "
                           f"(e.g. {missing[:3]}); nothing was scored")
    return done
