"""Task registry: includes, strict schema, versions, config hashes, groups, published rows."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from harness.errors import HarnessError
from harness.family import FAMILIES
from harness.published import published_rows
from harness.task import TaskIndex, config_hash

INDEX = TaskIndex()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


BASE = """
    family: rppg
    version: 1
    metrics:
      - {name: mae, direction: min}
      - {name: pearson, direction: max}
    primary_metric: mae
    recipe: {band: [0.75, 2.5]}
"""


def test_project_tasks_index_without_errors():
    assert INDEX.errors == []
    assert {"svc2026-rppg-phase1", "svc2026-rppg-phase2", "rppg-pure-to-ubfc", "rppg-ubfc-to-pure",
            "rppg-pure-to-mmpd"} <= set(INDEX.tasks)
    assert INDEX.groups["svc2026-rppg"].tasks == ["svc2026-rppg-phase1", "svc2026-rppg-phase2"]


@pytest.mark.parametrize("name", sorted(INDEX.tasks))
def test_every_task_resolves_and_passes_its_family_checks(name):
    task = INDEX.tasks[name]
    FAMILIES.get(task.family).check_task(task)
    assert task.version >= 1 and len(task.config_hash) == 12
    assert task.primary_metric in task.directions
    published_rows(INDEX, task)  # published numbers name only task metrics


def test_svc2026_phases_share_training_and_differ_in_test():
    p1, p2 = INDEX.resolve("svc2026-rppg")
    assert p1.datasets["train"] == p2.datasets["train"]
    assert [(d.name, d.split) for d in p1.datasets["train"]] == [
        ("ubfc-rppg", "all"), ("pure", "all"), ("buaa-mihr", "all"), ("mmpd", "half-a")]
    assert [(d.name, d.split) for d in p1.datasets["test"]] == [("mmpd", "half-b")]
    assert [(d.name, d.split) for d in p2.datasets["test"]] == [("physdrive", "all")]
    assert [m.name for m in p1.metrics][:3] == ["mae", "rmse", "pearson"]


def test_include_merges_and_leaf_overrides(tmp_path):
    write(tmp_path, "_base.yaml", BASE)
    write(tmp_path, "t.yaml", """
        task: t
        include: _base.yaml
        recipe: {hr_method: peak}
        datasets: {test: [ubfc-rppg]}
    """)
    index = TaskIndex([tmp_path])
    assert index.errors == []
    task = index.tasks["t"]
    assert task.recipe == {"band": [0.75, 2.5], "hr_method": "peak"}
    assert task.version == 1 and task.family == "rppg"


def test_config_hash_tracks_score_relevant_keys_only(tmp_path):
    cfg = {"family": "rppg", "version": 1, "recipe": {"band": [0.75, 2.5]}, "description": "a"}
    assert config_hash(cfg) == config_hash({**cfg, "description": "b", "sources": ["x"]})
    assert config_hash(cfg) != config_hash({**cfg, "recipe": {"band": [0.6, 3.3]}})
    assert config_hash(cfg) != config_hash({**cfg, "version": 2})


@pytest.mark.parametrize("body, message", [
    ("task: t\ninclude: _base.yaml\ndatasets: {test: [pure]}\nmetric: []\n", "unknown key 'metric' (did you mean 'metrics'?)"),
    ("task: t\ninclude: _base.yaml\ndatasets: {test: [pure]}\nversion: 0\n", "'version' must be a positive integer"),
    ("task: t\ninclude: _base.yaml\ndatasets: {train: [pure]}\n", "test required"),
    ("task: t\ninclude: _base.yaml\ndatasets: {test: [pure]}\nprimary_metric: rmse\n", "primary_metric 'rmse'"),
    ("task: t\ninclude: _missing.yaml\n", "included file '_missing.yaml' does not exist"),
    ("task: [unclosed\n", "invalid YAML"),
    ("description: no name\n", "neither 'task:' nor 'group:'"),
])
def test_bad_task_files_are_reported_with_their_path(tmp_path, body, message):
    write(tmp_path, "_base.yaml", BASE)
    path = write(tmp_path, "bad.yaml", body)
    index = TaskIndex([tmp_path])
    assert len(index.errors) == 1
    assert str(path) in index.errors[0] and message in index.errors[0]


def test_include_cycle_and_duplicate_names(tmp_path):
    write(tmp_path, "_a.yaml", "include: _b.yaml\n")
    write(tmp_path, "_b.yaml", "include: _a.yaml\n")
    write(tmp_path, "c.yaml", "task: c\ninclude: _a.yaml\n")
    write(tmp_path, "_base.yaml", BASE)
    write(tmp_path, "d1.yaml", "task: d\ninclude: _base.yaml\ndatasets: {test: [pure]}\n")
    write(tmp_path, "d2.yaml", "task: d\ninclude: _base.yaml\ndatasets: {test: [pure]}\n")
    errors = TaskIndex([tmp_path]).errors
    assert any("include cycle" in e for e in errors)
    assert any("defined twice" in e for e in errors)


def test_group_with_unknown_member_is_an_error(tmp_path):
    write(tmp_path, "g.yaml", "group: g\nversion: 1\ntasks: [nope]\n")
    assert any("group member 'nope'" in e for e in TaskIndex([tmp_path]).errors)


def test_unknown_task_suggests_close_names():
    with pytest.raises(HarnessError, match="Did you mean 'svc2026-rppg'"):
        INDEX.resolve("svc2026-rpg")


def test_family_checks_reject_bad_recipe_dataset_and_direction(tmp_path):
    write(tmp_path, "_base.yaml", BASE)
    write(tmp_path, "a.yaml", "task: a\ninclude: _base.yaml\ndatasets: {test: [ubfc]}\n")
    write(tmp_path, "b.yaml", "task: b\ninclude: _base.yaml\ndatasets: {test: [pure]}\nrecipe: {hr_method: wavelet}\n")
    write(tmp_path, "c.yaml", "task: c\ninclude: _base.yaml\ndatasets: {test: [pure]}\n"
                              "metrics: [{name: mae, direction: max}]\n")
    write(tmp_path, "d.yaml", "task: d\ninclude: _base.yaml\ndatasets: {test: [{name: pure, split: third}]}\n")
    index = TaskIndex([tmp_path])
    family = FAMILIES.get("rppg")
    expected = {"a": "unknown rPPG dataset 'ubfc'", "b": "hr_method", "c": "direction 'min'", "d": "unknown split 'third'"}
    for name, message in expected.items():
        with pytest.raises(HarnessError, match=message):
            family.check_task(index.tasks[name])


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML without libyaml: the pure-Python loader is the only one")
def test_libyaml_and_the_python_loader_read_every_shipped_yaml_file_alike(monkeypatch):
    import glob

    from harness import task

    files = sorted(glob.glob(str(task.PROJECT_ROOT / "tasks" / "**" / "*.yaml"), recursive=True)) + sorted(
        glob.glob(str(task.PROJECT_ROOT / "tests" / "golden" / "*.yaml")))
    assert len(files) > 100
    real_load = task.load_yaml.__wrapped__ if hasattr(task.load_yaml, "__wrapped__") else task.load_yaml
    for f in files:
        read = {}
        for name, loader in (("libyaml", yaml.CSafeLoader), ("python", yaml.SafeLoader)):
            monkeypatch.setattr(task, "SAFE_LOADER", loader)
            read[name] = repr(real_load(f))  # repr tells True, 1 and 1.0 apart, which == does not
        assert read["libyaml"] == read["python"], f
