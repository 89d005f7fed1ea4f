"""The rPPG family's glue: subject halves, streaming with bounded memory, frame chunks, scoring."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.families.rppg import FAMILY
from harness.families.rppg.family import InputSpec, collate, select_split, stream_video, subject_halves
from harness.families.rppg.types import VideoRecord
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
    units = list(stream_video(rec, InputSpec("frames", frame_size=16, chunk_frames=180)))
    assert [u.part for u, _ in units] == [0, 1, 2] and [u.last for u, _ in units] == [False, False, True]
    assert [inp["frames"].shape for _, inp in units] == [(180, 16, 16, 3), (180, 16, 16, 3), (40, 16, 16, 3)]
    assert units[-1][0].reference["bvp"].shape == (400,) and units[0][0].reference is None
    exact = list(stream_video(record(360), InputSpec("frames", frame_size=16, chunk_frames=180)))
    assert [inp["frames"].shape[0] for _, inp in exact] == [180, 180]  # no empty closing part
    assert [u.last for u, _ in exact] == [False, True] and exact[-1][0].reference["bvp"].shape == (360,)


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
    from harness.families.rppg import data

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
    spec = InputSpec("frames", frame_size=24, chunk_frames=50)
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
