"""Shared fixtures: every test writes results and caches under its own temporary folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory) -> Path:
    """One cache folder per test session, so the embedded sample is generated once."""
    return tmp_path_factory.mktemp("harness-cache")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, sample_cache, monkeypatch):
    monkeypatch.setenv("HARNESS_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("HARNESS_CACHE", str(sample_cache))
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    monkeypatch.delenv("HARNESS_TASKS", raising=False)
    monkeypatch.delenv("HARNESS_SUBMISSIONS", raising=False)
    yield
