"""Model identity: a run's key and record hold a content fingerprint of everything that decides the
model's outputs: its code (a submission's whole folder, untracked files included), files named by
``--model-args`` values and files the adapter declares; swapping weights makes a new run."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from harness.cli import main

TASK = "svc2026-rppg-phase1"

# A training-free rPPG submission whose output is the green channel times a weight read from a
# file: its own `scale.npy` by default, or the file named by --model-args weights=PATH.
MODEL = textwrap.dedent('''
    from pathlib import Path
    import numpy as np
    import torch
    from harness.models import Adapter

    HERE = Path(__file__).parent

    class Model(Adapter):
        family, inputs, output = "rppg", ("rgb",), "bvp"

        def __init__(self, weights=None, extra=None):
            super().__init__()
            self.path = Path(weights) if weights else HERE / "scale.npy"
            self.extra = extra
            w = np.load(self.path)
            self.w = torch.tensor(w, dtype=torch.float64)

        def fingerprint_files(self):
            return [self.extra] if self.extra else []

        def predict(self, batch):
            rgb = batch["rgb"].double()
            return (rgb * self.w).sum(-1)
''')


@pytest.fixture
def submission(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    folder = subs / "scaled"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(MODEL)
    np.save(folder / "scale.npy", np.array([0.0, 1.0, 0.0]))
    monkeypatch.setenv("HARNESS_SUBMISSIONS", str(subs))
    return folder


def run(capsys, *extra: str) -> tuple[dict, str]:
    assert main(["run", "--task", TASK, "--model", "scaled", "--json", "--n-boot", "0", *extra]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def test_swapping_an_untracked_weights_file_makes_a_new_run(submission, capsys):
    first, _ = run(capsys)
    files = {f["path"]: f for f in first["model"]["files"]}
    assert set(files) == {"model.py", "scale.npy"} and {f["role"] for f in files.values()} == {"submission"}
    again, err = run(capsys)
    assert "resuming: 6 of 6 samples already done" in err  # same weights: the cache is reused
    assert again["model"]["fingerprint"] == first["model"]["fingerprint"]

    np.save(submission / "scale.npy", np.array([0.0, -1.0, 1.0]))  # another checkpoint, same name
    swapped, err = run(capsys)
    assert "resuming" not in err
    assert swapped["model"]["fingerprint"] != first["model"]["fingerprint"]
    assert swapped["model"]["code_fingerprint"] == first["model"]["code_fingerprint"]  # only the weights moved
    assert {f["path"]: f["sha256"] for f in swapped["model"]["files"]}["scale.npy"] != files["scale.npy"]["sha256"]
    assert swapped["metrics"]["mae"]["value"] != first["metrics"]["mae"]["value"]


def test_files_named_by_model_args_and_declared_files_are_hashed(submission, tmp_path, capsys):
    weights, extra = tmp_path / "w.npy", tmp_path / "notes.txt"
    np.save(weights, np.array([0.0, 1.0, -1.0]))
    extra.write_text("v1")
    first, _ = run(capsys, "--model-args", f"weights={weights},extra={extra}")
    roles = {f["role"]: f for f in first["model"]["files"]}
    assert {"model-arg weights", "model-arg extra", "declared"} <= set(roles)
    assert roles["model-arg weights"]["path"] == str(weights.resolve())

    np.save(weights, np.array([1.0, 1.0, -1.0]))
    second, err = run(capsys, "--model-args", f"weights={weights},extra={extra}")
    assert "resuming" not in err and second["model"]["fingerprint"] != first["model"]["fingerprint"]

    extra.write_text("v2")  # a declared file counts though it changes no number here
    third, err = run(capsys, "--model-args", f"weights={weights},extra={extra}")
    assert "resuming" not in err and third["model"]["fingerprint"] != second["model"]["fingerprint"]


def test_a_moved_checkpoint_keeps_its_fingerprint(submission, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    np.save(a / "w.npy", np.array([0.0, 1.0, 0.0]))
    np.save(b / "w.npy", np.array([0.0, 1.0, 0.0]))
    first, _ = run(capsys, "--model-args", f"weights={a / 'w.npy'}")
    second, _ = run(capsys, "--model-args", f"weights={b / 'w.npy'}")
    assert first["model"]["fingerprint"] == second["model"]["fingerprint"]


def test_a_missing_declared_file_is_a_clear_error(submission, tmp_path, capsys):
    code = main(["run", "--task", TASK, "--model", "scaled", "--model-args", f"extra={tmp_path / 'gone.txt'}"])
    _, err = capsys.readouterr()
    assert code == 2 and "fingerprint_files() that does not exist" in err and "gone.txt" in err
    assert "Traceback" not in err


def test_builtin_records_its_code_and_the_board_shows_the_fingerprint(capsys, tmp_path):
    assert main(["run", "--task", TASK, "--model", "pos", "--json", "--n-boot", "0"]) == 0
    rec = json.loads(capsys.readouterr()[0])
    assert [f["role"] for f in rec["model"]["files"]] == ["code"] and len(rec["model"]["fingerprint"]) == 12
    assert main(["leaderboard", "--task", TASK, "--source", "sample"]) == 0
    assert f"model {rec['model']['fingerprint'][:8]}" in capsys.readouterr()[0]
