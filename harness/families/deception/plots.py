"""Deception leaderboard plots from a run's ``samples.csv`` (one row per clip: score = P(truth),
label 1 truth / 0 lie): the ROC curve with the 0.5 operating point, and the score distribution per
class around the decision threshold."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...binary import roc_points
from ...plots import figure, save
from . import metrics

THRESHOLD = metrics.DEFAULT_THRESHOLD


def roc(rows: pd.DataFrame, title: str, out_path: Path) -> dict[str, Any]:
    """ROC (truth positive) from the scores, with the point the 0.5 decision lands on. Returns n,
    auc and that point's tpr / fpr (None where the test set has one class)."""
    s, y = rows["score"].to_numpy(float), rows["label"].to_numpy(int)
    fig = figure(4.5, 4.5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    two_classes = len(set(y.tolist())) == 2
    auc = tpr05 = fpr05 = None
    if two_classes:
        _, fpr, tpr = roc_points(s, y, names=metrics.CLASS_NAMES)
        ax.plot(np.concatenate(([0.0], fpr)), np.concatenate(([0.0], tpr)), lw=1.5)
        auc = metrics.auc(s, y)
        tpr05 = float((s[y == 1] >= THRESHOLD).mean())
        fpr05 = float((s[y == 0] >= THRESHOLD).mean())
        ax.scatter([fpr05], [tpr05], color="k", zorder=3, label=f"P(truth) ≥ {THRESHOLD}")
        ax.legend(fontsize="small", frameon=False, loc="lower right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("lie clips called truth (FPR)")
    ax.set_ylabel("truth clips called truth (TPR)")
    ax.set_title(f"{title}\nn = {len(s)}" + (f", AUC = {auc:.3f}" if auc is not None else ", one class: no ROC"),
                 fontsize="medium")
    save(fig, out_path)
    return {"n": int(len(s)), "auc": auc, "tpr_at_05": tpr05, "fpr_at_05": fpr05}


def score_histogram(rows: pd.DataFrame, title: str, out_path: Path) -> dict[str, Any]:
    """Histograms of P(truth) for truth and lie clips, with the 0.5 threshold. Returns the counts."""
    s, y = rows["score"].to_numpy(float), rows["label"].to_numpy(int)
    fig = figure()
    ax = fig.add_subplot()
    bins = np.linspace(0.0, 1.0, 21)
    for label, name in ((1, "truth"), (0, "lie")):
        ax.hist(s[y == label], bins=bins, alpha=0.6, label=f"{name} (n = {int((y == label).sum())})")
    ax.axvline(THRESHOLD, color="k", lw=1, ls="--")
    ax.set_xlabel("P(truth)")
    ax.set_ylabel("clips")
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(f"{title}\nscores per class", fontsize="medium")
    save(fig, out_path)
    return {"n": int(len(s)), "truth": int((y == 1).sum()), "lie": int((y == 0).sum())}


PLOTS = {"roc": roc, "score-histogram": score_histogram}
