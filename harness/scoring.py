"""Score one upload: read a prediction file → validate it → score it with the family's own
``score`` (the same call ``harness run`` makes), so a run and an uploaded file cannot disagree.
Scoring runs in a forked worker under time and memory limits (:func:`run_limited`), the limits
batch mode (:mod:`harness.batch`) applies to every submission.

Validation reports every problem in one pass, in messages that can be shown to participants:
they name ids, columns and counts, never a reference value. Organizer-only detail (paths,
internal errors) goes to a separate log.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

from .errors import HarnessError
from .records import SCORE_TASK_KEYS, TaskHeader, utc_now
from .reference import load_references
from .upload import MAX_BYTES, Problems, Upload, read_upload

DEFAULT_TIME_LIMIT = 600.0      # seconds one submission may take to read, validate and score
DEFAULT_MEMORY_LIMIT = 4096.0   # MB one submission's scoring may allocate beyond the scorer's own footprint
INTERNAL_ERROR = "the scorer failed on this submission (internal error; the organizer log has details)"


def record_head(task, ref_info: dict, name: str, file_hash: str) -> dict[str, Any]:
    """What every score record starts with: the task (and its recipe), the file, the reference."""
    from .family import FAMILIES

    return {"task": TaskHeader.of(task, FAMILIES.get(task.family)).to_dict(SCORE_TASK_KEYS),
            "file": {"name": name, "sha256": file_hash}, "reference": ref_info, "created": utc_now(),
            "primary_metric": task.primary_metric, "directions": task.directions}


def score_upload(task, predictions: Path | Upload, references: dict[str, Any], ref_info: dict, *,
                 n_boot: int = 1000, seed: int = 0, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Validate and score one prediction (a path, or an already read :class:`Upload`) against
    already loaded references; return the score record (status scored or failed)."""
    from .family import FAMILIES

    family = FAMILIES.get(task.family)
    upload = predictions if isinstance(predictions, Upload) else \
        read_upload(predictions, max_bytes, many=family.many_file_predictions)
    problems = Problems()
    problems.organizer.append(f"reference: {ref_info}")
    outputs = family.read_predictions(task, upload, references, problems)
    record = record_head(task, ref_info, upload.name, upload.file_hash)
    if problems:
        return {**record, "status": "failed", "reasons": problems.messages, "organizer_log": problems.organizer}
    score = family.score(task, outputs, references, n_boot=n_boot, seed=seed)
    return {**record, "status": "scored", "metrics": {k: v.to_dict() for k, v in score.metrics.items()},
            "counts": score.counts, "notes": score.notes, "organizer_log": problems.organizer,
            "n_samples": len(outputs), "_rows": score.rows}


def score_file(task, predictions: Path, *, data_root: str | None = None, reference: Path | None = None,
               n_boot: int = 1000, seed: int = 0, max_bytes: int = MAX_BYTES,
               time_limit: float | None = DEFAULT_TIME_LIMIT, memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT
               ) -> dict[str, Any]:
    """Validate and score one prediction file; return the score record (status scored or failed).
    The upload is read and scored under the time and memory limits of batch mode
    (:func:`run_limited`); an unreadable upload, or one that exceeds a limit, is a :class:`HarnessError`."""
    from .family import FAMILIES

    FAMILIES.get(task.family).check_task(task)
    references, ref_info = load_references(task, data_root, reference)
    return run_limited(lambda: score_upload(task, Path(predictions), references, ref_info, n_boot=n_boot, seed=seed,
                                            max_bytes=max_bytes),
                       time_limit=time_limit, memory_limit_mb=memory_limit_mb)


def _limited_child(fn: Callable[[], Any], out: Path, memory_limit_mb: float | None) -> None:
    """In the forked child: cap memory, run ``fn``, leave ("ok", result) or the failure in ``out``."""
    import pickle
    import signal as _signal
    import traceback

    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)
    limits = None
    try:
        if memory_limit_mb is not None:
            limits = limit_memory(memory_limit_mb)
        outcome: tuple = ("ok", fn())
    except HarnessError as exc:
        outcome = ("refused", exc.message, exc.path)
    except MemoryError:
        outcome = ("memory",)
    except Exception as exc:  # noqa: BLE001
        outcome = ("memory",) if memory_limit_mb is not None and "allocate" in str(exc).lower() \
            else ("internal", traceback.format_exc())
    finally:
        if limits is not None:  # the cap is for the scoring, not for handing its result back (as batch does)
            import resource

            resource.setrlimit(resource.RLIMIT_AS, limits)
    try:
        blob = pickle.dumps(outcome)  # our own child's result, never participant bytes
    except MemoryError:
        blob = pickle.dumps(("memory",))
    out.write_bytes(blob)


