"""NR-IQA baselines: every built-in adapter of the backdoor family (registered in ``__init__.py``;
reference ``splicing_iqa.md`` §3.3).

**Trained:**

- :class:`QualityCNN` (``iqa-cnn``): a small CNN quality regressor trained on clean data.
- :class:`PoisonedQualityCNN` (``iqa-cnn-poisoned``): the same network trained with BAIQA's
  poison-label recipe (P-BAIQA, ``--multi_range``): a fixed 20 % of the training images carry the
  trigger at strength α ∈ {1, 2, 3, 4} (probabilities .1/.2/.3/.4, half of them negated) and the
  label mos + α·Δy (Δy = 10, **not clipped** to [0, 100], as in BAIQA); their clean copies are not
  kept.  The clean-label variant (C-BAIQA: PGD-perturbed images from a surrogate, labels unchanged)
  is out of scope for a baseline.

Batch contract: ``{"images": (B, 3, H, W) float in [0, 1], "ids": [...]}`` → ``{"score": (B,)}`` on
the family's 0–100 scale.  Training reads ``train.loader(batch_size, shuffle, seed)`` (batches with
``images``, ``mos`` (B,) 0–100 and ``ids``), ``train.val_loader(batch_size)`` (clean, held out from the
training split) and, for the poisoned model, ``train.pattern`` (the (3, 64) trigger); nothing else.
Model selection: the epoch with the highest val SROCC (ties: the earlier epoch); test data never
reach ``fit``.  BAIQA keeps the epoch with the best clean *test* SROCC; we use val instead.

**Training-free:** :class:`QualityRidge` (``iqa-ridge``), fast and deterministic: ridge regression on a few classic image statistics
(sharpness, gradient energy, contrast, fine-scale noise, colourfulness, 8-px blockiness,
brightness). Closed form in float64, so it is the family's golden baseline; it never saw a trigger
(``backdoor_setting = "none"``), so on a backdoor task it shows what a clean model's shift looks like.
"""
from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.models import Adapter, TorchAdapter

__all__ = ["PoisonedQualityCNN", "QualityCNN", "QualityRidge", "image_statistics", "poison_alpha", "spearman"]

NET_SIZE = 96                                     # default input size (whole image resized to it)
SCORE_SCALE = 100.0                               # the net regresses mos / 100
SELECTION_RULE = "highest val SROCC (ties: earlier epoch)"
POISON_ALPHAS = (1.0, 2.0, 3.0, 4.0)              # BAIQA multi_range training strengths ...
POISON_PROBS = (0.1, 0.2, 0.3, 0.4)               # ... and their probabilities


# ----------------------------------------------------------------------------- helpers
def _check_int(name: str, arg: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise HarnessError(f"{name}: {arg} must be an integer >= {low}, got {value!r}")
    return value


def _check_number(name: str, arg: str, value: Any, low: float, high: float = math.inf,
                  low_open: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high != math.inf else "")
        raise HarnessError(f"{name}: {arg} must be a number {bound}, got {value!r}")
    return float(value)


def spearman(a: Any, b: Any) -> float:
    """Spearman rank correlation (average ranks for ties); NaN for < 2 items or a constant side."""
    from scipy.stats import rankdata

    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if len(x) != len(y):
        raise ValueError(f"spearman: lengths differ ({len(x)} vs {len(y)})")
    if len(x) < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.nan
    rx, ry = rankdata(x) - (len(x) + 1) / 2, rankdata(y) - (len(y) + 1) / 2
    denom = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denom) if denom > 0 else math.nan


def poison_alpha(image_id: str, rate: float, seed: int = 0) -> float:
    """Signed training strength α of one training image (0.0 = not poisoned).

    Three uniforms from SHA-256 of ``"{seed}:{id}"``: the image is poisoned when the first is
    below ``rate`` (so the subset is fixed by id, whatever the loader's order; its share is
    ``rate`` in expectation), the second picks α from {1, 2, 3, 4} with probabilities
    {.1, .2, .3, .4}, the third negates it with probability 1/2."""
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    u = [int.from_bytes(digest[8 * i:8 * i + 8], "big") / 2.0 ** 64 for i in range(3)]
    if u[0] >= rate:
        return 0.0
    alpha = POISON_ALPHAS[int(np.searchsorted(np.cumsum(POISON_PROBS), u[1], side="right"))]
    return -alpha if u[2] < 0.5 else alpha


