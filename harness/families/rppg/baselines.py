"""The seven unsupervised rPPG baselines of rPPG-Toolbox (reference §1.4), in torch, and their
built-in adapters (:data:`ADAPTERS`, registered in ``__init__.py``).

Every method has the signature ``method(rgb, fs, lengths=None) -> bvp``:

* ``rgb``: (B, T, 3) per-frame spatial mean R, G, B of the face (0–255 scale), any device;
* ``fs``: frame rate, a float or a (B,) tensor (videos in one batch may differ);
* ``lengths``: (B,) valid frames per video (None: all T); frames beyond are padding, zeroed on
  entry and never used, so a video's result does not depend on its padding or batch-mates;
* returns (B, T) float32 BVP on the input device, zero beyond each length.

Bad arguments, and a video shorter than the method's minimum (named in the message with the
length), raise ValueError; the caller turns it into a user-facing error.

Windowed work (POS, CHROM) is vectorised with ``unfold``/``fold``; whole-video methods use
masked sums over valid frames.  The O(N) whole-signal detrend and band-pass steps of POS and ICA
run per video on the CPU through :mod:`harness.families.rppg.signal`.  Arithmetic is float64
internally (float32 on devices without float64, e.g. MPS): the traces are tiny and the numbers
are the product.

Where this differs from the toolbox (all other arithmetic follows it, std with ddof=0):

* Degenerate input: the toolbox divides by window means and standard deviations unguarded (a
  zero channel or a constant trace gives NaN/inf).  Here a quotient whose denominator is exactly
  zero is 0 (``_safe_div``), ICA/PBV treat a channel whose std is at most ``FLAT_TOL`` times
  its level as flat (std 0), and an output that varies by at most ``FLAT_TOL`` times the input
  level is returned as exact zeros.  So normal data follows the toolbox's formulas exactly and
  degenerate data gives finite output; a constant trace gives exact zeros for every method
  (GREEN included), which the HR recipe reports as "no pulse" rather than a made-up rate.
  PBV uses a pseudo-inverse where the toolbox uses ``solve`` (the same result unless the 3×3
  matrix is singular, where ``solve`` fails).
* POS/CHROM windows are projected as (rows / channel means) @ window instead of dividing the
  window first: the same numbers up to rounding (agreement with a loop port is ~1e-8).
* POS: the toolbox loops ``n = 0..N-1`` over windows ``[n-l, n)``, so the last frame is never in
  a window and its overlap-add value is 0 before detrending.  Reproduced on purpose.
  (Also faithful, not a bug: with 1.6 s windows, and POS's 0.75 Hz 1st-order filter, a 50 bpm
  fundamental is attenuated about 2× against its 2nd harmonic, so POS/CHROM can report 100.)
* CHROM: the toolbox returns a signal of ``(N//half)·half`` samples (``half`` = half window);
  here the same samples are returned and the last ``N mod half`` frames are 0.
* ICA: the toolbox runs complex JADE on the 3 most significant eigen-matrices of the cumulant
  tensor; here real JADE (Cardoso's ``jadeR`` form) jointly diagonalises all 9 cumulant
  matrices, with the same symmetric whitening, Jacobi threshold 1/(100·√N), component choice
  (largest normalised spectral peak, DC excluded) and 3rd-order 0.7–2.5 Hz filter.  The two
  optimise the same contrast up to the discarded small eigen-matrices; the separated sources
  (hence the chosen component) may differ in sign, like any ICA.
* LGI: the toolbox's first left singular vector of the 3×N trace is taken as the top eigenvector
  of the 3×3 Gram matrix (the same vector up to sign, which the projection ignores).
* OMIT: the toolbox's ``Q[:, 0]`` from ``np.linalg.qr`` of the 3×N trace is the first frame's
  colour normalised (up to sign); it is computed directly.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

import numpy as np
import torch
from scipy import signal as scipy_signal

from harness.families.rppg import signal as rppg_signal
from harness.models import Adapter

WINDOW_S = 1.6  # POS and CHROM window length (seconds)
DETREND_LAMBDA = 100.0
POS_BAND = (0.75, 3.0)  # 1st-order Butterworth after overlap-add
CHROM_BAND = (0.7, 2.5)  # 3rd-order Butterworth inside each window
ICA_BAND = (0.7, 2.5)  # 3rd-order Butterworth on the chosen source
JADE_MAX_SWEEPS = 100
#: relative variation (std or range over RMS level) at or below which a channel (ICA, PBV) or a
#: method's output is treated as flat, so a constant trace gives zeros, not amplified rounding noise
FLAT_TOL = 1e-10

_POS_PROJECTION = ((0.0, 1.0, -1.0), (-2.0, 1.0, 1.0))
_CHROM_X = (3.0, -2.0, 0.0)
_CHROM_Y = (1.5, 1.0, -1.5)


# ----------------------------------------------------------------------------- helpers
@dataclasses.dataclass
class _Batch:
    """Validated input: the trace (B, T, 3) in the working dtype with padding zeroed, and per
    video its frame rate, valid length, (B, T) validity mask and frame count as a tensor."""

    x: torch.Tensor
    rates: list[float]
    lens: list[int]
    mask: torch.Tensor
    count: torch.Tensor


def _work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, and 0 where den is exactly 0."""
    zero = den == 0
    return torch.where(zero, torch.zeros((), dtype=num.dtype, device=num.device),
                       num / torch.where(zero, torch.ones_like(den), den))


