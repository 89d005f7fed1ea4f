"""Deception-detection metrics on per-clip scores (reference ``rppg_deception.md`` §2, §3.1, §4).

Conventions (fixed for the whole family):

* ``scores``: P(truth) in [0, 1], one per clip (the SVC submission's score).
* ``labels``: 1 = truth, 0 = lie (SVC convention; DOLOS's own code uses the opposite, §3.1).
* Decision rule: a clip is predicted **truth when** ``score >= threshold`` (default 0.5), so a
  score of exactly 0.5 counts as truth.  SVC thresholds P(truth) at 0.5 but does not say which
  side a tie falls on; ``>=`` is the harness's rule, shared with :mod:`harness.binary` (an
  argmax over a two-class softmax would send an exact 0.5 to class 0, lie).
* Every metric is a **fraction** in [0, 1] (leaderboards print %).

Threshold metrics (accuracy, error rate, F1, balanced accuracy) need scores in [0, 1]; AUC and
EER use only the order of the scores.  AUC is computed from the probabilities, never from hard
labels (DOLOS's code took it from argmax predictions, which makes it balanced accuracy, §3.1).

Degenerate input (empty, NaN scores, scores outside [0, 1] for a threshold metric, one class
only for AUC / EER / balanced accuracy, F1 = 0/0) raises ``ValueError`` naming the function and
the reason; ``on_degenerate="nan"`` gives NaN instead.  Misuse (wrong shape, length mismatch,
labels outside {0, 1}, a NaN threshold) always raises.  :func:`undefined_reason` gives the reason
text alone, :func:`binary_metrics` several metrics at once with NaN where undefined.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np  # noqa: F401  (used by the doctests)

from harness.binary import Evaluation, check_on_degenerate
from harness.stats import Bootstrap, MetricSpec

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_THRESHOLD",
    "METRICS",
    "accuracy",
    "auc",
    "balanced_accuracy",
    "binary_metrics",
    "eer",
    "error_rate",
    "f1_lie",
    "f1_truth",
    "undefined_reason",
]

CLASS_NAMES = ("lie", "truth")  # (label 0, label 1)
DEFAULT_THRESHOLD = 0.5  # SVC 2025/2026: P(truth) thresholded at 0.5 (reference §2.1, §2.2)
_NAN = float("nan")

_RATE = (0.0, 1.0)
# The arrays a deception metric is computed from (built by the family's ``score``): ``scores``
# (P(truth)) and ``labels`` of the test clips, and the recipe's ``threshold``.
_BOOT = Bootstrap(("scores", "labels"), unit="clips")


def _spec(name: str, direction: str, description: str) -> MetricSpec:
    return MetricSpec(name, direction, "fraction", description, _RATE,
                      compute=lambda a: binary_metrics(a["scores"], a["labels"], [name], a["threshold"])[name],
                      uncertainty=_BOOT,
                      undefined=lambda a: undefined_reason(name, a["labels"], a["scores"], a["threshold"]))


METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    _spec("accuracy", "max", "share of clips classified correctly, truth iff P(truth) >= 0.5 (SVC ranking metric)"),
    _spec("error_rate", "min", "1 - accuracy at P(truth) >= 0.5 (SVC's 'ERR'; not the equal error rate)"),
    _spec("f1_truth", "max", "F1 with truth (1) positive at P(truth) >= 0.5 (SVC, inferred)"),
    _spec("f1_lie", "max", "F1 with lie (0) positive at P(truth) >= 0.5 (DOLOS's code)"),
    _spec("balanced_accuracy", "max", "mean of truth recall and lie recall at P(truth) >= 0.5"),
    _spec("auc", "max", "exact ROC AUC of P(truth) (ties count 1/2), truth positive"),
    _spec("eer", "min", "equal error rate of P(truth), bob.measure: (FAR+FRR)/2 at the threshold minimising "
          "|FAR-FRR|"),
)}

_WHAT = {"accuracy": "accuracy", "error_rate": "error rate", "f1_truth": "F1 (truth positive)",
         "f1_lie": "F1 (lie positive)", "balanced_accuracy": "balanced accuracy", "auc": "AUC", "eer": "EER"}
# metric name -> (harness.binary.Evaluation kind, positive class)
_KIND = {"accuracy": ("accuracy", 1), "error_rate": ("error_rate", 1), "f1_truth": ("f1", 1),
         "f1_lie": ("f1", 0), "balanced_accuracy": ("balanced_accuracy", 1), "auc": ("auc", 1),
         "eer": ("eer", 1)}


def _check_names(fn: str, names: Sequence[str]) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"{fn}: unknown metric(s) {unknown}; known: {sorted(METRICS)}")
    return names


def _evaluation(fn: str, scores: Any, labels: Any, threshold: float) -> Evaluation:
    return Evaluation(fn, scores, labels, threshold, CLASS_NAMES, items="clips")  # y: True = truth


def _metric(name: str, scores: Any, labels: Any, threshold: float, on_degenerate: str) -> float:
    check_on_degenerate(name, on_degenerate)
    ev = _evaluation(name, scores, labels, threshold)
    reason = ev.reason(*_KIND[name])
    if reason is None:
        return ev.value(*_KIND[name])
    if on_degenerate == "raise":
        raise ValueError(f"{name}: {reason}; {_WHAT[name]} undefined")
    return _NAN


# ----------------------------------------------------------------------------- threshold metrics
def accuracy(scores: Any, labels: Any, threshold: float = DEFAULT_THRESHOLD, *,
             on_degenerate: str = "raise") -> float:
    """Share of clips classified correctly, truth iff ``score >= threshold`` (SVC's ranking metric).

    Defined with one class; a score of exactly 0.5 is predicted truth.

    >>> accuracy(np.array([0.9, 0.5, 0.4, 0.2]), np.array([1, 0, 1, 0]))  # right, wrong, wrong, right
    0.5
    """
    return _metric("accuracy", scores, labels, threshold, on_degenerate)


def error_rate(scores: Any, labels: Any, threshold: float = DEFAULT_THRESHOLD, *,
               on_degenerate: str = "raise") -> float:
    """Misclassification rate, 1 − :func:`accuracy` (SVC leaderboards' "ERR"; not the equal error rate).

    >>> error_rate(np.array([0.9, 0.5, 0.4, 0.2]), np.array([1, 0, 1, 0]))
    0.5
    """
    return _metric("error_rate", scores, labels, threshold, on_degenerate)


def f1_truth(scores: Any, labels: Any, threshold: float = DEFAULT_THRESHOLD, *,
             on_degenerate: str = "raise") -> float:
    """F1 = 2·TP / (2·TP + FP + FN) with truth (1) positive, as SVC is inferred to report (§2.1).

    Undefined (0/0) only when the labels hold no truth clip **and** none is predicted truth;
    otherwise equal to ``sklearn.metrics.f1_score(labels, scores >= t, pos_label=1,
    zero_division=np.nan)`` (e.g. 0.0 when truth clips exist and none is predicted truth).

    >>> f1_truth(np.array([0.9, 0.5, 0.4, 0.2]), np.array([1, 0, 1, 0]))  # TP 1, FP 1, FN 1: 2/4
    0.5
    """
    return _metric("f1_truth", scores, labels, threshold, on_degenerate)


def f1_lie(scores: Any, labels: Any, threshold: float = DEFAULT_THRESHOLD, *,
           on_degenerate: str = "raise") -> float:
    """F1 with lie (0) positive, as DOLOS's code reports it (deception positive, §3.1).

    Undefined (0/0) only when the labels hold no lie **and** none is predicted lie; otherwise
    ``sklearn.metrics.f1_score(labels, scores >= t, pos_label=0, zero_division=np.nan)``.

    >>> f1_lie(np.array([0.9, 0.6, 0.4, 0.2]), np.array([1, 0, 1, 0]))  # TP 1, FP 1, FN 1
    0.5
    """
    return _metric("f1_lie", scores, labels, threshold, on_degenerate)


def balanced_accuracy(scores: Any, labels: Any, threshold: float = DEFAULT_THRESHOLD, *,
                      on_degenerate: str = "raise") -> float:
    """Mean of the truth recall and the lie recall at ``score >= threshold``; undefined with one class.

    >>> balanced_accuracy(np.array([0.9, 0.8, 0.4, 0.2, 0.7]), np.array([1, 1, 1, 0, 0]))  # (2/3 + 1/2) / 2
    0.5833333333333333
    """
    return _metric("balanced_accuracy", scores, labels, threshold, on_degenerate)


# ----------------------------------------------------------------------------- ranking metrics
def auc(scores: Any, labels: Any, *, on_degenerate: str = "raise") -> float:
    """Exact ROC AUC of P(truth), truth positive: P(truth score > lie score) + ½·P(equal).

    From the probabilities, never from hard labels; undefined with one class.

    >>> auc(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    0.875
    """
    return _metric("auc", scores, labels, DEFAULT_THRESHOLD, on_degenerate)


def eer(scores: Any, labels: Any, *, on_degenerate: str = "raise") -> float:
    """Equal error rate of P(truth) (:func:`harness.binary.eer`'s semantics, value only).

    FAR = share of lies with score >= t, FRR = share of truths with score < t; EER =
    (FAR + FRR) / 2 at the data-driven threshold minimising |FAR − FRR|.  Undefined with one class.

    >>> eer(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]))
    0.25
    """
    return _metric("eer", scores, labels, DEFAULT_THRESHOLD, on_degenerate)


# ----------------------------------------------------------------------------- several at once
def binary_metrics(scores: Any, labels: Any, names: Sequence[str], threshold: float = DEFAULT_THRESHOLD
                   ) -> dict[str, float]:
    """``{name: value}`` for the metrics ``names`` (keys of :data:`METRICS`), NaN where undefined.

    One validation, one confusion count and at most one sort for all of them; each value equals
    the single-metric function's.  Misuse still raises.

    >>> binary_metrics(np.array([0.9, 0.4, 0.4, 0.1]), np.array([1, 1, 0, 0]), ["accuracy", "auc"])
    {'accuracy': 0.75, 'auc': 0.875}
    """
    names = _check_names("binary_metrics", names)
    ev = _evaluation("binary_metrics", scores, labels, threshold)
    return {name: ev.get(*_KIND[name]) for name in names}


def undefined_reason(name: str, labels: Any, scores: Any, threshold: float = DEFAULT_THRESHOLD) -> str | None:
    """Why metric ``name`` is undefined on this test set (text for ``MetricValue.undefined``), or ``None``.

    Note the argument order: labels, then scores.

    >>> undefined_reason("auc", np.array([1, 1]), np.array([0.2, 0.7]))
    'the test set has one class only (n=2, all truth)'
    >>> undefined_reason("accuracy", np.array([1, 1]), np.array([0.2, 0.7])) is None
    True
    """
    (name,) = _check_names("undefined_reason", [name])
    return _evaluation("undefined_reason", scores, labels, threshold).reason(*_KIND[name])
