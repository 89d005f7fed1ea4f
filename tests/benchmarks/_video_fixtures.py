"""Real-size rPPG fixtures for the throughput benchmarks: UBFC-rPPG layout (``subjectN/vid.avi``,
Motion-JPEG, + ``ground_truth.txt``) at camera resolutions, made by upscaling the embedded
sample's face frames and adding sensor noise (so the JPEG payload is camera-like, not flat)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from harness.families.rppg.family import FAMILY
from harness.families.rppg.data import read_video

FS = 30.0
NOISE_FIELDS = 8  # distinct noise images, cycled (drawing 1080p noise per frame would dominate writing)


def write_ubfc(root: Path, n_videos: int, seconds: float, size: tuple[int, int], seed: int = 0) -> Path:
    """``root/ubfc-rppg/subject{1..n}/vid.avi`` of ``size`` (W, H) at 30 fps plus a ground truth
    whose pulse is painted on the frames; returns ``root``. Reused when already written."""
    folder = root / "ubfc-rppg"
    if (folder / f"subject{n_videos}" / "ground_truth.txt").is_file():
        return root
    source = FAMILY.sample_root() / "ubfc-rppg" / "subject1" / "vid.avi"
    faces = [cv2.resize(f, size, interpolation=cv2.INTER_CUBIC)[:, :, ::-1] for _, f in zip(range(30), read_video(source))]
    rng = np.random.default_rng(seed)
    noise = [rng.normal(0, 3, (size[1], size[0], 3)).astype(np.int16) for _ in range(NOISE_FIELDS)]
    n = int(round(seconds * FS))
    t = np.arange(n) / FS
    for k in range(1, n_videos + 1):
        ppg = np.sin(2 * np.pi * (1.0 + 0.1 * k) * t)
        subject = folder / f"subject{k}"
        subject.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(subject / "vid.avi"), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), FS, size)
        for i in range(n):
            frame = faces[i % len(faces)].astype(np.int16) + noise[(i * 5 + k) % NOISE_FIELDS] + int(round(2 * ppg[i]))
            writer.write(np.clip(frame, 0, 255).astype(np.uint8))
        writer.release()
        lines = [" ".join(f"{v:.6f}" for v in ppg), " ".join(["72"] * n), " ".join(f"{v:.6f}" for v in t)]
        (subject / "ground_truth.txt").write_text("\n".join(lines) + "\n")
    return root


def videos(root: Path) -> list[Path]:
    return sorted((root / "ubfc-rppg").glob("subject*/vid.avi"), key=lambda p: int(p.parent.name[7:]))


def decode_only(paths: list[Path]) -> int:
    """The bare decoder: a ``cap.read()`` loop over the files; returns the frames read."""
    frames = 0
    for path in paths:
        cap = cv2.VideoCapture(str(path))
        while True:
            ok, _ = cap.read()
            if not ok:
                break
            frames += 1
        cap.release()
    return frames
