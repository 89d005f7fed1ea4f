"""The organizer's submissions store: one append-only JSON-lines log per task, ranked per phase.

On disk: ``<results>/submissions/<task>.jsonl``, one JSON object per line and per scoring of a
participant's file (``id``, ``seq``, UTC ``time``, task version and config hash, phase, team, file
hash, ``status`` scored|failed, ``metrics`` or participant-safe ``reasons``, directions, primary
metric, ``supersedes``, ``extra``). Appends hold an exclusive ``flock`` on ``<task>.jsonl.lock``
(the kernel drops it if the holder dies), are written in one ``write`` and fsync'd; ``seq`` is one
more than the largest in the file, so it is unique and orders submissions. A line torn by a killed
writer is skipped and reported (``SubmissionStore.skipped``); the next append starts on a new line.

Idempotency: the key is (task, task_version, config_hash, phase, team, file_hash, reference) —
``reference`` is the content digest of the ground truth the file was scored against. The same file
under the same scorer config and reference gets the same result, so a repeat returns the existing
entry — with
one exception: a *scored* result for a key whose earlier entry *failed* is appended (it names the
failure in ``supersedes``), since that failure came from the scorer or the machine (a bug fixed
since, a timeout), not from the file. A scored entry is never replaced; a later failure of the same
key returns it.

Ranking: only scored entries of the task's current version and config hash, scored against the
phase's latest reference (that of its newest scored entry; rescoring a phase against a corrected
reference replaces the board); one row per team (its best by the ranking rule, or its latest scored
with ``policy="latest"``), ordered and ranked by the run board's rule
(:data:`harness.leaderboard.RANK_RULE`): the ranked metrics in task order, primary first, each in
its direction, then the earlier submission (``submitted``: the upload time the organizer gave with
``--uploaded-at``, recorded as given, else ``time``: when the store received it; never a file's
modification time, which anyone can forge; then ``seq``); ranks are shared while 95% CIs overlap.

Phases: a submission's phase must be declared — by the task (``phases:``), else once per store
(``<store>/phases.json``, ``harness submissions phases --set``), else ``dev`` and ``final``. Each
entry also keeps ``data`` (``sample`` or ``real``: the reference's labels), shown on the board.
Undefined values sort last. Failed submissions are never ranked.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import re
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .errors import HarnessError, did_you_mean
from .files import json_default
from .records import results_dir
from .tables import CONTROL, fmt_number
from .task import Task, TaskIndex
from .upload import clip_reason

STATUSES = ("scored", "failed")
POLICIES = ("best", "latest")
#: phases every task has unless the task (``phases:``) or the store (``phases.json``) declares others
DEFAULT_PHASES = ("dev", "final")
PHASES_FILE = "phases.json"
ARROWS = {"min": "↓", "max": "↑"}
KEY_FIELDS = ("task", "task_version", "config_hash", "phase", "team", "file_hash", "reference")
REQUIRED = {"id", "seq", "time", "status", "metrics", *KEY_FIELDS} - {"reference"}  # older entries lack it
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


MAX_REASONS = 20       # failure reasons kept per entry


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HarnessError(f"{name} must be a non-empty string, got {str(value)[:100]!r}")
    if CONTROL.search(value):
        raise HarnessError(f"{name} must not hold control characters (newlines, tabs...), got {value[:100]!r}")
    return value


def entry_problem(entry: Any) -> str | None:
    """Why a parsed store line is not a usable entry (missing keys, wrong types), or None."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    missing = REQUIRED - entry.keys()
    if missing:
        return f"missing {', '.join(sorted(missing))}"
    bad = [k for k in ("seq", "task_version") if not isinstance(entry[k], int) or isinstance(entry[k], bool)]
    bad += [k for k in ("id", "time", "task", "config_hash", "phase", "team", "file_hash") if not isinstance(entry[k], str)]
    bad += [k for k in ("reference", "submitted") if entry.get(k) is not None and not isinstance(entry[k], str)]
    if entry["status"] not in STATUSES:
        bad.append("status")
    metrics = entry["metrics"]
    if (metrics is None and entry["status"] == "scored") or \
            (metrics is not None and not (isinstance(metrics, dict) and all(isinstance(v, dict) for v in metrics.values()))):
        bad.append("metrics")
    reasons = entry.get("reasons")
    if reasons is not None and not (isinstance(reasons, list) and all(isinstance(r, str) for r in reasons)):
        bad.append("reasons")
    bad += [k for k in ("extra", "directions") if not isinstance(entry.get(k, {}), dict)]
    return f"wrong type of {', '.join(bad)}" if bad else None


