"""The video record shared by the rPPG loaders, the sample generator and the family."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterator

import numpy as np


@dataclasses.dataclass
class VideoRecord:
    """One video of a dataset on disk, not yet decoded.

    ``frames()`` streams RGB uint8 frames (H, W, 3) one at a time, so memory stays bounded;
    ``bgr_frames()``, where the reader decodes with OpenCV, streams the same frames in OpenCV's
    native BGR order, skipping the per-frame colour conversion (the family uses it when present);
    ``ground_truth()`` returns the raw GT waveform and its own sampling rate (None = one sample
    per frame), which the family resamples to the decoded frame count.
    """

    dataset: str          # canonical folder name, e.g. "ubfc-rppg"
    subject: str          # subject id as the dataset names it (used for subject-wise splits)
    key: str              # unique within the dataset, e.g. "subject3", "01-02", "p1_0"
    fs: float             # video frame rate
    path: Path            # the video file or frame folder (for error messages)
    frames: Callable[[], Iterator[np.ndarray]]
    ground_truth: Callable[[], tuple[np.ndarray, float | None]]
    gt_path: Path | None = None
    meta: dict = dataclasses.field(default_factory=dict)
    bgr_frames: Callable[[], Iterator[np.ndarray]] | None = None

    @property
    def sample_id(self) -> str:
        return f"{self.dataset}/{self.key}"