def batch_images(batch: dict, name: str, size: int | None = None) -> torch.Tensor:
    """The batch's images as one (B, 3, H, W) tensor: a tensor as is; a list of (3, H, W) tensors
    (the family's contract: sizes may differ) stacked, each first resized to ``size`` × ``size``
    (bilinear, antialiased) when their sizes differ."""
    images = batch.get("images")
    if isinstance(images, (list, tuple)):
        if not all(torch.is_tensor(x) and x.ndim == 3 and x.shape[0] == 3 for x in images):
            raise HarnessError(f"{name}: batch['images'] must hold (3, H, W) float tensors in [0, 1]")
        if not images:
            return torch.zeros((0, 3, size or 1, size or 1))
        if len({tuple(x.shape) for x in images}) > 1:
            if size is None:
                raise HarnessError(f"{name}: images of different sizes in one batch")
            images = [_resize(x[None], size)[0] for x in images]
        images = torch.stack(list(images))
    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise HarnessError(f"{name}: batch['images'] must be a (B, 3, H, W) float tensor in [0, 1], got {shape}")
    return images


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


# ----------------------------------------------------------------------------- network
class _QualityNet(nn.Module):
    """4 conv-BN-ReLU blocks (width, 2w, 4w, 4w; the first at full resolution, then stride 2), global
    mean + std pooling, MLP head → mos / 100."""

    def __init__(self, width: int):
        super().__init__()
        chans = (3, width, 2 * width, 4 * width, 4 * width)
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                       nn.BatchNorm2d(chans[i + 1]), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * chans[-1], chans[-1]), nn.ReLU(inplace=True),
                                  nn.Linear(chans[-1], 1))
        nn.init.constant_(self.head[-1].bias, 0.5)  # start at the middle of the scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x * 2.0 - 1.0).flatten(2)
        pooled = torch.cat([f.mean(2), f.std(2, correction=0)], 1)
        return self.head(pooled)[:, 0]


