"""AUC + EER + HTER@test-EER + TPR@FPR (1e-2, 1e-3) on 10 million per-frame scores: the harness's
one-sort ``roc_metrics`` vs the scikit-learn path (``roc_auc_score`` + ``roc_curve`` and numpy on
the curve).  Both are in one group so pytest-benchmark shows the ratio; each also checks that its
numbers equal the other side's to 1e-12.  With ``--benchmark-disable`` (the default addopts) a
20,000-score input keeps the file fast."""
from __future__ import annotations

import numpy as np
import pytest

from harness.families.fas import metrics as M

sklearn_metrics = pytest.importorskip("sklearn.metrics")

N_BENCH, N_QUICK = 10_000_000, 20_000
FPRS = (1e-2, 1e-3)
_CACHE: dict[int, dict] = {}


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.25).astype(np.int64)  # ~1 bona fide : 3 attacks, as in the MMDG lists
    s = 1 / (1 + np.exp(-(rng.standard_normal(n) + 2.0 * y - 1.0)))  # "softmax" bona fide score
    s = np.round(s, 6)  # per-frame probabilities printed with 6 decimals: realistic ties
    return s, y


def _harness(s: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return M.roc_metrics(s, y, FPRS)


def _sklearn(s: np.ndarray, y: np.ndarray) -> dict[str, float]:
    out = {"auc": float(sklearn_metrics.roc_auc_score(y, s))}
    fpr, tpr, thr = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    fp, fn = np.rint(fpr * n_neg).astype(np.int64), np.rint((1 - tpr) * n_pos).astype(np.int64)
    i = int(np.argmin(np.abs(fp * n_pos - fn * n_neg)))  # |FAR - FRR|, exact, first = highest t
    out["eer"] = float((fpr[i] + 1 - tpr[i]) / 2)
    out["hter_test_eer"] = float(((s[y == 0] >= thr[i]).mean() + (s[y == 1] < thr[i]).mean()) / 2)
    for f in FPRS:
        out[f"tpr_at_fpr={f:g}"] = float(tpr[int(np.searchsorted(fpr, f, side="right")) - 1])
    return out


def _results(n: int) -> dict:
    if n not in _CACHE:
        s, y = _data(n)
        _CACHE[n] = {"data": (s, y), "harness": _harness(s, y), "sklearn": _sklearn(s, y)}
    return _CACHE[n]


def _assert_equal(got: dict[str, float], other: dict[str, float]) -> None:
    for key, value in other.items():
        assert got[key] == pytest.approx(value, abs=1e-12, rel=0), key


@pytest.mark.benchmark(group="fas-roc-metrics-10M")
def test_bench_fas_roc_metrics_harness(benchmark):
    n = N_QUICK if benchmark.disabled else N_BENCH
    cached = _results(n)
    result = benchmark.pedantic(_harness, args=cached["data"], rounds=3, iterations=1)
    _assert_equal(result, cached["sklearn"])
    assert result["hter_test_eer"] == pytest.approx(result["eer"], abs=1e-15)
    benchmark.extra_info["n"] = n


@pytest.mark.benchmark(group="fas-roc-metrics-10M")
def test_bench_fas_roc_metrics_sklearn(benchmark):
    n = N_QUICK if benchmark.disabled else N_BENCH
    cached = _results(n)
    result = benchmark.pedantic(_sklearn, args=cached["data"], rounds=3, iterations=1)
    _assert_equal(result, {k: v for k, v in cached["harness"].items() if k != "eer_threshold"})
    benchmark.extra_info["n"] = n
