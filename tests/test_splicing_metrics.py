"""Splicing metrics: pixel metrics from 8-bit masks against scikit-learn, hand-worked cases,
undefined cases, pooled / padded / batched equivalences, image-level metrics, the shared
thresholded counts in harness.binary."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from harness import binary
from harness.families.splicing import metrics as M

skm = pytest.importorskip("sklearn.metrics")

LEVELS_WITH_TIES = np.array([0, 1, 60, 127, 128, 129, 200, 254, 255], dtype=np.uint8)


def _masks(seed: int, b: int = 6, h: int = 23, w: int = 31):
    """Random masks: predictions drawn from 9 levels (many ties, both sides of 128), GT correlated
    with them, prevalence varying per image."""
    rng = np.random.default_rng(seed)
    gt = np.stack([rng.random((h, w)) < p for p in np.linspace(0.05, 0.6, b)])
    shift = np.where(gt, 3, 0) + rng.integers(0, 6, (b, h, w))
    pred = LEVELS_WITH_TIES[np.clip(shift, 0, 8)]
    return torch.from_numpy(pred), torch.from_numpy(gt)


def _per_image(pred, gt):
    pos, neg = M.pixel_histograms(pred, gt)
    return pos, neg, {"f1": M.f1(pos, neg), "iou": M.iou(pos, neg), "mcc": M.mcc(pos, neg), "auc": M.auc(pos, neg)}


# ----------------------------------------------------------------------------- against scikit-learn
@pytest.mark.parametrize("seed", range(4))
def test_per_image_metrics_match_sklearn(seed):
    pred, gt = _masks(seed)
    _, _, got = _per_image(pred, gt)
    for k in range(pred.shape[0]):
        y, v = gt[k].numpy().ravel(), pred[k].numpy().ravel()
        hard = v >= 128
        assert got["f1"][k].item() == pytest.approx(skm.f1_score(y, hard), abs=1e-12)
        assert got["iou"][k].item() == pytest.approx(skm.jaccard_score(y, hard), abs=1e-12)
        assert got["mcc"][k].item() == pytest.approx(skm.matthews_corrcoef(y, hard), abs=1e-12)
        assert got["auc"][k].item() == pytest.approx(skm.roc_auc_score(y, v), abs=1e-12)


def test_counts_match_confusion_matrix():
    pred, gt = _masks(7, b=3)
    tp, fp, fn, tn = M.counts(*M.pixel_histograms(pred, gt))
    for k in range(3):
        cm = skm.confusion_matrix(gt[k].numpy().ravel(), pred[k].numpy().ravel() >= 128, labels=[0, 1])
        assert (tn[k].item(), fp[k].item(), fn[k].item(), tp[k].item()) == tuple(cm.ravel())


def test_threshold_is_128_inclusive():
    # levels 127 and 128 straddle p = 0.5: 128 is tampered, 127 is not
    pred = torch.tensor([[127, 128]], dtype=torch.uint8)
    gt = torch.tensor([[False, True]])
    pos, neg = M.pixel_histograms(pred, gt)
    assert [c.item() for c in M.counts(pos, neg)] == [1, 0, 0, 1]
    assert M.f1(pos, neg).item() == 1.0


# ----------------------------------------------------------------------------- hand-worked
def test_hand_worked_2x3():
    # pred levels      GT (1 = tampered)     decision v >= 128
    #   200  128  127    1  1  0               T  T  F
    #    0   128  255    0  1  0               F  T  T
    # TP = 3 (200, 128, 128), FP = 1 (255), FN = 0, TN = 2 (127, 0)
    pred = torch.tensor([[200, 128, 127], [0, 128, 255]], dtype=torch.uint8)
    gt = torch.tensor([[1, 1, 0], [0, 1, 0]], dtype=torch.bool)
    pos, neg, got = _per_image(pred, gt)
    assert [c.item() for c in M.counts(pos, neg)] == [3, 1, 0, 2]
    assert got["f1"].item() == 6 / 7  # 2·3 / (2·3 + 1 + 0)
    assert got["iou"].item() == 3 / 4  # 3 / (3 + 1 + 0)
    # MCC = (3·2 − 1·0) / √((3+1)(3+0)(2+1)(2+0)) = 6 / √72
    assert got["mcc"].item() == pytest.approx(6 / math.sqrt(72), abs=1e-15)
    # AUC: tampered levels {200, 128, 128} vs authentic {127, 0, 255}: each tampered pixel beats
    # 127 and 0 and loses to 255 -> 3·2 wins of 9 pairs = 2/3
    assert got["auc"].item() == pytest.approx(2 / 3, abs=1e-15)
    best, level = M.oracle_f1(pos, neg)
    # F1(t) = 2TP / (P + TP + FP) with P = 3: t = 201..256 -> TP 0: 0; t = 129..200 -> TP 1, FP 1
    # (255): 2/5; t = 128 -> TP 3, FP 1: 6/7; t = 1..127 adds the authentic 127: 6/8; t = 0: 6/9.
    assert best.item() == 6 / 7 and level.item() == 128


def test_auc_ties_count_half():
    # tampered {128, 128}, authentic {128, 0}: pairs (128,128) tie twice -> 1, (128,0) win twice -> 2
    # AUC = (2 + ½·2) / 4 = 0.75
    pred = torch.tensor([[128, 128, 128, 0]], dtype=torch.uint8)
    gt = torch.tensor([[True, True, False, False]])
    assert M.auc(*M.pixel_histograms(pred, gt)).item() == 0.75


# ----------------------------------------------------------------------------- undefined cases
def test_empty_mask_is_nan_not_zero():
    pred = torch.tensor([[[0, 200], [10, 255]]], dtype=torch.uint8)
    gt = torch.zeros((1, 2, 2), dtype=torch.bool)
    pos, neg, got = _per_image(pred, gt)
    for name, v in got.items():
        assert math.isnan(v.item()), name
    best, level = M.oracle_f1(pos, neg)
    assert math.isnan(best.item()) and level.item() == -1
    # IMDL-BenCo (and sklearn's default zero_division) would give 0 here
    assert skm.f1_score(gt.numpy().ravel(), pred.numpy().ravel() >= 128, zero_division=0) == 0


def test_all_tampered_mask_auc_and_mcc_nan_f1_defined():
    pred = torch.tensor([[[0, 200], [130, 255]]], dtype=torch.uint8)
    gt = torch.ones((1, 2, 2), dtype=torch.bool)
    _, _, got = _per_image(pred, gt)
    assert math.isnan(got["auc"].item()) and math.isnan(got["mcc"].item())
    assert got["f1"].item() == 6 / 7  # TP 3, FN 1: 6 / (6 + 1)
    assert got["iou"].item() == 3 / 4


def test_mcc_constant_prediction_nan_where_sklearn_gives_zero():
    pred = torch.full((1, 3, 3), 10, dtype=torch.uint8)  # nothing predicted tampered: TP + FP = 0
    gt = torch.zeros((1, 3, 3), dtype=torch.bool)
    gt[0, 0, :2] = True
    pos, neg = M.pixel_histograms(pred, gt)
    assert skm.matthews_corrcoef(gt.numpy().ravel(), pred.numpy().ravel() >= 128) == 0.0
    assert math.isnan(M.mcc(pos, neg).item())
    assert M.f1(pos, neg).item() == 0.0  # TP 0, FN 2: a real failure, not undefined
    # the leaderboard value scores the constant prediction as 0 instead of leaving the image out
    acc = M.PixelAccumulator()
    acc.update(pred, gt)
    assert acc.compute()["pixel_mcc"][0] == 0.0


# ----------------------------------------------------------------------------- oracle
@pytest.mark.parametrize("seed", range(3))
def test_oracle_f1_is_brute_force_max(seed):
    pred, gt = _masks(seed, b=5)
    pos, neg = M.pixel_histograms(pred, gt)
    best, level = M.oracle_f1(pos, neg)
    fixed = M.f1(pos, neg)
    for k in range(5):
        y, v = gt[k].numpy().ravel(), pred[k].numpy().ravel()
        per_t = [skm.f1_score(y, v >= t, zero_division=0.0) for t in range(257)]
        assert best[k].item() == pytest.approx(max(per_t), abs=1e-12)
        assert best[k].item() >= fixed[k].item()
        assert per_t[level[k].item()] == pytest.approx(best[k].item(), abs=1e-12)
        assert level[k].item() == int(np.argmax(np.isclose(per_t, max(per_t), rtol=0, atol=1e-12)))


# ----------------------------------------------------------------------------- pooled
def test_pooled_match_sklearn_on_concatenated_pixels():
    pred, gt = _masks(11, b=5)
    pos, neg = M.pixel_histograms(pred, gt)
    y, v = gt.numpy().ravel(), pred.numpy().ravel()
    hard = v >= 128
    assert M.pooled_f1(pos, neg) == pytest.approx(skm.f1_score(y, hard), abs=1e-12)
    assert M.pooled_iou(pos, neg) == pytest.approx(skm.jaccard_score(y, hard), abs=1e-12)
    assert M.pooled_mcc(pos, neg) == pytest.approx(skm.matthews_corrcoef(y, hard), abs=1e-12)
    assert M.pooled_auc(pos, neg) == pytest.approx(skm.roc_auc_score(y, v), abs=1e-12)
    free = {"pixel_f1_pooled": M.pooled_f1, "pixel_iou_pooled": M.pooled_iou,
            "pixel_mcc_pooled": M.pooled_mcc, "pixel_auc_pooled": M.pooled_auc}
    for name, fn in free.items():  # every row has a tampered pixel: pooled() uses them all
        assert M.pooled(name, pos, neg) == fn(pos, neg)


def test_pooled_leaves_out_empty_masks_and_accepts_summed_rows():
    pred, gt = _masks(12, b=3)
    gt[1] = False  # an authentic image: its predicted pixels are not pooled
    pos, neg = M.pixel_histograms(pred, gt)
    keep = [0, 2]
    y, v = gt[keep].numpy().ravel(), pred[keep].numpy().ravel()
    assert M.pooled("pixel_f1_pooled", pos, neg) == pytest.approx(skm.f1_score(y, v >= 128), abs=1e-12)
    assert M.pooled("pixel_auc_pooled", pos, neg) == pytest.approx(skm.roc_auc_score(y, v), abs=1e-12)
    summed = M.pooled("pixel_iou_pooled", pos[keep].sum(0).numpy(), neg[keep].sum(0).numpy())
    assert summed == pytest.approx(skm.jaccard_score(y, v >= 128), abs=1e-12)


def test_huge_counts_stay_exact():
    # 2**40 pixels per level: int64 products could overflow, so the float64 path must be taken
    big = 2**40
    pos = torch.zeros((1, 256), dtype=torch.int64)
    neg = torch.zeros((1, 256), dtype=torch.int64)
    pos[0, 200], pos[0, 100] = 3 * big, big
    neg[0, 200], neg[0, 50] = big, 5 * big
    # AUC = (3·(5 + ½·1) + 1·5) / (4·6) = 21.5 / 24
    assert M.auc(pos, neg).item() == pytest.approx(21.5 / 24, rel=1e-15)
    # MCC with TP 3, FP 1, FN 1, TN 5 (scaled by 2**40 cancels): (15 − 1) / √(4·4·6·6) = 14 / 24
    assert M.mcc(pos, neg).item() == pytest.approx(14 / 24, rel=1e-14)
    assert M.f1(pos, neg).item() == float(Fraction(6, 8))


# ----------------------------------------------------------------------------- padding and batching
def test_valid_padding_gives_unpadded_numbers():
    sizes = [(7, 9), (12, 5), (3, 3)]
    rng = np.random.default_rng(5)
    preds = [torch.from_numpy(rng.choice(LEVELS_WITH_TIES, s)) for s in sizes]
    gts = [torch.from_numpy(rng.random(s) < 0.4) for s in sizes]
    h, w = 12, 9
    pred = torch.full((3, h, w), 255, dtype=torch.uint8)  # padding holds junk that must not count
    gt = torch.ones((3, h, w), dtype=torch.bool)
    valid = torch.zeros((3, h, w), dtype=torch.bool)
    for k, (p, g) in enumerate(zip(preds, gts)):
        pred[k, : p.shape[0], : p.shape[1]], gt[k, : g.shape[0], : g.shape[1]] = p, g
        valid[k, : p.shape[0], : p.shape[1]] = True
    pos, neg = M.pixel_histograms(pred, gt, valid)
    for k, (p, g) in enumerate(zip(preds, gts)):
        p1, n1 = M.pixel_histograms(p, g)  # one (H, W) mask
        assert torch.equal(pos[k], p1[0]) and torch.equal(neg[k], n1[0])


def test_accumulator_over_batches_equals_one_shot():
    pred, gt = _masks(21, b=10)
    gt[3] = False  # an empty mask among them
    one = M.PixelAccumulator()
    one.update(pred, gt)
    many = M.PixelAccumulator()
    for start in (0, 4, 7):
        many.update(pred[start:start + {0: 4, 4: 3, 7: 3}[start]], gt[start:start + {0: 4, 4: 3, 7: 3}[start]])
    a, b = one.compute(), many.compute()
    assert len(many) == 10 and a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert np.isnan(a["pixel_f1"][3]) and a["oracle_level"][3] == -1
    for name in M.PER_IMAGE:
        assert a[name].shape == (10,) and a[name].dtype == np.float64
    assert a["pos_hist"].shape == (10, 256)
    # per-image F1 of the accumulator is the free function's
    np.testing.assert_array_equal(a["pixel_f1"], M.f1(*M.pixel_histograms(pred, gt)).numpy())
    summary = M.pixel_summary(a["pos_hist"], a["neg_hist"])
    assert summary["pixel_f1"] == pytest.approx(np.nanmean(a["pixel_f1"]), abs=1e-15)
    assert summary["pixel_f1_pooled"] == a["pixel_f1_pooled"]


def test_empty_accumulator():
    out = M.PixelAccumulator().compute()
    assert out["pixel_f1"].shape == (0,) and math.isnan(out["pixel_f1_pooled"])


def test_histogram_input_checks():
    gt = torch.zeros((1, 2, 2), dtype=torch.bool)
    with pytest.raises(ValueError, match="uint8"):
        M.pixel_histograms(torch.zeros((1, 2, 2), dtype=torch.float32), gt)
    with pytest.raises(ValueError, match="gt must be bool"):
        M.pixel_histograms(torch.zeros((1, 2, 2), dtype=torch.uint8), gt.to(torch.uint8))
    with pytest.raises(ValueError, match="shape"):
        M.pixel_histograms(torch.zeros((1, 2, 3), dtype=torch.uint8), gt)
    with pytest.raises(ValueError, match="histograms"):
        M.f1(torch.zeros((1, 255), dtype=torch.int64), torch.zeros((1, 255), dtype=torch.int64))


# ----------------------------------------------------------------------------- image level
def _image_data(seed: int, n: int = 200):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    s = np.round(np.clip(0.35 * y + rng.random(n) * 0.7, 0, 1), 1)  # many ties, some exactly 0.5
    return s, y


@pytest.mark.parametrize("seed", range(3))
def test_image_metrics_match_sklearn(seed):
    s, y = _image_data(seed)
    hard = s > 0.5  # IMDL-BenCo's rule: exactly 0.5 is authentic
    got = M.image_metrics(s, y)
    assert got["image_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert got["image_accuracy"] == pytest.approx(skm.accuracy_score(y, hard), abs=1e-12)
    assert got["image_f1"] == pytest.approx(skm.f1_score(y, hard), abs=1e-12)
    assert got["image_balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, hard), abs=1e-12)
    for name, value in got.items():
        assert M.image_metric(name, s, y) == value
        assert getattr(M, name)(s, y) == value


def test_image_metrics_one_class():
    s, y = np.array([0.2, 0.7, 0.5]), np.array([1, 1, 1])
    got = M.image_metrics(s, y)
    assert math.isnan(got["image_auc"]) and math.isnan(got["image_balanced_accuracy"])
    assert got["image_accuracy"] == pytest.approx(skm.accuracy_score(y, s > 0.5))  # 1/3: 0.5 is authentic
    assert got["image_f1"] == pytest.approx(skm.f1_score(y, s > 0.5))  # 2·1 / (2·1 + 0 + 2) = 0.5
    assert M.undefined_reason("image_auc", s, y) == "the test set has one class only (n=3, all tampered)"
    assert M.undefined_reason("image_accuracy", s, y) is None
    # all authentic and none predicted tampered: F1 is 0/0
    s0, y0 = np.array([0.1, 0.2]), np.array([0, 0])
    assert math.isnan(M.image_f1(s0, y0))
    assert M.undefined_reason("image_f1", s0, y0) == (
        "F1 is 0/0: no tampered images in the test set and none predicted tampered (n=2)")
    assert "outside [0, 1]" in M.undefined_reason("image_accuracy", np.array([1.5, 0.2]), np.array([1, 0]))


# ----------------------------------------------------------------------------- registry and reasons
def test_metric_specs():
    assert set(M.METRICS) == {*M.PER_IMAGE, *M.POOLED, *M.IMAGE_METRICS}
    assert len(M.METRICS) == 13
    for spec in M.METRICS.values():
        assert spec.direction == "max"
        assert spec.bounds == ((-1.0, 1.0) if "mcc" in spec.name else (0.0, 1.0))
        assert spec.ranked == (spec.name != "pixel_f1_oracle")
    assert "oracle" in M.METRICS["pixel_f1_oracle"].description


def test_pixel_undefined_reasons():
    pos = torch.zeros((2, 256), dtype=torch.int64)
    neg = torch.zeros((2, 256), dtype=torch.int64)
    neg[:, 3] = 10
    assert M.undefined_reason("pixel_f1", pos, neg) == "no tampered image with a non-empty mask"
    assert M.undefined_reason("pixel_f1_pooled", None, None) == "no tampered image with a non-empty mask"
    pos[0, 200], neg[0] = 4, 0  # image 0: the mask covers the whole image
    assert M.undefined_reason("pixel_f1", pos, neg) is None
    assert "both tampered and authentic" in M.undefined_reason("pixel_auc", pos, neg)
    assert "cover every pixel" in M.undefined_reason("pixel_mcc_pooled", pos, neg)
    assert math.isnan(M.pooled("pixel_auc_pooled", pos, neg))
    assert M.pooled("pixel_f1_pooled", pos, neg) == 1.0
    with pytest.raises(ValueError, match="unknown"):
        M.undefined_reason("nope")


# ----------------------------------------------------------------------------- shared counting
def test_binary_counts_and_evaluation():
    c = binary.Counts(tp=3, fp=1, fn=2, tn=4)
    assert c.n == 10 and c.accuracy() == 0.7 and c.error_rate() == pytest.approx(0.3)
    assert c.f1() == 6 / 9 and c.f1(positive=0) == 8 / 11  # 2·4 / (2·4 + 2 + 1)
    assert c.balanced_accuracy() == (3 / 5 + 4 / 5) / 2
    assert c.swapped().swapped() == c
    assert math.isnan(binary.Counts(0, 0, 0, 5).f1()) and math.isnan(binary.Counts(0, 0, 0, 5).balanced_accuracy())
    ev = binary.Evaluation("f", np.array([0.9, 0.5, 0.2]), np.array([1, 0, 0]), 0.5, ("no", "yes"), items="cats")
    assert ev.counts == binary.Counts(1, 1, 0, 1)
    assert ev.get("f1") == 2 / 3 and ev.get("f1", positive=0) == 2 / 3
    assert ev.reason("auc") is None and ev.get("auc") == 1.0
    with pytest.raises(ValueError, match="unknown metric kind"):
        ev.value("nope")
