"""Leaderboards: one :class:`Table` per task and data source, rendered as Markdown, CSV, LaTeX,
JSON or a self-contained HTML page.

Rows: the latest reportable run per model (for the task's current version and config); runs of the
same model that differ only by seed are one row, mean ± std (ddof=1) over the seeds; published
rows (real-data boards only) are quoted with their sources. Sample-data and real-data results are
never mixed: the board shows real data when any real run exists, else the sample.

A group with ``aggregate: mean`` also gets a group table (:func:`build_group`): per model tag with a
current reportable run on every part, each metric is the mean of the parts' values (no CI), plus
the group's published rows (recomputed means and printed-only averages).

Order and ranks: the primary metric in its direction, then the other metrics in task order, then
the model name; shared ranks follow :data:`RANK_RULE`. Bold: every cell that shows its column's
best value at display precision (direction from the task).
"""
from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import statistics
from pathlib import Path
from typing import Any

from .errors import HarnessError
from .published import entry_rows, published_rows
from .files import atomic_path
from .records import iter_records
from .tables import markdown_cell
from .task import Group, Task, TaskIndex

ARROWS = {"min": "↓", "max": "↑"}
#: format → file extension
FORMATS = {"md": "md", "csv": "csv", "latex": "tex", "json": "json", "html": "html"}
DASH = "–"

RANK_RULE = (
    "Rank (one rule for the run board and the team board): rows are sorted by {primary} (best "
    "first), then the other ranked metrics in task order, then the earlier upload (team board) or "
    "the model name (run board). Going down, the first unranked row opens a group and takes its "
    "position as rank; each following row shares that rank while its 95% CI on {primary} overlaps "
    "the CI of the group's first row (closed intervals; a row without a CI counts as its point "
    "value); the first row that does not overlap opens the next group (ranks like 1, 1, 3). Overlap "
    "is only ever tested against a group's first row, so ties never chain. Rows whose {primary} is "
    "undefined are not ranked.")


# ----------------------------------------------------------------------------- the table model
@dataclasses.dataclass
class Column:
    """A metric column: its better direction, unit and display precision."""

    name: str
    direction: str  # "min" or "max"
    unit: str = ""
    digits: int = 2
    ranked: bool = True  # False: never a tie-break (an oracle number); marked "not ranked" in the header

    @property
    def header(self) -> str:
        return (f"{self.name} {ARROWS[self.direction]}" + (f" ({self.unit})" if self.unit else "")
                + ("" if self.ranked else " [not ranked]"))

    def shown(self, v: float) -> str:
        return f"{v:.{self.digits}f}"


@dataclasses.dataclass
class Cell:
    """One metric of one row. ``k``: seed values aggregated; ``std`` over them (k ≥ 2)."""

    value: float | None
    std: float | None = None
    k: int = 1
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    bold: bool = False

    def interval(self) -> tuple[float, float] | None:
        """The CI used by the rank rule (the point value when there is no CI)."""
        if self.value is None:
            return None
        return (self.value if self.ci_low is None else self.ci_low,
                self.value if self.ci_high is None else self.ci_high)


@dataclasses.dataclass
class Row:
    model: str
    kind: str                       # "run" or "published"
    cells: dict[str, Cell]
    rank: int | None = None
    n: int | None = None            # test samples
    seeds: list[int] = dataclasses.field(default_factory=list)
    source: str = ""
    note: str = ""
    tag: str | None = None          # run folder name (file-name safe)
    runs: list[str] = dataclasses.field(default_factory=list)  # record.json per seed
    samples: str | None = None      # samples.csv of the latest run (plotted)
    samples_seed: int | None = None  # that run's seed
    tiebreak: str = ""              # team board: the upload time and sequence number (earlier first)


