"""Splicing baselines: two training-free forensic maps and a small trainable segmentation net.

- :class:`ErrorLevelAnalysis` (``splice-ela``): error level analysis. Re-compress at a fixed JPEG
  quality, take the absolute difference (channel max), average it locally, normalise by the
  image's robust scale (median + MAD) and map through a logistic.
- :class:`NoiseResidual` (``splice-noise``): local noise-level inconsistency. A 3x3 SRM high-pass
  residual of the grey image, its local variance, the |log-ratio| to the image's median local
  variance, mapped through a logistic.
- :class:`SmallSegNet` (``splice-unet``): a 3-down / 3-up encoder-decoder on the RGB image plus
  the two maps above, run at 128x128 and upsampled back; trained with BCE + soft dice, selected on
  the held-out source images (``train.val_loader``) only.

Every adapter takes the family's batch (``images``: list of (3, H, W) float tensors in [0, 1],
sizes differ; ``ids``) and returns ``{"mask": list of (H, W) float tensors in [0, 1], one per
image at its size, "score": (B,)}``; all are deterministic (on CPU exactly).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.models import Adapter, TorchAdapter

from . import perturb

__all__ = ["ErrorLevelAnalysis", "NoiseResidual", "SmallSegNet", "ela_map", "noise_map"]

SCORE_QUANTILE = 0.99          # image score of the training-free maps: this quantile of the map
ELA_MAD_SCALE = 1.4826          # MAD → standard deviation under normality
ELA_SCALE_FLOOR = 0.5           # grey levels: the robust scale never falls below this (flat images)
ELA_Z0 = 3.0                    # ELA map = sigmoid(z - 3): 0.5 at three robust deviations
SRM_KERNEL = ((-1, 2, -1), (2, -4, 2), (-1, 2, -1))  # SRM "square 3x3", /4
LUMA_PER_MILLE = (299, 587, 114)  # BT.601 luma weights x 1000
NOISE_EPS = (1.0 / 255.0) ** 2  # variance floor: about one grey level (below it counts as flat)
NOISE_EPS_UNITS = 16 * 1000 ** 2  # NOISE_EPS in the integer units of noise_map: (1/255)^2 x (4 x 255000)^2
NOISE_C = math.log(4.0)         # noise map = sigmoid(3 (|log v/v_med| - log 4)): 0.5 at 4x the variance
NOISE_SLOPE = 3.0
NET_SIZE = 128
SELECTION_RULE = "lowest source-val loss (BCE + dice weight x dice), ties: earlier epoch"


# ----------------------------------------------------------------------------- helpers
def _check_window(name: str, window: Any) -> int:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise HarnessError(f"{name}: window must be an odd integer >= 1, got {window!r}")
    return window


def _check_int(name: str, arg: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise HarnessError(f"{name}: {arg} must be an integer >= {low}, got {value!r}")
    return value


def _check_number(name: str, arg: str, value: Any, positive: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise HarnessError(f"{name}: {arg} must be a {'positive' if positive else 'non-negative'} number, "
                           f"got {value!r}")
    return float(value)


def batch_images(batch: dict, name: str) -> list[torch.Tensor]:
    """The batch's ``images`` list, each checked to be a (3, H, W) tensor with H, W >= 1."""
    images = batch.get("images") if isinstance(batch, dict) else None
    if images is None:
        raise HarnessError(f"{name}: the batch has no 'images' (keys: {sorted(batch) if isinstance(batch, dict) else '?'})")
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        images = list(images)
    out = []
    for i, image in enumerate(images):
        image = torch.as_tensor(image)
        if image.ndim != 3 or image.shape[0] != 3 or min(image.shape[1:]) < 1:
            raise HarnessError(f"{name}: image {i} must be a (3, H, W) tensor, got {tuple(image.shape)}")
        out.append(image)
    return out


def _quantile(x: torch.Tensor, q: float) -> torch.Tensor:
    """The q-quantile (nearest rank, lower) of all values; works on tensors of any size."""
    flat = x.reshape(-1)
    k = min(max(math.floor(q * (flat.numel() - 1)) + 1, 1), flat.numel())
    return flat.kthvalue(k).values if flat.device.type == "cpu" else flat.sort().values[k - 1]


def _lower_median(x: np.ndarray) -> float:
    """The nearest-rank (lower) median of all values, as :func:`_quantile` (x, 0.5): a selection, exact."""
    flat = x.reshape(-1)
    k = math.floor(0.5 * (flat.size - 1))
    return float(np.partition(flat, k)[k])


def _box_sums(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) int64 → (sums, counts) over each window x window neighbourhood (borders: the pixels
    inside), from an integral image: integer arithmetic, so exact in any summation order."""
    h, w = x.shape
    pad = window // 2
    integral = np.zeros((h + 1, w + 1), np.int64)
    integral[1:, 1:] = x.cumsum(0).cumsum(1)
    r0, r1 = np.clip(np.arange(h) - pad, 0, h), np.clip(np.arange(h) + pad + 1, 0, h)
    c0, c1 = np.clip(np.arange(w) - pad, 0, w), np.clip(np.arange(w) + pad + 1, 0, w)
    sums = (integral[r1][:, c1] - integral[r0][:, c1]) - (integral[r1][:, c0] - integral[r0][:, c0])
    return sums, (r1 - r0)[:, None] * (c1 - c0)[None, :]


def _local_mean(x: np.ndarray, window: int) -> np.ndarray:
    """(H, W) int64 → (H, W) float64 mean over a window x window neighbourhood (borders: the pixels
    inside); exact sums and one correctly rounded division per pixel."""
    if window == 1:
        return x.astype(np.float64)
    sums, counts = _box_sums(x, window)
    return sums / counts


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] → uint8 (H, W, 3) RGB (rounded)."""
    return (image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
            .permute(1, 2, 0).contiguous().cpu().numpy())


# The two maps are computed on the image's 8-bit levels in integer arithmetic up to one division
# per pixel, then in float64: no float32 kernel whose rounding depends on the CPU's vector width,
# thread count or BLAS/oneDNN code path (splice-noise's float32 conv/avg-pool/log once moved 8-bit
# mask levels, and so pixel metrics by 1e-6, between AVX-512 and AVX2 machines). What is left is
# libm/SIMD exp and log at <= 1-2 ulp in float64: it can move a level only for a value within
# ~1e-15 of a half-level boundary.

def ela_map(image: torch.Tensor, quality: int = 90, window: int = 7, device: Any = "cpu") -> torch.Tensor:
    """(H, W) float64 in [0, 1]: the error-level map of one (3, H, W) image in [0, 1].

    |image - JPEG_q(image)| in grey levels, max over channels, local mean over ``window``, then
    z = (m - median) / max(1.4826 MAD, 0.5) and sigmoid(z - 3)."""
    u8 = _to_uint8(image)
    recompressed = perturb.apply(u8, "jpeg", quality, seed=0, sample_id="")
    diff = np.abs(u8.astype(np.int64) - recompressed.astype(np.int64)).max(axis=2)
    m = _local_mean(diff, window)
    med = _lower_median(m)
    scale = max(ELA_MAD_SCALE * _lower_median(np.abs(m - med)), ELA_SCALE_FLOOR)
    return torch.from_numpy(_sigmoid((m - med) / scale - ELA_Z0)).to(device)


def noise_map(image: torch.Tensor, window: int = 9, device: Any = "cpu") -> torch.Tensor:
    """(H, W) float64 in [0, 1]: the noise-inconsistency map of one (3, H, W) image in [0, 1].

    SRM 3x3 residual of the grey image (replicated borders), its local variance v over ``window``,
    and sigmoid(3 (|log((v + eps) / (median v + eps))| - log 4)). Grey = 0.299 R + 0.587 G + 0.114 B
    of the 8-bit levels, held as integers in units of 1/255000 (exact), so the residual and the
    windowed sums of its square are exact integers."""
    u8 = _to_uint8(image).astype(np.int64)
    grey = u8 @ np.array(LUMA_PER_MILLE, np.int64)  # 1000 x 255 x grey, exactly
    padded = np.pad(grey, 1, mode="edge")
    h, w = grey.shape
    residual = sum(int(k) * padded[i:i + h, j:j + w]
                   for i, row in enumerate(SRM_KERNEL) for j, k in enumerate(row) if k)
    sums, counts = _box_sums(residual * residual, window)
    # v + eps in units of (4 x 255000)^2, as one exact integer over its count
    var_eps = (sums + NOISE_EPS_UNITS * counts) / counts
    ratio = np.log(var_eps / _lower_median(var_eps))
    return torch.from_numpy(_sigmoid(NOISE_SLOPE * (np.abs(ratio) - NOISE_C))).to(device)


class _MapAdapter(Adapter):
    """A training-free map per image; image score = the map's 99th percentile."""

    family = "splicing"
    inputs = ("image",)
    output = "mask"
    name = ""

    def __init__(self):
        super().__init__()
        self.device = torch.device("cpu")

    def to(self, device: Any) -> _MapAdapter:
        self.device = torch.device(device)
        return self

    def map(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, batch: dict) -> dict[str, Any]:
        with torch.no_grad():
            masks = [self.map(image) for image in batch_images(batch, self.name)]
            scores = torch.stack([_quantile(m, SCORE_QUANTILE) for m in masks]) if masks else torch.zeros(0)
        return {"mask": masks, "score": scores}


class ErrorLevelAnalysis(_MapAdapter):
    """Error level analysis (training-free).

    Arguments (``--model-args``):
        quality: JPEG quality of the re-compression (default 90).
        window: odd side of the local mean (default 7).
    Map: sigmoid(z - 3) of the robustly standardised local error level; score: its 99th percentile."""

    name = "splice-ela"
    golden = False  # one golden training-free baseline (splice-noise) keeps CI short; this one adds JPEG codec work

    def __init__(self, quality: int = 90, window: int = 7):
        super().__init__()
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise HarnessError(f"splice-ela: quality must be an integer in 1..100, got {quality!r}")
        self.quality, self.window = quality, _check_window(self.name, window)

    def map(self, image: torch.Tensor) -> torch.Tensor:
        return ela_map(image, self.quality, self.window, self.device)


class NoiseResidual(_MapAdapter):
    """Local noise-level inconsistency (training-free).

    Arguments (``--model-args``):
        window: odd side of the local variance window (default 9).
    Map: sigmoid(3 (|log(v / median v)| - log 4)) of the SRM residual's local variance v; score:
    its 99th percentile."""

    name = "splice-noise"

    def __init__(self, window: int = 9):
        super().__init__()
        self.window = _check_window(self.name, window)

    def map(self, image: torch.Tensor) -> torch.Tensor:
        return noise_map(image, self.window, self.device)


# ----------------------------------------------------------------------------- SmallSegNet
def _block(c_in: int, c_out: int) -> nn.Sequential:
    groups = 4 if c_out % 4 == 0 else 1
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.ReLU())


class _UNet(nn.Module):
    """3 down / 3 up encoder-decoder with skips; (N, 5, S, S) → (N, 1, S, S) logits, S % 8 == 0."""

    def __init__(self, in_channels: int = 5, width: int = 16):
        super().__init__()
        w1, w2 = width, 2 * width
        self.e1, self.e2, self.e3, self.mid = _block(in_channels, w1), _block(w1, w2), _block(w2, w2), _block(w2, w2)
        self.d3, self.d2, self.d1 = _block(2 * w2, w2), _block(2 * w2, w2), _block(w2 + w1, w1)
        self.head = nn.Conv2d(w1, 1, 1)
        nn.init.constant_(self.head.bias, -2.0)  # prior: most pixels are authentic

    @staticmethod
    def _up(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.e1(x)
        s2 = self.e2(F.max_pool2d(s1, 2))
        s3 = self.e3(F.max_pool2d(s2, 2))
        mid = self.mid(F.max_pool2d(s3, 2))
        y = self.d3(self._up(mid, s3))
        y = self.d2(self._up(y, s2))
        y = self.d1(self._up(y, s1))
        return self.head(y)


def _to_net_size(x: torch.Tensor) -> torch.Tensor:
    """(C, H, W) → (C, 128, 128), bilinear with antialiasing (a no-op at that size)."""
    if tuple(x.shape[-2:]) == (NET_SIZE, NET_SIZE):
        return x
    return F.interpolate(x[None], size=(NET_SIZE, NET_SIZE), mode="bilinear", align_corners=False,
                         antialias=True)[0]


class SmallSegNet(TorchAdapter):
    """A small U-Net on RGB + the ELA map + the noise map, at 128x128 (trainable).

    Arguments (``--model-args``):
        epochs: training epochs (default 10; 0 = keep the initial or loaded weights).
        lr: Adam learning rate (default 1e-3).  batch_size: default 8.
        seed: fixes the initial weights and the loader's shuffling (default 0).
        dice: weight of the soft-dice term (tampered images only) added to the pixel BCE (default 1.0).
        width: channels of the first level (default 16; deeper levels have twice that).
        weights: path of a state dict saved from ``model.net.state_dict()`` (loaded in torch's safe
            mode, ``weights_only=True``; nothing is ever downloaded).

    Inputs are computed at each image's size, resized to 128x128; the logits are upsampled
    (bilinear) back to the image's size. Image score = the predicted mask's maximum. Before ``fit``
    it predicts with its seeded initial (or loaded) weights. After ``fit``: ``selection`` =
    {"epoch", "val_loss", "rule"} and ``history`` = one dict per epoch, epoch 0 = the initial
    weights' val loss (for reference; selection is among the trained epochs).
    """

    family = "splicing"
    inputs = ("image",)
    output = "mask"
    golden = False  # trained: kept out of the golden re-run of every CI run
    name = "splice-unet"

    def __init__(self, epochs: int = 10, lr: float = 1e-3, batch_size: int = 8, seed: int = 0,
                 dice: float = 1.0, width: int = 16, weights: str | None = None):
        super().__init__()
        self.epochs = _check_int(self.name, "epochs", epochs, 0)
        self.batch_size = _check_int(self.name, "batch_size", batch_size, 1)
        self.seed = _check_int(self.name, "seed", seed, 0)
        self.width = _check_int(self.name, "width", width, 1)
        self.lr = _check_number(self.name, "lr", lr, positive=True)
        self.dice = _check_number(self.name, "dice", dice, positive=False)
        self.init_net(lambda: _UNet(5, self.width), self.seed, weights)

    def architecture(self) -> str:
        return f"width={self.width}"

    # ------------------------------------------------------------------ forward
    def features(self, image: torch.Tensor) -> torch.Tensor:
        """(5, 128, 128) network input of one image: RGB, ELA map, noise map, scaled to [-1, 1]."""
        x = image.detach().to(self.device, torch.float32).clamp(0, 1)
        maps = torch.stack([ela_map(image, device=self.device), noise_map(image, device=self.device)]).float()
        return _to_net_size(torch.cat([x, maps])) * 2.0 - 1.0

    def _logits(self, images: list[torch.Tensor]) -> torch.Tensor:
        return self.net(torch.stack([self.features(im) for im in images]))

    def predict(self, batch: dict) -> dict[str, Any]:
        """Per-image masks at each image's size and their maxima as scores (eval mode, no grad)."""
        images = batch_images(batch, self.name)
        if not images:
            return {"mask": [], "score": torch.zeros(0)}
        self.net.eval()
        with torch.no_grad():
            logits = self._logits(images)
            masks = [torch.sigmoid(F.interpolate(lg[None], size=tuple(im.shape[1:]), mode="bilinear",
                                                 align_corners=False)[0, 0])
                     for lg, im in zip(logits, images)]
        return {"mask": masks, "score": torch.stack([m.max() for m in masks])}

    # ------------------------------------------------------------------ training
    def _targets(self, masks: list) -> torch.Tensor:
        out = []
        for m in masks:
            m = torch.as_tensor(m)
            if m.ndim != 2:
                raise HarnessError(f"{self.name}: training masks must be (H, W), got {tuple(m.shape)}")
            out.append(_to_net_size(m.to(self.device, torch.float32)[None]))
        return torch.stack(out)

    def _losses(self, batch: dict) -> torch.Tensor:
        """(B,) per-image loss: pixel-mean BCE + dice weight x soft dice (tampered images only)."""
        images = batch_images(batch, self.name)
        if len(batch.get("masks", ())) != len(images):
            raise HarnessError(f"{self.name}: a training batch needs one mask per image")
        logits, target = self._logits(images), self._targets(batch["masks"])
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((1, 2, 3))
        if self.dice == 0:
            return bce
        p = torch.sigmoid(logits)
        inter, total = (p * target).sum((1, 2, 3)), (p + target).sum((1, 2, 3))
        dice = 1.0 - (2.0 * inter + 1.0) / (total + 1.0)
        tampered = (target.amax((1, 2, 3)) > 0).float()
        return bce + self.dice * dice * tampered

    def _val_loss(self, batches: Iterable[dict]) -> float:
        """Mean per-image loss over the val batches; NaN when there are none."""
        total, count = 0.0, 0
        self.net.eval()
        with torch.no_grad():
            for batch in batches:
                losses = self._losses(batch)
                total += float(losses.sum())
                count += len(losses)
        return total / count if count else math.nan

    def fit(self, train: Any) -> None:
        """Adam on BCE + dice at 128x128; keep the epoch with the lowest source-val loss.

        Reads ``train.loader(batch_size, True, seed + epoch)`` and ``train.val_loader(batch_size)``
        once per epoch (plus the val loader once for the initial weights); nothing else."""
        self.history = [{"epoch": 0, "train_loss": None,
                         "val_loss": _nan_none(self._val_loss(train.val_loader(self.batch_size)))}]
        best_loss, best_epoch, best_state = math.inf, 0, None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
            for epoch in range(1, self.epochs + 1):
                self.net.train()
                total, count = 0.0, 0
                for batch in train.loader(self.batch_size, True, self.seed + epoch):
                    losses = self._losses(batch)
                    if len(losses) == 0:
                        continue
                    loss = losses.mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(losses)
                    count += len(losses)
                if count == 0:
                    raise HarnessError(f"{self.name}: the training loader yielded no images (the task needs "
                                       f"datasets.train, or pass epochs=0 with weights=...)")
                val = self._val_loss(train.val_loader(self.batch_size))
                self.end_epoch({"epoch": epoch, "train_loss": total / count, "val_loss": _nan_none(val)})
                # the first epoch with the lowest val loss; while val is empty, the latest epoch
                if (val < best_loss) if not math.isnan(val) else best_loss == math.inf:
                    best_loss = best_loss if math.isnan(val) else val
                    best_epoch, best_state = epoch, copy.deepcopy(self.net.state_dict())
        if best_state is None:  # epochs == 0
            rule, val = "no training (epochs=0)", self.history[0]["val_loss"]
        else:
            self.net.load_state_dict(best_state)
            val = self.history[best_epoch]["val_loss"]
            rule = SELECTION_RULE if val is not None else "last epoch (empty source val set)"
        self.selection = {"epoch": best_epoch, "val_loss": val, "rule": rule}
        self.net.eval()


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else x