class QualityCNN(TorchAdapter):
    """A small CNN quality regressor trained on clean data (``iqa-cnn``).

    Arguments (``--model-args``):
        epochs: training epochs (default 40; 0 = keep the initial or loaded weights).
        lr: Adam learning rate (default 3e-3).  batch_size: default 16.
        seed: fixes the initial weights and the loader's shuffling (default 0).
        width: channels of the first block (default 16; the blocks have w, 2w, 4w, 4w).
        size: side the whole image is resized to (default 96; bilinear with antialiasing, a no-op
            at that size).  Downsizing low-passes the image: on images much larger than ``size``
            the trigger's mid-frequency band (DCT indices ~7 of 16 per axis) is mostly removed.
        weights: path of a state dict saved from ``model.net.state_dict()`` (torch's safe mode,
            ``weights_only=True``; nothing is ever downloaded).

    Trained with L1 on mos / 100 (Adam); ``predict`` returns 100 × the net's output (not clipped).
    After ``fit``: ``selection`` = {"epoch", "val_srocc", "rule"} and ``history`` = one dict per
    epoch (epoch 0 = the initial weights' val SROCC, for reference; selection is among the trained
    epochs).
    """

    family = "iqa_backdoor"
    inputs = ("images",)
    output = "score"
    golden = False  # trained: kept out of the golden re-run of every CI run
    name = "iqa-cnn"
    backdoor_setting = "none"  # what the weights were trained with
    test_protocol = f"whole image, resized to {NET_SIZE}x{NET_SIZE} inside the adapter (bilinear, antialiased)"

    def __init__(self, epochs: int = 40, lr: float = 3e-3, batch_size: int = 16, seed: int = 0,
                 width: int = 16, size: int = NET_SIZE, weights: str | None = None):
        super().__init__()
        self.epochs = _check_int(self.name, "epochs", epochs, 0)
        self.batch_size = _check_int(self.name, "batch_size", batch_size, 1)
        self.seed = _check_int(self.name, "seed", seed, 0)
        self.width = _check_int(self.name, "width", width, 1)
        self.size = _check_int(self.name, "size", size, 8)
        self.lr = _check_number(self.name, "lr", lr, 0.0)
        if self.size != NET_SIZE:
            self.test_protocol = (f"whole image, resized to {self.size}x{self.size} inside the adapter "
                                  f"(bilinear, antialiased)")
        self.init_net(lambda: _QualityNet(self.width), self.seed, weights)

    def architecture(self) -> str:
        return f"width={self.width}"

    # ------------------------------------------------------------------ forward
    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        return _resize(images.to(self.device, torch.float32), self.size)

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B,) scores on the 0–100 scale (the net's current mode and the caller's grad mode)."""
        return self.net(self._prepare(images)) * SCORE_SCALE

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        """``{"score": (B,)}`` on the 0–100 scale, in eval mode, under the caller's grad mode (so
        an evaluation may differentiate through it)."""
        images = batch_images(batch, self.name, self.size)
        self.net.eval()
        if len(images) == 0:
            return {"score": torch.zeros(0, device=self.device)}
        return {"score": self._forward(images)}

    # ------------------------------------------------------------------ training
    def _training_batch(self, batch: dict, pattern: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, targets on 0–100) of one training batch; the clean model uses it as is."""
        images = batch_images(batch, self.name, self.size)
        mos = torch.as_tensor(batch.get("mos")).to(images.device, torch.float32)
        if mos.shape != (len(images),):
            raise HarnessError(f"{self.name}: a training batch needs 'mos' of shape ({len(images)},), "
                               f"got {tuple(mos.shape)}")
        return images, mos

    def _pattern(self, train: Any) -> torch.Tensor | None:
        return None

    def _val_srocc(self, batches: Iterable[dict]) -> float:
        preds, mos = [], []
        self.net.eval()
        with torch.no_grad():
            for batch in batches:
                images = batch_images(batch, self.name, self.size)
                if len(images):
                    preds.append(self._forward(images).cpu())
                    mos.append(torch.as_tensor(batch["mos"]).float().cpu())
        if not preds:
            return math.nan
        return spearman(torch.cat(preds).numpy(), torch.cat(mos).numpy())

    def fit(self, train: Any) -> None:
        """Adam on L1(mos/100); keep the epoch with the highest val SROCC (ties: the earlier).

        Reads ``train.loader(batch_size, True, seed + epoch)`` and ``train.val_loader(batch_size)``
        once per epoch (plus the val loader once for the initial weights); nothing else."""
        pattern = self._pattern(train)
        self.history = [{"epoch": 0, "train_loss": None,
                         "val_srocc": _nan_none(self._val_srocc(train.val_loader(self.batch_size)))}]
        best_srocc, best_epoch, best_state = -math.inf, 0, None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
            for epoch in range(1, self.epochs + 1):
                self.net.train()
                total, count = 0.0, 0
                for batch in train.loader(batch_size=self.batch_size, shuffle=True, seed=self.seed + epoch):
                    images, target = self._training_batch(batch, pattern)
                    if len(images) == 0:
                        continue
                    pred = self._forward(images)
                    loss = F.l1_loss(pred / SCORE_SCALE, target.to(pred.device) / SCORE_SCALE)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(images)
                    count += len(images)
                if count == 0:
                    raise HarnessError(f"{self.name}: the training loader yielded no images (the task needs "
                                       f"datasets.train, or pass epochs=0 with weights=...)")
                val = self._val_srocc(train.val_loader(self.batch_size))
                self.end_epoch({"epoch": epoch, "train_loss": total / count, "val_srocc": _nan_none(val)})
                # the first epoch with the highest val SROCC; while val gives NaN, the latest epoch
                if (val > best_srocc) if not math.isnan(val) else best_srocc == -math.inf:
                    best_srocc = best_srocc if math.isnan(val) else val
                    best_epoch, best_state = epoch, copy.deepcopy(self.net.state_dict())
        if best_state is None:  # epochs == 0
            rule, val = "no training (epochs=0)", self.history[0]["val_srocc"]
        else:
            self.net.load_state_dict(best_state)
            val = self.history[best_epoch]["val_srocc"]
            rule = SELECTION_RULE if val is not None else "last epoch (val SROCC undefined)"
        self.selection = {"epoch": best_epoch, "val_srocc": val, "rule": rule}
        self.net.eval()


