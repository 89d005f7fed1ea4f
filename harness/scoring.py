"""``harness score``: read a prediction file → validate it → score it with the family's own
``score`` (the same call ``harness run`` makes), so a run and an uploaded file cannot disagree.

Validation reports every problem in one pass, in messages that can be shown to participants:
they name ids, columns and counts, never a reference value. Organizer-only detail (paths,
internal errors) goes to a separate log. Family-agnostic pieces live here: upload unwrapping
(zip), size and binary checks, text decoding, and a strict CSV reader.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import stat
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Sequence

from .errors import HarnessError
from .results import content_digest, file_sha256

MAX_BYTES = 200 * 1024 * 1024   # a prediction file (or a zip's expanded content) may not exceed this
MAX_LISTED = 5                  # ids named per problem kind; the rest are counted


class Problems:
    """Participant-safe problems, collected in one pass, plus an organizer-only log."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.organizer: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def add_ids(self, what: str, ids: Sequence[str], total: int | None = None) -> None:
        """'3 missing ids: a, b, c' — the first few named, all counted."""
        if ids:
            count = total if total is not None else len(ids)
            shown = ", ".join(repr(i) for i in list(ids)[:MAX_LISTED]) + (", …" if count > MAX_LISTED else "")
            self.add(f"{count} {what}: {shown}")

    def __bool__(self) -> bool:
        return bool(self.messages)


@dataclasses.dataclass
class Upload:
    """A participant's file after unwrapping: its name, raw bytes and the hash of what was uploaded.
    A many-file prediction (a folder or a zip of files) has ``files``: relative name -> bytes."""

    name: str
    data: bytes
    file_hash: str
    files: dict[str, bytes] | None = None


