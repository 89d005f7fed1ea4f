"""`harness codabench-bundle`: the bundle's competition.yaml matches what its scoring program writes,
and the scoring program — run as Codabench runs it — scores a run's submission to the run's exact
numbers, refuses invalid files without scores, and refuses to run from a stale bundle."""
from __future__ import annotations

import hashlib
import io
import json
import math
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from _codabench_reference import run_program, run_scoring, unpack_errors
from harness import codabench
from harness.cli import main
from harness.family import FAMILIES, prediction_formats_text
from harness.reference import load_references
from harness.scoring import score_upload
from harness.families.rppg.family import FAMILY
from harness.task import TaskIndex

TASK = TaskIndex().tasks["svc2026-rppg-phase2"]
IMAGE = "me/harness-scoring:1"
REFERENCE = "reference.npz"  # the rPPG family's reference file


@pytest.fixture(scope="module")
def built(tmp_path_factory, sample_cache, pos_submission):
    """The shared POS submission and reference, and the bundle (with its zip)."""
    folder = pos_submission["folder"]
    out = tmp_path_factory.mktemp("codabench")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(sample_cache))
        mp.delenv("HARNESS_DATA", raising=False)
        assert main(["codabench-bundle", "--task", TASK.name, "--out", str(out / "bundle"), "--zip", "--allow-sample",
                     "--docker-image", IMAGE, "--start", "2026-03-01", "--final-start", "2026-05-01"]) == 0
    bundle = out / "bundle"
    competition = yaml.safe_load((bundle / "competition.yaml").read_text())
    return {"folder": folder, "record": pos_submission["record"], "bundle": bundle, "competition": competition}


def layout(root: Path, reference_dir: Path, files: dict[str, bytes], codabench_metadata: bool = True) -> Path:
    """A scoring run's folders as Codabench lays them out: input/ref, input/res, output."""
    shutil.copytree(reference_dir, root / "input" / "ref")
    res = root / "input" / "res"
    res.mkdir(parents=True)
    for name, data in files.items():
        (res / name).parent.mkdir(parents=True, exist_ok=True)
        (res / name).write_bytes(data)
    if codabench_metadata:  # Codabench writes the prediction step's status here
        (res / "metadata").write_text("exitCode: 0\nelapsedTime: 1.0\n")
    (root / "output").mkdir()
    return root


def run_scorer(program: Path, root: Path, in_process: bool = True) -> subprocess.CompletedProcess:
    return run_program(program, ["python3", str(program / "score.py"), str(root / "input"), str(root / "output")],
                       in_process)


def csv_with_duplicate(built) -> bytes:
    ids = sorted(FAMILY.read_reference(TASK, built["folder"] / "ref.npz")[0])
    return ("id,hr_bpm\n" + "".join(f"{i},72.0\n" for i in ids + ids[:1])).encode()


# ----------------------------------------------------------------------------- competition.yaml
def test_competition_yaml_is_a_complete_v2_bundle(built):
    comp, bundle = built["competition"], built["bundle"]
    assert comp["version"] == 2 and comp["title"] and comp["docker_image"]
    for rel in [comp["image"], comp["terms"], *(p["file"] for p in comp["pages"])]:
        assert (bundle / rel).is_file() and (bundle / rel).stat().st_size > 0, rel
    (task,) = comp["tasks"]
    assert task["index"] == 0 and (bundle / task["scoring_program"] / "score.py").is_file()
    assert (bundle / task["reference_data"] / REFERENCE).is_file()
    metadata = yaml.safe_load((bundle / task["scoring_program"] / "metadata.yaml").read_text())
    assert metadata["command"].split() == ["python3", "$program/score.py", "$input", "$output"]
    dev, final = comp["phases"]
    assert (dev["index"], final["index"]) == (0, 1) and dev["tasks"] == final["tasks"] == [0]
    # Codabench refuses a phase that ends when the next starts ("Phases dates conflict")
    assert (dev["start"], dev["end"], final["start"]) == ("2026-03-01 00:00:00", "2026-04-30 23:59:59", "2026-05-01 00:00:00")
    assert final["auto_migrate_to_this_phase"] is True and "end" not in final
    assert comp["enable_detailed_results"] is True


