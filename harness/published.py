"""Published numbers kept as data: ``tasks/<family>/published.yaml``, keyed by task name."""
from __future__ import annotations

from typing import Any

import yaml

from .errors import HarnessError
from .task import Task, TaskIndex


def published_rows(index: TaskIndex, task: Task) -> list[dict[str, Any]]:
    """Published rows for ``task`` from its family's ``published.yaml`` files."""
    rows = []
    for path in index.published_files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise HarnessError(f"invalid YAML: {str(exc).splitlines()[0]}", path) from exc
        entry = data.get(task.name)
        if not entry:
            continue
        for row in entry.get("rows", []):
            unknown = set(row.get("metrics", {})) - set(task.directions)
            if unknown:
                raise HarnessError(f"{task.name}: published metric(s) {sorted(unknown)} are not task metrics", path)
            rows.append({"model": row.get("label") or row["model"], "kind": "published",
                         "metrics": {k: {"value": float(v), "n": None} for k, v in row["metrics"].items()},
                         "source": row.get("source") or entry.get("source", ""),
                         "note": row.get("note") or entry.get("note", "")})
    return rows
