"""``harness score``: read a prediction file → validate it → score it with the family's own
``score`` (the same call ``harness run`` makes), so a run and an uploaded file cannot disagree.

Validation reports every problem in one pass, in messages that can be shown to participants:
they name ids, columns and counts, never a reference value. Organizer-only detail (paths,
internal errors) goes to a separate log. Family-agnostic pieces live here: upload unwrapping
(zip), size and binary checks, text decoding, and a strict CSV reader.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import lzma
import os
import re
import stat
import sys
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from .errors import HarnessError
from .results import content_digest, file_sha256

if TYPE_CHECKING:
    import numpy as np

MAX_BYTES = 200 * 1024 * 1024   # a prediction file (or a zip's expanded content) may not exceed this
MAX_LISTED = 5                  # ids named per problem kind; the rest are counted
MAX_LINE = 64 * 1024            # characters in one line of a text prediction file
MAX_FIELD = 4096                # characters in one CSV field
MAX_ROWS = 1_000_000            # rows of a text prediction file
DEFAULT_TIME_LIMIT = 600.0      # seconds one submission may take to read, validate and score
DEFAULT_MEMORY_LIMIT = 4096.0   # MB one submission's scoring may allocate beyond the scorer's own footprint
INTERNAL_ERROR = "the scorer failed on this submission (internal error; the organizer log has details)"
MAX_REASON = 2000               # characters of one failure reason kept in a record or the store
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                zipfile.ZIP_LZMA: "lzma"}


class Problems:
    """Participant-safe problems, collected in one pass, plus an organizer-only log."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.organizer: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(clip_reason(message))

    def add_ids(self, what: str, ids: Sequence[str], total: int | None = None) -> None:
        """'3 missing ids: a, b, c' — the first few named, all counted."""
        if ids:
            count = total if total is not None else len(ids)
            shown = ", ".join(repr(clip_reason(str(i), 100)) for i in list(ids)[:MAX_LISTED]) + (", …" if count > MAX_LISTED else "")
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


def clip_reason(message: str, limit: int = MAX_REASON) -> str:
    """A participant-facing reason cut to ``limit`` characters (an id may be megabytes long)."""
    return message if len(message) <= limit else message[:limit - 1] + "…"


def _mb(n: int) -> str:
    """A byte count for a message: ``"640.0 MB"`` (small counts in bytes)."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _kind(mode: int) -> str | None:
    """What a non-regular file is, for a refusal ("a link", "a FIFO", ...); None for a regular file."""
    for test, what in ((stat.S_ISLNK, "a link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_regular(path: Path, max_bytes: int = MAX_BYTES, what: str = "the prediction file",
                 allow_empty: bool = False) -> bytes:
    """The bytes of a regular file, judged by what it is (never by its content): a link, FIFO,
    device or socket is refused without being opened or followed; more than ``max_bytes`` is refused."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise HarnessError(f"{what} was not found", path) from None
    except OSError as exc:
        raise HarnessError(f"{what} cannot be read ({exc.strerror})", path) from None
    kind = _kind(mode)
    if kind is not None:
        raise HarnessError(f"{what} is {kind}; only regular files are read (links, FIFOs and devices are refused)", path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise HarnessError(f"{what} cannot be read ({exc.strerror})", path) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):  # swapped for something else since lstat
            raise HarnessError(f"{what} is not a regular file", path)
        if info.st_size == 0 and not allow_empty:
            raise HarnessError(f"{what} is empty", path)
        if info.st_size > max_bytes:
            raise HarnessError(f"{what} is {_mb(info.st_size)}; the limit is {_mb(max_bytes)}", path)
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HarnessError(f"{what} is larger than {_mb(max_bytes)}", path)
    return data


