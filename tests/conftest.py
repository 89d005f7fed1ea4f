"""Shared fixtures: every test writes results and caches under its own temporary folders."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def parsed_yaml_once():
    """Each YAML text is parsed once per test session. ``harness.task.load_yaml`` (task files,
    ``published.yaml``) runs for every ``TaskIndex`` and every CLI call over all ~230 task files:
    with PyYAML's pure-Python loader that alone was about a third of the suite's time. The real function still parses each distinct (path, bytes, limits) the
    first time, and every refusal (too big, alias bomb, invalid YAML) is raised again, never
    remembered; callers get a deep copy, as they may change what they get."""
    from harness import task

    load = task.load_yaml
    parsed: dict[tuple, object] = {}

    def load_once(path):
        try:
            key = (str(Path(path).resolve()), Path(path).read_bytes(), task.MAX_YAML_BYTES, task.MAX_YAML_NODES,
                   task.SAFE_LOADER)
        except OSError:
            return load(path)  # its own message for an unreadable file
        if key not in parsed:
            parsed[key] = load(path)
        return copy.deepcopy(parsed[key])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(task, "load_yaml", load_once)
        yield


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory) -> Path:
    """One cache folder per test session, so the embedded sample is generated once."""
    return tmp_path_factory.mktemp("harness-cache")


@pytest.fixture(scope="session")
def family_sample(sample_cache):
    """A family's embedded sample as ``harness run`` uses it, from the session's cache: each
    family's sample is generated once per test run, however many modules read it."""
    from harness.family import FAMILIES

    def root(family: str) -> Path:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HARNESS_CACHE", str(sample_cache))
            return FAMILIES.get(family).sample_root()
    return root


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, sample_cache, monkeypatch):
    monkeypatch.setenv("HARNESS_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("HARNESS_CACHE", str(sample_cache))
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    monkeypatch.delenv("HARNESS_TASKS", raising=False)
    monkeypatch.delenv("HARNESS_SUBMISSIONS", raising=False)
    yield


@pytest.fixture(scope="session")
def pos_submission(tmp_path_factory, sample_cache) -> dict:
    """POS on svc2026-rppg-phase2 (the sample): its submission file ``run.npz``, its run record,
    and the task's exported reference ``ref.npz`` — what a participant uploads and an organizer holds."""
    from harness.cli import main

    folder = tmp_path_factory.mktemp("pos-submission")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(sample_cache))
        mp.setenv("HARNESS_RESULTS", str(folder / "results"))
        mp.delenv("HARNESS_DATA", raising=False)
        task = "svc2026-rppg-phase2"
        assert main(["run", "--task", task, "--model", "pos", "--submission", str(folder / "run.npz"), "--json"]) == 0
        assert main(["data", "reference", "--task", task, "--out", str(folder / "ref.npz")]) == 0
    record = json.loads(next((folder / "results").glob("runs/sample/*/pos/record.json")).read_text())
    return {"folder": folder, "record": record}


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny convolutions run faster on one thread, and far faster on a loaded 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
