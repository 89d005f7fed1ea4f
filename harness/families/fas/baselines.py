"""Face anti-spoofing baselines: every built-in FAS adapter (registered in ``__init__.py``), for the
MMDG benchmark (reference ``fas.md`` §1.4–§1.5).

**Trained:** :class:`LateFusionCNN` (built-in model ``fas-cnn``): one small CNN per modality (RGB, depth, IR),
each ending in a bona fide logit; the fused logit is the **mean of the logits of the present
modalities**, so a missing modality is simply left out (Protocol 2 without zero-filling).  In the
lineage's zero-fill mode a missing modality arrives as zeros with its mask True and is fused like
any other input: the model cannot tell, which is the point of that mode.

Model selection is fair: after every epoch the fused scores of the **sources' validation**
batches (``train.val_loader``) are scored by AUC and the best epoch's weights are kept.  The
target test set is never seen during fit (the MMDG lineage selects on the target test set,
fas.md §1.5; we do not).

**Training-free:** :class:`ReliefTexture` (``fas-relief``): a face has relief and skin texture, a
print or a screen does not. Score = logistic of the relief (std of the depth map's central region) when depth is present,
else of the IR texture (mean absolute Laplacian), else of the RGB texture — so it also runs on
every missing-modality task. It is a sanity baseline and the registry-wide smoke model, not a
contender. It computes in float64, one sample at a time with numpy (fixed summation order), so its
scores (and the golden numbers) depend neither on the CPU's float32 kernels (vector width, threads,
oneDNN path) nor on which samples share a batch (torch's batched reductions split work by shape).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError
from harness.models import Adapter, TorchAdapter

from .metrics import auc

__all__ = ["LateFusionCNN", "MODALITIES", "ReliefTexture", "relief", "small_encoder", "texture"]

MODALITIES: tuple[str, ...] = ("rgb", "depth", "ir")   # the order of the batch's "mask" columns
CHANNELS = {"rgb": 3, "depth": 1, "ir": 1}
BACKBONES = ("small", "resnet18")
SELECTION_RULE = "best source-val AUC"


def small_encoder(in_channels: int, width: int = 16) -> nn.Sequential:
    """Three conv blocks (width, 2·width, 2·width channels), global average pool, one logit.

    Any frame size works (the pool is global); 32×32 costs about 1 MFLOP per modality.
    """
    w2 = 2 * width

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *block(in_channels, width), nn.MaxPool2d(2),
        *block(width, w2), nn.MaxPool2d(2),
        *block(w2, w2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w2, 1),
    )


def _resnet18_encoder(in_channels: int) -> nn.Module:
    """torchvision's ResNet-18, randomly initialised (never downloaded), one output logit."""
    try:
        import torchvision
    except ImportError as exc:
        raise HarnessError("resnet18 needs torchvision (pip install torchvision), "
                           "or use the default backbone='small'") from exc
    net = torchvision.models.resnet18(weights=None, num_classes=1)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