@dataclasses.dataclass
class Table:
    task: str
    version: int
    config_hash: str
    family: str
    data: str                       # "real" or "sample"
    primary: str
    columns: list[Column]
    rows: list[Row]
    notes: list[str]
    group: bool = False             # a group table: ``task`` is the group, metrics the mean of its parts
    phase: str | None = None        # a team board: the challenge phase ranked (rows are teams)

    @property
    def title(self) -> str:
        if self.phase is not None:
            return f"{self.task} (v{self.version}, config {self.config_hash}) — phase {self.phase}, teams — data: {self.data}"
        if self.group:
            return f"{self.task} (v{self.version}, mean of parts, recomputed) — data: {self.data}"
        return f"{self.task} (v{self.version}, config {self.config_hash}) — data: {self.data}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Table":
        d = {k: v for k, v in d.items() if k != "title"}
        d["columns"] = [Column(**c) for c in d["columns"]]
        d["rows"] = [Row(**{**r, "cells": {m: Cell(**c) for m, c in r["cells"].items()}}) for r in d["rows"]]
        return cls(**d)


# ----------------------------------------------------------------------------- building it
def _current(rec: dict, task: Task) -> bool:
    return bool(rec.get("reportable")) and rec["task"]["version"] == task.version \
        and rec["task"]["config_hash"] == task.config_hash


def _identity(rec: dict) -> str:
    """Everything but the seed that must agree for runs to be aggregated over seeds."""
    return json.dumps([rec["model"], rec["data"]["fingerprint"], rec["environment"].get("harness")],
                      sort_keys=True, default=str)


def seed_runs(results: Path, task: Task, source: str, skipped: list[str] | None = None) -> dict[str, list[dict]]:
    """Per model tag: its latest reportable run plus the latest run of every other seed that
    differs from it only by seed (same model, arguments, code, data, harness version), by seed."""
    return _by_seed(iter_records(results, task.name, source, skipped), task)


def _by_seed(records: Any, task: Task) -> dict[str, list[dict]]:
    """:func:`seed_runs` of records already read."""
    by_tag: dict[str, list[dict]] = {}
    for rec in records:
        if _current(rec, task):
            by_tag.setdefault(rec["model"]["tag"], []).append(rec)
    out = {}
    for tag, recs in by_tag.items():
        recs.sort(key=lambda r: (r["created"], r["_path"]), reverse=True)
        per_seed: dict[Any, dict] = {}
        for rec in recs:
            if _identity(rec) == _identity(recs[0]):
                per_seed.setdefault(rec.get("seed"), rec)
        out[tag] = sorted(per_seed.values(), key=lambda r: (r.get("seed") is None, r.get("seed") or 0))
    return out


def aggregate(metrics: list[dict]) -> Cell:
    """One cell from a metric's per-seed values: the mean, std (ddof=1) and k of the defined
    values; the CI is the single run's, or the hull of the per-seed CIs."""
    values = [float(m["value"]) for m in metrics if m.get("value") is not None]
    lows = [m["ci_low"] for m in metrics if m.get("ci_low") is not None]
    highs = [m["ci_high"] for m in metrics if m.get("ci_high") is not None]
    ns = [m["n"] for m in metrics if m.get("n") is not None]
    return Cell(value=statistics.fmean(values) if values else None,
                std=statistics.stdev(values) if len(values) > 1 else None, k=len(values),
                ci_low=min(lows) if lows else None, ci_high=max(highs) if highs else None,
                n=min(ns) if ns else None)


def _label(rec: dict) -> str:
    args = rec["model"].get("args") or {}
    return rec["model"]["tag"] + (f" ({', '.join(f'{k}={v}' for k, v in args.items())})" if args else "")


