"""Leaderboard tables, ranks, seed aggregation, renderers and plots, against independent computations."""
from __future__ import annotations

import csv
import io
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from harness.cli import main
from harness.errors import HarnessError
from harness.families.rppg.plots import bland_altman, hr_scatter
from harness.leaderboard import (Cell, Column, Row, Table, assign_ranks, build, latex_escape, render,
                                 sort_rows, write)
from harness.published import published_rows
from harness.records import model_tag
from harness.task import TaskIndex

SAMPLE_TASK = "svc2026-rppg-phase2"
REAL_TASK = "rppg-pure-to-ubfc"  # has published rows
PNG = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- synthetic runs
def make_samples(seed: int, n: int = 12, bias: float = 1.0, noise: float = 3.0, n_nan: int = 0) -> pd.DataFrame:
    """A samples.csv table in the runner's columns."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(55, 110, n)
    pred = gt + bias + rng.normal(0, noise, n)
    pred[:n_nan] = np.nan
    return pd.DataFrame({"sample_id": [f"ubfc-rppg/subject{i}" for i in range(n)], "dataset": ["ubfc-rppg"] * (n // 2) + ["pure"] * (n - n // 2),
                         "start": 0, "end": 600, "hr_pred": pred, "hr_gt": gt,
                         "snr_db": rng.normal(0, 2, n), "macc": rng.uniform(0.3, 0.9, n)})


def write_run(results: Path, task_name: str, model: str, metrics: dict, *, source: str = "sample", seed: int = 0,
              folder: str | None = None, args: dict | None = None, created: str = "2026-01-01T00:00:00+00:00",
              code: str = "c0de", reportable: bool = True, version: int | None = None,
              samples: pd.DataFrame | None = None) -> dict:
    """Write record.json + samples.csv as the runner does. ``metrics``: name → value or (value, ci_low, ci_high)."""
    task = TaskIndex().tasks[task_name]
    tag = model_tag(model, args or {})
    run = results / "runs" / source / task_name / (folder or tag)
    run.mkdir(parents=True)
    samples = make_samples(seed) if samples is None else samples
    samples.to_csv(run / "samples.csv", index=False)
    mvals = {}
    for m in task.metrics:
        v = metrics.get(m.name)
        v, lo, hi = v if isinstance(v, tuple) else (v, None, None)
        mvals[m.name] = {"value": v, "n": len(samples), "se": None, "ci_low": lo, "ci_high": hi,
                         "se_method": "std(ddof=1)/sqrt(n), normal CI" if lo is not None else None,
                         "reason": None if v is not None else "undefined: test", "n_excluded": 0}
    record = {
        "schema": 1, "created": created,
        "task": {"name": task.name, "version": version or task.version, "config_hash": task.config_hash,
                 "family": task.family, "group": None, "recipe": {}, "datasets": {}},
        "model": {"name": model, "args": args or {}, "origin": "builtin", "family": "rppg", "inputs": ["rgb"],
                  "output": "bvp", "code_fingerprint": code, "trains": False, "tag": tag},
        "data": {"source": source, "root": "/data", "fingerprint": f"{source}-fp", "role_fingerprints": {},
                 "datasets": {}, "notes": []},
        "metrics": mvals, "primary_metric": task.primary_metric, "directions": task.directions,
        "n_samples": len(samples), "counts": {"videos": len(samples), "windows": len(samples), "face_fallback": 0},
        "reportable": reportable, "limit": None if reportable else 1, "seed": seed, "n_boot": 1000,
        "environment": {"harness": "0.1.0", "git_commit": "0123456789abcdef", "git_dirty": False, "device": "cpu"},
        "timings": {}, "throughput": {}, "notes": [], "files": {"outputs": "outputs.npz", "samples": "samples.csv"},
    }
    (run / "record.json").write_text(json.dumps(record))
    return record


@pytest.fixture
def results(tmp_path) -> Path:
    return tmp_path / "results"


def board(results: Path, task: str = SAMPLE_TASK, source: str | None = None) -> Table:
    index = TaskIndex()
    return build(index, index.tasks[task], results, source)


def md_rows(text: str) -> list[list[str]]:
    """Body cells of the Markdown table."""
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")][1:]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]


# ----------------------------------------------------------------------------- ranking
def test_order_ties_and_the_shared_rank_rule(results):
    cases = {  # model: (mae, ci_low, ci_high), rmse
        "a": ((2.0, 1.0, 3.0), 5.0),
        "b": ((2.6, 2.5, 4.0), 5.0),   # overlaps a → shares rank 1
        "c": ((3.5, 3.2, 4.5), 5.0),   # overlaps b but not a → new group (no chaining)
        "d": ((3.9, 3.0, 5.0), 5.0),   # overlaps c, the group's first → rank 3
        "e": ((9.0, 8.0, 10.0), 7.0),
        "f": ((9.0, 8.0, 10.0), 6.0),  # same mae as e, better rmse → above e, same group
        "g": ((None, None, None), 1.0),  # undefined primary → last, unranked
    }
    for model, (mae, rmse) in cases.items():
        write_run(results, SAMPLE_TASK, model, {"mae": mae, "rmse": rmse})
    table = board(results)
    assert [r.model for r in table.rows] == ["a", "b", "c", "d", "f", "e", "g"]
    assert [r.rank for r in table.rows] == [1, 1, 3, 3, 5, 5, None]
    shown = md_rows(render(table, "md"))
    assert [c[0] for c in shown] == ["1", "1", "3", "3", "5", "5", "–"]
    assert [c[4] for c in shown][:2] == ["[1.00, 3.00]", "[2.50, 4.00]"]  # the CI column
    assert any("share" in n and "overlaps" in n and "mae" in n for n in table.notes)


def test_rank_rule_touching_intervals_points_and_max_direction():
    col = Column("pearson", "max")
    rows = [Row(model=m, kind="run", cells={"pearson": Cell(v, ci_low=lo, ci_high=hi)})
            for m, v, lo, hi in [("p", 0.5, 0.4, 0.6), ("q", 0.9, 0.8, 0.95), ("r", 0.8, None, None),
                                 ("s", 0.6, 0.6, 0.7), ("t", 0.75, 0.7, 0.79)]]
    rows = sort_rows(rows, [col])
    assert [r.model for r in rows] == ["q", "r", "t", "s", "p"]  # higher is better
    assign_ranks(rows, "pearson")
    # r (a point at 0.8) touches q's CI [0.8, 0.95]: shared; t's [0.7, 0.79] does not reach q's → new group;
    # s's [0.6, 0.7] touches t's → shares 3; p's [0.4, 0.6] does not reach t's → 5
    assert [r.rank for r in rows] == [1, 1, 3, 3, 5]


# ----------------------------------------------------------------------------- bold
def test_best_value_per_column_is_bold_with_ties_at_display_precision(results):
    vals = {"m1": {"mae": 1.234, "pearson": 0.91, "snr": -1.0},
            "m2": {"mae": 1.2349, "pearson": 0.95, "snr": 2.0},
            "m3": {"mae": 4.0, "pearson": 0.9501, "snr": 2.004}}
    for model, m in vals.items():
        write_run(results, SAMPLE_TASK, model, m)
    table = board(results)
    for col in table.columns:
        defined = {r.model: vals[r.model][col.name] for r in table.rows if col.name in vals[r.model]}
        if not defined:
            assert not any(r.cells[col.name].bold for r in table.rows)
            continue
        rounded = {k: round(v, col.digits) for k, v in defined.items()}
        best = min(rounded.values()) if col.direction == "min" else max(rounded.values())
        assert {r.model for r in table.rows if r.cells[col.name].bold} == {k for k, v in rounded.items() if v == best}
    text = render(table, "md")
    assert text.count("**1.23**") == 2 and "**0.950**" in text and "**2.00**" in text
    latex = render(table, "latex")
    assert latex.count("\\textbf{1.23}") == 2


# ----------------------------------------------------------------------------- seeds
def test_runs_differing_only_by_seed_are_mean_std_n(results):
    maes = {0: (2.0, 1.5, 2.6), 1: (2.5, 1.8, 3.1), 2: (3.2, 2.0, 4.0)}
    for seed, mae in maes.items():
        write_run(results, SAMPLE_TASK, "pos", {"mae": mae, "pearson": 0.9 + seed / 100},
                  seed=seed, folder=f"pos@seed{seed}", created=f"2026-01-0{seed + 2}T00:00:00+00:00")
    # not aggregated: older code, a --limit run, another task version
    write_run(results, SAMPLE_TASK, "pos", {"mae": 50.0}, seed=7, folder="pos@old", code="old", created="2025-01-01T00:00:00+00:00")
    write_run(results, SAMPLE_TASK, "pos", {"mae": 60.0}, seed=8, folder="pos@limit1", reportable=False, created="2027-01-01T00:00:00+00:00")
    write_run(results, SAMPLE_TASK, "pos", {"mae": 70.0}, seed=9, folder="pos@v0", version=99, created="2027-01-01T00:00:00+00:00")
    write_run(results, SAMPLE_TASK, "green", {"mae": 9.0})
    table = board(results)
    pos = next(r for r in table.rows if r.model == "pos")
    values = [v[0] for v in maes.values()]
    cell = pos.cells["mae"]
    assert pos.seeds == [0, 1, 2] and cell.k == 3
    assert cell.value == pytest.approx(np.mean(values)) and cell.value == pytest.approx(statistics.mean(values))
    assert cell.std == pytest.approx(np.std(values, ddof=1))
    assert (cell.ci_low, cell.ci_high) == (1.5, 4.0)  # hull of the per-seed CIs
    assert pos.cells["pearson"].std == pytest.approx(np.std([0.90, 0.91, 0.92], ddof=1))
    assert pos.samples.endswith("pos@seed2/samples.csv") and pos.samples_seed == 2  # the latest run is plotted
    green = next(r for r in table.rows if r.model == "green")
    assert green.cells["mae"].std is None and green.seeds == [0]
    row = next(c for c in md_rows(render(table, "md")) if c[1] == "pos")
    assert row[3].strip("*") == f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}" and row[-2] == "3"


def test_a_newer_run_with_other_code_replaces_older_seeds(results):
    write_run(results, SAMPLE_TASK, "pos", {"mae": 2.0}, seed=0, folder="pos@seed0", code="v1")
    write_run(results, SAMPLE_TASK, "pos", {"mae": 3.0}, seed=1, folder="pos@seed1", code="v2",
              created="2026-02-01T00:00:00+00:00")
    (pos,) = board(results).rows
    assert pos.seeds == [1] and pos.cells["mae"].value == 3.0 and pos.cells["mae"].std is None


# ----------------------------------------------------------------------------- renderers
@pytest.fixture
def mixed_table(results) -> Table:
    write_run(results, REAL_TASK, "pos", {"mae": (3.0, 2.0, 4.0), "mape": 3.1}, source="real", seed=0, folder="pos@0")
    write_run(results, REAL_TASK, "pos", {"mae": (3.4, 2.2, 4.4), "mape": 3.3}, source="real", seed=1, folder="pos@1")
    write_run(results, REAL_TASK, "chrom", {"mae": (5.0, 4.5, 5.5), "mape": 5.0}, source="real",
              args={"alpha": "1_2&3"})
    return board(results, REAL_TASK)


def test_json_round_trip_equals_the_table(mixed_table):
    text = render(mixed_table, "json")
    assert Table.from_dict(json.loads(text)) == mixed_table
    assert json.loads(text)["title"] == mixed_table.title


def test_csv_parses_to_the_table_values(mixed_table):
    parsed = list(csv.DictReader(io.StringIO(render(mixed_table, "csv"))))
    assert [p["model"] for p in parsed] == [r.model for r in mixed_table.rows]
    for p, row in zip(parsed, mixed_table.rows):
        for col in mixed_table.columns:
            cell = row.cells[col.name]
            assert (float(p[col.name]) if p[col.name] else None) == cell.value
            assert (float(p[f"{col.name}_std"]) if p[f"{col.name}_std"] else None) == cell.std
        assert (float(p["mae_ci_low"]) if p["mae_ci_low"] else None) == row.cells["mae"].ci_low
        assert p["rank"] == ("" if row.rank is None else str(row.rank))
        assert p["kind"] == row.kind and p["data"] == "real" and p["source"] == row.source
    pos = next(p for p in parsed if p["model"] == "pos")
    assert float(pos["mae"]) == pytest.approx(3.2) and pos["seeds"] == "2"


def test_latex_escapes_specials_and_symbols(mixed_table):
    assert latex_escape("a_b & 50% #1 $x {y} ~^ \\ ↓±") == \
        r"a\_b \& 50\% \#1 \$x \{y\} \textasciitilde{}\textasciicircum{} \textbackslash{} $\downarrow$$\pm$"
    text = render(mixed_table, "latex")
    assert r"(alpha=1\_2\&3)" in text and r"mae $\downarrow$ (bpm)" in text and r"mape $\downarrow$ (\%)" in text
    assert text.count("{") == text.count("}") and text.strip().endswith("\\end{table}")
    n_cols = len(re.search(r"\\begin\{tabular\}\{(\w+)\}", text).group(1))
    body = text.split("\\midrule")[1].split("\\bottomrule")[0].strip().splitlines()
    assert len(body) == len(mixed_table.rows)
    for line in body:
        cells = re.split(r"(?<!\\)&", line.removesuffix("\\\\"))
        assert len(cells) == n_cols  # no unescaped & inside a cell
        for c in cells:
            assert not re.search(r"(?<!\\)[%_#$]", re.sub(r"\$\\[a-z]+\$", "", c)), c


def test_published_rows_are_marked_and_cited(mixed_table):
    index = TaskIndex()
    published = published_rows(index, index.tasks[REAL_TASK])
    rows = [r for r in mixed_table.rows if r.kind == "published"]
    assert sorted(r.model for r in rows) == sorted(p["model"] for p in published)
    assert all(r.source and r.samples is None and r.seeds == [] for r in rows)
    text = render(mixed_table, "md")
    for r in rows:
        line = next(ln for ln in text.splitlines() if f"| {r.model} | published |" in ln)
        assert r.source in line


def test_html_is_self_contained(mixed_table):
    page = render(mixed_table, "html")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "<script>" in page
    for external in ("http://", "https://", "src=", "<link", "@import", "url(", "//cdn"):
        assert external not in page
    assert "(alpha=1_2&amp;3)" in page and "1_2&3" not in page  # escaped
    assert page.count('<tr class="published"') == sum(r.kind == "published" for r in mixed_table.rows)


def test_unknown_format_is_a_user_error(mixed_table):
    with pytest.raises(HarnessError, match="unknown format"):
        render(mixed_table, "xml")


# ----------------------------------------------------------------------------- sample vs real
def test_sample_and_real_results_are_never_mixed(results):
    write_run(results, REAL_TASK, "pos", {"mae": 1.0}, source="sample")
    assert board(results, REAL_TASK).data == "sample"  # only sample runs: the sample board
    only_sample = board(results, REAL_TASK)
    assert [r.model for r in only_sample.rows] == ["pos"] and "synthetic sample" in only_sample.notes[0]
    write_run(results, REAL_TASK, "green", {"mae": 9.0}, source="real")
    real = board(results, REAL_TASK)  # default: real once a real run exists
    assert real.data == "real" and "real datasets" in real.notes[0]
    assert {r.model for r in real.rows if r.kind == "run"} == {"green"}
    assert any(r.kind == "published" for r in real.rows)
    sample = board(results, REAL_TASK, "sample")
    assert [(r.model, r.kind) for r in sample.rows] == [("pos", "run")]
    assert "data: sample" in render(sample, "md") and "data: real" in render(real, "md")


# ----------------------------------------------------------------------------- plots
def test_bland_altman_and_scatter_numbers_match_numpy(tmp_path):
    rows = make_samples(3, n=20, bias=2.5, noise=4.0, n_nan=2)
    ba = bland_altman(rows, "t", tmp_path / "ba.png")
    ok = rows.dropna(subset=["hr_pred", "hr_gt"])
    d = ok["hr_pred"].to_numpy() - ok["hr_gt"].to_numpy()
    assert ba["n"] == 18 and ba["n_excluded"] == 2
    assert ba["bias"] == pytest.approx(np.mean(d)) and ba["sd"] == pytest.approx(np.std(d, ddof=1))
    assert ba["loa_low"] == pytest.approx(np.mean(d) - 1.96 * np.std(d, ddof=1))
    assert ba["loa_high"] == pytest.approx(np.mean(d) + 1.96 * np.std(d, ddof=1))
    sc = hr_scatter(rows, "t", tmp_path / "sc.png")
    assert sc["n"] == 18 and sc["pearson"] == pytest.approx(sstats.pearsonr(ok["hr_gt"], ok["hr_pred"])[0])
    for p in ("ba.png", "sc.png"):
        assert (tmp_path / p).read_bytes()[:8] == PNG
    one = bland_altman(rows.iloc[2:3], "t", tmp_path / "one.png")  # SD needs two rows
    assert one["n"] == 1 and one["sd"] is None and one["loa_low"] is None


def test_write_puts_table_and_plots_side_by_side(results, tmp_path):
    write_run(results, REAL_TASK, "pos", {"mae": 3.0}, source="real", samples=make_samples(1, n_nan=1))
    write_run(results, REAL_TASK, "green", {"mae": 8.0}, source="real")
    table = board(results, REAL_TASK)
    out = tmp_path / "board"
    written = dict(write(table, "html", out))
    expected = {out / f"{REAL_TASK}.html"} | {out / f"{REAL_TASK}.{m}.{k}.png" for m in ("pos", "green")
                                               for k in ("bland-altman", "hr-scatter")}
    assert set(written) == expected  # no plots for published rows
    for path in expected:
        assert path.stat().st_size > 1000
    for path in expected - {out / f"{REAL_TASK}.html"}:
        assert path.read_bytes()[:8] == PNG
    ba = written[out / f"{REAL_TASK}.pos.bland-altman.png"]
    s = pd.read_csv(results / "runs/real" / REAL_TASK / "pos/samples.csv").dropna()
    assert ba["n_excluded"] == 1 and ba["bias"] == pytest.approx((s.hr_pred - s.hr_gt).mean())


def test_a_run_without_its_samples_table_is_a_user_error(results, tmp_path):
    write_run(results, SAMPLE_TASK, "pos", {"mae": 3.0})
    (results / "runs/sample" / SAMPLE_TASK / "pos/samples.csv").unlink()
    with pytest.raises(HarnessError, match="no per-sample table"):
        write(board(results), "md", tmp_path / "out")


# ----------------------------------------------------------------------------- CLI, end to end
def test_cli_on_a_real_run_prints_or_writes_each_member_table(capsys, tmp_path, results):
    assert main(["run", "--task", SAMPLE_TASK, "--model", "pos", "--n-boot", "200"]) == 0
    capsys.readouterr()
    real = json.loads(next(results.glob(f"runs/sample/{SAMPLE_TASK}/pos/record.json")).read_text())
    fake = write_run(results, SAMPLE_TASK, "green", {"mae": 20.0})
    assert set(fake) <= set(real)  # the synthetic records above follow the runner's schema
    for key in ("task", "model", "data", "environment", "files"):
        assert set(fake[key]) <= set(real[key]), key
    assert set(fake["metrics"]["mae"]) == set(real["metrics"]["mae"])

    assert main(["leaderboard", "--task", SAMPLE_TASK, "--format", "json"]) == 0
    table = Table.from_dict(json.loads(capsys.readouterr().out))
    pos = next(r for r in table.rows if r.model == "pos")
    assert pos.cells["mae"].value == real["metrics"]["mae"]["value"]
    assert (pos.cells["mae"].ci_low, pos.cells["mae"].ci_high) == (real["metrics"]["mae"]["ci_low"], real["metrics"]["mae"]["ci_high"])
    assert [r.model for r in table.rows] == ["pos", "green"]

    assert main(["leaderboard", "--task", SAMPLE_TASK, "--format", "html"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")

    out = tmp_path / "boards"
    assert main(["leaderboard", "--task", "svc2026-rppg", "--format", "latex", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == str(out / "svc2026-rppg-phase1.tex") and printed[1] == str(out / f"{SAMPLE_TASK}.tex")
    ba_line = next(ln for ln in printed if ln.startswith(str(out / f"{SAMPLE_TASK}.pos.bland-altman.png")))
    s = pd.read_csv(results / "runs/sample" / SAMPLE_TASK / "pos/samples.csv")
    assert f"bias={(s.hr_pred - s.hr_gt).mean():.2f}" in ba_line
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["svc2026-rppg-phase1.tex", f"{SAMPLE_TASK}.tex"]
        + [f"{SAMPLE_TASK}.{m}.{k}.png" for m in ("pos", "green") for k in ("bland-altman", "hr-scatter")])


def test_cli_rejects_an_unknown_format(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard", "--task", SAMPLE_TASK, "--format", "xml"])
    assert exc.value.code == 2


# ----------------------------------------------------------------------------- group tables (aggregate: mean)
def group_tasks(folder: Path, aggregate: str = "mean") -> Path:
    """Two small rPPG tasks, a group over them and its published rows (one recomputed, one printed-only)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tmp-part-a", "tmp-part-b"):
        (folder / f"{name}.yaml").write_text(
            f"task: {name}\nversion: 1\nfamily: rppg\ndatasets: {{test: [ubfc-rppg]}}\n"
            "metrics: [{name: mae, direction: min}, {name: rmse, direction: min}]\nprimary_metric: mae\n")
    (folder / "tmp-mean.yaml").write_text(
        f"group: tmp-mean\nversion: 2\ntasks: [tmp-part-a, tmp-part-b]\naggregate: {aggregate}\n")
    (folder / "published.yaml").write_text(
        "defaults: {status: cites}\n"
        "tmp-part-a: {source: 'paper, T1', rows: [{model: pos, label: POS-paper, metrics: {mae: 4.0, rmse: 6.0}}]}\n"
        "tmp-part-b: {source: 'paper, T1', rows: [{model: pos, label: POS-paper, metrics: {mae: 3.0, rmse: 5.0}}]}\n"
        "tmp-mean:\n  parts: [tmp-part-a, tmp-part-b]\n  aggregate: mean\n  source: 'paper, T2 average'\n"
        "  rows:\n    - {model: pos, label: POS-paper}\n"
        "    - {model: ica, label: ICA-paper, metrics: {mae: 7.5, rmse: 9.25}, note: only the average}\n")
    return folder