class LateFusionCNN(TorchAdapter):
    """Per-modality CNNs, late fusion by the mean of the present modalities' logits.

    Arguments (``--model-args``):
        epochs: training epochs (default 8; 0 = no training, e.g. with ``weights=``).
        seed: fixes the initial weights and the loader's shuffling (default 0).
        lr: Adam learning rate (default 1e-3).  batch_size: default 32.
        aux_weight: weight of the per-modality auxiliary BCE terms (default 0.5); they train each
            branch to work alone, which is what keeps scores usable when modalities go missing.
        width: channels of the first conv block of the small backbone (default 16).
        backbone: "small" (default) or "resnet18" (needs torchvision, meant for a GPU).
        weights: path of a state dict saved from ``model.net.state_dict()``; loaded with
            ``torch.load(..., weights_only=True)`` (safe mode). Nothing is ever downloaded.
        frame_size: side of the square frames the runner resizes to (default 32 for "small",
            224 for "resnet18").

    After ``fit``: ``selection`` = {"epoch", "val_auc", "rule"} and ``history`` = one dict per
    epoch ({"epoch", "train_loss", "val_auc"}).
    """

    name = "fas-cnn"
    family = "fas"
    inputs = MODALITIES
    output = "score"
    frame_size = 32
    golden = False  # trains for ~15 s per task: kept out of the golden re-run of every CI run

    def __init__(self, epochs: int = 8, seed: int = 0, lr: float = 1e-3, batch_size: int = 32,
                 aux_weight: float = 0.5, width: int = 16, backbone: str = "small",
                 weights: str | None = None, frame_size: int | None = None):
        super().__init__()
        if backbone not in BACKBONES:
            raise HarnessError(f"fas-cnn: backbone must be one of {BACKBONES}, got {backbone!r}")
        for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1), ("width", width, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise HarnessError(f"fas-cnn: {name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise HarnessError(f"fas-cnn: lr must be a positive number, got {lr!r}")
        if not (isinstance(aux_weight, (int, float)) and aux_weight >= 0 and math.isfinite(aux_weight)):
            raise HarnessError(f"fas-cnn: aux_weight must be a number >= 0, got {aux_weight!r}")
        self.epochs, self.seed, self.lr, self.batch_size = epochs, int(seed), float(lr), batch_size
        self.aux_weight, self.backbone = float(aux_weight), backbone
        if frame_size is not None:
            if not isinstance(frame_size, int) or isinstance(frame_size, bool) or frame_size < 8:
                raise HarnessError(f"fas-cnn: frame_size must be an integer >= 8, got {frame_size!r}")
            self.frame_size = frame_size
        elif backbone == "resnet18":
            self.frame_size = 224
        encoder = (lambda c: small_encoder(c, width)) if backbone == "small" else _resnet18_encoder
        self.init_net(lambda: nn.ModuleDict({m: encoder(CHANNELS[m]) for m in MODALITIES}), self.seed, weights)

    # ------------------------------------------------------------------ weights and device
    def architecture(self) -> str:
        return f"backbone={self.backbone!r}"

    # ------------------------------------------------------------------ forward
    def _present(self, batch: dict) -> tuple[list[str], torch.Tensor, int]:
        """Modalities with a tensor in the batch, the (B, 3) presence mask and the batch size.

        A modality counts as present when its key is there **and** its mask column is True
        (a key absent means missing whatever the mask says)."""
        keys = [m for m in MODALITIES if batch.get(m) is not None]
        if not keys:
            raise HarnessError(f"fas-cnn: the batch holds none of {MODALITIES} (keys: {sorted(batch)})")
        n = int(batch[keys[0]].shape[0])
        have = torch.tensor([m in keys for m in MODALITIES], device=self.device)
        mask = batch.get("mask")
        if mask is None:
            mask = have.expand(n, 3)
        else:
            mask = torch.as_tensor(mask, device=self.device).bool()
            if mask.shape != (n, 3):
                raise HarnessError(f"fas-cnn: mask must have shape ({n}, 3), got {tuple(mask.shape)}")
            mask = mask & have
        return keys, mask, n

    def _logits(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(fused (B,), per-modality (B, 3) with zeros where absent, mask (B, 3) float)."""
        keys, mask, n = self._present(batch)
        columns = []
        for i, m in enumerate(MODALITIES):
            col = torch.zeros(n, device=self.device)
            if m in keys:
                x = torch.as_tensor(batch[m])
                if x.ndim != 4 or x.shape[0] != n or x.shape[1] != CHANNELS[m]:
                    raise HarnessError(f"fas-cnn: batch[{m!r}] must be (B, {CHANNELS[m]}, S, S), "
                                       f"got {tuple(x.shape)}")
                rows = mask[:, i]
                if rows.all():
                    col = self.net[m](x.to(self.device, torch.float32))[:, 0]
                elif rows.any():  # only the rows that have this modality are ever read
                    x = x.to(self.device)[rows].float()
                    col = col.index_put((rows.nonzero()[:, 0],), self.net[m](x)[:, 0])
            columns.append(col)
        per = torch.stack(columns, 1)
        w = mask.float()
        fused = (per * w).sum(1) / w.sum(1).clamp_min(1.0)  # no modality at all: logit 0, score 0.5
        return fused, per, w

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        """``{"score": (B,)}``: probability of bona fide from the mean logit of present modalities."""
        self.net.eval()
        with torch.no_grad():
            fused, _, _ = self._logits(batch)
        return {"score": torch.sigmoid(fused)}

    # ------------------------------------------------------------------ training
    def _val_auc(self, batches: Iterable[dict]) -> float:
        scores, labels = [], []
        for batch in batches:
            scores.append(self.predict(batch)["score"].cpu())
            labels.append(torch.as_tensor(batch["label"]).cpu())
        if not scores:
            return float("nan")
        return float(auc(torch.cat(scores), torch.cat(labels), on_degenerate="nan"))

    def fit(self, train: Any) -> None:
        """Adam on BCE(fused) + aux_weight · mean BCE(per modality); keep the best source-val epoch.

        Uses ``train.loader(batch_size, shuffle, seed)`` (shuffled with ``seed + epoch``) and
        ``train.val_loader(batch_size)`` only; no test data reach this method.
        """
        self.history = []
        bce = nn.BCEWithLogitsLoss(reduction="none")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
            best_auc, best_epoch, best_state = -math.inf, 0, None
            for epoch in range(1, self.epochs + 1):
                self.net.train()
                total, count = 0.0, 0
                for batch in train.loader(self.batch_size, True, self.seed + epoch):
                    y = torch.as_tensor(batch["label"]).to(self.device, torch.float32)
                    fused, per, w = self._logits(batch)
                    loss = bce(fused, y).mean()
                    if self.aux_weight:
                        aux = (bce(per, y[:, None].expand_as(per)) * w).sum() / w.sum().clamp_min(1.0)
                        loss = loss + self.aux_weight * aux
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(y)
                    count += len(y)
                if count == 0:
                    raise HarnessError("fas-cnn: the training loader yielded no samples")
                val = self._val_auc(train.val_loader(self.batch_size))
                self.end_epoch({"epoch": epoch, "train_loss": total / count, "val_auc": val})
                # the first epoch with the highest AUC; while no epoch has a defined AUC, the latest
                if (val > best_auc) if not math.isnan(val) else best_auc == -math.inf:
                    best_state = copy.deepcopy(self.net.state_dict())
                    best_auc, best_epoch = (val if not math.isnan(val) else -math.inf), epoch
        if best_state is None:  # epochs == 0: score the given (or initial) weights on source val
            val = self._val_auc(train.val_loader(self.batch_size))
            self.selection = {"epoch": 0, "val_auc": None if math.isnan(val) else val, "rule": SELECTION_RULE}
            return
        self.net.load_state_dict(best_state)
        all_nan = all(math.isnan(h["val_auc"]) for h in self.history)
        self.selection = {"epoch": best_epoch, "val_auc": None if all_nan else best_auc,
                          "rule": SELECTION_RULE if not all_nan else
                          "last epoch (source val AUC undefined: empty or one-class val set)"}
        self.net.eval()


# ----------------------------------------------------------------------------- training-free


def _centre(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[-2:]
    return x[..., h // 4: h - h // 4, w // 4: w - w // 4]


def _per_sample(x: torch.Tensor, fn: Callable[[np.ndarray], float]) -> torch.Tensor:
    """(B,) float64: ``fn`` of each sample alone."""
    arrays = x.detach().to("cpu", torch.float64).numpy()
    return torch.tensor([fn(a) for a in arrays], dtype=torch.float64, device=x.device)


def _relief(depth: np.ndarray) -> float:
    return float(np.std(_centre(depth).ravel(), ddof=1))


def _texture(image: np.ndarray) -> float:
    grey = image.mean(axis=0)  # channel mean, (H, W)
    p = np.pad(grey, 1)  # zero borders, as a padded convolution
    lap = (p[:-2, 1:-1] + p[1:-1, :-2]) + (p[1:-1, 1:-1] * -4.0 + p[1:-1, 2:]) + p[2:, 1:-1]
    return float(np.abs(_centre(lap)).mean())


def relief(depth: torch.Tensor) -> torch.Tensor:
    """(B,) std of the central depth region (B, 1, H, W)."""
    return _per_sample(depth, _relief)


def texture(image: torch.Tensor) -> torch.Tensor:
    """(B,) mean |Laplacian| of the channel-mean image (B, C, H, W) (fine texture energy)."""
    return _per_sample(image, _texture)


class ReliefTexture(Adapter):
    """Training-free: relief from depth, else IR texture, else RGB texture; P(bona fide) via a
    logistic with a fixed scale (``scale``, ``offset``)."""

    family = "fas"
    inputs = ("rgb", "depth", "ir")
    output = "score"
    frame_size = 32

    def __init__(self, scale: float = 40.0, offset: float = 0.05):
        super().__init__()
        self.scale, self.offset = float(scale), float(offset)

    def predict(self, batch: dict) -> dict:
        mask = batch["mask"]
        if "depth" in batch:
            cue = relief(batch["depth"])
            use = mask[:, 1]
        else:
            cue = torch.zeros(len(mask), dtype=torch.float64, device=mask.device)
            use = torch.zeros(len(mask), dtype=torch.bool, device=mask.device)
        fallback = texture(batch["ir"]) if "ir" in batch else texture(batch["rgb"])
        cue = torch.where(use, cue, fallback)
        return {"score": torch.sigmoid(self.scale * (cue - self.offset))}
