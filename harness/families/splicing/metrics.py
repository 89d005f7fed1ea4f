"""Splicing metrics: pixel localisation from 8-bit masks, image-level detection (reference
``splicing_iqa.md`` §2.3–§2.5).

The 0.5 rule (IMDL-BenCo's ``pred > 0.5``, for pixels and images alike): a probability of
exactly 0.5 is **not** tampered.  A predicted mask is uint8, level v meaning P(tampered) = v/255;
a probability map becomes levels by rounding half down (:func:`probability_to_level`, so p = 0.5
→ 127), and a pixel is predicted tampered iff ``v >= 128``, i.e. iff v/255 > 0.5.  Every pixel metric therefore follows from two 256-bin
histograms per image, the levels of the ground-truth tampered pixels (``pos``) and of the
authentic ones (``neg``): :func:`pixel_histograms` computes them with one ``torch.bincount`` on any
device, and every other pixel function takes ``(B, 256)`` int64 histograms and returns ``(B,)``
float64 tensors, NaN where undefined.  All are exact (integer counts, one division, no epsilon):

* F1 = 2TP / (2TP + FP + FN) and IoU = TP / (TP + FP + FN) are **undefined (NaN) on an empty GT
  mask**, where IMDL-BenCo returns 0 (TP = 0) and so deflates means that include authentic images
  (§2.5, IMDLBenCo#46); the leaderboard means are over tampered images with a non-empty mask.
* MCC = (TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN)) is undefined when any of the four
  marginals is 0; ``sklearn.metrics.matthews_corrcoef`` returns 0 there.  IMDL-BenCo has no MCC.
* AUC = P(tampered pixel level > authentic pixel level) + ½·P(equal): exact with ties, equal to
  ``sklearn.metrics.roc_auc_score``; undefined when the image has one class of pixel.
  IMDL-BenCo's torch AUC does not group ties and returns 0.0 on an empty mask (§2.3).
* Oracle F1: the best F1 over all 257 thresholds (``v >= t``, t = 0..256) of each image, an
  upper bound that peeks at the ground truth: shown, never ranked.
* Pooled ("dataset-level") variants sum the histograms over images first, then apply the same
  formula.

Leaderboard conventions (:class:`PixelAccumulator`, :func:`pooled`): per-image means and pooled
sums use the tampered images with a non-empty mask; which images count depends on the ground
truth only, never on the prediction.  So ``pixel_mcc`` scores a constant prediction (all
authentic or all tampered) on an image holding both pixel classes as 0, sklearn's convention,
instead of leaving the image out (which would reward predicting nothing); MCC and AUC leave out
only images whose mask covers every pixel.

Image metrics: scores P(tampered) in [0, 1], labels 1 = tampered, 0 = authentic, an image is
predicted tampered iff ``score > 0.5`` (:data:`IMAGE_THRESHOLD` is the next float above 0.5 under
the shared ``score >= threshold`` rule).  Accuracy, F1 (tampered positive), balanced accuracy
and the exact AUC come from :class:`harness.binary.Evaluation`, shared with the other families.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.binary import Evaluation
from harness.stats import Bootstrap, MeanSE, MetricSpec

__all__ = [
    "CLASS_NAMES",
    "IMAGE_METRICS",
    "IMAGE_THRESHOLD",
    "LEVELS",
    "METRICS",
    "PER_IMAGE",
    "PIXEL_LEVEL",
    "POOLED",
    "PixelAccumulator",
    "auc",
    "counts",
    "f1",
    "image_accuracy",
    "image_auc",
    "image_balanced_accuracy",
    "image_f1",
    "image_metric",
    "image_metrics",
    "iou",
    "mcc",
    "oracle_f1",
    "pixel_histograms",
    "pixel_summary",
    "pooled",
    "pooled_auc",
    "pooled_f1",
    "pooled_iou",
    "pooled_mcc",
    "probability_to_level",
    "undefined_reason",
]

LEVELS = 256  # levels of an 8-bit mask
PIXEL_LEVEL = 128  # a pixel is predicted tampered iff v >= 128 (v/255 > 0.5)
# an image is predicted tampered iff score > 0.5 (IMDL-BenCo): score >= the next float above 0.5
IMAGE_THRESHOLD = float(np.nextafter(0.5, 1.0))
CLASS_NAMES = ("authentic", "tampered")  # (label 0, label 1)
_NAN = float("nan")
_WIDE = 2**31  # histogram rows with more pixels are multiplied in float64 (int64 could overflow)

_RATE = (0.0, 1.0)
_CORR = (-1.0, 1.0)
_MEAN = "per-image mean over tampered images with a non-empty mask"
# The arrays a splicing metric is computed from, for one perturbation level (built by the
# family's ``score``): ``per_image`` (metric name -> the tampered images' per-image values),
# ``pos`` / ``neg`` (their (T, 256) histograms, ``None`` with no tampered image), ``scores`` and
# ``labels`` of every image.
_PER_IMAGE_SE = MeanSE(unit="image(s)", empty="no tampered image with a non-empty mask")
_OVER_TAMPERED = Bootstrap(("pos", "neg"), unit="tampered images")
_OVER_IMAGES = Bootstrap(("scores", "labels"), unit="images")


def _per_image(name: str, description: str, bounds: tuple, **kw) -> MetricSpec:
    return MetricSpec(name, "max", "correlation" if bounds == _CORR else "fraction", description, bounds,
                      compute=lambda a: a["per_image"][name], uncertainty=_PER_IMAGE_SE, **kw)


def _pooled(name: str, description: str, bounds: tuple) -> MetricSpec:
    return MetricSpec(name, "max", "correlation" if bounds == _CORR else "fraction", description, bounds,
                      compute=lambda a: pooled(name, a["pos"], a["neg"]), uncertainty=_OVER_TAMPERED,
                      undefined=lambda a: undefined_reason(name, a["pos"], a["neg"]))


def _image(name: str, description: str) -> MetricSpec:
    return MetricSpec(name, "max", "fraction", description, _RATE,
                      compute=lambda a: image_metric(name, a["scores"], a["labels"]), uncertainty=_OVER_IMAGES,
                      undefined=lambda a: undefined_reason(name, a["scores"], a["labels"]))


METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    _per_image("pixel_f1", f"pixel F1 at v >= 128 (p > 0.5; p = 0.5 authentic), {_MEAN}", _RATE),
    _per_image("pixel_iou", f"pixel IoU at v >= 128 (p > 0.5), {_MEAN}", _RATE),
    _per_image("pixel_mcc", "pixel MCC at v >= 128, per-image mean over tampered images with both pixel classes; "
               "a constant prediction scores 0", _CORR),
    _per_image("pixel_auc", "exact pixel ROC AUC (ties count 1/2), threshold-free, per-image mean over tampered "
               "images with both pixel classes", _RATE),
    _per_image("pixel_f1_oracle", f"pixel F1 at each image's best threshold, {_MEAN}: an oracle that sees the "
               "ground truth, not a fair score", _RATE, ranked=False),
    _pooled("pixel_f1_pooled", "pixel F1 at v >= 128 over all tampered images' pixels", _RATE),
    _pooled("pixel_iou_pooled", "pixel IoU at v >= 128 over all tampered images' pixels", _RATE),
    _pooled("pixel_mcc_pooled", "pixel MCC at v >= 128 over all tampered images' pixels; a constant prediction "
            "scores 0", _CORR),
    _pooled("pixel_auc_pooled", "exact pixel ROC AUC (ties count 1/2) over all tampered images' pixels", _RATE),
    _image("image_auc", "exact image ROC AUC of P(tampered) (ties count 1/2)"),
    _image("image_accuracy", "share of images classified correctly, tampered iff score > 0.5"),
    _image("image_f1", "image F1 with tampered positive, tampered iff score > 0.5"),
    _image("image_balanced_accuracy", "mean of tampered and authentic recall, tampered iff score > 0.5"),
)}
PER_IMAGE = ("pixel_f1", "pixel_iou", "pixel_mcc", "pixel_auc", "pixel_f1_oracle")
POOLED = ("pixel_f1_pooled", "pixel_iou_pooled", "pixel_mcc_pooled", "pixel_auc_pooled")
IMAGE_METRICS = ("image_auc", "image_accuracy", "image_f1", "image_balanced_accuracy")
# image metric -> harness.binary.Evaluation kind
_IMAGE_KIND = {"image_auc": "auc", "image_accuracy": "accuracy", "image_f1": "f1",
               "image_balanced_accuracy": "balanced_accuracy"}


# ----------------------------------------------------------------------------- histograms
def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def pixel_histograms(pred: Any, gt: Any, valid: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image level histograms ``(pos, neg)``, each ``(B, 256)`` int64 on ``pred``'s device.

    ``pred``: uint8 ``(B, H, W)`` (or one ``(H, W)`` mask); ``gt``: bool, True = tampered pixel;
    ``valid``: bool or ``None``, False marks padding (images of different sizes batched at a
    common size), which is not counted.  ``pos[b, v]`` counts image b's tampered pixels at level v.

    >>> pos, neg = pixel_histograms(torch.tensor([[0, 200], [128, 127]], dtype=torch.uint8),
    ...                             torch.tensor([[False, True], [True, False]]))
    >>> pos[0].nonzero().flatten().tolist(), neg[0].nonzero().flatten().tolist()
    ([128, 200], [0, 127])
    """
    pred, gt = _as_tensor(pred), _as_tensor(gt)
    if pred.dtype != torch.uint8:
        raise ValueError(f"pixel_histograms: pred must be uint8 levels 0..255, got {pred.dtype}")
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
        valid = None if valid is None else _as_tensor(valid)[None]
    if pred.ndim != 3:
        raise ValueError(f"pixel_histograms: pred must be (B, H, W) or (H, W), got shape {tuple(pred.shape)}")
    masks = {"gt": gt} if valid is None else {"gt": gt, "valid": _as_tensor(valid)}
    for name, m in masks.items():
        if m.dtype != torch.bool:
            raise ValueError(f"pixel_histograms: {name} must be bool, got {m.dtype}")
        if m.shape != pred.shape:
            raise ValueError(f"pixel_histograms: {name} shape {tuple(m.shape)} differs from pred "
                             f"shape {tuple(pred.shape)}")
    b = pred.shape[0]
    dev = pred.device
    dtype = torch.int32 if b * 2 * LEVELS < 2**31 else torch.int64
    # bin = (image * 2 + class) * 256 + level; padding goes to one extra bin, dropped below
    key = pred.to(dtype) + (gt.to(device=dev, dtype=dtype) << 8)
    key += (torch.arange(b, device=dev, dtype=dtype) * (2 * LEVELS)).view(b, 1, 1)
    if valid is not None:
        key.masked_fill_(~masks["valid"].to(dev), b * 2 * LEVELS)
    hist = torch.bincount(key.flatten(), minlength=b * 2 * LEVELS + 1)[: b * 2 * LEVELS]
    hist = hist.view(b, 2, LEVELS).to(torch.int64)
    return hist[:, 1].contiguous(), hist[:, 0].contiguous()


