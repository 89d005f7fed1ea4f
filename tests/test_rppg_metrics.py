"""rPPG HR metrics and summarize() against hand-worked cases, Python loops, the math/statistics
modules and scipy.stats."""
from __future__ import annotations

import doctest
import math
import statistics

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from harness.errors import HarnessError
from harness.families.rppg import metrics as m
from harness.families.rppg.signal import Recipe, evaluate_video
from harness.stats import bootstrap

PRED = np.array([70.0, 80.0, 90.0])
GT = np.array([72.0, 78.0, 95.0])


def rows_of(pred, gt, snr=None, macc=None) -> pd.DataFrame:
    n = len(pred)
    return pd.DataFrame({"hr_pred": pred, "hr_gt": gt,
                         "snr_db": snr if snr is not None else np.zeros(n),
                         "macc": macc if macc is not None else np.zeros(n)})


def test_docstring_examples_run():
    assert doctest.testmod(m, raise_on_error=False).failed == 0


# ----------------------------------------------------------------------------- hand-worked
def test_hand_worked_three_pairs():
    """pred [70, 80, 90] vs gt [72, 78, 95]: errors −2, +2, −5.

    MAE  = (2 + 2 + 5)/3 = 3;  |e| deviations −1, −1, 2 → sample var 6/2 = 3 → SE √3/√3 = 1.
    RMSE = √((4 + 4 + 25)/3) = √11.
    MAPE = 100·(2/72 + 2/78 + 5/95)/3 = 100·(1/36 + 1/39 + 1/19)/3 ≈ 3.53501 %.
    r: pred deviations −10, 0, 10; gt mean 245/3, deviations −29/3, −11/3, 40/3;
       Σ dp·dg = 690/3 = 230, Σ dp² = 200, Σ dg² = 2562/9 → r = 230/√(200·2562/9) ≈ 0.963927.
    """
    assert m.mae(PRED, GT) == 3.0
    assert m.rmse(PRED, GT) == pytest.approx(math.sqrt(11))
    assert m.mape(PRED, GT) == pytest.approx(100 * (1 / 36 + 1 / 39 + 1 / 19) / 3)
    assert m.mape(PRED, GT) == pytest.approx(3.53501, abs=1e-5)
    r = 230 / math.sqrt(200 * 2562 / 9)
    assert m.pearson(PRED, GT) == pytest.approx(r)
    assert r == pytest.approx(0.963927, abs=1e-6)

    out = m.summarize(rows_of(PRED, GT), ["mae", "rmse", "mape", "pearson"])
    assert out["mae"].value == 3.0 and out["mae"].se == pytest.approx(1.0)
    assert out["rmse"].value == pytest.approx(math.sqrt(11))
    assert out["pearson"].value == pytest.approx(r)
    assert out["pearson"].se == pytest.approx(math.sqrt(1 - r * r))  # √((1−r²)/(N−2)), N−2 = 1
    assert out["pearson"].ci_low is None and "n >= 4" in out["pearson"].reason
    assert all(v.n == 3 and v.n_excluded == 0 for v in out.values())


# ----------------------------------------------------------------------------- independent
def loop_metrics(pred, gt):
    errs = [p - g for p, g in zip(pred, gt)]
    n = len(errs)
    return {
        "mae": sum(abs(e) for e in errs) / n,
        "rmse": math.sqrt(sum(e * e for e in errs) / n),
        "mape": 100 * sum(abs(e) / g for e, g in zip(errs, gt)) / n,
    }


def test_metrics_match_loops_and_scipy():
    rng = np.random.default_rng(0)
    gt = rng.uniform(50, 120, size=64)
    pred = gt + rng.normal(0, 6, size=64)
    ref = loop_metrics(pred.tolist(), gt.tolist())
    assert m.mae(pred, gt) == pytest.approx(ref["mae"], rel=1e-12)
    assert m.rmse(pred, gt) == pytest.approx(ref["rmse"], rel=1e-12)
    assert m.mape(pred, gt) == pytest.approx(ref["mape"], rel=1e-12)
    assert m.pearson(pred, gt) == pytest.approx(scipy_stats.pearsonr(pred, gt)[0], rel=1e-12)


