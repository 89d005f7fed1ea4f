"""Splicing robustness transforms: determinism of the noise, JPEG monotonicity, level validation,
resize shapes and the restore_size round trip, and the sweep labels."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness.families.splicing import perturb


def textured(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth gradient with some texture, uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([60 + 2 * xx, 40 + 3 * yy, 128 + 40 * np.sin(xx / 5.0)], 2)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def test_every_sweep_level_is_valid_and_keeps_uint8():
    img = textured()
    for kind, levels in perturb.SWEEPS.items():
        for level in levels:
            out = perturb.apply(img, kind, level, seed=0, sample_id="x")
            assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
            if kind != "resize":
                assert out.shape == img.shape
    tiny = np.zeros((8, 8, 3), np.uint8)  # what the family validates levels with
    for kind, levels in perturb.SWEEPS.items():
        for level in levels:
            perturb.apply(tiny, kind, level, seed=0, sample_id="check")


def test_noise_is_deterministic_per_seed_and_id():
    img = textured()
    a = perturb.apply(img, "noise", 11, seed=3, sample_id="casia1/Sp_1")
    b = perturb.apply(img.copy(), "noise", 11, seed=3, sample_id="casia1/Sp_1")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, perturb.apply(img, "noise", 11, seed=3, sample_id="casia1/Sp_2"))
    assert not np.array_equal(a, perturb.apply(img, "noise", 11, seed=4, sample_id="casia1/Sp_1"))
    # the std is the level (in 0-255 units) on a mid-grey image (no clipping)
    grey = np.full((200, 200, 3), 128, np.uint8)
    diff = perturb.apply(grey, "noise", 7, seed=0, sample_id="g").astype(float) - 128
    assert abs(diff.std() - 7) < 0.2 and abs(diff.mean()) < 0.2
    assert np.array_equal(perturb.apply(img, "noise", 0, seed=0, sample_id="g"), img)


def test_noise_is_independent_of_order():
    img = textured()
    first = [perturb.apply(img, "noise", 5, seed=0, sample_id=s) for s in ("a", "b", "c")]
    second = [perturb.apply(img, "noise", 5, seed=0, sample_id=s) for s in ("c", "b", "a")][::-1]
    assert all(np.array_equal(x, y) for x, y in zip(first, second))


def test_jpeg_error_grows_as_quality_falls():
    img = textured(64, 96)
    errors = [np.abs(perturb.apply(img, "jpeg", q, seed=0, sample_id="x").astype(float) - img).mean()
              for q in perturb.SWEEPS["jpeg"]]  # 100, 90, ..., 50
    assert all(a < b for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] > 1.3 * errors[0]  # (q=100 still errs: OpenCV subsamples chroma 4:2:0)


def test_jpeg_keeps_channel_order():
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 200
    out = perturb.apply(red, "jpeg", 90, seed=0, sample_id="x").astype(int)
    assert out[..., 0].mean() > 180 and out[..., 2].mean() < 20


def test_blur_smooths_and_validates_the_kernel():
    img = textured()
    out3 = perturb.apply(img, "blur", 3, seed=0, sample_id="x")
    out23 = perturb.apply(img, "blur", 23, seed=0, sample_id="x")
    rough = lambda a: np.abs(np.diff(a.astype(float), axis=1)).mean()
    assert rough(out23) < rough(out3) < rough(img)
    for bad in (0, 2, 4, -3, 3.5, "3", True):
        with pytest.raises(ValueError, match="blur"):
            perturb.apply(img, "blur", bad, seed=0, sample_id="x")


@pytest.mark.parametrize("kind,level,words", [
    ("jpeg", 0, "1..100"), ("jpeg", 101, "1..100"), ("jpeg", 70.5, "integer"),
    ("noise", -1, ">= 0"), ("noise", float("nan"), "finite"),
    ("resize", 0, "> 0"), ("resize", -0.5, "> 0"),
    ("sharpen", 1, "unknown perturbation"),
])
def test_invalid_levels_raise_clear_errors(kind, level, words):
    with pytest.raises(ValueError, match=words):
        perturb.apply(textured(), kind, level, seed=0, sample_id="x")


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        perturb.apply(textured().astype(np.float32), "jpeg", 90, seed=0, sample_id="x")
    with pytest.raises(ValueError, match="uint8"):
        perturb.apply(textured()[..., 0], "jpeg", 90, seed=0, sample_id="x")


@pytest.mark.parametrize("factor", perturb.SWEEPS["resize"] + [1.0, 0.3])
def test_resize_shapes_and_restore_round_trip(factor):
    img = textured(45, 67)
    out = perturb.apply(img, "resize", factor, seed=0, sample_id="x")
    assert out.shape == (round(45 * factor), round(67 * factor), 3)
    h, w = out.shape[:2]
    for value, dtype in ((0.7, np.float32), (0.25, np.float64), (200, np.uint8), (0, np.uint8)):
        const = np.full((h, w), value, dtype)
        back = perturb.restore_size(const, (45, 67))
        assert back.shape == (45, 67) and back.dtype == dtype
        assert np.all(back == const[0, 0])
    ramp = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    back = perturb.restore_size(ramp, (45, 67))
    assert back.shape == (45, 67) and back.min() >= 0 and back.max() <= 1
    assert np.all(np.diff(back[0]) >= -1e-6)  # bilinear keeps a monotone ramp monotone
    u8 = perturb.restore_size(np.rint(ramp * 255).astype(np.uint8), (45, 67))
    assert u8.dtype == np.uint8 and np.abs(u8.astype(float) - back * 255).max() <= 1.0


def test_resize_enlarges_and_shrinks_the_image_content():
    img = textured(40, 40)
    small = perturb.apply(img, "resize", 0.5, seed=0, sample_id="x")
    assert abs(small.astype(float).mean() - img.astype(float).mean()) < 2  # area averaging keeps the mean
    big = perturb.apply(img, "resize", 2.0, seed=0, sample_id="x")
    assert big.shape == (80, 80, 3)
    assert perturb.apply(np.zeros((1, 1, 3), np.uint8), "resize", 0.1, seed=0, sample_id="x").shape == (1, 1, 3)


def test_restore_size_validates():
    with pytest.raises(ValueError):
        perturb.restore_size(np.zeros((4, 4, 3), np.float32), (8, 8))
    with pytest.raises(ValueError):
        perturb.restore_size(np.zeros((4, 4), np.float32), (0, 8))
    same = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    out = perturb.restore_size(same, (5, 6))
    assert np.array_equal(out, same) and out is not same


def test_labels():
    assert perturb.label("jpeg", 70) == "jpeg=70"
    assert perturb.label("resize", 0.5) == "resize=0.5"
    assert perturb.label("resize", 2.0) == "resize=2"
    assert perturb.label("blur", 7) == "blur=7"
    assert perturb.label("noise", 3) == "noise=3"
    labels = [perturb.label(k, v) for k, vs in perturb.SWEEPS.items() for v in vs]
    assert len(set(labels)) == len(labels)
    with pytest.raises(ValueError):
        perturb.label("blur", 4)
