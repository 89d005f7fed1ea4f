"""harness.stats: MetricValue, mean_with_se and bootstrap against hand-worked values, the math /
statistics modules, scipy.stats and a slow per-resample loop."""
from __future__ import annotations

import doctest
import json
import math
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats

from harness import stats
from harness.stats import MetricValue, bootstrap, mean_with_se

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def test_docstring_examples_run():
    assert doctest.testmod(stats, raise_on_error=False).failed == 0


# ----------------------------------------------------------------------------- MetricValue
def test_metric_value_round_trip_through_json():
    values = [
        MetricValue(3.25, n=10, se=0.5, ci_low=2.27, ci_high=4.23, se_method="std(ddof=1)/sqrt(n)", n_excluded=2),
        MetricValue.undefined("undefined: no values"),
        MetricValue(7.0, n=1, reason="se undefined: n=1"),
    ]
    for value in values:
        restored = MetricValue.from_dict(json.loads(json.dumps(value.to_dict())))
        assert restored == value


def test_metric_value_normalises_numbers():
    v = MetricValue(np.float64(2.5), n=np.int64(4), se=np.float32(0.5))
    assert type(v.value) is float and type(v.se) is float and type(v.n) is int
    assert MetricValue(np.nan, n=0, reason="undefined: test").value is None
    assert MetricValue(1.0, n=2, se=math.inf).se is None
    assert MetricValue(1.0, n=2).defined and not MetricValue.undefined("x").defined


def test_metric_value_undefined_needs_a_reason():
    with pytest.raises(ValueError, match="reason"):
        MetricValue(None, n=0)
    with pytest.raises(ValueError, match="reason"):
        MetricValue(math.nan, n=3)


def test_metric_value_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown MetricValue key"):
        MetricValue.from_dict({"value": 1.0, "n": 1, "stderr": 0.1})


# ----------------------------------------------------------------------------- mean_with_se
def test_mean_with_se_hand_worked():
    """[1, 2, 3]: mean 2; sample std 1 (squared deviations 1+0+1 over n−1=2); SE 1/√3."""
    m = mean_with_se(np.array([1.0, 2.0, 3.0]))
    assert m.value == 2.0 and m.n == 3 and m.n_excluded == 0
    assert m.se == pytest.approx(1 / math.sqrt(3))
    assert (m.ci_low, m.ci_high) == pytest.approx((2 - Z95 / math.sqrt(3), 2 + Z95 / math.sqrt(3)))
    assert "ddof=1" in m.se_method


def test_mean_with_se_matches_scipy_and_statistics():
    x = np.random.default_rng(0).gamma(2.0, size=37)
    m = mean_with_se(x)
    assert m.value == pytest.approx(statistics.fmean(x.tolist()))
    assert m.se == pytest.approx(scipy_stats.sem(x))
    low, high = scipy_stats.norm.interval(0.9, loc=m.value, scale=m.se)
    m90 = mean_with_se(x, level=0.9)
    assert (m90.ci_low, m90.ci_high) == pytest.approx((low, high))


def test_mean_with_se_ddof0_is_the_toolbox_formula():
    x = [4.0, 1.0, 9.0, 6.0]
    m = mean_with_se(np.array(x), ddof=0)
    assert m.se == pytest.approx(statistics.pstdev(x) / math.sqrt(len(x)))  # np.std(x)/√N


def test_mean_with_se_edge_cases():
    empty = mean_with_se(np.array([]))
    assert empty.value is None and empty.n == 0 and "no values" in empty.reason
    one = mean_with_se(np.array([4.5]))
    assert one.value == 4.5 and one.n == 1 and one.se is None and one.ci_low is None
    assert "n=1" in one.reason
    two = mean_with_se(np.array([1.0, 3.0]))
    assert two.se == pytest.approx(1.0)  # std √2, /√2
    same = mean_with_se(np.full(5, 7.0))
    assert same.value == 7.0 and same.se == 0.0


def test_mean_with_se_excludes_and_counts_non_finite():
    m = mean_with_se(np.array([1.0, np.nan, 2.0, np.inf, 3.0]))
    ref = mean_with_se(np.array([1.0, 2.0, 3.0]))
    assert (m.value, m.se, m.n, m.n_excluded) == (ref.value, ref.se, 3, 2)
    all_nan = mean_with_se(np.array([np.nan, np.nan]))
    assert all_nan.value is None and all_nan.n_excluded == 2


