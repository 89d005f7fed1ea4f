"""rPPG metrics on pooled heart-rate pairs (one pair per evaluated window or video).

The HR functions are pure and reduce the last axis, so ``mae(pred, gt)`` works on ``(N,)`` and
on the ``(n_boot, N)`` resamples of :func:`harness.stats.bootstrap`.  :func:`summarize` turns a
per-window table into :class:`~harness.stats.MetricValue` s with N, SE and CI (reference §1.2, §4).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from harness.errors import did_you_mean
from harness.stats import Bootstrap, Formula, MeanSE, MetricSpec, MetricValue, evaluate


# ----------------------------------------------------------------------------- pure functions
def _errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.asarray(pred, dtype=np.float64) - np.asarray(gt, dtype=np.float64)


def mae(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean absolute error (bpm) along the last axis.

    >>> float(mae(np.array([70.0, 80.0]), np.array([72.0, 79.0])))
    1.5
    """
    return np.abs(_errors(pred, gt)).mean(axis=-1)


def rmse(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Root mean squared error (bpm) along the last axis.

    >>> float(rmse(np.array([70.0, 80.0]), np.array([73.0, 76.0])))
    3.5355339059327378
    """
    return np.sqrt(np.square(_errors(pred, gt)).mean(axis=-1))


def mape(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean absolute percentage error (%) relative to the ground-truth HR, along the last axis.

    NaN where a ground-truth HR is 0 (the ratio is undefined).

    >>> float(mape(np.array([66.0]), np.array([60.0])))
    10.0
    """
    gt = np.asarray(gt, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 * np.abs(_errors(pred, gt) / gt).mean(axis=-1)
    return np.where((gt == 0).any(axis=-1), np.nan, out)[()]


def pearson(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis; NaN when either side is constant or N < 2.

    >>> float(pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0])))
    0.9933992677987828
    """
    p, g = np.broadcast_arrays(np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64))
    dp = p - p.mean(axis=-1, keepdims=True)
    dg = g - g.mean(axis=-1, keepdims=True)
    undefined = (np.ptp(p, axis=-1) == 0) | (np.ptp(g, axis=-1) == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (dp * dg).sum(axis=-1) / np.sqrt((dp * dp).sum(axis=-1) * (dg * dg).sum(axis=-1))
    return np.where(undefined, np.nan, np.clip(r, -1.0, 1.0))[()]


# ----------------------------------------------------------------------------- metric table
# The arrays an rPPG metric is computed from (built by :func:`summarize`): ``hr_pred`` /
# ``hr_gt`` of the windows where both are finite, ``hr_excluded`` (the windows left out), and the
# per-window ``snr_db`` / ``macc`` columns (NaN where undefined; left out and counted).
def _no_pairs(a: dict) -> str | None:
    return "no values" if not len(a["hr_pred"]) else None


def _gt_zero(a: dict) -> str | None:
    zeros = int((a["hr_gt"] == 0).sum())
    return _no_pairs(a) or (f"ground-truth HR is 0 in {zeros} row(s)" if zeros else None)


def _pearson_reason(a: dict) -> str | None:
    n = len(a["hr_pred"])
    if n < 3:
        return f"pearson needs n >= 3, got n={n}"
    for side, key in (("prediction", "hr_pred"), ("ground truth", "hr_gt")):
        if np.ptp(a[key]) == 0:
            return f"constant {side}"
    return None


def _fisher_ci(r: float, a: dict, level: float) -> MetricValue:
    """SE √((1−r²)/(N−2)) (as the toolbox prints) and a Fisher-z CI."""
    n = len(a["hr_pred"])
    se = math.sqrt(max(1.0 - r * r, 0.0) / (n - 2))
    if n == 3:
        return MetricValue(r, n=n, se=se, se_method="sqrt((1-r^2)/(n-2))", reason="ci undefined: Fisher z needs n >= 4")
    half = _scipy_stats.norm.ppf(0.5 + level / 2.0) / math.sqrt(n - 3)
    with np.errstate(divide="ignore"):
        centre = np.arctanh(r)
    return MetricValue(r, n=n, se=se, ci_low=float(np.tanh(centre - half)), ci_high=float(np.tanh(centre + half)),
                       se_method="sqrt((1-r^2)/(n-2)); CI tanh(atanh(r) ± z/sqrt(n-3))")


_HR = {"rows": "hr_pred", "excluded": "hr_excluded"}
METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    MetricSpec("mae", "min", "bpm", "mean |HR_pred - HR_gt|", (0.0, None),
               compute=lambda a: np.abs(a["hr_pred"] - a["hr_gt"]), uncertainty=MeanSE(), **_HR),
    # the rPPG-Toolbox prints sqrt(std(e^2)/sqrt(N)) as RMSE's "±", which is not a standard
    # error (its units are bpm/N^(1/4)); a bootstrap is used instead (reference §4)
    MetricSpec("rmse", "min", "bpm", "sqrt(mean (HR_pred - HR_gt)^2); SE and CI by bootstrap", (0.0, None),
               compute=lambda a: rmse(a["hr_pred"], a["hr_gt"]), undefined=_no_pairs,
               uncertainty=Bootstrap(("hr_pred", "hr_gt"), vectorised=True), **_HR),
    MetricSpec("mape", "min", "%", "100 * mean |HR_pred - HR_gt| / HR_gt", (0.0, None),
               compute=lambda a: 100.0 * np.abs(a["hr_pred"] - a["hr_gt"]) / np.abs(a["hr_gt"]),
               undefined=_gt_zero, uncertainty=MeanSE(), **_HR),
    MetricSpec("pearson", "max", "", "Pearson r between HR_pred and HR_gt; CI by Fisher z", (-1.0, 1.0),
               compute=lambda a: pearson(a["hr_pred"], a["hr_gt"]), undefined=_pearson_reason,
               uncertainty=Formula(_fisher_ci), **_HR),
    MetricSpec("snr", "max", "dB", "mean per-window SNR of the prediction around the GT HR harmonics",
               compute=lambda a: a["snr_db"], uncertainty=MeanSE()),
    MetricSpec("macc", "max", "", "mean per-window max |correlation| over circular lags", (0.0, 1.0),
               compute=lambda a: a["macc"], uncertainty=MeanSE()),
)}

_HR_COLUMNS = ("hr_pred", "hr_gt")
_MEAN_COLUMNS = {"snr": "snr_db", "macc": "macc"}


def summarize(rows: pd.DataFrame, names: Sequence[str], n_boot: int = 1000, seed: int = 0,
              level: float = 0.95) -> dict[str, MetricValue]:
    """Pooled metrics over per-window rows (columns ``hr_pred``, ``hr_gt``, ``snr_db``, ``macc``).

    Rows whose ``hr_pred`` or ``hr_gt`` is NaN/inf (e.g. the peak method found < 2 peaks) are
    left out of the HR metrics and counted in ``n_excluded``; likewise NaN ``snr_db``/``macc``
    for the mean metrics.  ``n`` is always the rows actually used.  SEs: MAE, MAPE, SNR, MACC
    std(ddof=1)/√n (the toolbox prints ddof=0, smaller by √((n−1)/n)); RMSE bootstrap;
    Pearson √((1−r²)/(n−2)).  CIs are normal, except RMSE (percentile) and Pearson (Fisher z),
    and are clipped to the metric's range (``MetricSpec.bounds``).

    >>> rows = pd.DataFrame({"hr_pred": [70.0, 80.0, 90.0], "hr_gt": [72.0, 78.0, 95.0]})
    >>> summarize(rows, ["mae"])["mae"].value
    3.0
    """
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise did_you_mean(unknown[0], METRICS, "rPPG metric")
    needed = {c for name in names for c in ((_MEAN_COLUMNS[name],) if name in _MEAN_COLUMNS else _HR_COLUMNS)}
    missing = sorted(needed - set(rows.columns))
    if missing:
        raise ValueError(f"metric rows lack column(s) {missing}; have {sorted(rows.columns)}")

    arrays: dict = {c: rows[c].to_numpy(dtype=np.float64) for c in _MEAN_COLUMNS.values() if c in rows}
    if "hr_pred" in needed:
        arrays["hr_pred"], arrays["hr_gt"], arrays["hr_excluded"] = _finite_pairs(rows)
    return evaluate([METRICS[name] for name in names], arrays, n_boot, seed, level)


def _finite_pairs(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """(hr_pred, hr_gt) of the rows where both are finite, and how many rows were dropped."""
    p = rows["hr_pred"].to_numpy(dtype=np.float64)
    g = rows["hr_gt"].to_numpy(dtype=np.float64)
    keep = np.isfinite(p) & np.isfinite(g)
    return p[keep], g[keep], int((~keep).sum())
