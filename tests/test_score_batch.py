"""`harness score --submissions DIR`: a folder of submissions scored in parallel worker processes —
the same numbers as single-file scoring, one store entry per submission, and a crash, a timeout
or a memory hog in one worker never stops the others."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

import harness.batch as batch_scorer
import harness.upload as upload_module
from harness.cli import main
from harness.families.rppg.family import FAMILY
from harness.files import json_default
from harness.scoring import INTERNAL_ERROR, score_file
from harness.task import TaskIndex
from harness.upload import raw_hash

TASK = TaskIndex().tasks["svc2026-rppg-phase2"]
N_BOOT = "20"


@pytest.fixture(scope="module")
def base(pos_submission):
    folder = pos_submission["folder"]
    z = np.load(folder / "run.npz")
    return {"folder": folder, "ref": folder / "ref.npz", "waves": {k: z[k] for k in z.files}}


def _npz(waves: dict, scale: float = 1.0, noise: float = 0.0, drop: str | None = None, rename: bool = False) -> bytes:
    rng = np.random.default_rng(7)
    arrays = {}
    for k, v in waves.items():
        if k == drop:
            continue
        if k != "__fs__":
            v = v * scale + noise * rng.standard_normal(v.shape)
            k = ("mmpd/" + k.split("/", 1)[1]) if rename else k
        arrays[k] = v
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def make_folder(path: Path, base, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


def valid_files(base) -> dict[str, bytes]:
    return {"teamA.npz": (base["folder"] / "run.npz").read_bytes(),
            "teamB.npz": _npz(base["waves"], scale=2.0, noise=0.3),
            "teamC.npz": _npz(base["waves"], noise=1.0)}


def malformed_files(base) -> dict[str, bytes]:
    return {"empty.csv": b"", "garbage.npz": b"\x00\x01garbage bytes\xff",
            "wrongids.npz": _npz(base["waves"], rename=True)}


def batch(capsys, folder: Path, results: Path, *extra: str) -> tuple[int, list[dict], str]:
    code = main(["score", "--task", TASK.name, "--submissions", str(folder), "--n-boot", N_BOOT,
                 "--results", str(results), "--json", *extra])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else []), err


def store(results: Path) -> list[dict]:
    path = results / "submissions" / f"{TASK.name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def plain(metrics: dict) -> dict:
    return json.loads(json.dumps(metrics, default=json_default))


# ----------------------------------------------------------------------------- the same numbers
def test_batch_equals_single_file_scoring_for_any_jobs(capsys, tmp_path, base):
    folder = make_folder(tmp_path / "subs", base, {**valid_files(base), **malformed_files(base)})
    ref = ["--reference", str(base["ref"])]
    runs = {}
    for jobs in ("1", "2"):
        results = tmp_path / f"res{jobs}"
        code, outcomes, err = batch(capsys, folder, results, "--jobs", jobs, *ref)
        assert code == 1, err  # the batch completed, some submissions failed
        runs[jobs] = outcomes
        entries = store(results)
        assert sorted(e["team"] for e in entries) == ["empty", "garbage", "teamA", "teamB", "teamC", "wrongids"]
        assert all(e["phase"] == "final" and e["extra"]["file"] and e["extra"]["seconds"] >= 0 for e in entries)
        by_team = {e["team"]: e for e in entries}
        for o in outcomes:
            assert by_team[o["team"]]["status"] == o["status"]
            assert by_team[o["team"]]["metrics"] == o["metrics"]
    assert [o["team"] for o in runs["1"]] == ["empty", "garbage", "teamA", "teamB", "teamC", "wrongids"]
    for one, two in zip(runs["1"], runs["2"]):
        assert (one["team"], one["status"], one["metrics"], one["reasons"], one["file_hash"]) == \
               (two["team"], two["status"], two["metrics"], two["reasons"], two["file_hash"])
    outcome = {o["team"]: o for o in runs["2"]}
    for team in ("teamA", "teamB", "teamC"):
        assert outcome[team]["status"] == "scored"
        single = score_file(TASK, folder / f"{team}.npz", reference=base["ref"], n_boot=int(N_BOOT))
        assert outcome[team]["metrics"] == plain(single["metrics"])
        assert outcome[team]["file_hash"] == single["file"]["sha256"]
        assert outcome[team]["peak_mb"] > 0
    assert outcome["teamA"]["metrics"] != outcome["teamB"]["metrics"]
    # failed ones: participant-safe reasons, no absolute path, no traceback
    assert outcome["empty"]["reasons"] == ["the prediction file is empty"]
    assert outcome["empty"]["file_hash"] == hashlib.sha256(b"").hexdigest()
    assert "the .npz is not a valid zip archive" in outcome["garbage"]["reasons"][0]
    assert "none of the 8 ids belongs to task" in outcome["wrongids"]["reasons"][0]
    for o in runs["2"]:
        assert all(str(tmp_path) not in r and "Traceback" not in r for r in o["reasons"] or [])
    # the default table: team, status, primary metric or first reason, seconds, peak MB
    assert main(["score", "--task", TASK.name, "--submissions", str(folder), "--n-boot", N_BOOT, "--jobs", "2",
                 "--results", str(tmp_path / "res1"), *ref]) == 1
    table = capsys.readouterr().out
    assert "| team " in table and TASK.primary_metric in table and "peak MB" in table
    assert "the prediction file is empty" in table
    assert len(store(tmp_path / "res1")) == 6  # rescoring the same files is idempotent


def test_a_crash_a_timeout_and_a_memory_hog_never_stop_the_others(capsys, tmp_path, base, monkeypatch):
    """fork inherits the monkeypatched family: a team's file makes its worker misbehave."""
    original = FAMILY.read_predictions
    parent = os.getpid()

    def misbehave(task, upload, references, problems):
        stem = Path(upload.name).stem
        if stem == "slow":
            import time
            time.sleep(60)
        elif stem == "crash":
            os._exit(3)
        elif stem == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        elif stem == "hog":
            bytearray(4 * 1024 ** 3)
        elif stem == "buggy":
            raise RuntimeError(f"secret detail {base['ref']}")
        return original(task, upload, references, problems)

    monkeypatch.setattr(FAMILY, "read_predictions", misbehave)
    real_read_upload = batch_scorer.read_upload
    reads = tmp_path / "reads.log"

    def read_upload(path, *args, **kwargs):  # a worker dying before it could read an empty file
        with reads.open("a") as log:
            log.write(f"{'parent' if os.getpid() == parent else 'worker'} {Path(path).name}\n")
        if os.getpid() != parent and Path(path).name == "dies-early.csv":
            os._exit(4)
        return real_read_upload(path, *args, **kwargs)

    monkeypatch.setattr(batch_scorer, "read_upload", read_upload)
    monkeypatch.setattr(upload_module, "read_upload", read_upload)
    run = (base["folder"] / "run.npz").read_bytes()
    files = {f"{name}.npz": run for name in ("slow", "crash", "killed", "hog", "buggy")}
    folder = make_folder(tmp_path / "subs", base, {**files, "teamA.npz": run, "teamB.npz": _npz(base["waves"], noise=1.0),
                                                   "dies-early.csv": b"", "garbage.npz": b"not a zip"})
    results = tmp_path / "res"
    code, outcomes, _ = batch(capsys, folder, results, "--jobs", "3", "--time-limit", "4", "--memory-limit", "300",
                                "--reference", str(base["ref"]), "--output", str(tmp_path / "out"))
    assert code == 1
    got = {o["team"]: o for o in outcomes}
    assert got["teamA"]["status"] == got["teamB"]["status"] == "scored"
    assert got["slow"]["reasons"] == ["scoring exceeded the time limit of 4 s"]
    assert got["crash"]["reasons"] == ["the scorer process died (exit code 3)"]
    assert got["killed"]["reasons"] == ["the scorer process died (signal SIGKILL) — possibly the memory limit of 300 MB"]
    assert got["hog"]["reasons"] == ["scoring exceeded the memory limit of 300 MB"]
    assert got["buggy"]["reasons"] == [INTERNAL_ERROR]
    assert "secret detail" in (tmp_path / "out" / "buggy" / "organizer.log").read_text()  # the organizer's, not the participant's
    assert got["dies-early"]["reasons"] == ["the scorer process died (exit code 4)"]
    assert got["dies-early"]["file_hash"] == hashlib.sha256(b"").hexdigest()
    assert "not a valid zip" in got["garbage"]["reasons"][0]
    assert got["garbage"]["file_hash"] == hashlib.sha256(b"not a zip").hexdigest()
    # each upload is read once, by its worker; only a worker that died before reading leaves it to the parent
    read = sorted(reads.read_text().splitlines())
    assert read == sorted([f"worker {name}" for name in os.listdir(folder)] + ["parent dies-early.csv"])
    entries = store(results)
    assert sorted(e["team"] for e in entries) == sorted(got)  # exactly one entry each
    by_team = {e["team"]: e for e in entries}
    for team in ("slow", "crash", "killed", "hog", "buggy"):
        assert by_team[team]["status"] == "failed" and by_team[team]["reasons"] == got[team]["reasons"]
        assert by_team[team]["file_hash"] == got["teamA"]["file_hash"]  # the same bytes as teamA
    assert by_team["slow"]["extra"]["seconds"] >= 4 and by_team["slow"]["extra"]["peak_mb"] is None
    assert by_team["teamA"]["metrics"] == plain(score_file(TASK, folder / "teamA.npz", reference=base["ref"],
                                                           n_boot=int(N_BOOT))["metrics"])