def _run_row(recs: list[dict], columns: list[Column]) -> Row:
    latest = max(recs, key=lambda r: (r["created"], r["_path"]))
    env = latest["environment"]
    folder = Path(latest["_path"]).parent
    primary_n = (latest["metrics"].get(columns[0].name) or {}).get("n")  # N of the ranked number
    return Row(model=_label(latest), kind="run", n=primary_n or latest.get("n_samples"),
               cells={c.name: aggregate([r["metrics"].get(c.name, {}) for r in recs]) for c in columns},
               seeds=[r["seed"] for r in recs if r.get("seed") is not None],
               source=f"harness {env['harness']} ({(env.get('git_commit') or 'no git')[:8]})"
                      + (f", model {latest['model']['fingerprint'][:8]}" if latest["model"].get("fingerprint") else ""),
               tag=latest["model"]["tag"], runs=[r["_path"] for r in recs],
               samples=str(folder / latest.get("files", {}).get("samples", "samples.csv")),
               samples_seed=latest.get("seed"))


def _published_row(p: dict, columns: list[Column]) -> Row:
    cells = {c.name: aggregate([p["metrics"][c.name]] if c.name in p["metrics"] else []) for c in columns}
    note = p.get("note") or ""
    if p.get("printed_only"):
        note = "; ".join(filter(None, [note, "printed average only (no per-part values; not recomputed)"]))
    return Row(model=p["model"], kind="published", cells=cells, source=p.get("source") or "", note=note)


def task_columns(task: Task) -> list[Column]:
    """Primary metric first, then the task's order; unit and precision from the family's specs
    (3 decimals for metrics bounded within [-1, 1], such as correlations)."""
    from .family import FAMILIES

    specs = getattr(FAMILIES.get(task.family), "metric_specs", {})
    order = [task.primary_metric] + [m.name for m in task.metrics if m.name != task.primary_metric]
    cols = []
    for name in order:
        spec = specs.get(name)
        low, high = getattr(spec, "bounds", (None, None))
        bounded = low is not None and high is not None and -1 <= low and high <= 1
        cols.append(Column(name, task.directions[name], getattr(spec, "unit", ""), 3 if bounded else 2,
                           getattr(spec, "ranked", True)))
    return cols


def order_key(values: dict[str, float | None], columns: list[Column], *tail: Any) -> tuple:
    """The sort key of :data:`RANK_RULE`: each ranked metric in its direction (undefined last), then
    ``tail`` (the tie-break). The team board picks each team's best entry with it too."""
    parts = []
    for c in (c for c in columns if c.ranked):
        v = values.get(c.name)
        parts.append((v is None, 0.0 if v is None else (v if c.direction == "min" else -v)))
    return (*parts, *tail)


def sort_rows(rows: list[Row], columns: list[Column]) -> list[Row]:
    """Primary metric in its direction, then the other ranked metrics, then the tie-break (the
    earlier upload on a team board), the model (and kind); undefined values last."""
    return sorted(rows, key=lambda row: order_key({n: c.value for n, c in row.cells.items()}, columns,
                                                  row.tiebreak, row.model, row.kind))


def assign_ranks(rows: list[Row], primary: str) -> None:
    """Set ``row.rank`` on sorted rows by :data:`RANK_RULE`."""
    leader: tuple[float, float] | None = None
    rank = None
    for position, row in enumerate(rows, 1):
        iv = row.cells[primary].interval()
        if iv is None:
            row.rank = None
            continue
        if leader is None or iv[0] > leader[1] or iv[1] < leader[0]:
            leader, rank = iv, position
        row.rank = rank


def mark_best(rows: list[Row], columns: list[Column]) -> None:
    """Bold every cell showing its column's best value (ties at display precision)."""
    for c in columns:
        values = [v for r in rows if (v := r.cells[c.name].value) is not None]
        if values and c.ranked:  # an unranked column (e.g. a ratio whose ideal is 1) has no "best"
            best = c.shown(min(values) if c.direction == "min" else max(values))
            for r in rows:
                cell = r.cells[c.name]
                cell.bold = cell.value is not None and c.shown(cell.value) == best


