"""The deception baselines ``FusionNet`` (dd-fusion) and ``PooledLogistic`` (dd-linear) on a tiny
synthetic data set: held-out-domain accuracy, source-val selection, branch choice, missing
modalities, determinism, batch invariance, argument errors and CPU/GPU agreement."""
from __future__ import annotations

import pytest
import torch

from harness.errors import HarnessError
from harness.families.deception.baselines import (
    L2_GRID,
    MODALITIES,
    FusionNet,
    PooledLogistic,
    feature_width,
    pooled_features,
)

T_AU, T_FACE, FACE_S, MEL_S = 8, 4, 32, 32
CUE_DIMS = 10          # AUs whose mean is shifted for truth clips
EPOCHS = 8             # of the fitted FusionNet (with lr 3e-3: enough for this tiny set)
SOURCES = (-0.5, 0.5)  # mean shift of the two source domains
TARGET = 0.25          # the held-out domain's shift


# ----------------------------------------------------------------------------- synthetic data
def make_domain(n: int, shift: float, seed: int, domain: int = 0) -> dict:
    """``n`` clips, alternating lie (0) / truth (1).  Truth clips have a higher mean on the first
    AUs and a brighter mel image; the domain shifts every AU, the affect and the mel brightness.
    Faces and wave are noise (no cue)."""
    g = torch.Generator().manual_seed(seed)
    label = (torch.arange(n) % 2).float()
    truth = label[:, None, None]
    cue = torch.zeros(43)
    cue[:CUE_DIMS] = 1.0
    au = (torch.randn(n, 1, 43, generator=g) + 0.5 * torch.randn(n, T_AU, 43, generator=g)
          + shift + truth * cue)
    affect = torch.randn(n, T_AU, 7, generator=g) + 0.3 * shift
    brightness = 0.4 + 0.15 * truth[..., None] + 0.1 * shift + 0.06 * torch.randn(n, 1, 1, 1, generator=g)
    mel = (brightness + 0.1 * torch.randn(n, 3, MEL_S, MEL_S, generator=g)).clamp(0, 1)
    faces = (0.3 + 0.4 * torch.rand(n, T_FACE, 3, FACE_S, FACE_S, generator=g)).clamp(0, 1)
    lengths = torch.randint(100, 400, (n,), generator=g)
    wave = 0.1 * torch.randn(n, 400, generator=g) * (torch.arange(400)[None] < lengths[:, None])
    return {"faces": faces, "au": au, "affect": affect, "mel": mel, "wave": wave, "wave_len": lengths,
            "label": label, "domain": torch.full((n,), domain, dtype=torch.long),
            "ids": [f"d{domain}-s{seed}-{i}" for i in range(n)]}


def concat(parts: list[dict]) -> dict:
    out = {k: torch.cat([p[k] for p in parts]) for k in parts[0] if k != "ids"}
    out["ids"] = [i for p in parts for i in p["ids"]]
    return out


def batches(data: dict, batch_size: int, order: torch.Tensor | None = None, with_labels: bool = True) -> list[dict]:
    """Batches as the family's collate builds them (all modalities present, mask all True)."""
    n = len(data["ids"])
    order = torch.arange(n) if order is None else order
    out = []
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        b = {k: data[k][idx] for k in (*MODALITIES, "wave_len")}
        b["mask"] = torch.ones(len(idx), len(MODALITIES), dtype=torch.bool)
        b["ids"] = [data["ids"][i] for i in idx.tolist()]
        if with_labels:
            b["label"], b["domain"] = data["label"][idx], data["domain"][idx]
        out.append(b)
    return out


class FakeTrain:
    """The fit-time interface (``domains``, ``n_domains``, ``modalities``, ``loader``,
    ``val_loader``) over source data only; calls are logged."""

    def __init__(self, train: dict, val: dict):
        self._train, self._val = train, val
        self.domains = ["src0", "src1"]
        self.n_domains = 2
        self.modalities = MODALITIES
        self.calls: list[tuple] = []

    def loader(self, batch_size=16, shuffle=True, seed=0):
        self.calls.append(("loader", batch_size, shuffle, seed))
        n = len(self._train["ids"])
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else None
        return iter(batches(self._train, batch_size, order))

    def val_loader(self, batch_size=64):
        self.calls.append(("val_loader", batch_size))
        return iter(batches(self._val, batch_size))