def read_upload(path: Path, max_bytes: int = MAX_BYTES, many: bool = False) -> Upload:
    """Read a prediction file or a ``.zip`` holding exactly one; with ``many`` (families whose
    predictions are many files), a folder or a zip of files. Links, FIFOs and devices (the upload
    itself or inside a folder), unsafe, damaged or oversized archives are refused."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        mode = 0
    if many and stat.S_ISDIR(mode):
        return _read_folder(path, max_bytes)
    if stat.S_ISDIR(mode):
        raise HarnessError("a folder is not a prediction file for this task; submit one file (or a .zip holding one)", path)
    raw = read_regular(path, max_bytes)
    if path.suffix.lower() != ".zip":
        if many:
            raise HarnessError("predictions for this task are a folder or a .zip of files", path)
        return Upload(path.name, raw, sha256(raw))
    return _unzip(path, raw, max_bytes, many)


def _refuse_case_duplicates(names: Iterable[str], path: Path, where: str) -> None:
    """Two names equal but for case (``X.png`` and ``X.PNG``) or repeated: which one counts is ambiguous."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key in seen:
            shown = repr(name) if seen[key] == name else f"{seen[key]!r} and {name!r}"
            raise HarnessError(f"{where} holds {shown}: one name twice (names must differ by more than case)", path)
        seen[key] = name


def _read_folder(path: Path, max_bytes: int) -> Upload:
    files: dict[str, bytes] = {}
    total = 0
    for root, dirs, names in os.walk(path):  # never follows links
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            if name.startswith("."):
                continue
            f = Path(root, name)
            rel = f.relative_to(path).as_posix()
            kind = _kind(os.lstat(f).st_mode)
            if kind is not None:
                raise HarnessError(f"the folder holds {rel} which is {kind}; only regular files are read", path)
            if total + os.lstat(f).st_size > max_bytes:
                raise HarnessError(f"the folder holds more than {_mb(max_bytes)}", path)
            data = read_regular(f, max_bytes - total, what=f"{rel} in the folder", allow_empty=True)
            total += len(data)
            files[rel] = data
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    if not files:
        raise HarnessError("the prediction folder is empty", path)
    _refuse_case_duplicates(files, path, "the folder")
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + sha256(data).encode())
    return Upload(path.name, b"", digest.hexdigest(), dict(sorted(files.items())))


def _member_problem(member: zipfile.ZipInfo) -> str | None:
    """Why a zip member cannot be read, from its header alone (encryption, compression method)."""
    if member.flag_bits & 0x1:
        return "is encrypted"
    if member.compress_type not in _ZIP_METHODS:
        return f"uses compression method {member.compress_type}, which is not supported (use deflate)"
    return None


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int, path: Path) -> bytes:
    """A member's bytes, at most ``budget + 1`` of them; a damaged member (bad CRC, a size header
    that lies, corrupt compressed data) is a :class:`HarnessError` naming it."""
    problem = _member_problem(member)
    if problem is None:
        try:
            with archive.open(member) as fh:
                data = fh.read(budget + 1)  # never trust the header's size alone
            if len(data) <= budget and len(data) != member.file_size:
                problem = f"holds {len(data)} bytes but its header says {member.file_size}"
            else:
                return data
        except zipfile.BadZipFile as exc:
            problem = "is damaged (" + ("bad CRC" if "CRC" in str(exc) else "corrupt data") + ")"
        except (EOFError, OSError, ValueError, RuntimeError, NotImplementedError, zlib.error, lzma.LZMAError) as exc:
            problem = f"cannot be decompressed ({type(exc).__name__})"
    raise HarnessError(f"{member.filename!r} inside the zip {problem}", path)


