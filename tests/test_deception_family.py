"""The deception family end to end: organizer pickles -> ``harness data convert`` -> a real-layout
data root -> run / score, the protocols' splits, opaque ids, sub-clips, bad input."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.families.deception import data, features, synth
from harness.families.deception.family import FAMILY
from harness.task import TaskIndex

pytestmark = pytest.mark.slow


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def organizer(tmp_path_factory) -> Path:
    """The organizers' distribution: pickles per dataset plus DOLOS's protocol CSVs."""
    out = tmp_path_factory.mktemp("organizer")
    synth.write_organizer_pickles(out, seed=0)
    for marker in out.rglob(synth.MARKER):  # stand-ins for real organizer files: no generator marker
        marker.unlink()
    return out


@pytest.fixture(scope="module")
def real_root(tmp_path_factory, organizer) -> Path:
    """A data root built the way a user builds one: ``harness data convert`` per dataset, DOLOS's
    Training_Protocols copied; no synth.json, so it counts as real data."""
    root = tmp_path_factory.mktemp("dd-real")
    for folder in sorted(organizer.glob("*/features")):
        dataset = folder.parent.name
        assert main(["data", "convert", str(folder), "--out", str(root / dataset / "features"), "--dataset", dataset]) == 0
    shutil.copytree(organizer / "dolos" / data.PROTOCOL_DIR, root / "dolos" / data.PROTOCOL_DIR)
    return root


@pytest.fixture()
def root_copy(tmp_path, real_root) -> Path:
    """A throwaway copy of the real-layout root, for tests that damage it."""
    return Path(shutil.copytree(real_root, tmp_path / "root"))


def write_task(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(f"task: {name}\ninclude: {TaskIndex().tasks['svc2026-deception'].path.parent / '_svc.yaml'}\n"
                                         + textwrap.dedent(body))


def test_real_layout_run_uses_opaque_ids_and_labels_the_source_real(capsys, real_root, tmp_path):
    sub = tmp_path / "svc.txt"
    code, out, err = run_cli(capsys, "run", "--task", "svc2025-deception-stage2", "--model", "dd-linear",
                             "--data-root", real_root, "--submission", sub, "--json", "--n-boot", "50")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["data"]["source"] == "real" and rec["reportable"] is True
    lines = sub.read_text().splitlines()
    assert len(lines) == 40 == rec["counts"]["test"]
    ids = [line.split()[0] for line in lines]
    store = features.FeatureStore(real_root / "svc2025-final" / "features" / "test")
    assert all("_lie" in v or "_truth" in v for v in store.videonames)  # the real set's leak, reproduced
    key = features.id_key(real_root, create=False)  # made by the run, in the data root
    assert sorted(ids) == sorted(features.opaque_id(key, "svc2025-final", v) for v in store.videonames)
    assert not any("lie" in i or "truth" in i for i in ids)
    assert rec["counts"]["sub_clips"] == 80  # K = 2 sub-clips per test clip, one unit each
    assert any("model selection" in n for n in rec["data"]["notes"])


def test_a_run_and_its_uploaded_file_score_the_same_in_every_format(capsys, real_root, tmp_path):
    task = "svc2026-deception"
    code, out, err = run_cli(capsys, "run", "--task", task, "--model", "dd-linear", "--data-root", real_root,
                             "--submission", tmp_path / "p.txt", "--json", "--n-boot", "50")
    assert code == 0, err
    rec = json.loads(out)
    scores = dict(line.split() for line in (tmp_path / "p.txt").read_text().splitlines())
    (tmp_path / "p.csv").write_text("id,score\n" + "".join(f"{i},{s}\n" for i, s in scores.items()))
    with zipfile.ZipFile(tmp_path / "p.zip", "w") as z:
        z.write(tmp_path / "p.txt", "answer.txt")
    assert run_cli(capsys, "data", "reference", "--task", task, "--data-root", real_root, "--out", tmp_path / "ref.csv")[0] == 0
    for upload in ("p.txt", "p.csv", "p.zip"):
        for where in (("--data-root", real_root), ("--reference", tmp_path / "ref.csv")):
            code, out, err = run_cli(capsys, "score", "--task", task, "--predictions", tmp_path / upload, *where,
                                     "--json", "--n-boot", "50")
            assert code == 0, err
            scored = json.loads(out)
            assert {k: v["value"] for k, v in scored["metrics"].items()} == {k: v["value"] for k, v in rec["metrics"].items()}


@pytest.mark.parametrize("content, message", [
    ("id score\n", "no header line"),
    ("dd-000000000000 0.3\n", "none of the 1 ids belongs"),
])
def test_malformed_svc_files_are_refused_with_one_line(capsys, real_root, tmp_path, content, message):
    (tmp_path / "bad.txt").write_text(content)
    code, out, err = run_cli(capsys, "score", "--task", "svc2026-deception", "--predictions", tmp_path / "bad.txt",
                             "--data-root", real_root)
    assert code == 2 and message in out + err and "Traceback" not in out + err


def test_out_of_range_scores_and_missing_ids_are_listed(capsys, real_root, tmp_path):
    refs, _ = FAMILY.references(TaskIndex().tasks["svc2026-deception"], real_root)
    ids = sorted(refs)
    (tmp_path / "bad.txt").write_text("".join(f"{i} 0.5\n" for i in ids[:-2]) + f"{ids[-2]} 1.7\n")
    code, out, err = run_cli(capsys, "score", "--task", "svc2026-deception", "--predictions", tmp_path / "bad.txt",
                             "--data-root", real_root)
    assert code == 2
    assert "outside [0, 1]" in err and "1 missing id(s)" in err


def test_an_unconverted_pickle_is_refused_with_the_convert_command(capsys, root_copy, organizer):
    shutil.copy(organizer / "box" / "features" / "all.pkl", root_copy / "box" / "features" / "extra.pkl")
    code, out, err = run_cli(capsys, "run", "--task", "svc2025-deception-stage1", "--model", "dd-linear",
                             "--data-root", root_copy)
    assert code == 2 and "harness data convert" in err and "extra.pkl" in err and "Traceback" not in err


def test_dolos_protocol_splits_select_by_file_name(real_root):
    cache: dict = {}
    pool = {c.videoname for _, c in FAMILY._pool(real_root, "dolos", cache)}
    folds = []
    for k in (1, 2, 3):
        task = TaskIndex().tasks[f"dolos-fold{k}"]
        train = FAMILY._split(real_root, task.datasets["train"][0], cache)
        test = FAMILY._split(real_root, task.datasets["test"][0], cache)
        rows = data.read_protocol_csv(real_root / "dolos" / data.PROTOCOL_DIR / f"test_fold{k}.csv")
        assert {data.match_name(c.videoname) for c in test} == {data.match_name(r.file_name) for r in rows}
        assert not {c.sample_id for c in train} & {c.sample_id for c in test}
        folds.append({c.videoname for c in test})
    assert set().union(*folds) == pool and sum(map(len, folds)) == len(pool)  # the test folds partition the pool
    male = FAMILY._split(real_root, TaskIndex().tasks["dolos-male-to-female"].datasets["train"][0], cache)
    assert male and {c.gender for c in male} == {"male"}


def test_a_protocol_label_that_contradicts_the_features_is_an_error(capsys, root_copy):
    path = root_copy / "dolos" / data.PROTOCOL_DIR / "test_fold1.csv"
    frame = pd.read_csv(path)
    frame.loc[0, "label"] = {"truth": "deception", "deception": "truth"}[frame.loc[0, "label"]]
    frame.to_csv(path, index=False)
    code, out, err = run_cli(capsys, "run", "--task", "dolos-fold1", "--model", "dd-linear", "--data-root", root_copy)
    assert code == 2 and "the protocol file says label" in err and "test_fold1.csv" in err


def test_a_missing_protocol_file_names_it(capsys, root_copy):
    (root_copy / "dolos" / data.PROTOCOL_DIR / "short.csv").unlink()
    code, out, err = run_cli(capsys, "run", "--task", "dolos-long-to-short", "--model", "dd-linear", "--data-root", root_copy)
    assert code == 2 and "short.csv" in err and "protocol file" in err


def test_a_test_clip_that_is_also_a_training_clip_is_refused(capsys, real_root, tmp_path, monkeypatch):
    write_task(tmp_path / "tasks", "dd-leaky", """
        datasets:
          train:
            - {name: dolos, split: all}
          test:
            - {name: dolos, split: test}
        """)
    monkeypatch.setenv("HARNESS_TASKS", str(tmp_path / "tasks"))
    code, out, err = run_cli(capsys, "run", "--task", "dd-leaky", "--model", "dd-linear", "--data-root", real_root)
    assert code == 2 and "also training clips" in err


def _pickle_without_au(organizer: Path, out: Path) -> Path:
    clips = pickle.loads((organizer / "box" / "features" / "all.pkl").read_bytes())
    del clips[0]["OpenFace_x"]
    out.write_bytes(pickle.dumps(clips, protocol=4))
    return out


@pytest.mark.parametrize("policy", ["allow", "refuse"])
def test_a_clip_missing_a_modality_is_passed_on_or_refused_per_task(capsys, root_copy, organizer, tmp_path, monkeypatch, policy):
    shutil.rmtree(root_copy / "box" / "features")
    pkl = _pickle_without_au(organizer, tmp_path / "all.pkl")
    assert run_cli(capsys, "data", "convert", pkl, "--out", root_copy / "box" / "features", "--dataset", "box")[0] == 0
    write_task(tmp_path / "tasks", f"dd-box-{policy}", f"""
        recipe:
          missing_modality: {policy}
        datasets:
          train:
            - {{name: rlt, split: all}}
          test:
            - {{name: box, split: all}}
        """)
    monkeypatch.setenv("HARNESS_TASKS", str(tmp_path / "tasks"))
    code, out, err = run_cli(capsys, "run", "--task", f"dd-box-{policy}", "--model", "dd-linear", "--data-root", root_copy,
                             "--json", "--n-boot", "20")
    if policy == "refuse":
        assert code == 2 and "lack modality 'au'" in err
    else:
        assert code == 0, err
        assert any("1 of 40 test clips lack modality 'au'" in n for n in json.loads(out)["data"]["notes"])


def test_a_participant_copy_has_no_labels_and_cannot_be_scored_as_reference(capsys, root_copy, organizer, tmp_path):
    final = root_copy / "svc2025-final" / "features"
    shutil.rmtree(final)
    features.id_key(root_copy)
    code, out, err = run_cli(capsys, "data", "convert", organizer / "svc2025-final" / "features" / "test.pkl",
                             "--out", final, "--dataset", "svc2025-final", "--strip-labels",
                             "--id-key", root_copy / features.ID_KEY_FILE)
    assert code == 0, err
    text = (final / "test" / features.CLIPS_META).read_text()
    assert "lie" not in text and "truth" not in text
    store = features.FeatureStore(final / "test")
    assert store.ids_opaque and store.labels is None
    ids = set(store.videonames)
    refs, _ = FAMILY.references(TaskIndex().tasks["svc2025-deception-stage1"], root_copy)  # other sets unaffected
    assert refs and not ids & set(refs)
    code, out, err = run_cli(capsys, "run", "--task", "svc2025-deception-stage2", "--model", "dd-linear", "--data-root", root_copy)
    assert code == 2 and "carry no labels" in err


def test_the_stripped_ids_equal_the_ids_the_organizer_scores(capsys, real_root, organizer, tmp_path):
    """A participant predicts on the stripped copy; the organizer scores against the labelled store."""
    refs, _ = FAMILY.references(TaskIndex().tasks["svc2025-deception-stage2"], real_root)  # makes the key
    key_file = real_root / features.ID_KEY_FILE
    assert run_cli(capsys, "data", "convert", organizer / "svc2025-final" / "features" / "test.pkl", "--out", tmp_path,
                   "--dataset", "svc2025-final", "--strip-labels", "--id-key", key_file)[0] == 0
    stripped = set(features.FeatureStore(tmp_path / "test").videonames)
    assert stripped == set(refs)
    assert not (tmp_path / features.ID_KEY_FILE).exists()
    # without the key, hashing the guessable names reproduces none of the ids
    store = features.FeatureStore(real_root / "svc2025-final" / "features" / "test")
    guesses = {features.name_digest("svc2025-final", v) for v in store.videonames}
    guesses |= {"dd-" + hashlib.sha256(f"svc2025-final/{v}".encode()).hexdigest()[:16] for v in store.videonames}
    assert not guesses & stripped


def test_a_model_returning_logits_gets_a_clear_error(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "subs" / "logits"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(textwrap.dedent("""
        import torch
        class Model:
            family = "deception"
            inputs = ("au",)
            output = "score"
            def predict(self, batch):
                return {"score": batch["au"].mean(dim=(1, 2)) * 100 + 3}
        """))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(tmp_path / "subs"))
    code, out, err = run_cli(capsys, "run", "--task", "svc2026-deception", "--model", "logits")
    assert code == 2 and "P(truth) in [0, 1]" in err and "Traceback" not in err


def test_sub_clip_scores_are_averaged_and_counted():
    merged = FAMILY.merge_parts([{"score": 0.2}, {"score": 0.9}])
    assert merged == {"score": pytest.approx(0.55), "n_sub": 2}


def test_a_single_class_test_set_reports_undefined_metrics_not_zero():
    task = TaskIndex().tasks["svc2026-deception"]
    refs = {f"c{i}": {"label": 1, "dataset": "dolos", "gender": "", "duration_s": float("nan"), "videoname": f"v{i}"}
            for i in range(6)}
    outputs = {f"c{i}": {"score": s} for i, s in enumerate([0.9, 0.8, 0.3, 0.7, 0.6, 0.1])}
    score = FAMILY.score(task, outputs, refs, n_boot=20, seed=0)
    assert score.metrics["accuracy"].value == pytest.approx(4 / 6)
    assert score.metrics["error_rate"].value == pytest.approx(2 / 6)
    for name in ("auc", "eer", "balanced_accuracy"):
        assert score.metrics[name].value is None and "one class" in score.metrics[name].reason
    assert score.metrics["f1_lie"].value == 0.0  # no lie clip, 2 predicted lie: precision 0 -> F1 0 (sklearn)
    assert any("undefined" in n for n in score.notes)


def test_breakdowns_per_dataset_gender_and_duration(capsys):
    code, out, err = run_cli(capsys, "run", "--task", "dolos-fold2", "--model", "dd-linear", "--json", "--n-boot", "20")
    assert code == 0, err
    rec = json.loads(out)
    b = rec["breakdowns"]
    assert b["per_dataset"]["dolos"]["n"] == rec["counts"]["test"]
    assert sum(g["n"] for g in b["per_gender"].values()) == rec["counts"]["test"]
    halves = [v for k, v in b["per_duration"].items() if k != "median_s"]
    assert sum(h["n"] for h in halves) == rec["counts"]["test"]
    folder = Path(os.environ["HARNESS_RESULTS"]) / "runs" / "sample" / "dolos-fold2" / "dd-linear"
    rows = pd.read_csv(folder / rec["files"]["samples"])
    acc = float(((rows.score >= 0.5).astype(int) == rows.label).mean())
    assert acc == pytest.approx(rec["metrics"]["accuracy"]["value"])  # per-clip rows rescore to the metric


def test_the_baselines_beat_chance_on_held_out_domains(capsys):
    code, out, err = run_cli(capsys, "run", "--task", "dd-lodo", "--model", "dd-linear", "--json", "--n-boot", "20")
    assert code == 0, err
    results = Path(os.environ["HARNESS_RESULTS"])
    accuracies = [json.loads(p.read_text())["metrics"]["accuracy"]["value"]
                  for p in results.glob("runs/sample/dd-lodo-*/dd-linear/record.json")]
    assert len(accuracies) == 5 and min(accuracies) > 0.6 and np.mean(accuracies) > 0.7
    code, out, err = run_cli(capsys, "run", "--task", "svc2026-deception", "--model", "dd-fusion",
                             "--model-args", "modalities=va,epochs=10", "--json", "--n-boot", "20")
    assert code == 0, err
    assert json.loads(out)["metrics"]["accuracy"]["value"] > 0.6


def test_convert_names_a_single_files_store_and_refuses_a_name_for_a_folder(capsys, organizer, tmp_path):
    pkl = organizer / "dolos" / "features" / "train.pkl"
    code, out, err = run_cli(capsys, "data", "convert", pkl, "--out", tmp_path, "--dataset", "dolos", "--name", "fold-a")
    assert code == 0, err
    assert len(features.FeatureStore(tmp_path / "fold-a")) == 60
    code, out, err = run_cli(capsys, "data", "convert", pkl.parent, "--out", tmp_path, "--name", "x")
    assert code == 2 and "single .pkl file" in err
    code, out, err = run_cli(capsys, "data", "convert", tmp_path / "nothing.pkl", "--out", tmp_path)
    assert code == 2 and "nothing to convert" in err


def test_leaderboard_plots_roc_and_histograms_from_the_samples(capsys, tmp_path):
    code, out, err = run_cli(capsys, "run", "--task", "svc2025-deception-stage1", "--model", "dd-linear", "--json",
                             "--n-boot", "20")
    assert code == 0, err
    rec = json.loads(out)
    code, out, err = run_cli(capsys, "leaderboard", "--task", "svc2025-deception-stage1", "--out", tmp_path)
    assert code == 0, err
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["svc2025-deception-stage1.dd-linear.roc.png", "svc2025-deception-stage1.dd-linear.score-histogram.png"]
    from harness.families.deception import plots

    folder = Path(os.environ["HARNESS_RESULTS"]) / "runs" / "sample" / "svc2025-deception-stage1" / "dd-linear"
    numbers = plots.roc(pd.read_csv(folder / "samples.csv"), "t", tmp_path / "again.png")
    assert numbers["auc"] == pytest.approx(rec["metrics"]["auc"]["value"], abs=1e-12)
    assert numbers["tpr_at_05"] >= 0 and numbers["n"] == rec["counts"]["test"]


def test_stores_converted_from_the_sample_stay_labelled_sample(capsys, tmp_path):
    """Converting the generator's own pickles must not turn the sample into 'real' data."""
    org = tmp_path / "org"
    synth.write_organizer_pickles(org, seed=0)
    root = tmp_path / "root"
    for dataset in ("rlt", "bol", "box", "mu3d", "dolos"):
        assert main(["data", "convert", str(org / dataset / "features"), "--out", str(root / dataset / "features"),
                     "--dataset", dataset]) == 0
    capsys.readouterr()
    rec = json.loads(run_cli(capsys, "run", "--task", "svc2026-deception", "--model", "dd-linear", "--data-root", root,
                             "--json", "--n-boot", "20")[1])
    assert rec["data"]["source"] == "sample" and any("converted from the harness's synthetic sample" in n
                                                      for n in rec["data"]["notes"])