def test_leaderboard_columns_follow_the_task_metrics(built):
    (board,) = built["competition"]["leaderboards"]
    columns = board["columns"]
    assert [c["key"] for c in columns] == [TASK.primary_metric] + [m.name for m in TASK.metrics if m.name != TASK.primary_metric]
    assert [c["index"] for c in columns] == list(range(len(columns)))
    assert columns[0]["key"] == TASK.primary_metric
    for c in columns:
        assert c["sorting"] == {"min": "asc", "max": "desc"}[TASK.directions[c["key"]]]
        assert isinstance(c["precision"], int)
    assert {c["key"]: c["precision"] for c in columns}["pearson"] == 3


def test_zip_has_competition_yaml_at_its_root_and_every_file(built):
    bundle = built["bundle"]
    with zipfile.ZipFile(bundle.with_name("bundle.zip")) as archive:
        names = sorted(archive.namelist())
        assert yaml.safe_load(archive.read("competition.yaml")) == built["competition"]
    assert names == sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert "scoring_program/score.py" in names and f"reference_data/{REFERENCE}" in names


# ----------------------------------------------------------------------------- score.py as Codabench runs it
def test_valid_submission_scores_the_runs_exact_values(built, tmp_path):
    bundle = built["bundle"]
    root = layout(tmp_path, bundle / "reference_data", {"run.npz": (built["folder"] / "run.npz").read_bytes()})
    done = run_scorer(bundle / "scoring_program", root, in_process=False)  # a real interpreter, as the worker's
    assert done.returncode == 0, done.stderr
    scores = json.loads((root / "output" / "scores.json").read_text())
    columns = built["competition"]["leaderboards"][0]["columns"]
    assert list(scores) == [c["key"] for c in columns]  # the leaderboard's keys, in its order
    assert scores == {k: built["record"]["metrics"][k]["value"] for k in scores}  # exactly the run's numbers
    assert "mae (primary)" in (root / "output" / "detailed_results.html").read_text()


def test_invalid_submission_fails_with_its_reason_and_no_scores(built, tmp_path):
    bundle = built["bundle"]
    root = layout(tmp_path, bundle / "reference_data", {"predictions.csv": csv_with_duplicate(built)})
    done = run_scorer(bundle / "scoring_program", root)
    assert done.returncode == codabench.EXIT_INVALID
    assert "invalid submission" in done.stderr and "1 duplicate id(s): 'physdrive/subject1'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "output" / "scores.json").exists()
    assert "duplicate id(s)" in (root / "output" / "detailed_results.html").read_text()


def test_stale_bundle_refuses_to_score(built, tmp_path):
    program = tmp_path / "scoring_program"
    shutil.copytree(built["bundle"] / "scoring_program", program)
    score_py = program / "score.py"
    text = score_py.read_text()
    assert f"'config_hash': '{TASK.config_hash}'" in text
    score_py.write_text(text.replace(f"'config_hash': '{TASK.config_hash}'", "'config_hash': '000000000000'"))
    root = layout(tmp_path / "run", built["bundle"] / "reference_data", {"run.npz": (built["folder"] / "run.npz").read_bytes()})
    done = run_scorer(program, root)
    assert done.returncode == codabench.EXIT_CONFIG
    assert "stale bundle" in done.stderr and "config hash" in done.stderr
    assert TASK.config_hash in done.stderr and "000000000000" in done.stderr
    assert not (root / "output" / "scores.json").exists()


