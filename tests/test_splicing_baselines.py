"""Splicing baselines: mask shapes and ranges for differently sized images, determinism, the
training-free maps lighting up on an in-test splice, and SmallSegNet's fit / selection."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.families.splicing import perturb
from harness.families.splicing.baselines import (
    ErrorLevelAnalysis,
    NoiseResidual,
    SmallSegNet,
)

SIZES = [(40, 56), (73, 31), (128, 128), (9, 200)]


def smooth(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A clean, smooth (PNG-like, never compressed) uint8 RGB image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    a, b, c = rng.uniform(10, 40, 3)
    img = np.stack([110 + 50 * np.sin(xx / a), 120 + 40 * np.cos(yy / b), 70 + 60 * np.sin((xx + yy) / c)], 2)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def splice(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth image with a pasted noisy patch that went through JPEG q60; (image, bool mask)."""
    rng = np.random.default_rng(seed + 100)
    img = smooth(h, w, seed)
    ph, pw = h // 3, w // 3
    y, x = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
    patch = np.clip(rng.normal(rng.uniform(60, 190), 25, (ph, pw, 3)), 0, 255).astype(np.uint8)
    img[y:y + ph, x:x + pw] = perturb.apply(patch, "jpeg", 60, seed=0, sample_id="patch")
    mask = np.zeros((h, w), bool)
    mask[y:y + ph, x:x + pw] = True
    return img, mask


def tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float() / 255.0


def batch_of(sizes) -> dict:
    images = [tensor(splice(h, w, i)[0]) for i, (h, w) in enumerate(sizes)]
    return {"images": images, "ids": [f"img{i}" for i in range(len(images))]}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


MODELS = [ErrorLevelAnalysis, NoiseResidual, lambda: SmallSegNet(epochs=0)]


@pytest.mark.parametrize("make", MODELS, ids=["ela", "noise", "unet"])
def test_masks_match_image_sizes_and_are_probabilities(make):
    model = make()
    assert model.family == "splicing" and model.inputs == ("image",) and model.output == "mask"
    batch = batch_of(SIZES)
    out = model.predict(batch)
    assert [tuple(m.shape) for m in out["mask"]] == SIZES
    for m in out["mask"]:
        # the training-free maps are float64 (CPU-independent numbers), the net's float32
        assert m.dtype in (torch.float32, torch.float64) and torch.isfinite(m).all() and m.min() >= 0 and m.max() <= 1
    assert out["score"].shape == (len(SIZES),) and (out["score"] >= 0).all() and (out["score"] <= 1).all()
    again = make().predict(batch_of(SIZES))
    assert all(torch.equal(a, b) for a, b in zip(out["mask"], again["mask"]))
    assert torch.equal(out["score"], again["score"])
    # one image alone gives the same map as inside a batch (no cross-image effects)
    alone = model.predict({"images": batch["images"][1:2], "ids": ["img1"]})
    assert torch.allclose(alone["mask"][0], out["mask"][1], atol=1e-6)
    assert model.predict({"images": [], "ids": []})["mask"] == []


@pytest.mark.parametrize("model", [ErrorLevelAnalysis(), NoiseResidual()], ids=["ela", "noise"])
def test_training_free_maps_light_up_on_a_splice(model):
    for seed, (h, w) in enumerate([(120, 150), (90, 200)]):
        img, mask = splice(h, w, seed)
        m = model.predict({"images": [tensor(img)], "ids": ["s"]})["mask"][0].numpy()
        inside, outside = m[mask].mean(), m[~mask].mean()
        assert inside > outside + 0.3, (inside, outside)
    clean = model.predict({"images": [tensor(smooth(120, 150))], "ids": ["c"]})
    spliced = model.predict({"images": [tensor(splice(120, 150)[0])], "ids": ["s"]})
    assert spliced["score"][0] > clean["score"][0]


def test_bad_arguments_and_batches():
    for make, kwargs in ((ErrorLevelAnalysis, {"quality": 0}), (ErrorLevelAnalysis, {"window": 4}),
                         (NoiseResidual, {"window": 0}), (SmallSegNet, {"epochs": -1}),
                         (SmallSegNet, {"lr": 0}), (SmallSegNet, {"dice": -1.0})):
        with pytest.raises(HarnessError):
            make(**kwargs)
    with pytest.raises(HarnessError, match="images"):
        ErrorLevelAnalysis().predict({"rgb": []})
    with pytest.raises(HarnessError, match=r"\(3, H, W\)"):
        NoiseResidual().predict({"images": [torch.zeros(4, 8, 8)]})