def make_train(n_train: int = 48, n_val: int = 16) -> FakeTrain:
    train = concat([make_domain(n_train, s, seed=10 + d, domain=d) for d, s in enumerate(SOURCES)])
    val = concat([make_domain(n_val, s, seed=20 + d, domain=d) for d, s in enumerate(SOURCES)])
    return FakeTrain(train, val)


def drop(batch: dict, *missing: str) -> dict:
    """The batch with ``missing`` modalities absent (key removed, mask False)."""
    out = {k: v for k, v in batch.items() if k not in missing}
    out["mask"] = batch["mask"].clone()
    for m in missing:
        out["mask"][:, MODALITIES.index(m)] = False
    return out


def masked(batch: dict, *missing: str) -> dict:
    """The batch with ``missing`` modalities' keys kept but filled with NaN and masked False."""
    out = dict(batch, mask=batch["mask"].clone())
    for m in missing:
        out[m] = torch.full_like(batch[m], float("nan"))
        out["mask"][:, MODALITIES.index(m)] = False
    return out


def score(model, data: dict, transform=lambda b: b) -> torch.Tensor:
    return torch.cat([model.predict(transform(b))["score"] for b in batches(data, 32, with_labels=False)])


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    return float(((scores > 0.5).float() == labels).float().mean())


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def target() -> dict:
    return make_domain(128, TARGET, seed=99, domain=2)


@pytest.fixture(scope="module")
def few() -> dict:
    """A small held-out batch set for the tests that score many variants."""
    return make_domain(32, TARGET, seed=98, domain=2)


@pytest.fixture(scope="module")
def fusion():
    train = make_train()
    model = FusionNet(epochs=EPOCHS, lr=3e-3, seed=0)
    model.fit(train)
    return model, train


@pytest.fixture(scope="module")
def linear():
    train = make_train()
    model = PooledLogistic()
    model.fit(train)
    return model, train


# ----------------------------------------------------------------------------- contract
def test_class_attributes():
    assert FusionNet.family == PooledLogistic.family == "deception"
    assert FusionNet.inputs == ("faces", "au", "affect", "mel", "wave")
    assert PooledLogistic.inputs == ("au", "affect", "mel", "wave")
    assert FusionNet.output == PooledLogistic.output == "score"
    assert FusionNet.golden is False and getattr(PooledLogistic, "golden", True) is True


def test_pooled_features_layout_and_missing_groups(target):
    b = batches(target, 4, with_labels=False)[0]
    x = pooled_features(b)
    assert x.shape == (4, feature_width()) == (4, 86 + 1 + 14 + 1 + 6 + 1 + 2 + 1)
    assert x.dtype == torch.float64
    assert torch.allclose(x[:, :43], b["au"].double().mean(1))
    assert (x[:, [86, 101, 108, 111]] == 1).all()                     # presence indicators
    y = pooled_features(masked(b, "au", "wave"))
    assert torch.isfinite(y).all()
    assert (y[:, :87] == 0).all() and (y[:, 109:] == 0).all()          # au and wave: zeros, absent
    assert torch.equal(y[:, 87:109], x[:, 87:109])                     # affect and mel untouched
    assert torch.equal(pooled_features(drop(b, "au", "wave")), y)
    v = pooled_features(b, ("au", "affect"))
    assert torch.equal(v, x[:, :102])


# ----------------------------------------------------------------------------- training and selection
def test_fusion_fit_selects_lowest_val_bce_and_reads_only_sources(fusion):
    model, train = fusion
    losses = [h["val_loss"] for h in model.history]
    assert [h["epoch"] for h in model.history] == list(range(1, EPOCHS + 1))
    assert model.selection["epoch"] == losses.index(min(losses)) + 1
    assert model.selection["val_loss"] == min(losses)
    assert model.selection["rule"].startswith("lowest source-val BCE")
    assert train.calls[0] == ("loader", 16, False, 0)  # v-feature statistics
    assert train.calls[1:] == [c for e in range(1, EPOCHS + 1) for c in (("loader", 16, True, e), ("val_loader", 16))]
    assert model.selection["val_loss"] == pytest.approx(model._validate(train.val_loader(16))[0], abs=1e-6)