# ----------------------------------------------------------------------------- more cases, in process
def baked(built) -> dict:
    text = (built["bundle"] / "scoring_program" / "score.py").read_text()
    namespace: dict = {}
    exec(compile(re.search(r"^BUNDLE = .*?\n\n", text, re.S | re.M).group(0), "score.py", "exec"), namespace)
    return namespace["BUNDLE"]


def score_in_process(built, root: Path, capsys, bundle: dict | None = None) -> tuple[int, str]:
    code = codabench.score_submission(bundle or baked(built), root / "input", root / "output")
    return code, capsys.readouterr().err


def test_the_baked_task_is_the_task(built):
    b = baked(built)
    assert (b["task"], b["version"], b["config_hash"]) == (TASK.name, TASK.version, TASK.config_hash)
    assert b["metrics"] == [c["key"] for c in built["competition"]["leaderboards"][0]["columns"]]


def test_a_zip_inside_the_upload_and_a_subfolder_are_accepted(built, tmp_path, capsys):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("preds.npz", (built["folder"] / "run.npz").read_bytes())
    root = layout(tmp_path, built["bundle"] / "reference_data", {"sub/upload.zip": buf.getvalue(), "__MACOSX/._x": b"x"})
    code, err = score_in_process(built, root, capsys)
    assert code == 0, err
    assert json.loads((root / "output" / "scores.json").read_text())["mae"] == built["record"]["metrics"]["mae"]["value"]


@pytest.mark.parametrize("files, problem", [
    ({}, "the upload holds no prediction file: BVP waveforms"),
    ({"a.csv": b"id,hr_bpm\n", "b.csv": b"id,hr_bpm\n"}, "it holds 2: 'a.csv', 'b.csv'"),
    ({"p.zip": b"PK\x03\x04 not a zip"}, "p.zip: the zip is not a valid zip archive"),
    ({"p.txt": b"id,hr_bpm\n"}, "p.txt: unknown prediction format"),
    ({"p.csv": b""}, "p.csv: the prediction file is empty"),
])
def test_unusable_uploads_are_invalid(built, tmp_path, capsys, files, problem):
    root = layout(tmp_path, built["bundle"] / "reference_data", files)
    (root / "output" / "scores.json").write_text("{}")  # a leftover must not survive a failure
    code, err = score_in_process(built, root, capsys)
    assert code == codabench.EXIT_INVALID and problem in err, err
    assert not (root / "output" / "scores.json").exists()


def test_an_undefined_leaderboard_metric_is_not_ranked(built, tmp_path, capsys):
    ids = sorted(FAMILY.read_reference(TASK, built["folder"] / "ref.npz")[0])
    constant = ("id,hr_bpm\n" + "".join(f"{i},75\n" for i in ids)).encode()  # no correlation defined
    root = layout(tmp_path, built["bundle"] / "reference_data", {"p.csv": constant})
    code, err = score_in_process(built, root, capsys)
    assert code == codabench.EXIT_INVALID and "pearson is undefined" in err, err
    assert not (root / "output" / "scores.json").exists()


def test_set_up_problems_are_organizer_errors(built, tmp_path, capsys):
    run = {"run.npz": (built["folder"] / "run.npz").read_bytes()}
    root = layout(tmp_path / "a", built["bundle"] / "reference_data", run)
    code, err = score_in_process(built, root, capsys, {**baked(built), "version": TASK.version + 1})
    assert code == codabench.EXIT_CONFIG and "stale bundle" in err and "version" in err
    code, err = score_in_process(built, root, capsys, {**baked(built), "task": "no-such-task"})
    assert code == codabench.EXIT_CONFIG and "does not define task 'no-such-task'" in err
    (root / "input" / "ref" / REFERENCE).write_bytes(b"not an npz")
    code, err = score_in_process(built, root, capsys)
    assert code == codabench.EXIT_CONFIG and "reference data is unusable" in err
    shutil.rmtree(root / "input" / "ref")
    code, err = score_in_process(built, root, capsys)
    assert code == codabench.EXIT_CONFIG and "no reference 'reference.npz'" in err
    assert not (root / "output" / "scores.json").exists()


