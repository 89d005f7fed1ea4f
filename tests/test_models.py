"""Model resolution: built-ins, submissions/ folders, entry points, arguments, errors."""
from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from harness.errors import HarnessError
from harness.models import available_models, build_model, parse_model_args, resolve_model

BUILTINS = ["green", "ica", "chrom", "pos", "lgi", "pbv", "omit"]


def test_parse_model_args_types():
    assert parse_model_args("a=1,b=2.5,c=true,d=none,e=x") == {"a": 1, "b": 2.5, "c": True, "d": None, "e": "x"}
    assert parse_model_args("") == {}
    with pytest.raises(HarnessError, match="expected key=value"):
        parse_model_args("a=1,b")


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_baselines_resolve_and_predict(name):
    model, info = build_model(name, {})
    assert info["origin"] == "builtin" and info["family"] == "rppg" and not info["trains"]
    t = torch.arange(300, dtype=torch.float32) / 30
    rgb = 100 + torch.tensor([0.3, 0.8, 0.5]) * torch.sin(2 * torch.pi * 1.2 * t)[:, None]
    rgb = rgb + 0.05 * torch.randn(300, 3, generator=torch.Generator().manual_seed(0))
    out = model.predict({"rgb": rgb[None], "lengths": torch.tensor([300]), "fs": torch.tensor([30.0]), "ids": ["x"]})
    assert out["bvp"].shape == (1, 300)


def test_template_submission_is_found_and_trains():
    model, info = build_model("mine", {"window": 32})
    assert info["origin"] == "submission" and info["trains"] and model.window == 32
    assert len(info["code_fingerprint"]) == 12


def test_unknown_model_suggests(capsys):
    with pytest.raises(HarnessError, match="Did you mean 'pos'"):
        resolve_model("poss")


def test_bad_model_args_are_a_clear_error():
    with pytest.raises(HarnessError, match="rejected its arguments"):
        build_model("mine", {"nope": 1})
    with pytest.raises(HarnessError, match="takes no model arguments"):
        build_model("pos", {"x": 1})


def test_submission_folder_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="needs a model.py"):
        resolve_model("empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(HarnessError, match="importing the submission failed: RuntimeError: boom"):
        resolve_model("broken")
    (tmp_path / "noclass").mkdir()
    (tmp_path / "noclass" / "model.py").write_text("x = 1\n")
    with pytest.raises(HarnessError, match="class named Model"):
        resolve_model("noclass")


@pytest.mark.parametrize("with_init", [False, True])
def test_submission_folder_is_a_package_with_relative_and_sibling_imports(tmp_path, monkeypatch, with_init):
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path))
    folder = tmp_path / "pkg-model"
    (folder / "nets").mkdir(parents=True)
    (folder / "nets" / "__init__.py").write_text("SCALE = 3\n")
    (folder / "toolbox_physnet.py").write_text("WIDTH = 16\n")
    if with_init:
        (folder / "__init__.py").write_text("LOADED = True\n")
    (folder / "model.py").write_text(textwrap.dedent("""
        from .nets import SCALE
        from toolbox_physnet import WIDTH

        class Model:
            family = "rppg"
            def predict(self, batch):
                return {"hr": batch["fs"] * 0 + SCALE * WIDTH}
    """))
    cls, origin, files = resolve_model("pkg-model")
    assert origin == "submission" and cls().predict({"fs": 1.0})["hr"] == 48
    assert str(folder) not in sys.path  # the folder is on the path only while model.py is imported
    assert {f.name for f in files} >= {"model.py", "toolbox_physnet.py", "__init__.py"}


def test_entry_point_models_are_found(tmp_path, monkeypatch):
    """A package installed with a `harness.models` entry point (a real dist-info on sys.path)."""
    (tmp_path / "plugin_pkg.py").write_text(textwrap.dedent("""
        class Plug:
            family = "rppg"
            inputs = ("rgb",)
            output = "hr"
            def predict(self, batch):
                return {"hr": batch["fs"] * 0 + 60.0}
    """))
    dist = tmp_path / "plugin_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[harness.models]\nplug = plugin_pkg:Plug\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert available_models()["plug"] == "entry point"
    model, info = build_model("plug", {})
    assert info["origin"] == "entry point" and info["output"] == "hr"
    sys.modules.pop("plugin_pkg", None)


def test_builtins_win_over_submissions_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path))
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "model.py").write_text("raise RuntimeError('should not be imported')\n")
    assert resolve_model("pos")[1] == "builtin"


def test_end_epoch_records_history_and_closes_its_progress_line():
    from harness.models import TorchAdapter

    class Tiny(TorchAdapter):
        name, family, epochs = "tiny", "rppg", 3

    model = Tiny()
    model.history = []
    for epoch in (1, 2):
        model.end_epoch({"epoch": epoch, "train_loss": 1.0 / epoch})
    first = model._epoch_bar
    assert first is not None
    model.end_epoch({"epoch": 1, "train_loss": 0.9})  # a new fit after an interrupted one starts a new line
    assert model._epoch_bar is not None and model._epoch_bar is not first
    model.end_epoch({"epoch": 2, "train_loss": 0.5})
    model.end_epoch({"epoch": 3, "train_loss": 0.25})
    assert model._epoch_bar is None and [h["epoch"] for h in model.history] == [1, 2, 1, 2, 3]
