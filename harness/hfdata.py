"""Test sets from Hugging Face ``datasets`` repositories, and a task's test set written as one.

A ``--data-root`` may be a ``datasets`` repository instead of a dataset's original layout: a local
``save_to_disk`` folder (memory-mapped Arrow), a folder of Parquet files (a Hub repository's
layout: ``datasets`` says which files make which split, from the card's ``configs:`` or the file
names, and Arrow streams their rows), or ``hf://datasets/ORG/NAME[@REV]``
(materialized from the local Hugging Face cache by :mod:`harness.hub`).

A **column mapping** says which column plays which role (``image``, ``mask``, ``mos``, ``label``,
``id``, ``dataset``, ...; each family declares its roles in ``Family.row_columns``). Defaults: each
role's own name; a task file's ``columns:`` overrides them; ``--columns image=img,mask=gt``
overrides both. A ``dataset`` column names the task dataset a row belongs to; without one, every
row belongs to the task's single test dataset. A family may fill a role from the name of the
repository split a row is in (``Column.from_split``: FAS's ``split``) and says which roles make a
row unique (``Family.row_key``; a repeated one is refused).

Rows stream in Arrow batches of :data:`BATCH_ROWS` with image columns left encoded (never decoded
by ``datasets``): the family checks each image through its own safe decoder (pixel limit, refused
modes) and writes the bytes, unchanged, into its on-disk layout in the harness cache
(``$HARNESS_CACHE/datasets-rows/<key>``, keyed by the repository's fingerprint and the mapping;
written once, in one step). The family's ordinary loader then reads that copy, so a ``datasets``
copy of a benchmark gives the same numbers as the original layout. Every problem names the
column or the row (a missing column, a wrong dtype, an undecodable image, a duplicate id).

The data fingerprint is the repository's: the Arrow fingerprints of a ``save_to_disk`` folder, or
the Parquet files' names, sizes and heads (plus, for ``hf://``, the Hub commit, folded in by the
runner), combined with the mapping. ``harness data export`` writes ``harness.json`` beside the
data; a repository whose ``harness.json`` says ``"source": "sample"`` is labelled ``sample``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import HarnessError
from .family import DataSource, Family, cache_root, combined_fingerprint, fingerprint_files, roles_needed
from .files import atomic_dir

#: rows per Arrow batch read from a repository (bounds memory: at most this many encoded images)
BATCH_ROWS = 64
#: written by ``harness data export`` at a repository's root: family, task, source, columns
EXPORT_INFO = "harness.json"
#: written last in a materialized layout; its presence means the copy is complete
ROWS_MARKER = "harness-rows.json"
#: bump when the materialized layouts change (old copies are then rebuilt)
LAYOUT_VERSION = 1
KINDS = ("image", "number", "int", "text", "path")
_ARROW_STATE = ("state.json", "dataset_dict.json")


@dataclasses.dataclass(frozen=True)
class Column:
    """One role a family reads from a ``datasets`` row."""

    role: str
    kind: str               # image | number | int | text | path (text: a relative POSIX path, e.g. an id)
    required: bool = False
    label: bool = False     # ground truth: left out of a participant copy (--strip-labels)
    help: str = ""
    from_split: bool = False  # an empty value takes the name of the row's repository split
    #: the family's spelling of a value (e.g. ``validation`` -> ``val``), applied as a row is read,
    #: before rows are compared (two spellings of one value are one); unknown values pass unchanged
    canonical: Callable[[Any], Any] | None = None


@dataclasses.dataclass(frozen=True)
class RowImage:
    """An encoded image of one row: its bytes and where it came from (for messages)."""

    data: bytes
    where: str
    name: str = ""          # the file name the repository recorded, if any


# ----------------------------------------------------------------------------- the column mapping
def parse_columns(text: str | None) -> dict[str, str]:
    """``image=img,mask=gt`` → ``{"image": "img", "mask": "gt"}``."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        role, eq, column = (s.strip() for s in part.partition("="))
        if not eq or not role or not column:
            raise HarnessError(f"--columns: expected ROLE=COLUMN pairs separated by commas, got {part.strip()!r}")
        if role in out:
            raise HarnessError(f"--columns: role {role!r} is given twice")
        out[role] = column
    return out


