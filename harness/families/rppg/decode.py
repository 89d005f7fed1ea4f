"""Which decoder turns an rPPG video file into crop means: OpenCV on the CPU (everywhere, the
default), or torchcodec on the GPU (NVDEC) when CUDA and the ``torchcodec`` package are present.

``$HARNESS_VIDEO_DECODER``: ``auto`` (default: torchcodec when CUDA and torchcodec are present,
else OpenCV), ``opencv``, or ``torchcodec`` (refused where it cannot run). The GPU path serves
``rgb`` input (crop sums on the GPU, exact in float64, one block of frames at a time); ``frames``
input keeps OpenCV, whose INTER_AREA resize the models were checked against. A video whose codec
the GPU decoder refuses falls back to OpenCV; each video records the decoder that ran (``meta``),
and the run's test key names the decoder, since GPU and CPU decoders may round pixels differently.
GPU decoding runs in the main process (CUDA cannot be used in forked DataLoader workers).

:func:`read_ahead` decodes the next frames in a helper thread while the caller works on this one
(``frames`` input where cores are to spare: the INTER_AREA resize then overlaps the decode).
"""
from __future__ import annotations

import importlib.util
import os
import queue
import threading
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from ...errors import HarnessError

DECODER_ENV = "HARNESS_VIDEO_DECODER"
CHOICES = ("auto", "opencv", "torchcodec")
OPENCV, GPU = "opencv", "torchcodec-cuda"
#: frames decoded per call on the GPU (1080p: 64 × 6 MB of GPU memory)
GPU_BLOCK_FRAMES = 64
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v"}
#: decoded frames waiting for the caller in :func:`read_ahead` (1080p: 4 × 6 MB)
READ_AHEAD_FRAMES = 4


def gpu_decoding_possible() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("torchcodec") is not None


def choose() -> str:
    """The decoder a run uses for video files: ``opencv`` or ``torchcodec-cuda``."""
    want = os.environ.get(DECODER_ENV, "auto").strip().lower() or "auto"
    if want not in CHOICES:
        raise HarnessError(f"${DECODER_ENV} must be one of {', '.join(CHOICES)}, got {want!r}")
    if want == "opencv":
        return OPENCV
    if gpu_decoding_possible():
        return GPU
    if want == "torchcodec":
        raise HarnessError(f"${DECODER_ENV}=torchcodec needs CUDA and the torchcodec package "
                           f"(pip install torchcodec); use auto or opencv")
    return OPENCV


def gpu_crop_sums(path: Path, face_box: Callable[[np.ndarray], tuple]) -> tuple[np.ndarray, int, bool] | None:
    """(per-frame R, G, B sums (T, 3) float64 of the face crop, the crop's pixel count, face
    found), decoded and summed on the GPU; ``face_box(first RGB frame as numpy)`` gives
    ``(box, found)``. None when torchcodec cannot open or decode this file on the GPU (the caller
    falls back to OpenCV)."""
    try:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(path), device="cuda", dimension_order="NHWC")
        total = len(decoder)
        first = decoder.get_frames_in_range(0, min(GPU_BLOCK_FRAMES, total)).data
    except Exception:  # unsupported codec/container on this GPU, or no frames: OpenCV decides
        return None
    if total == 0 or first.shape[0] == 0:
        return None
    box, found = face_box(first[0].cpu().numpy())
    x, y, w, h = box
    sums, block, start = [], first, 0
    area = int(first[0, y:y + h, x:x + w, 0].numel())
    while True:
        sums.append(block[:, y:y + h, x:x + w].to(torch.float64).sum(dim=(1, 2)).cpu())
        start += block.shape[0]
        if start >= total:
            break
        try:
            block = decoder.get_frames_in_range(start, min(start + GPU_BLOCK_FRAMES, total)).data
        except Exception as exc:
            raise HarnessError(f"cannot decode video on the GPU at frame {start}: {exc}", path) from exc
    return torch.cat(sums).numpy(), area, found


def close_frames(frames: Iterator[np.ndarray]) -> None:
    """Close a frame stream (a generator releases its reader) if it can be closed."""
    close = getattr(frames, "close", None)
    if close is not None:
        close()


def read_ahead_pays() -> bool:
    """Whether a helper decoding thread gets a core of its own: this process's share of the
    cores (its affinity mask, divided among this machine's torchrun ranks) holds two threads for
    each process decoding, i.e. each DataLoader worker (on the CPU one per core by default: then
    no) or this process alone."""
    from torch.utils.data import get_worker_info

    from ...runner import available_cores, local_ranks

    worker = get_worker_info()
    decoding = worker.num_workers if worker is not None else 1
    return available_cores() // local_ranks() >= 2 * decoding


def read_ahead(frames: Iterator[np.ndarray], depth: int = READ_AHEAD_FRAMES) -> Iterator[np.ndarray]:
    """``frames``, decoded up to ``depth`` frames ahead by a helper thread (OpenCV releases the
    GIL while it decodes, so the next frame's decode overlaps the caller's work on this one).
    Same frames, same order; the reader's errors are raised here, where its next frame would have
    come. Closing this iterator (or leaving it early) stops the thread and closes ``frames``."""
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    return
                waiting.put((frame, None))
            waiting.put((done, None))
        except BaseException as exc:  # handed to the caller, raised there
            waiting.put((None, exc))
        finally:
            close_frames(frames)

    helper = threading.Thread(target=produce, name="harness-read-ahead", daemon=True)
    helper.start()
    try:
        while True:
            frame, exc = waiting.get()
            if exc is not None:
                raise exc
            if frame is done:
                return
            yield frame
    finally:
        stop.set()
        while helper.is_alive():  # unblock a full queue so the helper sees the stop
            try:
                waiting.get(timeout=0.05)
            except queue.Empty:
                pass
        helper.join()