def _hist(fn: str, pos: Any, neg: Any) -> tuple[torch.Tensor, torch.Tensor]:
    pos, neg = _as_tensor(pos), _as_tensor(neg)
    if pos.ndim == 1:
        pos, neg = pos[None], neg[None]
    if pos.shape != neg.shape or pos.ndim != 2 or pos.shape[1] != LEVELS:
        raise ValueError(f"{fn}: pos and neg must both be (B, {LEVELS}) histograms, "
                         f"got {tuple(pos.shape)} and {tuple(neg.shape)}")
    if pos.is_floating_point() or neg.is_floating_point():
        raise ValueError(f"{fn}: histograms must hold integer counts, got {pos.dtype} and {neg.dtype}")
    return pos.to(torch.int64), neg.to(torch.int64)


def _wide(*xs: torch.Tensor) -> bool:
    """True when products of counts of these rows could overflow int64."""
    return any(bool((x.sum(-1) >= _WIDE).any()) for x in xs) if all(x.numel() for x in xs) else False


# ----------------------------------------------------------------------------- per-image metrics
def probability_to_level(p: Any) -> np.ndarray:
    """Probabilities in [0, 1] → uint8 levels ``v``, the nearest level with halves rounded down,
    so that ``v >= 128`` exactly when ``p > 0.5`` (p = 0.5 → 127; 255·p = k + ½ → k).

    >>> probability_to_level(np.array([0.0, 0.5, np.nextafter(0.5, 1), 0.7, 1.0])).tolist()  # 255 * 0.7 = 178.4999...
    [0, 127, 128, 178, 255]
    """
    return np.ceil(np.asarray(p, dtype=np.float64) * 255.0 - 0.5).astype(np.uint8)


