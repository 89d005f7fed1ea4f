"""``harness score --submissions DIR``: score a folder of submissions, one forked worker per
submission (at most ``--jobs`` at once), each under the time and memory limits of
:func:`harness.scoring.run_limited`, and record every one in the submissions store, failures
with participant-safe reasons.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import HarnessError
from .reference import load_references, say_reference
from .scoring import (INTERNAL_ERROR, limit_memory, peak_mb, record_head, score_limits, score_upload,
                      write_outputs)
from .upload import (MAX_BYTES, MAX_LISTED, Problems, Upload, clip_reason, parse_uploaded_at, read_csv,
                     read_regular, read_upload, safe_reason, unreadable_hash, upload_hash)

# ----------------------------------------------------------------------------- batch: a folder of submissions
_POLL_S = 0.05


@dataclasses.dataclass(frozen=True)
class Entry:
    """One submission of a batch: an entry of the submissions folder and the team it names."""

    index: int
    path: Path
    team: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclasses.dataclass
class _Batch:
    """What every worker needs; inherited by ``fork`` (references included), never pickled."""

    task: Any
    references: dict[str, Any]
    ref_info: dict
    many: bool
    n_boot: int
    seed: int
    max_bytes: int
    phase: str
    store_dir: Path
    output: Path | None
    time_limit: float
    memory_limit_mb: float | None
    outcomes: Path
    uploaded: dict[str, str] = dataclasses.field(default_factory=dict)  # team -> --uploaded-at time


def submission_entries(folder: Path) -> list[Entry]:
    """The submissions of a folder, one per entry (names starting with '.' ignored), sorted by name;
    the team is the entry's name without its suffix (a folder's whole name). Two entries naming the
    same team, an empty folder or a missing one are refused."""
    folder = Path(folder)
    if not folder.exists():
        raise HarnessError("the submissions folder does not exist", folder)
    if not folder.is_dir():
        raise HarnessError("--submissions must be a folder holding one file, folder or .zip per team", folder)
    items = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    if not items:
        raise HarnessError("the submissions folder holds no submissions", folder)
    from .submissions import _text

    teams: dict[str, list[str]] = {}
    for p in items:
        try:
            _text("a team name", p.name)
        except HarnessError as exc:
            raise HarnessError(f"an entry's name cannot be a team name: {exc.message}; rename it", folder) from None
        team = p.name if p.is_dir() else (p.stem or p.name)
        teams.setdefault(team, []).append(p.name)
    clashes = {t: names for t, names in teams.items() if len(names) > 1}
    if clashes:
        shown = "; ".join(f"team {t!r}: {', '.join(names)}" for t, names in sorted(clashes.items()))
        raise HarnessError(f"several entries name the same team ({shown}); keep one submission per team", folder)
    return [Entry(i, p, p.name if p.is_dir() else (p.stem or p.name)) for i, p in enumerate(items)]



def uploaded_times(path: str | None, teams: Sequence[str]) -> dict[str, str]:
    """``--uploaded-at FILE`` of batch mode: a CSV ``team,uploaded_at`` naming every team's upload time."""
    if path is None:
        return {}
    data = read_regular(Path(path), MAX_BYTES, what="the --uploaded-at file")
    problems = Problems()
    rows, _ = read_csv(Upload(str(path), data, ""), ("team", "uploaded_at"),
                       {"uploaded_at": lambda v: (v, None)}, problems)
    if problems:
        raise HarnessError("; ".join(problems.messages), path)
    missing = sorted(set(teams) - set(rows))
    if missing:
        raise HarnessError(f"no upload time for team(s) {', '.join(missing[:MAX_LISTED])}", path)
    return {team: parse_uploaded_at(rows[team]["uploaded_at"]) for team in teams}



def _record(batch: _Batch, entry: Entry, record: dict, organizer_log: list[str], rows, seconds: float,
            peak_mb: float | None) -> dict[str, Any]:
    """Store one submission's result (the locked store, as ``--team`` does), write its outputs, and
    return its outcome for the batch report."""
    from .submissions import SubmissionStore, metric_value

    task = batch.task
    if record["status"] == "scored" and metric_value(record, task.primary_metric) is None:
        record = {k: v for k, v in record.items() if k not in ("metrics", "counts", "notes", "n_samples")}
        record.update(status="failed", reasons=[f"the primary metric {task.primary_metric!r} is undefined for this submission"])
        rows = None
    stored = SubmissionStore(batch.store_dir).record(
        task=task.name, task_version=task.version, config_hash=task.config_hash, phase=batch.phase,
        team=entry.team, file_hash=record["file"]["sha256"], status=record["status"],
        metrics=record.get("metrics"), reasons=record.get("reasons"), directions=task.directions,
        primary_metric=task.primary_metric, reference=batch.ref_info.get("digest"), submitted=batch.uploaded.get(entry.team),
        extra={"seconds": round(seconds, 3), "peak_mb": peak_mb, "file": entry.name}, data=batch.ref_info.get("data"))
    if batch.output is not None:
        write_outputs(batch.output / entry.team, record, organizer_log, rows)
    return {"team": entry.team, "file": entry.name, "status": record["status"],
            "primary_metric": task.primary_metric, "value": metric_value(record, task.primary_metric),
            "metrics": record.get("metrics"), "reasons": record.get("reasons"),
            "seconds": round(seconds, 3), "peak_mb": peak_mb, "file_hash": record["file"]["sha256"],
            "entry": stored["id"], "entry_status": stored["status"], "seq": stored["seq"], "phase": batch.phase}


