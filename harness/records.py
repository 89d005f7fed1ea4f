"""Run records: their typed form (:class:`RunRecord` with one :class:`TaskHeader`), where runs
live on disk, and reading them back.

Layout: ``<results>/runs/<source>/<task>/<model-tag>/`` holds ``record.json`` (the run record),
the per-sample outputs and the per-sample table; ``<results>/cache/`` holds resumable state.
Sample-data and real-data runs live in different trees, so they can never be mixed.
:func:`iter_records` also reads an export of run records (``harness push``; see :mod:`harness.hub`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Iterator

from .digest import short_hash
from .errors import HarnessError
from .task import PROJECT_ROOT

SCHEMA_VERSION = 1

# the part of the task header each kind of record writes (the JSON of each kind never changes)
IDENTITY_KEYS = ("name", "version", "config_hash")                      # a run that scored nothing
SCORE_TASK_KEYS = IDENTITY_KEYS + ("family", "recipe")                   # harness score's records
RUN_TASK_KEYS = IDENTITY_KEYS + ("family", "group", "recipe", "datasets")  # a scored run's record.json


def utc_now() -> str:
    """The current UTC time as records write it (ISO 8601, whole seconds)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclasses.dataclass(frozen=True)
class TaskHeader:
    """The task a result belongs to, built once from the :class:`~harness.task.Task` and its
    family: what decides its numbers (name, version, config hash, evaluation recipe, datasets)."""

    name: str
    version: int
    config_hash: str
    family: str | None = None
    group: str | None = None
    recipe: dict[str, Any] | None = None
    datasets: dict[str, list[dict]] | None = None

    @classmethod
    def of(cls, task, family, group: str | None = None) -> "TaskHeader":
        """The header of ``task`` (``family``: its :class:`~harness.family.Family`), run as part of ``group``."""
        return cls(name=task.name, version=task.version, config_hash=task.config_hash, family=task.family,
                   group=group, recipe=family.recipe_record(task),
                   datasets={role: [d.to_dict() for d in refs] for role, refs in task.datasets.items()})

    def to_dict(self, keys: tuple[str, ...] = RUN_TASK_KEYS) -> dict[str, Any]:
        """The header as a record writes it: the fields ``keys`` names, in field order."""
        return {k: getattr(self, k) for k in keys}


@dataclasses.dataclass
class RunRecord:
    """A scored run, as ``record.json`` holds it (:meth:`to_dict` writes the keys in this order).
    Readers of records on disk take the JSON as a dict (older records may lack later keys)."""

    task: TaskHeader
    model: dict[str, Any]
    inputs: dict[str, Any] | None
    data: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    primary_metric: str
    directions: dict[str, str]
    n_samples: int
    counts: dict[str, Any]
    breakdowns: dict[str, Any] | None
    reportable: bool
    limit: int | None
    seed: int | None
    n_boot: int | None
    precision: str | None
    environment: dict[str, Any]
    distributed: dict[str, Any] | None
    timings: dict[str, float]
    throughput: dict[str, Any] | None
    notes: list[str]
    files: dict[str, Any]
    schema: int | None = SCHEMA_VERSION
    created: str | None = dataclasses.field(default_factory=utc_now)
    path: Path | None = None  # where it is written (never written into the file)

    def to_dict(self) -> dict[str, Any]:
        """The record's JSON form, key for key as every version has written it."""
        out: dict[str, Any] = {"schema": self.schema, "created": self.created}
        for f in dataclasses.fields(self):
            if f.name not in ("schema", "created", "path"):
                value = getattr(self, f.name)
                out[f.name] = value.to_dict() if isinstance(value, TaskHeader) else value
        return out


def results_dir(override: str | Path | None = None) -> Path:
    """The results folder (``--results``, else ``$HARNESS_RESULTS``, else ``./results``); a link is
    refused rather than followed silently: name the folder it points to."""
    path = Path(override or os.environ.get("HARNESS_RESULTS") or PROJECT_ROOT / "results")
    if path.is_symlink():
        raise HarnessError(f"the results folder is a link (to {os.readlink(path)}); links are not followed: "
                           f"pass the real folder (--results {path.resolve()})", path)
    return path


def model_tag(name: str, args: dict) -> str:
    """Folder name for a model + its arguments: the name alone when there are no arguments."""
    return name if not args else f"{name}-{short_hash(args, 6)}"


def run_dir(results: Path, source: str, task: str, tag: str) -> Path:
    return results / "runs" / source / task / tag


def read_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"unreadable run record: {exc}", path) from exc


def iter_records(results: Path, task: str | None = None, source: str | None = None,
                 skipped: list[str] | None = None) -> Iterator[dict]:
    """Every run record under ``results`` (optionally one task / one source), each with ``_path``.
    An unreadable record raises, or, when ``skipped`` is a list, is named there and left out.

    When ``results/runs`` does not exist, ``results`` is read as an export (``harness push``, e.g. a
    Hub dataset snapshot): its ``runs`` Parquet config (read through ``datasets``) when present, else
    ``<task>/<model-tag>/results_*.json``, filtered by ``data.source``; JSON files there that are
    not harness run records are skipped."""
    results = Path(results)
    base = results / "runs"
    if not base.is_dir() and results.is_dir():
        yield from _iter_exported(results, task, source, skipped)
        return
    pattern = f"{source or '*'}/{task or '*'}/*/record.json"
    for path in sorted(base.glob(pattern)):
        rec = _read_or_skip(path, skipped)
        if rec is not None:
            rec["_path"] = str(path)
            yield rec


def _read_or_skip(path: Path, skipped: list[str] | None) -> dict | None:
    try:
        return read_record(path)
    except HarnessError as exc:
        if skipped is None:
            raise
        skipped.append(str(exc))
        return None


def _iter_exported(results: Path, task: str | None, source: str | None, skipped: list[str] | None) -> Iterator[dict]:
    from .hub import RUNS_FILE, parquet_records

    if (results / RUNS_FILE).is_file():  # the export's `runs` config, read through datasets
        yield from parquet_records(results, task, source, skipped)
        return
    for path in sorted(results.glob(f"{task or '*'}/*/results_*.json")):
        if any(part.startswith(".") for part in path.relative_to(results).parts):
            continue  # e.g. a download's .cache folder
        rec = _read_or_skip(path, skipped)
        if rec is None:
            continue
        if not (isinstance(rec, dict) and isinstance(rec.get("task"), dict) and isinstance(rec.get("model"), dict)
                and isinstance(rec.get("data"), dict) and "metrics" in rec):
            continue  # another tool's results file
        if source is not None and rec["data"].get("source") != source:
            continue
        rec["_path"] = str(path)
        yield rec
