"""The FAS family end to end on the embedded MMDG-layout sample: protocols, thresholds from the
sources' val lists, missing modalities, video level, prediction files, the trainable baseline."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.families.fas import metrics
from harness.families.fas.family import FAMILY
from harness.task import TaskIndex

INDEX = TaskIndex()


def run_json(capsys, *argv) -> dict:
    code = main(["run", *argv, "--json", "--n-boot", "100"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_protocol_tasks_and_groups_are_registered():
    assert len([t for t in INDEX.tasks.values() if t.family == "fas"]) == 4 + 12 + 2
    assert INDEX.groups["mmdg-p1"].aggregate == "mean"
    p2 = INDEX.tasks["mmdg-p2-cps-w-missing-d-ir"]
    assert p2.recipe["missing"] == ["depth", "ir"] and p2.datasets == INDEX.tasks["mmdg-p1-cps-w"].datasets
    p3 = INDEX.tasks["mmdg-p3-cw-ps"]
    assert [d.name for d in p3.datasets["test"]] == ["padisi", "surf"]
    assert [d.split for d in p3.datasets["val"]] == ["val", "val"]


def test_p1_run_thresholds_from_source_val_and_breakdowns(capsys):
    rec = run_json(capsys, "--task", "mmdg-p1-cps-w", "--model", "fas-relief")
    assert rec["primary_metric"] == "hter_val" and rec["data"]["source"] == "sample"
    assert rec["counts"]["val"] == 3 * 12 and rec["counts"]["test"] == 24  # 12 val lines per source, 24 W test frames
    threshold = rec["breakdowns"]["threshold_val"]
    assert 0 < threshold < 1
    assert set(rec["breakdowns"]["apcer_per_attack_type"]) <= {"print", "replay", "rigidmask", "flexiblemask", "unknown"}
    # independent recomputation from the per-frame table the run saved
    import pandas as pd

    rows = pd.read_csv(Path(rec["_path"]).with_name("samples.csv"), keep_default_na=False)
    val, test = rows[rows.role == "val"], rows[rows.role == "test"]
    t = metrics.threshold_from(val.score.to_numpy(), val.label.to_numpy())
    assert t == threshold
    far = ((test.label == 0) & (test.score >= t)).sum() / (test.label == 0).sum()
    frr = ((test.label == 1) & (test.score < t)).sum() / (test.label == 1).sum()
    assert rec["metrics"]["hter_val"]["value"] == pytest.approx((far + frr) / 2, abs=1e-12)


def test_group_prints_the_recomputed_mean(capsys):
    assert main(["run", "--task", "mmdg-p3", "--model", "fas-relief", "--n-boot", "20"]) == 0
    out = capsys.readouterr().out
    assert "mean of parts" in out and "mmdg-p3-cw-ps" in out and "mmdg-p3-ps-cw" in out


@pytest.mark.parametrize("mode", ["absent", "zero-fill"])
def test_missing_modalities_reach_the_model_as_declared(capsys, tmp_path, monkeypatch, mode):
    folder = tmp_path / "subs" / "probe"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent(f"""
        import torch

        class Model:
            family = "fas"
            inputs = ("rgb", "depth", "ir")
            output = "score"

            def predict(self, batch):
                mask = batch["mask"]
                if "{mode}" == "absent":
                    assert "depth" not in batch and "ir" in batch and not mask[:, 1].any() and mask[:, 2].all()
                else:
                    assert float(batch["depth"].abs().sum()) == 0.0 and mask.all()
                return {{"score": batch["rgb"].mean(dim=(1, 2, 3))}}
    """))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "zf.yaml").write_text(f"task: p2-probe\ninclude: {INDEX.tasks['mmdg-p2-cps-w-missing-d'].path}\n"
                                   f"recipe: {{missing: [depth], missing_mode: {mode}}}\n")
    monkeypatch.setenv("HARNESS_TASKS", str(tasks))
    rec = run_json(capsys, "--task", "p2-probe", "--model", "probe")
    assert rec["task"]["recipe"]["missing_mode"] == mode


def test_video_level_averages_frames(capsys, tmp_path, monkeypatch):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "v.yaml").write_text(f"task: p1-video\ninclude: {INDEX.tasks['mmdg-p1-cps-w'].path}\nrecipe: {{level: video}}\n")
    monkeypatch.setenv("HARNESS_TASKS", str(tasks))
    rec = run_json(capsys, "--task", "p1-video", "--model", "fas-relief")
    assert rec["counts"]["test"] == 8  # 8 W test videos of 3 frames each


def test_submission_file_rescored_exactly_and_reference_export(capsys, tmp_path):
    rec = run_json(capsys, "--task", "mmdg-p1-csw-p", "--model", "fas-relief", "--submission", str(tmp_path / "p.csv"))
    assert (tmp_path / "p.csv").read_text().startswith("id,score\n")
    code = main(["score", "--task", "mmdg-p1-csw-p", "--predictions", str(tmp_path / "p.csv"), "--json", "--n-boot", "100"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["metrics"] == rec["metrics"]
    assert main(["data", "reference", "--task", "mmdg-p1-csw-p", "--out", str(tmp_path / "ref.csv")]) == 0
    capsys.readouterr()
    code = main(["score", "--task", "mmdg-p1-csw-p", "--predictions", str(tmp_path / "p.csv"), "--reference",
                 str(tmp_path / "ref.csv"), "--json", "--n-boot", "100"])
    assert code == 0 and json.loads(capsys.readouterr().out)["metrics"] == rec["metrics"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,score\n" + "".join(f"{line.split(',')[0]},1.5\n" for line in (tmp_path / "p.csv").read_text().splitlines()[1:]))
    assert main(["score", "--task", "mmdg-p1-csw-p", "--predictions", str(bad)]) == 2
    assert "row(s) with score outside [0, 1]" in capsys.readouterr().err


def test_single_class_test_set_is_undefined_not_a_crash():
    task = INDEX.tasks["mmdg-p1-cps-w"]
    refs = {f"v{i}": {"role": "val", "label": i % 2, "domain": "C", "video_id": f"v{i}", "attack_type": ""} for i in range(6)}
    refs.update({f"t{i}": {"role": "test", "label": 1, "domain": "W", "video_id": f"t{i}", "attack_type": ""} for i in range(4)})
    outputs = {k: {"score": np.asarray(0.1 * (i + 1))} for i, k in enumerate(refs)}
    score = FAMILY.score(task, outputs, refs, n_boot=10, seed=0)
    assert score.metrics["auc"].value is None and "one class" in score.metrics["auc"].reason


def test_missing_benchmark_folder_names_the_layout(capsys, tmp_path):
    (tmp_path / "root").mkdir()
    assert main(["run", "--task", "mmdg-p1-cps-w", "--model", "fas-relief", "--data-root", str(tmp_path / "root")]) == 2
    assert "no MMDG-Benchmark/ folder; expected layout" in capsys.readouterr().err


def test_the_trainable_baseline_beats_chance_on_the_held_out_domain(capsys):
    rec = run_json(capsys, "--task", "mmdg-p1-cps-w", "--model", "fas-cnn")
    assert rec["model"]["trains"] and rec["metrics"]["auc"]["value"] > 0.5
    with pytest.raises(HarnessError):
        FAMILY.check_task(type("T", (), {"recipe": {"missing": ["rgb"]}, "path": "x", "datasets": {}, "metrics": []})())
