"""Per-image pixel F1 / IoU / MCC / AUC of 1,000 8-bit masks of 1024×1024: the harness's
``PixelAccumulator`` (batches of 16, one bincount per batch) vs a per-image numpy + scikit-learn
loop (``f1_score``, ``jaccard_score``, ``matthews_corrcoef``, ``roc_auc_score``).  Both are in one
group; each checks that its numbers equal the other side's to 1e-9.

Masks are generated lazily per batch (deterministic per image index), so the accumulator's memory
is bounded by the batch; generation time is measured apart and left out of ``metric_s``.
scikit-learn takes about a second per 1024×1024 mask, so its side is timed on the first
``N_SKLEARN`` = 50 masks and extrapolated linearly to 1,000 (``extrapolated_s``); the agreement
check covers those 50.  ``extra_info`` holds the timings, the ratio and the tracemalloc peak
(tracemalloc sees numpy buffers and Python objects, not torch's own allocations: the harness's
per-batch bincount key, 4 bytes per pixel = 64 MiB for 16 masks, comes on top, see
``torch_key_bytes``).  With ``--benchmark-disable`` (the default addopts) 8 masks of 256×256
keep the file fast."""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import torch

from harness.families.splicing import metrics as M

skm = pytest.importorskip("sklearn.metrics")

BENCH = {"n": 1000, "size": 1024, "n_sklearn": 50}
QUICK = {"n": 8, "size": 256, "n_sklearn": 8}
BATCH = 16
_CACHE: dict[str, dict] = {}


def _mask(i: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image i: a random rectangle of tampered pixels; prediction = 90 on it + uniform 0..165 noise,
    so every level is tied many times and both classes overlap."""
    rng = np.random.default_rng(i)
    gt = np.zeros((size, size), dtype=bool)
    y0, x0 = rng.integers(0, size // 2, 2)
    h, w = rng.integers(size // 16, size // 2, 2)
    gt[y0:y0 + h, x0:x0 + w] = True
    pred = rng.integers(0, 166, (size, size), dtype=np.uint8)
    pred[gt] += 90
    return pred, gt


def _batches(n: int, size: int):
    """Yield (pred, gt) uint8 / bool (B, H, W) batches and the seconds spent generating them."""
    for start in range(0, n, BATCH):
        t0 = time.perf_counter()
        pairs = [_mask(i, size) for i in range(start, min(start + BATCH, n))]
        pred = np.stack([p for p, _ in pairs])
        gt = np.stack([g for _, g in pairs])
        yield pred, gt, time.perf_counter() - t0


def _harness(n: int, size: int) -> dict:
    gen = 0.0
    acc = M.PixelAccumulator()
    t0 = time.perf_counter()
    for pred, gt, g in _batches(n, size):
        gen += g
        acc.update(torch.from_numpy(pred), torch.from_numpy(gt))
    out = acc.compute()
    total = time.perf_counter() - t0
    return {"values": {k: out[k] for k in ("pixel_f1", "pixel_iou", "pixel_mcc", "pixel_auc")},
            "metric_s": total - gen, "gen_s": gen}


def _sklearn(n: int, size: int) -> dict:
    values = {k: [] for k in ("pixel_f1", "pixel_iou", "pixel_mcc", "pixel_auc")}
    gen = 0.0
    t0 = time.perf_counter()
    for pred, gt, g in _batches(n, size):
        gen += g
        for p, y in zip(pred, gt):
            v, y = p.ravel(), y.ravel()
            hard = v >= 128
            values["pixel_f1"].append(skm.f1_score(y, hard))
            values["pixel_iou"].append(skm.jaccard_score(y, hard))
            values["pixel_mcc"].append(skm.matthews_corrcoef(y, hard))
            values["pixel_auc"].append(skm.roc_auc_score(y, v))
    total = time.perf_counter() - t0
    return {"values": {k: np.array(v) for k, v in values.items()}, "metric_s": total - gen, "gen_s": gen}


def _traced(fn, *args) -> dict:
    tracemalloc.start()
    try:
        out = fn(*args)
        out["peak_bytes"] = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out


def _assert_agree(a: dict, b: dict) -> None:
    k = min(len(a["pixel_f1"]), len(b["pixel_f1"]))
    for name in a:
        np.testing.assert_allclose(a[name][:k], b[name][:k], rtol=0, atol=1e-9, err_msg=name)


@pytest.mark.benchmark(group="splicing-pixel-metrics-1000x1024x1024")
def test_bench_splicing_pixel_metrics_harness(benchmark):
    cfg = QUICK if benchmark.disabled else BENCH
    result = benchmark.pedantic(_traced, args=(_harness, cfg["n"], cfg["size"]), rounds=1, iterations=1)
    _CACHE["harness"] = result
    if "sklearn" in _CACHE:
        _assert_agree(result["values"], _CACHE["sklearn"]["values"])
    benchmark.extra_info.update(n=cfg["n"], size=cfg["size"], batch=BATCH, metric_s=result["metric_s"],
                                gen_s=result["gen_s"], tracemalloc_peak_mib=result["peak_bytes"] / 2**20,
                                torch_key_bytes=BATCH * cfg["size"] ** 2 * 4)


@pytest.mark.benchmark(group="splicing-pixel-metrics-1000x1024x1024")
def test_bench_splicing_pixel_metrics_sklearn(benchmark):
    cfg = QUICK if benchmark.disabled else BENCH
    result = benchmark.pedantic(_traced, args=(_sklearn, cfg["n_sklearn"], cfg["size"]), rounds=1, iterations=1)
    _CACHE["sklearn"] = result
    harness = _CACHE.get("harness") or _harness(cfg["n"], cfg["size"])
    _assert_agree(harness["values"], result["values"])
    extrapolated = result["metric_s"] * cfg["n"] / cfg["n_sklearn"]
    benchmark.extra_info.update(n_timed=cfg["n_sklearn"], size=cfg["size"], metric_s=result["metric_s"],
                                extrapolated_s=extrapolated, tracemalloc_peak_mib=result["peak_bytes"] / 2**20,
                                ratio_sklearn_over_harness=extrapolated / harness["metric_s"])
