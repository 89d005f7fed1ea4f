"""A training-free FAS baseline: a face has relief and skin texture, a print or a screen does not.

Score = logistic of the relief (std of the depth map's central region) when depth is present,
else of the IR texture (mean absolute Laplacian), else of the RGB texture — so it also runs on
every missing-modality task. It is a sanity baseline and the registry-wide smoke model, not a
contender. It computes in float64, so its scores (and the golden numbers) do not depend on the CPU's
float32 kernels (vector width, threads, oneDNN path).
"""
from __future__ import annotations

import torch

from ...models import Adapter

_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


def _centre(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    return x[..., h // 4: h - h // 4, w // 4: w - w // 4]


def relief(depth: torch.Tensor) -> torch.Tensor:
    """(B,) std of the central depth region."""
    return _centre(depth.double()).flatten(1).std(dim=1)


def texture(image: torch.Tensor) -> torch.Tensor:
    """(B,) mean |Laplacian| of the channel-mean image (fine texture energy)."""
    grey = image.double().mean(dim=1, keepdim=True)
    lap = torch.nn.functional.conv2d(grey, _LAPLACE.to(grey)[None, None], padding=1)
    return _centre(lap).abs().flatten(1).mean(dim=1)


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