def _child(batch: _Batch, entry: Entry) -> None:
    """One worker process: validate and score one submission, record it, report the outcome."""
    import signal as _signal
    import time
    import traceback

    from .files import write_json

    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # the parent kills its children on Ctrl-C
    import torch

    torch.set_num_threads(1)  # fork + OpenMP + N parallel jobs
    started = time.monotonic()
    organizer: list[str] = [f"submission: {entry.path}"]
    rows = None
    file_hash: str | None = None
    limits = None
    try:
        if batch.memory_limit_mb is not None:
            limits = limit_memory(batch.memory_limit_mb)
        try:
            upload = read_upload(entry.path, batch.max_bytes, many=batch.many)
        except HarnessError:  # refused as it was read: its raw bytes identify it (reading again would refuse again)
            file_hash = unreadable_hash(entry.path)
            raise
        file_hash = upload.file_hash
        write_json(_hash_file(batch, entry), file_hash)  # for _death, should this worker die
        record = score_upload(batch.task, upload, batch.references, batch.ref_info,
                              n_boot=batch.n_boot, seed=batch.seed, max_bytes=batch.max_bytes)
        rows = record.pop("_rows", None)
        organizer = organizer + record.pop("organizer_log", [])
    except HarnessError as exc:  # a problem with the participant's file
        record = {"status": "failed", "reasons": [safe_reason(exc, entry.path)]}
        organizer.append(f"refused: {exc}")
    except MemoryError:
        record = {"status": "failed", "reasons": [f"scoring exceeded the memory limit of {batch.memory_limit_mb:g} MB"
                                                  if batch.memory_limit_mb is not None else "scoring ran out of memory"]}
        organizer.append("MemoryError while scoring")
    except Exception as exc:  # noqa: BLE001 -- any scorer failure is recorded, never raised
        detail = traceback.format_exc()
        if limits is not None and "allocate" in str(exc).lower():  # e.g. torch's allocator under the cap
            record = {"status": "failed", "reasons": [f"scoring exceeded the memory limit of {batch.memory_limit_mb:g} MB"]}
            organizer += ["allocation failure while scoring:", detail]
        else:
            record = {"status": "failed", "reasons": [INTERNAL_ERROR]}
            organizer += ["internal error while scoring:", detail]
            print(f"harness: {entry.name}: the scorer failed (internal error):\n{detail}", file=sys.stderr, flush=True)
    finally:
        if limits is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, limits)
    seconds = time.monotonic() - started
    if "file" not in record:
        record = {**record_head(batch.task, batch.ref_info, entry.name, file_hash or upload_hash(entry.path, batch.many, batch.max_bytes)),
                  **record}
    outcome = _record(batch, entry, record, organizer, rows, seconds, peak_mb())
    write_json(batch.outcomes / f"{entry.index}.json", outcome)


def _hash_file(batch: _Batch, entry: Entry) -> Path:
    """Where a worker leaves its upload's hash as soon as it has read it."""
    return batch.outcomes / f"{entry.index}.hash.json"


def _death(batch: _Batch, entry: Entry, exitcode: int | None, timed_out: bool, seconds: float) -> dict[str, Any]:
    """Record a submission whose worker left no outcome: killed for the time limit, or died."""
    import signal as _signal

    if timed_out:
        reason = f"scoring exceeded the time limit of {batch.time_limit:g} s"
    elif exitcode is not None and exitcode < 0:
        try:
            name = _signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        reason = f"the scorer process died (signal {name})"
        if batch.memory_limit_mb is not None:
            reason += f" — possibly the memory limit of {batch.memory_limit_mb:g} MB"
    else:
        reason = f"the scorer process died (exit code {exitcode})"
    known = _hash_file(batch, entry)  # the worker's, if it read the upload before it died; else read it here
    file_hash = json.loads(known.read_text(encoding="utf-8")) if known.is_file() else \
        upload_hash(entry.path, batch.many, batch.max_bytes)
    record = {**record_head(batch.task, batch.ref_info, entry.name, file_hash), "status": "failed", "reasons": [reason]}
    log = [f"submission: {entry.path}", f"worker: exit code {exitcode}, timed out: {timed_out}, {seconds:.1f} s"]
    return _record(batch, entry, record, log, None, seconds, None)


