"""Scaling out on CPU processes: ``torchrun --nproc-per-node 1`` against ``2`` on the embedded
rPPG sample (group 'scale-out'; compare the means). Each round starts from an empty results
folder, so nothing is resumed. ``extra_info`` holds the in-run throughput (samples/s over the
slowest rank's load + predict time) and the share of the run spent gathering and scoring."""
from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys

import pytest

from harness.families.rppg.family import FAMILY

TASK = "svc2026-rppg-phase1"
_counter = itertools.count()


def _launch(nproc: int, results) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(HARNESS_RESULTS=str(results), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           "-m", "harness", "run", "--task", TASK, "--model", "pos", "--json"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("nproc", [1, 2])
@pytest.mark.benchmark(group="scale-out")
def test_bench_processes(benchmark, tmp_path, nproc):
    FAMILY.sample_root()  # generate outside the timing
    records = []
    benchmark.pedantic(lambda: records.append(_launch(nproc, tmp_path / str(next(_counter)))), rounds=5, iterations=1)
    share = [(r["timings"]["gather_s"] + r["timings"]["score_s"]) / r["timings"]["total_s"] for r in records]
    benchmark.extra_info.update(  # means over the rounds
        samples=records[0]["n_samples"], samples_per_s=statistics.fmean(r["throughput"]["samples_per_s"] for r in records),
        gather_score_share=statistics.fmean(share), run_s=statistics.fmean(r["timings"]["total_s"] for r in records))
    assert all(r["environment"]["world_size"] == nproc for r in records)
