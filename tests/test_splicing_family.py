"""The splicing family end to end on the embedded sample (written in the real layouts): runs,
prediction folders / zips scored through the shared path, robustness sweeps, bad input."""
from __future__ import annotations

import json
import os
import shutil
import textwrap
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.cli import main
from harness.families.splicing.family import FAMILY
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


def run_folder(task: str, model: str) -> Path:
    return Path(os.environ["HARNESS_RESULTS"]) / "runs" / "sample" / task / model


def test_a_run_scores_tampered_images_only_and_keeps_per_image_values(capsys):
    rec = run_json(capsys, "--task", "scisp", "--model", "splice-noise")
    assert rec["data"]["source"] == "sample"
    assert rec["counts"] == {"images": 90, "tampered": 60, "authentic": 30, "levels": 1}
    assert any("30 authentic image(s) left out" in n for n in rec["notes"])
    assert any("mask maximum" not in n for n in rec["notes"])  # splice-noise gives its own image scores
    rows = pd.read_csv(run_folder("scisp", "splice-noise") / "samples.csv")
    assert len(rows) == 90 and rows.loc[rows.label == 0, "pixel_f1"].isna().all()
    assert rows.loc[rows.label == 1, "pixel_f1"].mean() == pytest.approx(rec["metrics"]["pixel_f1"]["value"])
    assert (rows.pixel_f1_oracle >= rows.pixel_f1 - 1e-12).where(rows.label == 1, True).all()
    # the training-free baselines find the synthetic splices: above chance at pixel and image level
    assert rec["metrics"]["pixel_auc"]["value"] > 0.6 and rec["metrics"]["image_auc"]["value"] > 0.6


def test_a_run_and_its_uploaded_masks_score_the_same(capsys, tmp_path):
    task = "scisp-split"
    rec = run_json(capsys, "--task", task, "--model", "splice-ela", "--submission", tmp_path / "p.zip")
    with zipfile.ZipFile(tmp_path / "p.zip") as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "folder" / "preds")  # a folder holding one sub-folder, as zips often do
    assert "scores.csv" in names and len(names) == rec["counts"]["images"] + 1
    assert run_cli(capsys, "data", "reference", "--task", task, "--out", tmp_path / "ref")[0] == 0
    for upload in (tmp_path / "p.zip", tmp_path / "folder"):
        for where in ((), ("--reference", tmp_path / "ref")):
            code, out, err = run_cli(capsys, "score", "--task", task, "--predictions", upload, *where, "--json", "--n-boot", "20")
            assert code == 0, err
            got = {k: v["value"] for k, v in json.loads(out)["metrics"].items()}
            assert got == pytest.approx({k: v["value"] for k, v in rec["metrics"].items()}, abs=1e-12)


def _masks(tmp_path: Path, capsys, task: str = "splice-columbia") -> tuple[Path, dict]:
    refs, _ = FAMILY.references(TaskIndex().tasks[task], None)
    folder = tmp_path / "up"
    folder.mkdir()
    for sid, r in refs.items():
        cv2.imwrite(str(folder / f"{sid}.png"), np.full((r["height"], r["width"]), 200, np.uint8))
    return folder, refs


def test_masks_without_scores_use_the_mask_maximum_and_say_so(capsys, tmp_path):
    folder, refs = _masks(tmp_path, capsys)
    code, out, err = run_cli(capsys, "score", "--task", "splice-columbia", "--predictions", folder, "--json", "--n-boot", "20")
    assert code == 0, err
    rec = json.loads(out)
    assert any(f"mask maximum for {len(refs)} of {len(refs)}" in n for n in rec["notes"])
    assert rec["metrics"]["image_accuracy"]["value"] == pytest.approx(0.5)  # every image called tampered (200/255)


def test_bad_prediction_folders_list_every_problem(capsys, tmp_path):
    folder, refs = _masks(tmp_path, capsys)
    ids = sorted(refs)
    (folder / f"{ids[0]}.png").unlink()                                        # missing
    cv2.imwrite(str(folder / f"{ids[1]}.png"), np.zeros((5, 7), np.uint8))     # wrong size
    (folder / f"{ids[2]}.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")       # undecodable
    (folder / "notes.txt").write_text("hi")                                    # unexpected file
    (folder / "scores.csv").write_text("id,score\n" + "".join(f"{i},1.5\n" for i in ids))
    code, out, err = run_cli(capsys, "score", "--task", "splice-columbia", "--predictions", folder)
    assert code == 2 and "Traceback" not in err
    for text in ("1 missing id(s)", "size differs", "not readable", "unexpected file", "outside [0, 1]"):
        assert text in err, text


def test_a_single_file_is_not_a_splicing_prediction(capsys, tmp_path):
    (tmp_path / "p.csv").write_text("id,score\n")
    code, out, err = run_cli(capsys, "score", "--task", "scisp", "--predictions", tmp_path / "p.csv")
    assert code == 2 and "folder or a .zip" in err


