"""The NR-IQA backdoor family (BAIQA): how well a (possibly backdoored) no-reference quality model
predicts quality on clean images, and how exactly and how visibly a scalable DCT trigger moves its
score to y + α·Δy.

Datasets are named by their folder (``livec``, ``koniq``, ``kadid``; layouts in ``data``); every
MOS is mapped to a 0–100 scale, higher = better. The harness injects the trigger itself
(``trigger.inject``: 16×16 block DCT in YCbCr, mid band), so every submission is attacked the same
way; the pattern is the model's own (``trigger_file``, loaded safely) or the documented default.

What an adapter receives per batch: ``images``, a list of (3, H, W) float tensors in [0, 1]
(sizes may differ), and ``ids``. It returns ``{"score": (B,)}`` on the 0–100 scale. It declares
``backdoor_setting`` ("none", "poison-label" or "clean-label"): what it was trained with, checked
against the task's variant, never guessed.

A backdoor task scores every test image at every α of the grid (sample ids ``<image>@a=<α>``); the
prediction file is CSV ``id,alpha,score`` with one row per image and α.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ...errors import HarnessError
from ...family import (DataSource, Family, PredictionFormat, Score, StreamDataset, TestSet, Unit, cache_root, choose_root,
                      combined_fingerprint, held_out, roles_needed, scores_of, select_by_role)
from ...hfdata import Column, RowImage
from ...images import image_tensor, pixels, prepare_images, read_image, save_row_image
from ...files import atomic_path
from ...upload import Problems, Upload, check_ids, csv_rows, number_in, parse_number, parse_rows
from ...stats import MetricValue, evaluate, undefined_notes
from . import data, metrics, trigger

SAMPLE_SEED = 0
VAL_SHARE = 5                   # every 5th training image (by id hash) is held out for model selection
DATASETS = ("livec", "koniq", "kadid")
SETTINGS = ("poison-label", "clean-label")
MODEL_SETTINGS = ("none", *SETTINGS)
CLEAN = ("srocc", "plcc", "krcc", "rmse", "plcc_logistic")
VISIBILITY = ("psnr", "ssim")
HEADER = ("id", "alpha", "score")
REFERENCE_HEADER = ("id", "image_id", "alpha", "mos", "dataset")


def alpha_grid(step: float = 0.4, top: float = 4.0) -> list[float]:
    """0, then ±step, ±2·step, … ±top (BAIQA's test grid: 20 non-zero values)."""
    k = int(round(top / step))
    return [0.0] + [round(s * step * i, 6) for i in range(1, k + 1) for s in (1, -1)]


def unit_id(image_id: str, alpha: float) -> str:
    return f"{image_id}@a={alpha + 0.0:g}"  # -0 is 0


@dataclasses.dataclass(frozen=True)
class IqaRecipe:
    """What decides a number besides the predictions."""

    alphas: tuple[float, ...] = ()        # () = a plain quality task (clean images only)
    delta_y: float = 10.0                 # target step on the 0-100 scale
    tau: float = 5.0                      # attack_success_rate tolerance (this project's definition)
    setting: str = "poison-label"         # the backdoor variant the task scores (models declare theirs)

    @classmethod
    def from_dict(cls, d: dict | None) -> "IqaRecipe":
        d = dict(d or {})
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown recipe key(s) {unknown}")
        alphas = d.get("alphas", ())
        if alphas == "baiqa":
            alphas = alpha_grid()
        r = cls(tuple(float(a) for a in alphas), float(d.get("delta_y", 10.0)), float(d.get("tau", 5.0)),
                str(d.get("setting", "poison-label")))
        if r.alphas and (0.0 not in r.alphas or len(set(r.alphas)) != len(r.alphas)):
            raise ValueError("recipe.alphas must hold 0 (the clean images) and no value twice")
        if r.delta_y <= 0 or r.tau <= 0:
            raise ValueError("recipe.delta_y and recipe.tau must be positive")
        if r.setting not in SETTINGS:
            raise ValueError(f"recipe.setting must be one of {SETTINGS}, got {r.setting!r}")
        return r

    @property
    def backdoor(self) -> bool:
        return bool(self.alphas)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"scale": "MOS mapped to 0-100, higher = better", "plcc": "raw; plcc_logistic after the 4-parameter VQEG fit"}
        if self.backdoor:
            out.update(alphas=list(self.alphas), delta_y=self.delta_y, tau=self.tau, setting=self.setting,
                       target="gt + alpha * delta_y",
                       trigger="0.25*alpha*t on zig-zag 96..159 of 16x16 YCbCr block DCTs (harness-injected)",
                       attack_success_rate=f"share of images with |pred_a - (pred_0 + a*dy)| <= {self.tau} "
                                           "(this project's definition, not BAIQA's)",
                       summary="backdoor metrics averaged over the non-zero alphas",
                       visibility="psnr / ssim between clean and triggered images at the largest |alpha| (full strength)")
        return out


