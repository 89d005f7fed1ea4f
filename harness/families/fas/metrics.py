"""Face anti-spoofing metrics on per-frame scores (reference ``fas.md`` §1.5, §3.1–§3.3, §6).

Conventions (fixed for the whole family):

* ``scores``: probability (or any monotone score) of *bona fide*; higher means more live.
* ``labels``: 1 = bona fide (real, the positive class), 0 = attack (MMDG convention, fas.md item 2).
* Decision rule: a sample is accepted as bona fide when ``score >= threshold`` (bob.measure
  ``farfrr``: a score on the threshold is accepted, fas.md §3.1).
* FAR = FPR = share of attacks accepted; FRR = FNR = share of bona fide rejected.
* Every rate is a **fraction** in [0, 1] (not %); reporting in % is a presentation concern.

All public functions are pure, take 1-D numpy arrays or torch tensors (any device, any float
dtype; they are compared in float64, which represents float16/32 values exactly), and cost one
O(n log n) sort at most (10 million scores take about a second on one CPU core).

Degenerate input: an empty split, NaN scores, or a split with one class only raise
``ValueError`` naming the function, what was expected and what was received; pass
``on_degenerate="nan"`` to get NaN instead (for sweeps).  Misuse (wrong shape, length
mismatch, labels outside {0, 1}, a NaN threshold or target) always raises.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.stats import MetricSpec

__all__ = [
    "DEFAULT_THRESHOLD",
    "METRICS",
    "acer",
    "apcer",
    "auc",
    "bpcer",
    "bpcer_at_apcer",
    "eer",
    "flipped_warning",
    "hter",
    "hter_lineage",
    "operating_point_at_fpr",
    "roc_metrics",
    "roc_points",
    "threshold_at_eer",
    "threshold_from",
    "tpr_at_fpr",
]

DEFAULT_THRESHOLD = 0.5  # the fixed threshold of FlexModal's cross-dataset WMCA eval (fas.md §1.5)
_ON_DEGENERATE = ("raise", "nan")
_NAN = float("nan")


# ----------------------------------------------------------------------------- input pipeline
def _to_numpy(x: Any) -> np.ndarray:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency of the harness
        torch = None
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.to(torch.float64)  # bfloat16 has no numpy dtype; float64 holds every value
        return x.numpy()
    return np.asarray(x)


def _check_on_degenerate(fn: str, on_degenerate: str) -> None:
    if on_degenerate not in _ON_DEGENERATE:
        raise ValueError(f"{fn}: on_degenerate must be one of {_ON_DEGENERATE}, got {on_degenerate!r}")


def _prepare(fn: str, what: str, scores: Any, labels: Any, on_degenerate: str,
             need: tuple[int, ...] = (0, 1)) -> tuple[np.ndarray, np.ndarray] | None:
    """Validate and convert; ``None`` when the input is degenerate and ``on_degenerate="nan"``.

    Returns float64 scores and boolean labels (True = bona fide).  ``need`` lists the classes
    that must be present for ``what`` to be defined.
    """
    _check_on_degenerate(fn, on_degenerate)
    s, y = _to_numpy(scores), _to_numpy(labels)
    for name, a in (("scores", s), ("labels", y)):
        if a.ndim != 1:
            raise ValueError(f"{fn}: {name} must be 1-D, got shape {tuple(a.shape)}")
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"{fn}: scores and labels must have the same length, "
                         f"got {s.shape[0]} scores and {y.shape[0]} labels")
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: scores must be real numbers, got dtype {s.dtype}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: labels must be 0 (attack) or 1 (bona fide), got dtype {y.dtype}")
    if y.dtype.kind != "b":
        ok = (y == 0) | (y == 1)
        if not ok.all():
            bad = np.unique(y[~ok])
            shown = ", ".join(repr(v.item()) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
            raise ValueError(f"{fn}: labels must be 0 (attack) or 1 (bona fide), "
                             f"got {int((~ok).sum())} other value(s): {shown}")
        y = y == 1
    s = s.astype(np.float64, copy=False)

    def degenerate(msg: str) -> None:
        if on_degenerate == "raise":
            raise ValueError(f"{fn}: {msg}; {what} undefined")

    n = s.shape[0]
    if n == 0:
        return degenerate("scores and labels are empty (n=0)")
    nan = np.isnan(s)
    if nan.any():
        return degenerate(f"scores contain {int(nan.sum())} NaN value(s) (first at index "
                          f"{int(np.argmax(nan))}, n={n})")
    n_pos = int(np.count_nonzero(y))
    if 1 in need and 0 in need and n_pos in (0, n):
        return degenerate(f"labels contain only class {int(n_pos == n)} (n={n})")
    if 1 in need and n_pos == 0:
        return degenerate(f"labels contain no bona fide samples (class 1) (n={n})")
    if 0 in need and n_pos == n:
        return degenerate(f"labels contain no attack samples (class 0) (n={n})")
    return s, y


def _check_threshold(fn: str, threshold: Any) -> float:
    t = float(threshold)
    if np.isnan(t):
        raise ValueError(f"{fn}: threshold must be a number, got NaN")
    return t


def _check_fraction(fn: str, name: str, value: Any) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise ValueError(f"{fn}: {name} must be a fraction in [0, 1], got {value!r}")
    return v


# ----------------------------------------------------------------------------- the one sweep
class _Sweep:
    """Counts at every distinct score, highest first, from one sort.

    Point 0 accepts nothing (threshold above every score); point k >= 1 accepts every sample with
    ``score >= thr[k-1]``.  ``tp``/``fp`` are exact int64 counts of bona fide / attacks accepted.
    """

    def __init__(self, s: np.ndarray, y: np.ndarray):
        order = np.argsort(s)[::-1]
        ss = s[order]
        ys = y[order]
        last = np.flatnonzero(ss[1:] != ss[:-1])  # last index of each run of tied scores
        idx = np.append(last, ss.shape[0] - 1)
        tp = np.cumsum(ys, dtype=np.int64)[idx]
        self.thr = ss[idx]  # distinct scores, descending
        self.tp = np.concatenate(([0], tp))
        self.fp = np.concatenate(([0], idx + 1 - tp))
        self.n_pos = int(self.tp[-1])
        self.n_neg = int(self.fp[-1])

    def threshold(self, k: int) -> float:
        """A threshold realising point ``k`` under ``score >= t`` (bob.measure's choice, §3.1).

        k = 0: just above the maximum; the last point: the minimum score; otherwise the midpoint
        between the lowest accepted and the highest rejected distinct scores.
        """
        if k == 0:
            return float(np.nextafter(self.thr[0], np.inf))
        if k == self.thr.shape[0]:
            return float(self.thr[-1])
        return _midpoint(float(self.thr[k]), float(self.thr[k - 1]))


def _midpoint(lo: float, hi: float) -> float:
    """A value in (lo, hi] that separates lo from hi under ``>=``: the midpoint when it exists."""
    mid = (lo + hi) / 2
    if not np.isfinite(mid):
        mid = lo / 2 + hi / 2
    return hi if mid <= lo else mid


def _nan_tuple(k: int) -> tuple[float, ...]:
    return (_NAN,) * k


# ----------------------------------------------------------------------------- curve metrics
def roc_points(scores: Any, labels: Any, *, on_degenerate: str = "raise"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC: one point per distinct score, thresholds descending.

    Point k accepts every sample with ``score >= thresholds[k]``; ``fpr`` is the share of attacks
    accepted and ``tpr`` the share of bona fide accepted.  Tied scores form one point.  Equal to
    ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)`` without sklearn's
    leading ``(inf, 0, 0)`` point.

    >>> thr, fpr, tpr = roc_points(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    >>> thr.tolist(), fpr.tolist(), tpr.tolist()
    ([0.9, 0.4, 0.1], [0.0, 0.5, 1.0], [0.5, 1.0, 1.0])
    """
    prepared = _prepare("roc_points", "ROC", scores, labels, on_degenerate)
    if prepared is None:
        empty = np.array([], dtype=np.float64)
        return empty, empty.copy(), empty.copy()
    sw = _Sweep(*prepared)
    return sw.thr.copy(), sw.fp[1:] / sw.n_neg, sw.tp[1:] / sw.n_pos


def _auc(sw: _Sweep) -> float:
    # trapezoids between consecutive points; ties between classes give the 1/2 credit
    twice_area = int(np.sum(np.diff(sw.fp) * (sw.tp[1:] + sw.tp[:-1]), dtype=np.int64))
    return twice_area / (2 * sw.n_pos * sw.n_neg)


def auc(scores: Any, labels: Any, *, on_degenerate: str = "raise") -> float:
    """Exact area under the ROC curve: P(bona fide score > attack score) + ½·P(equal).

    Computed from integer counts (one division at the end); equal to
    ``sklearn.metrics.roc_auc_score`` to ~1e-15.

    >>> auc(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    0.875
    """
    prepared = _prepare("auc", "AUC", scores, labels, on_degenerate)
    return _NAN if prepared is None else _auc(_Sweep(*prepared))


def _eer_point(sw: _Sweep) -> int:
    # |FAR - FRR| compared exactly: |fp/N - fn/P| * N * P = |fp*P - fn*N| (int64 up to ~3e9 samples)
    crit = np.abs(sw.fp * sw.n_pos - (sw.n_pos - sw.tp) * sw.n_neg)
    return int(np.argmin(crit))  # first minimum = highest threshold (bob keeps the later one)


def _rates(sw: _Sweep, k: int) -> tuple[float, float]:
    return float(sw.fp[k] / sw.n_neg), float((sw.n_pos - sw.tp[k]) / sw.n_pos)


def eer(scores: Any, labels: Any, *, on_degenerate: str = "raise") -> tuple[float, float]:
    """Equal error rate with bob.measure's semantics (fas.md §3.1): ``(eer, threshold)``.

    Candidate thresholds are data-driven (no ROC interpolation): just above the maximum score,
    the midpoints between consecutive distinct scores, and the minimum score.  The threshold
    minimising |FAR − FRR| is chosen, with FAR = share of attacks with score >= t and FRR = share
    of bona fide with score < t; the EER is reported as (FAR + FRR) / 2 there (bob's ``eer``:
    FAR and FRR need not be equal).  Ties in |FAR − FRR| go to the highest threshold: bob's
    ascending sweep keeps the later candidate (``<=``) inside its loop.  Two known departures,
    read from bob.measure's ``brute_force._minimizing_threshold`` (not run): bob compares its
    last two candidates (the final in-loop point and "above every score") with a strict ``<``,
    so on an exact tie there it keeps the lower threshold; and bob accumulates FAR/FRR by
    repeated float subtraction, while here |FAR − FRR| is compared in exact integer arithmetic,
    so rounding never decides a tie.  The EER value differs only when tied candidates have
    different (FAR + FRR) / 2.

    >>> eer(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    (0.25, 0.65)
    """
    prepared = _prepare("eer", "EER", scores, labels, on_degenerate)
    if prepared is None:
        return _nan_tuple(2)
    sw = _Sweep(*prepared)
    k = _eer_point(sw)
    far, frr = _rates(sw, k)
    return (far + frr) / 2, sw.threshold(k)


def hter(scores: Any, labels: Any, threshold: float, *, on_degenerate: str = "raise") -> float:
    """Half total error rate (FAR + FRR) / 2 at a given threshold (accept ``score >= threshold``).

    Three thresholds are named on the leaderboard: :func:`threshold_from` the sources' val sets
    (the fair default), :func:`threshold_at_eer` of the target test set (what the MMDG lineage
    reports, an oracle), and :data:`DEFAULT_THRESHOLD` 0.5.

    >>> hter(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]), 0.5)
    0.25
    """
    t = _check_threshold("hter", threshold)
    prepared = _prepare("hter", "HTER", scores, labels, on_degenerate)
    if prepared is None:
        return _NAN
    s, y = prepared
    far = np.count_nonzero(s[~y] >= t) / np.count_nonzero(~y)
    frr = np.count_nonzero(s[y] < t) / np.count_nonzero(y)
    return float((far + frr) / 2)


def threshold_at_eer(scores_test: Any, labels_test: Any, *, on_degenerate: str = "raise") -> float:
    """EER threshold of the **target test** scores: the MMDG lineage's HTER threshold (fas.md §1.5).

    ``hter(scores_test, labels_test, threshold_at_eer(scores_test, labels_test))`` equals the
    test EER: an oracle number, reported for comparability with published tables only.  For the
    lineage's exact sklearn recipe (which can differ on ties, see there) use :func:`hter_lineage`.
    """
    return eer(scores_test, labels_test, on_degenerate=on_degenerate)[1]


def threshold_from(scores_val: Any, labels_val: Any, *, on_degenerate: str = "raise") -> float:
    """EER threshold of held-out scores (the sources' val lists): the fair default (fas.md §3.1, §6).

    bob.measure's protocol: the threshold is computed on development data and applied to the
    evaluation data with :func:`hter`.
    """
    return eer(scores_val, labels_val, on_degenerate=on_degenerate)[1]


def hter_lineage(scores: Any, labels: Any, *, on_degenerate: str = "raise") -> tuple[float, float]:
    """The MMDG lineage's own HTER on the test set: ``(hter, threshold)`` (fas.md §1.5).

    Reproduces ``roc_curve(labels, scores, pos_label=1)`` with sklearn's default
    ``drop_intermediate=True``, the index ``argmin |tpr + fpr − 1|`` and
    ``(fpr + 1 − tpr) / 2`` there.  Dropping collinear ROC points can skip the point nearest
    FAR = FRR, so this can differ from :func:`eer` in either direction (see the tests for a
    case where it gives 1/6 against an EER of 7/24); the threshold is sklearn's (a score
    value, or +inf).
    """
    prepared = _prepare("hter_lineage", "HTER", scores, labels, on_degenerate)
    if prepared is None:
        return _nan_tuple(2)
    sw = _Sweep(*prepared)
    fps, tps = sw.fp[1:], sw.tp[1:]
    keep = np.arange(fps.size)
    if fps.size > 2:  # sklearn drops nothing from curves of <= 2 points
        keep = np.flatnonzero(np.concatenate((
            [True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True])))
    fpr = np.concatenate(([0.0], fps[keep] / fps[-1]))
    tpr = np.concatenate(([0.0], tps[keep] / tps[-1]))
    thr = np.concatenate(([np.inf], sw.thr[keep]))
    i = int(np.argmin(np.abs(tpr + fpr - 1)))
    return float((fpr[i] + (1 - tpr[i])) / 2), float(thr[i])


def operating_point_at_fpr(scores: Any, labels: Any, fpr: float, *, on_degenerate: str = "raise"
                           ) -> tuple[float, float, float]:
    """``(tpr, achieved_fpr, threshold)`` of the highest-TPR ROC point with FPR <= ``fpr``.

    Exact and never above the target: the candidates are the data-driven thresholds of
    :func:`eer` (including "accept nothing", FPR = 0).  No interpolation, and tied scores are
    one point, unlike the lineage's nearest-FPR helpers (fas.md §1.5).
    """
    target = _check_fraction("operating_point_at_fpr", "fpr", fpr)
    prepared = _prepare("operating_point_at_fpr", "TPR@FPR", scores, labels, on_degenerate)
    if prepared is None:
        return _nan_tuple(3)
    sw = _Sweep(*prepared)
    fpr_all = sw.fp / sw.n_neg  # nondecreasing
    k = int(np.searchsorted(fpr_all, target, side="right")) - 1  # last point with FPR <= target
    return float(sw.tp[k] / sw.n_pos), float(fpr_all[k]), sw.threshold(k)


def tpr_at_fpr(scores: Any, labels: Any, fpr: float, *, on_degenerate: str = "raise") -> float:
    """Largest TPR over thresholds whose FPR is at most ``fpr`` (never above the target).

    >>> tpr_at_fpr(np.array([0.9, 0.8, 0.4, 0.3, 0.1]), np.array([1, 0, 1, 0, 0]), 0.3)  # FPR 1/3 > 0.3
    0.5
    """
    return operating_point_at_fpr(scores, labels, fpr, on_degenerate=on_degenerate)[0]


def roc_metrics(scores: Any, labels: Any, fpr_targets: tuple[float, ...] = (1e-2, 1e-3), *,
                on_degenerate: str = "raise") -> dict[str, float]:
    """Every threshold-free test-set number from **one** sort (for large score files).

    Keys: ``auc``, ``eer``, ``eer_threshold``, ``hter_test_eer`` (HTER at the test EER
    threshold, equal to ``eer`` by construction) and ``tpr_at_fpr=<target>`` per target, each
    identical to the single-metric function.

    >>> roc_metrics(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]), (0.5,))
    {'auc': 0.875, 'eer': 0.25, 'eer_threshold': 0.65, 'hter_test_eer': 0.25, 'tpr_at_fpr=0.5': 1.0}
    """
    targets = [_check_fraction("roc_metrics", "fpr_targets", f) for f in fpr_targets]
    prepared = _prepare("roc_metrics", "ROC metrics", scores, labels, on_degenerate)
    keys = ["auc", "eer", "eer_threshold", "hter_test_eer"] + [f"tpr_at_fpr={f:g}" for f in targets]
    if prepared is None:
        return dict.fromkeys(keys, _NAN)
    sw = _Sweep(*prepared)
    k = _eer_point(sw)
    far, frr = _rates(sw, k)
    out = {"auc": _auc(sw), "eer": (far + frr) / 2, "eer_threshold": sw.threshold(k),
           "hter_test_eer": (far + frr) / 2}
    fpr_all = sw.fp / sw.n_neg
    for key, f in zip(keys[4:], targets):
        j = int(np.searchsorted(fpr_all, f, side="right")) - 1
        out[key] = float(sw.tp[j] / sw.n_pos)
    return out


# ----------------------------------------------------------------------------- ISO/IEC 30107-3
def _attack_types(fn: str, attack_types: Any, n: int) -> np.ndarray:
    a = _to_numpy(attack_types)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{fn}: attack_types must be 1-D with one entry per score (n={n}), "
                         f"got shape {tuple(a.shape)}")
    return a.astype(str) if a.dtype.kind == "O" else a