def zip_members(raw: bytes, path: str | Path, max_bytes: int = MAX_BYTES, what: str = "the zip",
                fold_case: bool = True, count: int | None = None) -> dict[str, bytes]:
    """Every file of a zip archive (name -> bytes), read safely: unsafe paths, links and special
    files, duplicate names (also when equal but for case, with ``fold_case``), encrypted or
    damaged members and more than ``max_bytes`` expanded are refused with one :class:`HarnessError`;
    ``count`` requires exactly that many files."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise HarnessError(f"{what} is not a valid zip archive", path) from exc
    members = [m for m in infos if not m.is_dir()]
    for m in infos:
        name = PurePosixPath(m.filename)
        if name.is_absolute() or m.filename.startswith(("/", "\\")) or ".." in name.parts or ":" in m.filename:
            raise HarnessError(f"{what} holds an unsafe path {clip_reason(m.filename, 200)!r}", path)
        unix_mode = m.external_attr >> 16 if m.create_system == 3 else 0
        kind = _kind(unix_mode) if stat.S_IFMT(unix_mode) else None  # no type bits: a plain file
        if kind not in (None, "a folder"):
            raise HarnessError(f"{what} holds {m.filename!r} which is {kind}; links and special files are refused", path)
    if count is not None and len(members) != count:
        raise HarnessError(f"{what} must hold exactly {'one' if count == 1 else count} prediction file, "
                           f"it holds {len(members)}", path)
    if not members:
        raise HarnessError(f"{what} holds no files", path)
    names = [m.filename for m in members]
    if fold_case:
        _refuse_case_duplicates(names, path, what)
    elif len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise HarnessError(f"{what} holds {clip_reason(twice, 200)!r} twice", path)
    declared = sum(m.file_size for m in members)
    if declared > max_bytes:
        raise HarnessError(f"{what} expands to {_mb(declared)}; the limit is {_mb(max_bytes)}", path)
    files: dict[str, bytes] = {}
    total = 0
    for member in members:
        data = _read_member(archive, member, max_bytes - total, path)
        total += len(data)
        if total > max_bytes:
            raise HarnessError(f"{what} expands beyond {_mb(max_bytes)}", path)
        files[member.filename] = data
    return files


def _unzip(path: Path, raw: bytes, max_bytes: int, many: bool) -> Upload:
    files = zip_members(raw, path, max_bytes, count=None if many else 1)
    if not many:
        name, data = next(iter(files.items()))
        if not data:
            raise HarnessError(f"{name!r} inside the zip is empty", path)
        return Upload(PurePosixPath(name).name, data, sha256(raw))
    return Upload(path.name, b"", sha256(raw), files)


def parse_npy(blob: bytes, name: str) -> np.ndarray:
    """One ``.npy`` array from its bytes, without pickle and without trusting its header: the
    header must parse, the dtype hold no Python objects, and the bytes after the header be
    exactly what the declared shape and dtype need (a truncated or padded array is named as such)."""
    import numpy as np

    fmt = np.lib.format
    stream = io.BytesIO(blob)
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise ValueError(f"NPY version {version}")
    except (ValueError, EOFError, SyntaxError, TypeError, OverflowError) as exc:
        raise HarnessError(f"{name!r} is not a .npy array (no valid NPY header: {clip_reason(str(exc), 200)})") from None
    if dtype.hasobject:
        raise HarnessError(f"{name!r} holds Python objects (pickles are refused)")
    count = 1
    for n in shape:
        count *= int(n)
    need, have = count * dtype.itemsize, len(blob) - stream.tell()
    if need != have:
        raise HarnessError(f"{name!r} declares shape {tuple(shape)} ({need} bytes of {dtype}) but holds {have} bytes "
                           f"({'truncated' if have < need else 'extra bytes'})")
    array = np.frombuffer(blob, dtype=dtype, count=count, offset=stream.tell())
    return array.reshape(shape, order="F" if fortran else "C")


def read_npz(data: bytes, name: str | Path, max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (a zip of ``.npy`` members), read with :func:`zip_members` and
    :func:`parse_npy`: a member that is not a ``.npy`` array, holds objects, is truncated or declares
    more than it holds is refused with one :class:`HarnessError` naming the file and the member."""
    members = zip_members(data, name, max_bytes, what="the .npz", fold_case=False)
    arrays = {}
    for member, blob in members.items():
        if not member.endswith(".npy"):
            raise HarnessError(f"the .npz holds {clip_reason(member, 200)!r}, which is not a .npy array", name)
        try:
            arrays[member[:-4]] = parse_npy(blob, member)
        except HarnessError as exc:
            raise HarnessError(f"the .npz member {exc.message}", name) from None
    return arrays


