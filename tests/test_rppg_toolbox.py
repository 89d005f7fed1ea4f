"""rPPG-Toolbox parity: its face crop recipe, its networks' state dicts and preprocessing, and the
built-in adapters end to end (random weights through the documented test-only path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from _toolbox_reference import face_video, toolbox_crop_resize
from harness.errors import HarnessError
from harness.families.rppg import face
from harness.families.rppg.family import InputSpec, decode
from harness.families.rppg.types import VideoRecord

VIDEO = face_video(90)


def _record(frames: np.ndarray) -> VideoRecord:
    return VideoRecord("ubfc-rppg", "s1", "v", 30.0, Path("/virtual/v.avi"), lambda: iter(frames),
                       lambda: (np.zeros(len(frames)), None))


def _crops(frames: np.ndarray, recipe: face.CropRecipe, size: int = 72) -> np.ndarray:
    import tempfile

    with tempfile.TemporaryFile() as spool:
        _, crops, found = decode(_record(frames), InputSpec("frames", size, crop=recipe), spool)
        return np.array(crops), found


@pytest.mark.parametrize("settings", [
    {},                                            # the BASIC configs: first frame only
    {"dynamic": True, "frequency": 8},             # re-detected every 8 frames as the face drifts
    {"dynamic": True, "frequency": 8, "median": True},
    {"coef": 1.2},
])
def test_toolbox_crop_matches_the_toolboxs_pipeline_on_a_real_face(settings):
    recipe = face.CropRecipe("toolbox", **settings)
    mine, found = _crops(VIDEO, recipe)
    expected = toolbox_crop_resize(VIDEO, 72, coef=recipe.coef, dynamic=recipe.dynamic, freq=recipe.frequency,
                                   median=recipe.median)
    assert found
    assert np.array_equal(mine, expected.astype(np.uint8)) and np.array_equal(mine.astype(np.float64), expected)


def test_toolbox_crop_differs_from_the_harness_crop_and_both_find_the_face():
    tool, found_t = _crops(VIDEO[:10], face.CropRecipe("toolbox"))
    own, found_h = _crops(VIDEO[:10], face.CropRecipe("harness"))
    assert found_t and found_h and not np.array_equal(tool, own)


def test_toolbox_crop_without_a_face_keeps_the_whole_frame():
    blank = np.full((12, 60, 80, 3), 128, dtype=np.uint8)
    blank[:, :, :40] = 30  # a left/right edge the whole-frame crop must keep
    crops, found = _crops(blank, face.CropRecipe("toolbox"), size=16)
    assert not found
    assert np.array_equal(crops, toolbox_crop_resize(blank, 16).astype(np.uint8))
    assert crops[0, :, 0].max() == 30 and crops[0, :, -1].min() == 128


def test_crop_recipe_is_validated_and_recorded():
    assert face.CropRecipe.of("toolbox").to_dict()["coef"] == 1.5
    assert face.CropRecipe.of(None).to_dict() == {"name": "harness"}
    with pytest.raises(ValueError, match="crop recipe"):
        face.CropRecipe.of("dlib")
    with pytest.raises(ValueError, match="unknown crop key"):
        face.CropRecipe.of({"name": "toolbox", "scale": 2})
