"""Reading a ``datasets`` copy of a FAS test set against the on-disk layout of the same frames
(group 'hfdata'): ``HARNESS_BENCH_ROWS`` wmca test frames (default 600), each three JPEGs of
``HARNESS_BENCH_SIDE`` px (default 256; a smooth random scene plus sensor noise, quality 90),
written once as the MMDG layout and once as a Parquet repository (row groups of 64 rows).

Timed, interleaved per round, in one process:

- ``on-disk``: what a run reads per frame: ``read_list`` then ``load_frame`` (three ``cv2`` decodes);
- ``materialize``: the one-time step of a first run on the repository: rows streamed in Arrow
  batches, each image through the safe decoder, bytes written into the MMDG layout in the cache
  (a later run finds the copy and reads it like ``on-disk``);
- ``datasets-decode``: the ecosystem's own way, ``load_dataset(..., streaming=True)`` with the
  ``Image`` columns decoded to PIL, for scale.

``test_bench_materialize_memory`` runs the materialization in a fresh process and reports its peak
resident memory above the imports (``VmHWM``), against the repository's size: it must stay bounded
by the batch, not grow with the set.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.families.fas import data as fdata

N = int(os.environ.get("HARNESS_BENCH_ROWS", "600"))
SIDE = int(os.environ.get("HARNESS_BENCH_SIDE", "256"))
ROUNDS = int(os.environ.get("HARNESS_BENCH_ROUNDS", "3"))
TASK = "mmdg-p1-cps-w"  # its test dataset is wmca


def _scene(rng: np.random.Generator, channels: int) -> np.ndarray:
    low = cv2.resize((rng.random((16, 16, channels)) * 255).astype(np.uint8), (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
    low = low.reshape(SIDE, SIDE, channels)
    return np.clip(low + rng.normal(0, 4, low.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    return write_sets(tmp_path_factory.mktemp("hfdata-bench"))


def write_sets(root: Path) -> dict[str, Path]:
    """The same frames as the MMDG layout (``root/disk``) and as a Parquet repository (``root/repo``)."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    disk, repo = root / "disk", root / "repo"
    (repo / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    features = datasets.Features({"id": datasets.Value("string"), "rgb": datasets.Image(), "depth": datasets.Image(),
                                  "ir": datasets.Image(), "label": datasets.Value("int64"),
                                  "dataset": datasets.Value("string"), "split": datasets.Value("string")})
    lines, batch = [], []
    with pq.ParquetWriter(str(repo / "data" / "test-00000-of-00001.parquet"), features.arrow_schema) as writer:
        for i in range(N):
            rel = {m: f"WMCA-Image/R_CDIT/v{i:05d}/{folder}/0012.jpg" for m, folder in
                   (("rgb", "color"), ("depth", "depth"), ("ir", "ir"))}
            row = {"id": rel["rgb"], "label": i % 2, "dataset": "wmca", "split": "test"}
            for m, channels in (("rgb", 3), ("depth", 1), ("ir", 1)):
                ok, buf = cv2.imencode(".jpg", _scene(rng, channels), [cv2.IMWRITE_JPEG_QUALITY, 90])
                path = disk / "wmca" / rel[m]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(buf.tobytes())
                row[m] = {"bytes": buf.tobytes(), "path": None}
            lines.append(f"{rel['rgb']} {rel['depth']} {rel['ir']} {row['label']}")
            batch.append(row)
            if len(batch) == 64 or i == N - 1:
                encoded = features.encode_batch({k: [r[k] for r in batch] for k in features})
                writer.write_table(pa.Table.from_pydict(encoded, schema=features.arrow_schema))
                batch = []
    (disk / fdata.LIST_DIR).mkdir(parents=True)
    fdata.list_path(disk, "W", "test").write_text("\n".join(lines) + "\n")
    return {"disk": disk, "repo": repo, "root": root}


def _read_layout(root: Path) -> int:
    samples, _ = fdata.read_list(root, "W", "test")
    for s in samples:
        fdata.load_frame(s)
    return len(samples)


def _materialize(repo: Path, cache: Path) -> int:
    from harness.family import FAMILIES
    from harness.hfdata import materialize
    from harness.task import TaskIndex

    os.environ["HARNESS_CACHE"] = str(cache)
    folder, _ = materialize(FAMILIES.get("fas"), TaskIndex().tasks[TASK], repo)
    return len(fdata.read_list(folder, "W", "test", check_files=False)[0])


def _datasets_decode(repo: Path) -> int:
    import datasets

    n = 0
    for row in datasets.load_dataset(str(repo), split="test", streaming=True):
        for m in ("rgb", "depth", "ir"):
            row[m].load()
        n += 1
    return n


@pytest.mark.benchmark(group="hfdata")
def test_bench_datasets_copy_against_the_layout(sets, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    best: dict[str, float] = {}
    copy = lambda r: next((tmp_path / f"cache{r}" / "datasets-rows").iterdir())  # noqa: E731
    for r in range(ROUNDS):
        for name, fn in (("on-disk", lambda: _read_layout(sets["disk"])),
                         ("materialize", lambda: _materialize(sets["repo"], tmp_path / f"cache{r}")),
                         ("copy (later runs)", lambda: _read_layout(copy(r))),
                         ("datasets-decode", lambda: _datasets_decode(sets["repo"]))):
            t0 = time.perf_counter()
            assert fn() == N
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    size = sum(p.stat().st_size for p in (sets["repo"] / "data").iterdir())
    print(f"\n{N} FAS frames of 3 x {SIDE}^2 JPEG, repository {size / 1e6:.1f} MB, best of {ROUNDS}:")
    for name, t in best.items():
        print(f"  {name:18s} {N / t:8.1f} rows/s  ({t:.2f} s)")


_CHILD = """
import json, os, sys
def hwm():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) * 1024
from harness.family import FAMILIES
from harness.hfdata import materialize
from harness.task import TaskIndex
import datasets, pyarrow, cv2, PIL.Image
family, task = FAMILIES.get("fas"), TaskIndex().tasks[sys.argv[2]]
base = hwm()
folder, _ = materialize(family, task, sys.argv[1])
print(json.dumps({"base": base, "peak": hwm()}))
"""


@pytest.mark.benchmark(group="hfdata")
def test_bench_materialize_memory(sets, tmp_path):
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs /proc (Linux) for the peak resident memory")
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache"), "HF_DATASETS_CACHE": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(sets["repo"]), TASK], env=env, capture_output=True,
                         text=True, check=True)
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in (sets["repo"] / "data").iterdir())
    grew = mem["peak"] - mem["base"]
    print(f"\nmaterializing {N} rows ({size / 1e6:.1f} MB of Parquet): peak RSS {mem['peak'] / 1e6:.0f} MB, "
          f"{grew / 1e6:.1f} MB above the imports")
    assert grew < 256e6  # the stream holds one Arrow batch at a time, whatever the set's size (BENCHMARKS.md)
