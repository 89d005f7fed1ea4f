"""FAS metrics (harness.families.fas.metrics) against scikit-learn, brute force and hand-worked cases.

Convention throughout: label 1 = bona fide (positive), 0 = attack; accept when score >= threshold.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.families.fas import metrics as M

sklearn_metrics = pytest.importorskip("sklearn.metrics")


# ----------------------------------------------------------------------------- shared cases
def _random(n=500, seed=0, p_pos=0.3, tie_levels=None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < p_pos).astype(int)
    y[:2] = [0, 1]  # both classes present
    s = rng.normal(size=n) + 1.2 * y
    if tie_levels:
        s = np.round(s * tie_levels) / tie_levels
    return s, y


CASES = {
    "random": _random(),
    "random-ties-across-classes": _random(seed=1, tie_levels=3),
    "all-tied": (np.full(50, 0.5), np.r_[np.zeros(20, int), np.ones(30, int)]),
    "separable": (np.r_[np.linspace(0, 0.4, 30), np.linspace(0.6, 1, 20)], np.r_[np.zeros(30, int), np.ones(20, int)]),
    "inverted": (np.r_[np.linspace(0.6, 1, 30), np.linspace(0, 0.4, 20)], np.r_[np.zeros(30, int), np.ones(20, int)]),
    "n=2": (np.array([0.2, 0.7]), np.array([1, 0])),
    "unbalanced": _random(n=300, seed=2, p_pos=0.05),
}
CASE_IDS = list(CASES)


# ----------------------------------------------------------------------------- references
def _ref_eer(s, y):
    """Slow reference: loop over every bob candidate threshold (above max, midpoints, min).

    FAR/FRR in exact fractions; minimise |FAR - FRR|, ties to the highest threshold.
    """
    neg, pos = s[y == 0], s[y == 1]
    u = np.unique(s)[::-1]  # descending
    cands = [float(np.nextafter(u[0], np.inf))] + [float((u[i] + u[i + 1]) / 2) for i in range(len(u) - 1)]
    cands.append(float(u[-1]))
    best = None
    for t in cands:  # descending, so a strict '<' keeps the highest threshold on ties
        far = Fraction(int((neg >= t).sum()), len(neg))
        frr = Fraction(int((pos < t).sum()), len(pos))
        crit = abs(far - frr)
        if best is None or crit < best[0]:
            best = (crit, (far + frr) / 2, t)
    return float(best[1]), best[2]


def _brute_tpr_at_fpr(s, y, target):
    neg, pos = s[y == 0], s[y == 1]
    best = 0.0
    for t in list(np.unique(s)) + [np.inf]:
        fpr, tpr = (neg >= t).mean(), (pos >= t).mean()
        if fpr <= target:
            best = max(best, tpr)
    return best


def _rates_at(s, y, t):
    return (s[y == 0] >= t).mean(), (s[y == 1] >= t).mean()


# ----------------------------------------------------------------------------- ROC / AUC vs sklearn
@pytest.mark.parametrize("case", CASE_IDS)
def test_roc_points_equal_sklearn(case):
    s, y = CASES[case]
    thr, fpr, tpr = M.roc_points(s, y)
    fpr_ref, tpr_ref, thr_ref = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_array_equal(thr, thr_ref[1:])  # sklearn prepends (inf, 0, 0)
    np.testing.assert_allclose(fpr, fpr_ref[1:], rtol=0, atol=1e-15)
    np.testing.assert_allclose(tpr, tpr_ref[1:], rtol=0, atol=1e-15)
    assert thr.size == np.unique(s).size  # one point per distinct score
    assert np.all(np.diff(thr) < 0)


@pytest.mark.parametrize("case", CASE_IDS)
def test_auc_equals_sklearn(case):
    s, y = CASES[case]
    assert M.auc(s, y) == pytest.approx(sklearn_metrics.roc_auc_score(y, s), abs=1e-12)


def test_auc_special_values():
    s, y = CASES["all-tied"]
    assert M.auc(s, y) == 0.5
    assert M.auc(*CASES["separable"]) == 1.0
    assert M.auc(*CASES["inverted"]) == 0.0
    assert M.auc(*CASES["n=2"]) == 0.0
    # ties across classes count 1/2: pos {0.4, 0.9}, neg {0.4, 0.1} -> pairs (0.9>0.4, 0.9>0.1,
    # 0.4=0.4 -> 1/2, 0.4>0.1) = 3.5 / 4
    assert M.auc([0.9, 0.4, 0.4, 0.1], [1, 1, 0, 0]) == 0.875


def test_flipped_warning():
    s, y = CASES["inverted"]
    msg = M.flipped_warning(M.auc(s, y))
    assert msg is not None and "inverted" in msg and "bona fide" in msg
    assert M.flipped_warning(M.auc(*CASES["separable"])) is None
    assert M.flipped_warning(0.5) is None
    assert M.flipped_warning(float("nan")) is None


# ----------------------------------------------------------------------------- EER / HTER
def test_eer_hand_worked():
    # bona fide 0.9, 0.7, 0.4 (P=3); attacks 0.8, 0.3, 0.2, 0.1 (N=4).  Candidates (accept >= t):
    #   t > 0.9  : FAR 0/4, FRR 3/3 -> |.| = 1
    #   t = 0.85 : FAR 0/4, FRR 2/3 -> 0.667
    #   t = 0.75 : FAR 1/4, FRR 2/3 -> 0.417
    #   t = 0.55 : FAR 1/4, FRR 1/3 -> 0.0833   <- minimum
    #   t = 0.35 : FAR 1/4, FRR 0/3 -> 0.25
    #   t = 0.25 : FAR 2/4, ... larger
    # EER = (1/4 + 1/3) / 2 = 7/24 at the midpoint (0.7 + 0.4) / 2 = 0.55.
    s = np.array([0.9, 0.7, 0.4, 0.8, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    value, threshold = M.eer(s, y)
    assert value == pytest.approx(7 / 24, abs=1e-15)
    assert threshold == pytest.approx(0.55, abs=1e-15)
    assert M.hter(s, y, threshold) == pytest.approx(7 / 24, abs=1e-15)
    assert M.threshold_at_eer(s, y) == threshold
    assert M.threshold_from(s, y) == threshold


def test_eer_tie_goes_to_highest_threshold():
    # bona fide 0.9, 0.1; attacks 0.5, 0.5.  t=0.7: FAR 0, FRR 1/2; t=0.3: FAR 1, FRR 1/2.
    # |FAR-FRR| = 1/2 at both; the higher threshold wins -> EER (0 + 1/2)/2 = 0.25, not 0.75.
    value, threshold = M.eer([0.9, 0.1, 0.5, 0.5], [1, 1, 0, 0])
    assert (value, threshold) == (0.25, 0.7)


@pytest.mark.parametrize("case", CASE_IDS)
def test_eer_matches_slow_reference(case):
    s, y = CASES[case]
    value, threshold = M.eer(s, y)
    ref_value, ref_threshold = _ref_eer(s, y)
    assert value == pytest.approx(ref_value, abs=1e-15)
    assert threshold == ref_threshold
    assert M.hter(s, y, threshold) == pytest.approx(value, abs=1e-15)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=2, max_size=25))
def test_eer_property_vs_slow_reference(pairs):
    s = np.array([p[0] / 6 for p in pairs])
    y = np.array([int(p[1]) for p in pairs])
    if y.min() == y.max():
        return
    value, threshold = M.eer(s, y)
    ref_value, ref_threshold = _ref_eer(s, y)
    assert value == pytest.approx(ref_value, abs=1e-15)
    assert threshold == ref_threshold


def _lineage_reference(s, y):
    fpr, tpr, thr = sklearn_metrics.roc_curve(y, s, pos_label=1)  # drop_intermediate=True
    i = np.argmin(np.abs(tpr + fpr - 1))
    return (fpr[i] + (1 - tpr[i])) / 2, thr[i]


@pytest.mark.parametrize("case", CASE_IDS)
def test_hter_lineage_matches_sklearn_recipe(case):
    s, y = CASES[case]
    value, threshold = M.hter_lineage(s, y)
    ref_value, ref_threshold = _lineage_reference(s, y)
    assert value == pytest.approx(ref_value, abs=1e-12)
    assert threshold == ref_threshold


def test_hter_lineage_can_skip_the_eer_point():
    # bona fide 1.0, 0.9, 0.0 (P=3); attacks 0.8, 0.6, 0.4, 0.2 (N=4).  ROC points (fp, tp):
    # (0,0) (0,1) (0,2) (1,2) (2,2) (3,2) (4,2) (4,3).
    # Full sweep (bob): |FAR-FRR| is 1/12 at (1,2) (t=0.85: FAR 1/4, FRR 1/3), the minimum
    #   -> EER = (1/4 + 1/3)/2 = 7/24.
    # sklearn's drop_intermediate keeps only (0,1) (0,2) (4,2) (4,3) (+ origin): the points on
    #   the horizontal run tp=2 go, and |tpr+fpr-1| is smallest (1/3) at (0,2)
    #   -> lineage HTER = (0 + 1/3)/2 = 1/6, a different number from the same scores.
    s = np.array([1.0, 0.0, 0.9, 0.2, 0.4, 0.6, 0.8])
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    assert M.eer(s, y)[0] == pytest.approx(7 / 24)
    value, _ = M.hter_lineage(s, y)
    assert value == pytest.approx(_lineage_reference(s, y)[0], abs=1e-15)
    assert value == pytest.approx(1 / 6)


def test_hter_at_fixed_threshold():
    s = np.array([0.9, 0.7, 0.4, 0.8, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    # t = 0.5: attacks accepted {0.8} -> FAR 1/4; bona fide rejected {0.4} -> FRR 1/3
    assert M.hter(s, y, M.DEFAULT_THRESHOLD) == pytest.approx(7 / 24)
    # score exactly on the threshold is accepted: t = 0.8 accepts the 0.8 attack
    assert M.hter(s, y, 0.8) == pytest.approx((1 / 4 + 2 / 3) / 2)


# ----------------------------------------------------------------------------- TPR@FPR
@pytest.mark.parametrize("case", CASE_IDS)
@pytest.mark.parametrize("target", [0.0, 1e-3, 1e-2, 0.1, 0.5, 1.0])
def test_tpr_at_fpr_brute_force(case, target):
    s, y = CASES[case]
    tpr, fpr, thr = M.operating_point_at_fpr(s, y, target)
    assert fpr <= target
    assert tpr == _brute_tpr_at_fpr(s, y, target)
    assert _rates_at(s, y, thr) == (fpr, tpr)  # the threshold realises the point
    assert M.tpr_at_fpr(s, y, target) == tpr


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.booleans()), min_size=2, max_size=30),
       st.floats(0.0, 1.0))
def test_tpr_at_fpr_property(pairs, target):
    s = np.array([float(p[0]) for p in pairs])
    y = np.array([int(p[1]) for p in pairs])
    if y.min() == y.max():
        return
    tpr, fpr, thr = M.operating_point_at_fpr(s, y, target)
    assert fpr <= target  # never above the target
    assert tpr == _brute_tpr_at_fpr(s, y, target)  # and nothing feasible does better
    assert _rates_at(s, y, thr) == (fpr, tpr)


def test_roc_metrics_equal_single_functions():
    for case in CASE_IDS:
        s, y = CASES[case]
        out = M.roc_metrics(s, y)
        assert out["auc"] == M.auc(s, y)
        assert (out["eer"], out["eer_threshold"]) == M.eer(s, y)
        assert out["hter_test_eer"] == pytest.approx(M.hter(s, y, M.threshold_at_eer(s, y)), abs=1e-15)
        assert out["tpr_at_fpr=0.01"] == M.tpr_at_fpr(s, y, 1e-2)
        assert out["tpr_at_fpr=0.001"] == M.tpr_at_fpr(s, y, 1e-3)


# ----------------------------------------------------------------------------- ISO/IEC 30107-3
# bona fide: 0.9, 0.8, 0.45, 0.3; print: 0.7, 0.4, 0.2; replay: 0.6, 0.55; mask: 0.35, 0.2, 0.1, 0.05
ISO_S = np.array([0.9, 0.8, 0.45, 0.3, 0.7, 0.4, 0.2, 0.6, 0.55, 0.35, 0.2, 0.1, 0.05])
ISO_Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
ISO_T = np.array(["bf"] * 4 + ["print"] * 3 + ["replay"] * 2 + ["mask"] * 4)


def test_apcer_bpcer_acer_hand_worked():
    # t = 0.5: print accepts {0.7} -> 1/3; replay {0.6, 0.55} -> 2/2; mask none -> 0; APCER = 1.
    # bona fide rejected {0.45, 0.3} -> BPCER 2/4; ACER (1 + 0.5)/2 = 0.75.
    value, per_type = M.apcer(ISO_S, ISO_Y, ISO_T, 0.5)
    assert value == 1.0
    assert per_type == {"mask": 0.0, "print": pytest.approx(1 / 3), "replay": 1.0}
    assert M.bpcer(ISO_S, ISO_Y, 0.5) == 0.5
    assert M.acer(ISO_S, ISO_Y, ISO_T, 0.5) == 0.75
    # t = 0.4 (on a print score: accepted): print {0.7, 0.4} -> 2/3; mask 0; BPCER {0.3} -> 1/4
    value, per_type = M.apcer(ISO_S, ISO_Y, ISO_T, 0.4)
    assert per_type["print"] == pytest.approx(2 / 3) and per_type["mask"] == 0.0
    assert M.bpcer(ISO_S, ISO_Y, 0.4) == 0.25
    assert M.acer(ISO_S, ISO_Y, ISO_T, 0.4) == pytest.approx((1 + 0.25) / 2)


def test_bpcer_at_apcer_hand_worked():
    # target 0.5: print may accept 1 of 3 -> its 2nd highest (0.4) must be rejected; replay 1 of 2
    # -> 0.55 rejected; mask 2 of 4 -> 0.1 rejected.  Lowest feasible: accept > 0.55, threshold
    # (0.55 + 0.6)/2 = 0.575; bona fide rejected {0.45, 0.3} -> BPCER 0.5.
    value, threshold = M.bpcer_at_apcer(ISO_S, ISO_Y, ISO_T, 0.5)
    assert value == 0.5 and threshold == pytest.approx(0.575)
    assert M.apcer(ISO_S, ISO_Y, ISO_T, threshold)[0] <= 0.5
    # target 0 (no attack may pass): accept > 0.7 -> BPCER 2/4
    assert M.bpcer_at_apcer(ISO_S, ISO_Y, ISO_T, 0.0) == (0.5, pytest.approx(0.75))
    # target 1: nothing constrained -> accept all
    assert M.bpcer_at_apcer(ISO_S, ISO_Y, ISO_T, 1.0) == (0.0, 0.05)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), min_size=2, max_size=25),
       st.sampled_from([0.0, 0.05, 0.2, 1 / 3, 0.5, 1.0]))
def test_bpcer_at_apcer_property(rows, target):
    s = np.array([float(r[0]) for r in rows])
    y = np.array([int(r[1] == 0) for r in rows])  # type 0 = bona fide, 1..3 attack types
    types = np.array([f"pai{r[1]}" for r in rows])
    if y.min() == y.max():
        return
    value, threshold = M.bpcer_at_apcer(s, y, types, target)
    best = min(M.bpcer(s, y, t) for t in list(np.unique(s)) + [np.inf]
               if M.apcer(s, y, types, t)[0] <= target)
    assert value == best
    assert M.apcer(s, y, types, threshold)[0] <= target
    assert M.bpcer(s, y, threshold) == value


# ----------------------------------------------------------------------------- degenerate input
@pytest.mark.parametrize("fn", [M.auc, M.eer, M.roc_metrics, M.hter_lineage,
                                lambda s, y, **k: M.hter(s, y, 0.5, **k),
                                lambda s, y, **k: M.tpr_at_fpr(s, y, 0.01, **k)])
def test_single_class_raises_and_nan_opt_out(fn):
    s, y = np.linspace(0, 1, 412), np.ones(412, int)
    with pytest.raises(ValueError, match=r"labels contain only class 1 \(n=412\)"):
        fn(s, y)
    out = fn(s, y, on_degenerate="nan")
    values = list(out.values()) if isinstance(out, dict) else np.atleast_1d(out)
    assert np.all(np.isnan(values))


def test_degenerate_messages():
    with pytest.raises(ValueError, match=r"auc: labels contain only class 0 \(n=3\); AUC undefined"):
        M.auc([0.1, 0.2, 0.3], [0, 0, 0])
    with pytest.raises(ValueError, match=r"eer: scores and labels are empty \(n=0\); EER undefined"):
        M.eer([], [])
    with pytest.raises(ValueError, match=r"auc: scores contain 1 NaN value\(s\) \(first at index 1"):
        M.auc([0.1, np.nan, 0.3], [0, 1, 1])
    assert np.isnan(M.auc([0.1, np.nan, 0.3], [0, 1, 1], on_degenerate="nan"))
    assert np.isnan(M.eer([], [], on_degenerate="nan")[0])
    with pytest.raises(ValueError, match=r"bpcer: labels contain no bona fide"):
        M.bpcer([0.1], [0], 0.5)
    with pytest.raises(ValueError, match=r"apcer: labels contain no attack"):
        M.apcer([0.1], [1], ["x"], 0.5)
    assert np.isnan(M.bpcer_at_apcer([0.1], [1], ["x"], on_degenerate="nan")[0])
    assert np.isnan(M.acer([0.1], [1], ["x"], 0.5, on_degenerate="nan"))
    value, per_type = M.apcer([0.1], [1], ["x"], 0.5, on_degenerate="nan")
    assert np.isnan(value) and per_type == {}
    # APCER needs attacks only, BPCER bona fide only
    assert M.apcer([0.1, 0.7], [0, 0], ["a", "b"], 0.5) == (1.0, {"a": 0.0, "b": 1.0})
    assert M.bpcer([0.1, 0.7], [1, 1], 0.5) == 0.5


def test_misuse_always_raises():
    with pytest.raises(ValueError,
                       match=r"labels must be 0 \(attack\) or 1 \(bona fide\), got 2 other value\(s\): -1, 2"):
        M.auc([0.1, 0.2, 0.3, 0.4], [0, 1, 2, -1], on_degenerate="nan")
    with pytest.raises(ValueError, match=r"same length, got 3 scores and 2 labels"):
        M.auc([0.1, 0.2, 0.3], [0, 1], on_degenerate="nan")
    with pytest.raises(ValueError, match=r"scores must be 1-D, got shape \(2, 2\)"):
        M.eer(np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match=r"on_degenerate must be one of"):
        M.auc([0.1, 0.2], [0, 1], on_degenerate="ignore")
    with pytest.raises(ValueError, match=r"fpr must be a fraction in \[0, 1\], got 1.5"):
        M.tpr_at_fpr([0.1, 0.2], [0, 1], 1.5)
    with pytest.raises(ValueError, match=r"threshold must be a number, got NaN"):
        M.hter([0.1, 0.2], [0, 1], float("nan"))
    with pytest.raises(ValueError, match=r"attack_types must be 1-D with one entry per score"):
        M.apcer([0.1, 0.2], [0, 1], ["a"], 0.5)


def test_boolean_and_float_labels_accepted():
    s, y = CASES["random"]
    assert M.auc(s, y.astype(bool)) == M.auc(s, y) == M.auc(s, y.astype(np.float32))


# ----------------------------------------------------------------------------- dtypes and torch
def test_torch_and_numpy_agree():
    s, y = CASES["random-ties-across-classes"]
    st_, yt = torch.tensor(s), torch.tensor(y)
    assert M.auc(st_, yt) == M.auc(s, y)
    assert M.eer(st_, yt) == M.eer(s, y)
    assert M.roc_metrics(st_, yt) == M.roc_metrics(s, y)
    assert M.hter(st_, yt, 0.3) == M.hter(s, y, 0.3)
    types = np.where(y == 1, "bf", np.where(np.arange(y.size) % 2, "a", "b"))
    assert M.bpcer_at_apcer(st_, yt, types, 0.05) == M.bpcer_at_apcer(s, y, types, 0.05)
    assert M.apcer(st_, yt, types, 0.3) == M.apcer(s, y, types, 0.3)
    # float16 / bfloat16 tensors and boolean labels work too
    assert M.auc(torch.tensor(s, dtype=torch.bfloat16), yt.bool()) == M.auc(
        torch.tensor(s, dtype=torch.bfloat16).double().numpy(), y)


def test_float32_vs_float64():
    s, y = CASES["random"]
    s32 = s.astype(np.float32)
    # float32 values are compared exactly in float64: same numbers as the upcast array
    assert M.roc_metrics(s32, y) == M.roc_metrics(s32.astype(np.float64), y)
    assert M.roc_metrics(torch.tensor(s32), torch.tensor(y)) == M.roc_metrics(s32.astype(np.float64), y)
    # and the same ranking as float64 here (no new ties), so AUC/EER agree
    assert M.auc(s32, y) == M.auc(s, y)
    assert M.eer(s32, y)[0] == M.eer(s, y)[0]


# ----------------------------------------------------------------------------- metric table
def test_metric_table_has_declared_directions():
    expected = {"auc": "max", "eer": "min", "hter_val": "min", "hter_test_eer": "min", "hter_05": "min",
                "tpr_at_fpr_1": "max", "tpr_at_fpr_01": "max", "apcer": "min", "bpcer": "min",
                "acer": "min", "bpcer20": "min", "bpcer20_val": "min"}
    assert {k: v.direction for k, v in M.METRICS.items()} == expected
    for spec in M.METRICS.values():
        assert spec.unit == "fraction" and spec.bounds == (0.0, 1.0) and spec.description
    assert "threshold at target test EER (lineage)" in M.METRICS["hter_test_eer"].description