def _notes(task: Task, source: str, runs: dict[str, list[dict]]) -> list[str]:
    p = task.primary_metric
    notes = [("Data: real datasets. Published rows (kind = published) are quoted from their sources, "
              "not re-run here." if source == "real" else
              "Data: the embedded synthetic sample (sample-data results only). Published rows "
              "appear on the real-data board (--source real).")]
    notes.append("Values: the latest reportable run per model. A model with runs that differ only by "
                 "seed shows mean ± std (ddof=1) over its seeds (seeds column = n); its CI is the "
                 "hull of the per-seed CIs.")
    methods = sorted({m for recs in runs.values() for r in recs
                      if (m := r["metrics"].get(p, {}).get("se_method"))})
    if methods:
        notes.append(f"95% CI on {p}: {'; '.join(methods)}.")
    notes.append(RANK_RULE.format(primary=p))
    notes.append("Bold: the best value of each ranked column (↓ lower is better, ↑ higher is better), "
                 "every tie at display precision.")
    return notes


def build(index: TaskIndex, task: Task, results: Path, source: str | None = None) -> Table:
    """The leaderboard of ``task`` from ``results``. Default source: real, else sample."""
    if source not in (None, "real", "sample"):
        raise HarnessError(f"unknown data source {source!r} (real or sample)")
    skipped: list[str] = []
    records = list(iter_records(results, task.name, skipped=skipped))  # one read of each record
    real = _by_seed((r for r in records if r["data"]["source"] == "real"), task)
    sample = _by_seed((r for r in records if r["data"]["source"] == "sample"), task)
    if source is None:
        source = "real" if real or not sample else "sample"
    runs = real if source == "real" else sample
    columns = task_columns(task)
    rows = [_run_row(recs, columns) for recs in runs.values()]
    if source == "real":
        rows += [_published_row(p, columns) for p in published_rows(index, task)]
    return Table(task=task.name, version=task.version, config_hash=task.config_hash, family=task.family,
                 data=source, primary=task.primary_metric, columns=columns, rows=_ordered(rows, columns, task.primary_metric),
                 notes=_notes(task, source, runs) + _left_out(records, task, skipped))


def _left_out(records: list[dict], task: Task, skipped: list[str]) -> list[str]:
    """A note naming the runs of this task that are not on any board, and why."""
    smoke, stale = [], []
    for rec in records:
        where = f"{Path(rec['_path']).parent.name} ({rec['data']['source']})"
        if not rec.get("reportable"):
            smoke.append(where)
        elif not _current(rec, task):
            stale.append(f"{where}, v{rec['task']['version']} {rec['task']['config_hash']}")
    notes = []
    if smoke:
        notes.append(f"Not shown: {len(smoke)} --limit run(s), never reportable (rerun without --limit): {', '.join(smoke)}.")
    if stale:
        notes.append(f"Not shown: {len(stale)} run(s) of another task version or config (rerun them): {', '.join(stale)}.")
    if skipped:
        notes.append(f"Skipped {len(set(skipped))} unreadable run record(s): {'; '.join(sorted(set(skipped)))}.")
    return notes


def _ordered(rows: list[Row], columns: list[Column], primary: str) -> list[Row]:
    rows = sort_rows(rows, columns)
    assign_ranks(rows, primary)
    mark_best(rows, columns)
    return rows


def _mean_row(per_part: list[list[dict]], columns: list[Column]) -> Row:
    """A group row: each metric the mean of the parts' cells (each the part's seed mean); N summed; no CI."""
    parts = [_run_row(recs, columns) for recs in per_part]
    cells = {}
    for c in columns:
        values = [p.cells[c.name].value for p in parts]
        ns = [p.cells[c.name].n for p in parts]
        cells[c.name] = Cell(value=statistics.fmean(values) if all(v is not None for v in values) else None,
                             n=sum(ns) if all(n is not None for n in ns) else None)
    ns = [p.n for p in parts]
    return Row(model=parts[0].model, kind="run", cells=cells, n=sum(ns) if all(n is not None for n in ns) else None,
               source="; ".join(dict.fromkeys(p.source for p in parts)), note="mean of parts; parts' CIs not combined",
               tag=parts[0].tag, runs=[r for p in parts for r in p.runs])


