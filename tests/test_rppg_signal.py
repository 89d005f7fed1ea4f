"""The HR evaluation recipe (harness/families/rppg/signal.py) against independent computations.

References used: the toolbox's dense detrend formula, scipy.sparse and least-squares solves of the
same smoothness-priors problem, per-bin Python loops of the toolbox's SNR and np.roll MACC, and
hand-worked spectra built from sines that sit exactly on FFT bins.
"""
from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import signal as sps, sparse
from scipy.sparse import linalg as sparse_linalg

from harness.families.rppg import signal as sig
from harness.families.rppg.signal import Recipe

BAND = (0.75, 2.5)
HYPOTHESIS = settings(max_examples=40, deadline=None, derandomize=True)


def sine(freq_hz: float, n: int, fs: float, phase: float = 0.0, amp: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq_hz * np.arange(n) / fs + phase)


def test_docstring_examples_run():
    assert doctest.testmod(sig, raise_on_error=False).failed == 0


# ----------------------------------------------------------------------------- detrend
def second_difference(n: int) -> sparse.spmatrix:
    return sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n), format="csc")


def detrend_spsolve(x: np.ndarray, lam: float) -> np.ndarray:
    """x − (I + λ²DᵀD)⁻¹x with D built by scipy.sparse.diags and solved by spsolve."""
    n = len(x)
    d = second_difference(n)
    a = sparse.identity(n, format="csc") + lam**2 * (d.T @ d)
    return x - sparse_linalg.spsolve(a.tocsc(), x)


def detrend_lstsq(x: np.ndarray, lam: float) -> np.ndarray:
    """The trend minimises ‖x − z‖² + λ²‖Dz‖²: a stacked least-squares problem."""
    n = len(x)
    d = second_difference(n).toarray()
    design = np.vstack([np.eye(n), lam * d])
    target = np.concatenate([x, np.zeros(n - 2)])
    trend = np.linalg.lstsq(design, target, rcond=None)[0]
    return x - trend


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 50])
def test_detrend_matches_dense_formula(n):
    x = np.random.default_rng(n).normal(size=n) * 10 + np.arange(n)
    np.testing.assert_allclose(sig.detrend(x), sig.detrend_dense(x), rtol=1e-7, atol=1e-9)