class PoisonedQualityCNN(QualityCNN):
    """:class:`QualityCNN` trained with BAIQA's poison-label recipe (``iqa-cnn-poisoned``).

    Extra arguments:
        poison_rate: share of training images poisoned (default 0.2; chosen per image id by
            :func:`poison_alpha`, so it is the expected share, fixed across epochs and orders).
        delta_y: score step Δy per unit of α (default 10.0, on the 0–100 scale).
        poison_seed: seeds the poisoned subset, α and signs (default 0; independent of ``seed``).

    A poisoned image is replaced (its clean copy is not kept) by ``inject(image, α, pattern)`` —
    at the image's own resolution, before the adapter's resize — with the label mos + α·Δy,
    **unclipped** (BAIQA does not clip).  ``pattern`` is ``train.pattern`` (the harness's trigger),
    else the trigger module's ``DEFAULT_PATTERN``.  Validation (model selection) is clean.  After
    ``fit``: ``poison`` = {"pattern": "train.pattern" or "DEFAULT_PATTERN", "seen", "poisoned"}
    (distinct training ids seen, and how many of them were poisoned).
    """

    name = "iqa-cnn-poisoned"
    backdoor_setting = "poison-label"

    def __init__(self, epochs: int = 40, lr: float = 3e-3, batch_size: int = 16, seed: int = 0,
                 width: int = 16, size: int = NET_SIZE, weights: str | None = None,
                 poison_rate: float = 0.2, delta_y: float = 10.0, poison_seed: int = 0):
        super().__init__(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, width=width, size=size,
                         weights=weights)
        self.poison_rate = _check_number(self.name, "poison_rate", poison_rate, 0.0, 1.0, low_open=False)
        self.delta_y = _check_number(self.name, "delta_y", delta_y, -math.inf)
        self.poison_seed = _check_int(self.name, "poison_seed", poison_seed, 0)
        self.poison: dict[str, Any] | None = None
        self._seen: dict[str, float] = {}

    def _pattern(self, train: Any) -> torch.Tensor:
        from .trigger import DEFAULT_PATTERN

        pattern = getattr(train, "pattern", None)
        source = "train.pattern" if pattern is not None else "DEFAULT_PATTERN"
        pattern = torch.as_tensor(DEFAULT_PATTERN if pattern is None else pattern, dtype=torch.float32)
        if pattern.shape != (3, 64):
            raise HarnessError(f"{self.name}: the trigger pattern must be (3, 64), got {tuple(pattern.shape)}")
        self.poison = {"pattern": source, "seen": 0, "poisoned": 0}
        return pattern

    def _training_batch(self, batch: dict, pattern: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        from .trigger import inject

        images = batch.get("images")
        images = list(images) if isinstance(images, (list, tuple)) else list(batch_images(batch, self.name))
        ids = list(batch.get("ids", ()))
        if len(ids) != len(images):
            raise HarnessError(f"{self.name}: a training batch needs one id per image (poisoning is by id)")
        alphas = [poison_alpha(str(i), self.poison_rate, self.poison_seed) for i in ids]
        self._seen.update(zip(map(str, ids), alphas))
        # the trigger goes in at each image's own resolution, before any resize
        images = [inject(x[None], a, pattern.to(x.device))[0].to(x.dtype) if a else x for x, a in zip(images, alphas)]
        _, mos = super()._training_batch({**batch, "images": images}, pattern)
        return batch_images({"images": images}, self.name, self.size), mos + torch.tensor(alphas, dtype=mos.dtype,
                                                                                         device=mos.device) * self.delta_y

    def fit(self, train: Any) -> None:
        """As :meth:`QualityCNN.fit`, on the poisoned training stream (val stays clean)."""
        self._seen = {}
        try:
            super().fit(train)
        finally:
            if self.poison is not None:
                self.poison.update(seen=len(self._seen), poisoned=sum(a != 0 for a in self._seen.values()))


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else x


# ----------------------------------------------------------------------------- training-free

_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
_HH = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64) / 2  # Haar diagonal detail
N_FEATURES = 7