def column_mapping(family: Family, task, given: dict[str, str] | None = None) -> dict[str, str]:
    """role → column: each role's own name, then the task file's ``columns:``, then ``given``."""
    roles = {c.role for c in family.row_columns}
    if not roles:
        raise HarnessError(f"the {family.name} family does not read datasets repositories{_why(family)}")
    from_task = task.config.get("columns") or {}
    if not isinstance(from_task, dict) or not all(isinstance(v, str) for v in from_task.values()):
        raise HarnessError("'columns' must map roles to column names", task.path)
    mapping = {c.role: c.role for c in family.row_columns}
    for where, extra in ((f"{task.path}: columns", from_task), ("--columns", given or {})):
        unknown = sorted(set(extra) - roles)
        if unknown:
            raise HarnessError(f"{where}: unknown role(s) {unknown} for the {family.name} family; roles: "
                               + ", ".join(f"{c.role} ({c.help})" for c in family.row_columns))
        mapping.update(extra)
    return mapping


def _why(family: Family) -> str:
    return f": {family.rows_refused}" if family.rows_refused else ""


# ----------------------------------------------------------------------------- reading a repository
def is_datasets_repository(root: Path | None) -> bool:
    """Whether ``root`` is a ``save_to_disk`` folder or holds Parquet files (outside hidden folders)."""
    if root is None or not Path(root).is_dir():
        return False
    root = Path(root)
    return any((root / n).is_file() for n in _ARROW_STATE) or bool(_parquet_files(root))


def _parquet_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _datasets():
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise HarnessError(f"datasets repositories need the datasets package: pip install datasets ({exc})") from exc
    datasets.disable_progress_bars()
    return datasets


@dataclasses.dataclass
class Repository:
    """An opened ``datasets`` repository: its splits (Arrow-formatted, nothing decoded), the
    columns' features, its fingerprint and what ``harness.json`` says about it."""

    root: Path
    splits: dict[str, Any]
    features: dict[str, Any]
    fingerprint: str
    kind: str                      # "arrow" (save_to_disk) or "parquet"
    info: dict[str, Any]

    @property
    def source(self) -> str:
        return "sample" if self.info.get("source") == "sample" else "real"


def open_repository(root: Path) -> Repository:
    """Open ``root`` (a ``save_to_disk`` folder, or Parquet files) without decoding anything."""
    root = Path(root)
    ds = _datasets()
    info = _export_info(root)
    try:
        if any((root / n).is_file() for n in _ARROW_STATE):
            loaded = ds.load_from_disk(str(root))  # memory-mapped
            splits = dict(loaded) if isinstance(loaded, ds.DatasetDict) else {"train": loaded}
            fingerprint = hashlib.sha256(json.dumps(sorted((k, v._fingerprint) for k, v in splits.items()))
                                         .encode()).hexdigest()[:16]
            kind = "arrow"
        else:
            files = _parquet_files(root)
            # datasets says which files make which split (the card's configs, or the file names);
            # the rows are then streamed from the files by Arrow itself (see ParquetSplit)
            data_files = ds.load_dataset_builder(str(root)).config.data_files or {}
            splits = {str(name): ParquetSplit([Path(f) for f in found], ds) for name, found in data_files.items()}
            fingerprint = fingerprint_files(root, files, files)
            kind = "parquet"
    except HarnessError:
        raise
    except Exception as exc:  # datasets raises many types for a malformed folder
        raise HarnessError(f"cannot read as a datasets repository ({type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})", root) from exc
    if not splits:
        raise HarnessError("the datasets repository has no split", root)
    features = dict(next(iter(splits.values())).features or {})
    for name, split in splits.items():
        if dict(split.features or {}) != features:
            raise HarnessError(f"split {name!r} has other columns than split {next(iter(splits))!r}; "
                               "every split must share one schema", root)
    if kind == "arrow":
        splits = {k: v.with_format("arrow") for k, v in splits.items()}
    return Repository(root, splits, features, fingerprint, kind, info)