def text_lines(upload: Upload, max_line: int = MAX_LINE) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text upload, decoded as it streams (a BOM is dropped, CRLF
    accepted); binary content, a line over ``max_line`` characters, more than :data:`MAX_ROWS`
    lines or a file without content is refused, naming the line."""
    data = upload.data
    if b"\x00" in data[:8192]:
        raise HarnessError("the file is binary, not a text CSV", upload.name)
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    lineno, content = 0, False
    try:
        while True:
            line = stream.readline(max_line + 1)
            if not line:
                break
            lineno += 1
            if len(line) > max_line and not line.endswith(("\n", "\r")):
                raise HarnessError(f"line {lineno} is longer than {max_line} characters", upload.name)
            if lineno > MAX_ROWS:
                raise HarnessError(f"the file has more than {MAX_ROWS} lines", upload.name)
            content = content or bool(line.strip())
            yield lineno, line
    except UnicodeDecodeError:
        raise HarnessError(f"the file is not UTF-8 text (line {lineno + 1}); save it as UTF-8", upload.name) from None
    if not content:
        raise HarnessError("the file has no content", upload.name)


@contextlib.contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    old = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def csv_rows(upload: Upload, header: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of a strict CSV whose header is exactly ``header``, streamed: a field over
    :data:`MAX_FIELD` characters, a line over :data:`MAX_LINE`, semicolons or tabs for commas, or
    another header are refused with one message naming the file and the line."""
    lines = text_lines(upload)
    first = next((line for _, line in lines if line.strip()), "")
    for delim, name in ((";", "semicolons"), ("\t", "tabs")):
        if delim in first and "," not in first:
            raise HarnessError(f"the file uses {name} between columns; use commas (header {','.join(header)})", upload.name)
    with _field_limit(MAX_FIELD):
        try:
            got = next(csv.reader([first]))
            if [c.strip() for c in got] != list(header) and sorted(c.strip() for c in got) == sorted(header):
                raise HarnessError(f"the columns are in another order: the header must be exactly "
                                   f"{','.join(header)!r} (values in that order), got {','.join(got)!r}", upload.name)
            if [c.strip() for c in got] != list(header):
                shown = clip_reason(",".join(got), 200)
                raise HarnessError(f"the header must be exactly {','.join(header)!r}, got {shown!r}", upload.name)
            reader = csv.reader(line for _, line in lines)
            for fields in reader:
                yield reader.line_num + 1, fields
        except csv.Error as exc:
            where = f"line {reader.line_num + 1}" if "reader" in locals() else "the header"
            detail = f"a field longer than {MAX_FIELD} characters" if "field larger" in str(exc) else str(exc)
            raise HarnessError(f"malformed CSV at {where}: {detail}", upload.name) from None


def read_csv(upload: Upload, header: Sequence[str], parse: dict[str, Callable[[str], tuple[Any, str | None]]],
             problems: Problems) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Strict CSV: exactly ``header`` (first column the unique id), comma-delimited, every value
    parsed by ``parse[column]`` → (value, problem or None). Returns (id → {column: value} for the
    rows without problems, every id seen); each problem is added to ``problems``."""
    return parse_rows(csv_rows(upload, header), header, parse, problems)


def read_whitespace(upload: Upload, columns: Sequence[str], parse: dict[str, Callable[[str], tuple[Any, str | None]]],
                    problems: Problems) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Header-less lines of whitespace-separated ``columns`` (first the unique id), e.g. the SVC
    challenges' ``<id> <score>`` text files; parsed and checked like :func:`read_csv`."""
    lines = ((n, line.split()) for n, line in text_lines(upload, MAX_FIELD * len(columns)))
    layout = " ".join(f"<{c}>" for c in columns)

    def checked() -> Iterator[tuple[int, list[str]]]:
        first = True
        for n, fields in lines:
            if first and fields:
                first = False
                shown = clip_reason(' '.join(fields), 200)
                if len(fields) == 2 == len(columns) and parse_number(fields[0]) is not None \
                        and parse_number(fields[1]) is None:
                    raise HarnessError(f"the columns are swapped: each line is {layout}, the file has "
                                       f"{' '.join(f'<{c}>' for c in reversed(columns))} (first line {shown!r})",
                                       upload.name)
                if len(fields) == len(columns) and parse_number(fields[1]) is None:
                    raise HarnessError(f"the file must have no header line; each line is {layout}, got {shown!r} "
                                       f"first", upload.name)
            yield n, fields
    return parse_rows(checked(), columns, parse, problems)


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


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
                      re.IGNORECASE | re.ASCII)


