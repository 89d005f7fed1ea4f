"""The rPPG family's glue: subject halves, streaming with bounded memory, frame chunks, scoring."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.families.rppg.family import FAMILY
from harness.families.rppg.chunks import Chunking, Preprocessed, stitch
from harness.families.rppg.family import InputSpec, collate, select_split, stream_video, subject_halves
from harness.families.rppg.video import VideoRecord
from harness.task import TaskIndex


def record(n_frames: int, key: str = "v", fs: float = 30.0, size=(96, 128), hr_hz: float = 1.2,
           subject: str = "s1") -> VideoRecord:
    """A video made on the fly frame by frame (never held whole), pulsing at ``hr_hz``."""
    t = np.arange(n_frames) / fs
    pulse = np.sin(2 * np.pi * hr_hz * t)

    def frames():
        base = np.full((*size, 3), 120.0)
        for i in range(n_frames):
            yield (base + pulse[i] * np.array([0.5, 1.5, 0.8]) + 0.5).astype(np.uint8)

    return VideoRecord("ubfc-rppg", subject, key, fs, Path(f"/virtual/{key}.avi"), frames,
                       lambda: (pulse.copy(), None))


def test_subject_halves_alternate_in_natural_order_and_never_share_a_subject():
    recs = [record(10, key=f"{s}/{v}", subject=s) for s in ["subject10", "subject2", "subject1", "subject3"] for v in "ab"]
    halves = subject_halves(recs)
    assert halves == {"subject1": "half-a", "subject2": "half-b", "subject3": "half-a", "subject10": "half-b"}
    a, b = select_split(recs, "half-a"), select_split(recs, "half-b")
    assert len(a) + len(b) == len(recs) and not {r.subject for r in a} & {r.subject for r in b}
    assert select_split(recs, "all") == recs


def test_streaming_keeps_memory_bounded_on_a_long_video():
    """20,000 frames of 96×128 (737 MB decoded) stream through with a small peak."""
    rec = record(20_000)
    tracemalloc.start()
    units = list(stream_video(rec, InputSpec("rgb")))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(units) == 1 and units[0][1]["rgb"].shape == (20_000, 3)
    assert peak < 40e6, f"peak {peak / 1e6:.1f} MB"
    assert units[0][0].meta["face_found"] is False  # a flat image: centre-crop fallback, flagged


def test_frames_mode_cuts_chunks_and_reference_rides_on_the_last_part():
    rec = record(400)
    units = list(stream_video(rec, InputSpec("frames", frame_size=16, chunking=Chunking(180))))
    assert [u.part for u, _ in units] == [0, 1, 2] and [u.last for u, _ in units] == [False, False, True]
    # the tail is padded to a full window by repeating its last frame; `valid` says how much is real
    assert [inp["frames"].shape for _, inp in units] == [(180, 16, 16, 3)] * 3
    assert [(inp["start"], inp["valid"]) for _, inp in units] == [(0, 180), (180, 180), (360, 40)]
    tail = units[-1][1]["frames"]
    assert (tail[40:] == tail[39]).all()
    assert units[-1][0].reference["bvp"].shape == (400,) and units[0][0].reference is None
    exact = list(stream_video(record(360), InputSpec("frames", frame_size=16, chunking=Chunking(180))))
    assert [inp["frames"].shape[0] for _, inp in exact] == [180, 180]  # no empty closing part
    assert [u.last for u, _ in exact] == [False, True] and exact[-1][0].reference["bvp"].shape == (360,)


def test_frames_with_whole_video_preprocessing_keep_memory_bounded():
    """6,000 frames of 96×128 (221 MB decoded) as DiffNormalized + Standardized windows: crops
    wait in a temporary file, statistics are gathered in blocks, windows are made one at a time."""
    spec = InputSpec("frames", frame_size=16, chunking=Chunking(180), frame_types=("diff_normalized", "standardized"))
    tracemalloc.start()
    count = 0
    for _, inp in stream_video(record(6_000), spec):
        assert inp["frames"].shape == (180, 16, 16, 6) and inp["frames"].dtype == np.float32
        count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 34 and peak < 20e6, f"peak {peak / 1e6:.1f} MB"


def test_chunk_windows_follow_the_tail_policy_and_stride():
    assert Chunking(128, tail="drop").windows(300) == [(0, 128), (128, 128)]
    assert Chunking(128, tail="pad").windows(300) == [(0, 128), (128, 128), (256, 44)]
    assert Chunking(128, tail="end").windows(300) == [(0, 128), (128, 128), (172, 128)]
    assert Chunking(100, stride=50).windows(260) == [(0, 100), (50, 100), (100, 100), (150, 100), (200, 60)]
    assert Chunking(128, tail="drop").windows(100) == [] and Chunking(128, tail="end").windows(100) == [(0, 100)]
    assert Chunking(None).windows(77) == [(0, 77)]
    with pytest.raises(ValueError, match="stride"):
        Chunking(10, stride=11)
    with pytest.raises(ValueError, match="tail"):
        Chunking(10, tail="wrap")


def test_stitching_averages_overlaps_and_refuses_gaps():
    parts = [(0, np.array([1.0, 1.0, 1.0, 1.0])), (2, np.array([3.0, 3.0, 3.0]))]
    assert np.array_equal(stitch(parts), [1.0, 1.0, 2.0, 2.0, 3.0])
    with pytest.raises(HarnessError, match="uncovered"):
        stitch([(0, np.ones(2)), (3, np.ones(2))])


def test_bvp_diff_windows_are_stitched_then_integrated_over_the_whole_video():
    diff = np.random.default_rng(0).normal(size=300)
    parts = [{"bvp_diff": diff[s:s + 128], "start": s} for s in (0, 128)]
    merged = FAMILY.merge_parts(parts)["bvp"]
    assert np.allclose(merged, np.cumsum(diff[:256]))  # one cumsum over the video, not per chunk


def test_whole_video_frame_types_match_a_direct_computation_before_chunking():
    """DiffNormalized and Standardized are the toolbox's definitions over the whole video, computed
    here independently in float64 with numpy, then compared window by window."""
    rng = np.random.default_rng(1)
    video = rng.integers(0, 256, size=(150, 4, 4, 3), dtype=np.uint8)
    video[:, 0, 0] = 0  # 0/0 pixels: the toolbox's 1e-7 keeps them at 0
    x = video.astype(np.float64)
    diff = (x[1:] - x[:-1]) / (x[1:] + x[:-1] + 1e-7)
    diff = np.concatenate([diff / diff.std(), np.zeros((1, 4, 4, 3))])
    std = (x - x.mean()) / x.std()
    pre = Preprocessed(video, ("diff_normalized", "standardized"))
    for start, length in [(0, 64), (64, 64), (128, 64)]:
        w = pre.window(start, length)
        stop = min(start + length, 150)
        assert w.shape == (length, 4, 4, 6) and w.dtype == np.float32
        assert np.allclose(w[:stop - start, ..., :3], diff[start:stop], atol=1e-5)
        assert np.allclose(w[:stop - start, ..., 3:], std[start:stop], atol=1e-5)
        assert (w[stop - start:] == w[stop - start - 1]).all()  # padding repeats the last frame
    assert np.array_equal(Preprocessed(video, ("raw",)).window(10, 5), video[10:15])


def test_scoring_uses_only_covered_frames_and_counts_the_rest():
    task = TaskIndex().tasks["rppg-pure-to-ubfc"]
    fs, n = 30.0, 600
    gt = np.sin(2 * np.pi * 1.2 * np.arange(n) / fs)
    ref = {"bvp": gt, "fs": fs, "meta": {"dataset": "ubfc-rppg"}}
    covered = FAMILY.score(task, {"a": {"bvp": gt[:512]}}, {"a": ref}, n_boot=0, seed=0)
    assert covered.counts["uncovered_frames"] == 88 and any("88 frame(s)" in note for note in covered.notes)
    direct = FAMILY.score(task, {"a": {"bvp": gt[:512]}}, {"a": {**ref, "bvp": gt[:512]}}, n_boot=0, seed=0)
    assert covered.rows[["hr_pred", "hr_gt"]].equals(direct.rows[["hr_pred", "hr_gt"]])


def test_collate_pads_by_repeating_the_last_frame():
    from harness.family import Unit

    a = (Unit("a"), {"rgb": np.ones((3, 3), np.float32), "fs": 30.0})
    b = (Unit("b"), {"rgb": np.arange(15, dtype=np.float32).reshape(5, 3), "fs": 35.0})
    _, inputs = collate([a, b])
    assert inputs["ids"] == ["a", "b"]
    assert inputs["rgb"].shape == (2, 5, 3) and inputs["lengths"].tolist() == [3, 5]
    assert torch.equal(inputs["rgb"][0, 3:], torch.ones(2, 3))
    assert inputs["fs"].dtype == torch.float64 and inputs["fs"].tolist() == [30.0, 35.0]


def test_video_shorter_than_the_minimum_is_refused():
    with pytest.raises(HarnessError, match="at least"):
        list(stream_video(record(5), InputSpec("rgb")))


def test_score_pairs_perfect_prediction_and_counts():
    task = TaskIndex().tasks["rppg-pure-to-ubfc"]
    fs = 30.0
    t = np.arange(600) / fs
    outputs, refs = {}, {}
    for i, hz in enumerate([1.0, 1.3, 1.7, 2.1]):
        gt = np.sin(2 * np.pi * hz * t)
        outputs[f"d/v{i}"] = {"bvp": gt + 0.01 * np.cos(7 * t)}
        refs[f"d/v{i}"] = {"bvp": gt, "fs": fs, "meta": {"dataset": "d", "face_found": i != 0}}
    score = FAMILY.score(task, outputs, refs, n_boot=200, seed=0)
    assert score.metrics["mae"].value == pytest.approx(0.0)
    assert score.metrics["pearson"].value == pytest.approx(1.0)
    assert score.counts == {"videos": 4, "windows": 4, "face_fallback": 1}
    half_bin = fs / 1024 * 60 / 2  # 600 frames -> nfft 1024
    assert np.abs(score.rows["hr_gt"].to_numpy() - np.array([60, 78, 102, 126])).max() <= half_bin


def test_split_outputs_accepts_a_bare_tensor_and_checks_shape():
    from harness.family import Unit

    units = [Unit("a"), Unit("b")]
    inputs = {"rgb": torch.zeros(2, 10, 3), "lengths": torch.tensor([10, 7])}
    out = FAMILY.split_outputs(torch.ones(2, 10), units, inputs)
    assert [o["bvp"].shape for o in out] == [(10,), (7,)]
    out = FAMILY.split_outputs({"hr": torch.tensor([60.0, 70.0])}, units, inputs)
    assert [float(o["hr"]) for o in out] == [60.0, 70.0]
    with pytest.raises(HarnessError, match="exactly one of"):
        FAMILY.split_outputs({"pulse": torch.ones(2, 10)}, units, inputs)
    with pytest.raises(HarnessError, match=r"NaN or infinite bvp for sample b"):
        FAMILY.split_outputs(torch.tensor([[1.0] * 10, [1.0] * 6 + [float("inf")] + [0.0] * 3]), units, inputs)


def _numpy_means(rec: VideoRecord) -> np.ndarray:
    """The independent computation: RGB frames, face box on the first, numpy mean of each crop."""
    from harness.families.rppg import face

    box, means = None, []
    for frame in rec.frames():
        if box is None:
            box, _ = face.face_box(frame)
        means.append(face.crop(frame, box).reshape(-1, 3).mean(axis=0))
    return np.asarray(means, dtype=np.float32)


@pytest.mark.parametrize("layout", ["ubfc-rppg", "pure"])
def test_bgr_streaming_equals_numpy_means_and_rgb_crops_exactly(tmp_path, layout):
    """The fast path (decoder-native BGR, cv2.sumElems of the crop, colour conversion only of the
    resized crops) gives bit-identical inputs to per-frame RGB conversion and numpy means."""
    import dataclasses

    import tests._rppg_fixtures as fx
    from harness.families.rppg import chunks, data

    if layout == "ubfc-rppg":  # a textured face video (MJPG) whose face the cascade finds
        rec = data.scan("ubfc-rppg", FAMILY.sample_root() / "ubfc-rppg")[0]
    else:  # a folder of PNG frames (read_image_sequence)
        fx.pure(tmp_path / "pure", sessions=("01-01",))
        rec = data.scan("pure", tmp_path / "pure")[0]
    assert rec.bgr_frames is not None
    plain = dataclasses.replace(rec, bgr_frames=None)
    (fast_unit, fast), = stream_video(rec, InputSpec("rgb"))
    (_, slow), = stream_video(plain, InputSpec("rgb"))
    assert fast["rgb"].dtype == np.float32 and np.array_equal(fast["rgb"], slow["rgb"])
    assert np.array_equal(fast["rgb"], _numpy_means(plain))
    spec = InputSpec("frames", frame_size=24, chunking=chunks.Chunking(50))
    fast_parts = [inp["frames"] for _, inp in stream_video(rec, spec)]
    slow_parts = [inp["frames"] for _, inp in stream_video(plain, spec)]
    assert len(fast_parts) == len(slow_parts) and all(np.array_equal(a, b) for a, b in zip(fast_parts, slow_parts))
    if layout == "ubfc-rppg":
        assert fast_unit.meta["face_found"]


def test_frames_changing_size_mid_video_are_refused():
    rec = record(100)
    frames = rec.frames

    def shrinking():
        for i, f in enumerate(frames()):
            yield f if i < 50 else f[:-8]

    rec.frames = shrinking
    with pytest.raises(HarnessError, match="frame 51 .* must share one size"):
        list(stream_video(rec, InputSpec("rgb")))


def _read_ahead_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "harness-read-ahead"]


def test_read_ahead_hands_over_the_same_frames_then_the_readers_error_and_stops_when_left():
    from harness.families.rppg.decode import read_ahead

    made = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    state = {"closed": False}

    def failing():
        yield from made
        raise HarnessError("corrupt frame 11")

    got = []
    with pytest.raises(HarnessError, match="corrupt frame 11"):
        for frame in read_ahead(failing(), depth=2):
            got.append(frame)
    assert len(got) == 10 and all(a is b for a, b in zip(got, made))  # same frames, same order

    def endless():
        try:
            while True:
                yield made[0]
        finally:
            state["closed"] = True

    ahead = read_ahead(endless(), depth=2)
    assert [next(ahead) for _ in range(3)] == [made[0]] * 3
    ahead.close()  # the caller leaves early: the helper stops, the reader is closed
    assert state["closed"] and not _read_ahead_threads()


def test_frames_input_is_bit_identical_with_and_without_read_ahead(monkeypatch):
    from harness.families.rppg import chunks, data, decode

    rec = data.scan("ubfc-rppg", FAMILY.sample_root() / "ubfc-rppg")[0]
    spec = InputSpec("frames", frame_size=24, chunking=chunks.Chunking(50), frame_types=("raw", "diff_normalized"))
    parts = {}
    for ahead in (False, True):
        monkeypatch.setattr(decode, "read_ahead_pays", lambda: ahead)
        parts[ahead] = [(u.meta, inp["frames"]) for u, inp in stream_video(rec, spec)]
    assert len(parts[True]) == len(parts[False]) > 1
    assert all(m1 == m2 and np.array_equal(a, b) for (m1, a), (m2, b) in zip(parts[True], parts[False]))
    # a refusal mid-video with the helper running: one clear error, no thread left behind
    monkeypatch.setattr(decode, "read_ahead_pays", lambda: True)
    short = record(100)
    frames = short.frames
    short.frames = lambda: (f if i < 70 else f[:-8] for i, f in enumerate(frames()))
    with pytest.raises(HarnessError, match="frame 71 .* must share one size"):
        list(stream_video(short, InputSpec("frames", frame_size=24)))
    assert not _read_ahead_threads()


def test_read_ahead_only_where_each_decoding_process_has_a_spare_core(monkeypatch):
    import types

    import torch.utils.data

    from harness import runner
    from harness.families.rppg import decode

    monkeypatch.setattr(runner, "local_ranks", lambda: 1)
    monkeypatch.setattr(runner, "available_cores", lambda: 2)
    assert decode.read_ahead_pays()  # one process decoding, two cores
    monkeypatch.setattr(runner, "available_cores", lambda: 1)
    assert not decode.read_ahead_pays()
    monkeypatch.setattr(runner, "available_cores", lambda: 8)
    monkeypatch.setattr(runner, "local_ranks", lambda: 8)  # 8 torchrun ranks share the 8 cores
    assert not decode.read_ahead_pays()
    monkeypatch.setattr(runner, "local_ranks", lambda: 1)
    for workers, pays in ((8, False), (4, True), (5, False)):  # the CPU default (a worker per core), CUDA's 4
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: types.SimpleNamespace(num_workers=workers))
        assert decode.read_ahead_pays() is pays