def test_detrend_batch_matches_row_by_row():
    x = np.random.default_rng(0).normal(size=(2, 3, 40))
    expected = np.stack([[sig.detrend_dense(row) for row in block] for block in x])
    np.testing.assert_allclose(sig.detrend(x), expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(sig.detrend_dense(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, lam", [(3, 100.0), (5, 3.0), (64, 100.0), (300, 100.0), (301, 7.5)])
def test_detrend_matches_sparse_solve(n, lam):
    x = np.random.default_rng(n).normal(size=n)
    np.testing.assert_allclose(sig.detrend(x, lam), detrend_spsolve(x, lam), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("n, lam", [(3, 2.0), (20, 1.0), (40, 10.0)])
def test_detrend_matches_least_squares(n, lam):
    x = np.random.default_rng(n).normal(size=n)
    np.testing.assert_allclose(sig.detrend(x, lam), detrend_lstsq(x, lam), rtol=1e-6, atol=1e-8)


def test_detrend_squares_lambda():
    """Reference §1.2b: the toolbox's λ=100 means a weight of 10⁴ on DᵀD, not 100."""
    x = np.random.default_rng(1).normal(size=120)
    np.testing.assert_allclose(sig.detrend(x, 100.0), detrend_spsolve(x, 100.0), atol=1e-9)
    assert not np.allclose(sig.detrend(x, 100.0), detrend_spsolve(x, 10.0), atol=1e-3)


def test_detrend_removes_straight_lines_exactly_in_theory():
    t = np.arange(200.0)
    np.testing.assert_allclose(sig.detrend(3.0 - 0.25 * t), 0.0, atol=1e-8)
    np.testing.assert_allclose(sig.detrend(np.full(200, 7.0)), 0.0, atol=1e-8)


def test_detrend_of_quadratic_tends_to_its_line_residual_for_large_lambda():
    """As λ→∞ the trend is the least-squares line, so a parabola keeps its curvature only."""
    t = np.arange(60.0)
    x = 0.01 * (t - 20.0) ** 2
    line = np.polyval(np.polyfit(t, x, 1), t)
    np.testing.assert_allclose(sig.detrend(x, 1e5), x - line, atol=1e-4)
    assert np.abs(sig.detrend(x, 1.0)).max() < 0.05 * np.abs(x - line).max()  # small λ: trend ≈ x


def test_detrend_lambda_zero_and_short_signals_give_zero():
    x = np.random.default_rng(2).normal(size=30)
    np.testing.assert_allclose(sig.detrend(x, 0.0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(sig.detrend(np.array([1.0, 5.0])), [0.0, 0.0])


def test_detrend_is_linear():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 80))
    np.testing.assert_allclose(sig.detrend(2 * x - 3 * y), 2 * sig.detrend(x) - 3 * sig.detrend(y), atol=1e-9)


# ----------------------------------------------------------------------------- filters, lengths
def test_next_pow2_and_fft_length():
    assert [sig.next_pow2(n) for n in (0, 1, 2, 3, 512, 513)] == [1, 1, 2, 4, 512, 1024]
    assert sig.fft_length(300, 30.0) == 512
    assert sig.fft_length(300, 30.0, 0.5) == 4096  # 60·30/0.5 = 3600 → 4096
    assert 60 * 30.0 / sig.fft_length(300, 30.0, 0.5) <= 0.5


def test_bandpass_refuses_band_above_nyquist():
    with pytest.raises(ValueError, match="fs/2"):
        sig.bandpass(np.ones(100), fs=4.0, low=0.75, high=2.5)
    with pytest.raises(ValueError):
        sig.bandpass(np.ones(100), fs=30.0, low=2.5, high=0.75)


def test_bandpass_passes_centre_and_rejects_far_frequencies():
    fs, n = 30.0, 1800
    inside = sig.bandpass(sine(1.4, n, fs), fs, *BAND)
    outside = sig.bandpass(sine(10.0, n, fs), fs, *BAND)
    mid = slice(300, -300)
    assert np.std(inside[mid]) > 0.9 * np.std(sine(1.4, n, fs))
    assert np.std(outside[mid]) < 0.2 * np.std(sine(10.0, n, fs))


# ----------------------------------------------------------------------------- HR
def in_band_frequency(data, fs: float, nfft: int) -> float:
    """A frequency at least one bin inside the band, so the nearest bin is searched."""
    bin_hz = fs / nfft
    return data.draw(st.floats(BAND[0] + bin_hz, BAND[1] - bin_hz))


@HYPOTHESIS
@given(data=st.data(), fs=st.sampled_from([25.0, 30.0, 60.0]), seconds=st.floats(10.0, 40.0),
       phase=st.floats(0.0, 2 * math.pi))
def test_hr_fft_finds_the_nearest_bin(data, fs, seconds, phase):
    n = int(seconds * fs)
    nfft = sig.next_pow2(n)
    bin_hz = fs / nfft
    f = in_band_frequency(data, fs, nfft)
    x = sine(f, n, fs, phase)
    hr = sig.hr_fft(x, fs, BAND)
    # always one of the two bins around f; the nearest one unless f is near their midpoint
    assert abs(hr - 60 * f) < 60 * bin_hz
    nearest = round(f / bin_hz)
    if abs(f / bin_hz - nearest) <= 0.4:
        assert hr == pytest.approx(60 * nearest * bin_hz, abs=1e-9)
        assert abs(hr - 60 * f) <= 60 * bin_hz / 2
        assert sig.hr_from_bvp(x, fs, Recipe()) == pytest.approx(hr, abs=1e-9)  # detrend + filter keep it


@HYPOTHESIS
@given(data=st.data(), fs=st.sampled_from([25.0, 30.0, 60.0]), seconds=st.floats(10.0, 40.0),
       phase=st.floats(0.0, 2 * math.pi))
def test_hr_fft_fine_within_half_bpm(data, fs, seconds, phase):
    n = int(seconds * fs)
    nfft = sig.fft_length(n, fs, 0.5)
    f = in_band_frequency(data, fs, nfft)
    x = sine(f, n, fs, phase)
    assert abs(sig.hr_fft(x, fs, BAND, 0.5) - 60 * f) <= 0.5
    # the band-pass slope can tilt the peak a little further
    assert abs(sig.hr_from_bvp(x, fs, Recipe(hr_method="fft-fine")) - 60 * f) <= 1.0


@HYPOTHESIS
@given(fs=st.sampled_from([25.0, 30.0, 60.0]), seconds=st.floats(10.0, 40.0),
       f=st.floats(BAND[0], BAND[1]), phase=st.floats(0.0, 2 * math.pi))
def test_hr_peak_within_one_bpm_on_clean_sines(fs, seconds, f, phase):
    x = sine(f, int(seconds * fs), fs, phase)
    assert abs(sig.hr_peak(x, fs) - 60 * f) <= 1.0


def test_hr_peak_hand_worked():
    x = np.zeros(40)
    x[[5, 15, 27]] = 1.0  # intervals 10 and 12 frames → mean 11 frames at 22 fps = 0.5 s
    assert sig.hr_peak(x, 22.0) == pytest.approx(120.0)
    one_peak = np.zeros(40)
    one_peak[5] = 1.0
    assert np.isnan(sig.hr_peak(one_peak, 22.0))


def test_hr_at_band_edges_is_found():
    fs, n = 32.0, 512  # bins every 0.0625 Hz: 0.75 and 2.5 Hz are bins 12 and 40
    assert sig.hr_fft(sine(0.75, n, fs), fs, BAND) == pytest.approx(45.0)
    assert sig.hr_fft(sine(2.5, n, fs), fs, BAND) == pytest.approx(150.0)


def test_out_of_band_sine_is_not_chosen():
    fs, n = 32.0, 512
    strong_low = sine(0.5, n, fs, amp=5.0) + sine(1.5, n, fs)
    strong_high = sine(3.0, n, fs, amp=5.0) + sine(1.25, n, fs)
    assert sig.hr_fft(strong_low, fs, BAND) == pytest.approx(90.0)
    assert sig.hr_fft(strong_high, fs, BAND) == pytest.approx(75.0)
    only_outside = sig.hr_fft(sine(0.4, n, fs), fs, BAND)
    assert 45.0 <= only_outside <= 150.0


def test_hr_fft_ties_take_the_first_bin():
    x = np.zeros(16)
    x[0] = 1.0  # an impulse: its FFT is exactly 1 everywhere, so all in-band bins tie
    freqs, power = sig.periodogram(x, 8.0, 16)  # bins every 0.5 Hz; in band: 1.0 … 2.5 Hz
    in_band = power[(freqs >= BAND[0]) & (freqs <= BAND[1])]
    assert len(in_band) == 4 and np.all(in_band == in_band[0])
    assert sig.hr_fft(x, 8.0, BAND) == 60.0


def test_constant_or_non_finite_signal_has_no_heart_rate():
    """A constant signal has no spectral peak: NaN, not the first in-band bin (45.7 bpm)."""
    fs = 30.0
    for x in (np.zeros(300), np.full(300, 5.0)):
        assert np.isnan(sig.hr_fft(x, fs, BAND))
        assert np.isnan(sig.hr_peak(x, fs))
        for method in sig.HR_METHODS:
            assert np.isnan(sig.hr_from_bvp(x, fs, Recipe(hr_method=method)))
        assert np.isnan(sig.hr_from_bvp(x, fs, Recipe(diff_flag=True)))  # integrates to a line
    with_nan = sine(1.2, 300, fs)
    with_nan[7] = np.nan
    assert np.isnan(sig.hr_fft(with_nan, fs, BAND))
    assert np.isnan(sig.hr_peak(with_nan, fs))
    batch = np.stack([np.zeros(300), sine(1.2, 300, fs)])
    hr = sig.hr_fft(batch, fs, BAND)
    assert np.isnan(hr[0]) and hr[1] == pytest.approx(sig.hr_fft(batch[1], fs, BAND))


def test_preprocess_returns_exact_zeros_for_constant_rows():
    fs = 30.0
    x = np.stack([np.full(300, 3.3), sine(1.2, 300, fs)])
    out = sig.preprocess(x, fs, Recipe())
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[1], sig.preprocess(x[1], fs, Recipe()))


def test_hr_fft_raises_when_no_bin_is_in_band():
    with pytest.raises(ValueError, match="no FFT bin"):
        sig.hr_fft(np.random.default_rng(0).normal(size=10), 60.0, BAND)  # nfft 16 → 3.75 Hz bins


# ----------------------------------------------------------------------------- SNR
def snr_loop(x: np.ndarray, fs: float, hr_gt: float, band=BAND, halfwidth_bpm: float = 6.0) -> float:
    """The toolbox's SNR written bin by bin: 10·log10(harmonic power / rest of the band), 0 if no rest."""
    freqs, power = sps.periodogram(x, fs=fs, nfft=sig.next_pow2(len(x)), detrend=False)
    f1, dev = hr_gt / 60.0, halfwidth_bpm / 60.0
    signal_power = noise_power = 0.0
    for f, p in zip(freqs, power):
        near = (f1 - dev <= f <= f1 + dev) or (2 * f1 - dev <= f <= 2 * f1 + dev)
        if near:
            signal_power += p
        elif band[0] <= f <= band[1]:
            noise_power += p
    return 0.0 if noise_power == 0 else 10.0 * math.log10(signal_power / noise_power)


def test_snr_hand_worked():
    """fs 32, n = nfft = 64 → bins every 0.5 Hz, in band: 1.0, 1.5, 2.0, 2.5 Hz.

    GT 60 bpm: harmonic bins 1.0 and 2.0 Hz, rest 1.5 and 2.5 Hz.  On-bin sines put power
    ∝ amplitude² in one bin each: amplitudes 2 (1 Hz), 1 (2 Hz), 1 (1.5 Hz) → (4 + 1) / 1 → 10·log10 5.
    """
    fs, n = 32.0, 64
    x = sine(1.0, n, fs, amp=2.0) + sine(2.0, n, fs) + sine(1.5, n, fs)
    assert sig.snr_db(x, fs, 60.0, Recipe()) == pytest.approx(10 * math.log10(5.0), abs=1e-9)


def test_snr_matches_loop_reimplementation():
    rng = np.random.default_rng(5)
    fs = 30.0
    x = rng.normal(size=(6, 300)) + sine(1.3, 300, fs)
    hr_gt = rng.uniform(50, 140, size=6)
    recipe = Recipe()
    got = sig.snr_db(x, fs, hr_gt, recipe)
    expected = [snr_loop(row, fs, h) for row, h in zip(x, hr_gt)]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    wide = Recipe(band=(0.6, 3.3), snr_halfwidth_bpm=12.0)
    np.testing.assert_allclose(sig.snr_db(x, fs, hr_gt, wide),
                               [snr_loop(r, fs, h, (0.6, 3.3), 12.0) for r, h in zip(x, hr_gt)], rtol=1e-10)


def test_snr_degenerate_cases():
    fs = 30.0
    x = sine(1.2, 300, fs)
    assert np.isnan(sig.snr_db(x, fs, np.nan, Recipe()))          # GT HR undefined
    assert np.isnan(sig.snr_db(np.zeros(300), fs, 72.0, Recipe()))  # no power at all: 0/0
    narrow = Recipe(band=(1.15, 1.25))                               # whole band inside ±6 bpm of 72
    assert sig.snr_db(x, fs, 72.0, narrow) == 0.0                    # toolbox: 0 when no remainder


# ----------------------------------------------------------------------------- MACC
def macc_loop(pred: np.ndarray, gt: np.ndarray) -> float:
    """The toolbox's definition: max over lags 0..N-2 of |corrcoef(pred, np.roll(gt, lag))|."""
    n = min(len(pred), len(gt))
    pred, gt = pred[:n], gt[:n]
    return max(abs(np.corrcoef(pred, np.roll(gt, lag))[0, 1]) for lag in range(n - 1))


@pytest.mark.parametrize("n", [2, 3, 10, 57, 128])
def test_macc_matches_roll_loop(n):
    rng = np.random.default_rng(n)
    p, g = rng.normal(size=(2, n))
    assert sig.macc(p, g) == pytest.approx(macc_loop(p, g), rel=1e-9)


def test_macc_batch_shift_and_degenerate():
    rng = np.random.default_rng(9)
    p = rng.normal(size=(4, 60))
    g = rng.normal(size=(4, 60))
    np.testing.assert_allclose(sig.macc(p, g), [macc_loop(a, b) for a, b in zip(p, g)], rtol=1e-9)
    x = sine(1.1, 90, 30.0)
    assert sig.macc(np.roll(x, 7), x) == pytest.approx(1.0)  # a circular shift is found
    assert sig.macc(-x, x) == pytest.approx(1.0)              # |r|
    assert np.isnan(sig.macc(np.ones(50), x[:50]))


# ----------------------------------------------------------------------------- windows
def test_min_window_frames():
    assert sig.min_window_frames(30.0, Recipe()) == 10               # filtfilt needs > 9 frames
    assert sig.min_window_frames(30.0, Recipe(filter_order=2)) == 16  # pad length 15
    assert sig.min_window_frames(60.0, Recipe()) == 17               # nfft 16 has no bin in 0.75–2.5 Hz
    assert sig.min_window_frames(60.0, Recipe(hr_method="fft-fine")) == 10
    assert sig.min_window_frames(60.0, Recipe(hr_method="peak")) == 10
    with pytest.raises(ValueError, match="fs/2"):
        sig.min_window_frames(4.0, Recipe())


@pytest.mark.parametrize("fs, recipe", [
    (30.0, Recipe()), (60.0, Recipe()), (30.0, Recipe(filter_order=2)), (25.0, Recipe(filter_order=3)),
    (90.0, Recipe()), (30.0, Recipe(hr_method="peak")),
])
def test_min_window_frames_is_the_shortest_evaluable(fs, recipe):
    n = sig.min_window_frames(fs, recipe)
    x = np.random.default_rng(0).normal(size=n)
    sig.heart_rate(sig.preprocess(x, fs, recipe), fs, recipe)  # does not raise
    if n > sig.MIN_WINDOW_FRAMES:
        with pytest.raises(ValueError):
            sig.heart_rate(sig.preprocess(x[:-1], fs, recipe), fs, recipe)


def test_window_bounds_whole():
    recipe = Recipe()
    assert sig.window_bounds(900, 30.0, recipe) == [(0, 900)]
    assert sig.window_bounds(10, 30.0, recipe) == [(0, 10)]
    assert sig.window_bounds(9, 30.0, recipe) == []  # toolbox keeps 9 frames, then filtfilt fails
    assert sig.window_bounds(8, 30.0, recipe) == []


def test_window_bounds_fixed_drops_short_last_window():
    recipe = Recipe(window="fixed", window_s=10.0)
    assert sig.window_bounds(700, 30.0, recipe) == [(0, 300), (300, 600), (600, 700)]
    assert sig.window_bounds(608, 30.0, recipe) == [(0, 300), (300, 600)]
    assert sig.window_bounds(609, 30.0, recipe) == [(0, 300), (300, 600)]
    assert sig.window_bounds(610, 30.0, recipe) == [(0, 300), (300, 600), (600, 610)]
    assert sig.window_bounds(200, 30.0, recipe) == [(0, 200)]  # video shorter than a window
    assert sig.window_bounds(600, 30.0, recipe) == [(0, 300), (300, 600)]


def test_window_bounds_sliding():
    recipe = Recipe(window="sliding", window_s=10.0, stride_s=5.0)
    assert sig.window_bounds(900, 30.0, recipe) == [(s, s + 300) for s in (0, 150, 300, 450, 600)]
    assert sig.window_bounds(899, 30.0, recipe) == [(s, s + 300) for s in (0, 150, 300, 450)]
    assert sig.window_bounds(250, 30.0, recipe) == [(0, 250)]
    assert sig.window_bounds(9, 30.0, recipe) == []
    tiny = Recipe(window="sliding", window_s=0.1, stride_s=0.1)  # 3-frame windows cannot be filtered
    assert sig.window_bounds(300, 30.0, tiny) == []


# ----------------------------------------------------------------------------- evaluate_video
def test_evaluate_video_tracks_a_heart_rate_change():
    """20 s at 30 fps: 60 bpm, then 90 bpm; 10 s windows → nfft 512, bins of 30/512·60 ≈ 3.52 bpm."""
    fs, half = 30.0, 300
    gt = np.concatenate([sine(1.0, half, fs), sine(1.5, half, fs, phase=0.3)])
    pred = gt + 0.05 * np.random.default_rng(0).normal(size=gt.size)
    rows = sig.evaluate_video(pred, gt, fs, Recipe(window="fixed", window_s=10.0))
    assert [(r["start"], r["end"]) for r in rows] == [(0, 300), (300, 600)]
    bin_bpm = 60 * fs / 512
    for row, true_hr in zip(rows, (60.0, 90.0)):
        assert abs(row["hr_gt"] - true_hr) <= bin_bpm / 2
        assert row["hr_pred"] == row["hr_gt"]
        assert row["snr_db"] > 5.0
        assert row["macc"] > 0.95
    one = rows[0]
    p = sig.preprocess(pred[:300], fs, Recipe())
    g = sig.preprocess(gt[:300], fs, Recipe())
    assert one["snr_db"] == pytest.approx(snr_loop(p, fs, one["hr_gt"]))
    assert one["macc"] == pytest.approx(macc_loop(p, g))


def test_evaluate_video_mixed_window_lengths_and_constant_prediction():
    fs = 30.0
    gt = sine(1.2, 700, fs)
    rows = sig.evaluate_video(np.zeros(700), gt, fs, Recipe(window="fixed", window_s=10.0))
    assert [r["end"] - r["start"] for r in rows] == [300, 300, 100]
    for r in rows:
        assert math.isnan(r["hr_pred"]) and math.isnan(r["snr_db"]) and math.isnan(r["macc"])
        assert abs(r["hr_gt"] - 72.0) < 60 * fs / sig.next_pow2(r["end"] - r["start"])


def test_evaluate_video_short_tail_at_60fps_does_not_crash():
    fs = 60.0
    gt = sine(1.2, 610, fs)  # 10 s windows leave a 10-frame tail: no FFT bin in band → dropped
    rows = sig.evaluate_video(gt, gt, fs, Recipe(window="fixed", window_s=10.0))
    assert [(r["start"], r["end"]) for r in rows] == [(0, 600)]


def test_evaluate_video_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        sig.evaluate_video(np.zeros(100), np.zeros(101), 30.0, Recipe())


# ----------------------------------------------------------------------------- Recipe
def test_recipe_round_trip():
    recipe = Recipe(band=(0.6, 3.3), hr_method="fft-fine", window="sliding", window_s=6.0, stride_s=1.0)
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert Recipe.from_dict(None) == Recipe()
    assert Recipe.from_dict({"band": [0.6, 3.3]}).band == (0.6, 3.3)


@pytest.mark.parametrize("bad, match", [
    ({"bnad": [0.6, 3.3]}, "unknown recipe key"),
    ({"band": [0.6, 3.3, 4.0]}, "pair"),
    ({"band": "0.6-3.3"}, "pair"),
    ({"band": [2.5, 0.75]}, "0 < low < high"),
    ({"band": [0.0, 2.5]}, "0 < low < high"),
    ({"hr_method": "welch"}, "hr_method"),
    ({"window": "overlap"}, "window"),
    ({"window": "sliding"}, "stride_s"),
    ({"window": "fixed", "window_s": 0}, "window_s"),
    ({"filter_order": 0}, "filter_order"),
    ({"filter_order": 1.5}, "filter_order"),
    ({"detrend_lambda": -1}, "detrend_lambda"),
    ({"fine_resolution_bpm": 0}, "fine_resolution_bpm"),
    ({"snr_halfwidth_bpm": -6}, "snr_halfwidth_bpm"),
])
def test_recipe_from_dict_rejects(bad, match):
    with pytest.raises(ValueError, match=match):
        Recipe.from_dict(bad)