def build_group(index: TaskIndex, group: Group, results: Path, source: str | None = None) -> Table:
    """The group table of an ``aggregate: mean`` group: per model tag with a current reportable run
    on every part, each metric is the mean of the parts' values; plus the group's published rows."""
    if group.aggregate != "mean":
        raise HarnessError(f"group {group.name!r} is never averaged (aggregate: {group.aggregate})")
    if source not in (None, "real", "sample"):
        raise HarnessError(f"unknown data source {source!r} (real or sample)")
    tasks = [index.tasks[t] for t in group.tasks]
    skipped: list[str] = []
    real = {t.name: seed_runs(results, t, "real", skipped) for t in tasks}
    sample = {t.name: seed_runs(results, t, "sample", skipped) for t in tasks}
    if source is None:
        source = "real" if any(real.values()) or not any(sample.values()) else "sample"
    runs = real if source == "real" else sample
    common = set.intersection(*(set(t.directions) for t in tasks))
    first = tasks[0]
    if first.primary_metric not in common:
        raise HarnessError(f"group {group.name!r}: its parts do not all have the metric {first.primary_metric!r}")
    columns = [c for c in task_columns(first) if c.name in common]
    tags = list(dict.fromkeys(tag for t in tasks for tag in runs[t.name]))
    complete = [tag for tag in tags if all(tag in runs[t.name] for t in tasks)]
    rows = [_mean_row([runs[t.name][tag] for t in tasks], columns) for tag in complete]
    if source == "real":
        rows += [_published_row(p, columns) for p in entry_rows(index, group.name)]
    p = first.primary_metric
    notes = [_notes(first, source, {})[0],
             f"Values: each metric is the mean of the parts' values ({', '.join(group.tasks)}), each part "
             "giving the model's latest reportable run (mean over seeds where runs differ only by seed), "
             "on the parts' current versions and configs; N is the sum of the parts' N. Mean of parts; "
             "parts' CIs not combined (no CI).",
             "Published group rows: the mean of the paper's per-part rows, recomputed; or, where the paper "
             "printed only the average (no per-part values), that average as printed (noted)."]
    missing = {tag: [t.name for t in tasks if tag not in runs[t.name]] for tag in tags if tag not in complete}
    if missing:
        notes.append("Not ranked (no current reportable run on every part): "
                     + "; ".join(f"{tag} (missing {', '.join(parts)})" for tag, parts in missing.items()) + ".")
    notes.append(RANK_RULE.format(primary=p))
    notes.append("Bold: the best value of each ranked column (↓ lower is better, ↑ higher is better), "
                 "every tie at display precision.")
    if skipped:
        notes.append(f"Skipped {len(set(skipped))} unreadable run record(s): {'; '.join(sorted(set(skipped)))}.")
    return Table(task=group.name, version=group.version, config_hash="", family=first.family, data=source,
                 primary=p, columns=columns, rows=_ordered(rows, columns, p), notes=notes, group=True)


