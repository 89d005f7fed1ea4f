"""Rebuild the rPPG sample's face asset (``harness/families/rppg/assets/``) from scikit-image's
``data.astronaut()`` (NASA portrait of Eileen Collins, public domain). Run once, by hand:

    pip install scikit-image && python scripts/make_rppg_face_asset.py

scikit-image is needed only here; the harness reads the PNGs this writes. Output:

- ``face.png``: RGBA, the head and shoulders (photo pixels ``x 64..384, y 0..320`` reduced ×0.75
  by area averaging), black where alpha is 0; alpha is the person's matte (OpenCV GrabCut from hand-placed seeds, largest
  connected part, edges feathered over ~1 px).
- ``skin.png``: grey, 255 on facial skin (inside the face ellipse and the matte, YCrCb skin range,
  eyes, brows, lips and hair excluded by that range), softened by a 3×3 opening and a 1 px blur.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "harness" / "families" / "rppg" / "assets"
CROP = (64, 0, 384, 320)   # x0, y0, x1, y1 in the 512×512 photo
SCALE = 0.75


def matte(bgr: np.ndarray) -> np.ndarray:
    """Person matte (uint8 0/255) by GrabCut from seeds: head ellipse and suit as (probable) foreground."""
    mask = np.full(bgr.shape[:2], cv2.GC_PR_BGD, np.uint8)
    cv2.ellipse(mask, (160, 115), (55, 75), 0, 0, 360, cv2.GC_PR_FGD, -1)
    cv2.rectangle(mask, (60, 160), (260, 320), cv2.GC_PR_FGD, -1)
    cv2.ellipse(mask, (160, 120), (35, 45), 0, 0, 360, cv2.GC_FGD, -1)
    cv2.rectangle(mask, (110, 180), (210, 320), cv2.GC_FGD, -1)
    mask[:, :8] = mask[:8, :] = mask[:, -8:] = cv2.GC_BGD
    cv2.grabCut(bgr, mask, None, np.zeros((1, 65)), np.zeros((1, 65)), 8, cv2.GC_INIT_WITH_MASK)
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == biggest, 255, 0).astype(np.uint8)


def skin(bgr: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Facial skin (uint8 0/255): face ellipse ∩ matte ∩ YCrCb skin range (bright, reddish)."""
    y, cr, cb = (c.astype(int) for c in cv2.split(cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)))
    face = np.zeros_like(person)
    cv2.ellipse(face, (160, 128), (50, 68), 0, 0, 360, 255, -1)
    keep = (person > 0) & (face > 0) & (cr >= 138) & (cr <= 162) & (cb >= 95) & (cb <= 125) & (y >= 125)
    return cv2.morphologyEx(keep.astype(np.uint8) * 255, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))


def main() -> None:
    x0, y0, x1, y1 = CROP
    bgr = np.ascontiguousarray(data.astronaut()[y0:y1, x0:x1, ::-1])
    person, facial = matte(bgr), skin(bgr, matte(bgr))
    size = (round((x1 - x0) * SCALE), round((y1 - y0) * SCALE))

    def reduce(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA)

    alpha = cv2.GaussianBlur(reduce(person), (3, 3), 0)
    rgba = np.dstack([reduce(bgr) * (alpha > 0)[..., None], alpha])   # no colour where unused: smaller file
    OUT.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT / "face.png"), rgba, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    cv2.imwrite(str(OUT / "skin.png"), cv2.GaussianBlur(reduce(facial), (3, 3), 0), [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main()
