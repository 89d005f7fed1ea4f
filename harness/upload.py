"""The upload kit every family's ``read_predictions`` uses: read a participant's file safely
(regular files only, zip and ``.npz`` unwrapped without trusting their headers, size limits),
stream its text or CSV rows under line, field and row limits, parse numbers strictly, and
collect every problem in one pass as participant-safe messages (:class:`Problems`). It knows
no family and no scoring.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import lzma
import os
import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from .errors import HarnessError
from .digest import file_sha256

if TYPE_CHECKING:
    import numpy as np

MAX_BYTES = 200 * 1024 * 1024   # a prediction file (or a zip's expanded content) may not exceed this
MAX_LISTED = 5                  # ids named per problem kind; the rest are counted
MAX_LINE = 64 * 1024            # characters in one line of a text prediction file
MAX_FIELD = 4096                # characters in one CSV field
MAX_ROWS = 1_000_000            # rows of a text prediction file
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




# ----------------------------------------------------------------------------- an upload's identity and time
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
    """The file hash a worker records for ``path``: :func:`read_upload`'s, or
    :func:`unreadable_hash` when the upload cannot be read (empty file, bad zip, oversized)."""
    try:
        return read_upload(path, max_bytes, many=many).file_hash
    except Exception:  # noqa: BLE001 -- whatever the upload holds, the hash of its bytes identifies it
        return unreadable_hash(path)


def unreadable_hash(path: Path) -> str:
    """The hash recorded for an upload :func:`read_upload` refused: its raw bytes' (:func:`raw_hash`),
    or that of no bytes when even those cannot be read."""
    try:
        return raw_hash(path)
    except OSError:
        return sha256(b"")


def safe_reason(exc: HarnessError, path: Path) -> str:
    """A HarnessError's message without any path but the entry's own name (cut to :data:`MAX_REASON`)."""
    message = clip_reason(exc.message)
    for prefix in sorted({str(path.resolve().parent), str(path.parent), str(path.resolve()), str(path)}, key=len, reverse=True):
        if prefix and prefix != ".":
            message = message.replace(prefix + os.sep, "").replace(prefix, path.name)
    return message
