"""Submissions store: append-only, idempotent, ranked by the challenge rule, safe under concurrent and killed writers."""
from __future__ import annotations

import json
import multiprocessing
import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.submissions import SubmissionStore, load_task

TASK = """
    task: sub-task
    family: rppg
    version: {version}
    metrics:
      - {{name: mae, direction: min}}
      - {{name: pearson, direction: max}}
      - {{name: rmse, direction: min}}
    primary_metric: mae
    datasets: {{test: [ubfc-rppg]}}
    recipe: {{band: [{low}, 2.5]}}
"""


def write_task(folder: Path, version: int = 1, low: float = 0.75) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "sub-task.yaml").write_text(textwrap.dedent(TASK.format(version=version, low=low)))


@pytest.fixture
def task(tmp_path, monkeypatch):
    """A three-metric task (mae ↓ primary, pearson ↑, rmse ↓) in its own task folder."""
    monkeypatch.setenv("HARNESS_TASKS", str(tmp_path / "tasks"))
    write_task(tmp_path / "tasks")
    return load_task("sub-task")


@pytest.fixture
def store(tmp_path):
    return SubmissionStore(tmp_path / "results" / "submissions")


def metrics(mae, pearson=0.5, rmse=2.0, n=10):
    return {"mae": {"value": mae, "n": n}, "pearson": {"value": pearson, "n": n}, "rmse": {"value": rmse, "n": n}}


def submit(store, task, team, file_hash, *, status="scored", phase="dev", **values):
    """Record one submission against the task as it is now."""
    return store.record(task=task.name, task_version=task.version, config_hash=task.config_hash, phase=phase,
                        team=team, file_hash=file_hash, status=status,
                        metrics=metrics(**values) if status == "scored" else None,
                        reasons=["3 ids missing from the prediction file"] if status == "failed" else None,
                        directions=task.directions, primary_metric=task.primary_metric)


def lines(store, name="sub-task") -> list[str]:
    return store.path(name).read_text().splitlines()


