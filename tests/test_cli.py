"""End to end through the CLI on the embedded sample, and every bad input as one clear line."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.cli import main
from harness.families.rppg.family import FAMILY


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.glob("runs/*/*/*/record.json"))]


@pytest.fixture(scope="module")
def sample_root(sample_cache):
    import os

    os.environ["HARNESS_CACHE"] = str(sample_cache)
    return FAMILY.sample_root()


@pytest.fixture
def real_root(tmp_path, sample_root):
    """A real-layout data root: the sample's UBFC-layout domain copied as ubfc-rppg."""
    root = tmp_path / "data"
    shutil.copytree(sample_root / "ubfc-rppg", root / "ubfc-rppg")
    (root / "ubfc-rppg" / "synth.json").unlink()  # without the generator's marker it reads as real
    return root


@pytest.fixture
def ubfc_task(tmp_path, monkeypatch):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "ubfc-only.yaml").write_text(textwrap.dedent("""
        task: ubfc-only
        include: %s
        datasets: {train: [pure], test: [ubfc-rppg]}
    """ % (Path(__file__).resolve().parent.parent / "tasks" / "rppg" / "_rppg.yaml")))
    monkeypatch.setenv("HARNESS_TASKS", str(folder))
    return "ubfc-only"


def test_run_group_pos_on_sample_side_by_side(capsys, tmp_path, sample_root):
    code, out, err = run_cli(capsys, "run", "--task", "svc2026-rppg", "--model", "pos")
    assert code == 0, err
    assert "using the embedded synthetic sample" in err and err.count("embedded synthetic sample") == 1
    assert "svc2026-rppg-phase1" in out and "svc2026-rppg-phase2" in out
    recs = {r["task"]["name"]: r for r in records(tmp_path / "results")}
    assert set(recs) == {"svc2026-rppg-phase1", "svc2026-rppg-phase2"}
    for rec in recs.values():
        assert rec["data"]["source"] == "sample" and rec["reportable"]
        assert rec["task"]["version"] == 2 and len(rec["task"]["config_hash"]) == 12
        assert rec["task"]["group"] == "svc2026-rppg"
        assert rec["task"]["recipe"]["band"] == [0.75, 2.5]
        assert rec["model"]["code_fingerprint"] and rec["environment"]["torch"]
        assert rec["metrics"]["mae"]["n"] == rec["n_samples"] > 0
        assert 1.0 < rec["metrics"]["mae"]["value"] < 15.0  # several bpm, as on real data (not 0.00)
        assert "model has no fit(): training datasets not used" in rec["notes"]
    assert recs["svc2026-rppg-phase1"]["data"]["datasets"]["test"] == ["mmpd"]
    # phase-1 test subjects are MMPD half B only
    rows = (tmp_path / "results/runs/sample/svc2026-rppg-phase1/pos/samples.csv").read_text()
    assert "mmpd/" in rows


def test_run_json_and_resume(capsys, tmp_path, sample_root):
    code, out, _ = run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "chrom", "--limit", "2", "--json")
    assert code == 0
    rec = json.loads(out)
    assert rec["reportable"] is False and rec["n_samples"] == 2
    code, out, err = run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "chrom", "--json")
    rec = json.loads(out)
    assert rec["throughput"]["samples_reused"] == 2 and "resuming" in err
    assert rec["reportable"] is True and rec["n_samples"] > 2
    assert rec["metrics"]["mae"]["value"] < 20.0  # CHROM: off by several bpm on the PhysDrive-like domain, not lost


def test_template_model_trains_and_runs(capsys, tmp_path, sample_root):
    code, out, err = run_cli(capsys, "run", "--task", "svc2026-rppg", "--model", "mine", "--json")
    assert code == 0, err
    p1, p2 = json.loads(out)
    assert "training mine" in err
    assert any("weights fixed" in n for n in p2["notes"])
    assert p1["model"]["trains"] and p1["metrics"]["mae"]["value"] is not None