def clip_reasons(reasons: list[str] | None) -> list[str] | None:
    """At most :data:`MAX_REASONS` reasons of at most :data:`harness.upload.MAX_REASON` characters each."""
    if reasons is None:
        return None
    kept = [clip_reason(r) for r in reasons[:MAX_REASONS]]
    if len(reasons) > MAX_REASONS:
        kept[-1] = f"… and {len(reasons) - MAX_REASONS + 1} more problem(s)"
    return kept


def _number(value: Any) -> float | None:
    """A metric value as a float; None when it is missing, not a number or not finite."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and not isinstance(value, bool) else None


def metric_value(entry: dict, name: str) -> float | None:
    """A record's (or entry's) metric as a finite float; None when missing, undefined or not finite."""
    return _number(((entry.get("metrics") or {}).get(name) or {}).get("value"))


def _check_result(status: str, metrics: Any, reasons: Any, directions: Any, primary: str) -> None:
    if status not in STATUSES:
        raise HarnessError(f"status must be one of {STATUSES}, got {status!r}")
    if not isinstance(directions, dict) or not directions or any(d not in ARROWS for d in directions.values()):
        raise HarnessError(f"directions must map metric names to 'min' or 'max', got {directions!r}")
    if primary not in directions:
        raise HarnessError(f"primary metric {primary!r} has no direction in {sorted(directions)}")
    if status == "scored":
        if reasons:
            raise HarnessError("a scored submission carries metrics, not failure reasons")
        if not isinstance(metrics, dict) or not all(isinstance(v, dict) for v in metrics.values()):
            raise HarnessError("a scored submission needs metrics as {name: {'value': ..., 'n': ...}}")
        if metric_value({"metrics": metrics}, primary) is None:
            raise HarnessError(f"a scored submission needs a finite value of its primary metric {primary!r}; "
                               "record it as failed instead")
    elif metrics is not None or not isinstance(reasons, list) or not reasons \
            or not all(isinstance(r, str) and r for r in reasons):
        raise HarnessError("a failed submission needs a non-empty list of reasons and no metrics")


class SubmissionStore:
    """Append-only per-task logs of scored and failed submissions under ``folder``."""

    def __init__(self, folder: Path, lock_timeout: float = 30.0):
        self.folder = Path(folder)
        self.lock_timeout = lock_timeout
        #: problems met by the last read: torn or unreadable lines, each skipped
        self.skipped: list[str] = []
        #: scored entries the last ``ranked`` left out for another reference than the phase's latest
        self.other_reference = 0
        #: whether the last ``record`` appended an entry (False: it returned an existing one)
        self.appended = False

    def path(self, task: str) -> Path:
        if not isinstance(task, str) or not _SAFE_NAME.fullmatch(task):
            raise HarnessError(f"not a usable task name for the submissions store: {task!r}")
        return self.folder / f"{task}.jsonl"

    @contextlib.contextmanager
    def lock(self, task: str, exclusive: bool = True) -> Iterator[None]:
        """Hold the task's lock (shared for reading); waits up to ``lock_timeout`` seconds."""
        lock_path = self.path(task).with_name(f"{task}.jsonl.lock")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout
            mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
            while True:
                try:
                    fcntl.flock(fd, mode)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise HarnessError(f"locked by another process for {self.lock_timeout:g} s", lock_path) from None
                    time.sleep(0.002)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _read(self, task: str) -> tuple[list[dict], bytes]:
        """Valid entries and the raw bytes; call under the lock."""
        path = self.path(task)
        data = path.read_bytes() if path.exists() else b""
        entries, self.skipped = [], []
        lines = data.split(b"\n")
        for i, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except (ValueError, RecursionError):
                what = "torn last line (a write was interrupted)" if i == len(lines) else "unreadable line"
                self.skipped.append(f"{path}: line {i}: {what}, skipped")
                continue
            problem = entry_problem(entry)
            if problem:
                self.skipped.append(f"{path}: line {i}: not a valid entry ({problem}), skipped")
                continue
            entries.append(entry)
        return entries, data

    def entries(self, task: str, phase: str | None = None) -> list[dict]:
        """Every readable entry of a task (optionally one phase), in submission order."""
        if not self.path(task).exists():
            self.skipped = []
            return []
        with self.lock(task, exclusive=False):
            entries, _ = self._read(task)
        return [e for e in entries if phase is None or e["phase"] == phase]

    def record(self, *, task: str, task_version: int, config_hash: str, phase: str, team: str,
               file_hash: str, status: str, metrics: dict | None, reasons: list[str] | None,
               directions: dict[str, str], primary_metric: str, extra: dict | None = None,
               reference: str | None = None, submitted: str | None = None, data: str | None = None) -> dict:
        """Append one scoring of a file and return its entry (or the existing one: see the module doc)."""
        self.path(task)
        if not isinstance(task_version, int) or isinstance(task_version, bool) or task_version < 1:
            raise HarnessError(f"task_version must be a positive integer, got {task_version!r}")
        for name, value in (("config_hash", config_hash), ("phase", phase), ("team", team), ("file_hash", file_hash)):
            _text(name, value)
        _check_result(status, metrics, reasons, directions, primary_metric)
        if extra is not None and not isinstance(extra, dict):
            raise HarnessError(f"extra must be a mapping, got {type(extra).__name__}")
        if reference is not None:
            _text("reference", reference)
        if submitted is not None:
            _text("submitted", submitted)
        reasons = clip_reasons(reasons)
        key = (task, task_version, config_hash, phase, team, file_hash, reference)
        with self.lock(task):
            existing, raw = self._read(task)
            same = [e for e in existing if tuple(e.get(f) for f in KEY_FIELDS) == key]
            kept = next((e for e in same if e["status"] == "scored"), same[0] if same else None)
            if kept is not None and (kept["status"] == "scored" or status == "failed"):
                self.appended = False
                return kept
            seq = max((e["seq"] for e in existing), default=0) + 1
            entry = {"id": f"{seq:06d}-{secrets.token_hex(4)}", "seq": seq,
                     "time": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                     **dict(zip(KEY_FIELDS, key)), "status": status, "metrics": metrics, "reasons": reasons,
                     "directions": dict(directions), "primary_metric": primary_metric,
                     "supersedes": kept["id"] if kept else None, "extra": extra or {},
                     **({"submitted": submitted} if submitted else {}), **({"data": data} if data else {})}
            try:
                line = json.dumps(entry, default=json_default, ensure_ascii=False).encode()
            except TypeError as exc:
                raise HarnessError(f"submission entry cannot be stored: {exc}") from exc
            entry = json.loads(line)  # what a later read returns (numpy scalars as plain numbers)
            self._append(task, (b"\n" if raw and not raw.endswith(b"\n") else b"") + line + b"\n")
        self.appended = True
        return entry

    def _append(self, task: str, blob: bytes) -> None:
        path = self.path(task)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(blob)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # make the new file's name durable too
            dir_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def ranked(self, task: str | Task, phase: str, *, policy: str = "best") -> list[dict]:
        """Leaderboard rows of one phase, best first, by :data:`harness.leaderboard.RANK_RULE` (the
        run board's rule). Only entries scored against the phase's latest reference count;
        ``self.other_reference`` says how many scored entries were left out for having been scored
        against another one."""
        from .leaderboard import order_key, task_columns

        if policy not in POLICIES:
            raise HarnessError(f"unknown policy {policy!r} (one of {POLICIES})")
        task = load_task(task) if isinstance(task, str) else task
        columns = task_columns(task)

        def tiebreak(e: dict) -> str:
            return f"{e.get('submitted') or e['time']} #{e['seq']:09d}"

        def rank_key(e: dict) -> tuple:
            return order_key({c.name: metric_value(e, c.name) for c in columns}, columns, tiebreak(e))

        scored = [e for e in self.entries(task.name, phase)
                  if e["status"] == "scored" and e["task_version"] == task.version
                  and e["config_hash"] == task.config_hash and metric_value(e, task.primary_metric) is not None]
        current = max(scored, key=lambda e: e["seq"]).get("reference") if scored else None
        self.other_reference = sum(e.get("reference") != current for e in scored)
        scored = [e for e in scored if e.get("reference") == current]
        chosen: dict[str, dict] = {}
        for e in sorted(scored, key=rank_key if policy == "best" else lambda e: -e["seq"]):
            chosen.setdefault(e["team"], e)
        return [{"model": e["team"], "kind": "submission", "metrics": e["metrics"],
                 "n": e["metrics"][task.primary_metric].get("n"), "source": f"submission {e['id']} {e['time']}",
                 "note": "", "id": e["id"], "time": e.get("submitted") or e["time"], "tiebreak": tiebreak(e),
                 "data": e.get("data")}
                for e in sorted(chosen.values(), key=rank_key)]

    # ------------------------------------------------------------------ phases
    def phases(self, task: Task) -> tuple[tuple[str, ...], str]:
        """(declared phases, where they are declared): the task's ``phases:``, else the store's
        ``phases.json`` (``harness submissions phases --set``), else :data:`DEFAULT_PHASES`."""
        if task.phases:
            return tuple(task.phases), f"task {task.name} ({task.path.name})"
        path = self.folder / PHASES_FILE
        if not path.is_file():
            return DEFAULT_PHASES, "default"
        try:
            phases = json.loads(path.read_text(encoding="utf-8"))["phases"]
            return check_phase_names(phases, path), str(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HarnessError(f"unreadable phase declaration: {exc}", path) from exc

    def check_phase(self, task: Task, phase: str) -> str:
        """``phase`` if declared for ``task``; else one error with a did-you-mean and where phases are declared."""
        phases, where = self.phases(task)
        if phase in phases:
            return phase
        err = did_you_mean(str(phase), phases, "phase")
        raise HarnessError(f"{err.message} (phases: {where}; declare others once per store with harness submissions "
                           f"phases --set A,B, or as phases: in the task file)")

    def declare_phases(self, phases: list[str]) -> tuple[str, ...]:
        """Write the store's phase declaration (``phases.json``); tasks declaring their own keep theirs."""
        from .files import write_json

        phases = check_phase_names(phases, self.folder / PHASES_FILE)
        write_json(self.folder / PHASES_FILE, {"phases": list(phases)})
        return phases


def check_phase_names(phases: Any, where: Path) -> tuple[str, ...]:
    """A non-empty list of distinct file-name-safe phase names."""
    if not isinstance(phases, list) or not phases or len(set(phases)) != len(phases) \
            or not all(isinstance(p, str) and _SAFE_NAME.fullmatch(p) for p in phases):
        raise HarnessError(f"phases must be distinct names of letters, digits, '.', '_' or '-', got {phases!r}", where)
    return tuple(phases)


def load_task(name: str) -> Task:
    """One task (not a group) of the task index."""
    index = TaskIndex()
    if name in index.groups:
        raise HarnessError(f"{name!r} is a group; name one of its tasks: {', '.join(index.groups[name].tasks)}")
    if name not in index.tasks:
        raise did_you_mean(name, index.tasks, "task")
    return index.tasks[name]


def _store(args: argparse.Namespace) -> SubmissionStore:
    return SubmissionStore(results_dir(args.results) / "submissions")


def _report_skipped(store: SubmissionStore) -> None:
    for msg in store.skipped:
        print(f"harness: warning: {msg}", file=sys.stderr)


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    if not store.path(args.task).exists():
        load_task(args.task)  # an unknown name is an error, a known task just has no submissions yet
    if args.phase is not None:
        _known_phase(store, load_task(args.task), args.phase)
    entries = store.entries(args.task, args.phase)
    _report_skipped(store)
    if args.json:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print(f"no submissions for {args.task}" + (f" in phase {args.phase}" if args.phase else ""))
        return 0
    from tabulate import tabulate

    rows = []
    for e in entries:
        if e["status"] == "scored":
            result = ", ".join(f"{m}={fmt_number(metric_value(e, m), 3)}" for m in e["metrics"])
        else:
            result = "; ".join(e.get("reasons") or [])
        rows.append([e["id"], e["time"], e["phase"], e["team"], e["status"],
                     f"v{e['task_version']} {e['config_hash']}", e.get("data") or "–", e["file_hash"][:12], result])
    print(tabulate(rows, headers=["id", "time", "phase", "team", "status", "task", "data", "file", "result"],
                   tablefmt="github", disable_numparse=True))
    return 0


def _known_phase(store: SubmissionStore, task: Task, phase: str) -> None:
    """A phase to read: declared, or one that already holds entries (recorded before a declaration)."""
    if not any(e["phase"] == phase for e in store.entries(task.name)):
        store.check_phase(task, phase)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard import render, team_board, write

    store = _store(args)
    task = load_task(args.task)
    _known_phase(store, task, args.phase)
    rows = store.ranked(task, args.phase, policy=args.policy)
    _report_skipped(store)
    table = team_board(task, rows, args.phase, args.policy, store.other_reference)
    if not rows:
        phases = sorted({e["phase"] for e in store.entries(task.name)})
        table.notes.insert(0, "No scored submissions yet" + (f" (phases with entries: {', '.join(phases)})." if phases else "."))
    if args.out is None:
        print(render(table, args.format), end="")
        return 0
    for path, numbers in write(table, args.format, Path(args.out)):
        print(f"{path}" + (f"  ({', '.join(f'{k}={fmt_number(v)}' for k, v in numbers.items())})" if numbers else ""))
    return 0


def cmd_phases(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.set is not None:
        phases = store.declare_phases([p.strip() for p in args.set.split(",") if p.strip()])
        print(f"declared phases {', '.join(phases)} in {store.folder / PHASES_FILE} (tasks with their own phases: keep theirs)")
        return 0
    if args.task is None:
        raise HarnessError("give --task T to show its phases, or --set A,B to declare the store's")
    phases, where = store.phases(load_task(args.task))
    print(f"{args.task}: phases {', '.join(phases)} (declared by {where})")
    return 0


def add_cli(subparsers: Any) -> None:
    """``harness submissions list|leaderboard``."""
    from .leaderboard import FORMATS

    p = subparsers.add_parser("submissions", help="the organizer's submissions store: list entries, rank a phase "
                              "(the team board), declare phases")
    sub = p.add_subparsers(dest="submissions_command", required=True)
    ls = sub.add_parser("list", help="every submission of a task, failed ones with their reasons")
    ls.add_argument("--task", required=True)
    ls.add_argument("--phase", default=None)
    ls.add_argument("--results", default=None, help="results folder (default $HARNESS_RESULTS or ./results)")
    ls.add_argument("--json", action="store_true", help="print the entries as JSON")
    ls.set_defaults(func=cmd_list)
    lb = sub.add_parser("leaderboard", help="rank one phase's scored submissions, one row per team")
    lb.add_argument("--task", required=True)
    lb.add_argument("--phase", required=True)
    lb.add_argument("--results", default=None, help="results folder (default $HARNESS_RESULTS or ./results)")
    lb.add_argument("--policy", default="best", choices=POLICIES, help="each team's best or latest scored submission")
    lb.add_argument("--format", default="md", choices=list(FORMATS), help="the run board's formats (harness leaderboard), "
                    "from the same table model and ranking rule")
    lb.add_argument("--out", default=None, help="write <out>/<task>-<phase>.<ext>; print the path")
    lb.set_defaults(func=cmd_leaderboard)
    ph = sub.add_parser("phases", help="show a task's challenge phases, or declare the store's (--set)",
                        description="Phases a submission may be scored into: the task's own (phases: in its "
                        "file), else the store's declaration (phases.json, written by --set), else dev and final. "
                        "Any other --phase is refused with a did-you-mean.")
    ph.add_argument("--task", default=None)
    ph.add_argument("--set", default=None, metavar="A,B,...", help="declare the store's phases (comma-separated)")
    ph.add_argument("--results", default=None, help="results folder (default $HARNESS_RESULTS or ./results)")
    ph.set_defaults(func=cmd_phases)