# ----------------------------------------------------------------------------- the output folder
def test_output_layout(capsys, tmp_path, base):
    files = {"teamA.npz": (base["folder"] / "run.npz").read_bytes(), "empty.csv": b""}
    folder = make_folder(tmp_path / "subs", base, files)
    (folder / "teamB").mkdir()  # a folder is one submission, not a prediction file for rPPG
    (folder / "teamB" / "p.npz").write_bytes(files["teamA.npz"])
    (folder / ".hidden.csv").write_bytes(b"ignored")
    out = tmp_path / "out"
    code, outcomes, _ = batch(capsys, folder, tmp_path / "res", "--jobs", "2", "--phase", "dev",
                              "--reference", str(base["ref"]), "--output", str(out))
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["empty", "summary.json", "teamA", "teamB"]
    assert sorted(p.name for p in (out / "teamA").iterdir()) == ["organizer.log", "samples.csv", "score.json"]
    assert json.loads((out / "teamA" / "score.json").read_text())["status"] == "scored"
    assert json.loads((out / "teamB" / "score.json").read_text())["reasons"] == [
        "a folder is not a prediction file for this task; submit one file (or a .zip holding one)"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["phase"] == "dev" and summary["jobs"] == 2
    assert [o["team"] for o in summary["submissions"]] == ["empty", "teamA", "teamB"] == [o["team"] for o in outcomes]
    assert {e["phase"] for e in store(tmp_path / "res")} == {"dev"}


def test_every_submission_scored_exits_0(capsys, tmp_path, base):
    folder = make_folder(tmp_path / "subs", base, {"teamA.npz": (base["folder"] / "run.npz").read_bytes()})
    code, _, err = batch(capsys, folder, tmp_path / "res", "--jobs", "4")
    assert code == 2 and "needs the ground truth named" in err  # never the sample by accident
    code, outcomes, err = batch(capsys, folder, tmp_path / "res", "--jobs", "4", "--data-root", "sample")
    assert code == 0, err
    assert "scored against the embedded synthetic sample" in err
    assert [o["status"] for o in outcomes] == ["scored"]


# ----------------------------------------------------------------------------- organizer errors
def error(capsys, *args: str) -> str:
    code = main(["score", "--task", TASK.name, *args])
    err = capsys.readouterr().err
    assert code == 2, err
    return err


def test_organizer_errors_are_refused_before_any_work(capsys, tmp_path, base):
    run = (base["folder"] / "run.npz").read_bytes()
    dup = make_folder(tmp_path / "dup", base, {"a.npz": run, "a.zip": run, "b.csv": b"x"})
    res = ["--results", str(tmp_path / "res"), "--data-root", "sample"]
    assert "needs the ground truth named" in error(capsys, "--submissions", str(dup), *res[:2])
    assert "several entries name the same team (team 'a': a.npz, a.zip)" in error(capsys, "--submissions", str(dup), *res)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"x")
    assert "holds no submissions" in error(capsys, "--submissions", str(empty), *res)
    assert f"{tmp_path / 'nope'}: the submissions folder does not exist" in error(
        capsys, "--submissions", str(tmp_path / "nope"), *res)
    good = make_folder(tmp_path / "good", base, {"a.npz": run})
    assert "--team is for a single --predictions file" in error(capsys, "--submissions", str(good), "--team", "x", *res)
    assert "--jobs must be ≥ 1" in error(capsys, "--submissions", str(good), "--jobs", "0", *res)
    assert "--memory-limit must be ≥ 0 MB (0: no limit)" in error(capsys, "--submissions", str(good), "--memory-limit", "-1", *res)
    assert "--time-limit must be > 0" in error(capsys, "--submissions", str(good), "--time-limit", "-1", *res)
    assert "--jobs applies to --submissions" in error(capsys, "--predictions", str(good / "a.npz"), "--jobs", "2")
    bad_ref = tmp_path / "ref.npz"
    bad_ref.write_bytes(b"not an npz")
    assert "malformed reference file" in error(capsys, "--submissions", str(good), "--reference", str(bad_ref), *res[:2])
    assert not (tmp_path / "res").exists()  # nothing recorded by any of these
    for args in ([], ["--predictions", str(good / "a.npz"), "--submissions", str(good)]):
        with pytest.raises(SystemExit) as exc:
            main(["score", "--task", TASK.name, *args])
        assert exc.value.code == 2
    assert "one of the arguments --predictions --submissions is required" in capsys.readouterr().err


def test_raw_hash_of_a_folder_covers_names_and_contents(tmp_path):
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "sub" / "x.png").write_bytes(b"1")
    h1 = raw_hash(a)
    (a / "sub" / "x.png").write_bytes(b"2")
    h2 = raw_hash(a)
    shutil.move(a / "sub" / "x.png", a / "sub" / "y.png")
    assert len({h1, h2, raw_hash(a)}) == 3


def test_a_linked_entry_is_recorded_failed_not_followed(capsys, tmp_path, base):
    folder = make_folder(tmp_path / "subs", base, {"real.npz": (base["folder"] / "run.npz").read_bytes()})
    (folder / "linked.npz").symlink_to(base["folder"] / "run.npz")
    code, outcomes, err = batch(capsys, folder, tmp_path / "res", "--reference", str(base["ref"]))
    assert code == 1, err
    by_team = {o["team"]: o for o in outcomes}
    assert by_team["real"]["status"] == "scored"
    assert by_team["linked"]["status"] == "failed" and by_team["linked"]["reasons"] == [
        "the prediction file is a link; only regular files are read (links, FIFOs and devices are refused)"]
