"""Plain-text tables of results, shared by the commands that print them (``harness run``,
``harness score``, ``harness submissions``)."""
from __future__ import annotations

import re

from tabulate import tabulate

#: characters that would break a table's line (newlines and other control characters)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def markdown_cell(text: str) -> str:
    """Text safe inside one Markdown table cell: backslashes and pipes escaped, newlines and control
    characters as spaces."""
    return CONTROL.sub(" ", str(text)).replace("\\", "\\\\").replace("|", "\\|")


def fmt_number(v: float | None, digits: int = 2) -> str:
    """A value for a table cell: ``digits`` decimals, an en dash for none."""
    return "–" if v is None else f"{v:.{digits}f}"


def metrics_table(records: list[dict], mean_of_parts: bool = False) -> str:
    """Metric rows × one column per task (a group's tasks side by side). With ``mean_of_parts``
    (groups whose protocol averages its parts) a last column recomputes the mean of the parts."""
    first = records[0]
    names = list(first["directions"])
    headers = ["metric"] + [r["task"]["name"] for r in records] + (["mean of parts"] if mean_of_parts else [])
    rows = []
    for m in names:
        row = [f"{m} {'↓' if first['directions'][m] == 'min' else '↑'}"]
        values = []
        for r in records:
            v = r["metrics"].get(m, {})
            values.append(v.get("value"))
            if v.get("value") is None:
                reason = v.get("reason", "n=0")
                row.append(reason if reason.startswith("undefined") else f"undefined ({reason})")
                continue
            digits = 3 if abs(v["value"]) <= 1 else 2
            cell = fmt_number(v["value"], digits)
            if v.get("se") is not None:
                cell += f" ± {fmt_number(v['se'], digits)}"
            if v.get("ci_low") is not None:
                cell += f"  [{fmt_number(v['ci_low'], digits)}, {fmt_number(v['ci_high'], digits)}]"
            row.append(cell + f"  (N={v.get('n')})")
        if mean_of_parts:
            defined = [x for x in values if x is not None]
            row.append(fmt_number(sum(defined) / len(defined), 3) if len(defined) == len(values) else "undefined")
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt="github")