def test_a_sweep_scores_every_level_and_reports_the_curve(capsys):
    rec = run_json(capsys, "--task", "scisp-jpeg", "--model", "splice-noise", "--limit", "4")
    curve = rec["breakdowns"]["curve"]
    assert curve["perturbation"] == "jpeg" and list(curve["levels"]) == [f"jpeg={q}" for q in (100, 90, 80, 70, 60, 50)]
    per_level = [v["pixel_f1"] for v in curve["levels"].values()]
    assert rec["metrics"]["pixel_f1"]["value"] == pytest.approx(np.mean(per_level))
    assert rec["counts"] == {"images": 4, "tampered": 2, "authentic": 2, "levels": 6} and rec["n_samples"] == 24


def test_predictions_on_resized_images_are_mapped_back_to_the_original_size(capsys):
    rec = run_json(capsys, "--task", "splice-casia1-resize", "--model", "splice-noise", "--limit", "2")
    rows = pd.read_csv(run_folder("splice-casia1-resize", "splice-noise@limit2") / "samples.csv")
    assert len(rows) == 2 * 4 and rows.groupby("image_id").height.nunique().eq(1).all()
    assert all(v["pixel_auc"] is not None for v in rec["breakdowns"]["curve"]["levels"].values())


def test_subsets_select_scisp_c_and_h(capsys):
    refs_c, _ = FAMILY.references(TaskIndex().tasks["scisp-c"], None)
    refs_h, _ = FAMILY.references(TaskIndex().tasks["scisp-h"], None)
    assert len(refs_c) == len(refs_h) == 30 and not set(refs_c) & set(refs_h)


def _model(tmp_path, monkeypatch, body: str) -> str:
    folder = tmp_path / "subs" / "bad"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent(body))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    return "bad"


@pytest.mark.parametrize("mask, message", [
    ("torch.zeros(8, 8)", "map predictions back to the input size"),
    ("image[0] * 3", "probabilities in [0, 1]"),
])
def test_a_model_returning_a_bad_mask_gets_a_clear_error(capsys, tmp_path, monkeypatch, mask, message):
    name = _model(tmp_path, monkeypatch, f"""
        import torch
        class Model:
            family = "splicing"
            inputs = ("image",)
            output = "mask"
            def predict(self, batch):
                return {{"mask": [{mask} for image in batch["images"]]}}
        """)
    code, out, err = run_cli(capsys, "run", "--task", "splice-columbia", "--model", name, "--limit", "2")
    assert code == 2 and message in err and "Traceback" not in err


def test_an_image_above_the_pixel_limit_is_refused_by_name(capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_MAX_PIXELS", "1000")
    code, out, err = run_cli(capsys, "run", "--task", "splice-columbia", "--model", "splice-noise")
    assert code == 2 and "HARNESS_MAX_PIXELS" in err and "Traceback" not in err


def test_a_mask_whose_size_differs_from_its_image_is_named(capsys, tmp_path):
    root = Path(shutil.copytree(FAMILY.sample_root(), tmp_path / "root"))
    mask = sorted((root / "casia1" / "Gt").iterdir())[0]
    Image.new("L", (9, 9)).save(mask)
    code, out, err = run_cli(capsys, "run", "--task", "splice-casia1", "--model", "splice-noise", "--data-root", root)
    assert code == 2 and mask.name in err and "9x9" in err


def test_a_truncated_test_image_fails_the_run_with_its_name(capsys, tmp_path):
    root = Path(shutil.copytree(FAMILY.sample_root(), tmp_path / "root"))
    image = sorted((root / "casia1" / "Tp").iterdir())[0]
    image.write_bytes(image.read_bytes()[:200])
    code, out, err = run_cli(capsys, "run", "--task", "splice-casia1", "--model", "splice-noise", "--data-root", root)
    assert code == 2 and image.name in err and "Traceback" not in err


def test_the_oracle_is_never_ranked_nor_primary(capsys, tmp_path, monkeypatch):
    from harness.leaderboard import task_columns

    columns = {c.name: c for c in task_columns(TaskIndex().tasks["scisp"])}
    assert not columns["pixel_f1_oracle"].ranked and "[not ranked]" in columns["pixel_f1_oracle"].header
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "oracle.yaml").write_text(f"task: splice-oracle\ninclude: {TaskIndex().tasks['scisp'].path}\n"
                                        "primary_metric: pixel_f1_oracle\n")
    monkeypatch.setenv("HARNESS_TASKS", str(folder))
    code, out, err = run_cli(capsys, "validate")
    assert code == 2 and "never ranked" in err