def test_metrics_reduce_the_last_axis_only():
    rng = np.random.default_rng(1)
    gt = rng.uniform(50, 120, size=(4, 3, 20))
    pred = gt + rng.normal(0, 5, size=gt.shape)
    for fn in (m.mae, m.rmse, m.mape, m.pearson):
        batched = fn(pred, gt)
        assert batched.shape == (4, 3)
        expected = [[fn(pred[i, j], gt[i, j]) for j in range(3)] for i in range(4)]
        np.testing.assert_allclose(batched, expected, rtol=1e-12)


def test_summarize_standard_errors_match_independent_formulas():
    rng = np.random.default_rng(2)
    gt = rng.uniform(55, 110, size=40)
    pred = gt + rng.normal(1, 4, size=40)
    snr = rng.normal(5, 3, size=40)
    macc = rng.uniform(0.3, 0.9, size=40)
    out = m.summarize(rows_of(pred, gt, snr, macc), list(m.METRICS), n_boot=500)
    abs_err = [abs(p - g) for p, g in zip(pred, gt)]
    assert out["mae"].se == pytest.approx(statistics.stdev(abs_err) / math.sqrt(40))
    ape = [100 * e / g for e, g in zip(abs_err, gt)]
    assert out["mape"].value == pytest.approx(statistics.fmean(ape))
    assert out["mape"].se == pytest.approx(statistics.stdev(ape) / math.sqrt(40))
    assert out["snr"].value == pytest.approx(statistics.fmean(snr)) and out["snr"].se == pytest.approx(scipy_stats.sem(snr))
    assert out["macc"].value == pytest.approx(statistics.fmean(macc)) and out["macc"].se == pytest.approx(scipy_stats.sem(macc))
    for name in ("mae", "mape", "snr", "macc"):  # normal CIs
        v = out[name]
        assert (v.ci_low, v.ci_high) == pytest.approx(scipy_stats.norm.interval(0.95, loc=v.value, scale=v.se))


def test_pearson_se_and_fisher_ci():
    rng = np.random.default_rng(3)
    gt = rng.uniform(55, 110, size=30)
    pred = gt + rng.normal(0, 10, size=30)
    v = m.summarize(rows_of(pred, gt), ["pearson"])["pearson"]
    res = scipy_stats.pearsonr(pred, gt)
    assert v.value == pytest.approx(res.statistic)
    assert v.se == pytest.approx(math.sqrt((1 - res.statistic**2) / 28))
    ci = res.confidence_interval(0.95)  # scipy's default: Fisher z with SE 1/√(N−3)
    assert (v.ci_low, v.ci_high) == pytest.approx((ci.low, ci.high))
    z = statistics.NormalDist().inv_cdf(0.975)
    assert v.ci_high == pytest.approx(math.tanh(math.atanh(res.statistic) + z / math.sqrt(27)))


def test_pearson_perfect_agreement():
    """HR identical to GT (a known artefact of coarse FFT bins): r = 1, SE 0, Fisher CI [1, 1]."""
    hr = np.array([60.0, 66.0, 72.0, 81.0, 90.0])
    v = m.summarize(rows_of(hr, hr), ["pearson", "mae"])
    assert v["pearson"].value == 1.0 and v["pearson"].se == 0.0
    assert (v["pearson"].ci_low, v["pearson"].ci_high) == (1.0, 1.0)
    assert v["mae"].value == 0.0 and v["mae"].se == 0.0
    assert m.pearson(hr, -hr) == -1.0


