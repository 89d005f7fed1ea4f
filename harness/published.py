"""Published numbers kept as data: ``tasks/<family>/published.yaml`` (strict schema).

::

    defaults: {status: cites, tolerance: 0.5}   # optional, for every entry of the file
    <task name>:
      source: "paper, table"            # default source of its rows (paper table or repo path)
      note: "how the setting differs"   # optional
      status: reproduces | cites        # entry default (overrides the file's)
      tolerance: 0.5 | {mae: 0.5, pearson: 0.02}   # absolute; one number or per metric
      rows:
        - model: pos                    # harness model (its leaderboard label) or the published name
          label: "POS"                  # as published (default: model)
          metrics: {mae: 3.67}          # task metric names -> published values
          status:, tolerance:, source:, note:      # per row, overriding the entry
    <group name>:                       # a mean over protocol parts: recomputed, never copied
      parts: [task-a, task-b]
      aggregate: mean
      rows:
        - model: pos                    # every part has a row for this model; its metrics are their mean
          printed: {mae: 5.1}           # the average as the paper prints it: checked, not used
        - model: ica                    # printed-only: NO part has a row for this model (the paper
          metrics: {mae: 6.2}           # printed only the average); kept as printed, marked printed_only

``status: reproduces`` rows are numbers a harness run on the real data must match within the
tolerance (``harness regress``); ``cites`` rows are shown on real-data leaderboards, never checked.
A printed average may differ from the recomputed mean only by rounding: 10^-d, d being the most
decimals among it and its parts (half a unit for the average, half for the mean of the parts;
YAML keeps no trailing zeros, so 4.00 counts as a whole number).
A group row may carry ``metrics`` only when none of the parts has a row for its model: those
printed-only rows (``printed_only``) cannot be recomputed; with part rows, ``metrics`` is refused.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import statistics
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import HarnessError
from .task import Task, TaskIndex, _read_yaml, _unknown_keys

STATUSES = ("reproduces", "cites")
AGGREGATES = {"mean": statistics.fmean}
DEFAULT_KEYS = {"status", "tolerance"}
ENTRY_KEYS = DEFAULT_KEYS | {"source", "note", "rows"}
GROUP_KEYS = ENTRY_KEYS | {"parts", "aggregate"}
ROW_KEYS = DEFAULT_KEYS | {"model", "label", "metrics", "source", "note"}
GROUP_ROW_KEYS = ROW_KEYS | {"printed"}   # 'metrics' only on printed-only rows (no part has the model)


@dataclasses.dataclass(frozen=True)
class Row:
    """One published row, resolved: a group row's ``metrics`` are the recomputed mean of its parts."""

    entry: str                       # the task (or published group) it belongs to
    model: str
    label: str
    metrics: dict[str, float]
    status: str
    tolerance: dict[str, float]      # metric -> absolute tolerance (may be empty for cites rows)
    source: str
    note: str
    path: Path
    parts: tuple[str, ...] = ()
    aggregate: str = ""
    printed: dict[str, float] = dataclasses.field(default_factory=dict)
    printed_only: bool = False       # a group row whose metrics are the printed average (no part rows)

    def to_leaderboard(self) -> dict[str, Any]:
        return {"model": self.label, "kind": "published", "status": self.status,
                "metrics": {k: {"value": v, "n": None} for k, v in self.metrics.items()},
                "tolerance": self.tolerance, "source": self.source, "note": self.note,
                "printed_only": self.printed_only}


def published_rows(index: TaskIndex, task: Task) -> list[dict[str, Any]]:
    """Published rows for ``task`` as leaderboard rows (the whole file is validated)."""
    return entry_rows(index, task.name)


def entry_rows(index: TaskIndex, entry: str) -> list[dict[str, Any]]:
    """Published rows of one entry (a task, or a group: recomputed means and printed-only rows)."""
    return [row.to_leaderboard() for row in load_published(index) if row.entry == entry]


def load_published(index: TaskIndex, files: list[Path] | None = None) -> list[Row]:
    """Every row of ``files`` (default: the index's ``published.yaml`` files), validated."""
    rows: list[Row] = []
    for path in index.published_files if files is None else files:
        rows.extend(_load_file(index, path))
    return rows


def aggregate(how: str, values: list[float]) -> float:
    """Combine one metric over a group's parts (``mean``)."""
    return float(AGGREGATES[how](values))


def rounding_tolerance(*values: float) -> float:
    """10^-d, d = the most decimals among ``values`` (whole numbers count 0; plus float slack)."""
    decimals = max(0 if float(v).is_integer() else -Decimal(repr(float(v))).as_tuple().exponent for v in values)
    return 10.0 ** -decimals + 1e-9