def team_board(task: Task, entries: list[dict], phase: str, policy: str, other_reference: int = 0) -> Table:
    """The challenge board of one phase: one row per team (its entry chosen by
    :meth:`harness.submissions.SubmissionStore.ranked`), ordered and ranked by :data:`RANK_RULE` like the
    run board. ``data`` is the reference's (sample or real; "unknown" for entries that predate it)."""
    columns = task_columns(task)
    rows = [Row(model=e["model"], kind="team", n=e["n"], source=f"{e['time']} (entry {e['id']})", tiebreak=e["tiebreak"],
                cells={c.name: aggregate([e["metrics"].get(c.name) or {}]) for c in columns}) for e in entries]
    kinds = sorted({e.get("data") or "unknown" for e in entries})
    data = kinds[0] if len(kinds) == 1 else "mixed" if kinds else "none"
    p = task.primary_metric
    notes = [f"Teams: each team's {'best' if policy == 'best' else 'latest'} scored submission of phase {phase!r}, "
             "scored against the phase's latest reference; failed submissions are never ranked."]
    if data == "sample":
        notes.append("Data: the reference holds the embedded synthetic sample's labels (data: sample): this board "
                     "is a rehearsal, not a challenge result.")
    elif data in ("unknown", "mixed"):
        notes.append("Data: the reference does not say whether its labels are real (a reference without its "
                     ".harness.json description, or entries recorded before the store kept it).")
    else:
        notes.append(f"Data: {data} labels (from the reference's description).")
    methods = sorted({m for e in entries if (m := (e["metrics"].get(p) or {}).get("se_method"))})
    if methods:
        notes.append(f"95% CI on {p}: {'; '.join(methods)}.")
    notes.append(RANK_RULE.format(primary=p))
    notes.append("Bold: the best value of each ranked column (↓ lower is better, ↑ higher is better), "
                 "every tie at display precision.")
    if other_reference:
        notes.append(f"{other_reference} scored submission(s) of this phase were scored against an earlier reference "
                     "and are not ranked; rescore them against the current one.")
    return Table(task=task.name, version=task.version, config_hash=task.config_hash, family=task.family, data=data,
                 primary=p, columns=columns, rows=_ordered(rows, columns, p), notes=notes, phase=phase)


# ----------------------------------------------------------------------------- rendering
def _value_text(cell: Cell, col: Column) -> str:
    if cell.value is None:
        return DASH
    return col.shown(cell.value) + (f" ± {col.shown(cell.std)}" if cell.std is not None else "")


def _ci_text(cell: Cell, col: Column) -> str:
    if cell.ci_low is None or cell.ci_high is None:
        return DASH
    return f"[{col.shown(cell.ci_low)}, {col.shown(cell.ci_high)}]"


def _keys(table: Table) -> list[str]:
    """Column keys of the displayed table (the CI column follows the primary metric). A team board
    shows rank, team, metrics, N and the submission instead of kind, seeds and source."""
    team = table.phase is not None
    keys = ["rank", "model"] + ([] if team else ["kind"])
    for c in table.columns:
        keys += [c.name] + ([f"{c.name}_ci"] if c.name == table.primary else [])
    return keys + (["N", "submitted"] if team else ["N", "seeds", "source"])


def _text(table: Table, row: Row, key: str) -> tuple[str, bool]:
    """One displayed cell: (text, bold)."""
    if key == "rank":
        return DASH if row.rank is None else str(row.rank), False
    if key in ("model", "kind"):
        return getattr(row, key), False
    if key == "N":
        return str(row.n) if row.n else DASH, False
    if key == "seeds":
        return str(len(row.seeds)) if row.seeds else DASH, False
    if key in ("source", "submitted"):
        return row.source + (f"; {row.note}" if row.note else ""), False
    if key.endswith("_ci") and key[:-3] == table.primary:
        return _ci_text(row.cells[table.primary], table.column(table.primary)), False
    cell = row.cells[key]
    return _value_text(cell, table.column(key)), cell.bold


def _grid(table: Table) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """Header and body of the displayed table; each body cell is (text, bold)."""
    names = {c.name: c.header for c in table.columns} | {f"{table.primary}_ci": "95% CI"}
    if table.phase is not None:
        names["model"] = "team"
    keys = _keys(table)
    return [names.get(k, k) for k in keys], [[_text(table, row, k) for k in keys] for row in table.rows]


