"""The family contract: an abstract base class, families found through the ``harness.families``
entry points (a third-party one, ``tests/plugins/toy_family.py``, runs end to end), and a core
that looks nothing up by module name."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.family import FAMILIES, Family

PLUGINS = Path(__file__).parent / "plugins"
HARNESS = Path(__file__).resolve().parent.parent / "harness"
BUILT_IN = ["deception", "fas", "iqa_backdoor", "rppg", "splicing"]

TOY_TASK = """\
task: toy-task
family: toy
version: 1
datasets:
  test: [toy]
metrics:
  - {name: mae, direction: min}
primary_metric: mae
"""


def install(tmp_path: Path, monkeypatch, name: str, entry_points: str) -> None:
    """A fake installed distribution: a dist-info with these entry points, on ``sys.path``."""
    dist = tmp_path / f"{name}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.fixture
def forget_plugins():
    """Families a test installs are forgotten afterwards (the registry caches what it discovers)."""
    yield
    for name in set(FAMILIES._entries) - set(BUILT_IN):
        FAMILIES._entries.pop(name, None)
        FAMILIES._origins.pop(name, None)
    sys.modules.pop("toy_family", None)


@pytest.fixture
def toy(tmp_path, monkeypatch, forget_plugins):
    """The toy family and its model installed as a third-party package would be, plus its task."""
    install(tmp_path / "site", monkeypatch, "toy-harness-family",
            "[harness.families]\ntoy = toy_family:FAMILY\n\n[harness.models]\ntoy-double = toy_family:ToyDouble\n")
    monkeypatch.syspath_prepend(str(PLUGINS))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "toy-task.yaml").write_text(TOY_TASK)
    monkeypatch.setenv("HARNESS_TASKS", str(tasks))


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_built_in_families_come_from_the_entry_points():
    from importlib import metadata

    declared = {ep.name: ep.value for ep in metadata.entry_points(group="harness.families")}
    assert sorted(declared) == BUILT_IN == FAMILIES.names()
    for name in BUILT_IN:
        family = FAMILIES.get(name)
        assert isinstance(family, Family) and family.name == name
        assert declared[name] == f"harness.families.{name}.family:FAMILY"


def test_a_third_party_family_runs_end_to_end(toy, capsys, tmp_path):
    assert "toy" in FAMILIES.names()
    code, out, err = cli(capsys, "run", "--task", "toy-task", "--model", "toy-double", "--n-boot", "0",
                         "--submission", str(tmp_path / "pred.csv"), "--json")
    assert code == 0, err
    record = json.loads(out)
    values = pd.read_csv(Path(record["data"]["root"]) / "toy" / "values.csv")
    expected = np.abs(2 * values.x - values.y)  # computed here, independently of the family's score()
    assert record["data"]["source"] == "sample" and record["n_samples"] == len(values) == 8
    assert record["metrics"]["mae"]["value"] == pytest.approx(expected.mean(), rel=1e-12)
    assert record["metrics"]["mae"]["se"] == pytest.approx(expected.std(ddof=1) / np.sqrt(8), rel=1e-12)
    assert record["model"]["origin"] == "entry point"
    rows = pd.read_csv(next((tmp_path / "results").glob("runs/sample/toy-task/toy-double*/samples.csv")))
    assert sorted(rows.sample_id) == sorted(values.id)
    # the prediction file it wrote scores the same against the sample's reference
    code, out, err = cli(capsys, "score", "--task", "toy-task", "--predictions", str(tmp_path / "pred.csv"),
                         "--n-boot", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["metrics"]["mae"]["value"] == pytest.approx(expected.mean(), rel=1e-12)


def test_the_toy_family_refuses_what_it_does_not_offer(toy):
    family = FAMILIES.get("toy")
    assert family.plots() == {} and family.protocol_values(None, None) == {}
    assert not family.supports("write_participant_copy") and not family.supports("export_rows")
    with pytest.raises(HarnessError, match="participant-copy does not support the toy family"):
        family.write_participant_copy(None, Path(), Path())
    with pytest.raises(HarnessError, match="has no datasets format"):
        family.export_rows(None, None, "test")


def test_a_family_missing_a_required_hook_cannot_be_built():
    class Half(Family):
        name = "half"

        def check_task(self, task):
            pass

    with pytest.raises(TypeError, match="abstract"):
        Half()


@pytest.mark.parametrize("target, message", [
    ("json:dumps", "gives a function, not a harness.family.Family instance"),
    ("toy_family:FAMILY", "gives the family named 'toy'; the names must match"),
])
def test_a_bad_family_entry_point_is_one_clear_error(tmp_path, monkeypatch, capsys, forget_plugins, target, message):
    install(tmp_path, monkeypatch, "bad-family", f"[harness.families]\nbad = {target}\n")
    monkeypatch.syspath_prepend(str(PLUGINS))
    with pytest.raises(HarnessError, match=re.escape(message)):
        FAMILIES.get("bad")


def test_two_packages_giving_one_family_name_is_refused(tmp_path, monkeypatch, forget_plugins):
    install(tmp_path / "a", monkeypatch, "toy-a", "[harness.families]\ntoy = toy_family:FAMILY\n")
    install(tmp_path / "b", monkeypatch, "toy-b", "[harness.families]\ntoy = other_toy:FAMILY\n")
    with pytest.raises(HarnessError, match="family 'toy' is registered twice: by toy-"):
        FAMILIES.names()


def test_the_core_looks_up_no_family_by_module_name():
    """Only the families' own folders name family modules; the core goes through the contract."""
    for path in HARNESS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"harness\.families\.\w|from \.families\.\w| is Family\.", text), path.name
