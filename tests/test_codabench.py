"""`harness codabench-bundle`: the bundle's competition.yaml matches what its scoring program writes,
and the scoring program — run as Codabench runs it — scores a run's submission to the run's exact
numbers, refuses invalid files without scores, and refuses to run from a stale bundle."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness import codabench
from harness.cli import main
from harness.families.rppg import FAMILY
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


def run_scorer(program: Path, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(program / "score.py"), str(root / "input"), str(root / "output")],
                          cwd=program, capture_output=True, text=True, timeout=300)


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
    done = run_scorer(bundle / "scoring_program", root)
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
    ({"p.zip": b"PK\x03\x04 not a zip"}, "p.zip: not a valid zip archive"),
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