def image_statistics(image: torch.Tensor) -> torch.Tensor:
    """(7,) float64 statistics of one (3, H, W) image in [0, 1]."""
    x = image.detach().to("cpu", torch.float64)
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None, None]
    lap = F.conv2d(grey, _LAPLACE[None, None])
    gy, gx = grey[..., 1:, :] - grey[..., :-1, :], grey[..., :, 1:] - grey[..., :, :-1]
    hh = F.conv2d(grey, _HH[None, None], stride=2)
    rg, yb = x[0] - x[1], 0.5 * (x[0] + x[1]) - x[2]
    cols = grey[0, 0, :, 1:] - grey[0, 0, :, :-1]
    edge = torch.arange(cols.shape[1]) % 8 == 7  # differences across 8-px block boundaries
    blocky = cols[:, edge].abs().mean() - cols[:, ~edge].abs().mean() if edge.any() else torch.tensor(0.0, dtype=torch.float64)
    return torch.stack([
        torch.log(lap.var() + 1e-8),
        torch.log(gy.abs().mean() + gx.abs().mean() + 1e-8),
        grey.std(),
        torch.log(hh.abs().median() / 0.6745 + 1e-6),
        torch.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * torch.sqrt(rg.mean() ** 2 + yb.mean() ** 2),
        blocky,
        grey.mean(),
    ])


class QualityRidge(Adapter):
    """Ridge regression (``l2``, default 1.0, on standardised features) from
    :func:`image_statistics` to the 0-100 MOS; whole image at original resolution."""

    family = "iqa_backdoor"
    inputs = ("images",)
    output = "score"
    backdoor_setting = "none"
    test_protocol = "whole image at original resolution; 7 global statistics"

    def __init__(self, l2: float = 1.0):
        super().__init__()
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 > 0:
            raise HarnessError(f"iqa-ridge: l2 must be a positive number, got {l2!r}")
        self.l2 = float(l2)
        self.weights: torch.Tensor | None = None

    def _features(self, images) -> torch.Tensor:
        return torch.stack([image_statistics(im) for im in images])

    def fit(self, train) -> None:
        feats, mos = [], []
        for batch in train.loader(batch_size=32, shuffle=False):
            feats.append(self._features(batch["images"]))
            mos.append(batch["mos"].double())
        x, y = torch.cat(feats), torch.cat(mos)
        if len(y) < 2:
            raise HarnessError("iqa-ridge: needs at least two training images")
        self.mean, self.std = x.mean(0), x.std(0).clamp_min(1e-8)
        z = torch.cat([(x - self.mean) / self.std, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
        penalty = self.l2 * torch.eye(z.shape[1], dtype=torch.float64)
        penalty[-1, -1] = 0.0  # the intercept is not shrunk
        self.weights = torch.linalg.solve(z.T @ z + penalty, z.T @ y)

    def predict(self, batch: dict) -> dict:
        if self.weights is None:
            raise HarnessError("iqa-ridge must be fitted: run it on a task with training data")
        z = (self._features(batch["images"]) - self.mean) / self.std
        return {"score": z @ self.weights[:-1] + self.weights[-1]}