def test_rmse_uses_bootstrap_not_the_toolbox_se():
    rng = np.random.default_rng(4)
    gt = rng.uniform(55, 110, size=400)
    pred = gt + rng.normal(0, 5, size=400)
    v = m.summarize(rows_of(pred, gt), ["rmse"], n_boot=1000, seed=3)["rmse"]
    assert v.se_method == "bootstrap(1000, percentile, seed 3)"
    assert (v.se, v.ci_low, v.ci_high) == bootstrap(m.rmse, [pred, gt], n_boot=1000, seed=3)
    assert v.ci_low < v.value < v.ci_high
    # delta method: se(RMSE) ≈ se(MSE)/(2·RMSE), se(MSE) = std(e²)/√N
    sq = [(p - g) ** 2 for p, g in zip(pred, gt)]
    delta = statistics.stdev(sq) / math.sqrt(400) / (2 * v.value)
    assert v.se == pytest.approx(delta, rel=0.15)
    toolbox = math.sqrt(statistics.pstdev(sq) / math.sqrt(400))
    assert abs(v.se - toolbox) > 0.5 * v.se  # the toolbox's √(std(e²)/√N) is a different number


# ----------------------------------------------------------------------------- degenerate
def test_n_zero_one_two():
    empty = m.summarize(rows_of([], []), list(m.METRICS))
    assert all(v.value is None and v.n == 0 and v.reason for v in empty.values())

    one = m.summarize(rows_of([70.0], [72.0], [3.0], [0.5]), list(m.METRICS))
    for name in ("mae", "rmse", "mape", "snr", "macc"):
        assert one[name].value is not None and one[name].se is None and one[name].reason
    assert one["mae"].value == 2.0 and one["rmse"].value == 2.0
    assert one["pearson"].value is None and "n >= 3" in one["pearson"].reason

    two = m.summarize(rows_of([70.0, 80.0], [72.0, 77.0]), ["mae", "rmse", "pearson"])
    assert two["mae"].value == 2.5 and two["mae"].se == pytest.approx(0.5)  # |e| 2, 3: sd √0.5, /√2
    assert two["rmse"].value == pytest.approx(math.sqrt(6.5)) and two["rmse"].se is not None
    assert two["pearson"].value is None and "n >= 3" in two["pearson"].reason


def test_pearson_constant_prediction_is_undefined_not_zero():
    const = m.summarize(rows_of([72.0] * 5, [60.0, 70.0, 80.0, 90.0, 100.0]), ["pearson"])["pearson"]
    assert const.value is None and const.reason == "undefined: constant prediction"
    gt_const = m.summarize(rows_of([60.0, 70.0, 80.0], [75.0] * 3), ["pearson"])["pearson"]
    assert gt_const.value is None and "constant ground truth" in gt_const.reason
    # 70.3 is not exactly representable: a sum-of-squares test would see rounding noise, not 0
    assert np.isnan(m.pearson(np.full(7, 70.3), np.arange(7.0)))


def test_non_finite_rows_are_excluded_and_counted():
    pred = np.array([70.0, np.nan, 80.0, 90.0, 85.0])
    gt = np.array([72.0, 75.0, 78.0, np.inf, 95.0])
    out = m.summarize(rows_of(pred, gt, snr=[1.0, np.nan, 2.0, 3.0, 4.0]), ["mae", "rmse", "pearson", "snr"])
    kept = m.summarize(rows_of(pred[[0, 2, 4]], gt[[0, 2, 4]]), ["mae", "rmse", "pearson"])
    for name in ("mae", "rmse", "pearson"):
        assert out[name].n == 3 and out[name].n_excluded == 2
        assert out[name].value == kept[name].value
    assert out["snr"].n == 4 and out["snr"].n_excluded == 1 and out["snr"].value == 2.5


def test_all_rows_excluded():
    out = m.summarize(rows_of([np.nan, np.nan], [70.0, 80.0]), ["mae", "rmse", "pearson"])
    assert all(v.value is None and v.n == 0 and v.n_excluded == 2 for v in out.values())


def test_mape_with_zero_ground_truth_is_undefined():
    assert np.isnan(m.mape(np.array([70.0, 80.0]), np.array([0.0, 80.0])))
    v = m.summarize(rows_of([70.0, 80.0, 90.0], [0.0, 80.0, 90.0]), ["mape"])["mape"]
    assert v.value is None and "0 in 1 row" in v.reason