def test_a_test_image_that_is_also_a_training_image_is_refused(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "leak.yaml").write_text(f"task: splice-leak\ninclude: {TaskIndex().tasks['scisp'].path}\n"
                                      "datasets:\n  train:\n    - {name: scisp, split: all}\n"
                                      "  test:\n    - {name: scisp, split: test}\n")
    monkeypatch.setenv("HARNESS_TASKS", str(folder))
    code, out, err = run_cli(capsys, "run", "--task", "splice-leak", "--model", "splice-unet",
                             "--model-args", "epochs=1")
    assert code == 2 and "also training images" in err


def test_the_trainable_baseline_fits_on_casia2_and_predicts(capsys):
    rec = run_json(capsys, "--task", "splice-columbia", "--model", "splice-unet", "--model-args", "epochs=2,width=8")
    assert rec["metrics"]["pixel_f1"]["value"] is not None and "fit_s" in rec["timings"]
    assert any("model selection" in n for n in rec["data"]["notes"])


def test_leaderboard_plots_follow_the_samples(capsys, tmp_path):
    rec = run_json(capsys, "--task", "splice-coverage-blur", "--model", "splice-noise")
    code, out, err = run_cli(capsys, "leaderboard", "--task", "splice-coverage-blur", "--out", tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "splice-coverage-blur.splice-noise.pixel-f1-histogram.png", "splice-coverage-blur.splice-noise.robustness-curve.png"]
    from harness.families.splicing import plots

    rows = pd.read_csv(run_folder("splice-coverage-blur", "splice-noise") / "samples.csv")
    curve = plots.robustness_curve(rows, "t", tmp_path / "c.png")
    levels = rec["breakdowns"]["curve"]["levels"]
    assert curve["levels"] == len(levels) == 6
    assert curve["first"] == pytest.approx(levels["blur=3"]["pixel_f1"]) and curve["last"] == pytest.approx(levels["blur=23"]["pixel_f1"])


def test_pooled_and_image_metrics_carry_bootstrap_cis_over_images():
    """The CI of a pooled metric resamples tampered images (their histograms summed per resample);
    that of an image-level metric resamples images. Checked against a loop over the same resample
    indices (np.random.default_rng(seed).integers(0, N, (n_boot, N))), sklearn for the AUC."""
    from sklearn.metrics import roc_auc_score

    from harness.families.splicing import metrics
    from harness.families.splicing.family import _level_metrics

    rng = np.random.default_rng(5)
    n_img, n_boot, seed = 12, 300, 7
    per_image, rows = {}, []
    for k in range(n_img):
        label = int(k % 3 != 0)
        sid = f"im{k}"
        if label:
            pos = rng.integers(0, 50, 256).astype(np.int64)
            pos[128:] += rng.integers(0, 200)  # some images well localised, some not
            per_image[sid] = {"hist": (pos, rng.integers(0, 400, 256).astype(np.int64))}
        else:
            per_image[sid] = {}
        rows.append({"sample_id": sid, "label": label, "score": float(rng.random() * 0.5 + 0.4 * label)})
    frame = pd.DataFrame(rows)
    out = _level_metrics(frame, per_image, ["pixel_f1_pooled", "image_auc"], n_boot=n_boot, seed=seed)

    tampered = [r["sample_id"] for r in rows if r["label"]]
    pos = np.stack([per_image[i]["hist"][0] for i in tampered])
    neg = np.stack([per_image[i]["hist"][1] for i in tampered])
    idx = np.random.default_rng(seed).integers(0, len(tampered), (n_boot, len(tampered)))
    reps = np.array([metrics.pooled("pixel_f1_pooled", pos[r], neg[r]) for r in idx])
    v = out["pixel_f1_pooled"]
    assert v.value == pytest.approx(metrics.pooled("pixel_f1_pooled", pos, neg)) and v.n == len(tampered)
    assert v.se == pytest.approx(np.std(reps[np.isfinite(reps)], ddof=1))
    assert (v.ci_low, v.ci_high) == pytest.approx(tuple(np.percentile(reps[np.isfinite(reps)], [2.5, 97.5])))

    s, y = frame.score.to_numpy(), frame.label.to_numpy()
    idx = np.random.default_rng(seed).integers(0, n_img, (n_boot, n_img))
    aucs = np.array([roc_auc_score(y[r], s[r]) if 0 < y[r].sum() < n_img else np.nan for r in idx])
    a = out["image_auc"]
    assert a.value == pytest.approx(roc_auc_score(y, s)) and a.n == n_img
    assert a.se == pytest.approx(np.nanstd(aucs, ddof=1)) and "over images" in a.se_method
    assert (a.ci_low, a.ci_high) == pytest.approx(tuple(np.nanpercentile(aucs, [2.5, 97.5])))
    # no resampling asked for: the values alone
    plain = _level_metrics(frame, per_image, ["pixel_f1_pooled", "image_auc"], n_boot=0)
    assert plain["image_auc"].value == a.value and plain["image_auc"].se is None