def parse_number(raw: str) -> float | None:
    """A number written in ASCII decimal (``72``, ``-0.5``, ``1e3``; ``nan``/``inf`` too); None for
    anything else, including what Python's ``float`` also takes (``7_2``, ``٧٢``, ``７２``)."""
    raw = raw.strip()
    if not _DECIMAL.fullmatch(raw):
        return None
    return float(raw) + 0.0  # -0 is 0


def number_in(low: float, high: float, unit: str = "") -> Callable[[str], tuple[float | None, str | None]]:
    """A parser for a finite ASCII-decimal number in [low, high]."""
    def parse(raw: str) -> tuple[float | None, str | None]:
        value = parse_number(raw)
        if value is None:
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
    try:
        if memory_limit_mb is not None:
            _limit_memory(memory_limit_mb)
        outcome: tuple = ("ok", fn())
    except HarnessError as exc:
        outcome = ("refused", exc.message, exc.path)
    except MemoryError:
        outcome = ("memory",)
    except Exception as exc:  # noqa: BLE001
        outcome = ("memory",) if memory_limit_mb is not None and "allocate" in str(exc).lower() \
            else ("internal", traceback.format_exc())
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
    if args.jobs is not None:
        raise HarnessError("--jobs applies to --submissions (a folder of submissions), not to --predictions")
    time_limit, memory_limit = score_limits(args)
    uploaded = {"uploaded_at": parse_uploaded_at(args.uploaded_at)} if getattr(args, "uploaded_at", None) else {}
    if uploaded and not args.team:
        raise HarnessError("--uploaded-at is recorded in the submissions store: it needs --team (or --submissions)")
    predictions = Path(args.predictions)
    if not args.team:
        record = score_file(task, predictions, data_root=args.data_root,
                            reference=Path(args.reference) if args.reference else None, n_boot=args.n_boot,
                            time_limit=time_limit, memory_limit_mb=memory_limit)
    else:  # into the store: a reference problem is the organizer's; an unreadable upload is recorded failed
        references, ref_info = load_references(task, args.data_root, Path(args.reference) if args.reference else None)
        try:
            record = run_limited(lambda: score_upload(task, predictions, references, ref_info, n_boot=args.n_boot),
                                 time_limit=time_limit, memory_limit_mb=memory_limit)
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
            submitted=uploaded.get("uploaded_at"), data=record["reference"].get("data"))
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