def counts(pos: Any, neg: Any, level: int = PIXEL_LEVEL) -> tuple[torch.Tensor, ...]:
    """``(TP, FP, FN, TN)``, each ``(B,)`` int64, predicting tampered iff ``v >= level``."""
    pos, neg = _hist("counts", pos, neg)
    tp, fp = pos[:, level:].sum(1), neg[:, level:].sum(1)
    return tp, fp, pos.sum(1) - tp, neg.sum(1) - fp


def _div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den in float64, NaN where den == 0."""
    den = den.to(torch.float64)
    return torch.where(den > 0, num.to(torch.float64) / den.clamp(min=1), torch.nan)


def f1(pos: Any, neg: Any) -> torch.Tensor:
    """Per-image F1 at v >= 128: 2TP / (2TP + FP + FN); NaN on an empty GT mask (not 0).

    >>> f1(torch.tensor([[0] * 128 + [3] + [0] * 127]), torch.tensor([[0] * 255 + [1]])).tolist()  # 6/7
    [0.8571428571428571]
    """
    tp, fp, fn, _ = counts(pos, neg)
    return torch.where(tp + fn > 0, _div(2 * tp, 2 * tp + fp + fn), torch.nan)


def iou(pos: Any, neg: Any) -> torch.Tensor:
    """Per-image IoU (Jaccard) at v >= 128: TP / (TP + FP + FN); NaN on an empty GT mask (not 0)."""
    tp, fp, fn, _ = counts(pos, neg)
    return torch.where(tp + fn > 0, _div(tp, tp + fp + fn), torch.nan)


def mcc(pos: Any, neg: Any) -> torch.Tensor:
    """Per-image Matthews correlation at v >= 128; NaN when any of TP+FP, TP+FN, TN+FP, TN+FN is 0.

    ``sklearn.metrics.matthews_corrcoef`` returns 0 in those cases; here they stay undefined
    (the leaderboard's ``pixel_mcc`` then scores a constant prediction as 0, see the module doc).
    """
    pos, neg = _hist("mcc", pos, neg)
    tp, fp, fn, tn = counts(pos, neg)
    if _wide(pos, neg):
        tp, fp, fn, tn = (x.to(torch.float64) for x in (tp, fp, fn, tn))
    num = (tp * tn - fp * fn).to(torch.float64)  # exact in int64 below 2**31 pixels per image
    a, b, c, d = ((x + y).to(torch.float64) for x, y in ((tp, fp), (tp, fn), (tn, fp), (tn, fn)))
    den = torch.sqrt(a * b) * torch.sqrt(c * d)  # each product < 2**62: exact below 2**26 pixels per image
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.nan)


def auc(pos: Any, neg: Any) -> torch.Tensor:
    """Per-image exact ROC AUC of the levels: P(tampered > authentic) + ½·P(equal).

    NaN when the image has only one class of pixel (an empty mask or one covering the image).

    >>> auc(torch.tensor([[0] * 128 + [2] + [0] * 127]), torch.tensor([[1] + [0] * 127 + [1] + [0] * 127]))
    tensor([0.7500], dtype=torch.float64)
    """
    pos, neg = _hist("auc", pos, neg)
    n_pos, n_neg = pos.sum(1), neg.sum(1)
    below = torch.cumsum(neg, 1) - neg  # authentic pixels strictly below each level
    if _wide(pos, neg):
        pos, below, neg = pos.to(torch.float64), below.to(torch.float64), neg.to(torch.float64)
    twice = (pos * (2 * below + neg)).sum(1)  # 2 · (wins + ½ ties), an integer
    den = 2 * n_pos.to(torch.float64) * n_neg.to(torch.float64)
    return torch.where(den > 0, twice.to(torch.float64) / torch.where(den > 0, den, 1.0), torch.nan)


def oracle_f1(pos: Any, neg: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image best F1 over the 257 thresholds ``v >= t`` (t = 0..256) and the lowest level t achieving it.

    An oracle (the threshold is chosen with the ground truth): ``oracle_f1 >= f1`` always.  NaN
    (level -1) on an empty GT mask.  Level 256 predicts no pixel tampered.
    """
    pos, neg = _hist("oracle_f1", pos, neg)
    zero = torch.zeros_like(pos[:, :1])
    tp = torch.cat([torch.flip(torch.cumsum(torch.flip(pos, [1]), 1), [1]), zero], 1)  # (B, 257): TP at v >= t
    fp = torch.cat([torch.flip(torch.cumsum(torch.flip(neg, [1]), 1), [1]), zero], 1)
    n_pos = tp[:, :1]
    scores = _div(2 * tp, n_pos + tp + fp)  # 2TP + FP + FN = P + TP + FP
    best, level = scores.nan_to_num(-1.0).max(1)  # max() returns the first (lowest) level on ties
    empty = n_pos[:, 0] == 0
    return torch.where(empty, torch.nan, best), torch.where(empty, -1, level)


# ----------------------------------------------------------------------------- pooled metrics
def _pool(pos: Any, neg: Any, fn: str) -> tuple[torch.Tensor, torch.Tensor]:
    pos, neg = _hist(fn, pos, neg)
    return pos.sum(0, keepdim=True), neg.sum(0, keepdim=True)


def pooled_f1(pos: Any, neg: Any) -> float:
    """F1 of all pixels of all rows together (histograms summed first)."""
    return float(f1(*_pool(pos, neg, "pooled_f1"))[0])


def pooled_iou(pos: Any, neg: Any) -> float:
    return float(iou(*_pool(pos, neg, "pooled_iou"))[0])


def pooled_mcc(pos: Any, neg: Any) -> float:
    """MCC of all pixels together; NaN when a marginal is 0 (see :func:`mcc`)."""
    return float(mcc(*_pool(pos, neg, "pooled_mcc"))[0])


def pooled_auc(pos: Any, neg: Any) -> float:
    return float(auc(*_pool(pos, neg, "pooled_auc"))[0])


def _mcc_scored(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """:func:`mcc` with a constant prediction scored 0 where the GT holds both classes."""
    both = (pos.sum(1) > 0) & (neg.sum(1) > 0)
    return torch.where(both, mcc(pos, neg).nan_to_num(0.0), torch.nan)


def pooled(name: str, pos: Any, neg: Any) -> float:
    """A ``*_pooled`` leaderboard metric of tampered images' histograms (``(B, 256)`` or summed ``(256,)``).

    Rows with an empty GT mask are left out (they hold no tampered pixel); NaN where undefined,
    :func:`undefined_reason` says why.
    """
    if name not in POOLED:
        raise ValueError(f"pooled: unknown pooled metric {name!r}; known: {list(POOLED)}")
    pos, neg = _hist("pooled", pos, neg)
    keep = pos.sum(1) > 0
    p, n = _pool(pos[keep], neg[keep], "pooled")
    if name == "pixel_mcc_pooled":
        return float(_mcc_scored(p, n)[0])
    return float({"pixel_f1_pooled": f1, "pixel_iou_pooled": iou, "pixel_auc_pooled": auc}[name](p, n)[0])


# ----------------------------------------------------------------------------- accumulator
class PixelAccumulator:
    """Modular pixel metric (torchmetrics style): :meth:`update` per batch, :meth:`compute` at the end.

    Keeps two 256-bin int64 histograms per image (4 KiB), never the masks, so memory is bounded by
    the batch.  Histograms stay on the inputs' device until :meth:`compute`.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pos: list[torch.Tensor] = []
        self._neg: list[torch.Tensor] = []

    def __len__(self) -> int:
        return sum(p.shape[0] for p in self._pos)

    def update(self, pred: Any, gt: Any, valid: Any = None) -> None:
        """Add a batch: see :func:`pixel_histograms` for the arguments."""
        pos, neg = pixel_histograms(pred, gt, valid)
        self._pos.append(pos)
        self._neg.append(neg)

    def histograms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pos, neg)``, ``(N, 256)`` int64 on the CPU, one row per image in update order."""
        if not self._pos:
            empty = torch.zeros((0, LEVELS), dtype=torch.int64)
            return empty, empty.clone()
        return torch.cat(self._pos).cpu(), torch.cat(self._neg).cpu()

    def compute(self) -> dict[str, Any]:
        """Per-image numpy arrays and pooled values.

        Per image (length N, update order): ``pixel_f1``, ``pixel_iou``, ``pixel_mcc`` (constant
        prediction scored 0 where the mask has both classes), ``pixel_auc``, ``pixel_f1_oracle``
        (float64, NaN where undefined), ``oracle_level`` (int64, -1 on an empty mask), ``n_pos``,
        ``n_neg``, ``tp``, ``fp``, ``fn``, ``tn`` (int64), ``pos_hist``, ``neg_hist`` ((N, 256) int64).
        Pooled floats over the images with a non-empty mask: the four ``*_pooled`` names.
        """
        pos, neg = self.histograms()
        best, level = oracle_f1(pos, neg)
        out: dict[str, Any] = {"pixel_f1": f1(pos, neg), "pixel_iou": iou(pos, neg),
                               "pixel_mcc": _mcc_scored(pos, neg), "pixel_auc": auc(pos, neg),
                               "pixel_f1_oracle": best, "oracle_level": level,
                               "n_pos": pos.sum(1), "n_neg": neg.sum(1)}
        out.update(zip(("tp", "fp", "fn", "tn"), counts(pos, neg)))
        out = {k: v.numpy() for k, v in out.items()}
        out["pos_hist"], out["neg_hist"] = pos.numpy(), neg.numpy()
        out.update({name: pooled(name, pos, neg) for name in POOLED})
        return out


def pixel_summary(pos: Any, neg: Any) -> dict[str, float]:
    """Every pixel leaderboard metric of per-image histograms: the per-image means (over the
    images where each is defined) and the pooled values; NaN where undefined."""
    pos, neg = _hist("pixel_summary", pos, neg)
    best, _ = oracle_f1(pos, neg)
    per = {"pixel_f1": f1(pos, neg), "pixel_iou": iou(pos, neg), "pixel_mcc": _mcc_scored(pos, neg),
           "pixel_auc": auc(pos, neg), "pixel_f1_oracle": best}
    out = {k: (float(v[~v.isnan()].mean()) if bool((~v.isnan()).any()) else _NAN) for k, v in per.items()}
    out.update({name: pooled(name, pos, neg) for name in POOLED})
    return out


# ----------------------------------------------------------------------------- image metrics
def _evaluation(fn: str, scores: Any, labels: Any, threshold: float) -> Evaluation:
    return Evaluation(fn, scores, labels, threshold, CLASS_NAMES, items="images")


def image_metric(name: str, scores: Any, labels: Any, threshold: float = IMAGE_THRESHOLD) -> float:
    """Image metric ``name`` (one of :data:`IMAGE_METRICS`), NaN where undefined."""
    if name not in _IMAGE_KIND:
        raise ValueError(f"image_metric: unknown image metric {name!r}; known: {list(IMAGE_METRICS)}")
    return _evaluation(name, scores, labels, threshold).get(_IMAGE_KIND[name])


def image_metrics(scores: Any, labels: Any, names: Any = IMAGE_METRICS,
                  threshold: float = IMAGE_THRESHOLD) -> dict[str, float]:
    """``{name: value}`` for several image metrics from one validation and one count; NaN where undefined.

    >>> image_metrics(np.array([0.9, 0.5, 0.4, 0.1]), np.array([1, 0, 1, 0]))  # 0.5: authentic
    {'image_auc': 0.75, 'image_accuracy': 0.75, 'image_f1': 0.6666666666666666, 'image_balanced_accuracy': 0.75}
    """
    unknown = [n for n in names if n not in _IMAGE_KIND]
    if unknown:
        raise ValueError(f"image_metrics: unknown image metric(s) {unknown}; known: {list(IMAGE_METRICS)}")
    ev = _evaluation("image_metrics", scores, labels, threshold)
    return {n: ev.get(_IMAGE_KIND[n]) for n in names}


def image_auc(scores: Any, labels: Any) -> float:
    """Exact ROC AUC of P(tampered) (ties count ½); NaN with one class."""
    return image_metric("image_auc", scores, labels)


def image_accuracy(scores: Any, labels: Any, threshold: float = IMAGE_THRESHOLD) -> float:
    """Share of images classified correctly, tampered iff ``score >= threshold`` (default: > 0.5)."""
    return image_metric("image_accuracy", scores, labels, threshold)


def image_f1(scores: Any, labels: Any, threshold: float = IMAGE_THRESHOLD) -> float:
    """F1 with tampered positive (NaN only when 0/0: no tampered image and none predicted tampered)."""
    return image_metric("image_f1", scores, labels, threshold)


def image_balanced_accuracy(scores: Any, labels: Any, threshold: float = IMAGE_THRESHOLD) -> float:
    """Mean of tampered recall and authentic recall; NaN with one class."""
    return image_metric("image_balanced_accuracy", scores, labels, threshold)


# ----------------------------------------------------------------------------- undefined reasons
def undefined_reason(name: str, a: Any = None, b: Any = None, threshold: float = IMAGE_THRESHOLD) -> str | None:
    """Why leaderboard metric ``name`` is undefined, or ``None``.

    Pixel metrics: ``a, b`` = the tampered images' ``pos, neg`` histograms (``(B, 256)``, or summed
    ``(256,)`` for a ``*_pooled`` name; ``None`` when there is none).  Image metrics: ``a, b`` =
    scores, labels.

    >>> undefined_reason("pixel_f1", None, None)
    'no tampered image with a non-empty mask'
    >>> undefined_reason("image_auc", np.array([0.2, 0.7]), np.array([1, 1]))
    'the test set has one class only (n=2, all tampered)'
    """
    if name in _IMAGE_KIND:
        return _evaluation("undefined_reason", a, b, threshold).reason(_IMAGE_KIND[name])
    if name not in METRICS:
        raise ValueError(f"undefined_reason: unknown metric {name!r}; known: {sorted(METRICS)}")
    if a is None:
        return "no tampered image with a non-empty mask"
    pos, neg = _hist("undefined_reason", a, b)
    n_pos, n_neg = pos.sum(1), neg.sum(1)
    if not bool((n_pos > 0).any()):
        return "no tampered image with a non-empty mask"
    if name in ("pixel_mcc", "pixel_auc") and not bool(((n_pos > 0) & (n_neg > 0)).any()):
        return "no tampered image with both tampered and authentic pixels (every mask covers its whole image)"
    if name in ("pixel_mcc_pooled", "pixel_auc_pooled") and int(n_neg[n_pos > 0].sum()) == 0:
        return "the tampered images' masks cover every pixel: no authentic pixel to compare with"
    return None