# ----------------------------------------------------------------------------- bootstrap
def rmse_1d(a, b) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)) / len(a))


def slow_bootstrap(statistic_1d, arrays, n_boot, level, seed):
    """One resample at a time, the same index draws as documented in bootstrap()."""
    n = len(arrays[0])
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    reps = [statistic_1d(*(a[row] for a in arrays)) for row in idx]
    reps = [r for r in reps if math.isfinite(r)]
    alpha = (1 - level) / 2
    low, high = np.percentile(reps, [100 * alpha, 100 * (1 - alpha)])
    return statistics.stdev(reps), low, high


def test_bootstrap_vectorised_equals_slow_loop():
    rng = np.random.default_rng(1)
    p, g = rng.normal(80, 10, size=(2, 25))
    fast = bootstrap(lambda a, b: np.sqrt(((a - b) ** 2).mean(-1)), [p, g], n_boot=300, level=0.9, seed=7)
    slow = slow_bootstrap(rmse_1d, [p, g], n_boot=300, level=0.9, seed=7)
    assert fast == pytest.approx(slow, rel=1e-12)


def test_bootstrap_blocks_do_not_change_the_result(monkeypatch):
    x = np.random.default_rng(2).normal(size=50)
    whole = bootstrap(lambda a: a.mean(-1), [x], n_boot=101, seed=3)
    monkeypatch.setattr(stats, "_BOOTSTRAP_BLOCK", 7 * 50)  # 7 resamples per block, last one short
    assert bootstrap(lambda a: a.mean(-1), [x], n_boot=101, seed=3) == whole


def test_bootstrap_ignores_nan_resamples():
    """Pearson r of a resample that drew only equal values is NaN and is skipped."""
    a = np.array([1.0, 1.0, 1.0, 2.0, 3.0])
    b = np.array([2.0, 1.0, 3.0, 5.0, 4.0])

    def corr_1d(x, y):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            return math.nan
        return scipy_stats.pearsonr(x, y)[0]

    def corr(x, y):
        dx, dy = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (dx * dy).sum(-1) / np.sqrt((dx * dx).sum(-1) * (dy * dy).sum(-1))
        return np.where((np.ptp(x, -1) == 0) | (np.ptp(y, -1) == 0), np.nan, r)

    fast = bootstrap(corr, [a, b], n_boot=400, seed=0)
    slow = slow_bootstrap(corr_1d, [a, b], n_boot=400, level=0.95, seed=0)
    assert fast == pytest.approx(slow, rel=1e-9)


def test_bootstrap_reproducible_by_seed():
    x = np.random.default_rng(4).exponential(size=40)
    mean = lambda a: a.mean(-1)  # noqa: E731
    assert bootstrap(mean, [x], seed=11) == bootstrap(mean, [x], seed=11)
    assert bootstrap(mean, [x], seed=11) != bootstrap(mean, [x], seed=12)


def test_bootstrap_se_close_to_analytic_se_of_the_mean():
    x = np.random.default_rng(5).normal(3.0, 2.0, size=200)
    se, low, high = bootstrap(lambda a: a.mean(-1), [x], n_boot=2000, seed=0)
    analytic = x.std(ddof=1) / math.sqrt(x.size)
    assert se == pytest.approx(analytic, rel=0.10)
    assert low < x.mean() < high
    assert high - low == pytest.approx(2 * Z95 * analytic, rel=0.15)


def test_bootstrap_degenerate_inputs():
    mean = lambda a: a.mean(-1)  # noqa: E731
    assert all(math.isnan(v) for v in bootstrap(mean, [np.array([5.0])]))
    assert all(math.isnan(v) for v in bootstrap(mean, [np.array([])]))
    assert bootstrap(mean, [np.full(10, 2.0)]) == (0.0, 2.0, 2.0)
    nan_stat = lambda a: np.full(a.shape[0], np.nan)  # noqa: E731
    assert all(math.isnan(v) for v in bootstrap(nan_stat, [np.arange(5.0)]))
    with pytest.raises(ValueError, match="equal length"):
        bootstrap(lambda a, b: a.mean(-1), [np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="at least one"):
        bootstrap(mean, [])
    with pytest.raises(ValueError, match="level"):
        bootstrap(mean, [np.zeros(3)], level=1.5)
