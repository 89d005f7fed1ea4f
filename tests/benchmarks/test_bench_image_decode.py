"""Image families against a bare decode loop (group 'image-decode'), on generated 1024×1024 images
(a smooth random scene plus sensor noise, so the codecs work as on photographs): 48 JPEGs
(quality 90) and 48 PNGs; for FAS, 48 samples of three 1024² JPEGs (colour, depth, IR).

Each round times, interleaved, on the same files in one process, in wall and in CPU time:

- ``pil``: ``PIL.Image.open(p).load()`` per file; ``cv2``: ``cv2.imread`` per file;
- ``read_image+pixels``: what splicing's and IQA's ``produce`` do per image: the safe reader
  (header check, decode, RGB array) and the uint8 tensor the worker streams (:func:`pixels`),
  compared with ``pil`` (its decoder);
- ``+model_images``: the same, then the float32 CHW image the model gets, made on the CPU (what
  the runner's ``prepare`` does there; on a GPU it runs on the device);
- ``fas``: ``load_frame`` (three files, resized to the model's 224) then ``image_tensor`` per
  modality, compared with ``cv2`` over the same three files.

``test_bench_image_workers`` streams the splicing path as the runner does for a CPU model
(``StreamDataset``, batch 4, the runner's collate with ``prepare_images``, so the float images
are made in the workers) in one process, with 1 and 2 decoding threads (``ThreadedLoader``, what
the runner uses for the image families) and, for comparison, 1 and 2 DataLoader processes:
images/s, the ratio to one process, and the CPU seconds of the main process (threads included)
and of the worker processes.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from harness.families.fas import data as fdata
from harness.family import StreamDataset, ThreadedLoader, Unit
from harness.images import image_tensor, model_images, pixels, prepare_images, read_image
from harness.runner import _collate as runner_collate

from _timing import Interleaved

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


CPU = torch.device("cpu")


def _read_pixels(paths: list[Path]) -> None:
    for p in paths:
        pixels(read_image(p))


def _read_to_model(paths: list[Path]) -> None:
    for p in paths:
        model_images([pixels(read_image(p))], CPU)


def _fas(samples) -> None:
    for s in samples:
        frames = fdata.load_frame(s, size=FAS_SIZE)
        [image_tensor(frames[m]) for m in ("rgb", "depth", "ir")]


@pytest.mark.parametrize("ext", ["jpg", "png"])
@pytest.mark.benchmark(group="image-decode")
def test_bench_splicing_iqa_read(benchmark, images, ext):
    paths = images[ext]
    timing = Interleaved({"pil": lambda: _pil(paths), "cv2": lambda: _cv2(paths),
                          "read_image+pixels": lambda: _read_pixels(paths),
                          "+model_images": lambda: _read_to_model(paths)})
    benchmark.pedantic(timing.round, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(images=N, side=SIDE, load_average=timing.load_average(),
                                images_per_s={k: round(N / v, 1) for k, v in timing.wall.items()},
                                ratio_to_pil=timing.ratios("pil"), cpu_ratio_to_pil=timing.ratios("pil", cpu=True))


@pytest.mark.benchmark(group="image-decode")
def test_bench_fas_read(benchmark, images):
    samples = images["fas"]
    files = [p for s in samples for p in s.paths.values()]
    timing = Interleaved({"cv2": lambda: _cv2(files), "fas load_frame+tensor": lambda: _fas(samples)})
    benchmark.pedantic(timing.round, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(samples=N, files=len(files), load_average=timing.load_average(),
                                samples_per_s={k: round(N / v, 1) for k, v in timing.wall.items()},
                                ratio_to_cv2=timing.ratios("cv2"), cpu_ratio_to_cv2=timing.ratios("cv2", cpu=True))


def _produce(path: Path):
    yield Unit(path.name), {"image": pixels(read_image(path))}


def _collate(items):
    return [u for u, _ in items], {"images": [inp["image"] for _, inp in items]}


@pytest.mark.benchmark(group="image-workers")
def test_bench_image_workers(benchmark, images):
    paths = images["jpg"]
    collate = functools.partial(runner_collate, _collate, prepare_images)  # prepare in the workers: a CPU model's path

    def stream(workers: int, threads: bool) -> int:
        dataset = StreamDataset(paths, _produce)
        loader = (ThreadedLoader(dataset, 4, collate, workers) if threads and workers
                  else DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=collate))
        return sum(len(inputs["images"]) for _, inputs in loader)

    paths_ = {"0": (0, False), "1 thread": (1, True), "2 threads": (2, True),
              "1 process": (1, False), "2 processes": (2, False)}
    timing = Interleaved({k: functools.partial(stream, *v) for k, v in paths_.items()})
    benchmark.pedantic(timing.round, rounds=ROUNDS, iterations=1)
    assert set(timing.results.values()) == {N}
    benchmark.extra_info.update(
        images=N, load_average=timing.load_average(),
        images_per_s={w: round(N / t, 1) for w, t in timing.wall.items()}, ratio_to_one_process=timing.ratios("0"),
        cpu_ms_per_image_main={w: round(1e3 * t / N, 2) for w, t in timing.cpu.items()},
        cpu_ms_per_image_workers={w: round(1e3 * t / N, 2) for w, t in timing.cpu_children.items()})