def _mb(n: int) -> str:
    """A byte count for a message: ``"640.0 MB"`` (small counts in bytes)."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_upload(path: Path, max_bytes: int = MAX_BYTES, many: bool = False) -> Upload:
    """Read a prediction file or a ``.zip`` holding exactly one; with ``many`` (families whose
    predictions are many files), a folder or a zip of files. Unsafe or oversized archives are refused."""
    path = Path(path)
    if many and path.is_dir():
        return _read_folder(path, max_bytes)
    if not path.is_file():
        raise HarnessError("prediction file not found", path)
    size = path.stat().st_size
    if size == 0:
        raise HarnessError("the prediction file is empty", path)
    if size > max_bytes:
        raise HarnessError(f"the prediction file is {_mb(size)}; the limit is {_mb(max_bytes)}", path)
    raw = path.read_bytes()
    if path.suffix.lower() != ".zip":
        if many:
            raise HarnessError("predictions for this task are a folder or a .zip of files", path)
        return Upload(path.name, raw, sha256(raw))
    return _unzip(path, raw, max_bytes, many)


def _read_folder(path: Path, max_bytes: int) -> Upload:
    files: dict[str, bytes] = {}
    total = 0
    for f in sorted(path.rglob("*")):
        if f.is_symlink():
            raise HarnessError(f"the folder holds a link {f.relative_to(path)}; links are refused", path)
        if not f.is_file() or any(part.startswith(".") for part in f.relative_to(path).parts):
            continue
        total += f.stat().st_size
        if total > max_bytes:
            raise HarnessError(f"the folder holds more than {_mb(max_bytes)}", path)
        files[f.relative_to(path).as_posix()] = f.read_bytes()
    if not files:
        raise HarnessError("the prediction folder is empty", path)
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + sha256(data).encode())
    return Upload(path.name, b"", digest.hexdigest(), files)


def _unzip(path: Path, raw: bytes, max_bytes: int, many: bool) -> Upload:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise HarnessError("not a valid zip archive", path) from exc
    members = [m for m in archive.infolist() if not m.is_dir()]
    for m in archive.infolist():
        name = PurePosixPath(m.filename)
        if name.is_absolute() or m.filename.startswith(("/", "\\")) or ".." in name.parts or ":" in m.filename:
            raise HarnessError(f"the zip holds an unsafe path {m.filename!r}", path)
        if stat.S_ISLNK(m.external_attr >> 16):
            raise HarnessError(f"the zip holds a link {m.filename!r}; links are refused", path)
    if not many and len(members) != 1:
        raise HarnessError(f"the zip must hold exactly one prediction file, it holds {len(members)}", path)
    if not members:
        raise HarnessError("the zip holds no files", path)
    declared = sum(m.file_size for m in members)
    if declared > max_bytes:
        raise HarnessError(f"the zip expands to {_mb(declared)}; the limit is {_mb(max_bytes)}", path)
    files: dict[str, bytes] = {}
    total = 0
    for member in members:
        with archive.open(member) as fh:
            data = fh.read(max_bytes - total + 1)  # never trust the header's size alone
        total += len(data)
        if total > max_bytes:
            raise HarnessError(f"the zip expands beyond {_mb(max_bytes)}", path)
        files[member.filename] = data
    if not many:
        member = members[0]
        data = files[member.filename]
        if not data:
            raise HarnessError(f"{member.filename!r} inside the zip is empty", path)
        return Upload(PurePosixPath(member.filename).name, data, sha256(raw))
    return Upload(path.name, b"", sha256(raw), files)


def decode_text(upload: Upload) -> str:
    """UTF-8 text (a BOM is dropped, CRLF accepted); binary content is refused."""
    data = upload.data
    if b"\x00" in data[:8192]:
        raise HarnessError("the file is binary, not a text CSV", upload.name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HarnessError(f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8", upload.name) from exc
    if not text.strip():
        raise HarnessError("the file has no content", upload.name)
    return text


def read_csv(upload: Upload, header: Sequence[str], parse: dict[str, Callable[[str], tuple[Any, str | None]]],
             problems: Problems) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Strict CSV: exactly ``header`` (first column the unique id), comma-delimited, every value
    parsed by ``parse[column]`` → (value, problem or None). Returns (id → {column: value} for the
    rows without problems, every id seen); each problem is added to ``problems``."""
    text = decode_text(upload)
    first = text.splitlines()[0]
    for delim, name in ((";", "semicolons"), ("\t", "tabs")):
        if delim in first and "," not in first:
            raise HarnessError(f"the file uses {name} between columns; use commas (header {','.join(header)})", upload.name)
    reader = csv.reader(io.StringIO(text, newline=""))
    got = next(reader)
    if [c.strip() for c in got] != list(header) and sorted(c.strip() for c in got) == sorted(header):
        raise HarnessError(f"the columns are in another order: the header must be exactly {','.join(header)!r} "
                           f"(values in that order), got {','.join(got)!r}", upload.name)
    if [c.strip() for c in got] != list(header):
        raise HarnessError(f"the header must be exactly {','.join(header)!r}, got {','.join(got)!r}", upload.name)
    return parse_rows(enumerate(reader, start=2), header, parse, problems)


def read_whitespace(upload: Upload, columns: Sequence[str], parse: dict[str, Callable[[str], tuple[Any, str | None]]],
                    problems: Problems) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Header-less lines of whitespace-separated ``columns`` (first the unique id), e.g. the SVC
    challenges' ``<id> <score>`` text files; parsed and checked like :func:`read_csv`."""
    text = decode_text(upload)
    first = text.strip().splitlines()[0].split()
    layout = " ".join(f"<{c}>" for c in columns)
    is_number = lambda raw: number_in(-float("inf"), float("inf"))(raw)[1] != "not a number"  # noqa: E731
    if len(first) == 2 == len(columns) and is_number(first[0]) and not is_number(first[1]):
        raise HarnessError(f"the columns are swapped: each line is {layout}, the file has "
                           f"{' '.join(f'<{c}>' for c in reversed(columns))} (first line {' '.join(first)!r})", upload.name)
    if len(first) == len(columns) and not is_number(first[1]):
        raise HarnessError(f"the file must have no header line; each line is {layout}, "
                           f"got {' '.join(first)!r} first", upload.name)
    return parse_rows(((n, line.split()) for n, line in enumerate(text.splitlines(), start=1)), columns, parse, problems)


