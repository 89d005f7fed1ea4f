"""Runner overhead: `harness run` (run_task) against a bare PyTorch loop over the same adapter and
data (decode, face ROI, POS, HR recipe, metrics). Compare the two means in the 'runner' group."""
from __future__ import annotations

import itertools

import pandas as pd
import pytest
import torch

from harness.families.rppg import metrics, signal
from harness.families.rppg.family import FAMILY
from harness.families.rppg.family import collate, stream_video
from harness.models import build_model
from harness.runner import RunOptions, run_task
from harness.task import TaskIndex

TASK = TaskIndex().tasks["svc2026-rppg-phase2"]


def bare_loop() -> dict:
    model, _ = build_model("pos", {})
    source = FAMILY.resolve_data(TASK, None, need_train=False)
    records = FAMILY._role_records(TASK, source, "test")
    recipe = signal.Recipe.from_dict(TASK.recipe)
    rows = []
    with torch.inference_mode():
        for i in range(0, len(records), 4):
            items = [item for rec in records[i:i + 4] for item in stream_video(rec, FAMILY_SPEC)]
            units, inputs = collate(items)
            bvp = model.predict(inputs)["bvp"]
            for j, unit in enumerate(units):
                n = int(inputs["lengths"][j])
                rows += signal.evaluate_video(bvp[j, :n].numpy(), unit.reference["bvp"], unit.reference["fs"], recipe)
    return metrics.summarize(pd.DataFrame(rows), ["mae", "rmse", "pearson"], n_boot=1000, seed=0)


from harness.families.rppg.family import InputSpec  # noqa: E402

FAMILY_SPEC = InputSpec()
_counter = itertools.count()


@pytest.mark.benchmark(group="runner")
def test_bench_bare_loop(benchmark):
    FAMILY.sample_root()  # generate outside the timing
    result = benchmark(bare_loop)
    assert result["mae"].n > 0


@pytest.mark.benchmark(group="runner")
def test_bench_harness_run(benchmark, tmp_path):
    FAMILY.sample_root()

    def run():  # a fresh results folder each round, so nothing is resumed from cache
        return run_task(TASK, "pos", RunOptions(output=str(tmp_path / str(next(_counter))), progress=False),
                        log=lambda m: None)

    record = benchmark(run)
    assert record["metrics"]["mae"]["n"] > 0