def test_group_table_is_the_mean_of_the_parts(results, tmp_path, monkeypatch, capsys):
    from harness.leaderboard import build_group
    monkeypatch.setenv("HARNESS_TASKS", str(group_tasks(tmp_path / "tasks")))
    values = {  # model: {part: (mae, rmse)}; green has no run on part b
        "pos": {"tmp-part-a": (2.0, 3.0), "tmp-part-b": (5.0, 8.5)},
        "chrom": {"tmp-part-a": (1.5, 2.5), "tmp-part-b": (3.0, 4.0)},
        "green": {"tmp-part-a": (0.5, 1.0)},
    }
    n = {"tmp-part-a": 12, "tmp-part-b": 10}
    for model, parts in values.items():
        for part, (mae, rmse) in parts.items():
            write_run(results, part, model, {"mae": (mae, mae - 1, mae + 1), "rmse": rmse}, source="real",
                      samples=make_samples(0, n=n[part]))
    index = TaskIndex()
    table = build_group(index, index.groups["tmp-mean"], results)
    assert table.group and table.task == "tmp-mean" and table.data == "real"
    assert table.title == "tmp-mean (v2, mean of parts, recomputed) — data: real"
    runs = {r.model: r for r in table.rows if r.kind == "run"}
    assert set(runs) == {"pos", "chrom"}  # green lacks part b: not ranked, noted
    for model, row in runs.items():
        for i, m in enumerate(("mae", "rmse")):
            cell = row.cells[m]
            assert cell.value == pytest.approx(np.mean([values[model][p][i] for p in n]))
            assert cell.ci_low is None and cell.ci_high is None and cell.std is None
            assert cell.n == sum(n.values())
        assert row.n == sum(n.values()) and row.samples is None and len(row.runs) == 2
        assert row.note == "mean of parts; parts' CIs not combined"
    assert [r.model for r in table.rows if r.kind == "run"] == ["chrom", "pos"]  # 2.25 < 3.5
    assert any("green (missing tmp-part-b)" in note for note in table.notes)
    assert any("parts' CIs not combined" in note for note in table.notes)
    published = {r.model: r for r in table.rows if r.kind == "published"}
    assert published["POS-paper"].cells["mae"].value == pytest.approx(3.5)  # recomputed from the parts' rows
    assert published["ICA-paper"].cells["mae"].value == 7.5 and published["ICA-paper"].cells["rmse"].value == 9.25
    assert "printed average only" in published["ICA-paper"].note and "only the average" in published["ICA-paper"].note
    assert published["ICA-paper"].source == "paper, T2 average"
    assert [(r.model, r.rank) for r in table.rows] == [("chrom", 1), ("POS-paper", 2), ("pos", 2), ("ICA-paper", 4)]
    assert Table.from_dict(json.loads(render(table, "json"))) == table

    # the CLI: one table per part, then the group table (rendered by the same machinery)
    assert main(["leaderboard", "--task", "tmp-mean"]) == 0
    out = capsys.readouterr().out
    titles = [ln for ln in out.splitlines() if ln.startswith("### ")]
    assert [t.split(" ")[1] for t in titles] == ["tmp-part-a", "tmp-part-b", "tmp-mean"]
    group_md = out[out.index("### tmp-mean"):]
    assert "ICA-paper" in group_md and "green (missing tmp-part-b)" in group_md
    assert main(["leaderboard", "--task", "tmp-part-a"]) == 0  # a task alone: no group table
    assert "### tmp-mean" not in capsys.readouterr().out
    out_dir = tmp_path / "boards"
    assert main(["leaderboard", "--task", "tmp-mean", "--format", "csv", "--out", str(out_dir)]) == 0
    assert (out_dir / "tmp-mean.csv").is_file()
    assert not list(out_dir.glob("tmp-mean.*.png"))  # group rows have no per-sample table to plot

    # the sample board shows no published rows
    sample = build_group(index, index.groups["tmp-mean"], results, "sample")
    assert not sample.rows