class ParquetSplit:
    """One split of a Parquet repository, streamed in record batches straight from its files
    with Arrow (no pre-buffering): memory holds one batch. (``load_dataset(..., streaming=True)``
    held more and more of the file as it went: +170 MB for a 127 MB file, against +54 MB here.)"""

    def __init__(self, files: list[Path], ds):
        import pyarrow.parquet as pq

        self.files = files
        schemas = [pq.read_schema(f) for f in files]
        self.features = ds.Features.from_arrow_schema(schemas[0]) if schemas else None
        for f, schema in zip(files, schemas):
            if ds.Features.from_arrow_schema(schema) != self.features:
                raise HarnessError(f"has other columns than {files[0].name} in the same split", f)

    def iter(self, batch_size: int) -> Iterator[Any]:
        import pyarrow.parquet as pq

        for f in self.files:
            with pq.ParquetFile(f, pre_buffer=False) as parquet:
                yield from parquet.iter_batches(batch_size=batch_size)


def _export_info(root: Path) -> dict:
    path = root / EXPORT_INFO
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"not valid JSON: {exc}", path) from exc
    if not isinstance(info, dict):
        raise HarnessError("expected a JSON object", path)
    return info


def _feature_kind(feature: Any) -> str:
    """What a column's feature can serve as: image, int, number, text, or its own type name."""
    name = type(feature).__name__
    if name == "Image":
        return "image"
    if name == "ClassLabel":
        return "int"
    dtype = str(getattr(feature, "dtype", ""))
    if name == "Value":
        if dtype in ("binary", "large_binary"):
            return "image"
        if dtype == "bool" or re.fullmatch(r"u?int\d+", dtype):
            return "int"
        if re.fullmatch(r"float\d+", dtype):
            return "number"
        if dtype in ("string", "large_string"):
            return "text"
        return dtype
    return name


_ACCEPTS = {"image": {"image"}, "int": {"int"}, "number": {"number", "int"}, "text": {"text", "int"},
            "path": {"text"}}
_WANT = {"image": "an image (Image feature or binary)", "int": "an integer (or bool / ClassLabel)",
         "number": "a number", "text": "a string (or an integer)", "path": "a string (a relative path)"}
#: the ``datasets`` value type each column kind is exported as
_DTYPES = {"image": "image", "number": "float64", "int": "int64", "text": "string", "path": "string"}


def check_columns(repo: Repository, family: Family, mapping: dict[str, str]) -> dict[str, str]:
    """role → column of the roles present, after checking each mapped column exists and has a
    usable type; a required role whose column is missing is an error."""
    present = {}
    where = repo.root
    for col in family.row_columns:
        name = mapping[col.role]
        if name not in repo.features:
            if col.required:
                stripped = " (this is a participant copy without labels)" if repo.info.get("labels") is False and col.label else ""
                raise HarnessError(f"missing column {name!r} (role {col.role}: {col.help}){stripped}; columns: "
                                   f"{sorted(repo.features)}; map another with --columns {col.role}=COLUMN "
                                   "or the task's columns:", where)
            continue
        feature = repo.features[name]
        if _feature_kind(feature) not in _ACCEPTS[col.kind]:
            shown = getattr(feature, "dtype", None) if type(feature).__name__ == "Value" else type(feature).__name__
            raise HarnessError(f"column {name!r} (role {col.role}) is {shown}, expected {_WANT[col.kind]}", where)
        present[col.role] = name
    return present


def _value(col: Column, value: Any, where: str) -> Any:
    if value is None:
        return None
    if col.kind == "image":
        if isinstance(value, dict):
            data, name = value.get("bytes"), value.get("path") or ""
            if data is None:
                raise HarnessError(f"{where}: the image is not embedded (only a path {name!r}); "
                                   "embed the files (e.g. push_to_hub or cast with embed_storage)")
        else:
            data, name = value, ""
        return RowImage(bytes(data), where, str(name))
    if col.kind in ("text", "path"):
        return str(value)
    if col.kind == "int":
        return int(value)
    return float(value)


