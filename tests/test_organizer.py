"""The organizer's workflow: participant copy and reference, a participant's run on the copy,
uploads, batch scoring into declared phases, the team board in every format, early checks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.task import TaskIndex
from harness.errors import HarnessError
from harness.leaderboard import RANK_RULE, render, team_board
from harness.submissions import SubmissionStore, load_task


def _worse_deception(src: Path, dst: Path) -> None:
    """Scores flipped: P(truth) → 1 − P(truth)."""
    lines = [line.split() for line in src.read_text().splitlines() if line.strip()]
    dst.write_text("".join(f"{i} {1 - float(s)!r}\n" for i, s in lines))


def _worse_rppg(src: Path, dst: Path) -> None:
    """Every waveform replaced by seeded noise of the same length."""
    from harness.families.rppg.predictions import write_npz

    with np.load(src, allow_pickle=False) as z:
        fs = float(z["__fs__"])
        ids = [k for k in z.files if k != "__fs__"]
        rng = np.random.default_rng(0)
        write_npz(dst, {i: rng.standard_normal(z[i].shape[0]) for i in ids}, {i: fs for i in ids})


def _labels_gone_deception(copy: Path) -> None:
    store = copy / "dolos" / "features" / "test"
    meta = json.loads((store / "store.json").read_text())
    clips = json.loads((store / "clips.json").read_text())
    assert meta["labels"] is False and meta["ids"] == "opaque"
    assert all(c["label"] is None and c["videoname"].startswith("dd-") for c in clips)


def _labels_gone_rppg(copy: Path) -> None:
    videos = sorted((copy / "physdrive").glob("*/vid.avi"))
    assert videos and all(v.parent.name.startswith("p-") for v in videos)
    assert not list((copy / "physdrive").rglob("ground_truth.txt"))


DAYS = {
    "deception": dict(task="svc2026-deception", model="dd-linear", suffix=".txt", reference=".csv",
                      worse=_worse_deception, labels_gone=_labels_gone_deception),
    "rppg": dict(task="svc2026-rppg-phase2", model="pos", suffix=".npz", reference=".npz",
                 worse=_worse_rppg, labels_gone=_labels_gone_rppg),
}


def day_primary(task: str) -> str:
    return TaskIndex().tasks[task].primary_metric


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("family", sorted(DAYS))
def test_the_organizers_day_on_the_sample(family, tmp_path, capsys, one_torch_thread, request):
    day = DAYS[family]
    pos_submission = request.getfixturevalue("pos_submission") if family == "rppg" else None
    task = day["task"]
    copy, reference = tmp_path / "for-participants", tmp_path / f"for-participants-reference{day['reference']}"

    # 1. reference and participant copy, in one step
    code, out, _ = _cli(capsys, "data", "participant-copy", "--task", task, "--data-root", "sample", "--out", str(copy))
    assert code == 0 and str(reference) in out
    meta = json.loads((copy / "participant.json").read_text())
    assert (meta["task"], meta["data"], meta["labels"], meta["ids"]) == (task, "sample", "withheld", "opaque")
    assert json.loads(Path(f"{reference}.harness.json").read_text())["data"] == "sample"
    day["labels_gone"](copy)
    assert "harness run --task " + task in (copy / "README.md").read_text()

    # 2. a participant's run on the copy writes the upload and scores nothing
    alpha = tmp_path / "uploads" / f"alpha{day['suffix']}"
    alpha.parent.mkdir()
    code, out, _ = _cli(capsys, "run", "--task", task, "--data-root", str(copy), "--model", day["model"],
                        "--submission", str(alpha), "--n-boot", "0")
    assert code == 0 and "nothing scored" in out and alpha.is_file()
    assert not list((tmp_path / "results").glob("runs/*/*/*/record.json"))  # no board entry from an unlabelled run
    day["worse"](alpha, alpha.with_name(f"beta{day['suffix']}"))

    # 3. batch scoring into a declared phase; a typo is refused before anything is read
    store = SubmissionStore(tmp_path / "results" / "submissions")
    if family == "deception":
        code, _, err = _cli(capsys, "score", "--task", task, "--submissions", str(alpha.parent), "--reference",
                            str(reference), "--phase", "Dev")
        assert code == 2 and "unknown phase 'Dev'. Did you mean 'dev'?" in err and not store.path(task).exists()
    code, out, _ = _cli(capsys, "score", "--task", task, "--submissions", str(alpha.parent), "--reference",
                        str(reference), "--phase", "dev", "--n-boot", "0")
    assert code == 0 and "recorded in phase 'dev' (sample labels)" in out
    if family == "deception":
        code, out, _ = _cli(capsys, "score", "--task", task, "--predictions", str(alpha), "--reference",
                            str(reference), "--team", "alpha", "--phase", "final", "--n-boot", "0")
        assert code == 0 and "recorded submission #3" in out and "team 'alpha' in phase 'final': scored, sample labels" in out
    assert {e["data"] for e in store.entries(task)} == {"sample"}

    # the upload scores exactly as a run on the labelled data
    if family == "rppg":
        direct = pos_submission["record"]["metrics"]
    else:
        code, out, _ = _cli(capsys, "run", "--task", task, "--data-root", "sample", "--model", day["model"],
                            "--n-boot", "0", "--json")
        direct = json.loads(out)["metrics"]
    uploaded = next(e for e in store.entries(task, "dev") if e["team"] == "alpha")["metrics"]
    assert {m: v["value"] for m, v in uploaded.items()} == pytest.approx({m: v["value"] for m, v in direct.items()},
                                                                          nan_ok=True)

    # 4. the team board as Markdown and HTML
    code, out, _ = _cli(capsys, "submissions", "leaderboard", "--task", task, "--phase", "dev")
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("phase dev, teams — data: sample")
    # alpha first; beta ranks 2, or shares rank 1 while its 95% CI overlaps alpha's (the one rank rule)
    alpha_ci = next(e for e in store.entries(task, "dev") if e["team"] == "alpha")["metrics"][day_primary(task)]
    beta_ci = next(e for e in store.entries(task, "dev") if e["team"] == "beta")["metrics"][day_primary(task)]
    overlap = alpha_ci["ci_low"] is not None and beta_ci["ci_low"] is not None and \
        max(alpha_ci["ci_low"], beta_ci["ci_low"]) <= min(alpha_ci["ci_high"], beta_ci["ci_high"])
    assert lines[4].startswith("| 1 | alpha |") and lines[5].startswith(f"| {1 if overlap else 2} | beta |")
    assert "rehearsal, not a challenge result" in out and "one rule for the run board and the team board" in out
    if family == "deception":
        code, out, _ = _cli(capsys, "submissions", "leaderboard", "--task", task, "--phase", "dev", "--format", "html",
                            "--out", str(tmp_path / "board"))
        page = (tmp_path / "board" / f"{task}-dev.html").read_text()
        assert code == 0 and '<table id="board">' in page and 'data-model="alpha"' in page and "data: sample" in page


def test_participant_copy_never_replaces_and_keeps_the_reference_out_of_the_copy(tmp_path, capsys):
    task = "svc2026-deception"
    (tmp_path / "taken").mkdir()
    code, _, err = _cli(capsys, "data", "participant-copy", "--task", task, "--out", str(tmp_path / "taken"))
    assert code == 2 and "would replace something that exists" in err
    code, _, err = _cli(capsys, "data", "participant-copy", "--task", task, "--out", str(tmp_path / "copy"),
                        "--reference", str(tmp_path / "copy" / "ref.csv"))
    assert code == 2 and "must not be inside the participant copy" in err and not (tmp_path / "copy").exists()
    code, _, err = _cli(capsys, "data", "participant-copy", "--task", "dolos-fold1", "--out", str(tmp_path / "c2"))
    assert code == 2 and "not supported for this task" in err and not (tmp_path / "c2").exists()
    code, _, err = _cli(capsys, "data", "participant-copy", "--task", "mmdg-p1-cps-w", "--out", str(tmp_path / "c3"))
    assert code == 2 and "does not support the fas family yet" in err and not (tmp_path / "c3").exists()


def test_a_run_on_a_copy_needs_submission_and_a_wrong_suffix_fails_before_any_data_is_read(tmp_path, capsys, monkeypatch):
    from harness.family import FAMILIES

    def no_data(*args, **kwargs):
        raise AssertionError("data was read")

    monkeypatch.setattr(type(FAMILIES.get("deception")), "resolve_data", no_data)
    code, _, err = _cli(capsys, "run", "--task", "svc2026-deception", "--model", "dd-fusion", "--submission",
                        str(tmp_path / "p.npz"))
    assert code == 2 and "a deception prediction file is .txt or .csv" in err
    code, _, err = _cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "pos", "--submission",
                        str(tmp_path / "nowhere" / "p.npz"))
    assert code == 2 and "the folder of --submission does not exist" in err


@pytest.mark.parametrize("name, text, message", [
    ("p.txt", "0.25 dd-0001\n0.75 dd-0002\n", "the columns are swapped: each line is <id> <score>, the file has <score> <id>"),
    ("p.txt", "id score\ndd-0001 0.5\n", "must have no header line"),
    ("p.csv", "score,id\n0.5,dd-0001\n", "the columns are in another order: the header must be exactly 'id,score'"),
])
def test_swapped_columns_are_named(tmp_path, name, text, message):
    from harness.scoring import score_upload

    task = load_task("svc2026-deception")
    path = tmp_path / name
    path.write_text(text)
    refs = {"dd-0001": {"label": 1}, "dd-0002": {"label": 0}}
    with pytest.raises(HarnessError, match=message):
        score_upload(task, path, refs, {})


def _entry(store, task, team, value, low, high, file_hash, phase="dev"):
    metrics = {m.name: {"value": value, "n": 10, "ci_low": low, "ci_high": high} for m in task.metrics}
    return store.record(task=task.name, task_version=task.version, config_hash=task.config_hash, phase=phase,
                        team=team, file_hash=file_hash, status="scored", metrics=metrics, reasons=None,
                        directions=task.directions, primary_metric=task.primary_metric, reference="r", data="real")


def test_team_board_uses_the_run_boards_rank_rule_in_every_format(tmp_path):
    task = load_task("svc2026-deception")  # accuracy ↑ ranks
    store = SubmissionStore(tmp_path)
    _entry(store, task, "gamma", 0.60, 0.50, 0.65, "g")
    _entry(store, task, "alpha", 0.80, 0.70, 0.90, "a")
    _entry(store, task, "beta", 0.75, 0.69, 0.81, "b")   # its CI overlaps alpha's: rank shared
    _entry(store, task, "late", 0.80, 0.70, 0.90, "l")   # a full tie: the earlier upload goes first
    table = team_board(task, store.ranked(task, "dev"), "dev", "best")
    assert [(r.model, r.rank) for r in table.rows] == [("alpha", 1), ("late", 1), ("beta", 1), ("gamma", 4)]
    assert table.data == "real" and RANK_RULE.format(primary="accuracy") in table.notes
    csv_text = render(table, "csv")
    assert csv_text.splitlines()[0].startswith("rank,team,kind,accuracy,accuracy_std,accuracy_ci_low")
    assert csv_text.splitlines()[1].startswith("1,alpha,team,0.8,")
    assert "\\begin{tabular}{rlrrrrrrrrrl}" in render(table, "latex")
    assert [r["model"] for r in json.loads(render(table, "json"))["rows"]] == ["alpha", "late", "beta", "gamma"]
    assert '<th data-key="submitted"' in render(table, "html")


def test_phases_are_declared_by_the_task_or_once_per_store(tmp_path, capsys):
    task = load_task("svc2026-deception")
    store = SubmissionStore(tmp_path / "results" / "submissions")
    assert store.phases(task)[0] == ("dev", "final")
    with pytest.raises(HarnessError, match=r"unknown phase 'probe'\. Available: dev, final"):
        store.check_phase(task, "probe")
    code, out, _ = _cli(capsys, "submissions", "phases", "--set", "warmup,dev,final")
    assert code == 0 and store.phases(task)[0] == ("warmup", "dev", "final")
    assert store.check_phase(task, "warmup") == "warmup"
    code, _, err = _cli(capsys, "submissions", "leaderboard", "--task", task.name, "--phase", "Warmup")
    assert code == 2 and "Did you mean 'warmup'?" in err
    code, _, err = _cli(capsys, "submissions", "phases", "--set", "a,a")
    assert code == 2 and "distinct" in err
    declared = task.__class__(**{**task.__dict__, "phases": ("public", "private")})
    assert store.phases(declared)[0] == ("public", "private") and "task svc2026-deception" in store.phases(declared)[1]
