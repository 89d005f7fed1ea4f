"""Leaderboard plots: each task family declares its plot kinds; the core draws them per model.

A plot function (:data:`harness.family.PlotFn`) takes ``(rows, title, out_path)`` — ``rows`` the
run's per-sample table (``samples.csv``) — writes a PNG and returns the numbers it drew (so they
can be checked and printed). A family's kinds are what its :meth:`Family.plots` hook returns.
Figures use matplotlib's Agg canvas directly; pyplot's global state is never touched.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HarnessError
from .files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .family import PlotFn
    from .leaderboard import Table


def plot_kinds(family: str) -> dict[str, "PlotFn"]:
    """The plot kinds a family declares (none when it declares none)."""
    from .family import FAMILIES

    return dict(FAMILIES.get(family).plots())


def figure(width: float = 5.0, height: float = 4.0) -> "Figure":
    """A new figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: "Figure", path: Path) -> None:
    """Write ``fig`` as a PNG, atomically."""
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", name)


def write_plots(table: "Table", out: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Draw every plot kind of the table's family for each run row, as
    ``<out>/<task>.<model tag>.<kind>.png``; (path, numbers) for each."""
    kinds = plot_kinds(table.family)
    if not kinds:
        return []
    import pandas as pd

    written = []
    for row in table.rows:
        if row.samples is None:  # published rows have no per-sample outputs
            continue
        if not Path(row.samples).is_file():
            raise HarnessError("the run folder has no per-sample table to plot", row.samples)
        samples = pd.read_csv(row.samples)
        seed = f", latest run: seed {row.samples_seed}" if len(row.seeds) > 1 else ""
        for kind, fn in kinds.items():
            path = out / f"{table.task}.{_safe(row.tag or row.model)}.{kind}.png"
            written.append((path, fn(samples, f"{table.task} — {row.model}{seed} ({table.data} data)", path)))
    return written