def test_fusion_held_out_domain_accuracy(fusion, target):
    model, _ = fusion
    s = score(model, target)
    assert s.shape == (128,) and s.dtype == torch.float32
    assert torch.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()
    assert accuracy(s, target["label"]) > 0.7


def test_linear_held_out_domain_accuracy_and_l2_selection(linear, target):
    model, train = linear
    s = score(model, target)
    assert s.shape == (128,) and s.dtype == torch.float32
    assert torch.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()
    assert accuracy(s, target["label"]) > 0.7
    assert [h["l2"] for h in model.history] == list(L2_GRID)
    losses = [h["val_log_loss"] for h in model.history]
    assert model.selection["l2"] == L2_GRID[losses.index(min(losses))]
    assert train.calls == [("loader", 64, False, 0), ("val_loader", 64)]


def test_fusion_without_val_keeps_the_last_epoch():
    train = make_train(n_train=8, n_val=4)
    train._val = {k: v[:0] for k, v in train._val.items()}
    model = FusionNet(epochs=2, modalities="v")
    model.fit(train)
    assert model.selection == {"epoch": 2, "val_loss": None, "val_acc": None,
                               "rule": "last epoch (empty source val set)"}


def test_fusion_epochs_zero_keeps_initial_weights():
    train = make_train(n_train=8, n_val=4)
    model = FusionNet(epochs=0)
    before = {k: v.clone() for k, v in model.state_dict().items() if "scaler" not in k}
    model.fit(train)
    assert model.selection["epoch"] == 0 and model.selection["val_loss"] is not None
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not torch.equal(model.state_dict()["scaler.mean"], torch.zeros_like(model.state_dict()["scaler.mean"]))


def test_linear_with_given_l2_skips_val():
    train = make_train(n_train=16, n_val=8)
    model = PooledLogistic(l2=0.1)
    model.fit(train)
    assert model.selection == {"l2": 0.1, "val_log_loss": None, "rule": "given l2"}
    assert [c[0] for c in train.calls] == ["loader"]


# ----------------------------------------------------------------------------- branches and missing data
def test_va_ignores_faces(few):
    model = FusionNet(modalities="av", epochs=1)
    model.fit(make_train(n_train=8, n_val=4))
    b = batches(few, 16, with_labels=False)[0]
    base = model.predict(b)["score"]
    other = dict(b, faces=torch.rand_like(b["faces"]))
    assert torch.equal(model.predict(other)["score"], base)
    assert torch.equal(model.predict(drop(b, "faces"))["score"], base)
    assert model.branches == "va"


@pytest.mark.parametrize("missing", [("au",), ("au", "affect"), ("mel",), ("faces",), ("wave",),
                                     ("faces", "mel")])
def test_missing_modality_is_ignored(fusion, linear, few, missing):
    for model in (fusion[0], linear[0]):
        absent = score(model, few, lambda b: drop(b, *missing))
        assert absent.shape == (32,) and torch.isfinite(absent).all()
        assert (absent >= 0).all() and (absent <= 1).all()
        assert torch.allclose(score(model, few, lambda b: masked(b, *missing)), absent, atol=1e-6)


def test_per_sample_mask(fusion, target):
    model, _ = fusion
    b = batches(target, 8, with_labels=False)[0]
    full = model.predict(b)["score"]
    mixed = dict(b, mask=b["mask"].clone())
    mixed["mask"][::2, MODALITIES.index("mel")] = False  # mel missing for even rows only
    got = model.predict(mixed)["score"]
    only = model.predict(drop(b, "mel"))["score"]
    assert torch.allclose(got[::2], only[::2], atol=1e-6) and torch.allclose(got[1::2], full[1::2], atol=1e-6)
    assert not torch.allclose(got[::2], full[::2])