def test_group_published_rows_only_on_the_real_board_and_none_groups_have_no_group_table(results, tmp_path, monkeypatch, capsys):
    from harness.leaderboard import build_group
    monkeypatch.setenv("HARNESS_TASKS", str(group_tasks(tmp_path / "tasks")))
    write_run(results, "tmp-part-a", "pos", {"mae": 1.0}, source="sample")
    write_run(results, "tmp-part-b", "pos", {"mae": 2.0}, source="sample")
    index = TaskIndex()
    table = build_group(index, index.groups["tmp-mean"], results)
    assert table.data == "sample" and [r.kind for r in table.rows] == ["run"]
    real = build_group(index, index.groups["tmp-mean"], results, "real")
    assert sorted(r.model for r in real.rows) == ["ICA-paper", "POS-paper"]
    # the project's FAS P2 groups: printed-only PA-FAS Table 2 rows on the real board
    fas = build_group(index, index.groups["mmdg-p2-missing-d"], results)
    mmdg = next(r for r in fas.rows if r.model == "MMDG [CVPR'24]")
    assert fas.data == "real" and len(fas.rows) == 18 and "printed average only" in mmdg.note
    assert mmdg.cells["hter_test_eer"].value == pytest.approx(0.2489)
    assert main(["leaderboard", "--task", "svc2026-rppg"]) == 0  # aggregate none: per-task tables only
    titles = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("### ")]
    assert [t.split(" ")[1] for t in titles] == ["svc2026-rppg-phase1", SAMPLE_TASK]
    with pytest.raises(HarnessError, match="never averaged"):
        build_group(index, index.groups["svc2026-rppg"], results)


