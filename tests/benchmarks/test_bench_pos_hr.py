"""POS + heart rate for one minute of 30 fps video: the torch baseline with the harness recipe
vs a loop-style numpy port of the toolbox's POS followed by the toolbox's post-processing
(dense O(N³) detrend).  Both are in one group so pytest-benchmark shows the ratio."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for _toolbox_reference
import _toolbox_reference as ref  # noqa: E402
from harness.families.rppg import baselines, signal  # noqa: E402

FS = 30.0
HR_BPM = 72.0
RECIPE = signal.Recipe()  # whole video, FFT, band shared by both sides


@pytest.fixture(scope="module")
def trace() -> np.ndarray:
    rgb = ref.synthetic_rgb(HR_BPM, fs=FS, seconds=60, seed=0)
    assert rgb.shape == (1800, 3)
    return rgb


@pytest.fixture(params=["default-threads", "1-thread"])
def torch_threads(request):
    """Torch's default intra-op threads, and one thread: on a small, busy CPU the OpenMP threads
    of these small (1800×48) ops can wait on each other far longer than they compute."""
    before = torch.get_num_threads()
    if request.param == "1-thread":
        torch.set_num_threads(1)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.benchmark(group="pos-hr-1min-30fps")
def test_bench_pos_hr_torch(benchmark, trace, torch_threads):
    rgb = torch.tensor(trace, dtype=torch.float32)[None]

    def pos_hr() -> float:
        bvp = baselines.pos(rgb, FS)[0].double().numpy()
        return float(signal.hr_from_bvp(bvp, FS, RECIPE))

    assert abs(benchmark(pos_hr) - HR_BPM) <= 3.0


@pytest.mark.benchmark(group="pos-hr-1min-30fps")
def test_bench_pos_hr_toolbox_port(benchmark, trace):
    def pos_hr() -> float:
        bvp = ref.pos(trace, FS, detrend=signal.detrend_dense)
        x = signal.bandpass(signal.detrend_dense(bvp, RECIPE.detrend_lambda), FS, *RECIPE.band,
                            order=RECIPE.filter_order)
        return float(signal.hr_fft(x, FS, RECIPE.band))

    result = benchmark.pedantic(pos_hr, rounds=3, iterations=1, warmup_rounds=0)
    assert abs(result - HR_BPM) <= 3.0