def render_md(table: Table) -> str:
    header, body = _grid(table)
    lines = [f"### {table.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(f"**{markdown_cell(t)}**" if b else markdown_cell(t) for t, b in cells) + " |"
              for cells in body]
    if not body:
        lines.append("_no results yet_")
    lines += [""] + [f"- {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


def _num(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def render_csv(table: Table) -> str:
    """Full-precision values, one row per entry; ``<m>_std`` over seeds; the primary's CI."""
    head = ["rank", "team" if table.phase is not None else "model", "kind"]
    for c in table.columns:
        head += [c.name, f"{c.name}_std"]
        head += [f"{c.name}_ci_low", f"{c.name}_ci_high"] if c.name == table.primary else []
    head += ["N", "seeds", "data", "source", "note"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    for row in table.rows:
        out = ["" if row.rank is None else row.rank, row.model, row.kind]
        for c in table.columns:
            cell = row.cells[c.name]
            out += [_num(cell.value), _num(cell.std)]
            if c.name == table.primary:
                out += [_num(cell.ci_low), _num(cell.ci_high)]
        out += [row.n or "", len(row.seeds) or "", table.data, row.source, row.note]
        writer.writerow(out)
    return buf.getvalue()


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
          "↓": r"$\downarrow$", "↑": r"$\uparrow$", "±": r"$\pm$", "–": "--", "—": "---",
          "→": r"$\rightarrow$", "≥": r"$\geq$", "≤": r"$\leq$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters and spell the symbols the tables use."""
    return text.translate(str.maketrans(_LATEX))


def render_latex(table: Table) -> str:
    """A ``table`` float (booktabs) with the title as caption and the notes under the tabular."""
    header, body = _grid(table)
    align = "".join("l" if k in ("model", "kind", "source", "submitted") else "r" for k in _keys(table))
    cell = lambda t, b: f"\\textbf{{{latex_escape(t)}}}" if b else latex_escape(t)  # noqa: E731
    lines = ["\\begin{table}[t]", "\\centering", "\\small", f"\\caption{{{latex_escape(table.title)}}}",
             "\\begin{tabular}{" + align + "}", "\\toprule",
             " & ".join(latex_escape(h) for h in header) + " \\\\", "\\midrule"]
    lines += [" & ".join(cell(t, b) for t, b in cells) + " \\\\" for cells in body]
    lines += ["\\bottomrule", "\\end{tabular}", "", "\\par\\smallskip\\footnotesize"]
    lines += [latex_escape(n) + "\\par" for n in table.notes]
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def render_json(table: Table) -> str:
    return json.dumps(table.to_dict(), indent=2, ensure_ascii=False) + "\n"


_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
td:last-child{white-space:normal;max-width:30em}
th{cursor:pointer;user-select:none;background:#f4f4f4;position:sticky;top:0}
th:nth-child(2),td:nth-child(2),th:nth-child(3),td:nth-child(3),th:last-child,td:last-child{text-align:left}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tr.published{color:#555;font-style:italic}td.best{font-weight:bold}.notes{max-width:60em;color:#444}"""

_ERROR_JS = """window.onerror=function(msg){var e=document.createElement('pre');e.id='js-error';
e.textContent=String(msg);document.body.appendChild(e);};"""

# Click a header: sort best-first (metric columns) or ascending (others; text by lower-cased code
# points); click again to reverse.
# Undefined values stay last. On load, #sort=<column>[:asc|:desc] clicks the header.
_SORT_JS = """(function(){
var table=document.getElementById('board'),body=table.tBodies[0],heads=table.tHead.rows[0].cells;
function val(row,i){var c=row.cells[i];return c.hasAttribute('data-v')?c.getAttribute('data-v'):c.textContent;}
function sortBy(i,dir){
  var num=heads[i].getAttribute('data-type')==='num',rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){
    var x=val(a,i),y=val(b,i),d;
    if(num){if(x===''||y==='')return (x==='')-(y==='')||a.getAttribute('data-i')-b.getAttribute('data-i');d=x-y;}
    else{x=x.toLowerCase();y=y.toLowerCase();d=x<y?-1:x>y?1:0;}
    return (dir==='descending'?-d:d)||a.getAttribute('data-i')-b.getAttribute('data-i');});
  rows.forEach(function(r){body.appendChild(r);});
  for(var j=0;j<heads.length;j++){heads[j].removeAttribute('aria-sort');}
  heads[i].setAttribute('aria-sort',dir);}
Array.prototype.forEach.call(heads,function(th,i){th.addEventListener('click',function(){
  var cur=th.getAttribute('aria-sort');
  sortBy(i,cur?(cur==='ascending'?'descending':'ascending'):th.getAttribute('data-first'));});});
function fromHash(){
  var m=/sort=([^:&]+)(?::(asc|desc))?/.exec(decodeURIComponent(location.hash));if(!m)return;
  for(var i=0;i<heads.length;i++){if(heads[i].getAttribute('data-key')===m[1]){
    heads[i].click();if(m[2]&&heads[i].getAttribute('aria-sort')!==m[2]+'ending')heads[i].click();}}}
window.addEventListener('hashchange',fromHash);fromHash();
document.body.setAttribute('data-ready','1');})();"""


def render_html(table: Table) -> str:
    """A static page: inline CSS and JS, no external asset; columns sort on click."""
    e = html.escape
    header, body = _grid(table)
    keys = _keys(table)
    num = {"rank", "N", "seeds", f"{table.primary}_ci", *(c.name for c in table.columns)}
    first = {c.name: "ascending" if c.direction == "min" else "descending" for c in table.columns}
    ths = "".join(f'<th data-key="{e(k)}" data-type="{"num" if k in num else "text"}" '
                  f'data-first="{first.get(k, "ascending")}">{e(h)}</th>' for k, h in zip(keys, header))

    def sort_value(row: Row, key: str) -> str | None:
        if key in ("rank", "N"):
            v = row.rank if key == "rank" else row.n
            return "" if v is None else str(v)
        if key == "seeds":
            return str(len(row.seeds)) if row.seeds else ""
        if key == f"{table.primary}_ci":
            return _num(row.cells[table.primary].ci_low)
        return _num(row.cells[key].value) if key in row.cells else None

    trs = []
    for i, (row, cells) in enumerate(zip(table.rows, body)):
        tds = []
        for key, (text, bold) in zip(keys, cells):
            v = sort_value(row, key)
            attrs = (f' data-v="{e(v)}"' if v is not None else "") + (' class="best"' if bold else "")
            tds.append(f"<td{attrs}>{e(text)}</td>")
        trs.append(f'<tr class="{row.kind}" data-i="{i}" data-model="{e(row.model)}">{"".join(tds)}</tr>')
    notes = "".join(f"<li>{e(n)}</li>" for n in table.notes)
    empty = "" if trs else "<p><em>no results yet</em></p>"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(table.title)}</title>'
            f"<style>{_CSS}</style><script>{_ERROR_JS}</script></head>\n<body><h1>{e(table.title)}</h1>\n"
            f'<table id="board"><thead><tr>{ths}</tr></thead>\n<tbody>\n' + "\n".join(trs)
            + f"\n</tbody></table>{empty}\n<ul class=\"notes\">{notes}</ul>\n<script>{_SORT_JS}</script>\n</body></html>\n")


RENDERERS = {"md": render_md, "csv": render_csv, "latex": render_latex, "json": render_json, "html": render_html}


def render(table: Table, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise HarnessError(f"unknown format {fmt!r} (one of {', '.join(RENDERERS)})")
    return RENDERERS[fmt](table)


def write(table: Table, fmt: str, out: Path) -> list[tuple[Path, dict]]:
    """Write ``<out>/<task>.<ext>`` (a team board: ``<task>-<phase>.<ext>``) and, for a run board,
    the family's plots beside it; (path, numbers) for each."""
    from .plots import write_plots

    text = render(table, fmt)
    stem = table.task if table.phase is None else f"{table.task}-{table.phase}"
    path = Path(out) / f"{stem}.{FORMATS[fmt]}"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return [(path, {})] + ([] if table.phase is not None else write_plots(table, Path(out)))
