"""Robustness transforms for the splicing sweeps (reference ``splicing_iqa.md`` §2.6).

Each transform takes a uint8 (H, W, 3) RGB image and returns a uint8 image; all are deterministic.
The sweeps follow IMDL-BenCo's (``transforms/robustness_wrapper.py``) with these differences:

- **jpeg** (quality q): encoded and decoded once by OpenCV at exactly q (the image is passed as
  BGR, so the chroma conversion sees the right channels). IMDL-BenCo uses albumentations'
  ``quality_limit=(q-1, q)``, i.e. q-1 or q at random; we use the exact value.
- **blur** (kernel k, odd): ``cv2.GaussianBlur`` with sigma from OpenCV's rule for k
  (sigma = 0.3·((k-1)/2 - 1) + 0.8, fixed tables for k <= 7), reflected borders. Same sizes
  as IMDL-BenCo; its 0 (= no attack) is the unperturbed run here.
- **noise** (level s): additive Gaussian noise with standard deviation s in 0–255 units, then
  rounded and clipped. IMDL-BenCo passes its level as albumentations' ``var_limit`` (a
  *variance*, so std = sqrt(level), drawn at random); our levels are exact standard deviations,
  hence stronger at the same number. The noise field is a function of (seed, sha256(sample id))
  only: the same image gets the same noise in every run, whatever the order, and the levels of
  one image share one standard-normal field (scaled by s).
- **resize** (factor f): to (round(H·f), round(W·f)) (at least 1 pixel) with ``INTER_AREA`` when
  shrinking and ``INTER_LINEAR`` when enlarging. Not in IMDL-BenCo's default sweep. Predictions
  on a resized image are mapped back by :func:`restore_size` before scoring.
"""
from __future__ import annotations

import hashlib
import math
import numbers

import cv2
import numpy as np

__all__ = ["SWEEPS", "apply", "label", "noise_rng", "restore_size"]

SWEEPS: dict[str, list] = {
    "jpeg": [100, 90, 80, 70, 60, 50],
    "blur": [3, 7, 11, 15, 19, 23],
    "noise": [3, 7, 11, 15, 19, 23],
    "resize": [0.5, 0.75, 1.5, 2.0],
}


def _number(kind: str, level) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not math.isfinite(float(level)):
        raise ValueError(f"{kind} level must be a finite number, got {level!r}")
    return float(level)


def _integer(kind: str, level, what: str) -> int:
    value = _number(kind, level)
    if value != int(value):
        raise ValueError(f"{kind}: {what} must be an integer, got {level!r}")
    return int(value)


def _check(kind: str, level) -> float | int:
    """The validated level (int for jpeg and blur), or ValueError saying what is allowed."""
    if kind not in SWEEPS:
        raise ValueError(f"unknown perturbation {kind!r}; known: {sorted(SWEEPS)}")
    if kind == "jpeg":
        q = _integer(kind, level, "quality")
        if not 1 <= q <= 100:
            raise ValueError(f"jpeg: quality must be in 1..100, got {level!r}")
        return q
    if kind == "blur":
        k = _integer(kind, level, "kernel size")
        if k < 1 or k % 2 == 0:
            raise ValueError(f"blur: kernel size must be an odd integer >= 1, got {level!r}")
        return k
    value = _number(kind, level)
    if kind == "noise" and value < 0:
        raise ValueError(f"noise: standard deviation must be >= 0, got {level!r}")
    if kind == "resize" and value <= 0:
        raise ValueError(f"resize: factor must be > 0, got {level!r}")
    return value


def label(kind: str, level) -> str:
    """Short name of one sweep level, e.g. ``"jpeg=70"`` or ``"resize=0.5"`` (used in sample ids)."""
    value = _check(kind, level)
    return f"{kind}={value}" if isinstance(value, int) else f"{kind}={value:g}"


def noise_rng(seed: int, sample_id: str) -> np.random.Generator:
    """The generator of one image's noise: a function of (seed, sha256(sample_id)) only."""
    digest = hashlib.sha256(str(sample_id).encode("utf-8")).digest()
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, int.from_bytes(digest[:16], "little")])


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"perturb expects a uint8 (H, W, 3) RGB image, got {got}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"perturb expects a non-empty image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _resized_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    return max(1, round(shape[0] * factor)), max(1, round(shape[1] * factor))


def apply(image: np.ndarray, kind: str, level, *, seed: int, sample_id: str) -> np.ndarray:
    """The perturbed copy of ``image`` (uint8 (H, W, 3) RGB); the size changes only for resize."""
    value = _check(kind, level)
    image = _check_image(image)
    if kind == "jpeg":
        ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, value])
        if not ok:
            raise ValueError(f"jpeg: OpenCV could not encode a {image.shape} image")
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    if kind == "blur":
        return cv2.GaussianBlur(image, (value, value), 0, borderType=cv2.BORDER_REFLECT_101)
    if kind == "noise":
        field = noise_rng(seed, sample_id).standard_normal(image.shape)
        return np.clip(np.rint(image.astype(np.float64) + value * field), 0, 255).astype(np.uint8)
    h, w = _resized_shape(image.shape[:2], value)
    if (h, w) == image.shape[:2]:
        return image.copy()
    interp = cv2.INTER_AREA if value < 1 else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, (w, h), interpolation=interp))


def restore_size(mask_prob: np.ndarray, shape) -> np.ndarray:
    """Map a (h, w) prediction made on a resized image back to ``shape`` = (H, W), same dtype.

    Bilinear (``cv2.INTER_LINEAR``, half-pixel centres) in float; uint8 maps are interpolated in
    float, then rounded. A constant map stays constant; the same size is returned as a copy."""
    m = np.asarray(mask_prob)
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise ValueError(f"restore_size expects a non-empty (h, w) map, got shape {m.shape}")
    if len(shape) != 2 or min(int(shape[0]), int(shape[1])) < 1:
        raise ValueError(f"restore_size: target shape must be (H, W) with H, W >= 1, got {shape!r}")
    target = (int(shape[0]), int(shape[1]))
    if m.shape == target:
        return m.copy()
    if m.min() == m.max():  # exactly constant, whatever the interpolation's rounding
        return np.full(target, m.flat[0], dtype=m.dtype)
    if m.dtype == np.uint8:
        out = cv2.resize(m.astype(np.float32), target[::-1], interpolation=cv2.INTER_LINEAR)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if not np.issubdtype(m.dtype, np.floating):
        raise ValueError(f"restore_size expects a float or uint8 map, got {m.dtype}")
    work = m.astype(np.float64 if m.dtype == np.float64 else np.float32)
    out = cv2.resize(work, target[::-1], interpolation=cv2.INTER_LINEAR)
    return out.astype(m.dtype, copy=False)
