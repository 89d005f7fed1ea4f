"""Chunking a video for a model, whole-video preprocessing, and stitching outputs back to frames.

A model declares how it wants a video cut (:class:`Chunking`): windows of ``length`` frames every
``stride`` frames, and what to do with a tail that does not fill a window: ``drop`` it (the
toolbox's ``DO_CHUNK``), ``pad`` it to a full window by repeating its last frame, or cover it with
one more window aligned to the video's ``end`` (overlapping the one before). Outputs are put back
on the frame axis by :func:`stitch` (overlaps averaged); frames no window covers are not scored
and are counted in the record.

``frame_types`` (:data:`FRAME_TYPES`) are computed over the whole video *before* cutting, as
rPPG-Toolbox's ``BaseLoader`` does, from statistics gathered in one streaming pass, so a long
video never has to be held as floats.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from ...errors import HarnessError

TAILS = ("drop", "pad", "end")
#: frame representations: raw pixels, the toolbox's DiffNormalized and Standardized (per video)
FRAME_TYPES = ("raw", "diff_normalized", "standardized")
TOOLBOX_TYPES = {"Raw": "raw", "DiffNormalized": "diff_normalized", "Standardized": "standardized"}
BLOCK = 64  # frames per step of the statistics pass (bounded float64 memory)


@dataclasses.dataclass(frozen=True)
class Chunking:
    """``length`` None: the whole video is one unit. ``stride`` None: ``length`` (no overlap)."""

    length: int | None = None
    stride: int | None = None
    tail: str = "pad"

    def __post_init__(self) -> None:
        for name in ("length", "stride"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"chunk {name} must be a positive integer or None, got {v!r}")
        if self.stride is not None and (self.length is None or self.stride > self.length):
            raise ValueError(f"chunk stride {self.stride} needs a chunk length of at least that (got {self.length}): "
                             "frames between windows would never be predicted")
        if self.tail not in TAILS:
            raise ValueError(f"chunk tail must be one of {TAILS}, got {self.tail!r}")

    def windows(self, n: int) -> list[tuple[int, int]]:
        """(start, valid frames) of each window over a video of ``n`` frames, in time order; a
        window holds ``length`` frames (padded past the video's end when ``valid`` < ``length``)."""
        if self.length is None:
            return [(0, n)]
        size, step = self.length, self.stride or self.length
        if n < size:  # no full window: none when dropping, else one padded window
            return [] if self.tail == "drop" else [(0, n)]
        out = [(s, size) for s in range(0, n - size + 1, step)]
        end = out[-1][0] + size
        if end < n and self.tail == "pad":
            out.append((out[-1][0] + step, n - out[-1][0] - step))
        elif end < n and self.tail == "end":
            out.append((n - size, size))
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def frame_types_of(value: Sequence[str] | str | None) -> tuple[str, ...]:
    """Normalised frame types (the toolbox's names are accepted too)."""
    names = [value] if isinstance(value, str) else list(value or ["raw"])
    out = tuple(TOOLBOX_TYPES.get(n, n) for n in names)
    bad = [n for n in out if n not in FRAME_TYPES]
    if bad or not out:
        raise ValueError(f"frame_types must be among {FRAME_TYPES} (or the toolbox's {sorted(TOOLBOX_TYPES)}), got {names}")
    return out


class _Moments:
    """Count, mean and sum of squared deviations, merged block by block (Chan et al.) in float64."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, block: np.ndarray) -> None:
        k = block.size
        if not k:
            return
        mean = float(block.mean(dtype=np.float64))
        m2 = float(np.square(block.astype(np.float64) - mean).sum())
        delta, total = mean - self.mean, self.n + k
        self.mean += delta * k / total
        self.m2 += m2 + delta * delta * self.n * k / total
        self.n = total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / self.n)) if self.n else 0.0


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The toolbox's normalised frame difference (b − a) / (b + a + 1e-7), as float32."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return ((b - a) / (b + a + 1e-7)).astype(np.float32)


class Preprocessed:
    """Whole-video frame types over ``frames`` (T, H, W, 3) uint8 (an array or a memmap), read
    window by window: statistics first (one pass in blocks), then :meth:`window` on demand."""

    def __init__(self, frames: np.ndarray, types: tuple[str, ...]):
        self.frames, self.types, self.n = frames, types, len(frames)
        self.diff_std = self.mean = self.std = None
        if "diff_normalized" in types:
            acc = _Moments()
            for s in range(0, self.n - 1, BLOCK):
                block = np.asarray(frames[s:min(s + BLOCK + 1, self.n)])
                acc.add(_ratio(block[:-1], block[1:]))
            self.diff_std = np.float32(acc.std)
        if "standardized" in types:
            acc = _Moments()
            for s in range(0, self.n, BLOCK):
                acc.add(np.asarray(frames[s:s + BLOCK]))
            self.mean, self.std = acc.mean, acc.std

    def window(self, start: int, length: int) -> np.ndarray:
        """Frames [start, start + length) in the model's representation; past the video's end the
        last frame repeats. Raw only: uint8; otherwise float32 with the types' channels side by side."""
        stop = min(start + length, self.n)
        parts = []
        for kind in self.types:
            if kind == "raw":
                x = np.array(self.frames[start:stop])
                parts.append(x if self.types == ("raw",) else x.astype(np.float32))
            elif kind == "diff_normalized":
                block = np.asarray(self.frames[start:min(stop + 1, self.n)])
                d = _ratio(block[:-1], block[1:])
                if stop == self.n:  # the toolbox appends a zero frame for the last one
                    d = np.concatenate([d, np.zeros((1,) + d.shape[1:], np.float32)])
                with np.errstate(divide="ignore", invalid="ignore"):
                    d = d / self.diff_std
                parts.append(np.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False))
            else:
                x = (np.asarray(self.frames[start:stop], dtype=np.float64) - self.mean) / (self.std or np.nan)
                parts.append(np.nan_to_num(x, nan=0.0).astype(np.float32))
        out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        if stop - start < length:
            out = np.concatenate([out, np.repeat(out[-1:], length - (stop - start), axis=0)])
        return out


def stitch(parts: Sequence[tuple[int, np.ndarray]]) -> np.ndarray:
    """One waveform from (start, values) windows: overlapping frames averaged. The windows must
    cover a prefix of the video without gaps (what :meth:`Chunking.windows` yields)."""
    n = max(s + len(v) for s, v in parts)
    total, count = np.zeros(n), np.zeros(n)
    for s, v in parts:
        total[s:s + len(v)] += v
        count[s:s + len(v)] += 1
    if not count.all():
        raise HarnessError(f"model outputs leave frames {int(np.argmin(count > 0))}… uncovered inside the video")
    return total / count