def run_limited(fn: Callable[[], Any], *, time_limit: float | None = DEFAULT_TIME_LIMIT,
                memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT) -> Any:
    """``fn()`` in a forked worker under batch mode's limits: killed after ``time_limit`` seconds,
    address space capped at its starting size + ``memory_limit_mb`` MB. A :class:`HarnessError`
    raised in the worker is raised here (same message); a limit exceeded, a dead worker or an
    internal error is a :class:`HarnessError` with a participant-safe message (the internal
    traceback goes to stderr, for the organizer). Both limits ``None``: ``fn()`` runs here."""
    import multiprocessing
    import pickle
    import tempfile

    if time_limit is None and memory_limit_mb is None:
        return fn()
    with tempfile.TemporaryDirectory(prefix="harness-score-") as tmp:
        out = Path(tmp) / "outcome.pickle"
        proc = multiprocessing.get_context("fork").Process(target=_limited_child, args=(fn, out, memory_limit_mb),
                                                            name="harness-score")
        proc.start()
        try:
            proc.join(time_limit)
        finally:
            if proc.exitcode is None:
                proc.kill()
                proc.join()
        if not out.exists():
            if time_limit is not None and proc.exitcode == -9:
                raise HarnessError(f"scoring exceeded the time limit of {time_limit:g} s")
            reason = f"the scorer process died (exit code {proc.exitcode})"
            if memory_limit_mb is not None:
                reason += f" — possibly the memory limit of {memory_limit_mb:g} MB"
            raise HarnessError(reason)
        outcome = pickle.loads(out.read_bytes())
    if outcome[0] == "ok":
        return outcome[1]
    if outcome[0] == "refused":
        raise HarnessError(outcome[1], outcome[2])
    if outcome[0] == "memory":
        raise HarnessError(f"scoring exceeded the memory limit of {memory_limit_mb:g} MB" if memory_limit_mb
                           else "scoring ran out of memory")
    print(f"harness: the scorer failed (internal error):\n{outcome[1]}", file=sys.stderr, flush=True)
    raise HarnessError(INTERNAL_ERROR)


def write_outputs(out: Path, record: dict, organizer_log: list[str], rows) -> None:
    """``score.json``, ``organizer.log`` and (when scored) ``samples.csv`` under ``out``."""
    from .files import atomic_path, write_json

    write_json(out / "score.json", record)
    with atomic_path(out / "organizer.log") as tmp:
        tmp.write_text("\n".join(organizer_log) + "\n", encoding="utf-8")
    if rows is not None:
        with atomic_path(out / "samples.csv") as tmp:
            rows.to_csv(tmp, index=False)



def score_limits(args) -> tuple[float, float | None]:
    """(time limit in s, memory limit in MB or None) from ``--time-limit``/``--memory-limit``, with
    the defaults; ``--memory-limit 0`` turns the memory limit off."""
    time_limit = DEFAULT_TIME_LIMIT if args.time_limit is None else args.time_limit
    if not time_limit > 0:
        raise HarnessError(f"--time-limit must be > 0 seconds, got {time_limit:g}")
    memory = DEFAULT_MEMORY_LIMIT if args.memory_limit is None else args.memory_limit
    if not memory >= 0:
        raise HarnessError(f"--memory-limit must be ≥ 0 MB (0: no limit), got {memory:g}")
    return float(time_limit), (float(memory) or None)



def limit_memory(mb: float) -> tuple[int, int]:
    """Cap this process's address space at its current virtual size + ``mb`` MB; return the old limits."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    cap = pages * os.sysconf("SC_PAGE_SIZE") + int(mb * 1024 * 1024)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return soft, hard


def peak_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux

