"""A training-free FAS baseline: a face has relief and skin texture, a print or a screen does not.

Score = logistic of the relief (std of the depth map's central region) when depth is present,
else of the IR texture (mean absolute Laplacian), else of the RGB texture — so it also runs on
every missing-modality task. It is a sanity baseline and the registry-wide smoke model, not a
contender. It computes in float64, one sample at a time with numpy (fixed summation order), so its
scores (and the golden numbers) depend neither on the CPU's float32 kernels (vector width, threads,
oneDNN path) nor on which samples share a batch (torch's batched reductions split work by shape).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ...models import Adapter


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
