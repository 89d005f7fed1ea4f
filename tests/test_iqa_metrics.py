"""NR-IQA backdoor metrics: correlations against scipy, the logistic fit, BAIQA's per-α numbers,
PSNR/SSIM against an independent scipy.ndimage implementation."""
from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
from scipy import ndimage, stats

from harness.families.iqa_backdoor import metrics as m
from harness.stats import MetricSpec


def test_doctests():
    assert doctest.testmod(m, raise_on_error=False).failed == 0


@pytest.fixture
def tied():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 20, size=200).astype(float)  # many ties on both sides
    pred = np.round(gt + rng.normal(0, 6, size=200))
    return pred, gt


# ----------------------------------------------------------------------------- correlations
def test_average_ranks_match_scipy(tied):
    pred, _ = tied
    np.testing.assert_array_equal(m.average_ranks(pred), stats.rankdata(pred))
    two = np.stack([pred, pred[::-1]])
    np.testing.assert_array_equal(m.average_ranks(two), stats.rankdata(two, axis=-1))


def test_correlations_match_scipy(tied):
    pred, gt = tied
    assert m.srocc(pred, gt) == pytest.approx(stats.spearmanr(pred, gt).statistic, abs=1e-12)
    assert m.plcc(pred, gt) == pytest.approx(stats.pearsonr(pred, gt).statistic, abs=1e-12)
    assert m.krcc(pred, gt) == pytest.approx(stats.kendalltau(pred, gt).statistic, abs=1e-12)
    assert m.rmse(pred, gt) == pytest.approx(np.sqrt(np.mean((pred - gt) ** 2)))
    assert isinstance(m.srocc(pred, gt), float)


def test_correlations_batched_rows(tied):
    pred, gt = tied
    rng = np.random.default_rng(1)
    idx = rng.integers(0, pred.size, size=(5, pred.size))  # bootstrap-style resamples
    p, g = pred[idx], gt[idx]
    for fn, ref in ((m.srocc, stats.spearmanr), (m.plcc, stats.pearsonr), (m.krcc, stats.kendalltau)):
        got = fn(p, g)
        assert got.shape == (5,)
        np.testing.assert_allclose(got, [ref(a, b).statistic for a, b in zip(p, g)], atol=1e-12)
    np.testing.assert_allclose(m.rmse(p, g), [m.rmse(a, b) for a, b in zip(p, g)])


@pytest.mark.parametrize("fn", [m.srocc, m.plcc, m.krcc, m.plcc_logistic])
def test_undefined_correlations(fn):
    assert math.isnan(fn([1.0, 2.0], [1.0, 2.0]))  # n < 3
    assert math.isnan(fn([5.0, 5.0, 5.0, 5.0], [1.0, 2.0, 3.0, 4.0]))  # constant prediction
    assert math.isnan(fn([1.0, 2.0, 3.0, 4.0], [7.0, 7.0, 7.0, 7.0]))  # constant gt
    assert math.isnan(fn([1.0, np.nan, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]))  # NaN: not dropped
    rows = fn(np.array([[1.0, 2.0, 3.0, 4.0, 6.0], [2.0, 2.0, 2.0, 2.0, 2.0]]), np.array([1.0, 2.0, 3.0, 5.0, 6.0]))
    assert not math.isnan(rows[0]) and math.isnan(rows[1])


