"""Deception metrics (harness.families.deception.metrics) against scikit-learn and hand-worked cases.

Convention throughout: label 1 = truth, 0 = lie; scores are P(truth); predicted truth iff score >= 0.5.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.families.deception import metrics as M

sklearn_metrics = pytest.importorskip("sklearn.metrics")

THRESHOLD_METRICS = ["accuracy", "error_rate", "f1_truth", "f1_lie", "balanced_accuracy"]
RANKING_METRICS = ["auc", "eer"]
ALL = THRESHOLD_METRICS + RANKING_METRICS
FN = {name: getattr(M, name) for name in ALL}


def _random(n=400, seed=0, p_truth=0.4, decimals=1):
    """P(truth) rounded to ``decimals``: many ties within and across classes, several exactly 0.5."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < p_truth).astype(int)
    y[:2] = [0, 1]  # both classes present
    s = np.clip(rng.normal(0.45 + 0.15 * y, 0.2), 0, 1).round(decimals)
    return s, y


SEEDS = [0, 1, 2, 3]
CASES = {f"seed{seed}": _random(seed=seed, p_truth=0.2 + 0.2 * seed) for seed in SEEDS}
CASES["coarse-ties"] = _random(n=60, seed=9, decimals=0)  # scores in {0, 1} only
CASES["n=2"] = (np.array([0.5, 0.2]), np.array([0, 1]))


# ----------------------------------------------------------------------------- references
def _sklearn_threshold_metrics(s, y):
    pred = (s >= 0.5).astype(int)
    acc = sklearn_metrics.accuracy_score(y, pred)
    return {"accuracy": acc, "error_rate": 1 - acc,
            "f1_truth": sklearn_metrics.f1_score(y, pred, pos_label=1, zero_division=np.nan),
            "f1_lie": sklearn_metrics.f1_score(y, pred, pos_label=0, zero_division=np.nan),
            "balanced_accuracy": sklearn_metrics.balanced_accuracy_score(y, pred)}


def _sklearn_eer(s, y):
    """EER from sklearn's full ROC: the point minimising |FPR − FNR| (ties: the highest threshold,
    i.e. the first point), reported as (FPR + FNR) / 2."""
    fpr, tpr, _ = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)  # includes "accept none"
    fnr = 1 - tpr
    crit = np.abs(fpr - fnr)
    k = int(np.flatnonzero(crit <= crit.min() + 1e-12)[0])
    return (fpr[k] + fnr[k]) / 2


# ----------------------------------------------------------------------------- against sklearn
@pytest.mark.parametrize("case", list(CASES))
def test_threshold_metrics_equal_sklearn(case):
    s, y = CASES[case]
    ref = _sklearn_threshold_metrics(s, y)
    for name in THRESHOLD_METRICS:
        assert FN[name](s, y) == pytest.approx(ref[name], abs=1e-12), name