def parse_rows(lines: Iterable[tuple[int, list[str]]], header: Sequence[str],
                parse: dict[str, Callable[[str], tuple[Any, str | None]]], problems: Problems
                ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The shared row checks: field count, unique ids, each value parsed; problems collected."""
    rows: dict[str, dict[str, Any]] = {}
    seen: dict[str, None] = {}
    duplicates: list[str] = []
    bad_lines: list[int] = []
    bad_values: dict[str, list[str]] = {}
    for lineno, fields in lines:
        if not fields or all(not f.strip() for f in fields):
            continue  # blank line (e.g. a trailing newline)
        sample_id = fields[0].strip()
        if len(fields) != len(header) or not sample_id:
            bad_lines.append(lineno)
            continue
        if sample_id in seen:
            duplicates.append(sample_id)
            continue
        seen[sample_id] = None
        values, ok = {}, True
        for column, raw in zip(header[1:], fields[1:]):
            value, problem = parse[column](raw.strip())
            if problem:
                bad_values.setdefault(f"{column} {problem}", []).append(sample_id)
                ok = False
            values[column] = value
        if ok:
            rows[sample_id] = values
    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:MAX_LISTED]) + (", …" if len(bad_lines) > MAX_LISTED else "")
        problems.add(f"{len(bad_lines)} line(s) without exactly {len(header)} fields and an id: line {shown}")
    problems.add_ids("duplicate id(s)", sorted(set(duplicates)), len(duplicates))
    for what, ids in bad_values.items():
        problems.add_ids(f"row(s) with {what}", ids)
    return rows, list(seen)


def number_in(low: float, high: float, unit: str = "") -> Callable[[str], tuple[float | None, str | None]]:
    """A parser for a finite number in [low, high]."""
    def parse(raw: str) -> tuple[float | None, str | None]:
        try:
            value = float(raw)
        except ValueError:
            return None, "not a number"
        if value != value or value in (float("inf"), float("-inf")):
            return None, "not finite"
        if not low <= value <= high:
            return None, f"outside [{low:g}, {high:g}]{(' ' + unit) if unit else ''}"
        return value, None
    return parse


def check_ids(found: Sequence[str], expected: Sequence[str], problems: Problems, task_name: str) -> None:
    """The prediction ids must equal the reference ids: missing and unexpected ones counted and named."""
    found_set, expected_set = set(found), set(expected)
    if found_set and not found_set & expected_set:
        problems.add(f"none of the {len(found_set)} ids belongs to task {task_name!r} (a file for another task?)")
        return
    missing = sorted(expected_set - found_set)
    unexpected = sorted(found_set - expected_set)
    problems.add_ids("missing id(s)", missing)
    problems.add_ids("unexpected id(s)", unexpected)


# ----------------------------------------------------------------------------- the command
def reference_sidecar(path: Path) -> Path:
    """The description written beside an exported reference: ``<file or folder>.harness.json``."""
    return Path(path).with_name(Path(path).name + ".harness.json")


def write_reference_sidecar(path: Path, task, references: dict[str, Any], info: dict) -> dict:
    """Describe an exported reference (task name, version, config hash, content digest) beside it, so
    scoring can refuse a reference of another task or one changed since."""
    from .results import write_json

    meta = {"task": task.name, "version": task.version, "config_hash": task.config_hash, "family": task.family,
            "samples": len(references), "digest": content_digest(references), "data": info.get("kind"),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    write_json(reference_sidecar(path), meta)
    return meta


def load_references(task, data_root: str | Path | None = None, reference: Path | None = None) -> tuple[dict[str, Any], dict]:
    """(references, description) of a task: from the organizer's ``reference`` file, else from the
    datasets under ``data_root`` (default: the embedded sample). The description's ``digest``
    identifies the ground truth. A reference file whose sidecar names another task (or version,
    config, or content) is refused; a broken reference is the organizer's error (a
    :class:`HarnessError`)."""
    from .family import FAMILIES

    family = FAMILIES.get(task.family)
    family.check_task(task)
    if reference is not None:
        references, info = family.read_reference(task, Path(reference))
        info = {**info, "digest": content_digest(references), "data": None}
        sidecar = reference_sidecar(Path(reference))
        if not sidecar.is_file():
            return references, {**info, "warning": f"no {sidecar.name} beside the reference (written by harness data "
                                                   f"reference): cannot check that it belongs to {task.name}"}
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            exported = (meta["task"], meta["version"], meta["config_hash"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HarnessError(f"unreadable reference description: {exc}", sidecar) from exc
        if exported != (task.name, task.version, task.config_hash):
            raise HarnessError(f"this reference was exported for task {exported[0]} v{exported[1]} (config {exported[2]}), "
                               f"not {task.name} v{task.version} (config {task.config_hash}): export it again with "
                               f"harness data reference --task {task.name}", reference)
        if meta.get("digest") != info["digest"]:
            raise HarnessError(f"the reference changed after it was exported (content digest {info['digest']}, "
                               f"{sidecar.name} says {meta.get('digest')}): export it again", reference)
        return references, {**info, "checked": sidecar.name, "data": meta.get("data")}
    from .hfdata import references as data_references  # any data root, a datasets repository included
    from .hub import resolve_data_root

    references, info = data_references(family, task, resolve_data_root(str(data_root) if data_root else None)[0])
    return references, {**info, "digest": content_digest(references), "data": info.get("kind")}


def record_head(task, ref_info: dict, name: str, file_hash: str) -> dict[str, Any]:
    """What every score record starts with: the task (and its recipe), the file, the reference."""
    from .family import FAMILIES

    return {"task": {"name": task.name, "version": task.version, "config_hash": task.config_hash,
                     "family": task.family, "recipe": FAMILIES.get(task.family).recipe_record(task)},
            "file": {"name": name, "sha256": file_hash}, "reference": ref_info,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
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
               n_boot: int = 1000, seed: int = 0, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Validate and score one prediction file; return the score record (status scored or failed)."""
    from .family import FAMILIES

    family = FAMILIES.get(task.family)
    family.check_task(task)
    upload = read_upload(predictions, max_bytes, many=family.many_file_predictions)
    references, ref_info = load_references(task, data_root, reference)
    return score_upload(task, upload, references, ref_info, n_boot=n_boot, seed=seed, max_bytes=max_bytes)