def test_a_finished_run_of_a_training_model_reruns_without_training(capsys, tmp_path, sample_root):
    """Every test output cached: the rerun rescores them and never trains again."""
    code, out, err = run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "mine", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert "training mine" in err and "fit_s" in first["timings"]
    code, out, err = run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "mine", "--json")
    again = json.loads(out)
    assert "training mine" not in err and "fit_s" not in again["timings"]
    assert any("training skipped" in n for n in again["notes"])
    assert again["metrics"] == first["metrics"] and again["throughput"]["samples_processed"] == 0


def test_leaderboard_ranks_runs_and_excludes_limit_runs(capsys, tmp_path, sample_root):
    for model in ("pos", "green"):
        assert run_cli(capsys, "run", "--task", "svc2026-rppg-phase1", "--model", model)[0] == 0
    assert run_cli(capsys, "run", "--task", "svc2026-rppg-phase1", "--model", "chrom", "--limit", "1")[0] == 0
    code, out, _ = run_cli(capsys, "leaderboard", "--task", "svc2026-rppg-phase1")
    assert code == 0
    assert "data: sample" in out and "mae ↓" in out
    assert not [line for line in out.splitlines() if line.startswith("|") and "chrom" in line]  # not a row...
    assert "Not shown: 1 --limit run(s), never reportable (rerun without --limit): chrom@limit1 (sample)." in out  # ...but named
    assert "GDMU_ZZU" not in out  # published (real-data) rows never join a sample board
    maes = {r["model"]["name"]: r["metrics"]["mae"]["value"] for r in records(tmp_path / "results")
            if r["reportable"]}
    order = [line.split("|")[2].strip() for line in out.splitlines() if line.startswith("| 1") or line.startswith("| 2")]
    assert order == sorted(maes, key=maes.get)
    code, out, _ = run_cli(capsys, "leaderboard", "--task", "svc2026-rppg-phase1", "--format", "csv")
    header = out.splitlines()[0].split(",")
    assert header[:4] == ["rank", "model", "kind", "mae"] and "pearson" in header and "N" in header
    code, out, _ = run_cli(capsys, "leaderboard", "--task", "rppg-pure-to-ubfc", "--format", "latex")
    assert "\\begin{tabular}" in out and "published" in out and "Table 2" in out


