"""Heart rate from a BVP waveform: the evaluation recipe (detrend, band-pass, spectral peak).

Everything here is numpy/scipy, vectorised over a leading batch axis: ``x`` is ``(N,)`` or
``(K, N)`` with the signal along the last axis.  The steps reproduce rPPG-Toolbox's
``calculate_metric_per_video`` (reference §1.2/§1.2b); the default band is the 0.75–2.5 Hz its
paper tables used (the toolbox code's own default is 0.6–3.3 Hz: set ``band`` for that).
Deviations are separate, named options.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy import linalg, signal

#: frames below which a window is skipped (the toolbox's rule: filtfilt's default pad length)
MIN_WINDOW_FRAMES = 9

HR_METHODS = ("fft", "fft-fine", "peak")
WINDOW_MODES = ("whole", "fixed", "sliding")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything that decides an HR value, recorded with every result.

    band: (low, high) Hz for both the band-pass filter and the spectral peak search.
    detrend_lambda: smoothness-priors λ as the toolbox passes it (its formula squares it).
    hr_method: ``fft`` (periodogram, next-power-of-two FFT; toolbox-compatible),
        ``fft-fine`` (zero-padded so bins are ≤ ``fine_resolution_bpm``) or ``peak``
        (mean inter-peak interval).
    window: ``whole`` video, ``fixed`` non-overlapping windows of ``window_s`` (last one may be
        shorter; windows under 9 frames dropped) or ``sliding`` windows of ``window_s`` every
        ``stride_s`` (full windows only; a video shorter than one window is one window).
    diff_flag: signals are first differences (cumulative-sum them first).
    """

    band: tuple[float, float] = (0.75, 2.5)
    filter_order: int = 1
    detrend_lambda: float = 100.0
    hr_method: str = "fft"
    fine_resolution_bpm: float = 0.5
    window: str = "whole"
    window_s: float = 10.0
    stride_s: float | None = None
    snr_halfwidth_bpm: float = 6.0
    diff_flag: bool = False

    def __post_init__(self) -> None:
        if len(self.band) != 2:
            raise ValueError(f"recipe.band must be a (low, high) pair in Hz, got {self.band}")
        low, high = self.band
        if not 0 < low < high:
            raise ValueError(f"recipe.band must satisfy 0 < low < high, got {self.band}")
        if self.hr_method not in HR_METHODS:
            raise ValueError(f"recipe.hr_method must be one of {HR_METHODS}, got {self.hr_method!r}")
        if self.window not in WINDOW_MODES:
            raise ValueError(f"recipe.window must be one of {WINDOW_MODES}, got {self.window!r}")
        if self.window == "sliding" and not (self.stride_s and self.stride_s > 0):
            raise ValueError("recipe.window 'sliding' needs stride_s > 0")
        if self.window != "whole" and not self.window_s > 0:
            raise ValueError("recipe.window_s must be > 0")
        if isinstance(self.filter_order, bool) or not isinstance(self.filter_order, int) or self.filter_order < 1:
            raise ValueError(f"recipe.filter_order must be an integer >= 1, got {self.filter_order!r}")
        if not self.detrend_lambda >= 0:
            raise ValueError(f"recipe.detrend_lambda must be >= 0, got {self.detrend_lambda}")
        if not self.fine_resolution_bpm > 0:
            raise ValueError(f"recipe.fine_resolution_bpm must be > 0, got {self.fine_resolution_bpm}")
        if not self.snr_halfwidth_bpm > 0:
            raise ValueError(f"recipe.snr_halfwidth_bpm must be > 0, got {self.snr_halfwidth_bpm}")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Recipe":
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown recipe key(s) {unknown}; known: {sorted(names)}")
        if "band" in d:
            if isinstance(d["band"], (str, bytes)) or not hasattr(d["band"], "__len__"):
                raise ValueError(f"recipe.band must be a (low, high) pair in Hz, got {d['band']!r}")
            d["band"] = tuple(float(v) for v in d["band"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["band"] = list(self.band)
        return d


def next_pow2(n: int) -> int:
    """Smallest power of two ≥ n (1 for n ≤ 1)."""
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


# ----------------------------------------------------------------------------- detrend
def _smoothness_bands(n: int, weight: float) -> np.ndarray:
    """Upper banded form (3, n) of I + weight·DᵀD, D the (n-2)×n second-difference matrix.

    Each row of D adds (1,-2,1)ᵀ(1,-2,1) on a 3×3 block, so the diagonals of DᵀD are the
    rows' contributions summed: (1,4,1), (-2,-2) and (1,) convolved with n-2 ones.
    """
    rows = np.ones(n - 2)
    main = np.convolve(rows, [1.0, 4.0, 1.0])
    first = np.convolve(rows, [-2.0, -2.0])
    second = rows
    ab = np.zeros((3, n))
    ab[2] = 1.0 + weight * main
    ab[1, 1:] = weight * first
    ab[0, 2:] = weight * second
    return ab


def detrend(x: np.ndarray, lam: float = 100.0) -> np.ndarray:
    """Smoothness-priors detrend (Tarvainen 2002) as rPPG-Toolbox computes it.

    Returns ``(I − (I + λ²DᵀD)⁻¹) x`` along the last axis, solved as a symmetric pentadiagonal
    (banded) system: O(N) per signal instead of the toolbox's dense O(N³) inverse.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if n < 3:  # D is empty: the trend is the signal itself
        return np.zeros_like(x)
    flat = x.reshape(-1, n)
    trend = linalg.solveh_banded(_smoothness_bands(n, float(lam) ** 2), flat.T, check_finite=False)
    return (flat - trend.T).reshape(x.shape)


def detrend_dense(x: np.ndarray, lam: float = 100.0) -> np.ndarray:
    """The toolbox's dense formula, for tests and benchmarks only (O(N³))."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    eye = np.eye(n)
    d = np.zeros((n - 2, n))
    for i in range(n - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)
    op = eye - np.linalg.inv(eye + lam**2 * d.T @ d)
    return x @ op.T


# ----------------------------------------------------------------------------- filters
def bandpass(x: np.ndarray, fs: float, low: float, high: float, order: int = 1) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``filtfilt``, scipy's default padding) along the last axis."""
    nyq = fs / 2.0
    if not 0 < low < high < nyq:
        raise ValueError(f"band-pass {low}-{high} Hz is not inside (0, fs/2={nyq}) Hz")
    b, a = signal.butter(order, [low / nyq, high / nyq], btype="bandpass")
    return signal.filtfilt(b, a, np.asarray(x, dtype=np.float64), axis=-1)


def _constant(x: np.ndarray) -> np.ndarray:
    """True where a signal is the same value throughout (NaN rows are not constant)."""
    return np.ptp(x, axis=-1) == 0


def preprocess(x: np.ndarray, fs: float, recipe: Recipe) -> np.ndarray:
    """The recipe's signal conditioning: optional cumsum, detrend, band-pass.

    A constant input (e.g. a model that output zeros) has no pulse: it comes out as exact
    zeros, not as rounding dust whose spectral peak would be a made-up heart rate.
    """
    x = np.asarray(x, dtype=np.float64)
    flat = _constant(x)
    if recipe.diff_flag:
        x = np.cumsum(x, axis=-1)
    x = detrend(x, recipe.detrend_lambda)
    out = bandpass(x, fs, *recipe.band, order=recipe.filter_order)
    return np.where(flat[..., None], 0.0, out)


# ----------------------------------------------------------------------------- HR
def fft_length(n: int, fs: float, fine_resolution_bpm: float | None = None) -> int:
    """FFT length: next power of two of n; with a fine resolution, also ≥ 60·fs / resolution."""
    nfft = next_pow2(n)
    if fine_resolution_bpm:
        nfft = max(nfft, next_pow2(math.ceil(60.0 * fs / fine_resolution_bpm)))
    return nfft


def periodogram(x: np.ndarray, fs: float, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    """One-sided periodogram (boxcar window, no detrend) along the last axis."""
    return signal.periodogram(np.asarray(x, dtype=np.float64), fs=fs, nfft=nfft, detrend=False, axis=-1)


def hr_fft(x: np.ndarray, fs: float, band: tuple[float, float], fine_resolution_bpm: float | None = None) -> np.ndarray:
    """HR (bpm) at the periodogram's peak inside ``band`` (edges inclusive); first peak on ties.

    NaN for a constant signal (no oscillation, so no peak) and for one with NaN/inf samples.
    Raises ValueError when no FFT bin falls inside the band (window too short).
    """
    x = np.asarray(x, dtype=np.float64)
    freqs, power = periodogram(x, fs, fft_length(x.shape[-1], fs, fine_resolution_bpm))
    mask = _band_mask(freqs, band)
    if not mask.any():
        raise ValueError(f"no FFT bin inside the band {band} Hz (n={x.shape[-1]}, fs={fs})")
    idx = np.argmax(power[..., mask], axis=-1)
    undefined = _constant(x) | ~np.isfinite(x).all(axis=-1)
    return np.where(undefined, np.nan, freqs[mask][idx] * 60.0)[()]


def _band_mask(freqs: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    return (freqs >= band[0]) & (freqs <= band[1])


def hr_peak(x: np.ndarray, fs: float) -> np.ndarray:
    """HR (bpm) from the mean interval between local maxima (``find_peaks``, no parameters).

    NaN when fewer than two peaks are found or the signal has NaN/inf samples.
    """
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1, x.shape[-1])
    out = np.full(flat.shape[0], np.nan)
    for i, row in enumerate(flat):
        if not np.isfinite(row).all():
            continue
        peaks, _ = signal.find_peaks(row)
        if len(peaks) >= 2:
            out[i] = 60.0 * fs / np.mean(np.diff(peaks))
    return out.reshape(x.shape[:-1])


def heart_rate(x_filtered: np.ndarray, fs: float, recipe: Recipe) -> np.ndarray:
    """HR of already preprocessed signals by the recipe's method."""
    if recipe.hr_method == "peak":
        return hr_peak(x_filtered, fs)
    fine = recipe.fine_resolution_bpm if recipe.hr_method == "fft-fine" else None
    return hr_fft(x_filtered, fs, recipe.band, fine)


def hr_from_bvp(x: np.ndarray, fs: float, recipe: Recipe | None = None) -> np.ndarray:
    """HR (bpm) of raw BVP signal(s): preprocess then estimate, all by ``recipe``."""
    recipe = recipe or Recipe()
    return heart_rate(preprocess(x, fs, recipe), fs, recipe)


def snr_db(pred_filtered: np.ndarray, fs: float, hr_gt: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Toolbox SNR (dB): power within ±halfwidth of the GT HR's 1st and 2nd harmonics over the rest
    of the band, on the same periodogram the FFT recipe uses.

    0 when only the remainder has no power (the toolbox's convention); NaN when there is no power
    at all (e.g. an all-zero prediction) or the GT HR is NaN.
    """
    x = np.asarray(pred_filtered, dtype=np.float64)
    freqs, power = periodogram(x, fs, next_pow2(x.shape[-1]))
    f0 = np.asarray(hr_gt, dtype=np.float64)[..., None] / 60.0
    dev = recipe.snr_halfwidth_bpm / 60.0
    h1 = (freqs >= f0 - dev) & (freqs <= f0 + dev)
    h2 = (freqs >= 2 * f0 - dev) & (freqs <= 2 * f0 + dev)
    rest = _band_mask(freqs, recipe.band) & ~h1 & ~h2
    sig = (power * h1).sum(-1) + (power * h2).sum(-1)
    noise = (power * rest).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(noise != 0, 10.0 * np.log10(sig / np.where(noise != 0, noise, 1.0)), 0.0)
    undefined = ~np.isfinite(f0[..., 0]) | ((sig == 0) & (noise == 0))
    return np.where(undefined, np.nan, out)[()]


def macc(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Maximum |Pearson r| between ``pred`` and ``gt`` circularly shifted by lags 0..N-2.

    All lags at once through an FFT circular cross-correlation; NaN when either is constant.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    n = min(p.shape[-1], g.shape[-1])
    p, g = p[..., :n], g[..., :n]
    p = p - p.mean(-1, keepdims=True)
    g = g - g.mean(-1, keepdims=True)
    denom = np.sqrt((p * p).sum(-1) * (g * g).sum(-1))
    # corr at lag k pairs p[i] with g[i-k]: circular cross-correlation
    xc = np.fft.irfft(np.fft.rfft(p, axis=-1) * np.conj(np.fft.rfft(g, axis=-1)), n=n, axis=-1)
    lags = xc[..., : max(n - 1, 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, np.abs(lags).max(-1) / np.where(denom > 0, denom, 1.0), np.nan)


# ----------------------------------------------------------------------------- windows
def min_window_frames(fs: float, recipe: Recipe) -> int:
    """Fewest frames a window needs for the recipe to give an HR (shorter windows are skipped).

    At least the toolbox's 9; more than ``filtfilt``'s pad length 3·(2·order+1) (9 frames would
    crash the toolbox's order-1 filter); and for the FFT methods, enough for one FFT bin to fall
    inside the band.

    >>> min_window_frames(30.0, Recipe())
    10
    """
    if not recipe.band[1] < fs / 2.0:
        raise ValueError(f"band-pass {recipe.band[0]}-{recipe.band[1]} Hz is not inside (0, fs/2={fs / 2.0}) Hz")
    n = max(MIN_WINDOW_FRAMES, 3 * (2 * recipe.filter_order + 1) + 1)
    if recipe.hr_method == "peak":
        return n
    fine = recipe.fine_resolution_bpm if recipe.hr_method == "fft-fine" else None
    while not _band_mask(np.fft.rfftfreq(fft_length(n, fs, fine), 1.0 / fs), recipe.band).any():
        n = next_pow2(n) + 1  # the bin spacing only shrinks when nfft doubles
    return n


def window_bounds(n_frames: int, fs: float, recipe: Recipe) -> list[tuple[int, int]]:
    """[start, end) frame ranges the recipe evaluates in a video of ``n_frames``.

    Windows shorter than ``min_window_frames`` are dropped.

    >>> window_bounds(700, 30.0, Recipe(window="fixed", window_s=10))
    [(0, 300), (300, 600), (600, 700)]
    """
    shortest = min_window_frames(fs, recipe)
    if recipe.window == "whole":
        return [(0, n_frames)] if n_frames >= shortest else []
    length = max(int(round(recipe.window_s * fs)), 1)
    if recipe.window == "fixed":
        spans = [(s, min(s + length, n_frames)) for s in range(0, n_frames, length)]
        return [(s, e) for s, e in spans if e - s >= shortest]
    stride = max(int(round(recipe.stride_s * fs)), 1)
    if n_frames < length:
        return [(0, n_frames)] if n_frames >= shortest else []
    if length < shortest:
        return []
    return [(s, s + length) for s in range(0, n_frames - length + 1, stride)]


def evaluate_video(pred: np.ndarray, gt: np.ndarray, fs: float, recipe: Recipe) -> list[dict[str, float]]:
    """Per-window HR pairs, SNR and MACC for one video's predicted and ground-truth BVP.

    Windows of equal length are processed together as one batch.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 1:
        raise ValueError(f"prediction has shape {pred.shape} but the ground truth has {gt.shape}")
    bounds = window_bounds(len(gt), fs, recipe)
    rows: list[dict[str, float]] = []
    by_length: dict[int, list[tuple[int, int]]] = {}
    for s, e in bounds:
        by_length.setdefault(e - s, []).append((s, e))
    for length, spans in by_length.items():
        p = preprocess(np.stack([pred[s:e] for s, e in spans]), fs, recipe)
        g = preprocess(np.stack([gt[s:e] for s, e in spans]), fs, recipe)
        hr_p = heart_rate(p, fs, recipe)
        hr_g = heart_rate(g, fs, recipe)
        snr = snr_db(p, fs, hr_g, recipe)
        mc = macc(p, g)
        for i, (s, e) in enumerate(spans):
            rows.append(dict(start=s, end=e, hr_pred=float(hr_p[i]), hr_gt=float(hr_g[i]),
                             snr_db=float(snr[i]), macc=float(mc[i])))
    rows.sort(key=lambda r: r["start"])
    return rows