def parse_uploaded_at(value: str) -> str:
    """An organizer's upload time (ISO 8601; UTC when it names no zone) as UTC ISO with ``Z``, the
    ranking's tie-break when given. Without it the store ranks ties by when it received the entry."""
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise HarnessError(f"--uploaded-at must be an ISO 8601 time such as 2026-05-01T12:00:00Z, got {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


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
    from .store import _text

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
                mode = os.lstat(f).st_mode
                if stat.S_ISLNK(mode):
                    content = sha256(os.readlink(f).encode())
                elif stat.S_ISREG(mode):
                    content = file_sha256(f)
                else:
                    content = ""
                digest.update(rel.encode() + b"\0" + content.encode() + b"\n")
        return digest.hexdigest()
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return sha256(b"")
    if stat.S_ISLNK(mode):
        return sha256(b"link\0" + os.readlink(path).encode())
    return file_sha256(path) if stat.S_ISREG(mode) else sha256(b"")


def upload_hash(path: Path, many: bool, max_bytes: int = MAX_BYTES) -> str:
    """The file hash a worker records for ``path``: :func:`read_upload`'s, or the raw bytes' hash
    when the upload cannot be read (empty file, bad zip, oversized)."""
    try:
        return read_upload(path, max_bytes, many=many).file_hash
    except Exception:  # noqa: BLE001 -- whatever the upload holds, the hash of its bytes identifies it
        try:
            return raw_hash(path)
        except OSError:
            return sha256(b"")


def _safe_reason(exc: HarnessError, path: Path) -> str:
    """A HarnessError's message without any path but the entry's own name (cut to :data:`MAX_REASON`)."""
    message = clip_reason(exc.message)
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
        primary_metric=task.primary_metric, reference=batch.ref_info.get("digest"), submitted=batch.uploaded.get(entry.team),
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
                    try:
                        outcomes[index] = _death(batch, entry, proc.exitcode, timed_out, now - started)
                    except HarnessError as exc:  # not even recordable: report it, go on with the others
                        print(f"harness: {entry.name}: could not be recorded: {exc}", file=sys.stderr, flush=True)
                        outcomes[index] = {"team": entry.team, "file": entry.name, "status": "failed",
                                           "primary_metric": batch.task.primary_metric, "value": None, "metrics": None,
                                           "reasons": [f"not recorded: {clip_reason(exc.message)}"],
                                           "seconds": round(now - started, 3), "peak_mb": None, "file_hash": None,
                                           "entry": None, "entry_status": None}
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
    time_limit, memory_limit = score_limits(args)
    family = FAMILIES.get(task.family)
    from .store import SubmissionStore

    SubmissionStore(results_dir(args.results) / "submissions").check_phase(task, args.phase)
    entries = submission_entries(Path(args.submissions))
    uploaded = uploaded_times(getattr(args, "uploaded_at", None), [e.team for e in entries])
    references, ref_info = load_references(task, args.data_root, Path(args.reference) if args.reference else None)
    _say_reference(ref_info)
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
                   help=f"wall-clock seconds one submission may take to be read, validated and scored (batch mode: "
                        f"recorded too) before its worker is killed and it is refused / recorded failed "
                        f"(default {DEFAULT_TIME_LIMIT:g})")
    p.add_argument("--memory-limit", type=float, default=None, metavar="MB",
                   help=f"memory (MB) scoring one submission may allocate beyond the scorer's own footprint: its "
                        f"worker caps its address space (RLIMIT_AS) at its virtual size when it starts (the forked "
                        f"scorer with the loaded reference) plus this. It bounds virtual, not resident, memory, so "
                        f"allow headroom for libraries that reserve address space. A submission exceeding it is "
                        f"refused / recorded failed. Default {DEFAULT_MEMORY_LIMIT:g}; 0 turns it off")
    p.add_argument("--uploaded-at", default=None, metavar="TIME|CSV",
                   help="when the submission was uploaded (ISO 8601, UTC unless a zone is given), recorded as given "
                        "and used as the ranking's tie-break; --submissions: a CSV team,uploaded_at naming every "
                        "team. Default: the time the store receives the submission (a file's modification time is "
                        "never used: it is forgeable)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs (0: none)")
    p.add_argument("--json", action="store_true", help="print the score record (--submissions: a JSON list of outcomes)")
    p.set_defaults(func=cmd_score)
    plain_help = p.format_help

    def format_help() -> str:  # the families' formats, loaded only when help is shown
        from .family import prediction_formats_text

        p.epilog = f"{SCORE_EPILOG}\n\nPrediction formats (each family declares its own):\n{prediction_formats_text()}"
        return plain_help()

    p.format_help = format_help