def test_record_appends_one_json_line_and_reads_back(store, task):
    a = submit(store, task, "alpha", "h1", mae=1.5)
    b = submit(store, task, "beta", "h2", status="failed", phase="final")
    assert store.path("sub-task") == store.folder / "sub-task.jsonl"
    assert [json.loads(x)["id"] for x in lines(store)] == [a["id"], b["id"]]
    assert (a["seq"], b["seq"]) == (1, 2) and a["id"] != b["id"]
    assert datetime.fromisoformat(a["time"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert store.entries("sub-task") == [a, b]
    assert store.entries("sub-task", "final") == [b]
    assert b["metrics"] is None and b["reasons"] == ["3 ids missing from the prediction file"]
    assert a["metrics"]["mae"] == {"value": 1.5, "n": 10} and a["config_hash"] == task.config_hash
    assert store.entries("other-task") == [] and store.skipped == []


def test_rescoring_the_same_file_is_idempotent(store, task):
    first = submit(store, task, "alpha", "h1", mae=1.5)
    assert submit(store, task, "alpha", "h1", mae=9.9) == first  # the first scored result stands
    assert submit(store, task, "alpha", "h1", status="failed") == first
    assert submit(store, task, "alpha", "h1", phase="final", mae=1.5)["id"] != first["id"]  # other phase
    assert submit(store, task, "alpha", "h2", mae=1.5)["id"] != first["id"]  # other file
    assert len(lines(store)) == 3


def test_a_scored_rescore_supersedes_an_earlier_failure_once(store, task):
    failed = submit(store, task, "alpha", "h1", status="failed")
    assert submit(store, task, "alpha", "h1", status="failed") == failed
    scored = submit(store, task, "alpha", "h1", mae=2.0)
    assert scored["status"] == "scored" and scored["supersedes"] == failed["id"] and scored["seq"] == 2
    assert submit(store, task, "alpha", "h1", status="failed") == scored
    assert submit(store, task, "alpha", "h1", mae=3.0) == scored
    assert len(lines(store)) == 2


@pytest.mark.parametrize("change, message", [
    ({"status": "ok"}, "status must be one of"),
    ({"metrics": {"pearson": {"value": 0.5}}}, "primary metric 'mae'"),
    ({"metrics": {"mae": {"value": float("nan")}}}, "primary metric 'mae'"),
    ({"metrics": {"mae": {"value": None}}}, "record it as failed"),
    ({"status": "failed"}, "non-empty list of reasons"),
    ({"status": "failed", "metrics": None, "reasons": []}, "non-empty list of reasons"),
    ({"task": "../escape"}, "not a usable task name"),
    ({"task_version": 0}, "positive integer"),
    ({"team": " "}, "team must be a non-empty string"),
    ({"directions": {"mae": "down"}}, "'min' or 'max'"),
    ({"primary_metric": "rmse"}, "has no direction"),
])
def test_bad_records_are_refused_and_nothing_is_written(store, change, message):
    args = dict(task="sub-task", task_version=1, config_hash="c", phase="dev", team="alpha", file_hash="h",
                status="scored", metrics=metrics(1.0), reasons=None, directions={"mae": "min"}, primary_metric="mae")
    with pytest.raises(HarnessError, match=message):
        store.record(**{**args, **change})
    assert not store.path("sub-task").exists()


def test_ranking_primary_then_next_metrics_then_earlier_submission(store, task):
    submit(store, task, "late-twin", "h0", status="failed")  # an earlier failure does not make it earlier
    submit(store, task, "twin", "h1", mae=1.0, pearson=0.8, rmse=1.5)
    submit(store, task, "low-r", "h2", mae=1.0, pearson=0.7, rmse=1.0)  # pearson ↑ breaks the mae tie
    submit(store, task, "late-twin", "h3", mae=1.0, pearson=0.8, rmse=1.5)  # full tie: later loses
    submit(store, task, "worse-rmse", "h4", mae=1.0, pearson=0.8, rmse=1.6)  # rmse ↓ breaks the next tie
    submit(store, task, "winner", "h5", mae=0.5, pearson=0.1, rmse=9.0)  # mae ↓ decides first
    submit(store, task, "loser", "h6", mae=4.0, pearson=0.99, rmse=0.1)
    rows = store.ranked(task, "dev")
    assert [r["model"] for r in rows] == ["winner", "twin", "late-twin", "worse-rmse", "low-r", "loser"]
    top = rows[0]
    assert top["kind"] == "submission" and top["n"] == 10 and top["note"] == ""
    assert top["source"] == f"submission {top['id']} {top['time']}" and top["metrics"]["mae"]["value"] == 0.5
    assert store.ranked("sub-task", "dev") == rows  # by name, through the task index
    assert store.ranked(task, "final") == []


def test_max_primary_metric_ranks_higher_first(store, task, tmp_path):
    path = tmp_path / "tasks" / "sub-task.yaml"
    path.write_text(path.read_text().replace("primary_metric: mae", "primary_metric: pearson"))
    by_r = load_task("sub-task")
    submit(store, by_r, "low", "a", mae=0.1, pearson=0.2)
    submit(store, by_r, "high", "b", mae=5.0, pearson=0.9)
    assert [r["model"] for r in store.ranked(by_r, "dev")] == ["high", "low"]


def test_failed_and_stale_submissions_are_never_ranked(store, task, tmp_path):
    submit(store, task, "only-failed", "f", status="failed")
    submit(store, task, "old-version", "o", mae=0.1)
    submit(store, task, "fresh", "n", mae=2.0)
    write_task(tmp_path / "tasks", version=2)
    v2 = load_task("sub-task")
    assert [r["model"] for r in store.ranked(v2, "dev")] == []
    submit(store, v2, "fresh", "n", mae=2.0)
    write_task(tmp_path / "tasks", version=2, low=0.7)  # same version, changed recipe: new config hash
    v2b = load_task("sub-task")
    assert v2b.config_hash != v2.config_hash and store.ranked(v2b, "dev") == []
    submit(store, v2b, "fresh", "n", mae=3.0)
    assert [(r["model"], r["metrics"]["mae"]["value"]) for r in store.ranked(v2b, "dev")] == [("fresh", 3.0)]
    assert len(store.entries("sub-task")) == 5  # all kept on disk, only the current config is ranked


def test_policy_best_or_latest_per_team(store, task):
    submit(store, task, "alpha", "a1", mae=1.0)
    submit(store, task, "alpha", "a2", mae=2.0)
    submit(store, task, "alpha", "a3", status="failed")
    submit(store, task, "beta", "b1", mae=1.5)
    best = store.ranked(task, "dev")
    latest = store.ranked(task, "dev", policy="latest")
    assert [(r["model"], r["metrics"]["mae"]["value"]) for r in best] == [("alpha", 1.0), ("beta", 1.5)]
    assert [(r["model"], r["metrics"]["mae"]["value"]) for r in latest] == [("beta", 1.5), ("alpha", 2.0)]
    with pytest.raises(HarnessError, match="unknown policy"):
        store.ranked(task, "dev", policy="mean")


def _writer(folder: str, worker: int, go, count: int) -> None:
    store = SubmissionStore(Path(folder))
    go.wait()
    for i in range(count):
        store.record(task="sub-task", task_version=1, config_hash="c", phase="dev", team=f"w{worker}",
                     file_hash=f"{worker}-{i}", status="scored", metrics=metrics(float(i)), reasons=None,
                     directions={"mae": "min"}, primary_metric="mae")


def test_concurrent_writers_lose_nothing(store):
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(store.folder), w, go, 25)) for w in range(4)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    raw = lines(store)
    assert len(raw) == 100
    entries = [json.loads(x) for x in raw]
    assert len({e["id"] for e in entries}) == 100
    assert sorted(e["seq"] for e in entries) == list(range(1, 101))
    assert {e["file_hash"] for e in entries} == {f"{w}-{i}" for w in range(4) for i in range(25)}
    assert store.entries("sub-task") == entries and store.skipped == []