def _run_batch(batch: _Batch, entries: list[Entry], jobs: int) -> list[dict[str, Any]]:
    """One forked child per submission, at most ``jobs`` at once; a child past the time limit is
    killed (SIGKILL); a child that leaves no outcome is recorded here. Children are killed on any
    exception (Ctrl-C included) before it propagates."""
    import multiprocessing
    import multiprocessing.connection
    import time
    from collections import deque

    context = multiprocessing.get_context("fork")
    pending = deque(entries)
    running: dict[int, tuple[Any, Entry, float]] = {}
    outcomes: dict[int, dict[str, Any]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                entry = pending.popleft()
                proc = context.Process(target=_child, args=(batch, entry), name=f"harness-score-{entry.team}")
                proc.start()
                running[entry.index] = (proc, entry, time.monotonic())
            multiprocessing.connection.wait([p.sentinel for p, _, _ in running.values()], timeout=_POLL_S)
            now = time.monotonic()
            for index, (proc, entry, started) in list(running.items()):
                timed_out = proc.exitcode is None and now - started > batch.time_limit
                if proc.exitcode is None and not timed_out:
                    continue
                if timed_out:
                    proc.kill()
                proc.join()
                del running[index]
                result = batch.outcomes / f"{index}.json"
                if result.exists():  # it finished (perhaps just as the limit struck)
                    outcomes[index] = json.loads(result.read_text(encoding="utf-8"))
                else:
                    try:
                        outcomes[index] = _death(batch, entry, proc.exitcode, timed_out, now - started)
                    except HarnessError as exc:  # not even recordable: report it, go on with the others
                        print(f"harness: {entry.name}: could not be recorded: {exc}", file=sys.stderr, flush=True)
                        outcomes[index] = {"team": entry.team, "file": entry.name, "status": "failed",
                                           "primary_metric": batch.task.primary_metric, "value": None, "metrics": None,
                                           "reasons": [f"not recorded: {clip_reason(exc.message)}"],
                                           "seconds": round(now - started, 3), "peak_mb": None, "file_hash": None,
                                           "entry": None, "entry_status": None, "seq": None, "phase": batch.phase}
    finally:
        for proc, _, _ in running.values():
            proc.kill()
        for proc, _, _ in running.values():
            proc.join()
    return [outcomes[e.index] for e in entries]


def score_batch(task, args) -> int:
    """``harness score --submissions DIR``: score every submission of a folder in parallel workers;
    0 when every one scored, 1 when some were recorded failed."""
    import tempfile

    from .family import FAMILIES
    from .files import write_json
    from .records import results_dir

    jobs = 1 if args.jobs is None else args.jobs
    if jobs < 1:
        raise HarnessError(f"--jobs must be ≥ 1, got {jobs}")
    time_limit, memory_limit = score_limits(args)
    family = FAMILIES.get(task.family)
    from .submissions import SubmissionStore

    SubmissionStore(results_dir(args.results) / "submissions").check_phase(task, args.phase)
    entries = submission_entries(Path(args.submissions))
    uploaded = uploaded_times(getattr(args, "uploaded_at", None), [e.team for e in entries])
    references, ref_info = load_references(task, args.data_root, Path(args.reference) if args.reference else None)
    say_reference(ref_info)
    with tempfile.TemporaryDirectory(prefix="harness-score-") as tmp:
        batch = _Batch(task=task, references=references, ref_info=ref_info, many=family.many_file_predictions,
                       n_boot=args.n_boot, seed=0, max_bytes=MAX_BYTES, phase=args.phase,
                       store_dir=results_dir(args.results) / "submissions",
                       output=Path(args.output) if args.output else None, time_limit=time_limit,
                       memory_limit_mb=memory_limit, outcomes=Path(tmp), uploaded=uploaded)
        outcomes = _run_batch(batch, entries, jobs)
    if batch.output is not None:
        write_json(batch.output / "summary.json", {
            "task": task.name, "task_version": task.version, "config_hash": task.config_hash, "phase": args.phase,
            "reference": ref_info, "jobs": jobs, "time_limit_s": time_limit, "memory_limit_mb": memory_limit,
            "n_boot": args.n_boot, "submissions": outcomes})
    if args.json:
        print(json.dumps(outcomes, indent=2, default=str))
    else:
        from tabulate import tabulate

        rows = [[o["team"], o["status"],
                 f"{o['value']:.4f}" if o["status"] == "scored" and o["value"] is not None else
                 (o["reasons"] or [""])[0] + (f" (+{len(o['reasons']) - 1} more)" if len(o["reasons"] or []) > 1 else ""),
                 f"{o['seconds']:.1f}", "–" if o["peak_mb"] is None else f"{o['peak_mb']:.0f}",
                 "–" if o.get("seq") is None else f"#{o['seq']}"] for o in outcomes]
        print(tabulate(rows, headers=["team", "status", task.primary_metric, "seconds", "peak MB", "entry"],
                       tablefmt="github", disable_numparse=True))
        print(f"harness: recorded in phase {args.phase!r} ({ref_info.get('data') or 'unknown'} labels) of "
              f"{batch.store_dir / (task.name + '.jsonl')}")
    return 0 if all(o["status"] == "scored" for o in outcomes) else 1

