"""A template model adapter: copy this folder to ``submissions/<your-name>/`` and edit it.

`harness run --task svc2026-rppg --model mine` finds this file because the folder is named
``mine`` and holds ``model.py`` with a class named ``Model``. It runs as is: it learns, on the
task's training videos, the colour projection whose output best follows the ground-truth pulse
(a least-squares fit), and applies it to the test videos.
"""
from __future__ import annotations

import numpy as np
import torch

# The base class is optional (any class with these attributes works); it documents the contract.
from harness.models import Adapter


class Model(Adapter):
    # Which task family this model serves; the runner refuses a task of another family.
    family = "rppg"
    # What the model needs from each video. "rgb": per-frame mean R, G, B of the face box (cheap,
    # one tensor (B, T, 3) per batch). Use ("frames",) instead to receive face crops
    # (B, T, frame_size, frame_size, 3) RGB uint8 in windows of `chunk_frames` frames; the other
    # knobs (frame_types, chunk_stride, chunk_tail, crop) are in the README, "Writing your model".
    inputs = ("rgb",)
    # What predict() returns: "bvp" (a pulse waveform per frame), "bvp_diff" (its first difference,
    # integrated by the harness) or "hr" (one heart rate per video).
    output = "bvp"
    # Optional switches (both off by default): `amp = True` lets CUDA runs use mixed precision;
    # `distributed_fit = True` makes every torchrun rank call fit() (e.g. training through
    # DistributedDataParallel) instead of rank 0 training alone and sharing the result.

    def __init__(self, window: int = 48):
        # Options come from --model-args, e.g. `--model-args window=64` (parsed to int/float/bool).
        super().__init__()
        self.window = int(window)
        self.weights = torch.tensor([0.0, 1.0, -1.0])  # a sensible default: green minus blue

    def _normalise(self, rgb: torch.Tensor) -> torch.Tensor:
        """Divide each channel by its moving average over `window` frames, then centre it (removes
        slow illumination changes; the pulse is a small relative change of skin colour)."""
        kernel = torch.ones(3, 1, self.window, dtype=rgb.dtype, device=rgb.device) / self.window
        x = rgb.transpose(1, 2)                                    # (B, 3, T)
        padded = torch.nn.functional.pad(x, (self.window // 2, self.window - 1 - self.window // 2), mode="replicate")
        trend = torch.nn.functional.conv1d(padded, kernel, groups=3)
        return (x / trend.clamp_min(1e-6) - 1.0).transpose(1, 2)   # (B, T, 3)

    def fit(self, train) -> None:
        """Optional. Called once with the task's training videos (omit it and the model needs only
        test data). Each item is a dict with "rgb" (T, 3), "bvp" (T,) ground truth and "fs"."""
        features, targets = [], []
        for video in train:                                         # streamed one video at a time
            rgb = torch.as_tensor(video["rgb"], dtype=torch.float64)[None]
            features.append(self._normalise(rgb)[0])
            target = torch.as_tensor(video["bvp"], dtype=torch.float64)
            targets.append((target - target.mean()) / (target.std() + 1e-9))
        if features:
            a, b = torch.cat(features), torch.cat(targets)
            weights = torch.linalg.lstsq(a, b[:, None]).solution[:, 0]
            # Make the weights sum to zero, so a change of light that scales R, G and B alike
            # cancels out: a simple guard against the illumination shifts of unseen domains.
            self.weights = (weights - weights.mean()).float()

    def predict(self, batch: dict) -> dict:
        """Called per batch. batch["rgb"]: (B, T, 3) float32 on the run's device; batch["lengths"]:
        valid frames per video (the rest is padding); batch["fs"]: frame rates; batch["ids"]: ids.
        Return {"bvp": (B, T)}; values past a video's length are ignored."""
        x = self._normalise(batch["rgb"].double())
        return {"bvp": (x @ self.weights.to(x.device, torch.float64)).float()}


if __name__ == "__main__":  # a quick self-check: python submissions/mine/model.py
    t = np.arange(300) / 30.0
    rgb = 100 + np.stack([0.3, 0.8, 0.5], -1) * np.sin(2 * np.pi * 1.2 * t)[:, None]
    out = Model().predict({"rgb": torch.tensor(rgb[None], dtype=torch.float32), "lengths": torch.tensor([300]),
                           "fs": torch.tensor([30.0]), "ids": ["demo"]})
    print(out["bvp"].shape)
