"""The trainable FAS baseline ``LateFusionCNN`` on a tiny synthetic multimodal data set: training and
source-val model selection, held-out-domain AUC, missing modalities (absent and zero-filled),
determinism, safe weight loading and argument errors."""
from __future__ import annotations

import math
import pickle
import sys

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.families.fas.baselines import MODALITIES, LateFusionCNN
from harness.families.fas.metrics import auc

S = 32


# ----------------------------------------------------------------------------- synthetic data
def make_domain(n: int, brightness: float, seed: int, domain: int = 0) -> dict:
    """``n`` samples, half bona fide.  Bona fide: a central depth bump, textured IR, plain RGB.
    Attack: flat depth, smooth IR, RGB with moiré-like stripes.  Each modality carries a cue on
    its own (so any single remaining modality stays informative).  The domain scales the
    brightness of RGB and IR and shifts depth a little."""
    g = torch.Generator().manual_seed(seed)
    label = (torch.arange(n) % 2).long()
    live = label.float()[:, None, None, None]
    ax = torch.linspace(-1, 1, S)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    bump = torch.exp(-(xx ** 2 + yy ** 2) / 0.3)[None, None]
    amp = 0.03 + 0.09 * torch.rand(n, 1, 1, 1, generator=g)
    depth = 0.4 + live * amp * bump + 0.08 * torch.randn(n, 1, S, S, generator=g)
    texture = 0.05 * torch.randn(n, 1, S, S, generator=g)
    smooth = torch.nn.functional.avg_pool2d(torch.randn(n, 1, S, S, generator=g), 5, 1, 2)
    ir = 0.5 + live * texture + (1 - live) * 0.3 * smooth + 0.05 * torch.randn(n, 1, S, S, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, 1, 1, generator=g)
    stripes = 0.06 * torch.sin(6 * math.pi * xx[None, None] + phase)
    colour = torch.tensor([0.6, 0.45, 0.4])[None, :, None, None] + 0.1 * torch.rand(n, 3, 1, 1, generator=g)
    rgb = colour + (1 - live) * stripes + 0.08 * torch.randn(n, 3, S, S, generator=g)
    # illumination scales RGB and IR; depth sensors see no light change, only a small offset
    depth = depth + 0.1 * (brightness - 0.75)
    out = {m: x.clamp(0, 1).float() for m, x in (("rgb", rgb * brightness), ("depth", depth), ("ir", ir * brightness))}
    out.update(label=label, domain=torch.full((n,), domain, dtype=torch.long),
               ids=[f"d{domain}-s{seed}-{i}" for i in range(n)])
    return out


def concat(parts: list[dict]) -> dict:
    out = {k: torch.cat([p[k] for p in parts]) for k in ("rgb", "depth", "ir", "label", "domain")}
    out["ids"] = [i for p in parts for i in p["ids"]]
    return out


def batches(data: dict, batch_size: int, order: torch.Tensor | None = None,
            with_labels: bool = True) -> list[dict]:
    n = len(data["ids"])
    order = torch.arange(n) if order is None else order
    out = []
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        b = {m: data[m][idx] for m in MODALITIES}
        b["mask"] = torch.ones(len(idx), 3, dtype=torch.bool)
        b["ids"] = [data["ids"][i] for i in idx.tolist()]
        if with_labels:
            b["label"], b["domain"] = data["label"][idx], data["domain"][idx]
        out.append(b)
    return out


class FakeTrain:
    """Exactly the fit-time interface: ``loader``, ``val_loader``, ``n_domains`` and nothing
    else; there is no test data in it at all.  Calls are logged."""

    def __init__(self, train: dict, val: dict, n_domains: int = 2):
        self._train, self._val, self.n_domains = train, val, n_domains
        self.calls: list[tuple] = []

    def loader(self, batch_size, shuffle, seed):
        self.calls.append(("loader", batch_size, shuffle, seed))
        n = len(self._train["ids"])
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else None
        return iter(batches(self._train, batch_size, order))

    def val_loader(self, batch_size):
        self.calls.append(("val_loader", batch_size))
        return iter(batches(self._val, batch_size))


SOURCES = (0.55, 1.0)   # brightness of the two source domains
TARGET = 0.78           # the held-out domain


