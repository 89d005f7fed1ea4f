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
from harness.families.rppg.family import InputSpec, decode_video
from harness.families.rppg.video import VideoRecord

VIDEO = face_video(90)


def _record(frames: np.ndarray) -> VideoRecord:
    return VideoRecord("ubfc-rppg", "s1", "v", 30.0, Path("/virtual/v.avi"), lambda: iter(frames),
                       lambda: (np.zeros(len(frames)), None))


def _crops(frames: np.ndarray, recipe: face.CropRecipe, size: int = 72) -> np.ndarray:
    import tempfile

    with tempfile.TemporaryFile() as spool:
        _, crops, found, _ = decode_video(_record(frames), InputSpec("frames", size, crop=recipe), spool)
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


# ----------------------------------------------------------------------------- networks and adapters
def test_physnet_state_dict_has_the_toolbox_checkpoint_layout():
    """Key names and shapes as listed for PURE_PhysNet_DiffNormalized.pth (79 tensors)."""
    from harness.families.rppg.networks import PhysNet

    sd = PhysNet().state_dict()
    assert len(sd) == 79
    assert sd["ConvBlock1.0.weight"].shape == (16, 3, 1, 5, 5) and sd["ConvBlock2.0.weight"].shape == (32, 16, 3, 3, 3)
    assert sd["ConvBlock9.0.weight"].shape == (64, 64, 3, 3, 3) and "ConvBlock9.1.num_batches_tracked" in sd
    assert sd["upsample.0.weight"].shape == (64, 64, 4, 1, 1) and sd["upsample2.1.running_var"].shape == (64,)
    assert sd["ConvBlock10.weight"].shape == (1, 64, 1, 1, 1) and "ConvBlock10.bias" in sd


def test_two_stream_networks_have_the_toolbox_names_and_shapes():
    from harness.families.rppg import networks

    ts, dp, ep = networks.tscan(72, 10).state_dict(), networks.deepphys(72).state_dict(), networks.efficientphys(72, 10).state_dict()
    assert set(ts) == set(dp) and ts["final_dense_1.weight"].shape == (128, 16384)
    assert ts["apperance_conv1.weight"].shape == (32, 3, 3, 3) and ts["apperance_att_conv2.weight"].shape == (1, 64, 1, 1)
    assert not any(k.startswith("apperance_conv") for k in ep) and ep["batch_norm.running_mean"].shape == (3,)


def test_temporal_shift_moves_a_third_of_channels_each_way_within_groups():
    from harness.families.rppg.networks import temporal_shift

    x = torch.arange(20 * 6, dtype=torch.float32).reshape(20, 6, 1, 1)
    y = temporal_shift(x, 10)
    assert torch.equal(y[0:9, :2], x[1:10, :2]) and (y[9, :2] == 0).all()      # left shift, zero at group end
    assert torch.equal(y[11:20, 2:4], x[10:19, 2:4]) and (y[10, 2:4] == 0).all()  # right shift, zero at start
    assert torch.equal(y[:, 4:], x[:, 4:])


@pytest.fixture
def random_weights(monkeypatch):
    monkeypatch.setenv("HARNESS_ALLOW_RANDOM_WEIGHTS", "1")


def test_adapters_refuse_to_run_without_weights_and_random_needs_the_test_switch(monkeypatch):
    from harness.models import build_model

    with pytest.raises(HarnessError, match="needs pretrained weights: --model-args weights=PATH"):
        build_model("physnet", {})
    monkeypatch.delenv("HARNESS_ALLOW_RANDOM_WEIGHTS", raising=False)
    with pytest.raises(HarnessError, match="tests only"):
        build_model("physnet", {"weights": "random"})


