"""Face ROI as rPPG-Toolbox does it by default: OpenCV's bundled Haar cascade on the first frame,
the largest detection, its box enlarged ×1.5 about its centre and clipped to the image.

No face found: documented fallback to a centre crop (a square of 0.6 × the shorter side), flagged
so the run can warn and count it. The cascade ships with opencv-python-headless 4.x (5.0 dropped
it, hence the project's ``<5`` pin).
"""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from ...errors import HarnessError

CASCADE = "haarcascade_frontalface_default.xml"
BOX_ENLARGE = 1.5
FALLBACK_FRACTION = 0.6

Box = tuple[int, int, int, int]  # x, y, w, h


@functools.lru_cache(maxsize=1)
def _detector() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / CASCADE
    detector = cv2.CascadeClassifier(str(path))
    if detector.empty():
        raise HarnessError("OpenCV's Haar cascade is missing (install opencv-python-headless<5)", path)
    return detector


def detect_face(frame: np.ndarray) -> Box | None:
    """Largest frontal face in an RGB frame, or None."""
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    faces = _detector().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(30, 30))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return int(x), int(y), int(w), int(h)


def enlarge(box: Box, shape: tuple[int, ...], coef: float = BOX_ENLARGE) -> Box:
    """Scale a box about its centre by ``coef`` and clip it to an image of ``shape`` (H, W, ...)."""
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    nw, nh = w * coef, h * coef
    x0, y0 = max(int(round(cx - nw / 2)), 0), max(int(round(cy - nh / 2)), 0)
    x1, y1 = min(int(round(cx + nw / 2)), shape[1]), min(int(round(cy + nh / 2)), shape[0])
    return x0, y0, x1 - x0, y1 - y0


def centre_box(shape: tuple[int, ...], fraction: float = FALLBACK_FRACTION) -> Box:
    side = max(int(min(shape[0], shape[1]) * fraction), 1)
    return (shape[1] - side) // 2, (shape[0] - side) // 2, side, side


def face_box(first_frame: np.ndarray) -> tuple[Box, bool]:
    """(ROI box, whether a face was found) for a video, from its first frame."""
    found = detect_face(first_frame)
    if found is None:
        return centre_box(first_frame.shape), False
    return enlarge(found, first_frame.shape), True


def crop(frame: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return frame[y : y + h, x : x + w]
