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

from harness import binary
from harness.binary import (
    Sweep,
    auc_of,
    check_fraction,
    check_on_degenerate,
    check_threshold,
    eer_of,
    midpoint,
    nan_tuple,
    to_numpy,
)
from harness.stats import Bootstrap, MetricSpec

__all__ = [
    "DEFAULT_THRESHOLD",
    "METRICS",
    "acer",
    "apcer",
    "auc",
    "bpcer",
    "bpcer_at_apcer",
    "threshold_at_apcer",
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
CLASS_NAMES = ("attack", "bona fide")  # (label 0, label 1) in error messages
_NAN = float("nan")


# ----------------------------------------------------------------------------- input pipeline
def _prepare(fn: str, what: str, scores: Any, labels: Any, on_degenerate: str,
             need: tuple[int, ...] = (0, 1)) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`harness.binary.prepare` with this family's class names (True = bona fide)."""
    return binary.prepare(fn, what, scores, labels, on_degenerate, need, CLASS_NAMES)


# ----------------------------------------------------------------------------- curve metrics
def roc_points(scores: Any, labels: Any, *, on_degenerate: str = "raise"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC: one point per distinct score, thresholds descending (:func:`harness.binary.roc_points`).

    Point k accepts every sample with ``score >= thresholds[k]``; ``fpr`` is the share of attacks
    accepted and ``tpr`` the share of bona fide accepted.  Tied scores form one point.  Equal to
    ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)`` without sklearn's
    leading ``(inf, 0, 0)`` point.

    >>> thr, fpr, tpr = roc_points(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    >>> thr.tolist(), fpr.tolist(), tpr.tolist()
    ([0.9, 0.4, 0.1], [0.0, 0.5, 1.0], [0.5, 1.0, 1.0])
    """
    return binary.roc_points(scores, labels, names=CLASS_NAMES, on_degenerate=on_degenerate)


def auc(scores: Any, labels: Any, *, on_degenerate: str = "raise") -> float:
    """Exact area under the ROC curve: P(bona fide score > attack score) + ½·P(equal).

    Computed from integer counts (one division at the end); equal to
    ``sklearn.metrics.roc_auc_score`` to ~1e-15.

    >>> auc(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    0.875
    """
    return binary.auc(scores, labels, names=CLASS_NAMES, on_degenerate=on_degenerate)


def eer(scores: Any, labels: Any, *, on_degenerate: str = "raise") -> tuple[float, float]:
    """Equal error rate with bob.measure's semantics (fas.md §3.1): ``(eer, threshold)``.

    FAR = share of attacks with score >= t, FRR = share of bona fide with score < t; the
    threshold minimising |FAR − FRR| over the data-driven candidates (just above the maximum,
    midpoints between distinct scores, the minimum), EER = (FAR + FRR) / 2 there, ties to the
    highest threshold.  Tie rules and the departures from bob.measure: :func:`harness.binary.eer`.

    >>> eer(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    (0.25, 0.65)
    """
    return binary.eer(scores, labels, names=CLASS_NAMES, on_degenerate=on_degenerate)


def hter(scores: Any, labels: Any, threshold: float, *, on_degenerate: str = "raise") -> float:
    """Half total error rate (FAR + FRR) / 2 at a given threshold (accept ``score >= threshold``).

    Three thresholds are named on the leaderboard: :func:`threshold_from` the sources' val sets
    (the fair default), :func:`threshold_at_eer` of the target test set (what the MMDG lineage
    reports, an oracle), and :data:`DEFAULT_THRESHOLD` 0.5.

    >>> hter(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]), 0.5)
    0.25
    """
    t = check_threshold("hter", threshold)
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
        return nan_tuple(2)
    sw = Sweep(*prepared)
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
    target = check_fraction("operating_point_at_fpr", "fpr", fpr)
    prepared = _prepare("operating_point_at_fpr", "TPR@FPR", scores, labels, on_degenerate)
    if prepared is None:
        return nan_tuple(3)
    sw = Sweep(*prepared)
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
    targets = [check_fraction("roc_metrics", "fpr_targets", f) for f in fpr_targets]
    prepared = _prepare("roc_metrics", "ROC metrics", scores, labels, on_degenerate)
    keys = ["auc", "eer", "eer_threshold", "hter_test_eer"] + [f"tpr_at_fpr={f:g}" for f in targets]
    if prepared is None:
        return dict.fromkeys(keys, _NAN)
    sw = Sweep(*prepared)
    eer_value, eer_threshold = eer_of(sw)
    out = {"auc": auc_of(sw), "eer": eer_value, "eer_threshold": eer_threshold,
           "hter_test_eer": eer_value}
    fpr_all = sw.fp / sw.n_neg
    for key, f in zip(keys[4:], targets):
        j = int(np.searchsorted(fpr_all, f, side="right")) - 1
        out[key] = float(sw.tp[j] / sw.n_pos)
    return out


# ----------------------------------------------------------------------------- ISO/IEC 30107-3
def _attack_types(fn: str, attack_types: Any, n: int) -> np.ndarray:
    a = to_numpy(attack_types)
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
    t = check_threshold("apcer", threshold)
    prepared = _prepare("apcer", "APCER", scores, labels, on_degenerate, need=(0,))
    types_all = _attack_types("apcer", attack_types, to_numpy(labels).shape[0])
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
    t = check_threshold("bpcer", threshold)
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
    check_threshold("acer", threshold)
    check_on_degenerate("acer", on_degenerate)
    prepared = _prepare("acer", "ACER", scores, labels, on_degenerate)
    if prepared is None:
        _attack_types("acer", attack_types, to_numpy(labels).shape[0])
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
    target = check_fraction("bpcer_at_apcer", "apcer_target", apcer_target)
    prepared = _prepare("bpcer_at_apcer", "BPCER@APCER", scores, labels, on_degenerate)
    types_all = _attack_types("bpcer_at_apcer", attack_types, to_numpy(labels).shape[0])
    if prepared is None:
        return nan_tuple(2)
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
    threshold = midpoint(bound, float(above.min())) if above.size else float(
        np.nextafter(bound, np.inf))
    return float(np.count_nonzero(s[y] <= bound) / np.count_nonzero(y)), threshold


def threshold_at_apcer(scores: Any, labels: Any, attack_types: Any, apcer_target: float = 0.05) -> float:
    """bob.pad.base's BPCER20 threshold (``calc_threshold("bpcer20", ...)``, set on dev/val scores):
    per attack type, bob.measure's ``far_threshold`` (the lowest attack score at which that
    type's acceptance rate ``count(score >= t) / n`` is still <= ``apcer_target``, or just above
    its highest score when none is), then the highest of these over the types.  The threshold
    therefore sits **on an attack score** (accepted: ``score >= t``).  bob refuses a type with
    fewer than two scores; so does this function (``ValueError``).

    >>> threshold_at_apcer(np.array([0.9, 0.2, 0.3, 0.8, 0.1]), np.array([1, 0, 0, 0, 0]), np.array(["", "p", "p", "r", "r"]), 0.5)
    0.8
    """
    target = check_fraction("threshold_at_apcer", "apcer_target", apcer_target)
    s = to_numpy(scores).astype(np.float64).ravel()
    y = to_numpy(labels).astype(bool).ravel()
    types = _attack_types("threshold_at_apcer", attack_types, s.shape[0])
    attacks, kinds = s[~y], types[~y]
    if not attacks.size:
        raise ValueError("threshold_at_apcer: no attack score to set a threshold on")
    best = -np.inf
    for kind in np.unique(kinds):
        a = np.sort(attacks[kinds == kind])[::-1]  # descending, as bob walks them
        if a.size < 2:
            raise ValueError(f"threshold_at_apcer: attack type {kind or 'unknown'!r} has {a.size} score(s); "
                             "bob.pad.base needs at least 2 per type")
        distinct = np.unique(a)
        accepted = np.searchsorted(-a, -distinct, side="right")  # count(score >= v) per distinct value
        ok = distinct[accepted / a.size <= target]
        best = max(best, float(ok.min()) if ok.size else float(np.nextafter(a[0], np.inf)))
    return best


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
# The arrays a FAS metric is computed from (built by the family's ``score``): ``scores``,
# ``labels`` and ``attack_types`` of the test rows, ``val_threshold`` (the sources' val EER
# threshold, ``None`` when it could not be set) and ``n`` (test rows).
_RATE = (0.0, 1.0)
_BOOT = Bootstrap(("scores", "labels"))  # over test rows (frames, or videos with level: video)
_NO_VAL = "no threshold from the sources' val sets"


def _one_class(a: dict) -> str | None:
    y = a["labels"]
    return f"the test set has one class only (n={len(y)})" if len(set(np.asarray(y).tolist())) < 2 else None


def _needs_val(a: dict, key: str = "val_threshold") -> str | None:
    return _one_class(a) or (a.get(f"{key}_reason") or _NO_VAL if a[key] is None else None)


def _spec(name: str, direction: str, description: str, compute, *, val: bool | str = False, boot: bool = False,
          **kw) -> MetricSpec:
    key = val if isinstance(val, str) else "val_threshold"
    return MetricSpec(name, direction, "fraction", description, _RATE, compute=compute,
                      uncertainty=_BOOT if boot else None,
                      undefined=(lambda a: _needs_val(a, key)) if val else _one_class, **kw)


METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    _spec("auc", "max", "exact ROC AUC (ties count 1/2), bona fide positive",
          lambda a: auc(a["scores"], a["labels"]), boot=True),
    _spec("eer", "min", "EER of the test scores, bob.measure: (FAR+FRR)/2 at the midpoint threshold "
          "minimising |FAR-FRR|", lambda a: eer(a["scores"], a["labels"])[0], boot=True),
    _spec("hter_val", "min", "HTER on test at the EER threshold of the sources' val sets (fair default)",
          lambda a: hter(a["scores"], a["labels"], a["val_threshold"]), val=True, boot=True),
    _spec("hter_test_eer", "min", "HTER at threshold at target test EER (lineage); an oracle threshold set on "
          "the test set itself, reported, never ranked",
          lambda a: hter(a["scores"], a["labels"], threshold_at_eer(a["scores"], a["labels"])), boot=True,
          ranked=False),
    _spec("hter_05", "min", "HTER at the fixed threshold 0.5", lambda a: hter(a["scores"], a["labels"], 0.5)),
    _spec("tpr_at_fpr_1", "max", "largest TPR with FPR <= 1e-2 (exact, no interpolation)",
          lambda a: tpr_at_fpr(a["scores"], a["labels"], 1e-2)),
    _spec("tpr_at_fpr_01", "max", "largest TPR with FPR <= 1e-3 (exact, no interpolation)",
          lambda a: tpr_at_fpr(a["scores"], a["labels"], 1e-3)),
    _spec("apcer", "min", "ISO/IEC 30107-3 APCER: worst attack type's acceptance rate",
          lambda a: apcer(a["scores"], a["labels"], a["attack_types"], a["val_threshold"])[0], val=True),
    _spec("bpcer", "min", "ISO/IEC 30107-3 BPCER: share of bona fide rejected",
          lambda a: bpcer(a["scores"], a["labels"], a["val_threshold"]), val=True),
    _spec("acer", "min", "(APCER + BPCER) / 2 (OULU-NPU style, not an ISO metric)",
          lambda a: acer(a["scores"], a["labels"], a["attack_types"], a["val_threshold"]), val=True),
    _spec("bpcer20", "min", "lowest BPCER with every attack type's APCER <= 5%, the threshold optimised on the "
          "test set itself: an oracle, reported, never ranked (bpcer20_val is the fair one)",
          lambda a: bpcer_at_apcer(a["scores"], a["labels"], a["attack_types"], 0.05)[0], ranked=False),
    _spec("bpcer20_val", "min", "BPCER on test at bob.pad.base's BPCER20 threshold set on the sources' val sets "
          "(per attack type, on an attack score, the worst type's APCER <= 5%): dev -> eval, the fair BPCER20",
          lambda a: bpcer(a["scores"], a["labels"], a["val_threshold_bpcer20"]), val="val_threshold_bpcer20"),
)}