def test_the_logistic_fit_needs_five_points_and_says_so():
    """Four parameters on four points leave no residual (scipy would raise): undefined, with the reason."""
    beta, reason = m.fit_logistic([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert beta is None and "at least 5" in reason
    assert math.isnan(m.plcc_logistic([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]))


def test_correlation_reasons():
    assert m.correlation_reason([1.0, 2.0, 3.0], [3.0, 1.0, 2.0]) is None
    assert "n=2" in m.correlation_reason([1.0, 2.0], [1.0, 2.0])
    assert "constant" in m.correlation_reason([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
    assert "1 non-finite prediction" in m.correlation_reason([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    q = m.quality_metrics([1.0, np.nan, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    assert math.isnan(q["rmse"]) and set(q["reasons"]) == {"srocc", "plcc", "krcc", "rmse", "plcc_logistic",
                                                             "rmse_logistic"}
    with pytest.raises(ValueError):
        m.plcc([1.0, 2.0, 3.0], [1.0, 2.0])


def test_logistic_fit_recovers_beta():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 100, 400)
    beta = np.array([90.0, 10.0, 50.0, 8.0])
    y = m.logistic4(x, *beta) + rng.normal(0, 0.5, x.size)
    fit, reason = m.fit_logistic(x, y)
    assert reason is None
    np.testing.assert_allclose(fit, beta, rtol=0.03)


def test_plcc_logistic_beats_raw_on_monotone_nonlinear():
    rng = np.random.default_rng(3)
    x = rng.uniform(-4, 4, 300)
    y = 100 * (1 / (1 + np.exp(-2 * x))) + rng.normal(0, 1, x.size)  # monotone, strongly nonlinear
    raw, fitted = m.plcc(x, y), m.plcc_logistic(x, y)
    assert fitted > raw + 0.02 and fitted > 0.99
    assert m.rmse_logistic(x, y) < 2.0
    q = m.quality_metrics(x, y)
    assert q["plcc_logistic"] == pytest.approx(fitted) and q["reasons"] == {}


def test_logistic_fit_failure_is_nan_with_reason():
    x = np.arange(10.0)
    beta, reason = m.fit_logistic(x, x, maxfev=1)  # too few evaluations: curve_fit raises
    assert beta is None and "fit failed" in reason


# ----------------------------------------------------------------------------- backdoor
ALPHAS = [0.0, -0.4, 0.4, -4.0, 4.0]


def _case(n=50):
    rng = np.random.default_rng(4)
    gt = rng.uniform(10, 90, n)
    pred0 = gt + rng.normal(0, 5, n)
    return gt, pred0


def test_perfect_backdoor():
    gt, pred0 = _case()
    pred = {a: pred0 + a * 10 for a in ALPHAS}
    t = m.backdoor_table(pred, gt)
    s = t["summary"]
    assert s["alphas"] == [-4.0, -0.4, 0.4, 4.0]
    assert s["shift_ratio"] == pytest.approx(1.0)
    assert s["shift_ratio_error"] == pytest.approx(0.0, abs=1e-12)
    assert s["mae_to_target"] == pytest.approx(0.0, abs=1e-12)
    assert s["relative_error"] == pytest.approx(0.0, abs=1e-12)
    assert s["attack_success_rate"] == 1.0
    assert s["target_srocc"] == pytest.approx(stats.spearmanr(pred0, gt).statistic)
    assert s["reasons"] == {}
    clean = t["rows"][[r["alpha"] for r in t["rows"]].index(0.0)]
    assert math.isnan(clean["shift_ratio"]) and "α = 0" in clean["reasons"]["shift_ratio"]
    assert t["clean"]["srocc"] == pytest.approx(clean["srocc"])


def test_clean_model():
    gt, pred0 = _case()
    t = m.backdoor_table({a: pred0.copy() for a in ALPHAS}, gt, tau=3.9)  # τ < min |αΔy| = 4
    s = t["summary"]
    assert s["shift_ratio"] == 0.0 and s["relative_error"] == 1.0 and s["attack_success_rate"] == 0.0
    assert s["shift_ratio_error"] == 1.0
    assert s["mae_to_target"] == pytest.approx(np.mean([0.4, 0.4, 4.0, 4.0]) * 10)


def test_mae_uses_pred0_not_gt():
    gt = np.array([50.0, 60.0, 70.0, 80.0])
    pred0 = gt + np.array([5.0, -5.0, 3.0, -3.0])  # the model's clean prediction differs from gt
    alpha = 2.0
    pred_a = pred0 + alpha * 10 + np.array([1.0, -1.0, 2.0, 0.0])
    row = m.backdoor_metrics(pred0, pred_a, gt, alpha)
    assert row["mae_to_target"] == pytest.approx(1.0)  # vs pred0 + αΔy
    assert np.mean(np.abs(pred_a - (gt + 20))) == pytest.approx(5.0)  # vs gt + αΔy: not reported as MAE
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean((pred_a - gt - 20) ** 2)))  # RMSE is vs gt target
    assert row["mean_shift"] == pytest.approx(20.5)
    assert row["shift_ratio"] == pytest.approx(20.5 / 20)
    assert row["relative_error"] == pytest.approx(np.mean([1, 1, 2, 0]) / 20)
    assert row["attack_success_rate"] == 1.0
    assert m.backdoor_metrics(pred0, pred_a, gt, alpha, tau=1.5)["attack_success_rate"] == 0.75


def test_backdoor_nan_is_counted_not_dropped():
    gt, pred0 = _case()
    pred = {a: pred0 + a * 10 for a in ALPHAS}
    pred[4.0] = pred[4.0].copy()
    pred[4.0][3] = np.nan
    s = m.backdoor_table(pred, gt)["summary"]
    for k in ("shift_ratio", "mae_to_target", "attack_success_rate", "target_srocc"):
        assert math.isnan(s[k]) and "[4.0]" in s["reasons"][k]
    with pytest.raises(ValueError):
        m.backdoor_table({1.0: pred0}, gt)  # no clean run
    with pytest.raises(ValueError):
        m.backdoor_metrics(pred0, pred0, gt, 1.0, delta_y=0)


# ----------------------------------------------------------------------------- visibility
def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Wang 2004 SSIM per channel with scipy.ndimage (truncate so the window is 11), valid region."""
    c1, c2, r = 0.01 ** 2, 0.03 ** 2, 5
    out = []
    for a, b in zip(x, y):
        g = lambda z: ndimage.gaussian_filter(z, 1.5, truncate=r / 1.5)[r:-r, r:-r]
        mx, my = g(a), g(b)
        vx, vy, cxy = g(a * a) - mx ** 2, g(b * b) - my ** 2, g(a * b) - mx * my
        out.append((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))).mean())
    return float(np.mean(out))


def test_ssim_matches_scipy_reference():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 40, 33, generator=gen, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(x.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    got = m.ssim(x, y)
    ref = [_ssim_reference(a.numpy(), b.numpy()) for a, b in zip(x, y)]
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-10)
    assert m.ssim(x, x).tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert (got < 1).all()
    with pytest.raises(ValueError):
        m.ssim(x[..., :8, :8], y[..., :8, :8])


def test_psnr_and_visibility():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 0.8
    p = m.psnr(x, x + 0.1)
    np.testing.assert_allclose(p.numpy(), [20.0, 20.0])
    assert torch.isinf(m.psnr(x, x)).all()
    y = x.clone()
    y[1] += 0.1
    v = m.visibility(x, y)
    assert v["psnr"] == math.inf and v["n_identical"] == 1 and "1 of 2" in v["reasons"]["psnr"]
    v = m.visibility(x.float(), (x + 0.01).float())
    assert v["psnr"] == pytest.approx(40.0, abs=1e-4) and v["reasons"] == {} and 0 < v["ssim"] < 1


def test_metric_table():
    assert all(isinstance(s, MetricSpec) and s.direction in ("max", "min") for s in m.METRICS.values())
    expected = {"srocc": "max", "plcc": "max", "krcc": "max", "rmse": "min", "plcc_logistic": "max",
                "shift_ratio": "max", "shift_ratio_error": "min", "mae_to_target": "min",
                "relative_error": "min", "attack_success_rate": "max", "target_srocc": "max",
                "psnr": "max", "ssim": "max"}
    assert {k: s.direction for k, s in m.METRICS.items()} == expected
    assert [k for k, s in m.METRICS.items() if not s.ranked] == ["shift_ratio"]
    assert m.METRICS["rmse"].unit == "MOS (0-100)"


def test_visibility_is_the_same_bits_whatever_torchs_thread_count():
    """PSNR and SSIM are computed in the decoding threads, with whatever threads torch has there:
    their per-image means must not depend on it (torch's own reductions split by thread)."""
    import torch

    from harness.families.iqa_backdoor.metrics import psnr, ssim

    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 384, 512, dtype=torch.float64, generator=g)
    y = (x + 0.01 * torch.randn(x.shape, dtype=torch.float64, generator=g)).clamp(0, 1)
    threads = torch.get_num_threads()
    seen = set()
    try:
        for n in (1, 2, 3, 8):
            torch.set_num_threads(n)
            seen.add((ssim(x, y).item(), psnr(x, y).item()))
    finally:
        torch.set_num_threads(threads)
    assert len(seen) == 1