def test_weights_load_safely_strip_module_and_name_wrong_keys(tmp_path, random_weights):
    from harness.models import build_model

    model, _ = build_model("deepphys", {"weights": "random"})
    state = {f"module.{k}": torch.randn_like(v.float()) for k, v in model.net.state_dict().items()}
    torch.save(state, tmp_path / "dp.pth")
    loaded, _ = build_model("deepphys", {"weights": str(tmp_path / "dp.pth")})
    assert torch.equal(loaded.net.final_dense_2.weight, state["module.final_dense_2.weight"])
    del state["module.final_dense_2.bias"]
    state["module.extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(HarnessError, match=r"1 missing key\(s\): final_dense_2.bias; 1 unexpected key\(s\): extra.weight"):
        build_model("deepphys", {"weights": str(tmp_path / "bad.pth")})


def test_toolbox_config_sets_every_input_knob(tmp_path, random_weights):
    from harness.models import build_model

    cfg = tmp_path / "infer.yaml"
    cfg.write_text("""
TEST:
  DATA:
    FS: 25
    PREPROCESS:
      DATA_TYPE: ['DiffNormalized', 'Standardized']
      LABEL_TYPE: Standardized
      DO_CHUNK: True
      CHUNK_LENGTH: 160
      CROP_FACE: {DO_CROP_FACE: True, BACKEND: HC, USE_LARGE_FACE_BOX: True, LARGE_BOX_COEF: 1.3,
                  DETECTION: {DO_DYNAMIC_DETECTION: True, DYNAMIC_DETECTION_FREQUENCY: 16, USE_MEDIAN_FACE_BOX: True}}
      RESIZE: {H: 36, W: 36}
MODEL: {NAME: Tscan, TSCAN: {FRAME_DEPTH: 20}}
""")
    model, _ = build_model("tscan", {"weights": "random", "config": str(cfg)})
    spec = InputSpec.of(model)
    assert spec.frame_types == ("diff_normalized", "standardized") and spec.output == "bvp" and spec.frame_size == 36
    assert spec.chunking.length == 160 and spec.chunking.tail == "drop" and model.fs == 25.0
    assert spec.crop == face.CropRecipe("toolbox", coef=1.3, dynamic=True, frequency=16, median=True)
    assert model.net.frame_depth == 20 and model.net.final_dense_1.in_features == 3136
    with pytest.raises(HarnessError, match="config is for model 'Tscan', not 'Physnet'"):
        build_model("physnet", {"weights": "random", "config": str(cfg)})


@pytest.mark.parametrize("arch", ["physnet", "tscan", "deepphys", "efficientphys"])
def test_adapters_predict_one_value_per_frame_of_each_window(arch, random_weights):
    from harness.models import build_model

    model, info = build_model(arch, {"weights": "random", "chunk_frames": 20})
    spec = InputSpec.of(model)
    channels = 3 * len(spec.frame_types)
    frames = torch.randn(2, 20, 72, 72, channels)
    out = model.eval().predict({"frames": frames, "lengths": torch.tensor([20, 20])})
    assert info["output"] == "bvp_diff" and out["bvp_diff"].shape == (2, 20)
    assert torch.isfinite(out["bvp_diff"]).all()


def test_chunked_diff_model_runs_end_to_end_and_its_submission_rescores_to_the_same_numbers(tmp_path, monkeypatch):
    """A model declaring the toolbox's PhysNet knobs (128-frame windows, tail dropped,
    DiffNormalized frames, bvp_diff output) on the toolbox task: the crop and chunking are
    recorded, the dropped tail is counted, and the prediction file (the integrated waveform of
    the covered frames) scores to the run's own numbers. (The network itself is tested above;
    a cheap model keeps this test fast.)"""
    import json
    import textwrap

    from harness.cli import main
    from harness.families.rppg import predictions

    folder = tmp_path / "subs" / "greendiff"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent("""
        class Model:
            family = "rppg"
            inputs = ("frames",)
            frame_types = ("DiffNormalized",)
            chunk_frames, chunk_tail = 128, "drop"
            output = "bvp_diff"

            def predict(self, batch):
                assert batch["frames"].shape[1:] == (128, 72, 72, 3)
                return batch["frames"][..., 1].mean(dim=(2, 3))   # green's normalised difference
    """))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    monkeypatch.setenv("HARNESS_RESULTS", str(tmp_path / "results"))
    task = "rppg-toolbox-pure-to-ubfc"
    assert main(["run", "--task", task, "--model", "greendiff", "--limit", "1",
                 "--submission", str(tmp_path / "p.npz"), "--json"]) == 0
    record = json.loads(next((tmp_path / "results").glob("runs/sample/*/*/record.json")).read_text())
    assert record["inputs"]["crop"]["name"] == "toolbox" and record["inputs"]["chunking"] == {"length": 128, "stride": None, "tail": "drop"}
    assert record["inputs"]["output"] == "bvp_diff" and record["inputs"]["frame_types"] == ["diff_normalized"]
    assert record["counts"]["uncovered_frames"] == 600 - 4 * 128
    wave = np.load(tmp_path / "p.npz")
    (sid,) = [k for k in wave.files if not k.startswith("__")]
    assert wave[sid].shape == (512,)
    assert main(["data", "reference", "--task", task, "--out", str(tmp_path / "ref.npz")]) == 0
    ref = predictions.read_reference(tmp_path / "ref.npz")[sid]
    predictions.write_npz(tmp_path / "ref1.npz", {sid: ref["bvp"]}, {sid: ref["fs"]})
    assert main(["score", "--task", task, "--predictions", str(tmp_path / "p.npz"), "--reference",
                 str(tmp_path / "ref1.npz"), "--output", str(tmp_path / "scored"), "--json"]) == 0
    scored = json.loads(next(p for p in (tmp_path / "scored").rglob("*.json")).read_text())
    assert scored["metrics"]["mae"]["value"] == record["metrics"]["mae"]["value"]


