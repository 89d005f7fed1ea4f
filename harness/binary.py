"""Exact binary-classification core shared by the score-based families (ROC, AUC, EER).

Conventions:

* ``scores``: any real score, higher means more likely the **positive** class (label 1).
* ``labels``: 1 = positive, 0 = negative (bool arrays are accepted as they are).
* Decision rule: a sample is accepted as positive when ``score >= threshold`` (bob.measure's
  ``farfrr``: a score on the threshold is accepted).
* FPR = FAR = share of negatives accepted; FNR = FRR = share of positives rejected; every rate is
  a fraction in [0, 1].
* ``names=(negative, positive)`` only words the error messages, e.g. ``("attack", "bona fide")``.

Thresholded metrics (accuracy, error rate, F1 of either class, balanced accuracy) come from one
confusion count at ``score >= threshold`` (:class:`Counts`, :class:`Evaluation`); every family
that thresholds scores uses them.

Inputs are 1-D numpy arrays or torch tensors (any device, any float dtype; they are compared in
float64, which represents float16/32 values exactly); everything costs one O(n log n) sort at most.

Degenerate input (empty, NaN scores, a class that the metric needs is missing) raises
``ValueError`` naming the function, what was expected and what was received; with
``on_degenerate="nan"`` it gives NaN instead.  Misuse (wrong shape, length mismatch, labels
outside {0, 1}, a NaN threshold) always raises.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_NAMES",
    "KINDS",
    "ON_DEGENERATE",
    "Counts",
    "Evaluation",
    "Sweep",
    "auc",
    "auc_of",
    "check_fraction",
    "check_on_degenerate",
    "check_threshold",
    "count_at",
    "degenerate_reason",
    "eer",
    "eer_of",
    "eer_point",
    "midpoint",
    "nan_tuple",
    "prepare",
    "rates",
    "roc_points",
    "to_numpy",
    "validate",
]

DEFAULT_NAMES = ("negative", "positive")  # (class 0, class 1), for error messages only
ON_DEGENERATE = ("raise", "nan")
_NAN = float("nan")


# ----------------------------------------------------------------------------- input pipeline
def to_numpy(x: Any) -> np.ndarray:
    """A numpy view of ``x``; torch tensors are detached, moved to CPU, floats widened to float64."""
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


def check_on_degenerate(fn: str, on_degenerate: str) -> None:
    if on_degenerate not in ON_DEGENERATE:
        raise ValueError(f"{fn}: on_degenerate must be one of {ON_DEGENERATE}, got {on_degenerate!r}")


def validate(fn: str, scores: Any, labels: Any, names: tuple[str, str] = DEFAULT_NAMES
             ) -> tuple[np.ndarray, np.ndarray]:
    """Float64 scores and boolean labels (True = positive); misuse raises ``ValueError``."""
    neg, pos = names
    s, y = to_numpy(scores), to_numpy(labels)
    for name, a in (("scores", s), ("labels", y)):
        if a.ndim != 1:
            raise ValueError(f"{fn}: {name} must be 1-D, got shape {tuple(a.shape)}")
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"{fn}: scores and labels must have the same length, "
                         f"got {s.shape[0]} scores and {y.shape[0]} labels")
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: scores must be real numbers, got dtype {s.dtype}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: labels must be 0 ({neg}) or 1 ({pos}), got dtype {y.dtype}")
    if y.dtype.kind != "b":
        ok = (y == 0) | (y == 1)
        if not ok.all():
            bad = np.unique(y[~ok])
            shown = ", ".join(repr(v.item()) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
            raise ValueError(f"{fn}: labels must be 0 ({neg}) or 1 ({pos}), "
                             f"got {int((~ok).sum())} other value(s): {shown}")
        y = y == 1
    return s.astype(np.float64, copy=False), y


def degenerate_reason(s: np.ndarray, y: np.ndarray, need: tuple[int, ...] = (0, 1),
                      names: tuple[str, str] = DEFAULT_NAMES) -> str | None:
    """Why validated input is degenerate (empty, NaN scores, a needed class missing), or ``None``."""
    n = s.shape[0]
    if n == 0:
        return "scores and labels are empty (n=0)"
    nan = np.isnan(s)
    if nan.any():
        return f"scores contain {int(nan.sum())} NaN value(s) (first at index {int(np.argmax(nan))}, n={n})"
    n_pos = int(np.count_nonzero(y))
    if 1 in need and 0 in need and n_pos in (0, n):
        return f"labels contain only class {int(n_pos == n)} (n={n})"
    if 1 in need and n_pos == 0:
        return f"labels contain no {names[1]} samples (class 1) (n={n})"
    if 0 in need and n_pos == n:
        return f"labels contain no {names[0]} samples (class 0) (n={n})"
    return None


def prepare(fn: str, what: str, scores: Any, labels: Any, on_degenerate: str,
            need: tuple[int, ...] = (0, 1), names: tuple[str, str] = DEFAULT_NAMES
            ) -> tuple[np.ndarray, np.ndarray] | None:
    """Validate and convert; ``None`` when the input is degenerate and ``on_degenerate="nan"``.

    Returns float64 scores and boolean labels (True = positive).  ``need`` lists the classes
    that must be present for ``what`` to be defined.
    """
    check_on_degenerate(fn, on_degenerate)
    s, y = validate(fn, scores, labels, names)
    reason = degenerate_reason(s, y, need, names)
    if reason is None:
        return s, y
    if on_degenerate == "raise":
        raise ValueError(f"{fn}: {reason}; {what} undefined")
    return None


def check_threshold(fn: str, threshold: Any) -> float:
    t = float(threshold)
    if np.isnan(t):
        raise ValueError(f"{fn}: threshold must be a number, got NaN")
    return t


def check_fraction(fn: str, name: str, value: Any) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise ValueError(f"{fn}: {name} must be a fraction in [0, 1], got {value!r}")
    return v


def nan_tuple(k: int) -> tuple[float, ...]:
    return (_NAN,) * k


# ----------------------------------------------------------------------------- the one sweep
class Sweep:
    """Counts at every distinct score, highest first, from one sort.

    Point 0 accepts nothing (threshold above every score); point k >= 1 accepts every sample with
    ``score >= thr[k-1]``.  ``tp``/``fp`` are exact int64 counts of positives / negatives accepted.
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
        """A threshold realising point ``k`` under ``score >= t`` (bob.measure's choice).

        k = 0: just above the maximum; the last point: the minimum score; otherwise the midpoint
        between the lowest accepted and the highest rejected distinct scores.
        """
        if k == 0:
            return float(np.nextafter(self.thr[0], np.inf))
        if k == self.thr.shape[0]:
            return float(self.thr[-1])
        return midpoint(float(self.thr[k]), float(self.thr[k - 1]))