def _child(folder: Path, body: str, **kw) -> subprocess.Popen:
    code = textwrap.dedent("""
        import os, signal, sys, time
        from harness.submissions import SubmissionStore
        store = SubmissionStore(sys.argv[1])
        with store.lock("sub-task"):
    """) + textwrap.indent(textwrap.dedent(body), "    ")
    return subprocess.Popen([sys.executable, "-c", code, str(folder)], **kw)


def test_writer_killed_mid_line_leaves_the_store_readable_and_appendable(store, task):
    before = submit(store, task, "alpha", "h1", mae=1.0)
    child = _child(store.folder, """
        with open(store.path("sub-task"), "ab") as f:
            f.write(b'{"id": "000002-dead", "seq": 2, "time": "20')
            f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert child.wait(30) == -signal.SIGKILL
    assert store.entries("sub-task") == [before]
    assert len(store.skipped) == 1 and "line 2: torn last line" in store.skipped[0]
    store.lock_timeout = 2.0  # the dead writer's lock is gone: no waiting
    after = submit(store, task, "beta", "h2", mae=0.5)
    assert after["seq"] == 2 and lines(store)[2] == json.dumps(after, ensure_ascii=False)
    assert store.entries("sub-task") == [before, after]
    assert store.skipped == [f"{store.path('sub-task')}: line 2: unreadable line, skipped"]
    assert [r["model"] for r in store.ranked(task, "dev")] == ["beta", "alpha"]


def test_lock_is_exclusive_and_released_when_its_holder_dies(store, task):
    holder = _child(store.folder, """
        print("locked", flush=True)
        time.sleep(60)
    """, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        store.lock_timeout = 0.2
        with pytest.raises(HarnessError, match="locked by another process"):
            submit(store, task, "alpha", "h1", mae=1.0)
        assert not store.path("sub-task").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        holder.stdout.close()
    assert submit(store, task, "alpha", "h1", mae=1.0)["seq"] == 1  # within the 0.2 s lock timeout


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_lists_entries_and_prints_the_phase_leaderboard(capsys, task, tmp_path):
    store = SubmissionStore(tmp_path / "results" / "submissions")  # the HARNESS_RESULTS default of conftest
    submit(store, task, "alpha", "a1", mae=2.0)
    submit(store, task, "beta", "b1", mae=1.0, pearson=0.9)
    bad = submit(store, task, "gamma", "g1", status="failed")
    code, out, _ = run_cli(capsys, "submissions", "list", "--task", "sub-task")
    assert code == 0 and "3 ids missing from the prediction file" in out and bad["id"] in out
    assert "mae=1.000, pearson=0.900, rmse=2.000" in out
    code, out, _ = run_cli(capsys, "submissions", "list", "--task", "sub-task", "--phase", "dev", "--json")
    assert code == 0 and json.loads(out) == store.entries("sub-task")
    code, out, _ = run_cli(capsys, "submissions", "leaderboard", "--task", "sub-task", "--phase", "dev")
    table = out.splitlines()
    assert code == 0 and table[2] == "| rank | team | mae ↓ (bpm) | 95% CI | pearson ↑ | rmse ↓ (bpm) | N | submitted |"
    assert table[4].startswith("| 1 | beta | **1.00** | – | **0.900** | **2.00** | 10 | ")
    assert table[5].startswith("| 2 | alpha | 2.00 | – |") and "gamma" not in out
    code, out, _ = run_cli(capsys, "submissions", "leaderboard", "--task", "sub-task", "--phase", "final",
                           "--results", str(tmp_path / "elsewhere"))
    assert code == 0 and "_no results yet_" in out and "No scored submissions yet." in out


def test_cli_errors_are_one_line(capsys, task):
    code, _, err = run_cli(capsys, "submissions", "list", "--task", "sub-tsak")
    assert code == 2 and err.count("\n") == 1 and "did you mean 'sub-task'" in err.lower()
    code, out, _ = run_cli(capsys, "submissions", "list", "--task", "sub-task")
    assert code == 0 and out.strip() == "no submissions for sub-task"
    with pytest.raises(SystemExit):
        main(["submissions", "leaderboard", "--task", "sub-task", "--phase", "dev", "--policy", "mean"])


def test_a_file_rescored_against_another_reference_gets_a_new_entry_and_the_latest_reference_ranks(store, task):
    def scored(team, file_hash, mae, reference, submitted=None):
        return store.record(task=task.name, task_version=task.version, config_hash=task.config_hash, phase="dev",
                            team=team, file_hash=file_hash, status="scored", metrics=metrics(mae), reasons=None,
                            directions=task.directions, primary_metric=task.primary_metric, reference=reference,
                            submitted=submitted)

    old_a, old_b = scored("a", "fa", 1.0, "ref-old"), scored("b", "fb", 2.0, "ref-old")
    assert scored("a", "fa", 1.0, "ref-old")["id"] == old_a["id"]  # same file, same truth: the same entry
    assert [r["model"] for r in store.ranked(task, "dev")] == ["a", "b"] and store.other_reference == 0
    new_a = scored("a", "fa", 3.0, "ref-new")  # the corrected ground truth scores the file differently
    assert new_a["id"] != old_a["id"] and new_a["reference"] == "ref-new"
    rows = store.ranked(task, "dev")
    assert [(r["model"], r["metrics"]["mae"]["value"]) for r in rows] == [("a", 3.0)]  # b awaits its rescoring
    assert store.other_reference == 2
    scored("b", "fb", 2.5, "ref-new")
    assert [r["model"] for r in store.ranked(task, "dev")] == ["b", "a"] and store.other_reference == 2
    # an entry written before references were recorded still reads back (its reference is None)
    legacy = dict(old_b, id="000099-legacy", seq=99)
    legacy.pop("reference")
    with open(store.path(task.name), "a") as fh:
        fh.write(json.dumps(legacy) + "\n")
    assert any(e["id"] == "000099-legacy" for e in store.entries(task.name)) and not store.skipped


def test_ties_go_to_the_earlier_upload_not_the_earlier_scoring(store, task):
    for team, submitted in (("late", "2026-05-02T00:00:00.000000Z"), ("early", "2026-05-01T00:00:00.000000Z")):
        store.record(task=task.name, task_version=task.version, config_hash=task.config_hash, phase="dev", team=team,
                     file_hash=f"f-{team}", status="scored", metrics=metrics(1.0), reasons=None, directions=task.directions,
                     primary_metric=task.primary_metric, reference="r", submitted=submitted)
    rows = store.ranked(task, "dev")
    assert [r["model"] for r in rows] == ["early", "late"] and rows[0]["time"] == "2026-05-01T00:00:00.000000Z"
