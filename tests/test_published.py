"""published.yaml: strict schema, statuses and tolerances, group averages recomputed from their parts."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.published import load_published, published_rows, rounding_tolerance
from harness.task import TaskIndex

INDEX = TaskIndex()
UBFC, PURE, MMPD = "rppg-pure-to-ubfc", "rppg-ubfc-to-pure", "rppg-pure-to-mmpd"


def write(folder: Path, text: str, name: str = "published.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str):
    return load_published(INDEX, [write(tmp_path, text)])


GROUP = f"""
    defaults: {{status: cites}}
    {UBFC}:
      source: "paper, Table 1"
      rows:
        - {{model: pos, metrics: {{mae: 4.00, rmse: 6.0}}}}
        - {{model: chrom, metrics: {{mae: 3.98}}}}
    {PURE}:
      source: "paper, Table 1"
      rows:
        - {{model: pos, metrics: {{mae: 3.67, rmse: 5.5}}}}
        - {{model: chrom, metrics: {{mae: 5.77}}}}
    toolbox-mean:
      parts: [{UBFC}, {PURE}]
      aggregate: mean
      source: "paper, Table 1, 'Avg.' column"
      rows:
"""


def group(row: str = "{model: pos, printed: {mae: 3.835}}") -> str:
    """The group file above with one group row."""
    return GROUP + f"        - {row}\n"


def test_project_file_loads_and_every_row_is_a_citation():
    rows = load_published(INDEX)
    assert len(rows) >= 30
    assert {r.status for r in rows} == {"cites"}  # real-data numbers, none reproduced here
    board = published_rows(INDEX, INDEX.tasks[UBFC])
    pos = next(r for r in board if r["model"] == "pos")
    assert pos["kind"] == "published" and pos["status"] == "cites"
    assert pos["metrics"] == {"mae": {"value": 4.00, "n": None}, "mape": {"value": 3.86, "n": None}}
    assert "Table 2" in pos["source"]
    physformer = next(r for r in board if r["model"].startswith("PhysFormer"))
    assert "FactorizePhys" in physformer["source"] and "YOLO5Face" in physformer["note"]  # row overrides entry


def test_precedence_row_over_entry_over_file_defaults(tmp_path):
    rows = load(tmp_path, f"""
        defaults: {{status: reproduces, tolerance: 0.5}}
        {UBFC}:
          source: s
          tolerance: {{mae: 0.2, rmse: 0.3}}
          rows:
            - {{model: a, metrics: {{mae: 1.0, rmse: 2.0}}}}
            - {{model: b, metrics: {{mae: 1.0}}, tolerance: 0.05}}
            - {{model: c, metrics: {{mae: 1.0}}, status: cites, source: "repo/README.md"}}
        {PURE}:
          source: s
          rows:
            - {{model: a, metrics: {{pearson: 0.9}}}}
    """)
    by = {(r.entry, r.model): r for r in rows}
    assert by[UBFC, "a"].tolerance == {"mae": 0.2, "rmse": 0.3} and by[UBFC, "a"].status == "reproduces"
    assert by[UBFC, "b"].tolerance["mae"] == 0.05
    assert by[UBFC, "c"].status == "cites" and by[UBFC, "c"].source == "repo/README.md"
    assert by[PURE, "a"].tolerance["pearson"] == 0.5  # the file default, applied per metric


@pytest.mark.parametrize("body, message", [
    (f"{UBFC}: {{source: s, rows: [{{model: a, metrics: {{mae: 1}}, tolerence: 0.1}}]}}",
     "row 1: unknown key 'tolerence' (did you mean 'tolerance'?)"),
    (f"{UBFC}: {{sorce: s, rows: [{{model: a, metrics: {{mae: 1}}}}]}}", "unknown key 'sorce' (did you mean 'source'?)"),
    ("rppg-pure-to-ubf: {source: s, rows: [{model: a, metrics: {mae: 1}}]}",
     "unknown key 'rppg-pure-to-ubf': not a task, and no 'parts:' to make it a group (did you mean 'rppg-pure-to-ubfc'?)"),
    ("defaults: {status: cites, tol: 1}", "defaults: unknown key 'tol'"),
    (f"{UBFC}: {{source: s, rows: [{{model: a, metrics: {{maee: 1}}}}]}}",
     "'maee' is not a metric of the task (did you mean 'mae'?)"),
    (f"{UBFC}: {{source: s, status: reproduce, rows: [{{model: a, metrics: {{mae: 1}}}}]}}", "status must be one of"),
    (f"{UBFC}: {{source: s, rows: [{{model: a, metrics: {{mae: 1}}, status: null}}]}}", "status must be one of"),
    (f"{UBFC}: {{source: s, status: reproduces, rows: [{{model: a, metrics: {{mae: 1, rmse: 2}},"
     f" tolerance: {{mae: 0.1}}}}]}}",
     "status reproduces needs a tolerance for ['rmse']"),
    (f"{UBFC}: {{source: s, rows: [{{model: a, metrics: {{mae: 1}}, tolerance: -0.1}}]}}", "a tolerance must be ≥ 0"),
    (f"{UBFC}: {{source: s, rows: [{{model: a, metrics: {{mae: '1.2'}}}}]}}", "metrics.mae must be a finite number"),
    (f"{UBFC}: {{source: s, rows: [{{model: a, metrics: {{mae: 1}}}}, {{model: a, metrics: {{mae: 2}}}}]}}", "listed twice"),
    (f"{UBFC}: {{rows: [{{model: a, metrics: {{mae: 1}}}}]}}", "no 'source'"),
    (f"{UBFC}: {{source: s, rows: [{{label: a, metrics: {{mae: 1}}}}]}}", "'model' (a name) is required"),
    (f"{UBFC}: {{source: s, rows: []}}", "'rows' must be a non-empty list"),
    (f"g: {{parts: [{UBFC}, nope], source: s, rows: [{{model: a}}]}}", "part 'nope' is not a task"),
    (f"g: {{parts: [{UBFC}, {PURE}], source: s, aggregate: median, rows: [{{model: a}}]}}", "'aggregate' must be one of"),
    ("svc2026-rppg: {parts: [svc2026-rppg-phase1, svc2026-rppg-phase2], source: s, rows: [{model: a}]}",
     "never averaged"),
], ids=lambda v: v[:40])
def test_schema_errors_name_the_file_and_the_key(tmp_path, body, message):
    path = write(tmp_path, "defaults: {status: cites}\n" + body if not body.startswith("defaults") else body)
    with pytest.raises(HarnessError) as exc:
        load_published(INDEX, [path])
    assert str(exc.value).startswith(str(path) + ": ")
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_group_rows_are_recomputed_from_their_parts(tmp_path):
    rows = load(tmp_path, group())
    mean = next(r for r in rows if r.entry == "toolbox-mean")
    assert mean.parts == (UBFC, PURE) and mean.aggregate == "mean"
    assert mean.metrics == pytest.approx({"mae": (4.00 + 3.67) / 2, "rmse": (6.0 + 5.5) / 2})
    assert mean.printed == {"mae": 3.835}
    assert published_rows(INDEX, INDEX.tasks[UBFC])  # group rows never join a task's board
    assert all(r["model"] != "toolbox-mean" for r in published_rows(INDEX, INDEX.tasks[UBFC]))


def test_a_rounded_printed_average_passes(tmp_path):
    load(tmp_path, group("{model: pos, printed: {mae: 3.84}}"))   # 3.835 rounded half up: within two-decimal rounding
    load(tmp_path, group("{model: pos, printed: {mae: 3.83}}"))   # or half down


def test_a_wrong_printed_average_is_flagged(tmp_path):
    with pytest.raises(HarnessError, match=r"printed mae 3.9 disagrees with the recomputed mean 3.8350 of its parts "
                                           r"\(rppg-pure-to-ubfc 4, rppg-ubfc-to-pure 3.67\)"):
        load(tmp_path, group("{model: pos, printed: {mae: 3.90}}"))


def test_a_group_row_cannot_copy_metrics_or_lack_a_part(tmp_path):
    with pytest.raises(HarnessError, match="a group row has no 'metrics': they are recomputed"):
        load(tmp_path, group("{model: pos, metrics: {mae: 3.8}}"))
    with pytest.raises(HarnessError, match="no published row for model 'ica' in part 'rppg-pure-to-ubfc'"):
        load(tmp_path, group("{model: ica}"))
    with pytest.raises(HarnessError, match=r"printed: 'rmse' is not a metric"):  # chrom's parts share only mae
        load(tmp_path, group("{model: chrom, printed: {rmse: 1}}"))


@pytest.mark.parametrize("values, expected", [((3.84, 4.0, 3.67), 0.01), ((12.0, 11.5), 0.1), ((12, 11), 1.0),
                                              ((0.855, 0.8), 0.001)])
def test_rounding_tolerance_follows_the_printed_precision(values, expected):
    assert rounding_tolerance(*values) == pytest.approx(expected, abs=1e-8)


def test_validate_reports_a_broken_published_file(tmp_path, monkeypatch, capsys):
    assert main(["validate"]) == 0
    path = write(tmp_path, f"{UBFC}: {{source: s, status: cites, rows: [{{model: a, metrcs: {{mae: 1}}}}]}}\n")
    monkeypatch.setenv("HARNESS_TASKS", str(tmp_path))
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: {UBFC} row 1: unknown key 'metrcs' (did you mean 'metrics'?)" in err


def test_a_printed_only_group_row_is_kept_as_printed_and_marked(tmp_path):
    # ica has no row in either part: the paper printed only the average, so 'metrics' is allowed
    rows = load(tmp_path, group("{model: ica, label: ICA, metrics: {mae: 6.2, rmse: 8.1}, note: only the average}"))
    ica = next(r for r in rows if r.entry == "toolbox-mean" and r.model == "ica")
    assert ica.printed_only and ica.metrics == {"mae": 6.2, "rmse": 8.1} and ica.printed == {}
    assert ica.parts == (UBFC, PURE) and ica.source == "paper, Table 1, 'Avg.' column" and ica.note == "only the average"
    assert ica.to_leaderboard()["printed_only"] is True and ica.to_leaderboard()["model"] == "ICA"
    recomputed = next(r for r in load(tmp_path, group()) if r.entry == "toolbox-mean")
    assert not recomputed.printed_only and recomputed.to_leaderboard()["printed_only"] is False
    with pytest.raises(HarnessError, match="'maee' is not a metric"):
        load(tmp_path, group("{model: ica, metrics: {maee: 6.2}}"))
    with pytest.raises(HarnessError, match="under 'metrics' alone"):
        load(tmp_path, group("{model: ica, metrics: {mae: 6.2}, printed: {mae: 6.2}}"))


def test_group_metrics_are_refused_when_a_part_has_the_model(tmp_path):
    text = group("{model: ica, metrics: {mae: 6.2}}").replace(
        "- {model: chrom, metrics: {mae: 3.98}}", "- {model: chrom, metrics: {mae: 3.98}}\n        - {model: ica, metrics: {mae: 7.0}}")
    with pytest.raises(HarnessError, match=r"a group row has no 'metrics': they are recomputed.*'ica' has rows in \['rppg-pure-to-ubfc'\]"):
        load(tmp_path, text)
    with pytest.raises(HarnessError, match="a group row has no 'metrics'"):
        load(tmp_path, group("{model: pos, metrics: {mae: 3.8}}"))
