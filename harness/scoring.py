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
import stat
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Sequence

from .errors import HarnessError

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
        raise HarnessError(f"the prediction file is {size} bytes; the limit is {max_bytes}", path)
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
            raise HarnessError(f"the folder holds more than {max_bytes} bytes", path)
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
        raise HarnessError(f"the zip expands to {declared} bytes; the limit is {max_bytes}", path)
    files: dict[str, bytes] = {}
    total = 0
    for member in members:
        with archive.open(member) as fh:
            data = fh.read(max_bytes - total + 1)  # never trust the header's size alone
        total += len(data)
        if total > max_bytes:
            raise HarnessError(f"the zip expands beyond {max_bytes} bytes", path)
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
    if [c.strip() for c in got] != list(header):
        raise HarnessError(f"the header must be exactly {','.join(header)!r}, got {','.join(got)!r}", upload.name)
    return parse_rows(enumerate(reader, start=2), header, parse, problems)


def read_whitespace(upload: Upload, columns: Sequence[str], parse: dict[str, Callable[[str], tuple[Any, str | None]]],
                    problems: Problems) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Header-less lines of whitespace-separated ``columns`` (first the unique id), e.g. the SVC
    challenges' ``<id> <score>`` text files; parsed and checked like :func:`read_csv`."""
    text = decode_text(upload)
    first = text.strip().splitlines()[0].split()
    if len(first) == len(columns) and number_in(-float("inf"), float("inf"))(first[1])[1] == "not a number":
        raise HarnessError(f"the file must have no header line; each line is {' '.join(f'<{c}>' for c in columns)}, "
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
def score_file(task, predictions: Path, *, data_root: str | None = None, reference: Path | None = None,
               n_boot: int = 1000, seed: int = 0, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Validate and score one prediction file; return the score record (status scored or failed)."""
    from .family import FAMILIES

    family = FAMILIES.get(task.family)
    family.check_task(task)
    upload = read_upload(predictions, max_bytes, many=family.many_file_predictions)
    problems = Problems()
    if reference is not None:
        references, ref_info = family.read_reference(task, Path(reference))
    else:
        references, ref_info = family.references(task, Path(data_root) if data_root else None)
    problems.organizer.append(f"reference: {ref_info}")
    outputs = family.read_predictions(task, upload, references, problems)
    record: dict[str, Any] = {
        "task": {"name": task.name, "version": task.version, "config_hash": task.config_hash,
                 "family": task.family, "recipe": family.recipe_record(task)},
        "file": {"name": upload.name, "sha256": upload.file_hash},
        "reference": ref_info,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "primary_metric": task.primary_metric, "directions": task.directions,
    }
    if problems:
        return {**record, "status": "failed", "reasons": problems.messages, "organizer_log": problems.organizer}
    score = family.score(task, outputs, references, n_boot=n_boot, seed=seed)
    return {**record, "status": "scored", "metrics": {k: v.to_dict() for k, v in score.metrics.items()},
            "counts": score.counts, "notes": score.notes, "organizer_log": problems.organizer,
            "n_samples": len(outputs), "_rows": score.rows}


def cmd_score(args) -> int:
    from .results import atomic_path, results_dir, write_json
    from .task import TaskIndex

    tasks = TaskIndex().resolve(args.task)
    if len(tasks) != 1:
        raise HarnessError(f"{args.task!r} is a group; score each of its tasks: {', '.join(t.name for t in tasks)}")
    task = tasks[0]
    if args.data_root and args.reference:
        raise HarnessError("give --data-root or --reference, not both")
    record = score_file(task, Path(args.predictions), data_root=args.data_root,
                        reference=Path(args.reference) if args.reference else None, n_boot=args.n_boot)
    rows = record.pop("_rows", None)
    organizer_log = record.pop("organizer_log", [])
    if args.output:
        out = Path(args.output)
        write_json(out / "score.json", record)
        with atomic_path(out / "organizer.log") as tmp:
            tmp.write_text("\n".join(organizer_log) + "\n", encoding="utf-8")
        if rows is not None:
            with atomic_path(out / "samples.csv") as tmp:
                rows.to_csv(tmp, index=False)
    if args.team:
        from .store import SubmissionStore

        SubmissionStore(results_dir(args.results) / "submissions").record(
            task=task.name, task_version=task.version, config_hash=task.config_hash, phase=args.phase,
            team=args.team, file_hash=record["file"]["sha256"], status=record["status"],
            metrics=record.get("metrics"), reasons=record.get("reasons"), directions=task.directions,
            primary_metric=task.primary_metric)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    elif record["status"] == "failed":
        print(f"{args.predictions}: invalid submission ({len(record['reasons'])} problem(s)):", file=sys.stderr)
        for reason in record["reasons"]:
            print(f"  - {reason}", file=sys.stderr)
    else:
        from .cli import metrics_table

        print(metrics_table([record]))
    return 2 if record["status"] == "failed" else 0


def add_cli(sub) -> None:
    p = sub.add_parser("score", help="validate and score a prediction file against the task's reference")
    p.add_argument("--task", required=True)
    p.add_argument("--predictions", required=True, help="prediction file in the task family's format (.csv, .npz, .txt, or a .zip holding one; splicing: a folder or .zip of mask PNGs)")
    p.add_argument("--data-root", default=None, help="read the reference from the datasets (default: the embedded sample)")
    p.add_argument("--reference", default=None, help="organizer's reference file instead of the datasets")
    p.add_argument("--output", default=None, help="write score.json, organizer.log and samples.csv here")
    p.add_argument("--team", default=None, help="record the submission under this team in the submissions store")
    p.add_argument("--phase", default="final", help="challenge phase the submission belongs to (with --team)")
    p.add_argument("--results", default=None, help="results folder holding the submissions store")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score)
