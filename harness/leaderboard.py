"""Leaderboards: one row per model from the run records of one task and one data source, plus the
published rows (real data only), rendered as Markdown, CSV or LaTeX.

Ranking: the primary metric in its direction, then the remaining metrics in task order, then the
model name. Undefined values sort last. Sample-data and real-data results are never mixed.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from .errors import HarnessError
from .published import published_rows
from .results import iter_records
from .task import Task, TaskIndex

ARROWS = {"min": "↓", "max": "↑"}
FORMATS = ("md", "csv", "latex")


def run_rows(results: Path, task: Task, source: str) -> list[dict[str, Any]]:
    """Latest reportable run per model for this task's current version and config."""
    latest: dict[str, dict] = {}
    for rec in iter_records(results, task.name, source):
        if not rec.get("reportable") or rec["task"]["version"] != task.version \
                or rec["task"]["config_hash"] != task.config_hash:
            continue
        tag = rec["model"]["tag"]
        if tag not in latest or rec["created"] > latest[tag]["created"]:
            latest[tag] = rec
    def label(rec: dict) -> str:
        args = rec["model"].get("args") or {}
        return rec["model"]["tag"] + (f" ({', '.join(f'{k}={v}' for k, v in args.items())})" if args else "")

    return [{"model": label(rec), "kind": "run", "metrics": rec["metrics"], "n": rec["n_samples"],
             "source": f"harness {rec['environment']['harness']} ({(rec['environment'].get('git_commit') or 'no git')[:8]})",
             "note": "", "data": rec["data"]["fingerprint"]} for tag, rec in latest.items()]


def _value(row: dict, metric: str) -> float | None:
    v = row["metrics"].get(metric, {}).get("value")
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def rank(rows: list[dict], task: Task) -> list[dict]:
    order = [task.primary_metric] + [m.name for m in task.metrics if m.name != task.primary_metric]

    def key(row: dict):
        parts = []
        for m in order:
            v = _value(row, m)
            sign = 1 if task.directions[m] == "min" else -1
            parts.append((v is None, 0.0 if v is None else sign * v))
        return (*parts, row["model"])

    return sorted(rows, key=key)


def build(index: TaskIndex, task: Task, results: Path, source: str | None = None) -> tuple[list[dict], list[str], str]:
    """(ranked rows, metric columns, data source shown). Default source: real, else sample."""
    if source is None:
        source = "real" if run_rows(results, task, "real") or not run_rows(results, task, "sample") else "sample"
    rows = run_rows(results, task, source)
    if source == "real":
        rows += published_rows(index, task)
    columns = [task.primary_metric] + [m.name for m in task.metrics if m.name != task.primary_metric]
    return rank(rows, task), columns, source


def _shown(v: float) -> str:
    return f"{v:.2f}"


def _best(rows: list[dict], metric: str, direction: str) -> str | None:
    """The best value as displayed: every row that shows it is bold (ties at display precision)."""
    values = [v for r in rows if (v := _value(r, metric)) is not None]
    if not values:
        return None
    return _shown(min(values) if direction == "min" else max(values))


def render(rows: list[dict], columns: list[str], task: Task, fmt: str, source: str) -> str:
    if fmt not in FORMATS:
        raise HarnessError(f"unknown format {fmt!r} (one of {FORMATS})")
    best = {m: _best(rows, m, task.directions[m]) for m in columns}
    header = ["rank", "model", "kind"] + [f"{m} {ARROWS[task.directions[m]]}" for m in columns] + ["N", "source"]
    body = []
    for i, row in enumerate(rows, 1):
        cells = [str(i), row["model"], row["kind"]]
        for m in columns:
            v = _value(row, m)
            text = "–" if v is None else _shown(v)
            if v is not None and text == best[m] and fmt != "csv":
                text = f"**{text}**" if fmt == "md" else f"\\textbf{{{text}}}"
            cells.append(text)
        cells += [str(row.get("n") or "–"), row["source"] + (f"; {row['note']}" if row["note"] else "")]
        body.append(cells)
    title = f"{task.name} (v{task.version}, config {task.config_hash}) — data: {source}"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["rank", "model", "kind", *columns, "N", "source"])
        writer.writerows(body)
        return buf.getvalue()
    if fmt == "latex":
        esc = lambda s: s.replace("_", "\\_").replace("%", "\\%").replace("&", "\\&")  # noqa: E731
        lines = [f"% {title}", "\\begin{tabular}{rll" + "r" * len(columns) + "rl}", "\\toprule",
                 " & ".join(esc(h).replace("↓", "$\\downarrow$").replace("↑", "$\\uparrow$") for h in header) + " \\\\",
                 "\\midrule"]
        lines += [" & ".join(c if c.startswith("\\textbf") else esc(c) for c in cells) + " \\\\" for cells in body]
        lines += ["\\bottomrule", "\\end{tabular}"]
        return "\n".join(lines) + "\n"
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    if not body:
        lines.append("_no results yet_")
    if source == "sample":
        lines += ["", "_Synthetic-sample results only. Published rows appear on the real-data board (--source real)._"]
    return "\n".join(lines) + "\n"
