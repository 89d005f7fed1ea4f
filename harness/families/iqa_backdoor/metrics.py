"""NR-IQA backdoor metrics (reference ``splicing_iqa.md`` §3.4, §4.1, §5).

Scores are on the 0–100 MOS scale, higher = better quality.  Three groups:

* **Correlations over a test set** (pyiqa §4.1): :func:`srocc` (Spearman, average ranks for ties),
  :func:`plcc` (raw Pearson, pyiqa's published convention), :func:`krcc` (Kendall tau-b, computed
  with ``scipy.stats.kendalltau`` row by row), :func:`rmse`, and :func:`plcc_logistic` /
  :func:`rmse_logistic` after the 4-parameter VQEG logistic fit (:func:`fit_logistic`).
  Each takes arrays ``(..., N)`` and reduces the last axis (so a bootstrap can pass ``(k, N)``).
* **Backdoor metrics per α** (BAIQA ``test_backdoor``, §3.4): :func:`backdoor_metrics`,
  :func:`backdoor_table`.
* **Trigger visibility**: :func:`psnr`, :func:`ssim` (torch, batched), :func:`visibility`.

Undefined values are NaN, never a made-up 0, and never a silent drop: a correlation is undefined
with n < 3, a constant vector or any non-finite value (pyiqa drops NaN images silently; the harness
refuses NaN predictions upstream, and here a NaN makes the metric NaN).  :func:`correlation_reason`
says why; the table functions return each NaN's reason under ``"reasons"``.  Misuse (shape or
length mismatch, Δy <= 0, τ < 0) raises ``ValueError``.

Whose side "better" is: these tasks score how exactly a trigger controls a model, the attacker's
view.  A defence is scored by the backdoor numbers getting worse while clean ``srocc`` holds.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import optimize, special, stats

from harness.stats import Bootstrap, Formula, MeanSE, MetricSpec, MetricValue, Undefined

MIN_N = 3  # fewest images a correlation is defined for
DELTA_Y = 10.0  # BAIQA's score step Δy_t (``--score_p_scale``) on the 0–100 scale
TAU = 5.0  # the harness's attack-success tolerance on the 0–100 scale (not BAIQA's)
_NAN = math.nan


# ----------------------------------------------------------------------------- helpers
def _pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred.detach().cpu() if isinstance(pred, torch.Tensor) else pred, dtype=np.float64)
    g = np.asarray(gt.detach().cpu() if isinstance(gt, torch.Tensor) else gt, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] != g.shape[-1] or g.ndim > p.ndim:
        raise ValueError(f"pred and gt need the same last axis (N), got shapes {p.shape} and {g.shape}")
    return p, np.broadcast_to(g, p.shape)


def _out(x: np.ndarray) -> Any:
    """A Python float for a 0-d result, else the array."""
    return float(x) if np.ndim(x) == 0 else x


def _constant(x: np.ndarray) -> np.ndarray:
    return (x == x[..., :1]).all(axis=-1)


def _undefined_corr(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    bad = ~(np.isfinite(p).all(-1) & np.isfinite(g).all(-1))
    return bad | (p.shape[-1] < MIN_N) | _constant(p) | _constant(g)


def correlation_reason(pred: Any, gt: Any) -> str | None:
    """Why a correlation of 1-D ``pred`` and ``gt`` is undefined, or ``None`` when it is defined.

    >>> correlation_reason([1.0, 2.0], [1.0, 2.0])
    'undefined: n=2 < 3'
    >>> correlation_reason([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    'undefined: predictions are constant'
    """
    p, g = _pair(pred, gt)
    if p.ndim != 1:
        raise ValueError(f"correlation_reason takes 1-D arrays, got shape {p.shape}")
    finite = _finite_reason(p, g)
    if finite:
        return finite
    if p.size < MIN_N:
        return f"undefined: n={p.size} < {MIN_N}"
    if _constant(p):
        return "undefined: predictions are constant"
    if _constant(g):
        return "undefined: ground truth is constant"
    return None


def _finite_reason(p: np.ndarray, g: np.ndarray) -> str | None:
    bp, bg = int((~np.isfinite(p)).sum()), int((~np.isfinite(g)).sum())
    if bp or bg:
        return (f"undefined: {bp} non-finite prediction(s) and {bg} non-finite ground truth(s) "
                f"of {p.shape[-1]} (NaN is refused, not dropped)")
    if p.shape[-1] == 0:
        return "undefined: no images"
    return None


# ----------------------------------------------------------------------------- correlations
def average_ranks(x: Any) -> np.ndarray:
    """Ranks 1..N along the last axis, ties sharing their average rank (``scipy.stats.rankdata``).

    >>> average_ranks([10.0, 20.0, 10.0, 5.0]).tolist()
    [2.5, 4.0, 2.5, 1.0]
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    pos = np.broadcast_to(np.arange(n), xs.shape)
    first = np.ones(xs.shape, dtype=bool)  # first of its tie group
    first[..., 1:] = xs[..., 1:] != xs[..., :-1]
    last = np.ones(xs.shape, dtype=bool)
    last[..., :-1] = first[..., 1:]
    start = np.maximum.accumulate(np.where(first, pos, 0), axis=-1)
    end = np.minimum.accumulate(np.where(last, pos, n - 1)[..., ::-1], axis=-1)[..., ::-1]
    ranks = np.empty(xs.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, (start + end) / 2.0 + 1.0, axis=-1)
    return ranks


def _pearson(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    pc = p - p.mean(axis=-1, keepdims=True)
    gc = g - g.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (pc * gc).sum(-1) / np.sqrt((pc * pc).sum(-1) * (gc * gc).sum(-1))
    return np.clip(r, -1.0, 1.0)


def plcc(pred: Any, gt: Any) -> Any:
    """Raw Pearson linear correlation along the last axis (no logistic fit); NaN where undefined.

    >>> plcc([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.5]) > 0.99
    True
    """
    p, g = _pair(pred, gt)
    if p.shape[-1] == 0:
        return _out(np.full(p.shape[:-1], _NAN))
    return _out(np.where(_undefined_corr(p, g), _NAN, _pearson(p, g)))


def srocc(pred: Any, gt: Any) -> Any:
    """Spearman rank-order correlation (Pearson of average ranks) along the last axis.

    >>> srocc([1.0, 2.0, 2.0, 9.0], [0.0, 1.0, 1.0, 3.0])
    1.0
    """
    p, g = _pair(pred, gt)
    if p.shape[-1] == 0:
        return _out(np.full(p.shape[:-1], _NAN))
    bad = _undefined_corr(p, g)
    p, g = np.where(bad[..., None], 0.0, p), np.where(bad[..., None], 0.0, g)  # NaN rows: masked below
    return _out(np.where(bad, _NAN, _pearson(average_ranks(p), average_ranks(g))))


def krcc(pred: Any, gt: Any) -> Any:
    """Kendall tau-b along the last axis, via ``scipy.stats.kendalltau`` (O(N log N) per row).

    >>> krcc([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    -1.0
    """
    p, g = _pair(pred, gt)
    bad = _undefined_corr(p, g) if p.shape[-1] else np.ones(p.shape[:-1], dtype=bool)
    out = np.full(p.shape[:-1], _NAN)
    for idx in np.ndindex(*p.shape[:-1]):
        if not bad[idx]:
            out[idx] = stats.kendalltau(p[idx], g[idx]).statistic
    return _out(out)


def rmse(pred: Any, gt: Any) -> Any:
    """Root mean squared error along the last axis (MOS units); NaN with a non-finite value or N = 0.

    >>> rmse([1.0, 3.0], [2.0, 2.0])
    1.0
    """
    p, g = _pair(pred, gt)
    if p.shape[-1] == 0:
        return _out(np.full(p.shape[:-1], _NAN))
    return _out(np.sqrt(((p - g) ** 2).mean(axis=-1)))


# ----------------------------------------------------------------------------- logistic fit
def logistic4(x: Any, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """VQEG 4-parameter logistic ŷ = (β1−β2)/(1+exp(−(x−β3)/β4)) + β2 (overflow-safe ``expit``)."""
    return (b1 - b2) * special.expit((np.asarray(x, dtype=np.float64) - b3) / b4) + b2


def fit_logistic(pred: Any, gt: Any, maxfev: int = 20000) -> tuple[np.ndarray | None, str | None]:
    """Fit :func:`logistic4` from 1-D ``pred`` to ``gt`` with ``scipy.optimize.curve_fit``.

    Initial values [max gt, min gt, mean pred, std pred / 4] (pyiqa, §4.1).  Returns
    ``(beta, None)``, or ``(None, reason)`` when undefined or the fit fails (never raises).
    """
    p, g = _pair(pred, gt)
    if p.ndim != 1:
        raise ValueError(f"fit_logistic takes 1-D arrays, got shape {p.shape}")
    reason = correlation_reason(p, g)
    if reason:
        return None, reason
    if p.size < 5:  # four parameters need at least five points to leave a residual
        return None, f"undefined: the 4-parameter logistic fit needs at least 5 images, got {p.size}"
    beta0 = [g.max(), g.min(), p.mean(), p.std() / 4.0]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            beta, _ = optimize.curve_fit(logistic4, p, g, p0=beta0, maxfev=maxfev)
    except (RuntimeError, ValueError, FloatingPointError) as e:
        return None, f"undefined: logistic fit failed ({type(e).__name__}: {e})"
    if not np.isfinite(beta).all():
        return None, "undefined: logistic fit gave non-finite parameters"
    return beta, None


def _logistic_rows(pred: Any, gt: Any, stat) -> Any:
    p, g = _pair(pred, gt)
    out = np.full(p.shape[:-1], _NAN)
    for idx in np.ndindex(*p.shape[:-1]):
        beta, _ = fit_logistic(p[idx], g[idx])
        if beta is not None:
            out[idx] = stat(logistic4(p[idx], *beta), g[idx])
    return _out(out)


def plcc_logistic(pred: Any, gt: Any) -> Any:
    """PLCC of the VQEG-logistic-mapped predictions and ``gt``; NaN when undefined or the fit fails
    (:func:`fit_logistic` gives the reason).  Rows of ``(..., N)`` are fitted one by one."""
    return _logistic_rows(pred, gt, plcc)


def rmse_logistic(pred: Any, gt: Any) -> Any:
    """RMSE of the VQEG-logistic-mapped predictions against ``gt``; NaN as :func:`plcc_logistic`."""
    return _logistic_rows(pred, gt, rmse)


def quality_metrics(pred: Any, gt: Any) -> dict[str, Any]:
    """Clean quality of 1-D ``pred`` against ``gt``: srocc, plcc, krcc, rmse, plcc_logistic,
    rmse_logistic, ``n``, and ``reasons`` (metric -> why it is NaN)."""
    p, g = _pair(pred, gt)
    if p.ndim != 1:
        raise ValueError(f"quality_metrics takes 1-D arrays, got shape {p.shape}")
    corr = correlation_reason(p, g)
    beta, fit = fit_logistic(p, g)
    row: dict[str, Any] = {"srocc": srocc(p, g), "plcc": plcc(p, g), "krcc": krcc(p, g), "rmse": rmse(p, g),
                           "plcc_logistic": _NAN, "rmse_logistic": _NAN, "n": int(p.size)}
    if beta is not None:
        mapped = logistic4(p, *beta)
        row["plcc_logistic"], row["rmse_logistic"] = plcc(mapped, g), rmse(mapped, g)
        if math.isnan(row["plcc_logistic"]):
            fit = "undefined: the fitted logistic is constant on the test set"
    reasons = {k: corr for k in ("srocc", "plcc", "krcc") if corr}
    reasons.update({k: fit for k in ("plcc_logistic", "rmse_logistic") if fit})
    if math.isnan(row["rmse"]):
        reasons["rmse"] = _finite_reason(p, g) or "undefined"
    row["reasons"] = reasons
    return row


# ----------------------------------------------------------------------------- backdoor
def backdoor_per_image(pred0: Any, pred_a: Any, alpha: float, delta_y: float = DELTA_Y,
                       tau: float = TAU) -> dict[str, np.ndarray]:
    """Per-image terms behind :func:`backdoor_metrics` (their means are the metrics; a bootstrap can
    resample them): ``shift`` = predα − pred0, ``abs_err_target`` = |predα − (pred0 + αΔy)|,
    ``rel_err`` = |shift/(αΔy) − 1| (NaN at α = 0), ``hit`` = abs_err_target ≤ τ (float 0/1)."""
    p0, pa = _pair(pred0, pred_a)
    _check_step(delta_y, tau)
    step = float(alpha) * float(delta_y)
    shift = pa - p0
    err = np.abs(shift - step)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(shift / step - 1.0) if step != 0 else np.full(shift.shape, _NAN)
    hit = np.where(np.isfinite(err), (err <= tau).astype(np.float64), _NAN)
    return {"shift": shift, "abs_err_target": err, "rel_err": rel, "hit": hit}


def _check_step(delta_y: float, tau: float) -> None:
    if not float(delta_y) > 0:
        raise ValueError(f"delta_y must be > 0, got {delta_y!r}")
    if not float(tau) >= 0:
        raise ValueError(f"tau must be >= 0, got {tau!r}")


def backdoor_metrics(pred0: Any, pred_a: Any, gt: Any, alpha: float, delta_y: float = DELTA_Y,
                     tau: float = TAU) -> dict[str, Any]:
    """BAIQA's ``test_backdoor`` numbers for one α (§3.4), plus the harness's attack success rate.

    * ``srocc``/``plcc``/``rmse``: predα against the target gt + α·Δy.  A constant shift of gt
      leaves SROCC and PLCC unchanged, so only RMSE sees the target; at α = 0 they are the clean scores.
    * ``mean_shift`` = mean(predα − pred0); ``shift_ratio`` = mean_shift/(α·Δy), ideal 1, NaN at α = 0.
    * ``mae_to_target`` = mean |predα − (pred0 + α·Δy)|: BAIQA's MAE_target, whose base is the model's
      own clean prediction pred0, **not** gt.
    * ``relative_error`` = mean |(predα − pred0)/(α·Δy) − 1|, NaN at α = 0.
    * ``attack_success_rate`` = share of images with |predα − (pred0 + α·Δy)| ≤ τ.  The harness's
      definition (BAIQA has no thresholded rate), a fraction in [0, 1].

    Returns the values, ``alpha``, ``n`` and ``reasons`` (metric -> why it is NaN).
    """
    p0, pa = _pair(pred0, pred_a)
    _, g = _pair(pa, gt)
    if pa.ndim != 1:
        raise ValueError(f"backdoor_metrics takes 1-D arrays, got shape {pa.shape}")
    target = g + float(alpha) * float(delta_y)
    terms = backdoor_per_image(p0, pa, alpha, delta_y, tau)
    n = pa.size
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = {k: float(v.mean()) if n else _NAN for k, v in terms.items()}
    step = float(alpha) * float(delta_y)
    row: dict[str, Any] = {
        "alpha": float(alpha), "srocc": srocc(pa, target), "plcc": plcc(pa, target), "rmse": rmse(pa, target),
        "mean_shift": mean["shift"], "shift_ratio": mean["shift"] / step if step else _NAN,
        "mae_to_target": mean["abs_err_target"], "relative_error": mean["rel_err"],
        "attack_success_rate": mean["hit"], "n": int(n)}
    corr = correlation_reason(pa, target)
    bad0, bada = int((~np.isfinite(p0)).sum()), int((~np.isfinite(pa)).sum())
    shift = (f"undefined: {bad0} non-finite pred0 and {bada} non-finite predα value(s) of {n} "
             "(NaN is refused, not dropped)") if bad0 or bada else ("undefined: no images" if not n else None)
    reasons = {k: corr for k in ("srocc", "plcc") if corr}
    if math.isnan(row["rmse"]):
        reasons["rmse"] = _finite_reason(pa, target)
    if shift:
        reasons.update({k: shift for k in ("mean_shift", "shift_ratio", "mae_to_target", "relative_error",
                                           "attack_success_rate")})
    if step == 0:
        for k in ("shift_ratio", "relative_error"):
            reasons.setdefault(k, "undefined at α = 0 (divides by α·Δy)")
    row["reasons"] = reasons
    return row


_SUMMARY = {  # summary name -> per-α row key
    "shift_ratio": "shift_ratio", "mae_to_target": "mae_to_target", "relative_error": "relative_error",
    "target_srocc": "srocc", "target_plcc": "plcc", "target_rmse": "rmse",
    "attack_success_rate": "attack_success_rate"}


def backdoor_table(pred: Mapping[float, Any], gt: Any, delta_y: float = DELTA_Y,
                   tau: float = TAU) -> dict[str, Any]:
    """Every α of ``pred`` (α -> predictions; α = 0 required, the clean run) and BAIQA's summary.

    Returns ``{"clean": quality_metrics(pred[0], gt), "rows": [backdoor_metrics(...) per α, sorted],
    "summary": {...}}``.  The summary averages over the non-zero α (BAIQA's summary line):
    ``shift_ratio``, ``mae_to_target``, ``relative_error``, ``target_srocc``/``target_plcc``/
    ``target_rmse``, ``attack_success_rate``, plus ``shift_ratio_error`` = mean over α
    of |ratio − 1|, with ``alphas``, ``n`` and ``reasons``.  An average is NaN when any α's value is
    NaN (the reason names those α): nothing is dropped.
    """
    zero = [a for a in pred if float(a) == 0.0]
    if len(zero) != 1:
        raise ValueError(f"backdoor_table needs exactly one α = 0 (clean) entry, got α {sorted(pred)}")
    p0 = pred[zero[0]]
    alphas = sorted(float(a) for a in pred)
    by_alpha = {float(a): v for a, v in pred.items()}
    rows = [backdoor_metrics(p0, by_alpha[a], gt, a, delta_y, tau) for a in alphas]
    poisoned = [r for r in rows if r["alpha"] != 0.0]
    summary: dict[str, Any] = {"alphas": [r["alpha"] for r in poisoned],
                               "n": rows[0]["n"], "reasons": {}}
    if not poisoned:
        reason = "undefined: no non-zero α"
        summary.update({k: _NAN for k in (*_SUMMARY, "shift_ratio_error")})
        summary["reasons"] = {k: reason for k in (*_SUMMARY, "shift_ratio_error")}
    else:
        for name, key in {**_SUMMARY, "shift_ratio_error": "shift_ratio"}.items():
            vals = np.array([r[key] for r in poisoned], dtype=np.float64)
            if name == "shift_ratio_error":
                vals = np.abs(vals - 1.0)
            summary[name] = float(vals.mean())
            bad = [r["alpha"] for r, v in zip(poisoned, vals) if not np.isfinite(v)]
            if bad:
                first = poisoned[[r["alpha"] for r in poisoned].index(bad[0])]["reasons"].get(key, "NaN")
                summary["reasons"][name] = f"undefined at α {bad}: {first}"
    return {"clean": quality_metrics(p0, gt), "rows": rows, "summary": summary}


# ----------------------------------------------------------------------------- visibility
def _images(clean: torch.Tensor, triggered: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if clean.shape != triggered.shape or clean.ndim != 4:
        raise ValueError(f"clean and triggered need the same (B, C, H, W) shape, got "
                         f"{tuple(clean.shape)} and {tuple(triggered.shape)}")
    return clean.to(torch.float64), triggered.to(torch.float64)


def _image_means(x: torch.Tensor) -> torch.Tensor:
    """Per-image mean over (C, H, W) of a float64 (B, C, H, W) tensor by numpy's pairwise sum:
    the same bits whatever torch's thread count (its reductions split the work by the threads
    and the vector width; visibility is computed in the decoding threads)."""
    flat = x.detach().to("cpu", torch.float64).reshape(x.shape[0], -1).numpy()
    return torch.from_numpy(flat.mean(axis=1)).to(x.device)


def psnr(clean: torch.Tensor, triggered: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR = 10·log10(1/MSE) in dB, images in [0, 1] (B,); ``inf`` where identical.

    (BAIQA's list named ``psnr`` holds the MSE, §3.4; this is the real PSNR.)

    >>> x = torch.zeros(1, 3, 4, 4)
    >>> round(psnr(x, x + 0.1).item(), 4)
    20.0
    """
    x, y = _images(clean, triggered)
    mse = _image_means((x - y) ** 2)
    return 10.0 * torch.log10(1.0 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None) -> torch.Tensor:
    r = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    g = torch.exp(-(r ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def ssim(clean: torch.Tensor, triggered: torch.Tensor, win_size: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of Wang et al. 2004 (B,): Gaussian window 11, σ = 1.5, K1 0.01, K2 0.03, data
    range 1, biased (population) local variances, valid positions only (no padding, as the reference
    MATLAB ``ssim_index``), computed per RGB channel and averaged over channels and positions.

    >>> x = torch.rand(2, 3, 16, 16)
    >>> ssim(x, x).tolist()
    [1.0, 1.0]
    """
    x, y = _images(clean, triggered)
    b, c, h, w = x.shape
    if h < win_size or w < win_size:
        raise ValueError(f"ssim needs images at least {win_size}x{win_size}, got {h}x{w}")
    g = _gaussian_window(win_size, sigma, device=x.device)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1).reshape(b * 5 * c, 1, h, w)
    f = F.conv2d(F.conv2d(stack, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    mx, my, exx, eyy, exy = f.reshape(b, 5, c, *f.shape[-2:]).unbind(1)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    vx, vy, cxy = exx - mx * mx, eyy - my * my, exy - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return _image_means(s)


def visibility(clean: torch.Tensor, triggered: torch.Tensor) -> dict[str, Any]:
    """Mean PSNR (dB) and SSIM over images, ``n``, ``n_identical`` and ``reasons``.

    The mean PSNR is ``inf`` when any image is unchanged (e.g. α = 0); the reason says how many,
    rather than capping it or leaving those images out.
    """
    p, s = psnr(clean, triggered), ssim(clean, triggered)
    n_inf = int(torch.isinf(p).sum())
    out = {"psnr": float(p.mean()) if p.numel() else _NAN, "ssim": float(s.mean()) if s.numel() else _NAN,
           "n": int(p.numel()), "n_identical": n_inf, "reasons": {}}
    if not p.numel():
        out["reasons"] = {"psnr": "undefined: no images", "ssim": "undefined: no images"}
    elif n_inf:
        out["reasons"]["psnr"] = f"inf: {n_inf} of {p.numel()} images unchanged by the trigger (MSE 0)"
    return out


# ----------------------------------------------------------------------------- metric table
_CORR = (-1.0, 1.0)
_ATTACK = ("attacker's view (how exactly the trigger controls the score); a defence is scored by "
           "this getting worse while clean srocc holds")
# The arrays an IQA metric is computed from (built by the family's ``score``): ``pred`` / ``mos``
# of the clean rows; with a backdoor, ``summary`` (:func:`backdoor_table`'s), ``per_image``
# (metric -> per-image values whose mean is the summary's), ``images`` (their number); and
# ``visibility`` (psnr/ssim -> the triggered rows' values, ``None`` when the run measured none).
_OVER_IMAGES = Bootstrap(("pred", "mos"), unit="images", min_n=3)
_NEEDS_ALPHAS = "needs every image at alpha 0 and at the non-zero alphas"


def _clean(fn):
    def compute(a: Mapping[str, Any]) -> float:
        value = float(fn(a["pred"], a["mos"]))
        if not math.isfinite(value):
            reason = correlation_reason(a["pred"], a["mos"]) or (
                fit_logistic(a["pred"], a["mos"])[1] if fn is plcc_logistic else None)
            raise Undefined(reason or "not computable on this test set")
        return value
    return compute


def _summary_reason(name: str, a: Mapping[str, Any]) -> str | None:
    summary = a.get("summary") or {}
    v = summary.get(name)
    if v is None or not np.isfinite(v):
        return summary.get("reasons", {}).get(name) or _NEEDS_ALPHAS
    return None


def _attack(name: str, *args, per_image: bool = False, **kw) -> MetricSpec:
    compute = (lambda a: a["per_image"][name]) if per_image else (lambda a: a["summary"][name])
    return MetricSpec(name, *args, **kw, compute=compute, uncertainty=MeanSE() if per_image else None,
                      undefined=lambda a: _summary_reason(name, a), rows="images")


def _visible(a: Mapping[str, Any], name: str) -> np.ndarray:
    values = (a.get("visibility") or {}).get(name)
    if values is None or not len(values):
        raise Undefined("trigger visibility is measured by harness run from the images and the trigger; an "
                        "uploaded score file carries none")
    return np.asarray(values, dtype=np.float64)


def _visibility_mean(name: str):
    def compute(a: Mapping[str, Any]) -> float:
        values = _visible(a, name)
        finite = values[np.isfinite(values)]
        if not len(finite):
            raise Undefined("no triggered image")
        return float(finite.mean())
    return compute


def _visibility_counts(name: str):
    """The mean alone (no SE), N = the triggered images measured, the non-finite ones counted apart."""
    def value(v: float, a: Mapping[str, Any], level: float) -> MetricValue:
        values = _visible(a, name)
        return MetricValue(v, n=len(values), n_excluded=int((~np.isfinite(values)).sum()))
    return Formula(value)


METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    MetricSpec("srocc", "max", "correlation", "clean SROCC vs MOS (Spearman, average ranks for ties)", _CORR,
               compute=_clean(srocc), uncertainty=_OVER_IMAGES),
    MetricSpec("plcc", "max", "correlation", "clean raw PLCC vs MOS (no logistic fit, pyiqa's convention)",
               _CORR, compute=_clean(plcc), uncertainty=_OVER_IMAGES),
    MetricSpec("krcc", "max", "correlation", "clean Kendall tau-b vs MOS", _CORR, compute=_clean(krcc),
               uncertainty=_OVER_IMAGES),
    MetricSpec("rmse", "min", "MOS (0-100)", "clean RMSE vs MOS, raw scores", (0.0, None), compute=_clean(rmse),
               uncertainty=_OVER_IMAGES),
    # curve_fit stops at a relative step of 1.5e-8 in beta, where it lands depends on the CPU's
    # rounding: 2e-7 apart between an AVX2 and an AVX-512 machine, hence 1e-6 across machines
    MetricSpec("plcc_logistic", "max", "correlation",
               "clean PLCC after the VQEG 4-parameter logistic fit", _CORR, tolerance=1e-6,
               compute=_clean(plcc_logistic), rows="pred"),
    _attack("shift_ratio", "max", "ratio",
               "mean over non-zero α of mean(predα − pred0)/(αΔy); ideal 1, not ranked (direction "
               "is a placeholder); " + _ATTACK, ranked=False),
    _attack("shift_ratio_error", "min", "ratio",
               "mean over non-zero α of |shift_ratio − 1|; " + _ATTACK, (0.0, None)),
    _attack("mae_to_target", "min", "MOS (0-100)",
               "mean over non-zero α of mean |predα − (pred0 + αΔy)| (BAIQA's MAE_target, base = the "
               "model's clean prediction, not gt); " + _ATTACK, (0.0, None), per_image=True),
    _attack("relative_error", "min", "ratio",
               "mean over non-zero α of mean |(predα − pred0)/(αΔy) − 1| (BAIQA's rel_err); " + _ATTACK,
               (0.0, None), per_image=True),
    _attack("attack_success_rate", "max", "fraction",
               f"mean over non-zero α of the share of images with |predα − (pred0 + αΔy)| <= τ "
               f"(τ = {TAU:g} MOS; the harness's definition, not BAIQA's); " + _ATTACK, (0.0, 1.0), per_image=True),
    _attack("target_srocc", "max", "correlation",
               "mean over non-zero α of SROCC(predα, gt + αΔy); " + _ATTACK, _CORR),
    MetricSpec("psnr", "max", "dB",
               "mean per-image PSNR of triggered vs clean images (higher = less visible trigger; "
               "inf if unchanged); " + _ATTACK, (0.0, None), from_upload=False,
               compute=_visibility_mean("psnr"), uncertainty=_visibility_counts("psnr")),
    MetricSpec("ssim", "max", "fraction",
               "mean SSIM (Wang 2004, Gaussian 11/1.5, per RGB channel) of triggered vs clean "
               "(higher = less visible trigger); " + _ATTACK, (-1.0, 1.0), from_upload=False,
               compute=_visibility_mean("ssim"), uncertainty=_visibility_counts("ssim")),
)}