def _hint(name: str, choices) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _where(entry: str, i: int | None = None) -> str:
    return entry if i is None else f"{entry} row {i + 1}"


def strict_mapping(data: Any, allowed: set[str], where: str, path: Path) -> dict:
    if not isinstance(data, dict):
        raise HarnessError(f"{where}: expected a mapping, got {data!r}", path)
    try:
        _unknown_keys(data, allowed, path)
    except HarnessError as exc:
        raise HarnessError(f"{where}: {exc.message}", path) from exc
    return data


def _number(v: Any, what: str, path: Path) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise HarnessError(f"{what} must be a finite number, got {v!r}", path)
    return float(v)


def _values(raw: Any, metrics: set[str], what: str, path: Path) -> dict[str, float]:
    """A ``{metric: number}`` map whose metrics are all among ``metrics``."""
    if not isinstance(raw, dict) or not raw:
        raise HarnessError(f"{what} must map metric names to numbers", path)
    for name in raw:
        if name not in metrics:
            raise HarnessError(f"{what}: {name!r} is not a metric of the task{_hint(name, metrics)}; "
                               f"known: {sorted(metrics)}", path)
    return {k: _number(v, f"{what}.{k}", path) for k, v in raw.items()}


def _tolerance(raw: Any, metrics: set[str], what: str, path: Path) -> dict[str, float]:
    if raw is None:
        return {}
    tol = {m: raw for m in metrics} if not isinstance(raw, dict) else raw
    out = _values(tol, metrics, f"{what} tolerance", path)
    if any(v < 0 for v in out.values()):
        raise HarnessError(f"{what}: a tolerance must be ≥ 0, got {raw!r}", path)
    return out


def _settings(layers: list[dict], metrics: set[str], where: str, path: Path) -> tuple[str, dict[str, float]]:
    """(status, tolerance) from the innermost layer that sets each (row, entry, file defaults)."""
    status = next((d["status"] for d in layers if "status" in d), None)
    if status not in STATUSES:
        raise HarnessError(f"{where}: status must be one of {STATUSES} (on the row, the entry or "
                           f"'defaults'), got {status!r}", path)
    tolerance = _tolerance(next((d["tolerance"] for d in layers if "tolerance" in d), None), metrics, where, path)
    return status, tolerance


def _load_file(index: TaskIndex, path: Path) -> list[Row]:
    data = _read_yaml(path)
    defaults = strict_mapping(data.pop("defaults", {}) or {}, DEFAULT_KEYS, "defaults", path)
    task_rows: dict[str, dict[str, Row]] = {}
    groups = []
    for name, entry in data.items():
        name = str(name)
        if isinstance(entry, dict) and "parts" in entry:
            groups.append((name, entry))
        elif name in index.tasks:
            task_rows[name] = _task_entry(index.tasks[name], entry, defaults, path)
        else:
            raise HarnessError(f"unknown key {name!r}: not a task, and no 'parts:' to make it a group"
                               f"{_hint(name, [*index.tasks, 'defaults'])}", path)
    rows = [row for by_model in task_rows.values() for row in by_model.values()]
    for name, entry in groups:
        rows.extend(_group_entry(index, name, entry, defaults, task_rows, path))
    return rows


def _rows(entry: dict, where: str, path: Path) -> list:
    rows = entry.get("rows")
    if not isinstance(rows, list) or not rows:
        raise HarnessError(f"{where}: 'rows' must be a non-empty list", path)
    return rows


def _task_entry(task: Task, entry: Any, defaults: dict, path: Path) -> dict[str, Row]:
    entry = strict_mapping(entry, ENTRY_KEYS, task.name, path)
    metrics = set(task.directions)
    out: dict[str, Row] = {}
    for i, raw in enumerate(_rows(entry, task.name, path)):
        where = _where(task.name, i)
        raw = strict_mapping(raw, ROW_KEYS, where, path)
        row = _row(task.name, raw, entry, defaults, metrics, where, path,
                   metrics=_values(raw.get("metrics"), metrics, f"{where} metrics", path))
        if row.model in out:
            raise HarnessError(f"{where}: model {row.model!r} is listed twice for {task.name}", path)
        out[row.model] = row
    return out


def _model(raw: dict, where: str, path: Path) -> str:
    if not isinstance(raw.get("model"), str) or not raw["model"]:
        raise HarnessError(f"{where}: 'model' (a name) is required", path)
    return raw["model"]