def make_train(n_train: int = 96, n_val: int = 40) -> FakeTrain:
    train = concat([make_domain(n_train, b, seed=10 + d, domain=d) for d, b in enumerate(SOURCES)])
    val = concat([make_domain(n_val, b, seed=20 + d, domain=d) for d, b in enumerate(SOURCES)])
    return FakeTrain(train, val)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def target() -> dict:
    return make_domain(128, TARGET, seed=99, domain=2)


@pytest.fixture(scope="module")
def fitted():
    train = make_train()
    model = LateFusionCNN(epochs=6, seed=0)
    model.fit(train)
    return model, train


def drop(batch: dict, *missing: str) -> dict:
    """The batch with ``missing`` modalities absent (key removed, mask False)."""
    out = {k: v for k, v in batch.items() if k not in missing}
    out["mask"] = batch["mask"].clone()
    for m in missing:
        out["mask"][:, MODALITIES.index(m)] = False
    return out


def zero_fill(batch: dict, *missing: str) -> dict:
    """The lineage's zero-fill: missing modalities present as zeros, mask True."""
    out = dict(batch)
    for m in missing:
        out[m] = torch.zeros_like(batch[m])
    return out


def score(model: LateFusionCNN, data: dict, transform=lambda b: b) -> torch.Tensor:
    return torch.cat([model.predict(transform(b))["score"] for b in batches(data, 50, with_labels=False)])


# ----------------------------------------------------------------------------- contract
def test_class_attributes_and_frame_size():
    assert LateFusionCNN.family == "fas"
    assert LateFusionCNN.inputs == ("rgb", "depth", "ir")
    assert LateFusionCNN.output == "score"
    assert LateFusionCNN.frame_size == 32
    assert LateFusionCNN(frame_size=48).frame_size == 48
    assert LateFusionCNN().frame_size == 32


# ----------------------------------------------------------------------------- training and selection
def test_fit_selects_the_best_source_val_epoch(fitted):
    model, train = fitted
    vals = [h["val_auc"] for h in model.history]
    assert [h["epoch"] for h in model.history] == list(range(1, 7))
    assert all(np.isfinite(h["train_loss"]) for h in model.history)
    assert model.selection["rule"] == "best source-val AUC"
    assert model.selection["epoch"] == int(np.argmax(vals)) + 1
    assert model.selection["val_auc"] == max(vals)
    # only the sources were read: one training pass and one val pass per epoch, nothing else
    assert [c[0] for c in train.calls] == ["loader", "val_loader"] * 6
    assert all(c[1] == 32 for c in train.calls)
    assert [c[3] for c in train.calls if c[0] == "loader"] == [1, 2, 3, 4, 5, 6]
    # the kept weights are the selected epoch's: re-scoring source val reproduces its AUC
    s, y = [], []
    for b in train.val_loader(32):
        s.append(model.predict(b)["score"])
        y.append(b["label"])
    assert auc(torch.cat(s), torch.cat(y)) == pytest.approx(model.selection["val_auc"], abs=1e-12)


def test_predict_scores_and_held_out_domain_auc(fitted, target):
    model, _ = fitted
    s = score(model, target)
    assert s.shape == (128,) and s.dtype == torch.float32
    assert torch.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()
    assert auc(s, target["label"]) > 0.75


def test_fit_without_usable_val_keeps_the_last_epoch():
    train = make_train(n_train=16, n_val=8)
    train._val = {k: (v[train._val["label"] == 1] if torch.is_tensor(v) else v) for k, v in train._val.items()}
    train._val["ids"] = train._val["ids"][: len(train._val["label"])]
    model = LateFusionCNN(epochs=2, seed=0)
    model.fit(train)
    assert model.selection["epoch"] == 2 and model.selection["val_auc"] is None
    assert model.selection["rule"].startswith("last epoch")


