"""Leaderboard plots: each task family declares its plot kinds; the core draws them per model.

A plot function takes ``(rows, title, out_path)`` — ``rows`` the run's per-sample table
(``samples.csv``) — writes a PNG and returns the numbers it drew (so they can be checked and
printed). A family's kinds are those registered in :data:`PLOTS` under its name, else the
``PLOTS`` mapping of ``harness.families.<family>.plots`` when that module exists, else none.
Figures use matplotlib's Agg canvas directly; pyplot's global state is never touched.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .errors import HarnessError
from .registry import Registry
from .files import atomic_path

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from .leaderboard import Table

PlotFn = Callable[["pd.DataFrame", str, Path], dict[str, Any]]

#: family name → {plot kind: plot function}
PLOTS: Registry[dict[str, PlotFn]] = Registry("plot set")


def plot_kinds(family: str) -> dict[str, PlotFn]:
    """The plot kinds a family declares (none when it declares none)."""
    if family in PLOTS:
        return PLOTS.get(family)
    try:
        module = importlib.import_module(f"harness.families.{family}.plots")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"harness.families.{family}", f"harness.families.{family}.plots"):
            raise
        return {}
    return dict(getattr(module, "PLOTS", {}))


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
