"""NR-IQA backdoor leaderboard plots from a run's ``samples.csv`` (one row per image and alpha):
the mean predicted shift against alpha with the ideal line alpha * delta_y."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...plots import figure, save

DELTA_Y = 10.0


def mean_shifts(rows: pd.DataFrame) -> tuple[list[float], list[float], list[float], int]:
    """(alphas, mean shift, SD of the shift over images, images) from per-image rows: the shift is
    pred_alpha - pred_0 of the same image, for every non-zero alpha."""
    base = rows[rows.alpha == 0].set_index("image_id").score
    alphas = sorted(float(a) for a in rows.alpha.unique() if a != 0)
    means, sds = [], []
    for a in alphas:
        shift = rows[rows.alpha == a].set_index("image_id").score - base
        means.append(float(shift.mean()))
        sds.append(float(shift.std(ddof=1)) if shift.notna().sum() > 1 else 0.0)
    return alphas, means, sds, int(len(base))


def shift_curve(rows: pd.DataFrame, title: str, out_path: Path, delta_y: float = DELTA_Y) -> dict[str, Any]:
    """Mean predicted shift per alpha (± 1 SD over images) with the ideal alpha * delta_y. Returns
    n (images), the number of alphas and the least-squares slope of the mean shift against
    alpha * delta_y (1 = the trigger controls the score as intended, 0 = no effect; None without alphas)."""
    alphas, means, sds, n = mean_shifts(rows)
    fig = figure()
    ax = fig.add_subplot()
    slope = None
    if alphas:
        x = np.asarray(alphas) * delta_y
        slope = float(np.dot(x, means) / np.dot(x, x))
        grid = np.array([min(alphas), max(alphas)])
        ax.plot(grid, grid * delta_y, color="k", lw=1, ls="--", label=f"ideal: alpha x {delta_y:g}")
        ax.axhline(0.0, color="0.6", lw=1)
        ax.errorbar(alphas, means, yerr=sds, marker="o", ms=4, capsize=2, label=f"mean shift (± 1 SD), slope {slope:.2f}")
        ax.legend(fontsize="small", frameon=False)
    ax.set_xlabel("alpha (trigger scale)")
    ax.set_ylabel("predicted score shift (0-100 scale)")
    ax.set_title(f"{title}\nn = {n} images" + ("" if alphas else ", no trigger (quality task)"), fontsize="medium")
    save(fig, out_path)
    return {"n": n, "alphas": len(alphas), "slope": slope}


PLOTS = {"shift-curve": shift_curve}