def _write_outputs(out: Path, record: dict, organizer_log: list[str], rows) -> None:
    """``score.json``, ``organizer.log`` and (when scored) ``samples.csv`` under ``out``."""
    from .results import atomic_path, write_json

    write_json(out / "score.json", record)
    with atomic_path(out / "organizer.log") as tmp:
        tmp.write_text("\n".join(organizer_log) + "\n", encoding="utf-8")
    if rows is not None:
        with atomic_path(out / "samples.csv") as tmp:
            rows.to_csv(tmp, index=False)


def cmd_score(args) -> int:
    from .results import results_dir
    from .task import TaskIndex

    tasks = TaskIndex().resolve(args.task)
    if len(tasks) != 1:
        raise HarnessError(f"{args.task!r} is a group; score each of its tasks: {', '.join(t.name for t in tasks)}")
    task = tasks[0]
    if args.data_root and args.reference:
        raise HarnessError("give --data-root or --reference, not both")
    stores = getattr(args, "submissions", None) is not None or args.team
    if stores and not (args.reference or args.data_root):  # never rank against the synthetic sample by accident
        raise HarnessError("scoring into the submissions store needs the ground truth named: --reference FILE "
                           "(from harness data reference) or --data-root DIR (--data-root sample for the embedded sample)")
    if stores:  # a mistyped phase never opens a new one; checked before anything is read
        from .store import SubmissionStore

        SubmissionStore(results_dir(args.results) / "submissions").check_phase(task, args.phase)
    if getattr(args, "submissions", None) is not None:
        if args.team:
            raise HarnessError("--team is for a single --predictions file; with --submissions each entry's name is its team")
        return score_batch(task, args)
    given = [flag for flag, name in (("--jobs", "jobs"), ("--time-limit", "time_limit"), ("--memory-limit", "memory_limit"))
             if getattr(args, name, None) is not None]
    if given:
        raise HarnessError(f"{', '.join(given)} apply to --submissions (a folder of submissions), not to --predictions")
    predictions = Path(args.predictions)
    if not args.team:
        record = score_file(task, predictions, data_root=args.data_root,
                            reference=Path(args.reference) if args.reference else None, n_boot=args.n_boot)
    else:  # into the store: a reference problem is the organizer's; an unreadable upload is recorded failed
        references, ref_info = load_references(task, args.data_root, Path(args.reference) if args.reference else None)
        try:
            record = score_upload(task, predictions, references, ref_info, n_boot=args.n_boot)
        except HarnessError as exc:
            from .family import FAMILIES

            many = FAMILIES.get(task.family).many_file_predictions
            record = {**record_head(task, ref_info, predictions.name, upload_hash(predictions, many)),
                      "status": "failed", "reasons": [_safe_reason(exc, predictions)], "organizer_log": [f"refused: {exc}"]}
    _say_reference(record["reference"])
    rows = record.pop("_rows", None)
    organizer_log = record.pop("organizer_log", [])
    if args.output:
        _write_outputs(Path(args.output), record, organizer_log, rows)
    if args.team:
        from .store import SubmissionStore

        store = SubmissionStore(results_dir(args.results) / "submissions")
        entry = store.record(
            task=task.name, task_version=task.version, config_hash=task.config_hash, phase=args.phase,
            team=args.team, file_hash=record["file"]["sha256"], status=record["status"],
            metrics=record.get("metrics"), reasons=record.get("reasons"), directions=task.directions,
            primary_metric=task.primary_metric, reference=record["reference"].get("digest"),
            submitted=submitted_time(Path(args.predictions)), data=record["reference"].get("data"))
        record["submission"] = recorded(entry, store)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    elif record["status"] == "failed":
        print(f"{args.predictions}: invalid submission ({len(record['reasons'])} problem(s)):", file=sys.stderr)
        for reason in record["reasons"]:
            print(f"  - {reason}", file=sys.stderr)
    else:
        from .cli import metrics_table

        print(metrics_table([record]))
    if args.team and not args.json:
        print(confirmation(record["submission"]), file=sys.stderr if record["status"] == "failed" else sys.stdout)
    return 2 if record["status"] == "failed" else 0


