"""The shared binary-classification core (harness.binary): class names, sweep, AUC/EER against sklearn."""
from __future__ import annotations

import math

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