def _row(name: str, raw: dict, entry: dict, defaults: dict, known: set[str], where: str, path: Path,
         **fields: Any) -> Row:
    status, tolerance = _settings([raw, entry, defaults], known, where, path)
    source = str(raw.get("source") or entry.get("source") or "")
    if not source:
        raise HarnessError(f"{where}: no 'source' (paper table or repo path) on the row or the entry", path)
    row = Row(entry=name, model=_model(raw, where, path), label=str(raw.get("label") or raw["model"]), status=status,
              tolerance=tolerance, source=source, note=str(raw.get("note") or entry.get("note") or ""),
              path=path, **fields)
    untolerated = sorted(set(row.metrics) - set(tolerance))
    if status == "reproduces" and untolerated:
        raise HarnessError(f"{where}: status reproduces needs a tolerance for {untolerated}", path)
    return row


def _group_entry(index: TaskIndex, name: str, entry: dict, defaults: dict,
                 task_rows: dict[str, dict[str, Row]], path: Path) -> list[Row]:
    """A group's rows: each metric the mean (``aggregate``) of the same model's rows in the parts;
    a row whose model no part lists may give the printed average as ``metrics`` (printed-only)."""
    entry = strict_mapping(entry, GROUP_KEYS, name, path)
    if name in index.tasks:
        raise HarnessError(f"{name}: a task entry cannot have 'parts'", path)
    parts = entry["parts"]
    if not isinstance(parts, list) or len(parts) < 2 or not all(isinstance(p, str) for p in parts):
        raise HarnessError(f"{name}: 'parts' must list at least two task names", path)
    for part in parts:
        if part not in index.tasks:
            raise HarnessError(f"{name}: part {part!r} is not a task{_hint(part, index.tasks)}", path)
    if name in index.groups and (index.groups[name].aggregate == "none" or index.groups[name].tasks != parts):
        raise HarnessError(f"{name}: the task group of this name is never averaged (aggregate: "
                           f"{index.groups[name].aggregate}) or has other parts", path)
    how = entry.get("aggregate", "mean")
    if how not in AGGREGATES:
        raise HarnessError(f"{name}: 'aggregate' must be one of {sorted(AGGREGATES)}, got {how!r}", path)
    common = set.intersection(*(set(index.tasks[p].directions) for p in parts))
    out = []
    for i, raw in enumerate(_rows(entry, name, path)):
        where = _where(name, i)
        raw = strict_mapping(raw, GROUP_ROW_KEYS, where, path)
        model = _model(raw, where, path)
        if "metrics" in raw:
            listed = [p for p in parts if model in task_rows.get(p, {})]
            if listed:
                raise HarnessError(f"{where}: a group row has no 'metrics': they are recomputed from its parts "
                                   f"(put the paper's average under 'printed', where it is checked); "
                                   f"{model!r} has rows in {listed}", path)
            if "printed" in raw:
                raise HarnessError(f"{where}: a printed-only row (no part lists {model!r}) gives the printed "
                                   f"average under 'metrics' alone, not also under 'printed'", path)
            metrics = _values(raw["metrics"], common, f"{where} metrics", path)
            out.append(_row(name, raw, entry, defaults, common, where, path, metrics=metrics,
                            parts=tuple(parts), aggregate=how, printed_only=True))
            continue
        members = []
        for part in parts:
            member = task_rows.get(part, {}).get(model)
            if member is None:
                raise HarnessError(f"{where}: no published row for model {model!r} in part {part!r} "
                                   f"(a group's numbers are recomputed from its parts)", path)
            members.append(member)
        names = [m for m in members[0].metrics if all(m in r.metrics for r in members) and m in common]
        if not names:
            raise HarnessError(f"{where}: the parts' rows for {model!r} share no metric", path)
        metrics = {m: aggregate(how, [r.metrics[m] for r in members]) for m in names}
        printed = _values(raw["printed"], set(names), f"{where} printed", path) if "printed" in raw else {}
        for m, value in printed.items():
            parts_values = [r.metrics[m] for r in members]
            allowed = rounding_tolerance(value, *parts_values)
            if abs(value - metrics[m]) > allowed:
                shown = ", ".join(f"{p} {v:g}" for p, v in zip(parts, parts_values))
                raise HarnessError(f"{where}: printed {m} {value:g} disagrees with the recomputed {how} "
                                   f"{metrics[m]:.4f} of its parts ({shown}) by more than rounding "
                                   f"(±{allowed:.2g}); averages are recomputed, never copied", path)
        out.append(_row(name, raw, entry, defaults, set(names), where, path, metrics=metrics,
                        parts=tuple(parts), aggregate=how, printed=printed))
    return out