class _Images(Dataset):
    def __init__(self, records: list[data.QualityRecord]):
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, float, str]:
        r = self.records[i]
        return image_tensor(read_image(r.image)), float(r.mos), r.sample_id


def _train_collate(items: list) -> dict:
    return {"images": [x for x, _, _ in items], "mos": torch.tensor([m for _, m, _ in items], dtype=torch.float32),
            "ids": [i for _, _, i in items]}


class IqaTrainSet:
    """What ``fit()`` receives: ``loader(batch_size, shuffle, seed)`` over the training images
    (``images``: list of (3, H, W) tensors, ``mos`` 0-100, ``ids``), ``val_loader(batch_size)`` over
    the held-out fifth (model selection only) and ``pattern``, the (3, 64) trigger of this run."""

    def __init__(self, records: list[data.QualityRecord], pattern: torch.Tensor, delta_y: float):
        held = [held_out(f"{r.dataset}/{r.sample_id}", VAL_SHARE) for r in records]
        self.train_records = [r for r, h in zip(records, held) if not h]
        self.val_records = [r for r, h in zip(records, held) if h]
        self.pattern, self.delta_y = pattern, delta_y

    def loader(self, batch_size: int = 16, shuffle: bool = True, seed: int = 0) -> DataLoader:
        return DataLoader(_Images(self.train_records), batch_size=batch_size, shuffle=shuffle, collate_fn=_train_collate,
                          generator=torch.Generator().manual_seed(seed))

    def val_loader(self, batch_size: int = 16) -> DataLoader:
        return DataLoader(_Images(self.val_records), batch_size=batch_size, shuffle=False, collate_fn=_train_collate)


def collate(items: list[tuple[Unit, dict]]) -> tuple[list[Unit], dict]:
    units = [u for u, _ in items]
    return units, {"images": [inp["image"] for _, inp in items], "ids": [u.sample_id for u in units]}


def model_pattern(model) -> tuple[torch.Tensor, str]:
    """The trigger a model's run uses: its ``trigger_file`` (loaded safely) or the default."""
    path = getattr(model, "trigger_file", None)
    if path:
        return trigger.load_pattern(Path(path)), f"the model's trigger {path}"
    return trigger.DEFAULT_PATTERN.clone(), "the harness's default trigger pattern (trigger.DEFAULT_PATTERN)"


def full_strength(alphas: Sequence[float]) -> list[float]:
    """The α of the grid at which a trigger's visibility is measured: the largest |α|, both signs."""
    top = max((abs(a) for a in alphas), default=0.0)
    return [a for a in alphas if abs(a) == top]


def visibility(clean: torch.Tensor, shown: torch.Tensor) -> list[dict[str, float]]:
    """PSNR and SSIM of each triggered image of ``shown`` (K, 3, H, W) against the clean (3, H, W)."""
    if not len(shown):
        return []
    ref = clean[None].expand(len(shown), -1, -1, -1)
    return [dict(zip(VISIBILITY, v)) for v in zip(metrics.psnr(ref, shown).tolist(), metrics.ssim(ref, shown).tolist())]


def _lines(numbers: list[int], shown: int = 5) -> str:
    return ", ".join(map(str, numbers[:shown])) + (", …" if len(numbers) > shown else "")


