"""BAIQA trigger injection on 10,000 images of 512×384 (batches of 64, α varying per image):
the harness's batched torch ``inject`` (closed-form tiled delta), its literal blockwise-DCT path
``inject_blockwise``, and a per-block numpy/scipy loop (``scipy.fft.dctn``/``idctn`` per 16×16
block and channel).  The two slow paths are timed on a subset (``N_BLOCKWISE``, ``N_LOOP``
images) and extrapolated linearly to 10,000 in ``extra_info``; every path checks it equals the
scipy loop to 1e-4 on the loop's images.  The 10,000 images are one 64-image batch injected
157 times with a different α row each time (10,048 images; 23 GB would not fit in memory).
With ``--benchmark-disable`` (the default addopts) one batch and one loop image keep it fast."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.families.iqa_backdoor import trigger as T

scipy_fft = pytest.importorskip("scipy.fft")

N_IMAGES, BATCH, H, W = 10_000, 64, 384, 512
N_BLOCKWISE, N_LOOP = 256, 20
N_QUICK_BATCHES, N_QUICK_LOOP = 1, 1
_RATES: dict[str, float] = {}
_CACHE: dict[str, object] = {}

# Written out here (not taken from the module) so the loop is an independent implementation.
_RGB2YCC = np.array([[0.299, 0.587, 0.114],
                     [-0.168735892, -0.331264108, 0.5],
                     [0.5, -0.418687589, -0.081312411]])


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    if "batch" not in _CACHE:
        g = torch.Generator().manual_seed(0)
        images = torch.rand(BATCH, 3, H, W, generator=g)
        grid = torch.tensor([a / 10 for a in range(-40, 41, 4) if a])  # ±0.4 … ±4.0
        alphas = grid[torch.randint(0, 20, (N_IMAGES // BATCH + 1, BATCH), generator=g)]
        _CACHE["batch"] = (images, alphas)
    return _CACHE["batch"]


def _loop_one(image: np.ndarray, alpha: float, pattern: np.ndarray) -> np.ndarray:
    """One (3, H, W) float image in [0, 1], block by block with scipy."""
    h, w = image.shape[1:]
    x = np.pad(image.astype(np.float64) * 255, ((0, 0), (0, -h % 16), (0, -w % 16)))
    ycc = np.einsum("vc,chw->vhw", _RGB2YCC, x) + np.array([0, 128, 128])[:, None, None] - 128
    band = T.MID_BAND.numpy()
    for c in range(3):
        strength = 0.25 * alpha * pattern[c]
        for i in range(0, ycc.shape[1], 16):
            for j in range(0, ycc.shape[2], 16):
                coef = scipy_fft.dctn(ycc[c, i:i + 16, j:j + 16], norm="ortho")
                coef.flat[band] += strength
                ycc[c, i:i + 16, j:j + 16] = scipy_fft.idctn(coef, norm="ortho")
    ycc = ycc + 128 - np.array([0, 128, 128])[:, None, None]  # +128, then the YCbCr offsets
    rgb = np.einsum("vc,chw->vhw", np.linalg.inv(_RGB2YCC), ycc)
    return np.clip(rgb / 255, 0, 1)[:, :h, :w]


def _loop(n: int) -> np.ndarray:
    images, alphas = _batch()
    pattern = T.DEFAULT_PATTERN.double().numpy()
    return np.stack([_loop_one(images[i].numpy(), float(alphas[0, i]), pattern) for i in range(n)])


def _reference(n: int) -> np.ndarray:
    key = f"loop{n}"
    if key not in _CACHE:
        _CACHE[key] = _loop(n)
    return _CACHE[key]


def _torch_run(fn, n_batches: int) -> torch.Tensor:
    images, alphas = _batch()
    for k in range(n_batches):
        out = fn(images, alphas[k], T.DEFAULT_PATTERN)
        if k == 0:
            first = out[:N_LOOP]
    return first


def _record(benchmark, name: str, n: int) -> None:
    rate = n / benchmark.stats.stats.mean
    _RATES[name] = rate
    benchmark.extra_info.update(n_images_timed=n, images_per_s=round(rate, 2),
                                extrapolated_s_10k=round(N_IMAGES / rate, 2))
    if "inject" in _RATES and name != "inject":
        benchmark.extra_info["inject_speedup"] = round(_RATES["inject"] / rate, 1)


@pytest.mark.benchmark(group="iqa-trigger-10k-512x384")
def test_bench_iqa_trigger_inject(benchmark):
    n_batches = N_QUICK_BATCHES if benchmark.disabled else -(-N_IMAGES // BATCH)
    n_check = N_QUICK_LOOP if benchmark.disabled else N_LOOP
    first = benchmark.pedantic(_torch_run, args=(T.inject, n_batches), rounds=3, iterations=1)
    np.testing.assert_allclose(first[:n_check].numpy(), _reference(n_check), rtol=0, atol=1e-4)
    if not benchmark.disabled:
        _record(benchmark, "inject", n_batches * BATCH)


def _blockwise_subset(n: int) -> torch.Tensor:
    images, alphas = _batch()
    return T.inject_blockwise(images[:n], alphas[0, :n], T.DEFAULT_PATTERN)


@pytest.mark.benchmark(group="iqa-trigger-10k-512x384")
def test_bench_iqa_trigger_inject_blockwise(benchmark):
    n = N_QUICK_LOOP if benchmark.disabled else N_BLOCKWISE
    n_check = N_QUICK_LOOP if benchmark.disabled else N_LOOP
    out = benchmark.pedantic(_blockwise_subset, args=(n,), rounds=1, iterations=1)
    np.testing.assert_allclose(out[:n_check].numpy(), _reference(n_check), rtol=0, atol=1e-4)
    if not benchmark.disabled:
        _record(benchmark, "blockwise", n)


@pytest.mark.benchmark(group="iqa-trigger-10k-512x384")
def test_bench_iqa_trigger_scipy_block_loop(benchmark):
    n = N_QUICK_LOOP if benchmark.disabled else N_LOOP
    out = benchmark.pedantic(_loop, args=(n,), rounds=1, iterations=1)
    images, alphas = _batch()
    torch_out = T.inject(images[:n], alphas[0, :n], T.DEFAULT_PATTERN).numpy()
    np.testing.assert_allclose(out, torch_out, rtol=0, atol=1e-4)
    if not benchmark.disabled:
        _record(benchmark, "scipy_loop", n)
