"""Image families against a bare decode loop (group 'image-decode'), on generated 1024×1024 images
(a smooth random scene plus sensor noise, so the codecs work as on photographs): 48 JPEGs
(quality 90) and 48 PNGs; for FAS, 48 samples of three 1024² JPEGs (colour, depth, IR).

Each round times, interleaved, on the same files in one process:

- ``pil``: ``PIL.Image.open(p).load()`` per file; ``cv2``: ``cv2.imread`` per file;
- ``splicing/iqa``: what their ``produce`` does per image: the safe reader (``read_image``: header
  check, decode, RGB) then ``image_tensor`` (float CHW), compared with ``pil`` (its decoder);
- ``fas``: ``load_frame`` (three files, resized to the model's 224) then ``image_tensor`` per
  modality, compared with ``cv2`` over the same three files.

``test_bench_image_workers`` streams the splicing path through the runner's DataLoader
(``StreamDataset``, batch 4) with 0, 1 and 2 workers: images/s and the ratio to 0 workers.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from harness.families.fas import data as fdata
from harness.family import StreamDataset, Unit
from harness.images import image_tensor, read_image

SIDE, FAS_SIZE = 1024, 224
N = int(os.environ.get("HARNESS_BENCH_IMAGES", "48"))        # fewer on a busy machine
ROUNDS = int(os.environ.get("HARNESS_BENCH_ROUNDS", "3"))


@pytest.fixture(scope="module", autouse=True)
def _only_when_enabled(request):
    if request.config.getoption("benchmark_disable") and not request.config.getoption("benchmark_enable"):
        pytest.skip("writes ~150 MB of images: run with --benchmark-enable")


def _scene(rng: np.random.Generator, channels: int = 3) -> np.ndarray:
    low = cv2.resize((rng.random((32, 32, channels)) * 255).astype(np.uint8), (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
    low = low.reshape(SIDE, SIDE, channels)
    return np.clip(low + rng.normal(0, 4, low.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, list]:
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    out: dict[str, list] = {"jpg": [], "png": [], "fas": []}
    for i in range(N):
        img = _scene(rng)
        for ext, params in (("jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]), ("png", [])):
            path = root / f"{i:03d}.{ext}"
            cv2.imwrite(str(path), img, params)
            out[ext].append(path)
        paths = {}
        for m, channels in (("rgb", 3), ("depth", 1), ("ir", 1)):
            paths[m] = root / f"fas{i:03d}_{m}.jpg"
            cv2.imwrite(str(paths[m]), img if channels == 3 else _scene(rng, 1), [cv2.IMWRITE_JPEG_QUALITY, 90])
        out["fas"].append(fdata.FasSample(f"s{i}", "C", 1, paths, None, None, i + 1))
    return out


def _pil(paths: list[Path]) -> None:
    for p in paths:
        with Image.open(p) as im:
            im.load()


def _cv2(paths: list[Path]) -> None:
    for p in paths:
        cv2.imread(str(p), cv2.IMREAD_UNCHANGED)


def _read_to_tensor(paths: list[Path]) -> None:
    for p in paths:
        image_tensor(read_image(p))


def _fas(samples) -> None:
    for s in samples:
        frames = fdata.load_frame(s, size=FAS_SIZE)
        [image_tensor(frames[m]) for m in ("rgb", "depth", "ir")]


def _best_of(paths_fn: dict) -> dict[str, float]:
    best: dict[str, float] = {}

    def one_round():
        for name, fn in paths_fn.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best.get(name, np.inf), time.perf_counter() - t0)
    return one_round, best


@pytest.mark.parametrize("ext", ["jpg", "png"])
@pytest.mark.benchmark(group="image-decode")
def test_bench_splicing_iqa_read(benchmark, images, ext):
    paths = images[ext]
    one_round, best = _best_of({"pil": lambda: _pil(paths), "cv2": lambda: _cv2(paths),
                                "read_image+tensor": lambda: _read_to_tensor(paths)})
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(images=N, side=SIDE, images_per_s={k: round(N / v, 1) for k, v in best.items()},
                                ratio_to_pil=round(best["pil"] / best["read_image+tensor"], 3))


@pytest.mark.benchmark(group="image-decode")
def test_bench_fas_read(benchmark, images):
    samples = images["fas"]
    files = [p for s in samples for p in s.paths.values()]
    one_round, best = _best_of({"cv2": lambda: _cv2(files), "fas load_frame+tensor": lambda: _fas(samples)})
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(samples=N, files=len(files), samples_per_s={k: round(N / v, 1) for k, v in best.items()},
                                ratio_to_cv2=round(best["cv2"] / best["fas load_frame+tensor"], 3))


def _produce(path: Path):
    yield Unit(path.name), {"image": image_tensor(read_image(path))}


@pytest.mark.parametrize("workers", [0, 1, 2])
@pytest.mark.benchmark(group="image-workers")
def test_bench_image_workers(benchmark, images, workers):
    paths = images["jpg"]

    def stream():
        loader = DataLoader(StreamDataset(paths, _produce), batch_size=4, num_workers=workers,
                            collate_fn=lambda items: items)
        return sum(len(batch) for batch in loader)

    seen = benchmark.pedantic(stream, rounds=ROUNDS, iterations=1)
    assert seen == N
    benchmark.extra_info.update(workers=workers, images_per_s=round(N / benchmark.stats.stats.min, 1))
