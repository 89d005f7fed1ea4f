"""Generating the whole embedded rPPG sample (8 domains, 38 videos of 20 s) from the face
photograph: the cost a fresh clone pays before its first `harness run` (goal: under 30 s on 2 cores)."""
from __future__ import annotations

import itertools

import pytest

from harness.families.rppg import synth

_counter = itertools.count()


@pytest.mark.benchmark(group="rppg-sample")
def test_generate_the_whole_sample(benchmark, tmp_path):
    def generate():
        return synth.synthesize(tmp_path / f"run{next(_counter)}", seed=0)

    root = benchmark.pedantic(generate, rounds=2, iterations=1)
    assert len(list(root.glob("*/subject*/vid.avi"))) == sum(d["n_subjects"] for d in synth.DOMAINS.values())