def _per_type(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    types, inverse = np.unique(a, return_inverse=True)
    return types, inverse.reshape(-1)


def _key(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def apcer(scores: Any, labels: Any, attack_types: Any, threshold: float, *,
          on_degenerate: str = "raise") -> tuple[float, dict[Any, float]]:
    """Attack presentation classification error rate: ``(max over types, {type: APCER_type})``.

    APCER_type = share of that attack type's presentations accepted (``score >= threshold``);
    the summary is the worst type (ISO/IEC 30107-3 as implemented by bob.pad.base, fas.md §3.2,
    §3.3).  ``attack_types`` has one entry per sample; entries of bona fide samples are ignored.

    >>> apcer(np.array([0.9, 0.6, 0.2, 0.7]), np.array([1, 0, 0, 0]), ["", "print", "print", "replay"], 0.5)
    (1.0, {'print': 0.5, 'replay': 1.0})
    """
    t = _check_threshold("apcer", threshold)
    prepared = _prepare("apcer", "APCER", scores, labels, on_degenerate, need=(0,))
    types_all = _attack_types("apcer", attack_types, _to_numpy(labels).shape[0])
    if prepared is None:
        return _NAN, {}
    s, y = prepared
    types, inv = _per_type(types_all[~y])
    accepted = np.bincount(inv, weights=s[~y] >= t, minlength=types.size)
    per_type = {_key(k): float(v) for k, v in zip(types, accepted / np.bincount(inv))}
    return max(per_type.values()), per_type


def bpcer(scores: Any, labels: Any, threshold: float, *, on_degenerate: str = "raise") -> float:
    """Bona fide presentation classification error rate: share of bona fide rejected (score < t).

    >>> bpcer(np.array([0.9, 0.3, 0.2]), np.array([1, 1, 0]), 0.5)
    0.5
    """
    t = _check_threshold("bpcer", threshold)
    prepared = _prepare("bpcer", "BPCER", scores, labels, on_degenerate, need=(1,))
    if prepared is None:
        return _NAN
    s, y = prepared
    return float(np.count_nonzero(s[y] < t) / np.count_nonzero(y))


def acer(scores: Any, labels: Any, attack_types: Any, threshold: float, *,
         on_degenerate: str = "raise") -> float:
    """(APCER + BPCER) / 2 with APCER the worst attack type (OULU-NPU style, fas.md §3.2–§3.3).

    >>> acer(np.array([0.9, 0.3, 0.6, 0.2, 0.7]), np.array([1, 1, 0, 0, 0]), ["", "", "p", "p", "r"], 0.5)
    0.75
    """
    _check_threshold("acer", threshold)
    _check_on_degenerate("acer", on_degenerate)
    prepared = _prepare("acer", "ACER", scores, labels, on_degenerate)
    if prepared is None:
        _attack_types("acer", attack_types, _to_numpy(labels).shape[0])
        return _NAN
    a, _ = apcer(scores, labels, attack_types, threshold)
    return float((a + bpcer(scores, labels, threshold)) / 2)


def _max_count(target: float, n: int) -> int:
    """Largest m with m / n <= target, compared in floating point exactly as reported."""
    m = min(int(np.floor(target * n)), n)
    while m < n and (m + 1) / n <= target:
        m += 1
    while m > 0 and m / n > target:
        m -= 1
    return m


def bpcer_at_apcer(scores: Any, labels: Any, attack_types: Any, apcer_target: float = 0.05, *,
                   on_degenerate: str = "raise") -> tuple[float, float]:
    """Lowest BPCER over thresholds where every attack type's APCER <= ``apcer_target``.

    Returns ``(bpcer, threshold)``.  ``apcer_target=0.05`` is BPCER20, 0.01 BPCER100
    (bob.pad.base's ``bpcerN`` criteria, fas.md §3.2).  Lowering the threshold lowers BPCER and
    raises every APCER_type, so the answer is the lowest threshold that keeps the worst type at
    or under the target; it is realised by a data-driven threshold (a midpoint between distinct
    scores, just above the maximum, or the minimum score when no type is constrained).  O(n)
    per attack type (a partition, no sort).

    >>> s = np.array([0.9, 0.8, 0.3, 0.7, 0.6, 0.2, 0.1])
    >>> bpcer_at_apcer(s, np.array([1, 1, 1, 0, 0, 0, 0]), ["", "", "", "a", "a", "b", "b"], 0.5)
    (0.3333333333333333, 0.6499999999999999)
    """
    target = _check_fraction("bpcer_at_apcer", "apcer_target", apcer_target)
    prepared = _prepare("bpcer_at_apcer", "BPCER@APCER", scores, labels, on_degenerate)
    types_all = _attack_types("bpcer_at_apcer", attack_types, _to_numpy(labels).shape[0])
    if prepared is None:
        return _nan_tuple(2)
    s, y = prepared
    neg, types_neg = s[~y], types_all[~y]
    _, inv = _per_type(types_neg)
    bound = -np.inf  # every accepted sample must score strictly above this
    order = np.argsort(inv, kind="stable")
    groups = np.split(neg[order], np.flatnonzero(np.diff(inv[order])) + 1)
    for g in groups:
        n_j = g.shape[0]
        m = _max_count(target, n_j)
        if m < n_j:  # the (m+1)-th highest score of this type must be rejected
            k = n_j - m - 1
            bound = max(bound, float(np.partition(g, k)[k]))
    if bound == -np.inf:  # no type constrained: accept everything
        return 0.0, float(s.min())
    above = s[s > bound]
    threshold = _midpoint(bound, float(above.min())) if above.size else float(
        np.nextafter(bound, np.inf))
    return float(np.count_nonzero(s[y] <= bound) / np.count_nonzero(y)), threshold


# ----------------------------------------------------------------------------- sanity checks
def flipped_warning(auc_value: float) -> str | None:
    """A warning when AUC < 0.5, the usual sign of inverted scores; ``None`` otherwise.

    >>> flipped_warning(0.93) is None
    True
    >>> flipped_warning(0.12)
    'AUC 0.1200 < 0.5: scores may be inverted: higher must mean bona fide (label 1)'
    """
    v = float(auc_value)
    if np.isnan(v) or v >= 0.5:
        return None
    return f"AUC {v:.4f} < 0.5: scores may be inverted: higher must mean bona fide (label 1)"


# ----------------------------------------------------------------------------- metric table
_RATE = (0.0, 1.0)
METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    MetricSpec("auc", "max", "fraction", "exact ROC AUC (ties count 1/2), bona fide positive", _RATE),
    MetricSpec("eer", "min", "fraction",
               "EER of the test scores, bob.measure: (FAR+FRR)/2 at the midpoint threshold "
               "minimising |FAR-FRR|", _RATE),
    MetricSpec("hter_val", "min", "fraction",
               "HTER on test at the EER threshold of the sources' val sets (fair default)", _RATE),
    MetricSpec("hter_test_eer", "min", "fraction",
               "HTER at threshold at target test EER (lineage); an oracle threshold", _RATE),
    MetricSpec("hter_05", "min", "fraction", "HTER at the fixed threshold 0.5", _RATE),
    MetricSpec("tpr_at_fpr_1", "max", "fraction", "largest TPR with FPR <= 1e-2 (exact, no interpolation)",
               _RATE),
    MetricSpec("tpr_at_fpr_01", "max", "fraction", "largest TPR with FPR <= 1e-3 (exact, no interpolation)",
               _RATE),
    MetricSpec("apcer", "min", "fraction", "ISO/IEC 30107-3 APCER: worst attack type's acceptance rate",
               _RATE),
    MetricSpec("bpcer", "min", "fraction", "ISO/IEC 30107-3 BPCER: share of bona fide rejected", _RATE),
    MetricSpec("acer", "min", "fraction", "(APCER + BPCER) / 2 (OULU-NPU style, not an ISO metric)", _RATE),
    MetricSpec("bpcer20", "min", "fraction", "lowest BPCER with every attack type's APCER <= 5%", _RATE),
)}