def test_cli_list_show_validate(capsys):
    code, out, _ = run_cli(capsys, "list", "tasks", "svc2026-*")
    assert code == 0 and "svc2026-rppg-phase2" in out and "rppg-pure-to-ubfc" not in out
    code, out, _ = run_cli(capsys, "show", "svc2026-rppg-phase1")
    assert code == 0 and "config_hash" in out and "half-b" in out
    code, out, _ = run_cli(capsys, "validate")
    assert code == 0 and "0 error(s)" in out and "group(s)" in out
    code, out, _ = run_cli(capsys, "list", "models")
    assert code == 0 and "mine" in out and "submission" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "--task", "svc2026-rpg", "--model", "pos"], "Did you mean 'svc2026-rppg'"),
    (["run", "--task", "svc2026-rppg", "--model", "poss"], "Did you mean 'pos'"),
    (["run", "--task", "svc2026-rppg", "--model", "pos", "--data-root", "/nonexistent/x"], "/nonexistent/x: data root does not exist"),
    (["run", "--task", "svc2026-rppg", "--model", "pos", "--device", "cuda:3"], "CUDA is not available"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and message in err
    errors = [line for line in err.splitlines() if line.startswith("harness: error:")]
    assert "Traceback" not in err and len(errors) == 1 and err.strip().splitlines()[-1] == errors[0]


def test_missing_dataset_folder_names_expected_layout(capsys, tmp_path):
    (tmp_path / "empty-root").mkdir()
    code, _, err = run_cli(capsys, "run", "--task", "svc2026-rppg-phase1", "--model", "pos", "--data-root", str(tmp_path / "empty-root"))
    assert code == 2 and "empty-root/mmpd: test dataset folder is missing; expected layout" in err


def test_real_root_runs_without_training_data_for_a_model_without_fit(capsys, tmp_path, real_root, ubfc_task):
    code, out, err = run_cli(capsys, "run", "--task", ubfc_task, "--model", "pos", "--data-root", str(real_root), "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["data"]["source"] == "real" and any("training datasets absent (pure)" in n for n in rec["notes"])
    code, _, err = run_cli(capsys, "run", "--task", ubfc_task, "--model", "mine", "--data-root", str(real_root))
    assert code == 2 and "pure: training dataset folder is missing" in err


def test_corrupt_video_and_bad_ground_truth(capsys, tmp_path, real_root, ubfc_task):
    video = sorted(real_root.glob("ubfc-rppg/*/vid.avi"))[0]
    video.write_bytes(b"\x00garbage" * 100)
    code, _, err = run_cli(capsys, "run", "--task", ubfc_task, "--model", "pos", "--data-root", str(real_root))
    assert code == 2 and str(video) in err and "Traceback" not in err
    assert records(tmp_path / "results") == []  # nothing half-written


def test_ground_truth_that_cannot_match_the_frames(capsys, tmp_path, real_root, ubfc_task):
    gt = sorted(real_root.glob("ubfc-rppg/*/ground_truth.txt"))[0]
    lines = gt.read_text().splitlines()
    values = lines[0].split()
    gt.write_text("\n".join([" ".join(values[: len(values) // 3])] + [""] * 2) + "\n")
    code, _, err = run_cli(capsys, "run", "--task", ubfc_task, "--model", "pos", "--data-root", str(real_root))
    assert code == 2 and str(gt) in err
    assert records(tmp_path / "results") == []


def test_no_face_falls_back_to_centre_crop_and_is_counted(capsys, tmp_path, real_root, ubfc_task):
    video = sorted(real_root.glob("ubfc-rppg/*/vid.avi"))[0]
    cap = cv2.VideoCapture(str(video))
    fps, frames = cap.get(cv2.CAP_PROP_FPS), []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(np.full_like(frame, 128) + (frame.mean() - 128).astype(np.uint8) * 0)
    cap.release()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames[0].shape[1::-1])
    for f in frames:
        writer.write(f)
    writer.release()
    code, out, err = run_cli(capsys, "run", "--task", ubfc_task, "--model", "pos", "--data-root", str(real_root), "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["counts"]["face_fallback"] == 1
    assert any("no face found in 1 video(s): the crop recipe's fallback used" in n for n in rec["notes"])


@pytest.mark.parametrize("body, message", [
    ("return {'bvp': batch['rgb'][:, :-1, 0]}", "expected"),
    ("return {'bvp': batch['rgb'][..., 0] * float('nan')}", "NaN or infinite bvp for sample"),
    ("raise ValueError('kaboom')", "model.predict failed on sample(s)"),
])
def test_bad_adapter_outputs_are_refused_naming_the_sample(capsys, tmp_path, monkeypatch, sample_root, body, message):
    folder = tmp_path / "subs" / "bad"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent(f"""
        class Model:
            family = "rppg"
            inputs = ("rgb",)
            output = "bvp"
            def predict(self, batch):
                {body}
    """))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    code, _, err = run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "bad")
    assert code == 2 and message in err and "physdrive/" in err
    assert records(tmp_path / "results") == []


def test_data_synth_writes_the_cached_sample_byte_for_byte(capsys, tmp_path, sample_root, monkeypatch):
    """``harness data synth rppg`` writes every domain of the sample the harness caches; narrowed to
    one domain here (each is generated alone from the seed and its name), so the suite does not
    generate the whole sample a second time."""
    from harness.families.rppg import synth

    last = list(synth.DOMAINS)[-1]  # the last: a stream shared across domains would differ there
    monkeypatch.setattr(synth, "DOMAINS", {last: synth.DOMAINS[last]})
    code, out, _ = run_cli(capsys, "data", "synth", "rppg", "--out", str(tmp_path / "s"))
    assert code == 0 and f"wrote the rppg sample to {tmp_path / 's'}" in out
    written = sorted(p.relative_to(tmp_path / "s") for p in (tmp_path / "s").rglob("*") if p.is_file())
    cached = sorted(p.relative_to(sample_root) for p in (sample_root / last).rglob("*") if p.is_file())
    assert written == cached and len(written) > 2
    assert all((tmp_path / "s" / f).read_bytes() == (sample_root / f).read_bytes() for f in written)


def test_console_script_entry_point(tmp_path):
    exe = Path(sys.executable).with_name("harness")
    proc = subprocess.run([str(exe), "list", "tasks"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "svc2026-rppg" in proc.stdout


def test_frames_adapter_with_hr_output_runs_in_chunks(capsys, tmp_path, monkeypatch, sample_root):
    """An adapter that asks for face crops gets them in chunks and may answer one HR per chunk;
    a sample's HR is the mean over its chunks."""
    folder = tmp_path / "subs" / "crops"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent("""
        import torch

        class Model:
            family = "rppg"
            inputs = ("frames",)
            output = "hr"
            frame_size = 24
            chunk_frames = 200
            seen = []

            def predict(self, batch):
                assert batch["frames"].dtype == torch.uint8 and batch["frames"].shape[2:] == (24, 24, 3)
                return {"hr": 60.0 + batch["lengths"].double() / 10}
    """))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    code, out, err = run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "crops", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["metrics"]["snr"]["value"] is None  # no waveform, no SNR
    import pandas as pd

    rows = pd.read_csv(tmp_path / "results/runs/sample/svc2026-rppg-phase2/crops/samples.csv")
    # 20 s at 30 fps = 600 frames = three full chunks of 200: HR = 60 + 200/10 = 80
    assert (rows["hr_pred"] == 80.0).all()


def test_a_copy_of_the_sample_under_a_data_root_is_labelled_sample(capsys, tmp_path, sample_root, ubfc_task):
    root = tmp_path / "copied"
    shutil.copytree(sample_root / "ubfc-rppg", root / "ubfc-rppg")
    code, out, err = run_cli(capsys, "run", "--task", ubfc_task, "--model", "pos", "--data-root", str(root), "--json")
    assert code == 0, err
    assert json.loads(out)["data"]["source"] == "sample" and "synthetic sample (synth.json)" in err
    shutil.copytree(sample_root / "pure", root / "pure")
    (root / "pure" / "synth.json").unlink()
    code, _, err = run_cli(capsys, "run", "--task", ubfc_task, "--model", "mine", "--data-root", str(root))
    assert code == 2 and "mixes the synthetic sample (ubfc-rppg" in err


def test_limit_runs_never_replace_a_full_record(capsys, tmp_path, sample_root):
    assert run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "green")[0] == 0
    assert run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "green", "--limit", "2")[0] == 0
    recs = records(tmp_path / "results")
    assert sorted(r["reportable"] for r in recs) == [False, True]
    code, out, _ = run_cli(capsys, "leaderboard", "--task", "svc2026-rppg-phase2")
    assert "| green |" in out and "Published rows appear on the real-data board" in out


def test_leaderboard_shows_model_arguments(capsys, tmp_path, sample_root):
    assert run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "mine", "--model-args", "window=64")[0] == 0
    _, out, _ = run_cli(capsys, "leaderboard", "--task", "svc2026-rppg-phase2")
    assert "(window=64)" in out


@pytest.mark.parametrize("argv, message", [
    (["--limit", "0"], "--limit must be ≥ 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be ≥ 1, got 0"),
    (["--num-workers", "-1"], "--num-workers must be ≥ 0, got -1"),
    (["--device", "tpu0"], "--device 'tpu0' is not a device"),
])
def test_each_bad_flag_is_named(capsys, argv, message):
    code, _, err = run_cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "pos", *argv)
    assert code == 2 and message in err


SMOKE_MODEL = {"rppg": "green", "fas": "fas-relief", "deception": "dd-linear", "splicing": "splice-noise", "iqa_backdoor": "iqa-ridge"}  # a fast built-in per family


@pytest.mark.parametrize("task", sorted(__import__("harness.task", fromlist=["TaskIndex"]).TaskIndex().tasks))
def test_every_registered_task_runs_on_the_sample(capsys, task, sample_root):
    """Registry-driven: each task loads its sample data, predicts and scores (a --limit subset)."""
    family = __import__("harness.task", fromlist=["TaskIndex"]).TaskIndex().tasks[task].family
    code, out, err = run_cli(capsys, "run", "--task", task, "--model", SMOKE_MODEL[family], "--limit", "4",
                             "--json", "--n-boot", "50")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["data"]["source"] == "sample" and rec["reportable"] is False
    assert rec["metrics"][rec["primary_metric"]]["n"] >= 2