def test_epochs_zero_only_scores_source_val():
    train = make_train(n_train=16, n_val=8)
    model = LateFusionCNN(epochs=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.fit(train)
    assert [c[0] for c in train.calls] == ["val_loader"]
    assert model.selection["epoch"] == 0 and model.selection["rule"] == "best source-val AUC"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ----------------------------------------------------------------------------- missing modalities
@pytest.mark.parametrize("missing", [("depth",), ("ir",), ("depth", "ir"), ("rgb", "depth"), ("rgb", "ir")])
def test_missing_modalities_absent(fitted, target, missing):
    model, _ = fitted
    s = score(model, target, lambda b: drop(b, *missing))
    assert s.shape == (128,) and torch.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()
    assert auc(s, target["label"]) > 0.6  # every remaining modality carries a cue


def test_mask_false_with_key_present_equals_key_absent(fitted, target):
    model, _ = fitted

    def masked_only(b):
        out = dict(b)
        out["mask"] = b["mask"].clone()
        out["mask"][:, 1] = False
        out["depth"] = torch.full_like(b["depth"], float("nan"))  # never read
        return out

    assert torch.equal(score(model, target, masked_only), score(model, target, lambda b: drop(b, "depth")))


def test_per_sample_mask_and_no_mask_key(fitted, target):
    model, _ = fitted
    b = batches(target, 8, with_labels=False)[0]
    full = model.predict(b)["score"]
    no_mask = {k: v for k, v in b.items() if k != "mask"}
    assert torch.equal(model.predict(no_mask)["score"], full)
    mixed = dict(b, mask=b["mask"].clone())
    mixed["mask"][::2, 2] = False  # IR missing for even rows only
    got = model.predict(mixed)["score"]
    only = model.predict(drop(b, "ir"))["score"]
    assert torch.allclose(got[::2], only[::2]) and torch.allclose(got[1::2], full[1::2])


def test_zero_fill_and_absent_differ_but_both_run(fitted, target):
    model, _ = fitted
    absent = score(model, target, lambda b: drop(b, "depth", "ir"))
    zeros = score(model, target, lambda b: zero_fill(b, "depth", "ir"))
    assert torch.isfinite(absent).all() and torch.isfinite(zeros).all()
    assert not torch.allclose(absent, zeros)


def test_batch_without_any_modality_is_an_error(fitted):
    model, _ = fitted
    with pytest.raises(HarnessError, match="none of"):
        model.predict({"mask": torch.zeros(2, 3, dtype=torch.bool), "ids": ["a", "b"]})
    with pytest.raises(HarnessError, match=r"\(B, 1, S, S\)"):
        model.predict({"depth": torch.zeros(2, 3, S, S), "ids": ["a", "b"]})


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_scores_and_global_rng_untouched(target):
    def run(seed):
        m = LateFusionCNN(epochs=2, seed=seed)
        m.fit(make_train(n_train=16, n_val=8))
        return score(m, target), m.selection

    rng = torch.get_rng_state()
    (a, sel_a), (b, sel_b), (c, _) = run(3), run(3), run(4)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(a, b) and sel_a == sel_b
    assert not torch.equal(a, c)


# ----------------------------------------------------------------------------- weights
def test_weights_load_in_safe_mode(fitted, target, tmp_path):
    model, _ = fitted
    path = tmp_path / "fas_cnn.pt"
    torch.save(model.state_dict(), path)
    loaded = LateFusionCNN(weights=str(path), seed=123)
    assert torch.equal(score(loaded, target), score(model, target))
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": model.state_dict()}, wrapped)
    assert torch.equal(score(LateFusionCNN(weights=str(wrapped)), target), score(model, target))


def test_weights_errors(tmp_path):
    with pytest.raises(HarnessError, match="not found"):
        LateFusionCNN(weights=str(tmp_path / "nope.pt"))
    unsafe = tmp_path / "unsafe.pt"
    with open(unsafe, "wb") as f:  # a pickle holding an arbitrary object: refused by weights_only
        pickle.dump({"rgb": FakeTrain({}, {})}, f, protocol=2)
    with pytest.raises(HarnessError, match="safe mode"):
        LateFusionCNN(weights=str(unsafe))
    other = tmp_path / "other.pt"
    torch.save(LateFusionCNN(width=8).state_dict(), other)
    with pytest.raises(HarnessError, match="do not fit"):
        LateFusionCNN(weights=str(other))


def test_to_device_moves_the_nets(fitted, target):
    model, _ = fitted
    assert model.to("cpu") is model
    assert all(p.device.type == "cpu" for p in model.net.parameters())


# ----------------------------------------------------------------------------- arguments
def test_resnet18_without_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails even where it is installed
    with pytest.raises(HarnessError, match="resnet18 needs torchvision"):
        LateFusionCNN(backbone="resnet18")


@pytest.mark.parametrize("kwargs, match", [
    ({"backbone": "vgg16"}, "backbone"), ({"epochs": -1}, "epochs"), ({"epochs": 2.5}, "epochs"),
    ({"lr": 0}, "lr"), ({"batch_size": 0}, "batch_size"), ({"aux_weight": -1}, "aux_weight"),
    ({"frame_size": 4}, "frame_size"),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(HarnessError, match=match):
        LateFusionCNN(**kwargs)
