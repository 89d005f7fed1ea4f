"""Benchmarks run only when asked (``python -m pytest tests/benchmarks --benchmark-enable``): they
measure speed on real-size fixtures, which the test suite, kept under ten minutes on two cores,
has no time for. Their figures are in BENCHMARKS.md."""
from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_enable", False):
        return
    skip = pytest.mark.skip(reason="a benchmark: run with --benchmark-enable")
    for item in items:
        if "benchmarks" in item.path.parts:
            item.add_marker(skip)
