"""A fast, deterministic NR-IQA baseline: ridge regression on a few classic image statistics
(sharpness, gradient energy, contrast, fine-scale noise, colourfulness, 8-px blockiness,
brightness). Closed form in float64, so it is the family's golden baseline; it never saw a trigger
(``backdoor_setting = "none"``), so on a backdoor task it shows what a clean model's shift looks like.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import HarnessError
from ...models import Adapter

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