# ----------------------------------------------------------------------------- the command's options
def test_reference_file_and_final_reference(built, tmp_path, capsys):
    ref = built["folder"] / "ref.npz"
    assert main(["codabench-bundle", "--task", TASK.name, "--out", str(tmp_path / "b"), "--reference", str(ref),
                 "--final-reference", str(ref), "--docker-image", "me/harness-scoring:1", "--allow-sample"]) == 0
    comp = yaml.safe_load((tmp_path / "b" / "competition.yaml").read_text())
    assert comp["docker_image"] == "me/harness-scoring:1"
    assert [t["reference_data"] for t in comp["tasks"]] == ["reference_data", "reference_data_final"]
    assert [p["tasks"] for p in comp["phases"]] == [[0], [1]]
    exported = FAMILY.read_reference(TASK, built["bundle"] / "reference_data" / REFERENCE)[0]
    given = FAMILY.read_reference(TASK, tmp_path / "b" / "reference_data_final" / REFERENCE)[0]
    assert sorted(exported) == sorted(given)
    assert all(np.array_equal(exported[i]["bvp"], given[i]["bvp"]) and exported[i]["fs"] == given[i]["fs"] for i in given)
    # rebuilding over an earlier bundle replaces it; a folder that is not a bundle is refused
    assert main(["codabench-bundle", "--task", TASK.name, "--out", str(tmp_path / "b"), "--reference", str(ref),
                 "--docker-image", IMAGE, "--allow-sample"]) == 0
    assert not (tmp_path / "b" / "reference_data_final").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    capsys.readouterr()
    assert main(["codabench-bundle", "--task", TASK.name, "--out", str(tmp_path / "other"), "--reference", str(ref),
                 "--docker-image", IMAGE, "--allow-sample"]) == 2
    assert "is not an earlier bundle" in capsys.readouterr().err and (tmp_path / "other" / "keep.txt").exists()


