"""The shared binary-classification core (harness.binary): class names, sweep, AUC/EER against sklearn."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from harness import binary
from harness.families.fas import metrics as fas

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _random(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(300) < 0.4).astype(int)
    y[:2] = [0, 1]
    return np.round(rng.normal(size=300) + y, 1), y


def test_class_names_only_word_the_messages():
    with pytest.raises(ValueError, match=r"labels must be 0 \(negative\) or 1 \(positive\)"):
        binary.auc([0.1, 0.2], [0, 3])
    with pytest.raises(ValueError, match=r"labels must be 0 \(cat\) or 1 \(dog\)"):
        binary.eer([0.1, 0.2], [0, 3], names=("cat", "dog"))
    with pytest.raises(ValueError, match=r"^auc: labels contain only class 1 \(n=2\); AUC undefined$"):
        binary.auc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match=r"labels contain no dog samples \(class 1\)"):
        binary.prepare("f", "F", [0.1], [0], "raise", need=(1,), names=("cat", "dog"))
    assert binary.prepare("f", "F", [0.1], [0], "nan", need=(1,)) is None


@pytest.mark.parametrize("seed", [0, 1])
def test_core_equals_sklearn_and_serves_fas(seed):
    s, y = _random(seed)
    thr, fpr, tpr = binary.roc_points(s, y)
    fpr_ref, tpr_ref, thr_ref = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_array_equal(thr, thr_ref[1:])
    np.testing.assert_allclose(fpr, fpr_ref[1:], rtol=0, atol=1e-15)
    np.testing.assert_allclose(tpr, tpr_ref[1:], rtol=0, atol=1e-15)
    assert binary.auc(s, y) == pytest.approx(sklearn_metrics.roc_auc_score(y, s), abs=1e-12)
    sw = binary.Sweep(s.astype(float), y.astype(bool))
    assert binary.auc_of(sw) == binary.auc(s, y) == fas.auc(s, y)
    assert binary.eer_of(sw) == binary.eer(s, y) == fas.eer(s, y)


def test_validate_and_degenerate_reason():
    s, y = binary.validate("f", [1, 2], [True, False])
    assert s.dtype == np.float64 and y.tolist() == [True, False]
    assert binary.degenerate_reason(np.array([]), np.array([], bool)) == "scores and labels are empty (n=0)"
    assert binary.degenerate_reason(np.array([1.0]), np.array([True]), need=()) is None
    assert math.isnan(binary.auc([], [], on_degenerate="nan"))
    assert all(math.isnan(v) for v in binary.eer([1.0], [1], on_degenerate="nan"))


def bob_eer_threshold(neg, pos):
    """bob.measure's eer_threshold, restated: an ascending walk over the sorted scores of both classes."""
    neg, pos = np.sort(neg), np.sort(pos)
    i = j = 0                       # next unconsumed negative / positive
    fa, fr = len(neg), 0            # negatives accepted, positives rejected (as counts, exact)
    crit = lambda: abs(Fraction(fa, len(neg)) - Fraction(fr, len(pos)))
    best, best_t = None, None
    t = min(neg[0], pos[0])
    while i < len(neg) and j < len(pos):
        if best is None or crit() <= best:
            best, best_t = crit(), t
        t = neg[i] if pos[j] >= neg[i] else pos[j]
        while i < len(neg) and neg[i] == t:
            i += 1; fa -= 1
        while j < len(pos) and pos[j] == t:
            j += 1; fr += 1
        if i < len(neg) or j < len(pos):
            nxt = min(neg[i] if i < len(neg) else np.inf, pos[j] if j < len(pos) else np.inf)
            t = (t + nxt) / 2
    if crit() < best:               # the point where the first list ran out: strict
        best, best_t = crit(), t
    if (i < len(neg) or j < len(pos)) and abs(Fraction(0) - Fraction(1)) < best:  # above every score: strict
        best_t = float(np.nextafter((neg if i < len(neg) else pos)[-1], np.inf))
    return best_t


def test_eer_and_bobs_walk_find_the_same_minimum_and_part_only_where_the_docstring_says():
    """bob.measure's eer_threshold (restated above from its brute_force module): both sweeps reach
    the same smallest |FAR - FRR|; the EER differs only on a tie at the point where bob's first
    sorted list runs out (or above every score), compared there with a strict <: bob keeps the
    lower threshold, the harness the higher one, which rejects every positive or accepts no
    negative."""
    rng = np.random.default_rng(0)
    parted = 0
    for _ in range(600):
        n = int(rng.integers(2, 8))
        y = rng.integers(0, 2, n)
        if y.min() == y.max():
            continue
        s = rng.integers(0, 6, n) / 5
        neg, pos = s[y == 0], s[y == 1]
        value, t = binary.eer(s, y)
        t_bob = bob_eer_threshold(neg, pos)

        def crit(t):
            return abs(Fraction(int((neg >= t).sum()), len(neg)) - Fraction(int((pos < t).sum()), len(pos)))

        assert crit(t) == crit(t_bob) and t >= t_bob
        if value != ((neg >= t_bob).mean() + (pos < t_bob).mean()) / 2:
            parted += 1
            assert (neg >= t).sum() == 0 or (pos < t).sum() == len(pos)
    assert parted  # the departure is real, and only of that kind
    # the smallest such case: one negative between two positives
    s, y = np.array([0.6, 0.4, 0.8]), np.array([0, 1, 1])
    assert binary.eer(s, y) == (0.25, 0.7) and bob_eer_threshold(s[y == 0], s[y == 1]) == 0.5  # bob: EER 0.75