def _time_mask(lens: list[int], frames: int, device: torch.device) -> torch.Tensor:
    """(B, T) True on valid frames."""
    lens_t = torch.tensor(lens, device=device, dtype=torch.long).reshape(-1, 1)
    return torch.arange(frames, device=device).reshape(1, -1) < lens_t


def _frame_rates(fs, batch: int) -> list[float]:
    if isinstance(fs, torch.Tensor):
        if fs.ndim == 0:
            rates = [float(fs)] * batch
        elif fs.shape == (batch,):
            rates = [float(v) for v in fs.tolist()]
        else:
            raise ValueError(f"fs must be a number or a ({batch},) tensor, got shape {tuple(fs.shape)}")
    else:
        rates = [float(fs)] * batch
    bad = [r for r in rates if not (math.isfinite(r) and r > 0)]
    if bad:
        raise ValueError(f"fs must be a positive finite frame rate, got {bad[0]}")
    return rates


def _valid_lengths(lengths, batch: int, frames: int) -> list[int]:
    if lengths is None:
        return [frames] * batch
    lengths = torch.as_tensor(lengths)
    if lengths.shape != (batch,) or lengths.is_floating_point() or lengths.is_complex():
        raise ValueError(f"lengths must be a ({batch},) integer tensor, got shape "
                         f"{tuple(lengths.shape)} and dtype {lengths.dtype}")
    lens = [int(v) for v in lengths.tolist()]
    bad = [v for v in lens if not 1 <= v <= frames]
    if bad:
        raise ValueError(f"lengths must lie in [1, T={frames}], got {bad[0]}")
    return lens


def _prepare(rgb: torch.Tensor, fs, lengths) -> _Batch:
    """Validate the inputs (ValueError) and zero the padding so it is never read."""
    if not isinstance(rgb, torch.Tensor) or rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.is_complex():
        what = f"{tuple(rgb.shape)} {rgb.dtype}" if isinstance(rgb, torch.Tensor) else type(rgb).__name__
        raise ValueError(f"rgb must be a real (B, T, 3) tensor of mean R, G, B per frame, got {what}")
    batch, frames, _ = rgb.shape
    lens = _valid_lengths(lengths, batch, frames)
    rates = _frame_rates(fs, batch)
    mask = _time_mask(lens, frames, rgb.device)
    x = rgb.detach().to(_work_dtype(rgb.device))
    if not bool(torch.isfinite(x[mask]).all()):
        raise ValueError("rgb holds NaN or inf inside the valid frames")
    x = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
    return _Batch(x, rates, lens, mask, torch.tensor(lens, dtype=x.dtype, device=x.device))