def iter_rows(repo: Repository, family: Family, mapping: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Each row as role → value (images as :class:`RowImage`, ``where`` naming split, row and
    column), streamed in batches of :data:`BATCH_ROWS`; roles without a column are absent, except
    a ``from_split`` role, which then holds the repository split's name; a ``canonical`` role's
    value is in the family's spelling."""
    present = check_columns(repo, family, mapping)
    specs = {c.role: c for c in family.row_columns}
    from_split = [c.role for c in family.row_columns if c.from_split]
    canonicals = {c.role: c.canonical for c in family.row_columns if c.canonical is not None}
    for split, table in repo.splits.items():
        row = 0
        for batch in table.iter(batch_size=BATCH_ROWS):
            columns = {role: batch.column(name).to_pylist() for role, name in present.items()}
            for k in range(batch.num_rows):
                where = f"{repo.root} split {split!r} row {row}"
                item = {"_where": where}
                for role, values in columns.items():
                    item[role] = _value(specs[role], values[k], f"{where} column {present[role]!r}")
                for role in from_split:
                    if item.get(role) in (None, ""):  # missing or empty: the repository split's name
                        item[role] = split
                for role, canonical in canonicals.items():
                    if item.get(role) is not None:
                        item[role] = canonical(item[role])
                yield item
                row += 1


# ----------------------------------------------------------------------------- materializing
_SAFE_ID = re.compile(r"[^/\\\x00-\x1f]{1,200}")


def check_row_id(row: dict[str, Any], column: str = "id", path: bool = False) -> str:
    """A row's sample id, safe as a file name stem (no path separators, not hidden); with
    ``path``, a relative POSIX path whose every part is such a name (``a/b/0012.jpg``)."""
    sid = row.get("id")
    if sid is None or not str(sid).strip():
        raise HarnessError(f"{row['_where']}: empty id (column {column!r})")
    sid = str(sid)
    parts = sid.split("/") if path else [sid]
    if len(sid) > 1000 or any(not _SAFE_ID.fullmatch(p) or p.startswith(".") or p != p.strip() for p in parts):
        raise HarnessError(f"{row['_where']}: id {sid!r} (column {column!r}) cannot name a file: "
                           + ("a relative path of names without '\\', control characters, leading dots, empty parts "
                              "or surrounding spaces" if path else
                              "no '/', '\\', control characters, leading dot or surrounding spaces"))
    return sid


def _grouped_rows(repo: Repository, family: Family, task, mapping: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Rows with ``dataset`` filled in and (dataset, id) checked unique."""
    present = check_columns(repo, family, mapping)
    names = list(dict.fromkeys(ref.name for refs in task.datasets.values() for ref in refs))
    test_names = list(dict.fromkeys(ref.name for ref in task.datasets["test"]))
    if "dataset" not in present and len(test_names) != 1:
        raise HarnessError(f"no {mapping['dataset']!r} column says which of the task's datasets "
                           f"({', '.join(test_names)}) a row belongs to: add one, or map it with --columns dataset=COLUMN",
                           repo.root)
    seen: dict[tuple, str] = {}
    id_kind = next(c.kind for c in family.row_columns if c.role == "id")
    for row in iter_rows(repo, family, mapping):
        if row.get("dataset") is None:
            if "dataset" in present:
                raise HarnessError(f"{row['_where']}: empty dataset (column {present['dataset']!r})")
            row["dataset"] = test_names[0]
        if "dataset" in present and row["dataset"] not in names:
            continue  # another dataset of the repository: not this task's
        row["id"] = check_row_id(row, mapping["id"], path=id_kind == "path")
        key = tuple(row.get(role) for role in family.row_key)
        if key in seen:
            scope = " and ".join(f"{role} {row.get(role)!r}" for role in family.row_key if role != "id")
            raise HarnessError(f"{row['_where']}: duplicate id {row['id']!r} (column {mapping['id']!r}) in {scope}, "
                               f"first at {seen[key]}")
        seen[key] = row["_where"]
        yield row


def materialize(family: Family, task, root: Path, columns: dict[str, str] | None = None) -> tuple[Path, dict]:
    """The family's on-disk layout of the repository at ``root`` (built once per repository
    fingerprint and mapping, in the harness cache) and what describes it: ``{"format",
    "fingerprint", "source", "columns", "root"}``."""
    repo = open_repository(root)
    mapping = column_mapping(family, task, columns)
    wanted = [sorted({ref.name for refs in task.datasets.values() for ref in refs}),  # the rows a task keeps
              [ref.name for ref in task.datasets["test"]]]
    key = hashlib.sha256(json.dumps([LAYOUT_VERSION, family.name, repo.fingerprint, mapping, wanted,
                                     str(Path(root).resolve())], sort_keys=True).encode()).hexdigest()[:20]
    folder = cache_root() / "datasets-rows" / key
    fingerprint = hashlib.sha256(json.dumps([repo.fingerprint, mapping], sort_keys=True).encode()).hexdigest()[:16]
    info = {"format": f"datasets ({repo.kind})", "fingerprint": fingerprint, "source": repo.source,
            "columns": mapping, "root": str(root)}
    if not (folder / ROWS_MARKER).is_file():
        with atomic_dir(folder) as tmp:
            tmp.mkdir(parents=True)
            count = family.write_rows(_grouped_rows(repo, family, task, mapping), tmp)
            if not count:
                raise HarnessError(f"no row of the repository belongs to the task's datasets "
                                   f"({', '.join(ref.name for ref in task.datasets['test'])})", root)
            (tmp / ROWS_MARKER).write_text(json.dumps({**info, "rows": count}, indent=2), encoding="utf-8")
    return folder, info


def resolve_data(family: Family, task, data_root: Path | None, need_train: bool,
                 columns: dict[str, str] | None = None) -> DataSource:
    """``family.resolve_data`` for any data root: a ``datasets`` repository is materialized first
    and the source then carries its fingerprint and label (``sample`` / ``real``)."""
    folder, info = reference_root(family, task, data_root, columns)
    if info is None:
        return family.resolve_data(task, data_root, need_train)
    source = family.resolve_data(task, folder, need_train)
    source.kind, source.root = info["source"], Path(data_root)  # the record names the repository, not the copy
    source.role_fingerprints = {role: combined_fingerprint({"rows": info["fingerprint"], "records": fp})
                                for role, fp in source.role_fingerprints.items()}
    source.fingerprint = combined_fingerprint(source.role_fingerprints)
    source.notes = source.notes + [
        f"data from the datasets repository {data_root} ({info['format']}, columns "
        + ", ".join(f"{k}={v}" for k, v in info["columns"].items()) + f"), read through {folder}"
        + ("; it is a copy of the harness's synthetic sample: results are labelled 'sample'" if info["source"] == "sample" else "")]
    return source


def reference_root(family: Family, task, data_root: Path | None, columns: dict[str, str] | None = None
                   ) -> tuple[Path | None, dict | None]:
    """(the root a family reads, the repository's description or None) for ``data_root``."""
    if not is_datasets_repository(data_root):
        if columns:
            raise HarnessError("--columns applies to a datasets repository (save_to_disk folder, Parquet files or "
                               "hf://datasets/...), and the data root is not one", data_root)
        return data_root, None
    return materialize(family, task, Path(data_root), columns)


def references(family: Family, task, data_root: Path | None, columns: dict[str, str] | None = None
               ) -> tuple[dict[str, Any], dict]:
    """``family.references`` for any data root; from a ``datasets`` repository the description
    names the repository, its fingerprint and label, not the cached copy."""
    root, rows = reference_root(family, task, data_root, columns)
    refs, info = family.references(task, root)
    if rows:
        info = {**info, "kind": rows["source"], "root": rows["root"], "fingerprint": rows["fingerprint"]}
    return refs, info


# ----------------------------------------------------------------------------- export
CARD_MARKER = "<!-- harness test-set export -->"


def export_task(family: Family, task, data_root: Path | None, out: Path, *, strip_labels: bool = False) -> dict:
    """Write ``task``'s data as a ``datasets`` repository under ``out``: the split ``test`` (the
    records a run scores: the test records, and for FAS the sources' val frames too) and, when the task trains, ``train`` (its training records), as
    ``data/<split>-*.parquet`` with images embedded; ``README.md`` (a dataset card whose YAML
    declares the splits and features) and ``harness.json``. ``strip_labels``: the test split
    only, without the ground-truth columns (a participant copy). ``out`` must be new, empty, or
    an earlier export (replaced in one step). Returns ``{"rows": {split: n}, "files", "source"}``."""
    ds = _datasets()
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / EXPORT_INFO).is_file())):
        raise HarnessError("exists and is not a harness test-set export (it would be replaced): pick a new or "
                           "empty folder", out)
    if not family.row_columns:
        raise HarnessError(f"the {family.name} family has no datasets format{_why(family)}")
    roles = ["test"] if strip_labels else roles_needed(task, need_train=True)
    source = resolve_data(family, task, data_root, need_train=len(roles) > 1)  # any root, a repository included
    kept = [c for c in family.row_columns if not (strip_labels and c.label)]
    features = ds.Features({c.role: ds.Image() if c.kind == "image" else ds.Value(_DTYPES[c.kind]) for c in kept})
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features.arrow_schema
    counts: dict[str, int] = {}
    with atomic_dir(out) as tmp:
        (tmp / "data").mkdir(parents=True)
        for role in roles:
            parquet = tmp / "data" / f"{role}-00000-of-00001.parquet"
            counts[role] = 0
            with pq.ParquetWriter(str(parquet), schema) as writer:
                for chunk in _batched(family.export_rows(task, source, role), BATCH_ROWS):
                    encoded = features.encode_batch({c.role: [_exported(r.get(c.role)) for r in chunk] for c in kept})
                    writer.write_table(pa.Table.from_pydict(encoded, schema=schema))
                    counts[role] += len(chunk)
        if not counts["test"]:
            raise HarnessError(f"the test set of {task.name} is empty: nothing to export")
        info = {"family": family.name, "task": task.name, "task_version": task.version, "source": source.kind,
                "data_fingerprint": source.fingerprint, "labels": not strip_labels,
                "columns": {c.role: c.role for c in kept}, "rows": counts}
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(_card(task, family, kept, info), encoding="utf-8")
    return {"rows": counts, "files": [*(out / "data" / f"{r}-00000-of-00001.parquet" for r in roles),
                                      out / EXPORT_INFO, out / "README.md"], "source": source.kind}