def recorded(entry: dict, store) -> dict[str, Any]:
    """What the store kept for a scoring: the entry's id, sequence number, team, phase, status and
    data kind, and whether it is new (``False``: the same file, config and reference were scored before)."""
    return {"id": entry["id"], "seq": entry["seq"], "team": entry["team"], "phase": entry["phase"],
            "status": entry["status"], "data": entry.get("data") or "unknown",
            "store": str(store.path(entry["task"])), "new": store.appended}


def confirmation(rec: dict[str, Any]) -> str:
    """One line confirming what the store recorded."""
    how = "recorded" if rec["new"] else "already recorded (same file, task config and reference): kept"
    return (f"harness: {how} submission #{rec['seq']} ({rec['id']}) of team {rec['team']!r} in phase "
            f"{rec['phase']!r}: {rec['status']}, {rec['data']} labels — {rec['store']}")


def _say_reference(info: dict) -> None:
    """Tell the organizer what the scores are against when it is not a checked reference file."""
    if info.get("warning"):
        print(f"harness: warning: {info['warning']}", file=sys.stderr)
    if info.get("kind") == "sample":
        print("harness: note: scored against the embedded synthetic sample (no --reference or --data-root given)",
              file=sys.stderr)


def submitted_time(path: Path) -> str | None:
    """When a submission arrived: its file's modification time (UTC, ISO), the ranking's tie-break."""
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        return None
    return dt.datetime.fromtimestamp(mtime, dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------- batch: a folder of submissions
INTERNAL_ERROR = "the scorer failed on this submission (internal error; the organizer log has details)"
DEFAULT_TIME_LIMIT = 600.0
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
    teams: dict[str, list[str]] = {}
    for p in items:
        team = p.name if p.is_dir() else (p.stem or p.name)
        teams.setdefault(team, []).append(p.name)
    clashes = {t: names for t, names in teams.items() if len(names) > 1}
    if clashes:
        shown = "; ".join(f"team {t!r}: {', '.join(names)}" for t, names in sorted(clashes.items()))
        raise HarnessError(f"several entries name the same team ({shown}); keep one submission per team", folder)
    return [Entry(i, p, p.name if p.is_dir() else (p.stem or p.name)) for i, p in enumerate(items)]


def raw_hash(path: Path) -> str:
    """sha256 of a file's bytes; for a folder, of its relative names and contents (links by their
    target text). The store's idempotency key of a submission that cannot be read as an upload."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
                f = Path(root, name)
                rel = f.relative_to(path).as_posix()
                if f.is_symlink():
                    content = sha256(os.readlink(f).encode())
                elif f.is_file():
                    content = file_sha256(f)
                else:
                    content = ""
                digest.update(rel.encode() + b"\0" + content.encode() + b"\n")
        return digest.hexdigest()
    return file_sha256(path) if path.is_file() else sha256(b"")


def upload_hash(path: Path, many: bool, max_bytes: int = MAX_BYTES) -> str:
    """The file hash a worker records for ``path``: :func:`read_upload`'s, or the raw bytes' hash
    when the upload cannot be read (empty file, bad zip, oversized)."""
    try:
        return read_upload(path, max_bytes, many=many).file_hash
    except HarnessError:
        return raw_hash(path)


def _safe_reason(exc: HarnessError, path: Path) -> str:
    """A HarnessError's message without any path but the entry's own name."""
    message = exc.message
    for prefix in sorted({str(path.resolve().parent), str(path.parent), str(path.resolve()), str(path)}, key=len, reverse=True):
        if prefix and prefix != ".":
            message = message.replace(prefix + os.sep, "").replace(prefix, path.name)
    return message


def _limit_memory(mb: float) -> tuple[int, int]:
    """Cap this process's address space at its current virtual size + ``mb`` MB; return the old limits."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    cap = pages * os.sysconf("SC_PAGE_SIZE") + int(mb * 1024 * 1024)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return soft, hard


def _peak_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux


def _record(batch: _Batch, entry: Entry, record: dict, organizer_log: list[str], rows, seconds: float,
            peak_mb: float | None) -> dict[str, Any]:
    """Store one submission's result (the locked store, as ``--team`` does), write its outputs, and
    return its outcome for the batch report."""
    from .store import SubmissionStore, metric_value

    task = batch.task
    if record["status"] == "scored" and metric_value(record, task.primary_metric) is None:
        record = {k: v for k, v in record.items() if k not in ("metrics", "counts", "notes", "n_samples")}
        record.update(status="failed", reasons=[f"the primary metric {task.primary_metric!r} is undefined for this submission"])
        rows = None
    stored = SubmissionStore(batch.store_dir).record(
        task=task.name, task_version=task.version, config_hash=task.config_hash, phase=batch.phase,
        team=entry.team, file_hash=record["file"]["sha256"], status=record["status"],
        metrics=record.get("metrics"), reasons=record.get("reasons"), directions=task.directions,
        primary_metric=task.primary_metric, reference=batch.ref_info.get("digest"), submitted=submitted_time(entry.path),
        extra={"seconds": round(seconds, 3), "peak_mb": peak_mb, "file": entry.name}, data=batch.ref_info.get("data"))
    if batch.output is not None:
        _write_outputs(batch.output / entry.team, record, organizer_log, rows)
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

    from .results import write_json

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
            limits = _limit_memory(batch.memory_limit_mb)
        if entry.path.is_symlink():
            raise HarnessError("the submission is a link; links are refused")
        if entry.path.is_dir() and not batch.many:
            raise HarnessError("a folder is not a prediction file for this task; submit one file (or a .zip holding one)")
        upload = read_upload(entry.path, batch.max_bytes, many=batch.many)
        file_hash = upload.file_hash
        record = score_upload(batch.task, upload, batch.references, batch.ref_info,
                              n_boot=batch.n_boot, seed=batch.seed, max_bytes=batch.max_bytes)
        rows = record.pop("_rows", None)
        organizer = organizer + record.pop("organizer_log", [])
    except HarnessError as exc:  # a problem with the participant's file
        record = {"status": "failed", "reasons": [_safe_reason(exc, entry.path)]}
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
    outcome = _record(batch, entry, record, organizer, rows, seconds, _peak_mb())
    write_json(batch.outcomes / f"{entry.index}.json", outcome)


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
    record = {**record_head(batch.task, batch.ref_info, entry.name, upload_hash(entry.path, batch.many, batch.max_bytes)),
              "status": "failed", "reasons": [reason]}
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
                    outcomes[index] = _death(batch, entry, proc.exitcode, timed_out, now - started)
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
    from .results import results_dir, write_json

    jobs = 1 if args.jobs is None else args.jobs
    if jobs < 1:
        raise HarnessError(f"--jobs must be ≥ 1, got {jobs}")
    time_limit = DEFAULT_TIME_LIMIT if args.time_limit is None else args.time_limit
    if not time_limit > 0:
        raise HarnessError(f"--time-limit must be > 0 seconds, got {time_limit:g}")
    if args.memory_limit is not None and not args.memory_limit > 0:
        raise HarnessError(f"--memory-limit must be > 0 MB, got {args.memory_limit:g}")
    family = FAMILIES.get(task.family)
    from .store import SubmissionStore

    SubmissionStore(results_dir(args.results) / "submissions").check_phase(task, args.phase)
    entries = submission_entries(Path(args.submissions))
    references, ref_info = load_references(task, args.data_root, Path(args.reference) if args.reference else None)
    _say_reference(ref_info)
    with tempfile.TemporaryDirectory(prefix="harness-score-") as tmp:
        batch = _Batch(task=task, references=references, ref_info=ref_info, many=family.many_file_predictions,
                       n_boot=args.n_boot, seed=0, max_bytes=MAX_BYTES, phase=args.phase,
                       store_dir=results_dir(args.results) / "submissions",
                       output=Path(args.output) if args.output else None, time_limit=float(time_limit),
                       memory_limit_mb=args.memory_limit, outcomes=Path(tmp))
        outcomes = _run_batch(batch, entries, jobs)
    if batch.output is not None:
        write_json(batch.output / "summary.json", {
            "task": task.name, "task_version": task.version, "config_hash": task.config_hash, "phase": args.phase,
            "reference": ref_info, "jobs": jobs, "time_limit_s": time_limit, "memory_limit_mb": args.memory_limit,
            "n_boot": args.n_boot, "submissions": outcomes})
    if args.json:
        print(json.dumps(outcomes, indent=2, default=str))
    else:
        from tabulate import tabulate

        rows = [[o["team"], o["status"],
                 f"{o['value']:.4f}" if o["status"] == "scored" and o["value"] is not None else
                 (o["reasons"] or [""])[0] + (f" (+{len(o['reasons']) - 1} more)" if len(o["reasons"] or []) > 1 else ""),
                 f"{o['seconds']:.1f}", "–" if o["peak_mb"] is None else f"{o['peak_mb']:.0f}",
                 f"#{o['seq']}"] for o in outcomes]
        print(tabulate(rows, headers=["team", "status", task.primary_metric, "seconds", "peak MB", "entry"],
                       tablefmt="github", disable_numparse=True))
        print(f"harness: recorded in phase {args.phase!r} ({ref_info.get('data') or 'unknown'} labels) of "
              f"{batch.store_dir / (task.name + '.jsonl')}")
    return 0 if all(o["status"] == "scored" for o in outcomes) else 1


SCORE_EPILOG = """\
Batch mode (--submissions DIR): each entry of DIR (names starting with '.' ignored) is one team's
submission, named by the entry without its suffix (teamA.csv, teamB/, teamC.zip -> teamA, teamB,
teamC); every one is validated, scored in its own worker process (at most --jobs at once) and
recorded in the submissions store under --phase, failures with participant-safe reasons. The
reference is read once, before any worker starts. Exit codes: 0 when the file (every submission)
scored; single file: 2 when it is refused; --submissions: 1 when the batch completed but some
submissions were recorded failed; 2 for an organizer error (bad options, missing or empty folder,
two entries for one team, a broken reference); 130 when interrupted (running workers are killed)."""


def add_cli(sub) -> None:
    import argparse

    p = sub.add_parser("score", help="validate and score a prediction file (or a folder of submissions) against the task's reference",
                       epilog=SCORE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--predictions", help="prediction file in the task family's format (below; a .zip holding one file is accepted too)")
    what.add_argument("--submissions", default=None, help="organizer batch: a folder with one prediction file, folder or "
                      ".zip per team (the team is the name without its suffix); each is scored in its own worker "
                      "process and recorded in the submissions store")
    p.add_argument("--data-root", default=None, help="read the reference from the datasets: a folder, "
                   "hf://datasets/ORG/NAME[@REV] or 'sample' (a single file without --team: the embedded sample by default)")
    p.add_argument("--reference", default=None, help="organizer's reference file instead of the datasets")
    p.add_argument("--output", default=None, help="write score.json, organizer.log and samples.csv here "
                   "(--submissions: under <output>/<team>/, plus <output>/summary.json)")
    p.add_argument("--team", default=None, help="record the submission under this team in the submissions store (--predictions only)")
    p.add_argument("--phase", default="final", help="challenge phase the submission belongs to (with --team or "
                   "--submissions; default: final)")
    p.add_argument("--results", default=None, help="results folder holding the submissions store "
                   "(default $HARNESS_RESULTS or ./results)")
    p.add_argument("--jobs", type=int, default=None, help="--submissions: worker processes at once (default 1)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help=f"--submissions: wall-clock seconds one submission's worker may run (validation, scoring and "
                        f"recording) before it is killed and the submission recorded failed (default {DEFAULT_TIME_LIMIT:g})")
    p.add_argument("--memory-limit", type=float, default=None, metavar="MB",
                   help="--submissions: memory (MB) scoring one submission may allocate beyond the scorer's own "
                        "footprint: each worker caps its address space (RLIMIT_AS) at its virtual size when it starts "
                        "(the forked scorer with the loaded reference) plus this. It bounds virtual, not resident, "
                        "memory, so allow headroom for libraries that reserve address space. A submission exceeding it "
                        "is recorded failed. Default: no limit")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs (0: none)")
    p.add_argument("--json", action="store_true", help="print the score record (--submissions: a JSON list of outcomes)")
    p.set_defaults(func=cmd_score)
    plain_help = p.format_help

    def format_help() -> str:  # the families' formats, loaded only when help is shown
        from .family import prediction_formats_text

        p.epilog = f"{SCORE_EPILOG}\n\nPrediction formats (each family declares its own):\n{prediction_formats_text()}"
        return plain_help()

    p.format_help = format_help