class IqaBackdoorFamily(Family):
    name = "iqa_backdoor"
    plots_module = ".plots"
    submission_suffixes = (".csv",)
    metric_specs = metrics.METRICS

    # ------------------------------------------------------------------ task checks
    def check_task(self, task) -> None:
        try:
            recipe = IqaRecipe.from_dict(task.recipe)
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"recipe: {exc}", task.path) from exc
        for role, refs in task.datasets.items():
            if role == "val":
                raise HarnessError("IQA tasks hold out validation images from the training split; remove datasets.val", task.path)
            for ref in refs:
                if ref.name not in DATASETS:
                    raise HarnessError(f"datasets.{role}: unknown IQA dataset {ref.name!r}; known: {list(DATASETS)}", task.path)
                if ref.split not in ("all", "train", "test"):
                    raise HarnessError(f"datasets.{role}: split must be all, train or test, got {ref.split!r}", task.path)
        backdoor_only = [m.name for m in task.metrics if m.name not in CLEAN]
        if backdoor_only and not recipe.backdoor:
            raise HarnessError(f"metrics {backdoor_only} need recipe.alphas (a backdoor task)", task.path)
        self.check_metrics(task)

    def recipe_record(self, task) -> dict[str, Any]:
        return IqaRecipe.from_dict(task.recipe).to_dict()

    def check_model(self, task, model) -> None:
        """A backdoored model runs only on the task variant it declares; a clean one anywhere."""
        recipe = IqaRecipe.from_dict(task.recipe)
        declared = getattr(model, "backdoor_setting", None)
        if declared not in MODEL_SETTINGS:
            raise HarnessError(f"the model must declare backdoor_setting, one of {MODEL_SETTINGS} (what it was trained "
                               f"with; the harness never guesses), got {declared!r}")
        if declared != "none" and (not recipe.backdoor or declared != recipe.setting):
            scored = f"{recipe.setting!r} models (or clean ones)" if recipe.backdoor else "clean models only (a " \
                "backdoored model's clean quality is reported by its baiqa-* task)"
            raise HarnessError(f"the model declares backdoor_setting {declared!r}; task {task.name} scores {scored}")

    # ------------------------------------------------------------------ data
    def synthesize(self, out: Path, seed: int = 0) -> Path:
        from . import synth

        return synth.synthesize(Path(out), seed=seed)

    def sample_root(self) -> Path:
        from . import synth

        root = cache_root() / f"iqa-sample-v{synth.GENERATOR_VERSION}-seed{SAMPLE_SEED}"
        if not (root / synth.MARKER).is_file():
            synth.synthesize(root, seed=SAMPLE_SEED)
        return root

    def resolve_data(self, task, data_root: Path | None, need_train: bool) -> DataSource:
        from . import synth

        from ...participant import is_participant_copy, test_inputs

        root, kind, notes = choose_root(data_root, self.sample_root, synth.MARKER)
        roles = roles_needed(task, need_train)
        scanned: dict[str, list] = {}
        unlabelled = is_participant_copy(root)
        if unlabelled:
            notes.append("participant copy: the test MOS are withheld; a run writes its --submission file and scores "
                         "nothing")

        def records_of(ref) -> list[data.QualityRecord]:
            if unlabelled and ref in task.datasets["test"]:  # opaque ids, no MOS
                nan = float("nan")
                return [data.QualityRecord(p.stem, ref.name, p, nan, nan, "test") for p in test_inputs(root, ref.name)]
            if ref.name not in scanned:
                if not (root / ref.name).is_dir():
                    raise HarnessError(f"dataset folder is missing; expected layout: {data.LAYOUT}", root / ref.name)
                scanned[ref.name] = data.scan(root, ref.name)
            return data.select(scanned[ref.name], ref.split)

        chosen = select_by_role(task, roles, records_of, "image")
        if "train" in chosen:
            notes.append(f"model selection: fit() gets 1/{VAL_SHARE} of the training images (by id hash) held out as its "
                         f"only validation data; the test images never reach fit()")
        role_fps = {role: data.fingerprint(root, recs) for role, recs in chosen.items()}
        datasets = {r: [d.name for d in task.datasets.get(r, [])] for r in roles}
        return DataSource(kind, root, combined_fingerprint(role_fps), datasets, notes, role_fps, {"records": chosen},
                          labelled=not unlabelled)

    def write_participant_copy(self, task, root: Path, out: Path) -> tuple[list[str], dict[str, str]]:
        """Training datasets as released (a whole folder), or, when the test images come from the
        same dataset (every IQA task), its training images only, with their MOS in a
        ``meta_info.csv`` (``official_split`` train): the release's score files, which hold the test
        MOS, are not copied. The test images as ``test-inputs/<dataset>/<opaque key>.<ext>`` without
        their metadata. No trigger is in the copy: a run injects the model's own."""
        from ...participant import write_image_copy
        from . import synth

        source = self.resolve_data(task, root, need_train=True)
        ids = write_image_copy(task, source, out, data.read_image, _write_meta_info, synth.MARKER)
        return ["test images: test-inputs/<dataset>/<opaque key>.<ext>, without MOS or metadata (the run injects the "
                "trigger); training images with their MOS in <dataset>/meta_info.csv"], ids

    def rename_references(self, references: dict[str, dict], renamed: dict[str, str]) -> dict[str, dict]:
        from ...participant import rename_image_references

        return rename_image_references(references, renamed)

    # ------------------------------------------------------------------ datasets repositories
    row_columns = (
        Column("id", "text", True, help="sample id (the image's file stem)"),
        Column("image", "image", True, help="the image (PNG, JPEG, TIFF or BMP)"),
        Column("mos", "number", True, label=True, help="the MOS on the dataset's native range "
               + ", ".join(f"{k} [{lo:g}, {hi:g}]" for k, (lo, hi) in data.NATIVE_RANGE.items())),
        Column("dataset", "text", help=f"the task dataset of the row ({', '.join(data.DATASETS)})"),
        Column("split", "text", help="train, val or test (default: the harness's seeded 80/20 split)"),
    )

    def write_rows(self, rows, out: Path) -> int:
        """``<dataset>/images/<id><ext>`` and a pyiqa-style ``meta_info.csv`` (image, MOS on the
        native range, and ``official_split`` when the rows carry a split). Bytes are written unchanged."""
        listed: dict[str, list] = {}
        for row in rows:
            where, name, sid = row["_where"], row["dataset"], row["id"]
            if name not in data.DATASETS:
                raise HarnessError(f"{where}: unknown IQA dataset {name!r}; known: {list(data.DATASETS)}")
            if row.get("image") is None or row.get("mos") is None:
                raise HarnessError(f"{where}: empty {'image' if row.get('image') is None else 'MOS'}")
            raw = data.check_mos(name, row["mos"], where)
            split = row.get("split")
            if split is not None and split.strip().lower() not in data.SPLIT_VALUES:
                raise HarnessError(f"{where}: split {split!r} is not train, val or test")
            image, _ = save_row_image(row["image"], out / name / "images", sid)
            listed.setdefault(name, []).append([f"images/{image.name}", repr(raw), split])
        for name, entries in listed.items():
            has_split = {e[2] is not None for e in entries}
            if has_split == {True, False}:
                raise HarnessError(f"dataset {name!r}: some rows have a split and others none; give every row one")
            header = ["image_name", "mos"] + (["official_split"] if True in has_split else [])
            with open(out / name / data.META_CSV, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows([header, *[e[: len(header)] for e in entries]])
        return sum(len(e) for e in listed.values())

    def export_rows(self, task, source: DataSource, role: str):
        for r in source.scanned["records"][role]:
            yield {"id": r.sample_id, "image": RowImage(r.image.read_bytes(), str(r.image), r.image.name),
                   "mos": float(r.raw_mos), "dataset": r.dataset, "split": r.split}

    def train_data(self, task, source: DataSource, model) -> IqaTrainSet:
        pattern, _ = model_pattern(model)
        return IqaTrainSet(source.scanned["records"].get("train", []), pattern, IqaRecipe.from_dict(task.recipe).delta_y)

    def test_set(self, task, source: DataSource, model, limit: int | None) -> TestSet:
        recipe = IqaRecipe.from_dict(task.recipe)
        records = source.scanned["records"]["test"]
        if limit is not None:
            records = records[: max(int(limit), 0)]
        pattern, described = model_pattern(model)
        alphas = list(recipe.alphas) or [None]
        full = set(full_strength(recipe.alphas))
        owner = {(unit_id(r.sample_id, a) if a is not None else r.sample_id): r for r in records for a in alphas}
        by_id = {r.sample_id: r for r in records}

        def produce(image_id: str, wanted: set[str]) -> Iterator[tuple[Unit, dict]]:
            r = by_id[image_id]
            if not recipe.backdoor:
                yield Unit(image_id, reference=_reference(r, None)), {"image": pixels(read_image(r.image))}
                return
            clean = image_tensor(read_image(r.image))
            todo = [a for a in recipe.alphas if unit_id(image_id, a) in wanted]
            triggered = trigger.inject(clean[None].expand(len(todo), -1, -1, -1), torch.tensor(todo), pattern)
            strongest = [k for k, a in enumerate(todo) if a in full]
            seen = dict(zip(strongest, visibility(clean, triggered[strongest])))
            for k, a in enumerate(todo):
                meta = seen.get(k, {})
                yield Unit(unit_id(image_id, a), reference=_reference(r, a), meta=meta), {"image": triggered[k]}

        def make_dataset(sample_ids: list[str]) -> StreamDataset:
            wanted = set(sample_ids)
            return StreamDataset(list(dict.fromkeys(owner[i].sample_id for i in sample_ids)), lambda i: produce(i, wanted))

        key = hashlib.sha256(pattern.numpy().astype(np.float64).tobytes()).hexdigest()[:16]
        return TestSet(list(owner), self, make_dataset=make_dataset, collate=collate, prepare=prepare_images, threads=True,
                       key=key if recipe.backdoor else "",
                       notes=([f"trigger: {described} (sha256 {key})"] if recipe.backdoor else [])
                       + [f"model test protocol: {getattr(model, 'test_protocol', 'not declared')}"])

    # ------------------------------------------------------------------ outputs
    def split_outputs(self, outputs: Any, units: Sequence[Unit], inputs: dict) -> list[dict]:
        return [{"score": v, **{k: float(unit.meta[k]) for k in VISIBILITY if k in unit.meta}}
                for unit, v in zip(units, scores_of(outputs, units, "quality on the 0-100 scale"))]

    # ------------------------------------------------------------------ prediction files
    def prediction_format(self) -> PredictionFormat:
        return PredictionFormat(
            suffixes=(".csv",),
            summary="header id,alpha,score, one row per test image id and trigger strength alpha of the task's "
                    "grid (alpha 0 = clean; a plain quality task: alpha 0 or empty), score = predicted quality "
                    "on the 0-100 MOS scale.",
            details="""\
.csv: header id,alpha,score. id is the test image's id; alpha the trigger strength the image was
    scored at: a backdoor task needs one row per image and alpha of its grid (alpha 0 = the
    clean image, the others as `harness run` injects the trigger), a plain quality task one row
    per image with alpha 0 (or empty). score is the model's predicted quality on the 0-100 MOS
    scale (a finite number).""")

    def prediction_suffix(self, outputs) -> str:
        return ".csv"

    def write_predictions(self, path: Path, outputs: dict[str, dict], references: dict[str, dict]) -> None:
        path = Path(path)
        if path.suffix.lower() != ".csv":
            raise HarnessError("IQA predictions are written as .csv (id,alpha,score)", path)
        lines = [",".join(HEADER)]
        for uid, o in outputs.items():
            ref = references[uid]
            alpha = _alpha(ref)
            lines.append(f"{_str(ref['image_id'])},{0 if alpha is None else alpha:g},{float(o['score'])!r}")
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def read_predictions(self, task, upload: Upload, references: dict[str, dict], problems: Problems) -> dict[str, dict]:
        """CSV ``id,alpha,score``: one row per test image and α of the grid (α ignored, but must be
        0 if present, on a plain quality task)."""
        if Path(upload.name).suffix.lower() != ".csv":
            raise HarnessError("unknown prediction format: IQA predictions are a .csv with header id,alpha,score", upload.name)
        backdoor = IqaRecipe.from_dict(task.recipe).backdoor
        off_grid: list[int] = []     # plain task: rows with a trigger strength
        not_number: list[int] = []   # rows whose alpha is not a number

        def keyed(lines):
            for n, fields in lines:
                if len(fields) != 3:
                    yield n, fields
                    continue
                image_id, alpha, score = (f.strip() for f in fields)
                a = parse_number(alpha) if alpha or backdoor else 0.0  # a plain task may leave alpha empty
                if a is None:
                    not_number.append(n)
                    continue
                if not backdoor and a != 0:
                    off_grid.append(n)
                    continue
                yield n, [unit_id(image_id, a) if backdoor else image_id, score]

        rows, seen = parse_rows(keyed(csv_rows(upload, HEADER)), ("id", "score"), {"score": number_in(-1e6, 1e6)}, problems)
        if not_number:
            problems.add(f"{len(not_number)} row(s) with an alpha that is not a number (line(s) {_lines(not_number)})")
        if off_grid:
            problems.add(f"{len(off_grid)} row(s) with alpha ≠ 0 (line(s) {_lines(off_grid)}): {task.name} scores clean "
                         "images only; give alpha 0 (or leave it empty), and submit triggered rows to its backdoor task")
        check_ids(seen, list(references), problems, task.name)
        return {i: {"score": float(v["score"])} for i, v in rows.items() if i in references}

    def write_reference(self, path: Path, references: dict[str, dict]) -> None:
        lines = [",".join(REFERENCE_HEADER)]
        for uid, r in references.items():
            alpha = _alpha(r)
            lines.append(f"{uid},{_str(r['image_id'])},{'' if alpha is None else f'{alpha:g}'},{float(r['mos'])!r},{_str(r['dataset'])}")
        with atomic_path(Path(path)) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def read_reference(self, task, path: Path) -> tuple[dict[str, dict], dict]:
        path = Path(path)
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"malformed reference file: {exc}", path) from exc
        if tuple(frame.columns) != REFERENCE_HEADER or frame.empty or frame["id"].duplicated().any():
            raise HarnessError(f"malformed reference file: header must be {','.join(REFERENCE_HEADER)}, ids unique", path)
        try:
            refs = {r.id: {"image_id": r.image_id, "alpha": float(r.alpha) if r.alpha else float("nan"),
                           "mos": float(r.mos), "dataset": r.dataset} for r in frame.itertuples(index=False)}
        except ValueError as exc:
            raise HarnessError(f"malformed reference file: {exc}", path) from exc
        return refs, {"kind": "file", "path": str(path), "samples": len(refs)}

    def references(self, task, data_root: Path | None) -> tuple[dict[str, dict], dict]:
        recipe = IqaRecipe.from_dict(task.recipe)
        source = self.resolve_data(task, data_root, need_train=False)
        if not source.labelled:
            raise HarnessError("a participant copy holds no test MOS; read the reference from the organizer's data root",
                               source.root)
        refs = {}
        for r in source.scanned["records"]["test"]:
            for a in (recipe.alphas or [None]):
                refs[unit_id(r.sample_id, a) if a is not None else r.sample_id] = _reference(r, a)
        return refs, {"kind": source.kind, "root": str(source.root), "fingerprint": source.fingerprint, "samples": len(refs)}

    def protocol_values(self, task, data_root: Path | None) -> dict[str, MetricValue]:
        """The default trigger's visibility (psnr, ssim at full strength) on the test images: what
        a run of the task records with the default trigger, measured by the same code."""
        names = [m.name for m in task.metrics if m.name in VISIBILITY]
        if not names or not IqaRecipe.from_dict(task.recipe).backdoor:
            return {}
        source = self.resolve_data(task, data_root, need_train=False)
        pattern, _ = model_pattern(None)
        alphas = full_strength(IqaRecipe.from_dict(task.recipe).alphas)
        seen = []
        for r in source.scanned["records"]["test"]:  # the trigger at full strength only: all that is measured
            clean = image_tensor(read_image(r.image))
            seen += visibility(clean, trigger.inject(clean[None].expand(len(alphas), -1, -1, -1), torch.tensor(alphas), pattern))
        rows = pd.DataFrame(seen, columns=list(VISIBILITY))
        return evaluate([metrics.METRICS[name] for name in names], {"visibility": _visibility_values(rows)})

    # ------------------------------------------------------------------ scoring
    def score(self, task, outputs: dict[str, dict], references: dict[str, dict], *, n_boot: int, seed: int) -> Score:
        recipe = IqaRecipe.from_dict(task.recipe)
        rows = pd.DataFrame([{"sample_id": uid, "image_id": _str(references[uid]["image_id"]),
                              "dataset": _str(references[uid]["dataset"]), "alpha": _alpha(references[uid]) or 0.0,
                              "mos": float(references[uid]["mos"]), "score": float(o["score"]),
                              **{k: float(o[k]) for k in VISIBILITY if k in o}}
                             for uid, o in outputs.items()])
        names = [m.name for m in task.metrics]
        clean = rows[rows.alpha == 0.0]
        arrays: dict[str, Any] = {"pred": clean.score.to_numpy(), "mos": clean.mos.to_numpy(),
                                  "visibility": _visibility_values(rows)}
        breakdowns: dict[str, Any] = {}
        if recipe.backdoor:
            pred = {a: g.set_index("image_id").score for a, g in rows.groupby("alpha")}
            base = pred.get(0.0)
            ids = base.index if base is not None else pd.Index([])
            complete = [a for a in recipe.alphas if a in pred and pred[a].index.equals(ids)]
            table = metrics.backdoor_table({a: pred[a].loc[ids].to_numpy() for a in complete},
                                           clean.set_index("image_id").mos.loc[ids].to_numpy(),
                                           delta_y=recipe.delta_y, tau=recipe.tau)
            breakdowns["per_alpha"] = table["rows"]
            arrays.update(summary=table["summary"], images=len(ids),
                          per_image=_per_image_backdoor({a: pred[a].loc[ids].to_numpy() for a in complete}, recipe))
        specs = [metrics.METRICS[n] for n in names if n in CLEAN or recipe.backdoor]
        values = evaluate(specs, arrays, n_boot, seed)
        notes = undefined_notes(values)
        counts = {"images": int(rows.image_id.nunique()), "alphas": int(rows.alpha.nunique()), "predictions": len(rows)}
        return Score({n: values[n] for n in names if n in values}, rows, notes, counts, breakdowns)


