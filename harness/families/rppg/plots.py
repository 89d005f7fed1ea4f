"""rPPG leaderboard plots from a run's ``samples.csv``: Bland–Altman and predicted vs true HR.

Rows where either HR is undefined (a flat prediction, left out of the HR metrics) are left out
here too and counted as ``n_excluded``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...plots import figure, save

#: Bland–Altman limits of agreement: bias ± LOA_Z · SD of the differences (95% for normal data)
LOA_Z = 1.96


def _defined(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    ok = np.isfinite(rows["hr_pred"].to_numpy(float)) & np.isfinite(rows["hr_gt"].to_numpy(float))
    return rows[ok], int((~ok).sum())


def _scatter_by_dataset(ax, rows: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> None:
    groups = rows["dataset"].astype(str).to_numpy() if "dataset" in rows else np.full(len(rows), "")
    for name in sorted(set(groups)):
        sel = groups == name
        ax.scatter(x[sel], y[sel], s=18, alpha=0.75, label=name or None)
    if len(set(groups)) > 1:
        ax.legend(fontsize="small", frameon=False)


def bland_altman(rows: pd.DataFrame, title: str, out_path: Path) -> dict[str, Any]:
    """Mean of predicted and true HR vs their difference (pred − true), with the bias and the
    bias ± 1.96·SD (ddof=1) limits of agreement. Returns n, n_excluded, bias, sd, loa_low, loa_high
    (None where undefined: no rows; SD needs two)."""
    used, n_excluded = _defined(rows)
    pred, gt = used["hr_pred"].to_numpy(float), used["hr_gt"].to_numpy(float)
    mean, diff = (pred + gt) / 2, pred - gt
    n = len(diff)
    bias = float(diff.mean()) if n else None
    sd = float(diff.std(ddof=1)) if n > 1 else None
    loa = (bias - LOA_Z * sd, bias + LOA_Z * sd) if sd is not None else (None, None)
    fig = figure()
    ax = fig.add_subplot()
    _scatter_by_dataset(ax, used, mean, diff)
    for v, name, style in ((bias, "bias", "-"), (loa[0], "−1.96 SD", "--"), (loa[1], "+1.96 SD", "--")):
        if v is not None:
            ax.axhline(v, color="k", lw=1, ls=style)
            ax.annotate(f"{name} {v:+.2f}", (1, v), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                        fontsize="small")
    ax.set_xlabel("(HR pred + HR true) / 2 (bpm)")
    ax.set_ylabel("HR pred − HR true (bpm)")
    ax.set_title(f"{title}\nBland–Altman, n = {n}" + (f" ({n_excluded} undefined left out)" if n_excluded else ""),
                 fontsize="medium")
    save(fig, out_path)
    return {"n": n, "n_excluded": n_excluded, "bias": bias, "sd": sd, "loa_low": loa[0], "loa_high": loa[1]}


def hr_scatter(rows: pd.DataFrame, title: str, out_path: Path) -> dict[str, Any]:
    """Predicted vs true HR with the identity line. Returns n, n_excluded and Pearson r (None
    with fewer than 3 rows or a constant HR)."""
    used, n_excluded = _defined(rows)
    pred, gt = used["hr_pred"].to_numpy(float), used["hr_gt"].to_numpy(float)
    n = len(pred)
    r = float(np.corrcoef(gt, pred)[0, 1]) if n >= 3 and pred.std() > 0 and gt.std() > 0 else None
    fig = figure(4.5, 4.5)
    ax = fig.add_subplot()
    _scatter_by_dataset(ax, used, gt, pred)
    if n:
        lo, hi = float(min(gt.min(), pred.min())), float(max(gt.max(), pred.max()))
        pad = max(2.0, 0.05 * (hi - lo))
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=1, ls="--")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("HR true (bpm)")
    ax.set_ylabel("HR predicted (bpm)")
    ax.set_title(f"{title}\nn = {n}" + (f", r = {r:.3f}" if r is not None else ""), fontsize="medium")
    save(fig, out_path)
    return {"n": n, "n_excluded": n_excluded, "pearson": r}


PLOTS = {"bland-altman": bland_altman, "hr-scatter": hr_scatter}
