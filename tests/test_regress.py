"""``harness regress``: the checked-in golden results re-run on the sample, drift, stale entries,
regeneration, and published ``reproduces`` rows against real-data runs."""
from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from harness import regress
from harness.cli import main
from harness.families.rppg import metrics
from harness.families.rppg.family import FAMILY
from harness.files import write_json
from harness.task import PROJECT_ROOT, TaskIndex

GOLDEN = PROJECT_ROOT / "tests" / "golden" / "rppg.yaml"
BASELINES = ["chrom", "green", "ica", "lgi", "omit", "pbv", "pos"]
FAS_BASELINES = ["fas-relief"]  # fas-cnn trains: golden = False keeps it out of every CI run
DD_BASELINES = ["dd-linear"]    # dd-fusion trains a network: golden = False
SPLICE_BASELINES = ["splice-noise"]  # splice-unet trains; splice-ela: golden = False keeps CI short
IQA_BASELINES = ["iqa-ridge"]          # the CNNs train: golden = False
UBFC, PURE = "rppg-pure-to-ubfc", "rppg-ubfc-to-pure"
RPPG_VERSION = TaskIndex().tasks[UBFC].version  # every rPPG task inherits _rppg.yaml's version


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table(out: str) -> list[dict[str, str]]:
    """The regress table's rows as dicts."""
    lines = [line for line in out.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def edited_golden(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(GOLDEN.read_text())
    edit(data)
    path = tmp_path / "golden.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def shift_mae(monkeypatch):
    """Make MAE's declared compute (the metric code itself) return ``value + shift``."""
    spec = metrics.METRICS["mae"]

    def apply(shift: float) -> None:
        shifted = dataclasses.replace(spec, compute=lambda a: spec.compute(a) + shift)  # each window's |error| + shift
        monkeypatch.setitem(metrics.METRICS, "mae", shifted)
    return apply


@pytest.fixture
def no_runs(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a stale or missing golden entry must not be re-run")
    monkeypatch.setattr(regress, "run_task", refuse)


@pytest.fixture
def tmp_task(tmp_path, monkeypatch):
    """A task of our own (test on the sample's ubfc-rppg domain), writable: returns a setter."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    monkeypatch.setenv("HARNESS_TASKS", str(folder))

    def write(extra: str = "") -> str:
        (folder / "ubfc-only.yaml").write_text(textwrap.dedent(f"""
            task: ubfc-only
            include: {PROJECT_ROOT / 'tasks' / 'rppg' / '_rppg.yaml'}
            datasets: {{train: [pure], test: [ubfc-rppg]}}
        """) + extra)
        return "ubfc-only"
    write()
    return write


# ---------------------------------------------------------------------- the checked-in golden file

def test_checked_in_golden_reproduces_on_a_fresh_run(capsys, tmp_path):
    """The CI check: every rPPG task × every built-in baseline, re-run on the sample now."""
    code, out, err = run_cli(capsys, "regress")
    assert code == 0, out[-2000:]
    rows = table(out)
    scoring = [r for r in rows if r["check"] == "scoring"]  # the metric code alone: one checked-in file per family
    assert {(r["task"], r["model"]) for r in scoring} == {
        ("dd-lodo-bol", "dd-linear"), ("mmdg-p1-cps-w", "fas-relief"), ("baiqa-kadid", "iqa-ridge"),
        ("rppg-pure-to-mmpd", "chrom"), ("scisp", "splice-noise")}
    assert {r["status"] for r in scoring} == {"ok"}
    assert {r["tolerance"] for r in scoring if r["metric"] != "plcc_logistic"} == {"1e-09"}
    rows = [r for r in rows if r["check"] == "golden"]
    index = TaskIndex()
    rppg = sorted(t for t in index.tasks if index.tasks[t].family == "rppg")
    fas = sorted(t for t in index.tasks if index.tasks[t].family == "fas")
    deception = sorted(t for t in index.tasks if index.tasks[t].family == "deception")
    splicing = sorted(t for t in index.tasks if index.tasks[t].family == "splicing")
    iqa = sorted(t for t in index.tasks if index.tasks[t].family == "iqa_backdoor")
    assert len(rppg) == 8 and len(fas) == 18 and len(deception) == 16 and len(splicing) == 33 and len(iqa) == 9
    expected = ({(t, m) for t in rppg for m in BASELINES} | {(t, m) for t in fas for m in FAS_BASELINES}
                | {(t, m) for t in deception for m in DD_BASELINES} | {(t, m) for t in splicing for m in SPLICE_BASELINES}
                | {(t, m) for t in iqa for m in IQA_BASELINES})
    assert {(r["task"], r["model"]) for r in rows} == expected
    assert len(rows) == (8 * 7 * 6 + 18 * len(FAS_BASELINES) * 12 + 16 * len(DD_BASELINES) * 7
                         + 33 * len(SPLICE_BASELINES) * 13 + (3 * 5 + 6 * 13) * len(IQA_BASELINES))
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["check"] for r in rows} == {"golden"}
    # float64 rounding noise everywhere, but for the one metric from an iterative fit (its spec says why)
    assert {r["tolerance"] for r in rows if r["metric"] != "plcc_logistic"} == {"1e-09"}
    assert {r["tolerance"] for r in rows if r["metric"] == "plcc_logistic"} == {"1e-06"}
    assert "why it drifted" not in out
    assert "published: 0 ok or missing, 0 failing, 244 cited row(s) not checked" in out
    assert not (tmp_path / "results").exists()  # re-run in a temporary folder, never the user's results


def test_golden_file_is_keyed_by_task_version_hash_and_sample():
    index = TaskIndex()
    for family, path, models in (("rppg", GOLDEN, BASELINES), ("fas", GOLDEN.with_name("fas.yaml"), FAS_BASELINES),
                                 ("deception", GOLDEN.with_name("deception.yaml"), DD_BASELINES),
                                 ("splicing", GOLDEN.with_name("splicing.yaml"), SPLICE_BASELINES),
                                 ("iqa_backdoor", GOLDEN.with_name("iqa_backdoor.yaml"), IQA_BASELINES)):
        golden = yaml.safe_load(path.read_text())
        assert golden["tolerance"] == 1e-9 and golden["device"] == "cpu" and golden["family"] == family
        assert {"cpu", "isa", "threads", "torch", "numpy", "opencv-python-headless", "pillow"} <= set(golden["environment"])
        samples = regress.read_samples(regress.samples_file(path))
        assert {(t, m) for t in golden["tasks"] for m in golden["tasks"][t]["models"]} == set(samples)
        members = {n: t for n, t in index.tasks.items() if t.family == family}
        assert set(golden["tasks"]) == set(members)
        for name, task in members.items():
            entry = golden["tasks"][name]
            assert (entry["version"], entry["config_hash"]) == (task.version, task.config_hash)
            assert sorted(entry["models"]) == models
            assert len(entry["data_fingerprint"]) == 16


@pytest.mark.parametrize("shift, code", [(5e-11, 0), (2e-9, 1), (1e-6, 1), (1e-3, 1)])
def test_a_change_in_the_metric_code_is_drift(capsys, shift_mae, shift, code):
    shift_mae(shift)
    rc, out, _ = run_cli(capsys, "regress", "--golden", "--task", UBFC, "--model", "pos")
    assert rc == code
    status = {r["metric"]: r["status"] for r in table(out)}
    assert status == {"mae": "DRIFT" if code else "ok", **dict.fromkeys(["rmse", "pearson", "mape", "snr", "macc"], "ok")}
    if code:
        assert "regress: 1 check(s) failed" in out
        # the per-sample numbers did not move: the explanation says the metric code did
        assert f"- {UBFC} / pos: no per-sample number moved; the metric code did" in out


def test_a_drift_names_both_machines_and_the_samples_that_moved(capsys, tmp_path):
    """As if the golden file came from another machine whose POS output for one video differed."""
    def edit(data):
        data["environment"]["cpu"] = "AMD EPYC 7B13"
        data["environment"]["isa"] = ["SSE42", "AVX", "F16C", "FMA3", "AVX2"]
        data["tasks"][UBFC]["models"]["pos"]["mae"]["value"] += 0.5
    path = edited_golden(tmp_path, edit)
    samples = regress.read_samples(regress.samples_file(GOLDEN))
    (sid, column), value = next((k, v) for k, v in samples[UBFC, "pos"].items() if k[1] == "hr_pred")
    samples[UBFC, "pos"][sid, column] = value + 1.5
    regress.write_samples(regress.samples_file(path), samples)
    code, out, _ = run_cli(capsys, "regress", "--golden", "--golden-file", str(path), "--task", UBFC, "--model", "pos")
    assert code == 1 and {r["metric"] for r in table(out) if r["status"] == "DRIFT"} == {"mae"}
    why = out.split("why it drifted:")[1]
    assert "rppg golden made on: {'cpu': 'AMD EPYC 7B13'" in why
    assert "rppg machines differ in: cpu: AMD EPYC 7B13 -> " in why and "isa: ['SSE42'" in why
    assert f"{UBFC} / pos: 1 of {len(samples[UBFC, 'pos'])} per-sample numbers moved: {sid} hr_pred " \
           f"{value + 1.5:.10g} -> {value:.10g} (-1.5)" in why


def test_samples_file_round_trips_byte_identically(tmp_path):
    samples = regress.read_samples(regress.samples_file(GOLDEN))
    regress.write_samples(tmp_path / "s.csv.gz", samples)
    assert (tmp_path / "s.csv.gz").read_bytes() == regress.samples_file(GOLDEN).read_bytes()
    assert regress.read_samples(tmp_path / "s.csv.gz") == samples


def test_an_edited_golden_value_or_n_is_drift(capsys, tmp_path):
    def edit(data):
        data["tasks"][UBFC]["models"]["pos"]["snr"]["value"] += 0.01
        data["tasks"][UBFC]["models"]["chrom"]["mae"]["n"] = 4
    path = edited_golden(tmp_path, edit)
    code, out, _ = run_cli(capsys, "regress", "--golden", "--golden-file", str(path), "--task", UBFC)
    assert code == 1
    bad = {(r["model"], r["metric"]): r for r in table(out) if r["status"] != "ok"}
    assert set(bad) == {("pos", "snr"), ("chrom", "mae")}
    assert bad["pos", "snr"]["status"] == "DRIFT"
    assert float(bad["pos", "snr"]["expected"]) - float(bad["pos", "snr"]["got"]) == pytest.approx(0.01)
    assert bad["chrom", "mae"]["status"] == "DRIFT (N 4 -> 3)"


REGENERATE = "regenerate: harness regress --update-golden --task rppg-pure-to-ubfc"


@pytest.mark.parametrize("key, value, message", [
    ("version", 0, f"stale: task is v{RPPG_VERSION}, golden v0: {REGENERATE}"),
    ("config_hash", "0123456789ab", f"stale: config changed (hash {{hash}}) without a version bump: bump and {REGENERATE}"),
])
def test_a_stale_entry_fails_without_running(capsys, tmp_path, no_runs, key, value, message):
    path = edited_golden(tmp_path, lambda d: d["tasks"][UBFC].update({key: value}))
    code, out, _ = run_cli(capsys, "regress", "--golden", "--golden-file", str(path), "--task", UBFC)
    assert code == 1
    [row] = table(out)
    assert row["status"] == message.format(hash=TaskIndex().tasks[UBFC].config_hash)


def test_a_task_without_entry_and_an_entry_without_task_fail(capsys, tmp_path, no_runs, tmp_task):
    code, out, _ = run_cli(capsys, "regress", "--golden", "--task", "ubfc-only")
    assert code == 1 and table(out)[0]["status"] == "missing: no golden entry, regenerate"
    path = edited_golden(tmp_path, lambda d: d.update(tasks={"gone-task": d["tasks"][UBFC]}))
    code, out, _ = run_cli(capsys, "regress", "--golden", "--golden-file", str(path))
    status = {r["task"]: r["status"] for r in table(out)}
    assert code == 1 and status.pop("gone-task") == "stale: no such task any more, regenerate"
    rppg = {t for t, task in TaskIndex().tasks.items() if task.family == "rppg"}
    assert set(status) == rppg and set(status.values()) == {"missing: no golden entry, regenerate"}


# ------------------------------------------------------------------------------ regenerating

def test_regenerate_then_bump_workflow(capsys, tmp_path, tmp_task, shift_mae):
    golden = tmp_path / "g.yaml"
    args = ("--task", "ubfc-only", "--model", "pos", "--golden-file", str(golden))
    code, out, _ = run_cli(capsys, "regress", "--update-golden", *args)
    assert code == 0 and f"wrote {golden}" in out
    entry = yaml.safe_load(golden.read_text())["tasks"]["ubfc-only"]
    task = TaskIndex().tasks["ubfc-only"]
    v = RPPG_VERSION
    assert (entry["version"], entry["config_hash"], list(entry["models"])) == (v, task.config_hash, ["pos"])
    checked_in = yaml.safe_load(GOLDEN.read_text())["tasks"][UBFC]["models"]["pos"]
    # same test data as rppg-pure-to-ubfc: the same numbers, to float64 rounding on another CPU
    assert entry["models"]["pos"].keys() == checked_in.keys()
    for metric, value in checked_in.items():
        assert entry["models"]["pos"][metric]["n"] == value["n"]
        assert entry["models"]["pos"][metric]["value"] == pytest.approx(value["value"], abs=regress.GOLDEN_TOLERANCE)
    assert run_cli(capsys, "regress", "--golden", *args)[0] == 0

    shift_mae(0.01)  # a code change moves a number ...
    code, out, _ = run_cli(capsys, "regress", "--golden", *args)
    assert code == 1 and {r["metric"] for r in table(out) if r["status"] == "DRIFT"} == {"mae"}
    code, _, err = run_cli(capsys, "regress", "--update-golden", *args)  # ... and may not be blessed in place
    mae = entry["models"]["pos"]["mae"]["value"]
    assert code == 2 and f"ubfc-only v{v}: numbers moved without a task version bump (pos mae {mae} -> {mae + 0.01})" in err
    assert yaml.safe_load(golden.read_text())["tasks"]["ubfc-only"] == entry  # untouched

    tmp_task("recipe: {hr_method: fft-fine}\n")  # a protocol change without a bump is stale
    code, out, _ = run_cli(capsys, "regress", "--golden", *args)
    assert code == 1 and table(out)[0]["status"].startswith("stale: config changed")
    tmp_task(f"recipe: {{hr_method: fft-fine}}\nversion: {v + 1}\n")  # bumped, golden not yet regenerated
    code, out, _ = run_cli(capsys, "regress", "--golden", *args)
    assert code == 1 and table(out)[0]["status"].startswith(f"stale: task is v{v + 1}, golden v{v}")
    assert run_cli(capsys, "regress", "--update-golden", *args)[0] == 0  # bumped: regenerating is allowed
    assert yaml.safe_load(golden.read_text())["tasks"]["ubfc-only"]["version"] == v + 1
    assert run_cli(capsys, "regress", "--golden", *args)[0] == 0


def test_force_accepts_moved_numbers(capsys, tmp_path, tmp_task, shift_mae):
    golden = tmp_path / "g.yaml"
    args = ("--task", "ubfc-only", "--model", "pos", "--golden-file", str(golden))
    assert run_cli(capsys, "regress", "--update-golden", *args)[0] == 0
    before = yaml.safe_load(golden.read_text())["tasks"]["ubfc-only"]["models"]["pos"]["mae"]["value"]
    shift_mae(0.25)
    assert run_cli(capsys, "regress", "--update-golden", "--force", *args)[0] == 0
    after = yaml.safe_load(golden.read_text())["tasks"]["ubfc-only"]["models"]["pos"]["mae"]["value"]
    assert after == pytest.approx(before + 0.25, abs=1e-12)
    assert not list(tmp_path.glob(".g.yaml.*"))  # written atomically, no temporary left behind


@pytest.mark.parametrize("argv, message", [
    (["--model", "nope*"], "--model 'nope*' matches no built-in"),
    (["--golden-file", "/nonexistent/g.yaml"], "no golden file: generate it with `harness regress --update-golden`"),
    (["--task", "rppg-pure-to-ubf"], "unknown task 'rppg-pure-to-ubf'"),
])
def test_user_errors_exit_2(capsys, no_runs, argv, message):
    code, _, err = run_cli(capsys, "regress", "--golden", *argv)
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["tasks"][UBFC].update(confighash="x"),
     "rppg-pure-to-ubfc: unknown key 'confighash' (did you mean 'config_hash'?)"),
    (lambda d: d["tasks"][UBFC]["models"]["pos"]["mae"].pop("n"), "rppg-pure-to-ubfc pos mae: expected {value, n}"),
    (lambda d: d.update(tolerance="tight"), "'tolerance' must be a number ≥ 0, got 'tight'"),
    (lambda d: d.update(family="fas"), "golden file is for family 'fas', not 'rppg'"),
])
def test_golden_schema_is_strict(capsys, tmp_path, no_runs, edit, message):
    path = edited_golden(tmp_path, edit)
    code, _, err = run_cli(capsys, "regress", "--golden", "--golden-file", str(path), "--task", UBFC)
    assert code == 2 and f"{path}: {message}" in err


# ---------------------------------------------------------------------------- published numbers

def fake_run(results: Path, task: str, model: str, values: dict[str, float], seed: int = 0, folder: str | None = None,
             index: TaskIndex | None = None) -> None:
    """A real-data run record as the runner writes it (the fields the leaderboard reads)."""
    t = (index or TaskIndex()).tasks[task]
    write_json(results / "runs" / "real" / task / (folder or model) / "record.json", {
        "schema": 1, "created": "2026-01-01T00:00:00+00:00", "reportable": True, "seed": seed, "n_samples": 10,
        "task": {"name": task, "version": t.version, "config_hash": t.config_hash},
        "model": {"name": model, "args": {}, "tag": model}, "data": {"source": "real", "fingerprint": "f" * 16},
        "environment": {"harness": "0.1.0", "git_commit": None}, "files": {"samples": "samples.csv"},
        "metrics": {k: {"value": v, "n": 10, "se": None, "ci_low": None, "ci_high": None} for k, v in values.items()}})


def baseline_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "published.yaml"
    path.write_text(textwrap.dedent(text))
    return path


REPRODUCES = f"""
    defaults: {{status: reproduces, tolerance: {{mae: 0.5, rmse: 0.1}}}}
    {UBFC}:
      source: "paper, Table 2"
      rows:
        - {{model: pos, metrics: {{mae: 4.00, rmse: 5.00}}}}
        - {{model: green, status: cites, metrics: {{mae: 19.81}}}}
    {PURE}:
      source: "paper, Table 2"
      rows:
        - {{model: pos, metrics: {{mae: 3.00, rmse: 4.00}}}}
    both:
      parts: [{UBFC}, {PURE}]
      source: "paper, Table 2, mean"
      rows:
        - {{model: pos, printed: {{mae: 3.5}}, tolerance: 0.3}}
"""


def published_table(capsys, path: Path, *extra: str) -> tuple[int, dict, str]:
    code, out, _ = run_cli(capsys, "regress", "--published", "--baseline", str(path), *extra)
    return code, {(r["task"], r["metric"]): r for r in table(out)} if "|" in out else {}, out


def test_reproduces_rows_within_tolerance_pass(capsys, tmp_path):
    results = tmp_path / "results"
    fake_run(results, UBFC, "pos", {"mae": 4.4, "rmse": 5.05, "pearson": 0.9})
    fake_run(results, PURE, "pos", {"mae": 2.8, "rmse": 3.95})
    fake_run(results, UBFC, "green", {"mae": 1.0})  # a cited row is never checked
    code, rows, out = published_table(capsys, baseline_file(tmp_path, REPRODUCES))
    assert code == 0, out
    assert set(rows) == {(UBFC, "mae"), (UBFC, "rmse"), (PURE, "mae"), (PURE, "rmse"), ("both", "mae"), ("both", "rmse")}
    assert {r["status"] for r in rows.values()} == {"ok"} and {r["model"] for r in rows.values()} == {"pos"}
    assert float(rows["both", "mae"]["expected"]) == pytest.approx(3.5)   # recomputed from the parts
    assert float(rows["both", "mae"]["got"]) == pytest.approx(3.6)        # mean of the parts' runs
    assert rows[UBFC, "rmse"]["tolerance"] == "0.1" and rows["both", "rmse"]["tolerance"] == "0.3"
    assert "1 cited row(s) not checked" in out


def test_reproduces_rows_outside_tolerance_drift(capsys, tmp_path):
    results = tmp_path / "results"
    fake_run(results, UBFC, "pos", {"mae": 4.6, "rmse": 5.05})
    fake_run(results, PURE, "pos", {"mae": 3.0, "rmse": 4.2})
    code, rows, out = published_table(capsys, baseline_file(tmp_path, REPRODUCES))
    assert code == 1
    assert {k for k, r in rows.items() if r["status"] == "DRIFT"} == {(UBFC, "mae"), (PURE, "rmse")}
    assert rows["both", "mae"]["status"] == "ok"  # mean 3.8 vs 3.5 is inside the group row's 0.3


def test_seeds_are_averaged_as_on_the_leaderboard(capsys, tmp_path):
    results = tmp_path / "results"
    fake_run(results, UBFC, "pos", {"mae": 3.2, "rmse": 5.0}, seed=0)
    fake_run(results, UBFC, "pos", {"mae": 4.6, "rmse": 5.0}, seed=1, folder="pos-seed1")
    code, rows, _ = published_table(capsys, baseline_file(tmp_path, REPRODUCES), "--task", UBFC)
    assert code == 0 and float(rows[UBFC, "mae"]["got"]) == pytest.approx(3.9)


def test_a_missing_run_is_reported_and_fails_only_when_strict(capsys, tmp_path):
    path = baseline_file(tmp_path, REPRODUCES)
    fake_run(tmp_path / "results", UBFC, "pos", {"mae": 4.0, "rmse": 5.0})
    code, rows, _ = published_table(capsys, path)
    assert code == 0
    assert rows[PURE, "mae"]["status"] == f"missing: no reportable real-data run ({PURE} v{RPPG_VERSION})"
    assert rows["both", "mae"]["status"].startswith("missing")
    assert published_table(capsys, path, "--strict")[0] == 1


def test_project_rows_are_cited_never_checked(capsys, tmp_path):
    fake_run(tmp_path / "results", UBFC, "pos", {"mae": 99.0})
    code, out, _ = run_cli(capsys, "regress", "--published")
    assert code == 0 and "nothing to check" in out and "244 cited row(s) not checked" in out


def test_a_real_run_is_found_by_its_model_tag(capsys, tmp_path, tmp_task):
    """End to end: `harness run` on a real-layout folder, then a reproduces row checked against it."""
    root = tmp_path / "data"
    shutil.copytree(FAMILY.sample_root() / "ubfc-rppg", root / "ubfc-rppg")
    (root / "ubfc-rppg" / "synth.json").unlink()  # without the generator's marker it reads as real
    assert main(["run", "--task", "ubfc-only", "--model", "pos", "--data-root", str(root)]) == 0
    capsys.readouterr()
    path = baseline_file(tmp_path, """
        ubfc-only:
          source: "our run"
          status: reproduces
          rows:
            - {model: pos, metrics: {mae: 0.8, pearson: 0.99}, tolerance: {mae: 0.25, pearson: 0.001}}
    """)
    code, rows, _ = published_table(capsys, path, "--task", "ubfc-only")
    assert code == 1  # MAE 0.586 is within 0.25 of 0.8; Pearson 0.998 is not within 0.001 of 0.99
    assert rows["ubfc-only", "mae"]["status"] == "ok" and rows["ubfc-only", "pearson"]["status"] == "DRIFT"
    assert float(rows["ubfc-only", "mae"]["got"]) == pytest.approx(0.5859375)


# ------------------------------------------------------------------- the metric code, exactly

@pytest.mark.parametrize("shift, fails", [(0.0, False), (2e-9, True), (1e-3, True)])
def test_rescoring_the_checked_in_prediction_file_checks_the_metric_code(shift_mae, shift, fails):
    index = TaskIndex()
    golden = regress.read_golden(GOLDEN, "rppg")
    entry = golden["scoring"]
    assert (GOLDEN.parent / entry["file"]).is_file() and entry["task"] == regress.scoring_task(index, "rppg")
    shift_mae(shift)
    rows = regress.check_scoring(index, golden, "rppg", {entry["task"]})
    assert {r.metric for r in rows} == set(entry["metrics"]) and all(r.tolerance == 1e-9 for r in rows)
    assert {r.metric for r in rows if r.fails} == ({"mae"} if fails else set())


def test_a_stale_scoring_entry_fails(tmp_path):
    golden = regress.read_golden(GOLDEN, "rppg")
    golden["scoring"]["version"] = 0
    [row] = regress.check_scoring(TaskIndex(), golden, "rppg", {golden["scoring"]["task"]})
    assert row.fails and row.status == "stale: task changed, regenerate"


def test_an_unreadable_per_sample_file_is_one_clear_error(capsys, tmp_path, no_runs):
    path = edited_golden(tmp_path, lambda d: None)
    regress.samples_file(path).write_bytes(b"\x1f\x8b not really gzip")
    code, _, err = run_cli(capsys, "regress", "--golden", "--golden-file", str(path), "--task", UBFC)
    assert code == 2 and "unreadable golden per-sample file" in err and "Traceback" not in err
