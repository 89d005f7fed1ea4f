"""A minimal third-party task family, the one ``docs/adding-a-family.md`` walks through.

Task: predict ``y`` from ``x`` for each row of ``<root>/<dataset>/values.csv`` (header
``id,x,y``); scored by mean absolute error. It is installed by a fake distribution in
``tests/test_family_contract.py`` through the ``harness.families`` entry-point group (its model
``toy-double`` through ``harness.models``), exactly as an installed package would be.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from harness.errors import HarnessError
from harness.family import (DataSource, Family, PredictionFormat, Score, StreamDataset, TestSet, Unit,
                            cache_root, choose_root, fingerprint_files, scores_of)
from harness.files import atomic_path
from harness.stats import MetricSpec, MetricValue

MARKER = ".toy-sample"  # the sample generator's marker file: a root holding it is labelled sample
HEADER = ("id", "x", "y")


def read_values(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``values.csv`` (the family's on-disk layout); a bad file is one clear error."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise HarnessError(f"cannot read the values file: {exc.strerror}", path) from exc
    if not rows or tuple(rows[0]) != HEADER:
        raise HarnessError(f"the header must be {','.join(HEADER)}", path)
    try:
        return [{"id": r[0], "x": float(r[1]), "y": float(r[2])} for r in rows[1:]]
    except (IndexError, ValueError) as exc:
        raise HarnessError(f"every row must be id,x,y with numbers: {exc}", path) from None


class ToyDouble:
    """The toy's built-in model: predicts ``y = 2 x`` (no training)."""

    family = "toy"
    inputs = ("x",)
    output = "y"

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        return {"score": 2.0 * batch["x"]}


class ToyFamily(Family):
    name = "toy"
    metric_specs = {"mae": MetricSpec("mae", "min", "", "mean absolute error of y", bounds=(0.0, None))}
    reference_suffix = ".csv"
    submission_suffixes = (".csv",)

    # tasks
    def check_task(self, task) -> None:
        self.check_metrics(task)
        if not task.datasets.get("test"):
            raise HarnessError("a toy task needs test datasets", task.path)

    def recipe_record(self, task) -> dict[str, Any]:
        return {}

    # data
    def synthesize(self, out: Path, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        folder = Path(out) / "toy"
        folder.mkdir(parents=True, exist_ok=True)
        x = rng.uniform(0, 10, 8).round(3)
        y = (2 * x + rng.normal(0, 1, 8)).round(3)
        lines = [",".join(HEADER)] + [f"s{i},{a},{b}" for i, (a, b) in enumerate(zip(x, y))]
        (folder / "values.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (Path(out) / MARKER).write_text("toy sample\n")
        return Path(out)

    def sample_root(self) -> Path:
        root = cache_root() / "toy-sample"
        return root if (root / MARKER).is_file() else self.synthesize(root)

    def resolve_data(self, task, data_root: Path | None, need_train: bool) -> DataSource:
        root, kind, notes = choose_root(data_root, self.sample_root, MARKER)
        names = [ref.name for ref in task.datasets["test"]]
        files = [root / n / "values.csv" for n in names]
        for f in files:
            if not f.is_file():
                raise HarnessError("missing the toy values file", f)
        fp = fingerprint_files(root, files, heads=files)
        return DataSource(kind, root, fp, {"test": names}, notes, {"test": fp},
                          scanned={"test": [r for f in files for r in read_values(f)]})

    def train_data(self, task, source: DataSource, model) -> Any:
        raise HarnessError("toy tasks have no training data")

    def test_set(self, task, source: DataSource, model, limit: int | None) -> TestSet:
        rows = {r["id"]: r for r in source.scanned["test"]}
        ids = list(rows)[:limit] if limit else list(rows)

        def produce(sample_id: str):
            row = rows[sample_id]
            yield Unit(sample_id, reference={"y": row["y"]}), {"x": torch.tensor(row["x"], dtype=torch.float64)}

        def collate(items):
            return [u for u, _ in items], {"x": torch.stack([inp["x"] for _, inp in items])}

        return TestSet(ids, self, lambda chosen: StreamDataset(chosen, produce), collate)

    # the model loop and scoring
    def split_outputs(self, outputs: Any, units: Sequence[Unit], inputs: dict) -> list[Any]:
        return [{"y": v} for v in scores_of(outputs, units, "a prediction of y")]

    def score(self, task, outputs: dict[str, Any], references: dict[str, Any], *, n_boot: int, seed: int) -> Score:
        ids = list(outputs)
        pred = np.array([float(outputs[i]["y"]) for i in ids])
        true = np.array([float(references[i]["y"]) for i in ids])
        err = np.abs(pred - true)
        n = len(err)
        se = float(err.std(ddof=1) / math.sqrt(n)) if n > 1 else None
        value = MetricValue(float(err.mean()), n=n, se=se, ci_low=None if se is None else err.mean() - 1.96 * se,
                            ci_high=None if se is None else err.mean() + 1.96 * se, se_method="std(ddof=1)/sqrt(n)")
        rows = pd.DataFrame({"sample_id": ids, "y_true": true, "y_pred": pred, "abs_error": err})
        return Score({"mae": self.metric_specs["mae"].clip(value)}, rows)

    # prediction files
    def prediction_format(self) -> PredictionFormat:
        return PredictionFormat((".csv",), "a .csv with header id,y: one predicted y per id.",
                                "A CSV with header id,y and one row per test id; y a finite number.")

    def prediction_suffix(self, outputs: dict[str, Any]) -> str:
        return ".csv"

    def write_predictions(self, path: Path, outputs: dict[str, Any], references: dict[str, Any]) -> None:
        with atomic_path(Path(path)) as tmp:
            tmp.write_text("id,y\n" + "".join(f"{i},{float(o['y'])!r}\n" for i, o in outputs.items()), encoding="utf-8")

    def read_predictions(self, task, upload, references: dict[str, Any], problems) -> dict[str, Any]:
        from harness.upload import check_ids, number_in, read_csv

        rows, seen = read_csv(upload, ("id", "y"), {"y": number_in(-math.inf, math.inf)}, problems)
        check_ids(seen, list(references), problems, task.name)
        return {i: {"y": v["y"]} for i, v in rows.items() if i in references}

    # reference files
    def references(self, task, data_root: Path | None) -> tuple[dict[str, Any], dict]:
        source = self.resolve_data(task, data_root, need_train=False)
        refs = {r["id"]: {"y": r["y"]} for r in source.scanned["test"]}
        return refs, {"kind": "datasets", "root": str(source.root), "samples": len(refs)}

    def write_reference(self, path: Path, references: dict[str, Any]) -> None:
        with atomic_path(Path(path)) as tmp:
            tmp.write_text("id,x,y\n" + "".join(f"{i},0,{float(r['y'])!r}\n" for i, r in references.items()),
                           encoding="utf-8")

    def read_reference(self, task, path: Path) -> tuple[dict[str, Any], dict]:
        refs = {r["id"]: {"y": r["y"]} for r in read_values(Path(path))}
        return refs, {"kind": "file", "path": str(path), "samples": len(refs)}


FAMILY = ToyFamily()