def _batched(items: Iterable[Any], size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _exported(value: Any) -> Any:
    if isinstance(value, RowImage):
        return {"bytes": value.data, "path": value.name or None}
    return value


def _card(task, family: Family, kept: list[Column], info: dict) -> str:
    splits = "".join(f"  - split: {r}\n    path: data/{r}-*.parquet\n" for r in info["rows"])
    features = "\n".join(f"  - name: {c.role}\n    dtype: {_DTYPES[c.kind]}" for c in kept)
    columns = "\n".join(f"| `{c.role}` | {_DTYPES[c.kind]} | {c.help} |" for c in kept)
    sample = ("\n**This is the harness's synthetic sample, not real data**: results on it are labelled `sample`.\n"
              if info["source"] == "sample" else "")
    labels = ("\nParticipant copy: the ground-truth columns are left out (`--strip-labels`).\n"
              if not info["labels"] else "")
    return f"""---
configs:
- config_name: default
  data_files:
{splits}dataset_info:
  features:
{features}
tags:
- harness
- {family.name}
---
{CARD_MARKER}
# {task.name} ({" and ".join(info["rows"])} data)

The data of the harness task `{task.name}` v{task.version} ({family.name} family), written by
`harness data export --format datasets`: {", ".join(f"{n} {r} rows" for r, n in info["rows"].items())}, one
Parquet file per split, images embedded.
{sample}{labels}
| column | type | role |
| --- | --- | --- |
{columns}

Run a model on it like on the original layout (the column names are the harness's defaults):

```
hf download ORG/NAME --repo-type dataset
harness run --task {task.name} --model MODEL --data-root hf://datasets/ORG/NAME
```

or on this folder directly: `harness run --task {task.name} --model MODEL --data-root <this folder>`.
`harness.json` records the family, task, source (`real` or `sample`) and data fingerprint.
"""
