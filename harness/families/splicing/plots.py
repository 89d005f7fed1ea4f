"""Splicing leaderboard plots from a run's ``samples.csv`` (one row per image and sweep level):
the distribution of per-image pixel F1 on tampered images, and for a robustness sweep the mean
pixel F1 per level (the curve the sweep's summary averages)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...plots import figure, save


def pixel_f1_histogram(rows: pd.DataFrame, title: str, out_path: Path) -> dict[str, Any]:
    """Histogram of per-image pixel F1 at 0.5 over tampered images (all levels pooled). Returns n
    (images with a defined F1) and their mean."""
    f1 = rows.loc[rows.label == 1, "pixel_f1"].to_numpy(float)
    f1 = f1[np.isfinite(f1)]
    fig = figure()
    ax = fig.add_subplot()
    ax.hist(f1, bins=np.linspace(0.0, 1.0, 21))
    ax.set_xlabel("pixel F1 at 0.5 (per tampered image)")
    ax.set_ylabel("images")
    mean = float(f1.mean()) if len(f1) else None
    ax.set_title(f"{title}\nn = {len(f1)}" + (f", mean {mean:.3f}" if mean is not None else ""), fontsize="medium")
    save(fig, out_path)
    return {"n": int(len(f1)), "mean": mean}


def robustness_curve(rows: pd.DataFrame, title: str, out_path: Path) -> dict[str, Any]:
    """Mean pixel F1 (tampered images) per sweep level, in the sweep's order. Returns the number of
    levels and the F1 at the first and last level (None for a task without a sweep)."""
    tampered = rows[rows.label == 1]
    levels = [str(v) for v in dict.fromkeys(tampered["level"].fillna("").astype(str))]
    means = [float(tampered.loc[tampered["level"].fillna("").astype(str) == lvl, "pixel_f1"].mean()) for lvl in levels]
    fig = figure()
    ax = fig.add_subplot()
    if len(levels) > 1:
        ax.plot(range(len(levels)), means, marker="o")
        ax.set_xticks(range(len(levels)), levels, rotation=30, ha="right", fontsize="small")
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean pixel F1 at 0.5 (tampered images)")
    ax.set_title(f"{title}\n" + ("robustness sweep" if len(levels) > 1 else "no sweep (one level)"), fontsize="medium")
    save(fig, out_path)
    sweep = len(levels) > 1
    return {"levels": len(levels), "first": means[0] if sweep else None, "last": means[-1] if sweep else None}


PLOTS = {"pixel-f1-histogram": pixel_f1_histogram, "robustness-curve": robustness_curve}