def midpoint(lo: float, hi: float) -> float:
    """A value in (lo, hi] that separates lo from hi under ``>=``: the midpoint when it exists."""
    mid = (lo + hi) / 2
    if not np.isfinite(mid):
        mid = lo / 2 + hi / 2
    return hi if mid <= lo else mid


# ----------------------------------------------------------------------------- curve metrics
def roc_points(scores: Any, labels: Any, *, names: tuple[str, str] = DEFAULT_NAMES,
               on_degenerate: str = "raise") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC ``(thresholds, fpr, tpr)``: one point per distinct score, thresholds descending.

    Point k accepts every sample with ``score >= thresholds[k]``.  Tied scores form one point.
    Equal to ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)`` without
    sklearn's leading ``(inf, 0, 0)`` point.

    >>> thr, fpr, tpr = roc_points(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    >>> thr.tolist(), fpr.tolist(), tpr.tolist()
    ([0.9, 0.4, 0.1], [0.0, 0.5, 1.0], [0.5, 1.0, 1.0])
    """
    prepared = prepare("roc_points", "ROC", scores, labels, on_degenerate, names=names)
    if prepared is None:
        empty = np.array([], dtype=np.float64)
        return empty, empty.copy(), empty.copy()
    sw = Sweep(*prepared)
    return sw.thr.copy(), sw.fp[1:] / sw.n_neg, sw.tp[1:] / sw.n_pos


def auc_of(sw: Sweep) -> float:
    """Exact ROC AUC of a sweep with both classes: trapezoids, ties between classes give 1/2."""
    twice_area = int(np.sum(np.diff(sw.fp) * (sw.tp[1:] + sw.tp[:-1]), dtype=np.int64))
    return twice_area / (2 * sw.n_pos * sw.n_neg)


def auc(scores: Any, labels: Any, *, names: tuple[str, str] = DEFAULT_NAMES,
        on_degenerate: str = "raise") -> float:
    """Exact area under the ROC curve: P(positive score > negative score) + ½·P(equal).

    Computed from integer counts (one division at the end); equal to
    ``sklearn.metrics.roc_auc_score`` to ~1e-15.

    >>> auc(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    0.875
    """
    prepared = prepare("auc", "AUC", scores, labels, on_degenerate, names=names)
    return _NAN if prepared is None else auc_of(Sweep(*prepared))


def eer_point(sw: Sweep) -> int:
    """Index of the sweep point minimising |FPR − FNR|, compared exactly; ties: highest threshold."""
    # |fp/N - fn/P| * N * P = |fp*P - fn*N| (int64 up to ~3e9 samples)
    crit = np.abs(sw.fp * sw.n_pos - (sw.n_pos - sw.tp) * sw.n_neg)
    return int(np.argmin(crit))  # first minimum = highest threshold (bob keeps the later one)


def rates(sw: Sweep, k: int) -> tuple[float, float]:
    """``(FPR, FNR)`` at sweep point ``k``."""
    return float(sw.fp[k] / sw.n_neg), float((sw.n_pos - sw.tp[k]) / sw.n_pos)


def eer_of(sw: Sweep) -> tuple[float, float]:
    """``(eer, threshold)`` of a sweep with both classes; see :func:`eer`."""
    k = eer_point(sw)
    far, frr = rates(sw, k)
    return (far + frr) / 2, sw.threshold(k)


def eer(scores: Any, labels: Any, *, names: tuple[str, str] = DEFAULT_NAMES,
        on_degenerate: str = "raise") -> tuple[float, float]:
    """Equal error rate with bob.measure's semantics: ``(eer, threshold)``.

    Candidate thresholds are data-driven (no ROC interpolation): just above the maximum score,
    the midpoints between consecutive distinct scores, and the minimum score.  The threshold
    minimising |FAR − FRR| is chosen, with FAR = share of negatives with score >= t and FRR =
    share of positives with score < t; the EER is reported as (FAR + FRR) / 2 there (bob's
    ``eer``: FAR and FRR need not be equal).  Ties in |FAR − FRR| go to the highest threshold.

    How this compares with bob.measure's ``brute_force._minimizing_threshold`` (read, not run):
    bob sorts the negatives and the positives and sweeps the thresholds upwards while **both**
    lists still hold scores, keeping a later candidate on a tie (``<=``), as here.  When the first
    of the two lists runs out, bob evaluates one more candidate, the midpoint between that list's
    last score and the next score of the other list, and then "just above every score"; these two
    are compared with a strict ``<``, so on an exact tie there bob keeps the earlier, lower
    threshold where this function takes the higher one.  Candidates beyond that midpoint are never
    better (one error rate is already 0 or 1), so the two sweeps see the same minima.  bob also
    accumulates FAR/FRR by repeated float subtraction, while here |FAR − FRR| is compared in exact
    integer arithmetic, so rounding never decides a tie.  The EER value differs only when tied
    candidates have different (FAR + FRR) / 2: negatives [0.6], positives [0.4, 0.8] give 0.25 at
    0.7 here and 0.75 at 0.5 in bob (tested against a restatement of bob's walk).

    >>> eer(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    (0.25, 0.65)
    """
    prepared = prepare("eer", "EER", scores, labels, on_degenerate, names=names)
    return nan_tuple(2) if prepared is None else eer_of(Sweep(*prepared))


# ----------------------------------------------------------------------------- threshold metrics
@dataclasses.dataclass(frozen=True)
class Counts:
    """Confusion counts with class 1 positive; a sample is predicted positive iff ``score >= t``.

    Every metric is a float, NaN where its formula is 0/0 (no epsilon anywhere).

    >>> c = Counts(tp=1, fp=1, fn=1, tn=1)
    >>> c.accuracy(), c.f1(), c.f1(positive=0), c.balanced_accuracy()
    (0.5, 0.5, 0.5, 0.5)
    """

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def swapped(self) -> Counts:
        """The same counts with class 0 positive."""
        return Counts(tp=self.tn, fp=self.fn, fn=self.fp, tn=self.tp)

    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.n)

    def error_rate(self) -> float:
        return _ratio(self.fp + self.fn, self.n)

    def f1(self, positive: int = 1) -> float:
        """2·TP / (2·TP + FP + FN) with class ``positive`` positive."""
        c = self if positive == 1 else self.swapped()
        return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)

    def recall(self, positive: int = 1) -> float:
        c = self if positive == 1 else self.swapped()
        return _ratio(c.tp, c.tp + c.fn)

    def balanced_accuracy(self) -> float:
        """Mean of the two class recalls; NaN when a class is missing."""
        return (self.recall(1) + self.recall(0)) / 2


def _ratio(num: int, den: int) -> float:
    return num / den if den else _NAN


def count_at(s: np.ndarray, y: np.ndarray, threshold: float) -> Counts:
    """:class:`Counts` of validated scores ``s`` and boolean labels ``y`` at ``score >= threshold``."""
    pred = s >= threshold
    tp = int(np.count_nonzero(pred & y))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(y)) - tp
    return Counts(tp, fp, fn, s.shape[0] - tp - fp - fn)


KINDS = ("accuracy", "error_rate", "f1", "balanced_accuracy", "auc", "eer")
_NEEDS_BOTH = frozenset({"balanced_accuracy", "auc", "eer"})


class Evaluation:
    """Validated scores and labels with the confusion counts and the sweep computed on demand.

    ``kind`` (one of :data:`KINDS`) names a metric; ``positive`` picks F1's positive class.  Threshold
    metrics need scores in [0, 1] (a probability of ``names[1]``); AUC and EER use only their order.
    ``items`` words the messages ("clips", "images").  :meth:`reason` says why a metric is undefined
    (``None`` when defined); :meth:`value` gives it, assuming it is defined.
    """

    def __init__(self, fn: str, scores: Any, labels: Any, threshold: float,
                 names: tuple[str, str] = DEFAULT_NAMES, items: str = "samples"):
        self.threshold = check_threshold(fn, threshold)
        self.s, self.y = validate(fn, scores, labels, names)
        self.n = self.s.shape[0]
        self.names, self.items = names, items

    def reason(self, kind: str, positive: int = 1) -> str | None:
        basic = degenerate_reason(self.s, self.y, need=())  # empty, NaN scores
        if basic is not None:
            return basic
        s, n = self.s, self.n
        if kind not in ("auc", "eer"):
            out = (s < 0) | (s > 1)
            if out.any():
                i = int(np.argmax(out))
                return (f"{int(out.sum())} of {n} scores lie outside [0, 1] (first {s[i]!r} at index {i}); "
                        f"a threshold metric needs P({self.names[1]})")
        n_pos = int(np.count_nonzero(self.y))
        if kind in _NEEDS_BOTH and n_pos in (0, n):
            return f"the test set has one class only (n={n}, all {self.names[int(n_pos == n)]})"
        if kind == "f1":
            c = self.counts if positive == 1 else self.counts.swapped()
            if c.tp + c.fp + c.fn == 0:
                name = self.names[positive]
                return f"F1 is 0/0: no {name} {self.items} in the test set and none predicted {name} (n={n})"
        return None

    @functools.cached_property
    def counts(self) -> Counts:
        return count_at(self.s, self.y, self.threshold)

    @functools.cached_property
    def sweep(self) -> Sweep:
        return Sweep(self.s, self.y)

    def value(self, kind: str, positive: int = 1) -> float:
        if kind == "auc":
            return auc_of(self.sweep)
        if kind == "eer":
            return eer_of(self.sweep)[0]
        if kind == "f1":
            return self.counts.f1(positive)
        if kind in ("accuracy", "error_rate", "balanced_accuracy"):
            return getattr(self.counts, kind)()
        raise ValueError(f"unknown metric kind {kind!r}; known: {KINDS}")

    def get(self, kind: str, positive: int = 1) -> float:
        """The metric, NaN where undefined."""
        return _NAN if self.reason(kind, positive) is not None else self.value(kind, positive)
