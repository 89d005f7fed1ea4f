"""Throughput of the pretrained rPPG networks' forward pass (random weights, inference mode), in
frames per second: one toolbox window per call (PhysNet 128 frames, the others 180), 72×72,
the toolbox's input channels. Reported in BENCHMARKS.md ("rPPG networks")."""
from __future__ import annotations

import pytest
import torch

from harness.models import build_model

WINDOWS = {"physnet": 128, "tscan": 180, "deepphys": 180, "efficientphys": 180}


@pytest.mark.parametrize("arch", sorted(WINDOWS))
@pytest.mark.benchmark(group="rppg-networks-cpu")
def test_network_forward_frames_per_second(benchmark, arch, monkeypatch):
    monkeypatch.setenv("HARNESS_ALLOW_RANDOM_WEIGHTS", "1")
    model, _ = build_model(arch, {"weights": "random"})
    model.eval()
    channels = 3 * len(model.frame_types)
    frames = torch.rand(1, WINDOWS[arch], 72, 72, channels)

    def forward():
        with torch.inference_mode():
            return model.predict({"frames": frames, "lengths": torch.tensor([WINDOWS[arch]])})

    out = benchmark.pedantic(forward, rounds=3, warmup_rounds=1)
    assert out[model.output].shape == (1, WINDOWS[arch])
    if benchmark.stats:  # None when benchmarks are disabled
        benchmark.extra_info["frames_per_s"] = WINDOWS[arch] / benchmark.stats.stats.mean
