"""Face ROI recipes (``crop``), chosen per model or per task and recorded with every result.

``harness`` (the default, this harness's own): OpenCV's bundled Haar cascade on the first frame's
grayscale, faces of at least 30×30 px, the largest by area, its box enlarged ×1.5 about its centre
(rounded) and clipped to the image. No face found: a centre crop (a square of 0.6 × the shorter
side), flagged so the run can warn and count it.

``toolbox``: rPPG-Toolbox's ``BaseLoader.crop_face_resize`` exactly (see :class:`CropRecipe`):
the cascade with OpenCV's defaults run on the RGB frame as given (OpenCV converts it as if it were
BGR), the widest detection, the box grown by ``(coef − 1)/2`` of its size up and left (clipped at 0,
not re-centred) and ×``coef``, truncated to integers, re-detected every ``frequency`` frames when
``dynamic`` (or the element-wise median of those boxes for every frame when ``median``); no face:
the box ``[0, 0, H, W]`` (the toolbox's slot order), i.e. about the whole frame.

The cascade ships with opencv-python-headless 4.x (5.0 dropped it, hence the project's ``<5`` pin).
:class:`Cropper` is the one entry point a video stream calls per frame.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, Iterator

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


CROP_RECIPES = ("harness", "toolbox")


@dataclasses.dataclass(frozen=True)
class CropRecipe:
    """How a video's face ROI is found. The toolbox fields mirror its ``CROP_FACE`` config:
    ``large_box`` (USE_LARGE_FACE_BOX), ``coef`` (LARGE_BOX_COEF), ``dynamic``
    (DO_DYNAMIC_DETECTION), ``frequency`` (DYNAMIC_DETECTION_FREQUENCY), ``median``
    (USE_MEDIAN_FACE_BOX) and ``detect`` (DO_CROP_FACE: False keeps the whole frame)."""

    name: str = "harness"
    large_box: bool = True
    coef: float = 1.5
    dynamic: bool = False
    frequency: int = 30
    median: bool = False
    detect: bool = True

    def __post_init__(self) -> None:
        if self.name not in CROP_RECIPES:
            raise ValueError(f"crop recipe must be one of {CROP_RECIPES}, got {self.name!r}")
        if not self.coef >= 1.0:
            raise ValueError(f"crop coef must be >= 1, got {self.coef}")
        if isinstance(self.frequency, bool) or not isinstance(self.frequency, int) or self.frequency < 1:
            raise ValueError(f"crop frequency must be an integer >= 1, got {self.frequency!r}")

    @classmethod
    def of(cls, value: Any) -> "CropRecipe":
        """From a recipe name (``"toolbox"``), a dict of fields, or a recipe."""
        if isinstance(value, cls):
            return value
        if value is None:
            return cls()
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - names)
            if unknown:
                raise ValueError(f"unknown crop key(s) {unknown}; known: {sorted(names)}")
            return cls(**value)
        raise ValueError(f"crop must be a recipe name {CROP_RECIPES} or a mapping, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        if self.name == "harness":
            return {"name": "harness"}
        return dataclasses.asdict(self)


def toolbox_box(frame: np.ndarray, recipe: CropRecipe) -> tuple[np.ndarray, bool]:
    """(x, y, w, h) as the toolbox's float box before its ``int`` cast, and whether a face was found."""
    faces = _detector().detectMultiScale(np.ascontiguousarray(frame[:, :, :3], dtype=np.uint8))
    found = len(faces) > 0
    if found:
        box = np.asarray(faces[int(np.argmax(np.asarray(faces)[:, 2]))], dtype=np.float64)
    else:
        box = np.asarray([0, 0, frame.shape[0], frame.shape[1]], dtype=np.float64)
    if recipe.large_box:
        grow = (recipe.coef - 1.0) / 2
        box = np.asarray([max(0.0, box[0] - grow * box[2]), max(0.0, box[1] - grow * box[3]),
                          recipe.coef * box[2], recipe.coef * box[3]])
    return box, found


def toolbox_crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The toolbox's slice of an integer (x, y, w, h) box, clipped to the frame."""
    x, y, w, h = (int(v) for v in box)
    return frame[max(y, 0):min(y + h, frame.shape[0]), max(x, 0):min(x + w, frame.shape[1])]


class Cropper:
    """Per-frame face ROI of one video: ``cropper(i, frame)`` for frames i = 0, 1, … in order.

    ``found`` is False once any detection came back empty (the run counts those videos). Only the
    toolbox recipe with ``median`` needs the video first: :meth:`for_video` makes that extra
    detection pass over ``frames()``.
    """

    def __init__(self, recipe: CropRecipe, boxes: np.ndarray | None = None, bgr: bool = False):
        self.recipe, self.found = recipe, True
        self._box: Any = boxes
        self._fixed = boxes is not None
        self.bgr = bgr  # frames come in the decoder's BGR order: detection sees them as RGB, crops stay BGR

    def _rgb(self, frame: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if self.bgr else frame

    @classmethod
    def for_video(cls, recipe: CropRecipe, frames: Callable[[], Iterator[np.ndarray]], bgr: bool = False) -> "Cropper":
        """A cropper for one video; ``frames()`` yields its RGB frames (read again only for the
        toolbox's median box); ``bgr``: the frames the cropper will be called on are BGR."""
        if recipe.name != "toolbox" or not (recipe.median and recipe.detect):
            return cls(recipe, bgr=bgr)
        boxes, found = [], True
        for i, frame in enumerate(frames()):
            if i % recipe.frequency == 0 and (recipe.dynamic or i == 0):
                box, ok = toolbox_box(frame, recipe)
                boxes.append(box)
                found &= ok
        cropper = cls(recipe, np.median(np.asarray(boxes, dtype=int), axis=0).astype(int), bgr=bgr)
        cropper.found = found
        return cropper

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray:
        r = self.recipe
        if r.name == "harness":
            if self._box is None:
                self._box, self.found = face_box(self._rgb(frame))
            return crop(frame, self._box)
        if not r.detect:
            return frame
        if not self._fixed and (self._box is None or (r.dynamic and index % r.frequency == 0)):
            box, ok = toolbox_box(self._rgb(frame), r)
            self._box = box.astype(int)
            self.found &= ok
        return toolbox_crop(frame, self._box)