def _baseline(name: str, min_frames: Callable[[float], int] = lambda fs: 1):
    """Wrap ``core(batch) -> (B, T)`` as a public method: validate, check each video's length
    against ``min_frames(fs)`` (ValueError naming both), return float32 zero beyond lengths."""

    def wrap(core: Callable[[_Batch], torch.Tensor]) -> Callable[..., torch.Tensor]:
        @functools.wraps(core, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
        def method(rgb: torch.Tensor, fs: float | torch.Tensor,
                   lengths: torch.Tensor | None = None) -> torch.Tensor:
            b = _prepare(rgb, fs, lengths)
            for i, (n, rate) in enumerate(zip(b.lens, b.rates)):
                need = min_frames(rate)
                if n < need:
                    raise ValueError(f"{name}: video {i} has {n} frames, fewer than the {need} "
                                     f"this method needs at {rate:g} fps")
            if not b.lens:
                return torch.zeros(rgb.shape[:2], dtype=torch.float32, device=rgb.device)
            return _zero_if_flat(core(b) * b.mask, b).to(device=rgb.device, dtype=torch.float32)

        del method.__wrapped__  # the public signature is (rgb, fs, lengths), not the core's
        return method

    return wrap


def _zero_if_flat(out: torch.Tensor, b: _Batch) -> torch.Tensor:
    """Exact zeros for a video whose output varies by at most ``FLAT_TOL`` times the input's RMS
    level: that is rounding dust of a flat result, and downstream it would give a made-up HR."""
    inf = torch.tensor(float("inf"), dtype=out.dtype, device=out.device)
    spread = torch.where(b.mask, out, -inf).amax(1) - torch.where(b.mask, out, inf).amin(1)
    level = ((b.x * b.x).sum((1, 2)) / (3 * b.count)).sqrt()
    return torch.where((spread <= FLAT_TOL * level)[:, None], torch.zeros_like(out), out)


def _groups(keys: list) -> dict:
    """{key: [indices]} in first-seen order."""
    out: dict = {}
    for i, k in enumerate(keys):
        out.setdefault(k, []).append(i)
    return out


def _per_video_cpu(x: torch.Tensor, lens: list[int], rates: list[float],
                   fn: Callable[[np.ndarray, float], np.ndarray]) -> torch.Tensor:
    """Apply ``fn(signals (k, ..., n), fs)`` on the CPU to each video's valid part, videos of equal
    (length, fs) together; ``x`` is (B, ..., T) and the result has its shape, zero-padded."""
    out = torch.zeros_like(x)
    for (n, rate), idx in _groups(list(zip(lens, rates))).items():
        part = x[idx, ..., :n].cpu().numpy()
        res = torch.from_numpy(np.ascontiguousarray(fn(part, rate)))
        out[idx, ..., :n] = res.to(device=x.device, dtype=x.dtype)
    return out


def _masked_mean(x: torch.Tensor, b: _Batch) -> torch.Tensor:
    """Per-video mean over valid frames of (B, T, C) ``x`` (padding already zero)."""
    return x.sum(1) / b.count[:, None]


def _window_projection(blocks: torch.Tensor, rows, valid: torch.Tensor) -> torch.Tensor:
    """Each window (k, W, 3, L) divided by its channel means, then projected by ``rows`` (P, 3):
    (k, W, P, L), computed as (rows / means) @ window.  Windows where ``valid`` (k, W) is False
    give 0."""
    rows = torch.tensor(rows, dtype=blocks.dtype, device=blocks.device)
    coeff = _safe_div(rows, blocks.mean(-1)[:, :, None, :]) * valid[..., None, None]
    return coeff @ blocks


def _filtfilt_min_frames(order: int) -> int:
    """Fewest samples scipy's ``filtfilt`` accepts for a Butterworth band-pass of ``order``."""
    return 3 * (2 * order + 1) + 1


def _require_band(name: str, fs: float, high: float) -> None:
    if not high < fs / 2:
        raise ValueError(f"{name}: fs={fs:g} puts the {high} Hz band edge above Nyquist")


def _pos_window(fs: float) -> int:
    return math.ceil(WINDOW_S * fs)  # the toolbox's expression, float rounding included


def _chrom_window(fs: float) -> int:
    length = math.ceil(WINDOW_S * fs)
    return length + (length % 2)


# ----------------------------------------------------------------------------- GREEN
@_baseline("GREEN")
def green(b: _Batch) -> torch.Tensor:
    """GREEN (Verkruysse 2008): the mean green channel, unfiltered."""
    return b.x[..., 1]


# ----------------------------------------------------------------------------- POS
def _pos_min_frames(fs: float) -> int:
    _require_band("POS", fs, POS_BAND[1])
    return max(_pos_window(fs) + 1, _filtfilt_min_frames(1))


@_baseline("POS", _pos_min_frames)
def pos(b: _Batch) -> torch.Tensor:
    """POS (Wang 2017) as rPPG-Toolbox runs it.

    Windows of l = ceil(1.6·fs) frames start at every frame m = 0 .. N-l-1; each is divided by its
    channel means, projected with [[0, 1, -1], [-2, 1, 1]] to (S1, S2), combined as
    h = S1 + (σS1/σS2)·S2, zero-meaned and overlap-added.  The sum is then detrended (λ=100) and
    band-passed (1st-order Butterworth 0.75–3 Hz, filtfilt).  Needs N ≥ l+1 frames.
    """
    x = b.x
    batch, frames, _ = x.shape
    pulse = torch.zeros(batch, frames, dtype=x.dtype, device=x.device)
    for rate, idx in _groups(b.rates).items():
        win = _pos_window(rate)
        blocks = x[idx].unfold(1, win, 1)  # (k, T-win+1, 3, win): block m covers [m, m+win)
        last = torch.tensor([b.lens[i] - win - 1 for i in idx], device=x.device)
        valid = torch.arange(blocks.shape[1], device=x.device)[None, :] <= last[:, None]  # as the toolbox
        s = _window_projection(blocks, _POS_PROJECTION, valid)  # (k, windows, 2, win)
        sd = s.std(-1, correction=0)
        h = s[:, :, 0] + _safe_div(sd[..., 0], sd[..., 1])[..., None] * s[:, :, 1]
        h = h - h.mean(-1, keepdim=True)
        pulse[idx] = torch.nn.functional.fold(h.transpose(1, 2), output_size=(1, frames),
                                              kernel_size=(1, win)).reshape(len(idx), frames)

    def post(sig: np.ndarray, rate: float) -> np.ndarray:
        return rppg_signal.bandpass(rppg_signal.detrend(sig, DETREND_LAMBDA), rate, *POS_BAND, order=1)

    return _per_video_cpu(pulse, b.lens, b.rates, post)


# ----------------------------------------------------------------------------- CHROM
@functools.lru_cache(maxsize=32)
def _chrom_operators(fs: float, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(filtfilt as an L×L matrix, symmetric Hann window) for one CHROM window.

    filtfilt (odd padding, steady-state initial conditions) is linear in its input, so filtering
    the identity's columns gives the matrix F with filtfilt(x) = F @ x exactly.
    """
    nyq = fs / 2.0
    b, a = scipy_signal.butter(3, [CHROM_BAND[0] / nyq, CHROM_BAND[1] / nyq], btype="bandpass")
    op = scipy_signal.filtfilt(b, a, np.eye(length), axis=0)
    return np.ascontiguousarray(op), scipy_signal.windows.hann(length)


def _chrom_min_frames(fs: float) -> int:
    _require_band("CHROM", fs, CHROM_BAND[1])
    length = _chrom_window(fs)
    if length < _filtfilt_min_frames(3):
        raise ValueError(f"CHROM: at {fs:g} fps its 1.6 s window has {length} frames, fewer than the "
                         f"{_filtfilt_min_frames(3)} its 3rd-order filtfilt needs (use fs > 12.5)")
    return length


@_baseline("CHROM", _chrom_min_frames)
def chrom(b: _Batch) -> torch.Tensor:
    """CHROM (de Haan & Jeanne 2013) as rPPG-Toolbox runs it.

    Windows of L = ceil(1.6·fs) frames (rounded up to even) every L/2 frames, as many as fit
    ((N - L/2) // (L/2)); each is divided by its channel means, X = 3R - 2G and Y = 1.5R + G - 1.5B
    are band-passed (3rd-order Butterworth 0.7–2.5 Hz, filtfilt, applied as a precomputed matrix),
    S = X - (σX/σY)·Y is Hann-weighted and overlap-added.  Frames after the last window are 0.
    """
    x = b.x
    batch, frames, _ = x.shape
    pulse = torch.zeros(batch, frames, dtype=x.dtype, device=x.device)
    for rate, idx in _groups(b.rates).items():
        win = _chrom_window(rate)
        half = win // 2
        op_np, hann_np = _chrom_operators(rate, win)
        op = torch.as_tensor(op_np, dtype=x.dtype, device=x.device)
        hann = torch.as_tensor(hann_np, dtype=x.dtype, device=x.device)
        blocks = x[idx].unfold(1, win, half)  # (k, windows, 3, L): block i covers [i·half, i·half+L)
        count = torch.tensor([(b.lens[i] - half) // half for i in idx], device=x.device)
        valid = torch.arange(blocks.shape[1], device=x.device)[None, :] < count[:, None]
        xy = _window_projection(blocks, (_CHROM_X, _CHROM_Y), valid) @ op.T  # filtfilt X and Y
        sd = xy.std(-1, correction=0)
        s = (xy[:, :, 0] - _safe_div(sd[..., 0], sd[..., 1])[..., None] * xy[:, :, 1]) * hann
        pulse[idx] = torch.nn.functional.fold(s.transpose(1, 2), output_size=(1, frames),
                                              kernel_size=(1, win), stride=(1, half)).reshape(len(idx), frames)
    return pulse


# ----------------------------------------------------------------------------- ICA
def _jade(z: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Real JADE (Cardoso): sources (B, m, T) from zero-mean, zero-padded mixtures (B, m, T) with
    ``n`` (B,) valid frames each.

    Symmetric whitening, then Jacobi rotations that jointly diagonalise the m² fourth-order
    cumulant matrices; a rotation is applied to a video only while its angle exceeds
    1/(100·√n), so every video follows exactly the sequence it would follow alone.
    """
    batch, m, _ = z.shape
    eye = torch.eye(m, dtype=z.dtype, device=z.device).expand(batch, m, m)
    cov = z @ z.transpose(1, 2) / n[:, None, None]
    evals, evecs = torch.linalg.eigh(cov)
    keep = evals > evals[:, -1:].clamp_min(0) * 1e-12  # rank-deficient (e.g. constant) input
    inv_sqrt = torch.where(keep, evals.clamp_min(torch.finfo(z.dtype).tiny).rsqrt(), torch.zeros_like(evals))
    whiten = evecs @ torch.diag_embed(inv_sqrt) @ evecs.transpose(1, 2)
    y = whiten @ z

    r = y @ y.transpose(1, 2) / n[:, None, None]
    pairs = (y[:, :, None, :] * y[:, None, :, :]).reshape(batch, m * m, -1)
    moment4 = (pairs @ pairs.transpose(1, 2) / n[:, None, None]).reshape(batch, m, m, m, m)
    cumulant = (moment4
                - torch.einsum("bij,bkl->bijkl", r, r)
                - torch.einsum("bik,bjl->bijkl", r, r)
                - torch.einsum("bil,bjk->bijkl", r, r))
    mats = cumulant.reshape(batch, m * m, m, m)  # matrix (i, j) has entries [k, l]

    threshold = 1.0 / (100.0 * n.sqrt())
    rot_all = eye.clone()
    for _ in range(JADE_MAX_SWEEPS):
        rotated = False
        for p in range(m - 1):
            for q in range(p + 1, m):
                g1 = mats[:, :, p, p] - mats[:, :, q, q]
                g2 = mats[:, :, p, q] + mats[:, :, q, p]
                ton = (g1 * g1).sum(1) - (g2 * g2).sum(1)
                toff = 2.0 * (g1 * g2).sum(1)
                theta = 0.5 * torch.atan2(toff, ton + torch.sqrt(ton * ton + toff * toff))
                active = theta.abs() > threshold
                if not bool(active.any()):
                    continue
                rotated = True
                theta = torch.where(active, theta, torch.zeros_like(theta))
                c, s = torch.cos(theta), torch.sin(theta)
                giv = eye.clone()
                giv[:, p, p], giv[:, p, q], giv[:, q, p], giv[:, q, q] = c, -s, s, c
                mats = giv.transpose(1, 2)[:, None] @ mats @ giv[:, None]
                rot_all = rot_all @ giv
        if not rotated:
            break
    return rot_all.transpose(1, 2) @ y


def _peak_fraction(sources: torch.Tensor) -> torch.Tensor:
    """Per source (rows of (m, N)): the largest share of spectral power in one FFT bin,
    over bins 1 .. floor((N-1)/2) (DC excluded), the toolbox's ICA selection score."""
    n = sources.shape[-1]
    spec = torch.fft.fft(sources, dim=-1)[..., 1:1 + (n - 1) // 2]
    power = spec.real ** 2 + spec.imag ** 2
    return _safe_div(power.amax(-1), power.sum(-1))


def _standardise(sig: np.ndarray, fs: float) -> np.ndarray:
    """ICA's channel conditioning: detrend (λ=100), then z-score; a flat channel becomes 0."""
    d = rppg_signal.detrend(sig, DETREND_LAMBDA)
    d = d - d.mean(-1, keepdims=True)
    sd = d.std(-1, keepdims=True)
    flat = sd <= FLAT_TOL * np.sqrt((sig * sig).mean(-1, keepdims=True))
    return np.divide(d, sd, out=np.zeros_like(d), where=~flat)


def _ica_min_frames(fs: float) -> int:
    _require_band("ICA", fs, ICA_BAND[1])
    return _filtfilt_min_frames(3)


@_baseline("ICA", _ica_min_frames)
def ica(b: _Batch) -> torch.Tensor:
    """ICA (Poh 2010) as rPPG-Toolbox runs it.

    Each channel is detrended (λ=100) and z-normalised, separated into 3 sources by JADE, the
    source with the largest normalised spectral peak is kept and band-passed (3rd-order
    Butterworth 0.7–2.5 Hz, filtfilt).  Deterministic; the output's sign is arbitrary.
    """
    z = _per_video_cpu(b.x.transpose(1, 2), b.lens, b.rates, _standardise)  # (B, 3, T)
    sources = _jade(z, b.count)
    chosen = torch.zeros_like(b.x[..., 0])
    for i, n in enumerate(b.lens):
        src = sources[i, :, :n]
        chosen[i, :n] = src[int(torch.argmax(_peak_fraction(src)))]

    def band(sig: np.ndarray, rate: float) -> np.ndarray:
        return rppg_signal.bandpass(sig, rate, *ICA_BAND, order=3)

    return _per_video_cpu(chosen, b.lens, b.rates, band)


# ----------------------------------------------------------------------------- LGI, PBV, OMIT
def _green_orthogonal(x: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Green row of (I - u uᵀ) x_t for every frame; ``direction`` u is (B, 3) unit (or zero)."""
    along = (x * direction[:, None, :]).sum(-1)
    return x[..., 1] - direction[:, None, 1] * along


@_baseline("LGI")
def lgi(b: _Batch) -> torch.Tensor:
    """LGI (Pilz 2018) as rPPG-Toolbox runs it on the whole video: remove the trace's principal
    direction (first left singular vector of the raw 3×N trace) and keep the green row."""
    _, evecs = torch.linalg.eigh(b.x.transpose(1, 2) @ b.x)
    return _green_orthogonal(b.x, evecs[..., -1])


@_baseline("OMIT")
def omit(b: _Batch) -> torch.Tensor:
    """OMIT (Álvarez Casado 2023) as rPPG-Toolbox runs it on the whole video: remove the first QR
    direction of the raw 3×N trace (the first frame's colour) and keep the green row."""
    first = b.x[:, 0, :]
    return _green_orthogonal(b.x, _safe_div(first, first.norm(dim=-1, keepdim=True)))


@_baseline("PBV")
def pbv(b: _Batch) -> torch.Tensor:
    """PBV (de Haan & van Leest 2014) as rPPG-Toolbox runs it on the whole video.

    Channels are divided by their means (C, 3×N); the signature is the unit vector of channel
    standard deviations; with Q = C Cᵀ (not centred), w = Q⁺·pbv and bvp = Cᵀw / (pbvᵀw).
    """
    valid = b.mask[..., None]
    norm = _safe_div(b.x, _masked_mean(b.x, b)[:, None, :])  # padding stays 0
    centred = (norm - _masked_mean(norm, b)[:, None, :]) * valid
    var = (centred * centred).sum(1) / b.count[:, None]
    var = torch.where(var <= FLAT_TOL**2, torch.zeros_like(var), var)
    signature = _safe_div(var.sqrt(), var.sum(-1, keepdim=True).sqrt())
    q = norm.transpose(1, 2) @ norm
    rtol = 1e3 * torch.finfo(q.dtype).eps  # drops only the null space of a singular Q
    w = (torch.linalg.pinv(q, rtol=rtol, hermitian=True) @ signature[..., None])[..., 0]
    return _safe_div(norm @ w[..., None], (signature * w).sum(-1)[:, None, None])[..., 0]


METHODS: dict[str, Callable[..., torch.Tensor]] = {
    "green": green,
    "ica": ica,
    "chrom": chrom,
    "pos": pos,
    "lgi": lgi,
    "pbv": pbv,
    "omit": omit,
}


# ----------------------------------------------------------------------------- the built-in adapters

class BaselineAdapter(Adapter):
    """Wraps one of :data:`METHODS`: RGB traces in, BVP out, on whatever device the batch is."""

    family = "rppg"
    inputs = ("rgb",)
    output = "bvp"
    method = ""

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        bvp = METHODS[self.method](batch["rgb"], batch["fs"], batch["lengths"])
        return {"bvp": bvp}


def _adapter(name: str) -> type[BaselineAdapter]:
    cls = type(f"{name.upper()}Adapter", (BaselineAdapter,),
               {"method": name, "__doc__": f"rPPG-Toolbox-style {name.upper()} baseline (no training)."})
    cls.__module__ = __name__
    return cls


#: model name -> adapter class of the seven unsupervised baselines (registered in ``__init__.py``)
ADAPTERS: dict[str, type[BaselineAdapter]] = {
    name: _adapter(name) for name in ("green", "ica", "chrom", "pos", "lgi", "pbv", "omit")}