@pytest.mark.parametrize("case", list(CASES))
def test_auc_and_eer_equal_sklearn(case):
    s, y = CASES[case]
    assert M.auc(s, y) == pytest.approx(sklearn_metrics.roc_auc_score(y, s), abs=1e-12)
    assert M.eer(s, y) == pytest.approx(_sklearn_eer(s, y), abs=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_binary_metrics_equal_single_functions(case):
    s, y = CASES[case]
    assert M.binary_metrics(s, y, ALL) == {name: FN[name](s, y) for name in ALL}
    assert all(M.undefined_reason(name, y, s) is None for name in ALL)


def test_non_default_threshold_equals_sklearn():
    s, y = CASES["seed1"]
    pred = (s >= 0.7).astype(int)
    assert M.accuracy(s, y, 0.7) == pytest.approx(sklearn_metrics.accuracy_score(y, pred), abs=1e-12)
    assert M.f1_lie(s, y, threshold=0.7) == pytest.approx(
        sklearn_metrics.f1_score(y, pred, pos_label=0), abs=1e-12)
    assert M.binary_metrics(s, y, ["balanced_accuracy"], threshold=0.7)["balanced_accuracy"] == pytest.approx(
        sklearn_metrics.balanced_accuracy_score(y, pred), abs=1e-12)


# ----------------------------------------------------------------------------- hand-worked
def test_hand_worked_tiny_case():
    # clip:      a    b    c    d    e    f
    # label:     T    T    T    L    L    L      (T = truth = 1, L = lie = 0)
    # P(truth): 0.9  0.6  0.3  0.5  0.2  0.1
    # predicted  T    T    L    T    L    L      (0.5 is predicted truth)
    # truth positive: TP 2 (a, b), FN 1 (c), FP 1 (d), TN 2 (e, f)
    s = np.array([0.9, 0.6, 0.3, 0.5, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 0, 0])
    assert M.accuracy(s, y) == 4 / 6  # (TP + TN) / n
    assert M.error_rate(s, y) == 2 / 6  # (FP + FN) / n
    assert M.f1_truth(s, y) == 4 / 6  # 2·2 / (2·2 + 1 + 1)
    assert M.f1_lie(s, y) == 4 / 6  # lie positive: TP 2, FP 1 (c), FN 1 (d) -> 4 / 6
    assert M.balanced_accuracy(s, y) == (2 / 3 + 2 / 3) / 2  # truth recall 2/3, lie recall 2/3
    # AUC: 9 (truth, lie) pairs; the truth score is higher in all but (c 0.3 < d 0.5) -> 8/9
    assert M.auc(s, y) == pytest.approx(8 / 9, abs=1e-15)
    # EER candidates (accept >= t), FAR = lies accepted / 3, FRR = truths rejected / 3:
    #   t > 0.9: FAR 0, FRR 3/3;  t = 0.75: 0, 2/3;  t = 0.55: 0, 1/3;  t = 0.4: 1/3, 1/3  <- |.| = 0
    # EER = (1/3 + 1/3) / 2 = 1/3
    assert M.eer(s, y) == pytest.approx(1 / 3, abs=1e-15)


def test_unbalanced_hand_worked():
    # labels T L L L; scores 0.7 0.8 0.4 0.1 -> predicted T T L L
    # truth positive: TP 1, FP 1, FN 0, TN 2.  f1_truth = 2 / (2 + 1) = 2/3
    # lie positive:   TP 2, FP 0, FN 1.        f1_lie   = 4 / (4 + 1) = 4/5
    # balanced accuracy = (1/1 + 2/3) / 2 = 5/6;  AUC: truth 0.7 beats 0.4, 0.1, not 0.8 -> 2/3
    s, y = np.array([0.7, 0.8, 0.4, 0.1]), np.array([1, 0, 0, 0])
    assert M.f1_truth(s, y) == pytest.approx(2 / 3, abs=1e-15)
    assert M.f1_lie(s, y) == pytest.approx(4 / 5, abs=1e-15)
    assert M.balanced_accuracy(s, y) == pytest.approx(5 / 6, abs=1e-15)
    assert M.auc(s, y) == pytest.approx(2 / 3, abs=1e-15)


def test_tie_rule_score_exactly_half_is_truth():
    assert M.accuracy([0.5], [1]) == 1.0
    assert M.accuracy([0.5], [0]) == 0.0
    assert M.accuracy(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    # just below 0.5 is a lie
    assert M.accuracy([np.nextafter(0.5, 0)], [0]) == 1.0
    # a custom threshold is inclusive too
    assert M.accuracy([0.7, 0.7], [1, 0], threshold=0.7) == 0.5
    assert M.f1_truth([0.5, 0.5], [1, 1]) == 1.0


def test_error_rate_is_one_minus_accuracy():
    for s, y in CASES.values():
        assert M.error_rate(s, y) == pytest.approx(1 - M.accuracy(s, y), abs=1e-15)


def test_auc_from_probabilities_not_argmax():
    # DOLOS's code took AUC from argmax predictions, which equals balanced accuracy (§3.1); the
    # harness uses the probabilities: here they rank every truth above every lie (AUC 1) while
    # the 0.5 decisions are only half right for truths.
    s, y = np.array([0.45, 0.4, 0.3, 0.2]), np.array([1, 1, 0, 0])
    assert M.auc(s, y) == 1.0
    assert M.balanced_accuracy(s, y) == 0.5
    assert sklearn_metrics.roc_auc_score(y, (s >= 0.5).astype(int)) == 0.5  # the argmax version


# ----------------------------------------------------------------------------- degenerate input
@pytest.mark.parametrize("truth", [0, 1])
def test_one_class_test_set(truth):
    s, y = np.array([0.2, 0.6, 0.9]), np.full(3, truth)
    name = "truth" if truth else "lie"
    for metric in ["auc", "eer", "balanced_accuracy"]:
        reason = M.undefined_reason(metric, y, s)
        assert reason == f"the test set has one class only (n=3, all {name})"
        with pytest.raises(ValueError, match=rf"^{metric}: the test set has one class only"):
            FN[metric](s, y)
        assert math.isnan(FN[metric](s, y, on_degenerate="nan"))
        assert math.isnan(M.binary_metrics(s, y, [metric])[metric])
    # accuracy and error rate are defined: predictions T T at 0.6, 0.9; L at 0.2
    assert M.accuracy(s, y) == (2 / 3 if truth else 1 / 3)
    assert M.error_rate(s, y) == pytest.approx(1 / 3 if truth else 2 / 3, abs=1e-15)
    assert M.undefined_reason("accuracy", y, s) is None


def test_f1_defined_with_one_class_unless_zero_over_zero():
    # all truth, two predicted truth: f1_truth = 2·2 / (2·2 + 0 + 1) = 4/5; f1_lie has TP 0,
    # FP 1 (the truth at 0.2 predicted lie), FN 0 -> 0 / 1 = 0, defined
    s = np.array([0.2, 0.6, 0.9])
    assert M.f1_truth(s, [1, 1, 1]) == 0.8
    assert M.f1_lie(s, [1, 1, 1]) == 0.0
    # sklearn agrees where defined (no truths but some predicted truth: 0, not NaN)
    pred = (s >= 0.5).astype(int)
    assert M.f1_truth(s, [0, 0, 0]) == sklearn_metrics.f1_score([0, 0, 0], pred, zero_division=np.nan) == 0.0


@pytest.mark.parametrize("metric, labels, positive", [("f1_truth", [0, 0], "truth"), ("f1_lie", [1, 1], "lie")])
def test_f1_zero_over_zero(metric, labels, positive):
    # no positive in the labels and none predicted positive: TP = FP = FN = 0 -> 0/0
    s = np.array([0.1, 0.2]) if positive == "truth" else np.array([0.8, 0.9])
    y = np.array(labels)
    pos_label = 1 if positive == "truth" else 0
    assert math.isnan(sklearn_metrics.f1_score(y, (s >= 0.5).astype(int), pos_label=pos_label,
                                               zero_division=np.nan))
    reason = M.undefined_reason(metric, y, s)
    assert reason == f"F1 is 0/0: no {positive} clips in the test set and none predicted {positive} (n=2)"
    with pytest.raises(ValueError, match=rf"^{metric}: F1 is 0/0"):
        FN[metric](s, y)
    assert math.isnan(FN[metric](s, y, on_degenerate="nan"))
    assert M.accuracy(s, y) == 1.0


def test_empty_input():
    for metric in ALL:
        with pytest.raises(ValueError, match=rf"^{metric}: scores and labels are empty \(n=0\)"):
            FN[metric]([], [])
        assert math.isnan(FN[metric]([], [], on_degenerate="nan"))
        assert M.undefined_reason(metric, [], []) == "scores and labels are empty (n=0)"
    assert all(math.isnan(v) for v in M.binary_metrics(np.array([]), np.array([], int), ALL).values())


def test_nan_scores():
    s, y = np.array([0.2, np.nan, 0.9]), np.array([0, 1, 1])
    for metric in ALL:
        with pytest.raises(ValueError, match="1 NaN value"):
            FN[metric](s, y)
        assert "NaN" in M.undefined_reason(metric, y, s)
    assert all(math.isnan(v) for v in M.binary_metrics(s, y, ALL).values())


def test_scores_outside_unit_interval():
    s, y = np.array([-0.5, 1.5, 0.2, 0.9]), np.array([0, 1, 0, 1])  # logits, not probabilities
    for metric in THRESHOLD_METRICS:
        with pytest.raises(ValueError, match=r"2 of 4 scores lie outside \[0, 1\]"):
            FN[metric](s, y)
        assert math.isnan(FN[metric](s, y, on_degenerate="nan"))
        assert "outside [0, 1]" in M.undefined_reason(metric, y, s)
    # ranking metrics use only the order of the scores
    assert M.auc(s, y) == 1.0 and M.eer(s, y) == 0.0
    assert M.undefined_reason("auc", y, s) is None


def test_misuse_always_raises():
    s, y = np.array([0.2, 0.9]), np.array([0, 1])
    with pytest.raises(ValueError, match=r"labels must be 0 \(lie\) or 1 \(truth\), got 1 other value\(s\): 2"):
        M.accuracy(s, [0, 2], on_degenerate="nan")
    with pytest.raises(ValueError, match="same length"):
        M.auc(s, [0, 1, 1], on_degenerate="nan")
    with pytest.raises(ValueError, match="must be 1-D"):
        M.f1_truth(s.reshape(1, 2), y.reshape(1, 2))
    with pytest.raises(ValueError, match="threshold must be a number"):
        M.accuracy(s, y, threshold=float("nan"))
    with pytest.raises(ValueError, match="on_degenerate must be one of"):
        M.eer(s, y, on_degenerate="zero")
    with pytest.raises(ValueError, match="unknown metric"):
        M.binary_metrics(s, y, ["accuracy", "err"])
    with pytest.raises(ValueError, match="unknown metric"):
        M.undefined_reason("hter", y, s)
    with pytest.raises(ValueError, match="labels must be 0 \\(lie\\) or 1 \\(truth\\)"):
        M.binary_metrics(s, [1, -1], ["accuracy"])


# ----------------------------------------------------------------------------- dtypes and torch
def test_torch_tensors_and_label_dtypes():
    s, y = CASES["seed2"]
    ref = M.binary_metrics(s, y, ALL)
    assert M.binary_metrics(torch.tensor(s), torch.tensor(y), ALL) == ref
    assert M.binary_metrics(s, y.astype(bool), ALL) == ref
    assert M.binary_metrics(s, y.astype(np.float32), ALL) == ref
    s32 = torch.tensor(s, dtype=torch.float32)  # 0.5 is exact in float32; other values shift slightly
    assert M.accuracy(s32, torch.tensor(y)) == M.accuracy(s32.double().numpy(), y)
    assert M.auc(s32, torch.tensor(y).bool()) == M.auc(s, y)  # rounding keeps the order
    assert M.undefined_reason("auc", torch.ones(3), torch.rand(3)) is not None


# ----------------------------------------------------------------------------- metric table
def test_metric_table():
    directions = {name: spec.direction for name, spec in M.METRICS.items()}
    assert directions == {"accuracy": "max", "error_rate": "min", "f1_truth": "max", "f1_lie": "max",
                          "balanced_accuracy": "max", "auc": "max", "eer": "min"}
    for name, spec in M.METRICS.items():
        assert spec.name == name and spec.unit == "fraction" and spec.bounds == (0.0, 1.0)
        assert callable(getattr(M, name))
    assert "equal error rate" not in M.METRICS["error_rate"].description.replace("not the equal error rate", "")
