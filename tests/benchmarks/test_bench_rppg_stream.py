"""rPPG streaming against the bare decoder, at camera resolutions (group 'rppg-stream').

Fixtures (generated once per session, UBFC-rPPG layout, Motion-JPEG, 30 fps): two 60-s videos at
640×480 (3,600 frames) and one 20-s video at 1920×1080 (600 frames). Each round times, on the same
files and in the same process, interleaved so the machine's load hits them alike:

- ``decode``: a bare ``cap.read()`` loop;
- ``rgb``: ``stream_video`` for ``rgb`` input (face box on the first frame, per-frame crop means);
- ``frames``: ``stream_video`` for ``frames`` input (crops resized to 72×72, chunks of 180), with
  the next frames decoded meanwhile in a helper thread where the process has a spare core;
- ``frames_one_thread``: the same without the helper thread (all the work on one core);
- ``before``: the per-frame work as it was (full-frame BGR→RGB, numpy mean of the crop);
- ``face``: the first-frame face detection alone.

``extra_info`` holds frames/s per path, the ratios to the decoder (best round) in wall time, in
CPU time, and by the busiest thread's CPU time (what bounds ``frames`` with its helper thread on a
machine with a core to spare for it, however loaded this one is), and the face detection's share
of the ``rgb`` time. ``test_bench_workers`` runs ``harness run`` (POS) on the
640×480 pair with 0 (one process), 1 and 2 DataLoader workers, interleaved per round.
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import time

import pytest

from harness.families.rppg import decode, face
from harness.families.rppg.chunks import Chunking
from harness.families.rppg.data import scan
from harness.families.rppg.family import InputSpec, stream_video
from harness.runner import RunOptions, run_task
from harness.task import TaskIndex

from _timing import Interleaved
from _video_fixtures import decode_only, videos, write_ubfc

#: $HARNESS_BENCH_SCALE shortens the videos (e.g. 0.25: 15-s and 5-s videos) on a busy machine
SCALE = float(os.environ.get("HARNESS_BENCH_SCALE", "1"))
ROUNDS = int(os.environ.get("HARNESS_BENCH_ROUNDS", "3"))
_counter = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _only_when_enabled(request):
    if request.config.getoption("benchmark_disable") and not request.config.getoption("benchmark_enable"):
        pytest.skip("writes ~0.5 GB of video: run with --benchmark-enable")


@pytest.fixture(scope="module")
def vga(tmp_path_factory):
    return write_ubfc(tmp_path_factory.mktemp("vga"), 2, 60.0 * SCALE, (640, 480))


@pytest.fixture(scope="module")
def full_hd(tmp_path_factory):
    return write_ubfc(tmp_path_factory.mktemp("fullhd"), 1, 20.0 * SCALE, (1920, 1080))


def _stream(records, spec) -> int:
    return sum(u.meta["n_frames"] for rec in records for u, _ in stream_video(rec, spec) if u.last)


def _one_thread(records, spec) -> int:
    ahead = decode.read_ahead_pays
    decode.read_ahead_pays = lambda: False
    try:
        return _stream(records, spec)
    finally:
        decode.read_ahead_pays = ahead


def _before(records) -> int:
    """The per-frame work before this change: every frame converted in full, numpy crop mean."""
    n = 0
    for rec in records:
        box, means = None, []
        for frame in rec.frames():  # RGB: cvtColor on the whole frame inside the reader
            if box is None:
                box, _ = face.face_box(frame)
            means.append(face.crop(frame, box).reshape(-1, 3).mean(axis=0))
        n += len(means)
    return n


def _face(records) -> float:
    t = 0.0
    for rec in records:
        first = next(iter(rec.frames()))
        t0 = time.perf_counter()
        face.face_box(first)
        t += time.perf_counter() - t0
    return t


def _compare(benchmark, root, with_before: bool) -> None:
    records = scan("ubfc-rppg", root / "ubfc-rppg")
    paths = videos(root)
    assert [r.path for r in records] == paths
    paths_fn = {
        "decode": lambda: decode_only(paths),
        "rgb": lambda: _stream(records, InputSpec("rgb")),
        "frames": lambda: _stream(records, InputSpec("frames", 72, Chunking(180))),
        "frames_one_thread": lambda: _one_thread(records, InputSpec("frames", 72, Chunking(180))),
        **({"before": lambda: _before(records)} if with_before else {}),
    }
    timing = Interleaved(paths_fn)
    face_s = []

    def one_round():
        timing.round()
        face_s.append(_face(records))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    frames = timing.results
    assert len(set(frames.values())) == 1, frames  # every path saw every frame
    benchmark.extra_info.update(
        frames=frames["decode"], frame_shape=list(next(iter(records[0].frames())).shape),
        fps={k: round(frames[k] / v, 1) for k, v in timing.wall.items()},
        ratio_to_decode=timing.ratios("decode"), cpu_ratio_to_decode=timing.ratios("decode", cpu=True),
        busiest_thread_ratio_to_decode=timing.busiest_ratios("decode"),
        load_average=timing.load_average(), read_ahead=decode.read_ahead_pays(),
        face_detection_share_of_rgb=round(min(face_s) / timing.wall["rgb"], 4))


@pytest.mark.benchmark(group="rppg-stream")
def test_bench_stream_640x480(benchmark, vga):
    _compare(benchmark, vga, with_before=True)


@pytest.mark.benchmark(group="rppg-stream")
def test_bench_stream_1080p(benchmark, full_hd):
    _compare(benchmark, full_hd, with_before=False)


@pytest.mark.benchmark(group="rppg-workers")
def test_bench_workers(benchmark, vga, tmp_path):
    """``harness run --task rppg-pure-to-ubfc --model pos`` on the 640×480 pair with 0 (one
    process), 1 and 2 DataLoader workers, interleaved per round: frames/s from the last round's
    records (load + predict), the whole run's best wall time relative to 0 workers, and the CPU
    seconds of the main process and of the workers. Metrics must not move."""
    task = TaskIndex().tasks["rppg-pure-to-ubfc"]

    def run(workers: int) -> dict:
        opts = RunOptions(data_root=str(vga), device="cpu", num_workers=workers, n_boot=0, progress=False,
                          output=str(tmp_path / str(next(_counter))))
        return run_task(task, "pos", opts, log=lambda m: None)

    timing = Interleaved({str(w): functools.partial(run, w) for w in (0, 1, 2)})
    benchmark.pedantic(timing.round, rounds=ROUNDS, iterations=1)
    records = timing.results
    assert len({json.dumps(r["metrics"], sort_keys=True) for r in records.values()}) == 1  # metrics do not move
    benchmark.extra_info.update(load_average=timing.load_average(),
                                frames_per_s={w: round(r["throughput"]["frames_per_s"], 1) for w, r in records.items()},
                                whole_run_ratio_to_one_process=timing.ratios("0"),
                                cpu_s_main={w: round(t, 2) for w, t in timing.cpu.items()},
                                cpu_s_workers={w: round(t, 2) for w, t in timing.cpu_children.items()})