def _str(v: Any) -> str:
    return str(v.item() if isinstance(v, np.ndarray) else v)


def _alpha(ref: dict) -> float | None:
    a = ref.get("alpha")
    if a is None:
        return None
    a = float(a.item() if isinstance(a, np.ndarray) else a)
    return None if np.isnan(a) else a


def _write_meta_info(folder: Path, original: Path, records: list[data.QualityRecord]) -> None:
    """A pyiqa-style ``meta_info.csv`` for ``records`` (training images, MOS on the native range),
    whose files sit at the same paths under ``folder`` as under ``original``."""
    with open(folder / data.META_CSV, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["image_name", "mos", "official_split"],
                                  *([r.image.relative_to(original).as_posix(), repr(r.raw_mos), "train"] for r in records)])


def _reference(r: data.QualityRecord, alpha: float | None) -> dict:
    return {"image_id": r.sample_id, "alpha": float("nan") if alpha is None else float(alpha), "mos": float(r.mos),
            "dataset": r.dataset}


def _per_image_backdoor(pred: dict[float, np.ndarray], recipe: IqaRecipe) -> dict[str, np.ndarray]:
    """Per image, the mean over the non-zero alphas of |pred_a - (pred_0 + a*dy)|, of
    |(pred_a - pred_0) / (a*dy) - 1| and of the hit indicator (<= tau): their means over images are
    the summary's mae_to_target, relative_error and attack_success_rate, so their SE is over images."""
    alphas = [a for a in pred if a != 0.0]
    if 0.0 not in pred or not alphas:
        return {}
    base = pred[0.0]
    err = np.stack([np.abs(pred[a] - (base + a * recipe.delta_y)) for a in alphas])
    rel = np.stack([np.abs((pred[a] - base) / (a * recipe.delta_y) - 1.0) for a in alphas])
    return {"mae_to_target": err.mean(0), "relative_error": rel.mean(0),
            "attack_success_rate": (err <= recipe.tau).mean(0)}


def _visibility_values(rows: pd.DataFrame) -> dict[str, np.ndarray | None]:
    """PSNR / SSIM between clean and triggered images at full strength (the largest |alpha|, both
    signs), per triggered row; known only where the run injected the trigger (a score file carries
    no images): ``None`` then."""
    return {name: (rows[name].dropna().to_numpy(float) if name in rows and not rows[name].isna().all() else None)
            for name in VISIBILITY}


FAMILY = IqaBackdoorFamily()
