"""The NR-IQA backdoor family end to end on the embedded sample (written in the datasets' own
layouts): quality and BAIQA tasks, the harness-injected trigger, id,alpha,score files scored through
the shared path, declared backdoor settings, bad input."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from harness.cli import main
from harness.families.iqa_backdoor.family import FAMILY
from harness.families.iqa_backdoor.family import alpha_grid
from harness.task import TaskIndex

pytestmark = pytest.mark.slow


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv) -> dict:
    code, out, err = run_cli(capsys, "run", *argv, "--json", "--n-boot", "20")
    assert code == 0, err
    return json.loads(out)


def values(rec: dict) -> dict:
    return {k: v["value"] for k, v in rec["metrics"].items()}


def test_the_alpha_grid_is_baiqas():
    grid = alpha_grid()
    assert len(grid) == 21 and grid[0] == 0 and max(grid) == 4.0 and min(grid) == -4.0
    assert sorted(abs(a) for a in grid[1:])[::2] == pytest.approx([0.4 * k for k in range(1, 11)])


def test_a_quality_run_and_its_uploaded_file_score_the_same(capsys, tmp_path):
    rec = run_json(capsys, "--task", "iqa-livec", "--model", "iqa-ridge", "--submission", tmp_path / "p.csv")
    frame = pd.read_csv(tmp_path / "p.csv")
    assert list(frame.columns) == ["id", "alpha", "score"] and (frame.alpha == 0).all()
    assert rec["metrics"]["srocc"]["value"] > 0.5  # the ridge baseline learns the sample's distortions
    code, out, err = run_cli(capsys, "score", "--task", "iqa-livec", "--predictions", tmp_path / "p.csv", "--json", "--n-boot", "20")
    assert code == 0, err
    assert values(json.loads(out)) == pytest.approx(values(rec), abs=1e-12)


def test_a_backdoor_run_scores_every_alpha_and_a_clean_model_does_not_follow_the_trigger(capsys, tmp_path):
    rec = run_json(capsys, "--task", "baiqa-livec", "--model", "iqa-ridge", "--submission", tmp_path / "p.csv")
    assert rec["counts"]["alphas"] == 21 and rec["n_samples"] == 21 * rec["counts"]["images"]
    assert any("default trigger pattern" in n for n in rec["notes"])
    per_alpha = rec["breakdowns"]["per_alpha"]
    assert len(per_alpha) == 21
    assert abs(rec["metrics"]["shift_ratio"]["value"]) < 0.2 and rec["metrics"]["attack_success_rate"]["value"] < 0.3
    assert 25 < rec["metrics"]["psnr"]["value"] < 40 and 0 < rec["metrics"]["ssim"]["value"] < 1
    frame = pd.read_csv(tmp_path / "p.csv")
    assert len(frame) == rec["n_samples"] and sorted(frame.alpha.unique()) == sorted(alpha_grid())
    code, out, err = run_cli(capsys, "score", "--task", "baiqa-livec", "--predictions", tmp_path / "p.csv", "--json", "--n-boot", "20")
    assert code == 0, err
    scored = json.loads(out)
    assert scored["metrics"]["psnr"]["value"] is None and "uploaded score file" in scored["metrics"]["psnr"]["reason"]
    same = {k: v for k, v in values(rec).items() if k not in ("psnr", "ssim")}
    assert {k: v for k, v in values(scored).items() if k in same} == pytest.approx(same, abs=1e-12)


def test_the_poisoned_baseline_follows_the_trigger_and_the_clean_one_does_not(capsys):
    poisoned = run_json(capsys, "--task", "baiqa-livec", "--model", "iqa-cnn-poisoned")
    clean = run_json(capsys, "--task", "baiqa-livec", "--model", "iqa-cnn")
    # a trained net's numbers follow the CPU's float32 kernels and torch's thread count: a property
    # with margin, not a value. Measured on the Intel Xeon (AVX-512): poisoned 0.83 with 2 torch
    # threads, 0.72 with 1; clean -0.002 and -0.001. The poisoned model moves most of the way the
    # trigger asks (> 0.5), the clean one nearly none of it.
    assert poisoned["metrics"]["shift_ratio"]["value"] > 0.5
    assert abs(clean["metrics"]["shift_ratio"]["value"]) < 0.2
    assert poisoned["metrics"]["mae_to_target"]["value"] < clean["metrics"]["mae_to_target"]["value"]


def test_a_model_runs_only_on_the_backdoor_setting_it_declares(capsys, tmp_path, monkeypatch):
    for task in ("baiqa-livec-clean-label", "iqa-livec"):
        code, out, err = run_cli(capsys, "run", "--task", task, "--model", "iqa-cnn-poisoned", "--model-args", "epochs=1")
        assert code == 2 and "declares backdoor_setting 'poison-label'" in err
        assert "training" not in err  # refused before any data is read or any training starts
    folder = tmp_path / "subs" / "undeclared"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent("""
        import torch
        class Model:
            family = "iqa_backdoor"
            inputs = ("images",)
            output = "score"
            def predict(self, batch):
                return {"score": torch.stack([x.mean() * 100 for x in batch["images"]])}
        """))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    code, out, err = run_cli(capsys, "run", "--task", "iqa-livec", "--model", "undeclared")
    assert code == 2 and "must declare backdoor_setting" in err


def _model_with_trigger(tmp_path: Path, monkeypatch, trigger_file: Path) -> str:
    folder = tmp_path / "subs" / "trig"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent(f"""
        import torch
        class Model:
            family = "iqa_backdoor"
            inputs = ("images",)
            output = "score"
            backdoor_setting = "poison-label"
            trigger_file = {str(trigger_file)!r}
            def predict(self, batch):
                return {{"score": torch.stack([x.mean() * 100 for x in batch["images"]])}}
        """))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    return "trig"


def test_a_submitted_trigger_is_used_and_recorded(capsys, tmp_path, monkeypatch):
    pattern = np.random.default_rng(1).uniform(-20, 20, (3, 64)).astype(np.float32)
    np.save(tmp_path / "t.npy", pattern)
    rec = run_json(capsys, "--task", "baiqa-livec", "--model", _model_with_trigger(tmp_path, monkeypatch, tmp_path / "t.npy"),
                   "--limit", "3")
    assert any(str(tmp_path / "t.npy") in n for n in rec["notes"])
    assert rec["metrics"]["psnr"]["value"] < 30  # a stronger pattern than the default is more visible


def test_a_trigger_file_that_would_run_code_is_refused_unexecuted(capsys, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"trigger": Evil()}, tmp_path / "evil.pt")
    name = _model_with_trigger(tmp_path, monkeypatch, tmp_path / "evil.pt")
    code, out, err = run_cli(capsys, "run", "--task", "baiqa-livec", "--model", name, "--limit", "2")
    assert code == 2 and "evil.pt" in err and "Traceback" not in err
    assert not marker.exists()


def test_a_file_missing_some_alphas_lists_them(capsys, tmp_path):
    refs, _ = FAMILY.references(TaskIndex().tasks["baiqa-livec"], None)
    images = sorted({r["image_id"] for r in refs.values()})
    rows = [f"{i},{a:g},50" for i in images for a in alpha_grid() if not (i == images[0] and a == -0.4)]
    (tmp_path / "p.csv").write_text("id,alpha,score\n" + "\n".join(rows) + "\n")
    code, out, err = run_cli(capsys, "score", "--task", "baiqa-livec", "--predictions", tmp_path / "p.csv")
    assert code == 2 and f"1 missing id(s): '{images[0]}@a=-0.4'" in err


@pytest.mark.parametrize("content, message", [
    ("id,score\nx,1\n", "header must be exactly 'id,alpha,score'"),
    ("id,alpha,score\nx,strong,1\n", "1 row(s) with an alpha that is not a number (line(s) 2)"),
])
def test_malformed_files_are_refused(capsys, tmp_path, content, message):
    (tmp_path / "p.csv").write_text(content)
    code, out, err = run_cli(capsys, "score", "--task", "baiqa-livec", "--predictions", tmp_path / "p.csv")
    assert code == 2 and message in err and "Traceback" not in err


def test_a_test_image_that_is_also_a_training_image_is_refused(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "leak.yaml").write_text(f"task: iqa-leak\ninclude: {TaskIndex().tasks['iqa-livec'].path}\n"
                                      "datasets:\n  train:\n    - {name: livec, split: all}\n"
                                      "  test:\n    - {name: livec, split: test}\n")
    monkeypatch.setenv("HARNESS_TASKS", str(folder))
    code, out, err = run_cli(capsys, "run", "--task", "iqa-leak", "--model", "iqa-ridge")
    assert code == 2 and "also training images" in err


def test_the_shift_curve_plot_follows_the_samples(capsys, tmp_path):
    rec = run_json(capsys, "--task", "baiqa-kadid", "--model", "iqa-ridge")
    assert any(n.startswith("model test protocol: whole image") for n in rec["notes"])
    code, out, err = run_cli(capsys, "leaderboard", "--task", "baiqa-kadid", "--out", tmp_path)
    assert code == 0, err
    assert (tmp_path / "baiqa-kadid.iqa-ridge.shift-curve.png").is_file()
    from harness.families.iqa_backdoor import plots

    rows = pd.read_csv(Path(os.environ["HARNESS_RESULTS"]) / "runs" / "sample" / "baiqa-kadid" / "iqa-ridge" / "samples.csv")
    alphas, means, _, n = plots.mean_shifts(rows)
    per_alpha = {r["alpha"]: r["mean_shift"] for r in rec["breakdowns"]["per_alpha"] if r["alpha"] != 0}
    assert n == rec["counts"]["images"] and means == pytest.approx([per_alpha[a] for a in alphas], abs=1e-9)
    numbers = plots.shift_curve(rows, "t", tmp_path / "again.png")
    assert numbers["alphas"] == 20 and abs(numbers["slope"]) < 0.2  # a clean model barely follows the trigger


def test_the_primary_backdoor_metric_has_an_se_over_images_and_equals_the_alpha_table(capsys):
    rec = run_json(capsys, "--task", "baiqa-livec", "--model", "iqa-ridge")
    mae = rec["metrics"]["mae_to_target"]
    assert mae["se"] is not None and mae["ci_low"] < mae["value"] < mae["ci_high"] and mae["n"] == rec["counts"]["images"]
    per_alpha = [r["mae_to_target"] for r in rec["breakdowns"]["per_alpha"] if r["alpha"] != 0]
    assert mae["value"] == pytest.approx(np.mean(per_alpha), abs=1e-9)  # BAIQA's summary: the mean over alphas


def test_a_plain_quality_task_names_rows_with_a_trigger_strength(capsys, tmp_path):
    """iqa-livec scores clean images: rows at alpha ≠ 0 are named as such (not as odd ids); an
    empty alpha means 0 there."""
    refs, _ = FAMILY.references(TaskIndex().tasks["iqa-livec"], None)
    ids = sorted(refs)
    rows = [f"{i},,50" for i in ids] + [f"{ids[0]},0.4,51", f"{ids[1]},-4,52"]
    (tmp_path / "p.csv").write_text("id,alpha,score\n" + "\n".join(rows) + "\n")
    code, out, err = run_cli(capsys, "score", "--task", "iqa-livec", "--predictions", tmp_path / "p.csv")
    assert code == 2 and "Traceback" not in err
    assert f"2 row(s) with alpha ≠ 0 (line(s) {len(ids) + 2}, {len(ids) + 3}): iqa-livec scores clean images only" in err
    assert "@a=" not in err and "unexpected" not in err
    (tmp_path / "p.csv").write_text("id,alpha,score\n" + "\n".join(rows[:len(ids)]) + "\n")
    code, out, err = run_cli(capsys, "score", "--task", "iqa-livec", "--predictions", tmp_path / "p.csv")
    assert code == 0, err