def test_fusion_takes_real_size_inputs_and_the_callers_grad_mode():
    model = FusionNet(hidden=8)
    b = {"faces": torch.rand(2, 3, 3, 224, 224), "au": torch.randn(2, 64, 43), "affect": torch.randn(2, 64, 7),
         "mel": torch.rand(2, 3, 224, 224), "mask": torch.ones(2, 5, dtype=torch.bool), "ids": ["a", "b"]}
    with torch.no_grad():
        s = model.predict(b)["score"]
    assert s.shape == (2,) and not s.requires_grad
    assert model.predict(b)["score"].requires_grad


# ----------------------------------------------------------------------------- determinism and invariance
def test_fusion_same_seed_same_scores_and_global_rng_untouched(few):
    def run(seed):
        m = FusionNet(epochs=2, seed=seed)
        m.fit(make_train(n_train=12, n_val=6))
        return score(m, few), m.selection

    rng = torch.get_rng_state()
    (a, sel_a), (b, sel_b), (c, _) = run(3), run(3), run(4)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(a, b) and sel_a == sel_b
    assert not torch.equal(a, c)


def test_linear_is_deterministic(linear, target):
    again = PooledLogistic()
    again.fit(make_train())
    assert torch.equal(score(again, target), score(linear[0], target))


def test_linear_scores_do_not_depend_on_batch_or_padding(linear, target):
    model, _ = linear
    b = batches(target, 16, with_labels=False)[0]
    together = model.predict(b)["score"]
    for i in (0, 5, 15):
        n = int(b["wave_len"][i])
        alone = {k: v[i:i + 1] for k, v in b.items() if k != "ids"}
        alone["wave"] = alone["wave"][:, :n]  # no padding at all when scored alone
        alone["ids"] = [b["ids"][i]]
        assert torch.allclose(model.predict(alone)["score"], together[i:i + 1], rtol=0, atol=1e-7)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", ["", "vx", "vv", "VAF", "audio", 3, None])
def test_bad_modalities(bad):
    with pytest.raises(HarnessError, match="modalities must be a non-empty combination"):
        FusionNet(modalities=bad)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": -1}, "epochs"), ({"epochs": 2.5}, "epochs"), ({"lr": 0}, "lr"),
    ({"batch_size": 0}, "batch_size"), ({"hidden": 0}, "hidden"), ({"seed": "x"}, "seed"),
])
def test_fusion_argument_errors(kwargs, match):
    with pytest.raises(HarnessError, match=match):
        FusionNet(**kwargs)


@pytest.mark.parametrize("kwargs, match", [({"l2": 0}, "l2"), ({"l2": -1.0}, "l2"), ({"iterations": 0}, "iterations")])
def test_linear_argument_errors(kwargs, match):
    with pytest.raises(HarnessError, match=match):
        PooledLogistic(**kwargs)


def test_linear_predict_before_fit(target):
    with pytest.raises(HarnessError, match="dd-linear must be fitted"):
        PooledLogistic().predict(batches(target, 4, with_labels=False)[0])


def test_bad_shapes_and_empty_batches():
    with pytest.raises(HarnessError, match="none of"):
        FusionNet().predict({"label": torch.zeros(2)})
    with pytest.raises(HarnessError, match=r"\(B, T, 43\)"):
        pooled_features({"au": torch.zeros(2, 4, 42)})
    with pytest.raises(HarnessError, match="mask"):
        pooled_features({"au": torch.zeros(2, 4, 43), "mask": torch.ones(2, 3, dtype=torch.bool)})


def test_to_device_returns_the_model(fusion, linear):
    assert fusion[0].to("cpu") is fusion[0]
    assert linear[0].to("cpu") is linear[0]


# ----------------------------------------------------------------------------- GPU
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fusion_cpu_gpu_agreement(few):
    model = FusionNet(epochs=1, seed=0)
    model.fit(make_train(n_train=8, n_val=4))
    cpu = score(model, few)
    conv_tf32, mm_tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        model.to("cuda")
        assert all(p.device.type == "cuda" for p in model.net.parameters())
        gpu = score(model, few, lambda b: {k: (v.cuda() if torch.is_tensor(v) else v) for k, v in b.items()})
        assert gpu.device.type == "cuda"
        assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)
        cpu_inputs = score(model, few)  # CPU tensors in, weights on the GPU
        assert torch.allclose(cpu_inputs.cpu(), cpu, atol=1e-4)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv_tf32, mm_tf32
        model.to("cpu")
