"""Scoring a 100,000-row prediction file end to end (read, validate, metrics) against a plain
pandas read followed by the same metric calls. Peak memory is recorded in extra_info."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from harness.families.rppg import metrics, predictions, signal
from harness.families.rppg.family import FAMILY
from harness.families.rppg.family import _hr_windows
from harness.scoring import score_file
from harness.task import Task, parse_task

VIDEOS, SECONDS, FS = 1000, 109, 30.0  # sliding 10 s windows every 1 s: 100 windows per video


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench-scoring")
    task: Task = parse_task({
        "task": "bench-sliding", "family": "rppg", "version": 1, "datasets": {"test": ["ubfc-rppg"]},
        "metrics": [{"name": "mae", "direction": "min"}, {"name": "rmse", "direction": "min"},
                    {"name": "pearson", "direction": "max"}, {"name": "mape", "direction": "min"}],
        "primary_metric": "mae",
        "recipe": {"band": [0.75, 2.5], "window": "sliding", "window_s": 10.0, "stride_s": 1.0}}, folder / "t.yaml")
    rng = np.random.default_rng(0)
    t = np.arange(int(SECONDS * FS)) / FS
    waves = {f"v{i:04d}": np.sin(2 * np.pi * rng.uniform(1.0, 2.0) * t) + 0.1 * rng.standard_normal(t.size)
             for i in range(VIDEOS)}
    predictions.write_npz(folder / "ref.npz", waves, {i: FS for i in waves})
    refs = FAMILY.read_reference(task, folder / "ref.npz")[0]
    ids = predictions.expected_csv_ids(task, refs)
    lines = ["id,hr_bpm"] + [f"{cid},{rng.uniform(50, 120):.3f}" for cid in ids]
    (folder / "pred.csv").write_text("\n".join(lines) + "\n")
    assert len(ids) >= 100_000
    return task, folder, refs


def plain(task, folder):
    refs = FAMILY.read_reference(task, folder / "ref.npz")[0]
    frame = pd.read_csv(folder / "pred.csv")
    recipe = signal.Recipe.from_dict(task.recipe)
    sample = frame["id"].str.rsplit("#", n=1).str[0]
    rows = []
    for sid, hr in frame.groupby(sample, sort=False)["hr_bpm"]:
        rows += _hr_windows(sid, hr.to_numpy(), refs[sid]["bvp"], refs[sid]["fs"], recipe)
    return metrics.summarize(pd.DataFrame(rows), [m.name for m in task.metrics], n_boot=1000, seed=0)


def _measured(benchmark, fn):
    tracemalloc.start()
    result = fn()
    benchmark.extra_info["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
    tracemalloc.stop()
    return result


@pytest.mark.benchmark(group="score-100k")
def test_bench_harness_score(benchmark, big):
    task, folder, _ = big
    record = benchmark.pedantic(lambda: score_file(task, folder / "pred.csv", reference=folder / "ref.npz"),
                                rounds=2, iterations=1)
    _measured(benchmark, lambda: score_file(task, folder / "pred.csv", reference=folder / "ref.npz"))
    assert record["status"] == "scored" and record["metrics"]["mae"]["n"] >= 100_000


@pytest.mark.benchmark(group="score-100k")
def test_bench_pandas_plus_metrics(benchmark, big):
    task, folder, _ = big
    result = benchmark.pedantic(lambda: plain(task, folder), rounds=2, iterations=1)
    _measured(benchmark, lambda: plain(task, folder))
    assert result["mae"].n >= 100_000
