"""Throughput plumbing: decoding workers on the CPU (how many by default, the same outputs as one
process, a worker's error reaching the user as the one line it is), the progress line, and the
shared uint8 → float image conversion."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import tests._rppg_fixtures as fx
from harness import runner
from harness.cli import main
from harness.errors import HarnessError
from harness.family import StreamDataset, ThreadedLoader, Unit, WorkerFailure
from harness.runner import RunOptions, SampleCache, loader_workers, run_task
from harness.task import TaskIndex

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def cores(monkeypatch):
    def set_cores(n: int, local_ranks: str | None = None):
        monkeypatch.setattr(runner, "available_cores", lambda: n)
        monkeypatch.setattr(runner.sys, "platform", "linux")
        if local_ranks is None:
            monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
        else:
            monkeypatch.setenv("LOCAL_WORLD_SIZE", local_ranks)
    return set_cores


def test_default_workers_use_every_core_on_the_cpu(cores, monkeypatch):
    cores(16)
    assert loader_workers(RunOptions(), CPU) == 16
    assert loader_workers(RunOptions(), CPU, n_items=5) == 5   # never more workers than videos/images
    assert loader_workers(RunOptions(), CPU, n_items=1) == 0   # one item: decoded in the main process
    assert loader_workers(RunOptions(num_workers=3), CPU, n_items=1) == 3  # asked for: as asked
    assert loader_workers(RunOptions(), CUDA) == 4             # CUDA: up to 4, one core left to feed the GPU
    cores(16, local_ranks="4")                                 # torchrun ranks share the machine's cores
    assert loader_workers(RunOptions(), CPU) == 4
    cores(1)
    assert loader_workers(RunOptions(), CPU) == 0 and loader_workers(RunOptions(), CUDA) == 0
    cores(2)
    assert loader_workers(RunOptions(), CUDA) == 1
    cores(64)
    assert loader_workers(RunOptions(), CPU) == runner.MAX_DEFAULT_WORKERS
    monkeypatch.setattr(runner.sys, "platform", "darwin")     # no fork by default there: one process
    assert loader_workers(RunOptions(), CPU) == 0


def test_decoding_threads_use_every_core_on_any_device_and_platform(cores, monkeypatch):
    cores(16)
    assert loader_workers(RunOptions(), CPU, threads=True) == 16
    assert loader_workers(RunOptions(), CUDA, threads=True) == 16  # no process copies to save: not capped at 4
    assert loader_workers(RunOptions(), CPU, n_items=3, threads=True) == 3
    assert loader_workers(RunOptions(num_workers=0), CPU, threads=True) == 0
    monkeypatch.setattr(runner.sys, "platform", "darwin")           # threads need no fork
    assert loader_workers(RunOptions(), CPU, threads=True) == 16
    cores(1)
    assert loader_workers(RunOptions(), CPU, threads=True) == 0     # one core: decoded by the model's thread


def _units(item):
    """0 to 3 units per item (an image cut into perturbation levels, a video into windows)."""
    for k in range(item % 4):
        yield Unit(f"s{item}", part=k, last=k == item % 4 - 1), {"x": torch.full((2,), float(item * 10 + k))}


def _stack(items):
    return [u for u, _ in items], {"x": torch.stack([inp["x"] for _, inp in items])}


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_threads_give_the_batches_of_one_process_whatever_their_number(threads):
    dataset = StreamDataset(list(range(23)), _units)
    expected = list(DataLoader(dataset, batch_size=4, num_workers=0, collate_fn=_stack))
    got = list(ThreadedLoader(dataset, 4, _stack, threads))
    assert len(got) == len(expected) > 5
    for (units_a, a), (units_b, b) in zip(got, expected):
        assert [(u.sample_id, u.part, u.last) for u in units_a] == [(u.sample_id, u.part, u.last) for u in units_b]
        assert torch.equal(a["x"], b["x"])


def test_a_threads_error_is_raised_as_it_is_and_no_thread_is_left_running():
    import threading

    items = ["a", "c", "e", "f", "bad", "d"]
    for threads in (1, 2, 4):  # the batches made before the failure reach the model, as in one process
        seen = []
        with pytest.raises(HarnessError, match="broken") as caught:
            for units, _ in ThreadedLoader(StreamDataset(items, _failing), 1, _stack, threads):
                seen += [u.sample_id for u in units]
        assert seen == ["a", "c", "e", "f"], threads
        assert str(caught.value) == "/data/bad.avi: cannot decode video: broken"
    alone = []
    with pytest.raises(HarnessError, match="broken"):
        for units, _ in DataLoader(StreamDataset(items, _failing), batch_size=1, collate_fn=_stack):
            alone += [u.sample_id for u in units]
    assert alone == seen
    assert not [t for t in threading.enumerate() if t.name.startswith("harness-decode")]


def test_threads_read_ahead_a_bounded_number_of_items():
    started = []

    def produce(item):
        started.append(item)
        yield Unit(str(item)), {"x": torch.zeros(1)}

    batches = iter(ThreadedLoader(StreamDataset(list(range(1000)), produce), 2, _stack, 3))
    first = next(batches)
    assert [u.sample_id for u in first[0]] == ["0", "1"]
    # at most 2 × 3 items decoding plus the 3 batches (of 2) waiting beyond the one handed out
    assert len(started) <= 2 + 2 * 3 + 3 * 2
    batches.close()


def test_available_cores_follows_the_affinity_mask():
    import os

    assert runner.available_cores() == len(os.sched_getaffinity(0))


def _failing(item):
    if item == "bad":
        raise HarnessError("cannot decode video: broken", f"/data/{item}.avi")
    yield Unit(item), {"x": torch.zeros(1)}


def test_a_workers_error_arrives_as_an_item_not_a_traceback():
    loader = DataLoader(StreamDataset(["a", "bad", "c", "d"], _failing), batch_size=2, num_workers=2,
                        collate_fn=lambda items: items)
    seen = [item for batch in loader for item in batch]
    failures = [i for i in seen if isinstance(i, WorkerFailure)]
    assert failures == [WorkerFailure("cannot decode video: broken", "/data/bad.avi")]
    assert str(failures[0].error()) == "/data/bad.avi: cannot decode video: broken"
    # worker 0 streams a, c; worker 1 stops at its failure (d is never decoded)
    assert sorted(u.sample_id for u, _ in (i for i in seen if not isinstance(i, WorkerFailure))) == ["a", "c"]
    with pytest.raises(HarnessError, match="broken"):  # in the main process the error is raised as it is
        list(StreamDataset(["bad"], _failing))


def test_run_with_workers_names_the_bad_video_in_one_line(tmp_path, capsys):
    root = tmp_path / "data"
    fx.ubfc_rppg(root / "ubfc-rppg", n_subjects=2)
    short = root / "ubfc-rppg" / "subject1" / "vid.avi"
    fx.write_video(short, fx.colours(5), 30.0)
    code = main(["run", "--task", "rppg-pure-to-ubfc", "--model", "green", "--data-root", str(root),
                 "--num-workers", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "DataLoader worker" not in err
    assert f"{short}: video has 5 frame(s); at least 9 are needed" in err


@pytest.mark.parametrize("task_name, model, threads", [
    ("svc2026-rppg-phase1", "pos", False),        # videos: DataLoader processes
    ("scisp-split", "splice-noise", True),        # images: threads of the run's process
    ("mmdg-p1-cps-w", "fas-relief", True),        # FAS frames (three files each): threads
])
def test_workers_give_the_same_outputs_and_metrics_as_one_process(tmp_path, monkeypatch, task_name, model, threads):
    task = TaskIndex().tasks[task_name]
    loaders = []
    batches = runner.test_batches
    monkeypatch.setattr(runner, "test_batches", lambda *a, **k: loaders.append(batches(*a, **k)) or loaders[-1])
    records = {}
    for workers in (0, 2):
        opts = RunOptions(device="cpu", num_workers=workers, n_boot=50, progress=False, output=str(tmp_path / str(workers)))
        records[workers] = run_task(task, model, opts, log=lambda m: None)
    assert [type(x).__name__ for x in loaders] == ["DataLoader", "ThreadedLoader" if threads else "DataLoader"]
    assert json.dumps(records[0]["metrics"]) == json.dumps(records[2]["metrics"])
    caches = {w: SampleCache(next((tmp_path / str(w) / "cache" / "runs").iterdir())) for w in records}
    ids = sorted(p.name for p in caches[0].folder.iterdir())
    assert ids == sorted(p.name for p in caches[2].folder.iterdir()) and len(ids) == records[0]["n_samples"]
    for path in caches[0].folder.iterdir():
        with np.load(path) as a, np.load(caches[2].folder / path.name) as b:
            assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_progress_line_shows_frames_per_second_and_eta_when_there_is_no_terminal(monkeypatch):
    lines = []
    now = [0.0]
    monkeypatch.setattr(runner.time, "perf_counter", lambda: now[0])
    bar = runner.Progress(4, True, lines.append, every=5.0)  # pytest's stderr is no terminal
    assert bar.lines
    now[0] = 10.0
    bar.update(1, 3000)  # 300 frames/s, 3 samples left at 10 s each
    now[0] = 12.0
    bar.update(0, 600)   # within 5 s of the last line: nothing
    now[0] = 20.0
    bar.update(1, 2400)
    assert lines == ["progress: 1/4 samples, 300 frames/s, ETA 0:00:30",
                     "progress: 2/4 samples, 300 frames/s, ETA 0:00:20"]
    bar.close()
    quiet = []
    runner.Progress(4, False, quiet.append, every=0.0).update(1, 10)
    assert quiet == []


@pytest.mark.parametrize("shape", [(7, 5, 3), (4, 6, 1), (1024, 1024, 3)])
def test_image_tensor_equals_torch_float_div_255_bit_for_bit(shape):
    from harness.images import image_tensor

    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    flat = image.reshape(-1)
    flat[:256] = np.arange(min(256, flat.size), dtype=np.uint8)  # every level at least once (where it fits)
    expected = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)
    got = image_tensor(image)
    assert got.dtype == torch.float32 and got.shape == expected.shape and got.is_contiguous()
    assert torch.equal(got, expected)
    assert torch.equal(image_tensor(image[:, ::-1]), expected.flip(2))  # strided views too


def test_video_decoder_choice_follows_the_environment(monkeypatch):
    from harness.families.rppg import decode

    monkeypatch.setattr(decode, "gpu_decoding_possible", lambda: False)
    for value, expected in (("", "opencv"), ("auto", "opencv"), ("opencv", "opencv"), ("OpenCV", "opencv")):
        monkeypatch.setenv(decode.DECODER_ENV, value)
        assert decode.choose() == expected
    monkeypatch.setenv(decode.DECODER_ENV, "torchcodec")
    with pytest.raises(HarnessError, match="needs CUDA and the torchcodec package"):
        decode.choose()
    monkeypatch.setenv(decode.DECODER_ENV, "nvdec")
    with pytest.raises(HarnessError, match="HARNESS_VIDEO_DECODER must be one of auto, opencv, torchcodec"):
        decode.choose()
    monkeypatch.setattr(decode, "gpu_decoding_possible", lambda: True)
    for value in ("auto", "torchcodec"):
        monkeypatch.setenv(decode.DECODER_ENV, value)
        assert decode.choose() == decode.GPU
    monkeypatch.setenv(decode.DECODER_ENV, "opencv")
    assert decode.choose() == "opencv"


def test_gpu_decoder_path_is_keyed_recorded_and_kept_in_the_main_process(monkeypatch):
    """Without a GPU, the GPU decoder is stood in for by sums over OpenCV's RGB frames: the family
    must key the run by the decoder, keep decoding in the main process, record the decoder per
    video, fall back to OpenCV where the GPU refuses a file, and give the same means."""
    from harness.families.rppg import decode, face
    from harness.families.rppg.family import FAMILY
    from harness.families.rppg.family import InputSpec, stream_video

    refused = set()

    def fake_gpu(path, face_box):
        if path in refused:
            return None
        frames = list(next(r for r in records if r.path == path).frames())
        box, found = face_box(frames[0])
        crops = [face.crop(f, box) for f in frames]
        return np.array([c.reshape(-1, 3).sum(axis=0) for c in crops], dtype=np.float64), crops[0].shape[0] * crops[0].shape[1], found

    monkeypatch.setattr(decode, "gpu_decoding_possible", lambda: True)
    monkeypatch.setattr(decode, "gpu_crop_sums", fake_gpu)
    monkeypatch.delenv(decode.DECODER_ENV, raising=False)
    task = TaskIndex().tasks["svc2026-rppg-phase1"]
    source = FAMILY.resolve_data(task, None, need_train=False)
    pos = __import__("harness.models", fromlist=["build_model"]).build_model("pos", {})[0]
    test = FAMILY.test_set(task, source, pos, limit=2)
    assert test.key == "decoder=torchcodec-cuda" and test.max_workers == 0 and "torchcodec" in test.notes[0]
    records = FAMILY._role_records(task, source, "test")[:2]
    refused.add(records[1].path)
    cpu, gpu = InputSpec("rgb"), InputSpec("rgb", decoder=decode.GPU)
    for rec, decoder in zip(records, (decode.GPU, "opencv")):
        (unit, got), = stream_video(rec, gpu)
        (_, expected), = stream_video(rec, cpu)
        assert unit.meta["decoder"] == decoder and np.array_equal(got["rgb"], expected["rgb"])
    monkeypatch.setenv(decode.DECODER_ENV, "opencv")
    assert FAMILY.test_set(task, source, pos, limit=2).key == ""


def test_pixels_reach_the_model_as_image_tensor_bit_for_bit():
    """The uint8 pixels a worker streams become, on the model's device, exactly image_tensor's floats
    (the CPU path and torch's device path, run here on the CPU); float images pass through."""
    from PIL import Image

    from harness.images import float_image_on, image_tensor, model_images, pixels, prepare_images

    image = np.random.default_rng(1).integers(0, 256, (33, 17, 3), dtype=np.uint8)
    image.reshape(-1)[:256] = np.arange(256, dtype=np.uint8)
    expected = image_tensor(image)
    readonly = np.asarray(Image.fromarray(image))  # Pillow's arrays are read-only
    assert not readonly.flags.writeable
    px = pixels(readonly)
    assert px.dtype == torch.uint8 and px.shape == (33, 17, 3)
    cpu = torch.device("cpu")
    assert torch.equal(model_images([px], cpu)[0], expected)
    on = float_image_on(px, cpu)
    assert on.is_contiguous() and torch.equal(on, expected)
    float_in = torch.rand(3, 4, 5)
    batch = prepare_images({"images": [px, float_in], "ids": ["a", "b"]}, cpu)
    assert torch.equal(batch["images"][0], expected) and batch["images"][1] is float_in and batch["ids"] == ["a", "b"]
    with pytest.raises(ValueError, match="uint8"):
        pixels(image.astype(np.float32))
    shared = image_tensor(image, shared=True)  # what a decoding worker hands over without a copy
    assert shared.is_shared() and shared.is_contiguous() and torch.equal(shared, expected)


def test_rgb_pixels_are_pillows_bytes_and_outlive_the_closed_image(tmp_path):
    import gc

    from PIL import Image

    from harness.images import read_image, rgb_pixels

    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 256, (37, 53, 3), dtype=np.uint8) for _ in range(3)]
    views = []
    for k, a in enumerate(arrays):
        Image.fromarray(a).save(tmp_path / f"{k}.png")
        views.append(read_image(tmp_path / f"{k}.png"))
    gc.collect()
    for _ in range(5):  # closed images' memory is handed out again
        read_image(tmp_path / "0.png")
    for a, v in zip(arrays, views):
        assert v.shape == a.shape and np.array_equal(v, a) and not v.flags.writeable
    if hasattr(Image.Image, "__arrow_c_array__"):
        assert views[0].strides[1] == 4  # a view of Pillow's RGBX memory, no copy
    # an image over Pillow's memory block (16 MB of RGBX): Pillow's packed copy, the same bytes
    big = Image.fromarray(np.tile(arrays[0], (60, 40, 1)))
    assert 4 * big.width * big.height > 16 * 2**20
    assert np.array_equal(rgb_pixels(big), np.asarray(big)) and rgb_pixels(big).strides[1] == 3


def test_rgb_pixels_views_do_not_keep_closed_images_alive(tmp_path):
    """The Arrow view of Pillow's memory holds the image only as long as the view lives (Pillow
    11.2's export leaked every image, python-pillow/Pillow#8950): reading 40 MB of pixels 30 times
    over leaves the resident memory where it was."""
    import os

    from PIL import Image

    from harness.images import read_image

    path = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1024, 1280, 3), dtype=np.uint8)).save(path, compress_level=0)

    if not os.path.exists("/proc/self/statm"):
        pytest.skip("reads the resident memory from /proc (Linux)")

    def resident_mb() -> float:  # now, not the peak: the suite's earlier tests set a high peak
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    for _ in range(3):
        read_image(path)
    before = resident_mb()
    for _ in range(30):  # 30 × 5.2 MB of RGBX: 157 MB if each were kept
        assert read_image(path).shape == (1024, 1280, 3)
    assert resident_mb() - before < 60