# ----------------------------------------------------------------------------- SmallSegNet
class FakeTrain:
    """What the family hands ``fit``: ``loader(batch_size, shuffle, seed)`` and ``val_loader``."""

    def __init__(self, n_train: int = 12, n_val: int = 6):
        self.train = [self.item(i) for i in range(n_train)]
        self.val = [self.item(1000 + i) for i in range(n_val)]
        self.calls: list[str] = []

    @staticmethod
    def item(i: int) -> tuple:
        h, w = 48 + (i % 3) * 16, 64 + (i % 2) * 24
        if i % 4 == 3:  # one in four is authentic
            return tensor(smooth(h, w, i)), torch.zeros(h, w, dtype=torch.bool), 0.0
        img, mask = splice(h, w, i)
        return tensor(img), torch.from_numpy(mask), 1.0

    @staticmethod
    def batches(items, batch_size, order):
        for k in range(0, len(order), batch_size):
            chunk = [items[j] for j in order[k:k + batch_size]]
            yield {"images": [c[0] for c in chunk], "masks": [c[1] for c in chunk],
                   "labels": torch.tensor([c[2] for c in chunk])}

    def loader(self, batch_size=8, shuffle=True, seed=0):
        self.calls.append("train")
        order = (torch.randperm(len(self.train), generator=torch.Generator().manual_seed(seed)).tolist()
                 if shuffle else list(range(len(self.train))))
        return self.batches(self.train, batch_size, order)

    def val_loader(self, batch_size=8):
        self.calls.append("val")
        return self.batches(self.val, batch_size, list(range(len(self.val))))


FIT_ARGS = {"epochs": 3, "width": 8, "batch_size": 4}  # small, so the CPU tests stay quick


@pytest.fixture(scope="module")
def fitted():
    train = FakeTrain()
    model = SmallSegNet(**FIT_ARGS)
    t0 = time.perf_counter()
    model.fit(train)
    return model, train, time.perf_counter() - t0


def test_fit_is_fast_and_improves_val_loss(fitted):
    model, train, seconds = fitted
    assert seconds < 15
    assert [h["epoch"] for h in model.history] == [0, 1, 2, 3]
    assert model.selection["epoch"] >= 1
    assert model.selection["val_loss"] == min(h["val_loss"] for h in model.history[1:])
    assert model.selection["val_loss"] < model.history[0]["val_loss"]
    assert train.calls == ["val"] + ["train", "val"] * 3  # only the source loaders, val for selection


def test_fitted_predictions_are_masks_at_image_size(fitted):
    model, _, _ = fitted
    out = model.predict(batch_of(SIZES))
    assert [tuple(m.shape) for m in out["mask"]] == SIZES
    assert torch.allclose(out["score"], torch.stack([m.max() for m in out["mask"]]))
    assert all(m.min() >= 0 and m.max() <= 1 for m in out["mask"])


def test_fit_is_deterministic(fitted):
    model, _, _ = fitted
    other = SmallSegNet(**FIT_ARGS)
    other.fit(FakeTrain())
    assert other.history == model.history
    batch = batch_of(SIZES[:2])
    assert all(torch.equal(a, b) for a, b in zip(model.predict(batch)["mask"], other.predict(batch)["mask"]))


def test_predict_before_fit_uses_the_seeded_initial_weights():
    a, b = SmallSegNet(), SmallSegNet()
    batch = batch_of(SIZES[:2])
    assert all(torch.equal(x, y) for x, y in zip(a.predict(batch)["mask"], b.predict(batch)["mask"]))
    c = SmallSegNet(seed=1)
    assert not torch.equal(a.predict(batch)["mask"][0], c.predict(batch)["mask"][0])


def test_weights_round_trip_and_empty_training(tmp_path, fitted):
    model, _, _ = fitted
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    loaded = SmallSegNet(epochs=0, width=8, weights=str(path))
    batch = batch_of(SIZES[:2])
    assert all(torch.equal(x, y) for x, y in zip(model.predict(batch)["mask"], loaded.predict(batch)["mask"]))
    with pytest.raises(HarnessError, match="not found"):
        SmallSegNet(weights=str(tmp_path / "missing.pt"))
    with pytest.raises(HarnessError, match="no images"):
        SmallSegNet(epochs=1).fit(FakeTrain(n_train=0, n_val=0))
    kept = SmallSegNet(epochs=0)
    kept.fit(FakeTrain(n_train=0, n_val=2))
    assert kept.selection["epoch"] == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_agrees_with_cpu(fitted):
    model, _, _ = fitted
    conv_tf32, mm_tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        batch = batch_of(SIZES)
        for make in (ErrorLevelAnalysis, NoiseResidual):
            cpu, gpu = make().predict(batch), make().to("cuda").predict(batch)
            for a, b in zip(cpu["mask"], gpu["mask"]):
                assert b.device.type == "cuda" and torch.allclose(a, b.cpu(), atol=1e-4)
        cpu = model.predict(batch)
        model.to("cuda")
        gpu = model.predict(batch)
        for a, b in zip(cpu["mask"], gpu["mask"]):
            assert tuple(b.shape) == tuple(a.shape) and torch.allclose(a, b.cpu(), atol=1e-3)
    finally:
        model.to("cpu")
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv_tf32, mm_tf32