def test_a_failing_chunked_model_names_its_video_once(tmp_path, monkeypatch, capsys):
    import textwrap

    from harness.cli import main

    folder = tmp_path / "subs" / "broken"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent("""
        class Model:
            family, inputs, frame_size, chunk_frames = "rppg", ("frames",), 8, 100
            def predict(self, batch):
                raise RuntimeError("shape mismatch")
    """))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    assert main(["run", "--task", "rppg-pure-to-ubfc", "--model", "broken", "--limit", "1", "--batch-size", "4"]) != 0
    err = capsys.readouterr().err
    assert "model.predict failed on sample(s) ubfc-rppg/subject1: RuntimeError: shape mismatch" in err


def test_videos_at_another_frame_rate_than_the_models_config_are_noted(tmp_path, random_weights):
    """A toolbox config's TEST.DATA.FS is the rate its numbers assume: a run on videos at another
    rate says so in its notes (and still computes each video's HR at the video's own rate)."""
    from types import SimpleNamespace

    from harness.families.rppg.family import FAMILY, frame_rate_notes
    from harness.models import build_model
    from harness.task import TaskIndex

    task = TaskIndex().tasks["rppg-toolbox-pure-to-ubfc"]
    source = FAMILY.resolve_data(task, None, need_train=False)
    cfg = tmp_path / "infer.yaml"
    cfg.write_text("TEST:\n  DATA:\n    FS: 25\n    PREPROCESS: {}\nMODEL: {NAME: Physnet}\n")
    at25, _ = build_model("physnet", {"weights": "random", "config": str(cfg)})
    at30, _ = build_model("physnet", {"weights": "random"})
    tests = FAMILY.test_set(task, source, at25, None)
    n = len(tests.sample_ids)
    assert [x for x in tests.notes if x.startswith("frame rate")] == [
        f"frame rate: the model declares 25 fps but {n} of {n} test video(s) run at another rate ({n} at 30 fps); "
        "the network saw their frames at their own rate and heart rates are computed at each video's own rate "
        "(rPPG-Toolbox would compute them at 25 fps)"]
    assert not any(x.startswith("frame rate") for x in FAMILY.test_set(task, source, at30, None).notes)
    videos = [SimpleNamespace(fs=fs) for fs in (29.97, 30.0, 25.0, 25.0, 60.0)]
    assert "3 of 5 test video(s) run at another rate (2 at 25 fps, 1 at 60 fps)" in frame_rate_notes(at30, videos)[0]
    assert frame_rate_notes(SimpleNamespace(), videos) == []  # a model that declares no rate
    for bad in ("thirty", 0, -30.0, float("nan"), True, (30,)):  # a submission's own attribute: one clear refusal
        with pytest.raises(HarnessError, match="rPPG model attribute fs: .*positive number"):
            frame_rate_notes(SimpleNamespace(fs=bad), videos)