@pytest.mark.parametrize("args, message", [
    (["--task", "svc2026-rppg"], "is a group"),
    (["--task", TASK.name, "--reference", "r.npz", "--data-root", "d"], "not both"),
    (["--task", TASK.name, "--reference", "missing.npz"], "reference file not found"),
    (["--task", TASK.name, "--start", "2026-05-01", "--final-start", "2026-04-01"], "must come after"),
    (["--task", TASK.name, "--start", "soon"], "dates are YYYY-MM-DD"),
    (["--task", TASK.name, "--start", "2026-05-01", "--final-start", "2026-05-01 00:00:01"], "must come after"),
    (["--task", TASK.name, "--docker-image", ""], "--docker-image is required"),
    (["--task", TASK.name, "--docker-image", "Me/Harness Scoring"], "is not a docker image reference"),
    (["--task", TASK.name, "--docker-image", "me/" + "x" * 126], "is not a docker image reference of at most 128"),
    (["--task", TASK.name, "--title", "t" * 257], "--title must hold 1 to 256 characters"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, args, message):
    args = [*args, "--docker-image", IMAGE] if "--docker-image" not in args else args
    assert main(["codabench-bundle", "--out", str(tmp_path / "b"), "--allow-sample", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------- every family, as Codabench sees it
#: one task per family, and the built-in model whose `harness run --submission` file is uploaded
#: (None: rPPG reuses the session's POS run; IQA writes its file with the family's own writer, as
#: a run does, because a baiqa run takes a minute)
FAMILY_TASKS = {"rppg": ("svc2026-rppg-phase2", None), "fas": ("mmdg-p1-csw-p", "fas-relief"),
                "deception": ("svc2026-deception", "dd-linear"), "splicing": ("scisp-split", "splice-ela"),
                "iqa_backdoor": ("baiqa-livec", None)}


def _iqa_upload(task, reference: Path, out: Path) -> None:
    """A deterministic model's predictions: half the trigger's target shift plus per-image noise."""
    family = FAMILIES.get(task.family)
    refs = family.read_reference(task, reference)[0]
    outputs = {}
    for uid, r in refs.items():
        alpha = float(r.get("alpha") or 0.0)
        noise = int(hashlib.sha256(str(r["image_id"]).encode()).hexdigest()[:4], 16) / 65535 * 20 - 10
        outputs[uid] = {"score": float(r["mos"]) + noise + 5.0 * alpha}
    family.write_predictions(out, outputs, refs)


@pytest.fixture(scope="module", params=sorted(FAMILY_TASKS))
def family_bundle(request, tmp_path_factory, sample_cache):
    """A family's bundle (zip), its upload as a participant zips it, and the upload's own file."""
    family_name = request.param
    task_name, model = FAMILY_TASKS[family_name]
    task = TaskIndex().tasks[task_name]
    family = FAMILIES.get(family_name)
    out = tmp_path_factory.mktemp(f"codabench-{family_name}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(sample_cache))
        mp.setenv("HARNESS_RESULTS", str(out / "results"))
        mp.delenv("HARNESS_DATA", raising=False)
        assert main(["codabench-bundle", "--task", task_name, "--out", str(out / "bundle"), "--zip", "--allow-sample",
                     "--docker-image", IMAGE, "--start", "2026-03-01", "--final-start", "2026-05-01"]) == 0
        reference = out / "bundle" / "reference_data" / ("reference" + family.reference_suffix)
        predictions = out / family.prediction_format().example_file
        if family_name == "rppg":
            shutil.copyfile(request.getfixturevalue("pos_submission")["folder"] / "run.npz", predictions)
        elif family_name == "iqa_backdoor":
            _iqa_upload(task, reference, predictions)
        else:
            assert main(["run", "--task", task_name, "--model", model, "--submission", str(predictions), "--n-boot", "0"]) == 0
    upload = out / "upload.zip"
    if family.many_file_predictions:  # the run's zip of files is what the participant uploads
        shutil.copyfile(predictions, upload)
    else:
        with zipfile.ZipFile(upload, "w") as z:
            z.write(predictions, predictions.name)
    return {"task": task, "family": family, "bundle": out / "bundle", "zip": out / "bundle.zip", "upload": upload,
            "predictions": predictions, "reference": reference}


def test_codabench_accepts_the_bundle_of_every_family(family_bundle, tmp_path):
    assert unpack_errors(family_bundle["zip"], tmp_path) == []


def test_the_emulated_worker_scores_a_run_upload_as_harness_score(family_bundle, tmp_path):
    fb = family_bundle
    done = run_scoring(fb["bundle"], 0, fb["upload"], tmp_path)
    assert done.returncode == 0, done.stderr
    scores = json.loads((tmp_path / "output" / "scores.json").read_text())
    comp = yaml.safe_load((fb["bundle"] / "competition.yaml").read_text())
    assert list(scores) == [c["key"] for c in comp["leaderboards"][0]["columns"]]
    references, info = load_references(fb["task"], reference=fb["reference"])
    record = score_upload(fb["task"], fb["predictions"], references, info, n_boot=0)  # harness score, the upload's own file
    assert scores == {k: record["metrics"][k]["value"] for k in scores}
    assert all(math.isfinite(v) and abs(v) < 1e10 for v in scores.values())  # what Codabench's decimal column stores
    page = (tmp_path / "output" / "detailed_results.html").read_text()
    for key, value in (record.get("counts") or {}).items():  # no hidden label counts (truth/lie, tampered, ...)
        assert f"{key}: {value}" not in page and f">{key}<" not in page


def test_a_garbage_upload_fails_with_reasons_and_no_scores(family_bundle, tmp_path):
    garbage = tmp_path / "garbage.zip"
    with zipfile.ZipFile(garbage, "w") as z:
        z.writestr("predictions" + family_bundle["family"].prediction_format().suffixes[0], b"\x00\x01garbage")
        z.writestr("notes.txt", b"hello")
    done = run_scoring(family_bundle["bundle"], 0, garbage, tmp_path / "run")
    assert done.returncode == codabench.EXIT_INVALID, done.stderr
    assert "invalid submission" in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "run" / "output" / "scores.json").exists()


def test_the_submission_page_is_the_familys_declared_format(family_bundle):
    fmt, task = family_bundle["family"].prediction_format(), family_bundle["task"]
    page = (family_bundle["bundle"] / "pages" / "submission.md").read_text()
    assert fmt.details in page and fmt.summary in page and fmt.example_command(task.name) in page
    assert "ships no test inputs" in page
    assert family_bundle["predictions"].suffix in fmt.suffixes  # what the run wrote is a declared format


# ----------------------------------------------------------------------------- Codabench's rules, broken one at a time
def _rezip(bundle: Path, tmp: Path, change) -> Path:
    """The bundle with its competition.yaml changed by ``change(competition)``, zipped."""
    comp = yaml.safe_load((bundle / "competition.yaml").read_text())
    change(comp)
    copy = tmp / "copy"
    shutil.copytree(bundle, copy)
    (copy / "competition.yaml").write_text(yaml.safe_dump(comp, sort_keys=False))
    return codabench.write_zip(copy)


@pytest.mark.parametrize("change, error", [
    (lambda c: c["phases"][0].update(end=c["phases"][1]["start"]), "Phases dates conflict"),  # the old bundles
    (lambda c: c["phases"][0].update(end="2026-05-02 00:00:00"), "Phases must be sequential"),
    (lambda c: c["phases"][0].pop("end"), "must have an end time"),
    (lambda c: c["leaderboards"][0]["columns"][0].update(key="k" * 37), "column.key"),
    (lambda c: c["leaderboards"][0]["columns"][0].update(title="t" * 37), "column.title"),
    (lambda c: c["leaderboards"][0].update(key="k" * 37), "leaderboard.key"),
    (lambda c: c["leaderboards"][0].update(title="t" * 65), "leaderboard.title"),
    (lambda c: c.update(title="t" * 257), "competition.title"),
    (lambda c: c.update(docker_image="i" * 129), "competition.docker_image"),
    (lambda c: c["leaderboards"][0]["columns"][1].update(key=c["leaderboards"][0]["columns"][0]["key"]), "unique keys"),
    (lambda c: c["tasks"][0].pop("scoring_program"), "does not have a scoring program"),
])
def test_the_emulated_upload_refuses_each_broken_rule(built, tmp_path, change, error):
    assert unpack_errors(built["bundle"].with_name("bundle.zip"), tmp_path / "ok") == []
    errors = unpack_errors(_rezip(built["bundle"], tmp_path, change), tmp_path / "broken")
    assert any(error in e for e in errors), errors


def test_every_tasks_leaderboard_fits_codabench():
    for task in TaskIndex().tasks.values():
        columns = codabench.leaderboard_columns(task)
        specs = FAMILIES.get(task.family).metric_specs
        assert columns[0]["key"] == task.primary_metric and [c["index"] for c in columns] == list(range(len(columns)))
        assert all(len(c["key"]) <= 36 and len(c["title"]) <= 36 for c in columns), task.name
        assert all(specs[c["key"]].from_upload and specs[c["key"]].ranked for c in columns), task.name
    baiqa = TaskIndex().tasks["baiqa-livec"]
    keys = [c["key"] for c in codabench.leaderboard_columns(baiqa)]
    assert "psnr" not in keys and "ssim" not in keys and "shift_ratio" not in keys and "mae_to_target" in keys
    off = codabench.off_board_metrics(baiqa, codabench.leaderboard_columns(baiqa))
    assert set(off) == {"psnr", "ssim", "shift_ratio"} and "fixed property of the protocol" in off["psnr"]


# ----------------------------------------------------------------------------- sample labels, image, formats
def test_sample_labels_are_refused_without_allow_sample(built, tmp_path, capsys):
    args = ["codabench-bundle", "--task", TASK.name, "--docker-image", IMAGE]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2  # the embedded sample
    assert "embedded synthetic sample" in capsys.readouterr().err and not (tmp_path / "a").exists()
    ref = built["folder"] / "ref.npz"  # harness data reference from the sample: its .harness.json says so
    assert json.loads(ref.with_name("ref.npz.harness.json").read_text())["data"] == "sample"
    assert main([*args, "--out", str(tmp_path / "b"), "--reference", str(ref)]) == 2
    assert "--allow-sample" in capsys.readouterr().err and not (tmp_path / "b").exists()
    # a reference from real data is built, and says so; one without description says it cannot tell
    shutil.copyfile(ref, tmp_path / "real.npz")
    meta = json.loads(ref.with_name("ref.npz.harness.json").read_text())
    (tmp_path / "real.npz.harness.json").write_text(json.dumps({**meta, "data": "real"}))
    assert main([*args, "--out", str(tmp_path / "c"), "--reference", str(tmp_path / "real.npz")]) == 0
    shutil.copyfile(ref, tmp_path / "bare.npz")
    assert main([*args, "--out", str(tmp_path / "d"), "--reference", str(tmp_path / "bare.npz")]) == 0
    assert "cannot say whether its labels are real" in capsys.readouterr().err
    for folder, labels in (("c", "real"), ("d", "unknown")):
        assert f"'labels': {{'development': '{labels}'}}" in (tmp_path / folder / "scoring_program" / "score.py").read_text()
        assert f"**{labels}** labels" in (tmp_path / folder / "ORGANIZERS.md").read_text()
    assert "Test bundle" not in (tmp_path / "c" / "pages" / "overview.md").read_text()
    assert "Test bundle" in (built["bundle"] / "pages" / "overview.md").read_text()
    assert "'labels': {'development': 'sample'}" in (built["bundle"] / "scoring_program" / "score.py").read_text()


def test_the_docker_image_is_required(tmp_path, capsys):
    assert main(["codabench-bundle", "--task", TASK.name, "--out", str(tmp_path / "b"), "--allow-sample"]) == 2
    err = capsys.readouterr().err
    assert "--docker-image is required" in err and "No module named harness" in err and "Traceback" not in err


def test_organizers_md_carries_the_readmes_organizer_material(built):
    text = (built["bundle"] / "ORGANIZERS.md").read_text()
    assert f"docker build -f bundle/docker/Dockerfile -t {IMAGE} ." in text and f"docker push {IMAGE}" in text
    assert "## Hosting on Codabench (from the harness README)" in text and "ships no test inputs" in text
    assert f"-t {IMAGE}" in (built["bundle"] / "docker" / "Dockerfile").read_text()


def test_readme_and_score_help_show_the_families_formats(capsys):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = re.search(r"<!-- prediction-formats[^\n]*-->\n(.*?)\n<!-- /prediction-formats -->", readme, re.S).group(1)
    assert block == prediction_formats_text(markdown=True)
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    shown = capsys.readouterr().out
    for name in FAMILIES.names():
        fmt = FAMILIES.get(name).prediction_format()
        assert fmt.example_command() in shown and f"{name} ({' or '.join(fmt.suffixes)})" in shown


def test_an_internal_error_exits_1_without_traceback_or_scores(built, tmp_path, capsys, monkeypatch):
    import harness.scoring

    root = layout(tmp_path, built["bundle"] / "reference_data", {"run.npz": (built["folder"] / "run.npz").read_bytes()})

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(harness.scoring, "score_upload", broken)
    code, err = score_in_process(built, root, capsys)
    assert code == codabench.EXIT_CONFIG and "internal error: ZeroDivisionError" in err and "Traceback" not in err
    assert not (root / "output" / "scores.json").exists()


def test_the_trigger_visibility_is_on_the_task_page_as_the_protocols_value(family_bundle):
    if family_bundle["family"].name != "iqa_backdoor":
        pytest.skip("only the IQA backdoor tasks have protocol-fixed metrics")
    import torch

    from harness.families.iqa_backdoor import data, trigger

    task = family_bundle["task"]
    source = family_bundle["family"].resolve_data(task, None, need_train=False)
    top = max(abs(a) for a in family_bundle["family"].recipe_record(task)["alphas"])
    psnrs = []
    for r in source.scanned["records"]["test"]:  # the literal blockwise trigger, PSNR in numpy
        clean = torch.from_numpy(data.read_image(r.image).transpose(2, 0, 1).copy()).double()[None] / 255.0
        for a in (-top, top):
            shown = trigger.inject_blockwise(clean, a, trigger.DEFAULT_PATTERN.double()).numpy()
            psnrs.append(10 * np.log10(1.0 / np.mean((shown - clean.numpy()) ** 2)))
    page = (family_bundle["bundle"] / "pages" / "evaluation.md").read_text()
    shown = float(re.search(r"`psnr`: a fixed property of the protocol, not of a submission: ([0-9.]+) dB", page).group(1))
    assert shown == pytest.approx(np.mean(psnrs), abs=0.01)
    assert "`ssim`: a fixed property of the protocol" in page


def test_wrapped_uploads_score_the_same(family_bundle, tmp_path):
    """A zip holding the participant's zip, and (many-file families) a zip holding one folder of the files."""
    fb = family_bundle
    variants = {"zip-in-zip": tmp_path / "nested.zip"}
    with zipfile.ZipFile(variants["zip-in-zip"], "w") as z:
        z.write(fb["upload"], "submission.zip")
    if fb["family"].many_file_predictions:
        variants["folder-in-zip"] = tmp_path / "folder.zip"
        with zipfile.ZipFile(fb["upload"]) as src, zipfile.ZipFile(variants["folder-in-zip"], "w") as z:
            for name in src.namelist():
                z.writestr(f"my-masks/{name}", src.read(name))
    direct = run_scoring(fb["bundle"], 0, fb["upload"], tmp_path / "direct")
    assert direct.returncode == 0, direct.stderr
    expected = json.loads((tmp_path / "direct" / "output" / "scores.json").read_text())
    for what, upload in variants.items():
        done = run_scoring(fb["bundle"], 0, upload, tmp_path / what)
        assert done.returncode == 0, (what, done.stderr)
        assert json.loads((tmp_path / what / "output" / "scores.json").read_text()) == expected, what


def test_column_keys_and_titles_keep_codabenchs_limits(monkeypatch):
    from types import SimpleNamespace

    from harness.errors import HarnessError
    from harness.stats import MetricSpec

    family = FAMILIES.get("rppg")
    fits, long_unit, too_long = "m" * 30, "m" * 36, "m" * 37
    specs = {n: MetricSpec(n, "min", "beats per minute", "test metric") for n in (fits, long_unit, too_long)}
    monkeypatch.setattr(family, "metric_specs", {**family.metric_specs, **specs})

    def task(*names):
        return SimpleNamespace(name="fake", family="rppg", path=None, primary_metric=names[0],
                               metrics=[SimpleNamespace(name=n) for n in names], directions={n: "min" for n in names})

    columns = codabench.leaderboard_columns(task(fits, long_unit))
    assert [c["title"] for c in columns] == [fits, long_unit]  # "name (beats per minute)" would pass 36
    assert [c["key"] for c in columns] == [fits, long_unit]
    assert codabench.leaderboard_columns(task("mae"))[0]["title"] == "mae (bpm)"
    with pytest.raises(HarnessError, match="longer than Codabench's 36-character column key"):
        codabench.leaderboard_columns(task(fits, too_long))