def test_an_unreadable_record_is_skipped_and_named_not_fatal(tmp_path, capsys):
    """One corrupt record.json (e.g. a truncated copy) leaves the rest of the board standing."""
    from harness.cli import main

    res = tmp_path / "res"
    assert main(["run", "--task", "svc2026-rppg-phase2", "--model", "green", "--output", str(res), "--limit", "2"]) == 0
    bad = res / "runs" / "sample" / "svc2026-rppg-phase2" / "broken" / "record.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"task": ')
    capsys.readouterr()
    assert main(["leaderboard", "--task", "svc2026-rppg-phase2", "--results", str(res)]) == 0
    out = capsys.readouterr().out
    assert "Skipped 1 unreadable run record(s)" in out and "broken/record.json" in out
    assert "Not shown: 1 --limit run(s)" in out
    assert main(["leaderboard", "--task", "svc2026-rppg-phase2", "--results", str(tmp_path / "nope")]) == 2
    assert "no such results folder" in capsys.readouterr().err


def test_a_markdown_row_stays_one_line_whatever_its_text_holds():
    """A published note may span lines (YAML) and a name may hold a pipe: neither breaks the table."""
    table = Table(task="t", version=1, config_hash="c", family="rppg", data="real", primary="mae",
                  columns=[Column("mae", "min")], rows=[Row(model="a|b", kind="published", cells={"mae": Cell(1.0)},
                                                            source="paper", note="printed\nin two lines")], notes=[])
    body = [line for line in render(table, "md").splitlines() if line.startswith("| ") and "published" in line]
    assert body == ["| – | a\\|b | published | 1.00 | – | – | – | paper; printed in two lines |"]