# ----------------------------------------------------------------------------- table and API
def test_metric_table():
    assert set(m.METRICS) == {"mae", "rmse", "mape", "pearson", "snr", "macc"}
    for name, spec in m.METRICS.items():
        assert spec.name == name and spec.direction in ("min", "max") and spec.description
    assert {n for n, s in m.METRICS.items() if s.direction == "max"} == {"pearson", "snr", "macc"}
    assert m.METRICS["snr"].unit == "dB" and m.METRICS["mape"].unit == "%"


def test_summarize_rejects_unknown_names_and_missing_columns():
    with pytest.raises(HarnessError, match="Did you mean 'mae'"):
        m.summarize(rows_of(PRED, GT), ["maee"])
    with pytest.raises(ValueError, match="snr_db"):
        m.summarize(pd.DataFrame({"hr_pred": PRED, "hr_gt": GT}), ["snr"])
    only_hr = m.summarize(pd.DataFrame({"hr_pred": PRED, "hr_gt": GT}), ["mae"])
    assert only_hr["mae"].value == 3.0


def test_summarize_is_reproducible_and_seeded():
    rng = np.random.default_rng(6)
    gt = rng.uniform(55, 110, size=30)
    rows = rows_of(gt + rng.normal(0, 4, size=30), gt)
    a = m.summarize(rows, ["rmse"], seed=1)["rmse"]
    assert a == m.summarize(rows, ["rmse"], seed=1)["rmse"]
    assert a.se != m.summarize(rows, ["rmse"], seed=2)["rmse"].se


def test_summarize_rows_from_evaluate_video():
    fs, recipe = 30.0, Recipe(window="fixed", window_s=10.0)
    t = np.arange(900) / fs
    rows = []
    for k, f in enumerate((1.0, 1.2, 1.4, 1.6)):
        gt = np.sin(2 * np.pi * f * t)
        pred = gt + 0.3 * np.random.default_rng(k).normal(size=t.size)
        rows += evaluate_video(pred, gt, fs, recipe)
    rows.append(dict(start=0, end=300, hr_pred=math.nan, hr_gt=60.0, snr_db=math.nan, macc=math.nan))
    table = pd.DataFrame(rows)
    out = m.summarize(table, list(m.METRICS), n_boot=200)
    assert out["mae"].n == 12 and out["mae"].n_excluded == 1
    ok = table.dropna()
    assert out["mae"].value == pytest.approx(np.mean(np.abs(ok.hr_pred - ok.hr_gt)))
    assert out["pearson"].value == pytest.approx(scipy_stats.pearsonr(ok.hr_pred, ok.hr_gt)[0])
    assert out["macc"].value == pytest.approx(ok.macc.mean()) and out["macc"].n == 12


def test_normal_cis_are_clipped_to_the_metric_range():
    """Two near-zero errors: the normal CI of MAE would dip below 0; it is clipped, the SE is not."""
    rows = pd.DataFrame({"hr_pred": [70.0, 80.0], "hr_gt": [70.0, 81.76]})
    mae_value = m.summarize(rows, ["mae"])["mae"]
    assert mae_value.ci_low == 0.0 and mae_value.se == pytest.approx(0.88)
    assert mae_value.ci_high == pytest.approx(0.88 + 1.959964 * 0.88, rel=1e-4)


def test_rmse_without_resampling_has_a_value_and_no_ci():
    """--n-boot 0 (or 1) asks for no bootstrap: the value stands, the SE is absent with its reason."""
    gt = np.array([60.0, 70.0, 80.0, 90.0])
    pred = gt + np.array([1.0, -2.0, 3.0, 0.0])
    for n_boot in (0, 1):
        v = m.summarize(rows_of(pred, gt), ["rmse"], n_boot=n_boot)["rmse"]
        assert v.value == pytest.approx(np.sqrt((1 + 4 + 9 + 0) / 4)) and v.se is None and v.ci_low is None
        assert "n-boot" in v.reason
