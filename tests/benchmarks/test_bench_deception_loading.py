"""Loading and batching 10,000 deception clips (batch 64): the memory-mapped :class:`FeatureStore`
+ ``collate`` vs the straightforward path (``safe_load_pickle`` of the whole organizer pickle, then
the same ``collate`` on its dicts per batch). Both are in one group so pytest-benchmark shows the
ratio; both produce identical batches (checked batch by batch).

Clip features are realistic but bounded: faces (8, 64, 64, 3) uint8, au (64, 43), affect (64, 7),
mel (64, 64, 3) uint8, wave 12,000-16,000 float32 samples: ~0.19 MB a clip, ~1.9 GB for 10,000.

Peak memory (``extra_info["peak_mb"]``, tracemalloc: Python and numpy heap allocations, measured on
a separate untimed pass): the pickle path holds every clip in memory at once (~the whole file),
while the store path holds one batch's rows; its memory-mapped pages are page cache that the OS can
drop, which tracemalloc does not count. Timings run with the store's files in the page cache (a
warm second epoch); a cold first read is bounded by the disk. With ``--benchmark-disable`` (the
default addopts) 200 clips keep the file fast.
"""
from __future__ import annotations

import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from harness.families.deception import features as F

pytest.importorskip("torch")

N_BENCH, N_QUICK, BATCH = 10_000, 200, 64
_CACHE: dict[int, tuple[Path, Path]] = {}


def _write_pickle(path: Path, n: int) -> None:
    """An organizer-style pickle of ``n`` clips (no sub-clip axis)."""
    rng = np.random.default_rng(0)
    clips = [{"video_x": rng.integers(0, 256, (8, 64, 64, 3), dtype=np.uint8),
              "OpenFace_x": rng.standard_normal((64, 43), dtype=np.float32),
              "x_affect": rng.standard_normal((64, 7), dtype=np.float32),
              "audio_x": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
              "audio_wave": rng.standard_normal(int(rng.integers(12_000, 16_001)), dtype=np.float32),
              "DD_label": i % 2, "videoname": f"clip_{i:05d}"} for i in range(n)]
    with open(path, "wb") as f:
        pickle.dump(clips, f, protocol=4)


def _data(tmp_path_factory, n: int) -> tuple[Path, Path]:
    if n not in _CACHE:
        folder = tmp_path_factory.mktemp(f"bench-deception-{n}")
        pkl = folder / "bench.pkl"
        _write_pickle(pkl, n)
        (store,) = F.convert(pkl, folder / "stores", dataset="bench")
        _CACHE[n] = (pkl, store)
    return _CACHE[n]


def store_batches(folder: Path):
    """Batches from the memory-mapped store (one sub-clip per clip here)."""
    store = F.FeatureStore(folder)
    for start in range(0, len(store), BATCH):
        yield F.collate([sub for i in range(start, min(start + BATCH, len(store))) for sub in store.sub_clips(i)])


def pickle_batches(path: Path):
    """Batches from the whole pickle loaded at once."""
    clips = F.safe_load_pickle(path)
    for start in range(0, len(clips), BATCH):
        yield F.collate([{name: clip[key] for key, name in F.ORGANIZER_KEYS.items()}
                         for clip in clips[start:start + BATCH]])


def _drain(batches) -> int:
    return sum(int(batch["mask"].shape[0]) for batch in batches)


def _measure(benchmark, source, n: int) -> None:
    tracemalloc.start()
    assert _drain(source()) == n
    benchmark.extra_info["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
    tracemalloc.stop()
    benchmark.extra_info["n_clips"] = n
    if benchmark.stats is not None and benchmark.stats.stats.min:
        benchmark.extra_info["clips_per_s"] = round(n / benchmark.stats.stats.min, 1)


@pytest.fixture(scope="module")
def bench_data(request, tmp_path_factory):
    config = request.config
    disabled = config.getoption("benchmark_disable") and not config.getoption("benchmark_enable")
    return _data(tmp_path_factory, N_QUICK if disabled else N_BENCH)


@pytest.mark.benchmark(group="deception-loading-10k")
def test_bench_deception_store_loading(benchmark, bench_data):
    _, store = bench_data
    n = len(F.FeatureStore(store))
    assert benchmark.pedantic(lambda: _drain(store_batches(store)), rounds=3, iterations=1) == n
    _measure(benchmark, lambda: store_batches(store), n)


@pytest.mark.benchmark(group="deception-loading-10k")
def test_bench_deception_pickle_loading(benchmark, bench_data):
    pkl, store = bench_data
    n = len(F.FeatureStore(store))
    assert benchmark.pedantic(lambda: _drain(pickle_batches(pkl)), rounds=3, iterations=1) == n
    _measure(benchmark, lambda: pickle_batches(pkl), n)


def test_store_and_pickle_batches_identical(bench_data):
    import torch

    pkl, store = bench_data
    count = 0
    for ours, plain in zip(store_batches(store), pickle_batches(pkl), strict=True):
        assert ours.keys() == plain.keys() == {"faces", "au", "affect", "mel", "wave", "wave_len", "mask"}
        for key in ours:
            assert ours[key].dtype == plain[key].dtype and torch.equal(ours[key], plain[key]), key
        count += 1
    assert count == -(-len(F.FeatureStore(store)) // BATCH)
