"""The splicing family: splicing detection and localisation in scientific images (SciSp) and the
standard manipulation benchmarks (train on CASIA v2; test on CASIA v1, Columbia, Coverage, NIST16,
IMD2020), with robustness sweeps (JPEG, blur, noise, resize).

Images are scored at their **original resolution**. What an adapter receives per batch:
``images``, a list of (3, H, W) float tensors in [0, 1] (sizes differ), and ``ids``. It returns
``{"mask": list of (H, W) probabilities (or a (B, H, W) tensor), "score": (B,) optional}``; any
resize or padding it needs happens inside it, and each mask comes back at its image's size. The
harness stores masks as 8-bit levels (what a PNG holds), so a run and an uploaded folder of PNGs
score identically; a missing image score is the mask maximum (stated in the result).

Pixel metrics count tampered images only (authentic ones have no positive pixel: F1 and IoU are
undefined there, and IMDL-BenCo's 0 would deflate the mean); the result says how many were left
out. The fixed threshold 0.5 is ranked; the per-image best threshold is reported as an *oracle*,
never ranked; pooled (dataset-level) variants carry their own names.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ...errors import HarnessError
from ...family import (DataSource, Family, PredictionFormat, Score, StreamDataset, TestSet, Unit, cache_root, choose_root,
                      combined_fingerprint, held_out, roles_needed, select_by_role)
from ...hfdata import Column, RowImage
from ...images import WrongSize, image_size, image_tensor, pixels, prepare_images, read_image, save_row_image
from ...files import atomic_dir, atomic_path, write_manifest
from ...upload import Problems, Upload, check_ids, number_in, read_csv
from ...stats import MetricValue, evaluate
from . import data, metrics, perturb

SAMPLE_SEED = 0
VAL_SHARE = 5            # every 5th training image (by id hash) is held out for model selection
SCORE_BATCH = 16         # ground-truth masks loaded per scoring batch (bounds memory)
DATASETS = ("scisp", "casia1", "casia2", "columbia", "coverage", "nist16", "imd2020")
SPLITS = (*data.SPLITS, "C", "H")    # C / H: SciSp's collected / hand-made parts (subsets.csv)
PER_IMAGE = ("pixel_f1", "pixel_iou", "pixel_mcc", "pixel_auc", "pixel_f1_oracle")
REFERENCE_HEADER = ("id", "image_id", "level", "label", "dataset", "subset", "height", "width", "mask")
SCORES_FILE = "scores.csv"


@dataclasses.dataclass(frozen=True)
class SpliceRecipe:
    """What decides a splicing number besides the predictions."""

    perturbation: str = "none"        # none | jpeg | blur | noise | resize (a robustness sweep)
    levels: tuple = ()                # the sweep's parameter values (default: perturb.SWEEPS[kind])
    seed: int = 0                     # seeds the noise sweep (per image, order-independent)

    @classmethod
    def from_dict(cls, d: dict | None) -> "SpliceRecipe":
        d = dict(d or {})
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown recipe key(s) {unknown}")
        kind = d.get("perturbation", "none")
        if kind != "none" and kind not in perturb.SWEEPS:
            raise ValueError(f"recipe.perturbation must be none or one of {sorted(perturb.SWEEPS)}, got {kind!r}")
        levels = tuple(d.get("levels") or (perturb.SWEEPS[kind] if kind != "none" else ()))
        if kind == "none" and levels:
            raise ValueError("recipe.levels needs a perturbation")
        r = cls(kind, levels, int(d.get("seed", 0)))
        blank = np.zeros((8, 8, 3), np.uint8)
        for level in r.levels:  # validates each level once, with perturb's own message
            perturb.apply(blank, kind, level, seed=r.seed, sample_id="check")
        return r

    def to_dict(self) -> dict:
        return {"perturbation": self.perturbation, "levels": list(self.levels), "seed": self.seed,
                "resolution": "original (predictions on resized images are mapped back before scoring)",
                "pixel_threshold": "tampered iff level >= 128 of 255 (p > 0.5)",
                "image_threshold": "tampered iff score > 0.5",
                "image_score": "the model's, else the mask maximum",
                "mask_binarisation": "ground truth: channel mean > 127.5",
                "pixel_metrics_on": "tampered images only; mean over images (pooled variants named *_pooled)",
                "sweep_summary": "each metric is the mean over the sweep's levels; per level in breakdowns.curve"
                                 if self.perturbation != "none" else None}

    def units(self) -> list[tuple[str, Any]]:
        """(suffix of the sample id, level) per evaluated version of an image."""
        if self.perturbation == "none":
            return [("", None)]
        return [(f"@{perturb.label(self.perturbation, v)}", v) for v in self.levels]


class _TrainImages(Dataset):
    def __init__(self, records: list[data.ImageRecord]):
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        r = self.records[i]
        image = read_image(r.image)
        mask = data.read_mask(r.mask) if r.mask is not None else np.zeros(image.shape[:2], bool)
        return image_tensor(image), torch.from_numpy(mask), r.label


def _train_collate(items: list) -> dict:
    return {"images": [i for i, _, _ in items], "masks": [m for _, m, _ in items],
            "labels": torch.tensor([y for _, _, y in items], dtype=torch.float32)}


class SpliceTrainSet:
    """What ``fit()`` receives: ``loader(batch_size, shuffle, seed)`` over the training images
    (``images``, ``masks`` (all False for authentic ones), ``labels``: 1 tampered), and
    ``val_loader(batch_size)`` over the held-out fifth (by id hash): model selection only."""

    def __init__(self, records: list[data.ImageRecord]):
        held = [held_out(f"{r.dataset}/{r.sample_id}", VAL_SHARE) for r in records]
        self.train_records = [r for r, h in zip(records, held) if not h]
        self.val_records = [r for r, h in zip(records, held) if h]

    def loader(self, batch_size: int = 8, shuffle: bool = True, seed: int = 0) -> DataLoader:
        return DataLoader(_TrainImages(self.train_records), batch_size=batch_size, shuffle=shuffle,
                          collate_fn=_train_collate, generator=torch.Generator().manual_seed(seed))

    def val_loader(self, batch_size: int = 8) -> DataLoader:
        return DataLoader(_TrainImages(self.val_records), batch_size=batch_size, shuffle=False, collate_fn=_train_collate)


def collate(items: list[tuple[Unit, dict]]) -> tuple[list[Unit], dict]:
    units = [u for u, _ in items]
    return units, {"images": [inp["image"] for _, inp in items], "ids": [u.sample_id for u in units]}


def _write_list_json(folder: Path, original: Path, records: list[data.ImageRecord]) -> None:
    """Layout B (``list.json``, and ``subsets.csv`` when any record has a subset) for ``records``,
    whose files sit at the same paths under ``folder`` as under ``original``."""
    listing = [[r.image.relative_to(original).as_posix(), r.mask.relative_to(original).as_posix() if r.mask else data.NEGATIVE]
               for r in records]
    (folder / data.LIST_JSON).write_text(json.dumps(listing), encoding="utf-8")
    if any(r.subset for r in records):
        with open(folder / data.SUBSETS_CSV, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([["id", "subset"], *([r.sample_id, r.subset] for r in records if r.subset)])


def _reference(r: data.ImageRecord, sid: str, level: str, shape: tuple[int, int]) -> dict:
    """What scoring needs of an image (a participant copy's test image: no label, no mask)."""
    ref = {"image_id": r.sample_id, "level": level, "label": r.label, "dataset": r.dataset, "subset": r.subset,
           "height": int(shape[0]), "width": int(shape[1]), "mask": str(r.mask) if r.mask is not None else ""}
    if r.label is None:
        del ref["label"]
    return ref


class SplicingFamily(Family):
    name = "splicing"
    plots_module = ".plots"
    reference_suffix = ""
    metric_specs = metrics.METRICS
    many_file_predictions = True

    # ------------------------------------------------------------------ task checks
    def check_task(self, task) -> None:
        try:
            SpliceRecipe.from_dict(task.recipe)
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"recipe: {exc}", task.path) from exc
        if not task.datasets.get("test"):
            raise HarnessError("a splicing task needs datasets.test", task.path)
        for role, refs in task.datasets.items():
            if role == "val":
                raise HarnessError("splicing tasks hold out validation images from the training set; remove datasets.val",
                                   task.path)
            for ref in refs:
                if ref.name not in DATASETS:
                    raise HarnessError(f"datasets.{role}: unknown splicing dataset {ref.name!r}; known: {list(DATASETS)}",
                                       task.path)
                if ref.split not in SPLITS:
                    raise HarnessError(f"datasets.{role}: split must be one of {SPLITS}, got {ref.split!r}", task.path)
        self.check_metrics(task)

    def recipe_record(self, task) -> dict[str, Any]:
        return SpliceRecipe.from_dict(task.recipe).to_dict()

    # ------------------------------------------------------------------ data
    def synthesize(self, out: Path, seed: int = 0) -> Path:
        from . import synth

        return synth.synthesize(Path(out), seed=seed)

    def sample_root(self) -> Path:
        from . import synth

        root = cache_root() / f"splicing-sample-v{synth.GENERATOR_VERSION}-seed{SAMPLE_SEED}"
        if not (root / synth.MARKER).is_file():
            synth.synthesize(root, seed=SAMPLE_SEED)
        return root

    def _records(self, root: Path, ref, cache: dict) -> list[data.ImageRecord]:
        if ref.name not in cache:
            if not (root / ref.name).is_dir():
                raise HarnessError(f"dataset folder is missing; expected layout: {data.LAYOUT}", root / ref.name)
            cache[ref.name] = data.scan(root, ref.name)
            for r in cache[ref.name]:
                if r.mask is not None and image_size(r.mask) != image_size(r.image):
                    h, w = image_size(r.mask)
                    H, W = image_size(r.image)
                    raise HarnessError(f"mask is {h}x{w} but its image {r.image.name} is {H}x{W}", r.mask)
        records = cache[ref.name]
        if ref.split in ("C", "H"):
            chosen = [r for r in records if r.subset == ref.split]
            if not chosen:
                raise HarnessError(f"no image of {ref.name} is marked subset {ref.split} (subsets.csv)", root / ref.name)
            return chosen
        return data.select(records, ref.split)

    def resolve_data(self, task, data_root: Path | None, need_train: bool) -> DataSource:
        from ...participant import is_participant_copy, test_inputs
        from . import synth

        root, kind, notes = choose_root(data_root, self.sample_root, synth.MARKER)
        roles = roles_needed(task, need_train)
        cache: dict = {}
        unlabelled = is_participant_copy(root)
        if unlabelled:
            notes.append("participant copy: the test labels and masks are withheld; a run writes its --submission "
                         "file and scores nothing")

        def records_of(ref) -> list[data.ImageRecord]:
            if unlabelled and ref in task.datasets["test"]:  # opaque ids, no mask, no label
                return [data.ImageRecord(p.stem, ref.name, p, None, None) for p in test_inputs(root, ref.name)]
            return self._records(root, ref, cache)

        chosen = select_by_role(task, roles, records_of, "image")
        if "train" in chosen:
            notes.append(f"model selection: fit() gets 1/{VAL_SHARE} of the training images (by id hash) held out as "
                         f"its only validation data; the test images never reach fit()")
        role_fps = {role: data.fingerprint(root, recs) for role, recs in chosen.items()}
        datasets = {r: [d.name for d in task.datasets.get(r, [])] for r in roles}
        return DataSource(kind, root, combined_fingerprint(role_fps), datasets, notes, role_fps, {"records": chosen},
                          labelled=not unlabelled)

    def write_participant_copy(self, task, root: Path, out: Path) -> tuple[list[str], dict[str, str]]:
        """Training datasets as released (a whole folder), or, when the test images come from the
        same dataset, its training images only (with their masks, listed in ``list.json``); the test
        images as ``test-inputs/<dataset>/<opaque key>.<ext>`` without their metadata, and no mask,
        ``Tp``/``Au`` folder or list entry that would tell their label."""
        from ...participant import write_image_copy
        from . import synth

        source = self.resolve_data(task, root, need_train=True)
        ids = write_image_copy(task, source, out, read_image, _write_list_json, synth.MARKER)
        return [f"test images: test-inputs/<dataset>/<opaque key>.<ext>, without masks, labels or metadata; training "
                "images as released (only the training part of a dataset the test images come from)"], ids

    def rename_references(self, references: dict[str, dict], renamed: dict[str, str]) -> dict[str, dict]:
        from ...participant import rename_image_references

        return rename_image_references(references, renamed)

    # ------------------------------------------------------------------ datasets repositories
    row_columns = (
        Column("id", "text", True, help="sample id (the image's file stem)"),
        Column("image", "image", True, help="the image (PNG, JPEG, TIFF or BMP)"),
        Column("mask", "image", label=True, help="ground-truth mask of a tampered image (empty for an authentic one)"),
        Column("label", "int", label=True, help="1 tampered, 0 authentic (default: 1 iff a mask is given)"),
        Column("dataset", "text", help=f"the task dataset of the row ({', '.join(DATASETS)})"),
        Column("subset", "text", help="SciSp subset C or H (optional)"),
    )

    def write_rows(self, rows, out: Path) -> int:
        """Layout B per dataset: ``images/<id><ext>``, ``masks/<id><ext>``, ``list.json`` and, when
        any row has a subset, ``subsets.csv``. Bytes are written unchanged."""
        listings: dict[str, list] = {}
        subsets: dict[str, list] = {}
        for row in rows:
            where, name, sid = row["_where"], row["dataset"], row["id"]
            if name not in DATASETS:
                raise HarnessError(f"{where}: unknown splicing dataset {name!r}; known: {list(DATASETS)}")
            if "mask" not in row and "label" not in row:
                raise HarnessError(f"{where}: no ground truth: neither a mask nor a label column (a participant copy "
                                   "cannot be scored)")
            if row.get("image") is None:
                raise HarnessError(f"{where}: empty image")
            label = row.get("label")
            label = (1 if row.get("mask") is not None else 0) if label is None else label
            if label not in (0, 1):
                raise HarnessError(f"{where}: label {label!r} is not 0 (authentic) or 1 (tampered)")
            if label == 1 and row.get("mask") is None:
                raise HarnessError(f"{where}: label 1 (tampered) but no mask")
            folder = out / name
            image, shape = save_row_image(row["image"], folder / "images", sid)
            entry = [f"images/{image.name}", data.NEGATIVE]
            if label == 1:
                mask, mask_shape = save_row_image(row["mask"], folder / "masks", sid)
                if mask_shape != shape:
                    raise HarnessError(f"{row['mask'].where}: mask is {mask_shape[0]}x{mask_shape[1]} but its image is "
                                       f"{shape[0]}x{shape[1]}")
                entry[1] = f"masks/{mask.name}"
            listings.setdefault(name, []).append(entry)
            if row.get("subset"):
                subsets.setdefault(name, []).append([sid, row["subset"]])
        for name, entries in listings.items():
            (out / name / data.LIST_JSON).write_text(json.dumps(entries), encoding="utf-8")
            if subsets.get(name):
                with open(out / name / data.SUBSETS_CSV, "w", newline="", encoding="utf-8") as fh:
                    csv.writer(fh).writerows([["id", "subset"], *subsets[name]])
        return sum(len(e) for e in listings.values())

    def export_rows(self, task, source: DataSource, role: str):
        for r in source.scanned["records"][role]:
            yield {"id": r.sample_id, "image": _row_image(r.image), "label": int(r.label), "dataset": r.dataset,
                   "subset": r.subset, "mask": _row_image(r.mask) if r.mask is not None else None}

    def train_data(self, task, source: DataSource, model) -> SpliceTrainSet:
        return SpliceTrainSet(source.scanned["records"].get("train", []))

    def test_set(self, task, source: DataSource, model, limit: int | None) -> TestSet:
        recipe = SpliceRecipe.from_dict(task.recipe)
        records = source.scanned["records"]["test"]
        if limit is not None:  # a quick subset keeps both classes: alternate tampered and authentic images
            tampered = [r for r in records if r.label == 1]
            authentic = [r for r in records if r.label == 0]
            mixed = [r for pair in zip(tampered, authentic) for r in pair]
            mixed += tampered[len(authentic):] + authentic[len(tampered):]
            records = mixed[: max(int(limit), 0)]
        ids = [r.sample_id + suffix for r in records for suffix, _ in recipe.units()]
        if len(set(ids)) != len(ids):
            raise HarnessError("duplicate image ids in the test set (one dataset per test role)", task.path)
        by_id = {r.sample_id: r for r in records}

        def produce(image_id: str, wanted: set[str]) -> Iterator[tuple[Unit, dict]]:
            r = by_id[image_id]
            image = read_image(r.image)
            for suffix, level in recipe.units():
                if image_id + suffix not in wanted:  # already done (a resumed run)
                    continue
                shown = image if level is None else perturb.apply(image, recipe.perturbation, level,
                                                                  seed=recipe.seed, sample_id=r.sample_id)
                sid = image_id + suffix
                ref = _reference(r, sid, suffix[1:], image.shape[:2])
                yield Unit(sid, reference=ref, meta={"orig_shape": list(image.shape[:2])}), {"image": pixels(shown)}

        owner = {r.sample_id + suffix: r.sample_id for r in records for suffix, _ in recipe.units()}

        def make_dataset(sample_ids: list[str]) -> StreamDataset:
            wanted = set(sample_ids)
            return StreamDataset(list(dict.fromkeys(owner[i] for i in sample_ids)), lambda i: produce(i, wanted))

        return TestSet(ids, self, make_dataset=make_dataset, collate=collate, prepare=prepare_images, threads=True)

    # ------------------------------------------------------------------ outputs
    def split_outputs(self, outputs: Any, units: Sequence[Unit], inputs: dict) -> list[dict]:
        if not isinstance(outputs, dict) or "mask" not in outputs:
            raise HarnessError("model output must be a dict holding 'mask' (per-image probability maps) "
                               "and optionally 'score'")
        masks, scores = outputs["mask"], outputs.get("score")
        if len(masks) != len(units):
            raise HarnessError(f"model returned {len(masks)} masks for a batch of {len(units)}")
        if scores is not None:
            scores = torch.as_tensor(scores).detach().double().cpu().reshape(-1)
            if scores.numel() != len(units):
                raise HarnessError(f"model returned {scores.numel()} image scores for a batch of {len(units)}")
        out = []
        for k, (unit, image) in enumerate(zip(units, inputs["images"])):
            m = torch.as_tensor(masks[k]).detach().double().cpu()
            if m.ndim == 3 and m.shape[0] == 1:
                m = m[0]
            shown = tuple(image.shape[:2] if image.dtype == torch.uint8 else image.shape[1:])  # pixels (H, W, 3) or (3, H, W)
            if tuple(m.shape) != shown:
                raise HarnessError(f"model returned a {tuple(m.shape)} mask for image {unit.sample_id} of size "
                                   f"{shown}: map predictions back to the input size")
            m = m.numpy()
            if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
                raise HarnessError(f"mask of {unit.sample_id} must hold probabilities in [0, 1] (apply a sigmoid)")
            level = metrics.probability_to_level(m)
            orig = tuple(unit.meta["orig_shape"])
            if level.shape != orig:
                level = perturb.restore_size(level, orig)
            if scores is not None:
                s = float(scores[k])
                if not (np.isfinite(s) and 0.0 <= s <= 1.0):
                    raise HarnessError(f"image score {s!r} of {unit.sample_id} must be a probability in [0, 1]")
                out.append({"mask": level, "score": s, "score_from_mask": False})
            else:
                out.append({"mask": level, "score": float(level.max()) / 255.0, "score_from_mask": True})
        return out

    # ------------------------------------------------------------------ prediction files
    def prediction_format(self) -> PredictionFormat:
        return PredictionFormat(
            suffixes=(".zip",),
            summary="a .zip (or a folder) of '<id>.png' masks, one per test image id at the image's size, pixel "
                    "v = P(tampered) v/255, plus an optional scores.csv (header id,score: image-level P(tampered) "
                    "in [0, 1]; without it an image's score is its mask's maximum).",
            details="""\
.zip (or, with harness score, a folder) of files:
<id>.png: one predicted mask per test image id (robustness tasks: one per id@<perturbation>),
    the image's height x width, 8-bit grayscale (16-bit, palette or RGB are converted): pixel
    value v means P(tampered) = v/255.
scores.csv (optional): header id,score, the image-level P(tampered) in [0, 1] per id; without it
    an image's score is its mask's maximum / 255.
Any other file is refused. A zip holding one folder of these files is accepted too.""")

    def prediction_suffix(self, outputs) -> str:
        return ".zip"

    def write_predictions(self, path: Path, outputs: dict[str, dict], references: dict[str, dict]) -> None:
        """``<id>.png`` per image (8-bit probability levels) plus ``scores.csv`` (id,score), as a
        ``.zip`` or, for any other path, a folder."""
        path = Path(path)
        files = {f"{i}.png": _png(o["mask"]) for i, o in outputs.items()}
        if not any(bool(o.get("score_from_mask")) for o in outputs.values()):
            files[SCORES_FILE] = ("id,score\n" + "".join(f"{i},{float(o['score'])!r}\n" for i, o in outputs.items())).encode()
        if path.suffix.lower() == ".zip":
            with atomic_path(path) as tmp:
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
                    for name, blob in files.items():  # a fixed time: the same outputs, the same bytes
                        z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), blob)
            return
        with atomic_dir(path) as tmp:
            tmp.mkdir(parents=True)
            for name, blob in files.items():
                (tmp / name).write_bytes(blob)

    def read_predictions(self, task, upload: Upload, references: dict[str, dict], problems: Problems) -> dict[str, dict]:
        files = _strip_common_folder(upload.files or {})
        pngs = {n[:-4]: b for n, b in files.items() if n.lower().endswith(".png") and "/" not in n}
        other = sorted(n for n in files if n != SCORES_FILE and n[:-4] not in pngs)
        problems.add_ids("unexpected file(s) (expected <id>.png masks and an optional scores.csv)", other)
        check_ids(list(pngs), list(references), problems, task.name)
        scores: dict[str, float] | None = None
        if SCORES_FILE in files:
            rows, seen = read_csv(Upload(SCORES_FILE, files[SCORES_FILE], ""), ("id", "score"),
                                  {"score": number_in(0.0, 1.0)}, problems)
            problems.add_ids("id(s) missing from scores.csv", sorted(set(references) - set(seen)))
            problems.add_ids("unknown id(s) in scores.csv", sorted(set(seen) - set(references)))
            scores = {i: float(v["score"]) for i, v in rows.items()}
        out, undecodable, wrong_size = {}, [], []
        for sid, blob in pngs.items():
            if sid not in references:
                continue
            ref = references[sid]
            expected = (int(ref["height"]), int(ref["width"]))
            try:  # the header's size is checked against the reference before any pixel is decoded
                mask = data.read_prediction_png(blob, f"{sid}.png", size=expected)
            except WrongSize as exc:
                wrong_size.append(f"{sid} ({exc.size[0]}x{exc.size[1]}, expected {expected[0]}x{expected[1]})")
                continue
            except HarnessError as exc:
                undecodable.append(f"{sid} ({exc.message})")
                continue
            if scores is None:
                out[sid] = {"mask": mask, "score": float(mask.max()) / 255.0, "score_from_mask": True}
            elif sid in scores:
                out[sid] = {"mask": mask, "score": scores[sid], "score_from_mask": False}
        problems.add_ids("mask(s) that are not readable 8-bit or 16-bit images", undecodable)
        problems.add_ids("mask(s) whose size differs from the reference image (height x width)", wrong_size)
        return out

    def write_reference(self, path: Path, references: dict[str, dict]) -> None:
        """A folder: ``reference.csv`` and ``masks/<image id>.png`` (ground truth, 0/255)."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            (tmp / "masks").mkdir(parents=True)
            lines = []
            for sid, r in references.items():
                mask_rel = ""
                if str(r["mask"]):
                    mask_rel = f"masks/{r['image_id']}.png"
                    if not (tmp / mask_rel).exists():
                        (tmp / mask_rel).write_bytes(_png(data.read_mask(Path(str(r["mask"]))).astype(np.uint8) * 255))
                lines.append([sid, r["image_id"], r["level"], int(r["label"]), r["dataset"], r["subset"],
                              int(r["height"]), int(r["width"]), mask_rel])
            with open(tmp / "reference.csv", "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(REFERENCE_HEADER)
                w.writerows(lines)
            write_manifest(tmp)

    def read_reference(self, task, path: Path) -> tuple[dict[str, dict], dict]:
        path = Path(path)
        table = path / "reference.csv"
        try:
            frame = pd.read_csv(table, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"not a splicing reference folder (reference.csv + masks/): {exc}", path) from exc
        if tuple(frame.columns) != REFERENCE_HEADER or frame.empty or frame["id"].duplicated().any() \
                or not frame["label"].isin(["0", "1"]).all():
            raise HarnessError(f"malformed reference.csv: header {','.join(REFERENCE_HEADER)}, unique ids, labels 0/1", table)
        refs = {}
        for r in frame.itertuples(index=False):
            mask = str(path / r.mask) if r.mask else ""
            if mask and not Path(mask).is_file():
                raise HarnessError(f"reference mask {r.mask} is missing", path)
            refs[r.id] = {"image_id": r.image_id, "level": r.level, "label": int(r.label), "dataset": r.dataset,
                          "subset": r.subset, "height": int(r.height), "width": int(r.width), "mask": mask}
        return refs, {"kind": "file", "path": str(path), "samples": len(refs)}

    def references(self, task, data_root: Path | None) -> tuple[dict[str, dict], dict]:
        recipe = SpliceRecipe.from_dict(task.recipe)
        source = self.resolve_data(task, data_root, need_train=False)
        if not source.labelled:
            raise HarnessError("a participant copy holds no masks or labels; read the reference from the organizer's "
                               "data root", source.root)
        refs = {}
        for r in source.scanned["records"]["test"]:
            shape = image_size(r.image)
            for suffix, _ in recipe.units():
                refs[r.sample_id + suffix] = _reference(r, r.sample_id + suffix, suffix[1:], shape)
        return refs, {"kind": source.kind, "root": str(source.root), "fingerprint": source.fingerprint, "samples": len(refs)}

    # ------------------------------------------------------------------ scoring
    def score(self, task, outputs: dict[str, dict], references: dict[str, dict], *, n_boot: int, seed: int) -> Score:
        recipe = SpliceRecipe.from_dict(task.recipe)
        refs = {i: {k: (v.item() if isinstance(v, np.ndarray) else v) for k, v in references[i].items()} for i in outputs}
        rows = pd.DataFrame([{"sample_id": i, "image_id": str(refs[i]["image_id"]), "level": str(refs[i]["level"]),
                              "dataset": str(refs[i]["dataset"]), "subset": str(refs[i]["subset"]),
                              "label": int(refs[i]["label"]), "height": int(refs[i]["height"]),
                              "width": int(refs[i]["width"]), "score": float(o["score"]),
                              "score_from_mask": bool(o.get("score_from_mask"))} for i, o in outputs.items()])
        per_image = _pixel_metrics(outputs, refs)
        for name in (*PER_IMAGE, "oracle_level"):
            rows[name] = [per_image[i].get(name, np.nan) for i in rows.sample_id]
        names = [m.name for m in task.metrics]
        levels = list(dict.fromkeys(rows.level))
        # a single level gets bootstrap CIs for its pooled and image-level metrics; a sweep's value is
        # the mean over its levels (no CI)
        boot = n_boot if len(levels) == 1 else 0
        curve = {lvl or "none": _level_metrics(rows[rows.level == lvl], per_image, names, boot, seed) for lvl in levels}
        values, notes = {}, []
        for name in names:
            per_level = [curve[lvl or "none"][name] for lvl in levels]
            if len(per_level) == 1:
                values[name] = per_level[0]
            else:
                defined = [v.value for v in per_level if v.value is not None]
                values[name] = (MetricValue(float(np.mean(defined)), n=per_level[0].n, se_method="mean over the sweep's levels")
                                if len(defined) == len(per_level) else
                                MetricValue.undefined("undefined at some level of the sweep", n=per_level[0].n))
        first = rows[rows.level == levels[0]]   # one row per image
        tampered, authentic = int((first.label == 1).sum()), int((first.label == 0).sum())
        empty = int(sum(1 for i in first.sample_id[first.label == 1] if per_image[i].get("empty")))
        notes.append(f"pixel metrics over {tampered - empty} tampered image(s)" + (f" at each of {len(levels)} levels" if len(levels) > 1 else "")
                     + f"; {authentic} authentic image(s) left out of them (no positive pixel)"
                     + (f", and {empty} tampered image(s) with an empty mask" if empty else ""))
        derived = int(rows.score_from_mask.sum())
        if derived:
            notes.append(f"image score = mask maximum for {derived} of {len(rows)} image(s): the model gave none")
        for name, v in values.items():
            if v.value is None:
                notes.append(f"{name} is {v.reason}")
        counts = {"images": len(first), "tampered": tampered, "authentic": authentic, "levels": len(levels)}
        breakdowns: dict[str, Any] = {}
        if recipe.perturbation != "none":
            breakdowns["curve"] = {"perturbation": recipe.perturbation,
                                   "levels": {lvl: {k: v.value for k, v in m.items()} for lvl, m in curve.items()}}
        if (rows.subset != "").any():
            breakdowns["per_subset"] = {s: {k: v.value for k, v in _level_metrics(g, per_image, names).items()}
                                        for s, g in rows[rows.subset != ""].groupby("subset")}
        return Score(values, rows, notes, counts, breakdowns)


def _row_image(path: Path) -> RowImage:
    return RowImage(Path(path).read_bytes(), str(path), Path(path).name)


def _png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(mask, dtype=np.uint8))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 2-D array
        raise HarnessError("could not encode a mask as PNG")
    return buf.tobytes()


def _strip_common_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    """A zip made from a folder holds ``folder/<id>.png``: drop that one shared top folder."""
    tops = {PurePosixPath(n).parts[0] for n in files}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in files):
        return {str(PurePosixPath(*PurePosixPath(n).parts[1:])): b for n, b in files.items()}
    return dict(files)


def _pixel_metrics(outputs: dict[str, dict], refs: dict[str, dict]) -> dict[str, dict]:
    """Per-image pixel metrics of the tampered images, in batches of ``SCORE_BATCH`` (ground
    truth read per image id, kept while that id's sweep levels follow one another)."""
    per: dict[str, dict] = {i: {} for i in outputs}
    tampered = [i for i in outputs if int(refs[i]["label"]) == 1]
    last: tuple[str, np.ndarray] | None = None
    for start in range(0, len(tampered), SCORE_BATCH):
        batch = tampered[start:start + SCORE_BATCH]
        preds, gts = [], []
        for i in batch:
            image_id = str(refs[i]["image_id"])
            if last is None or last[0] != image_id:
                last = (image_id, data.read_mask(Path(str(refs[i]["mask"]))))
            preds.append(outputs[i]["mask"])
            gts.append(last[1])
        pred, gt, valid = _pad(preds, gts)
        acc = metrics.PixelAccumulator()
        acc.update(pred, gt, valid)
        result = acc.compute()
        for k, i in enumerate(batch):
            per[i] = {name: float(result[name][k]) for name in PER_IMAGE}
            per[i]["oracle_level"] = float(result["oracle_level"][k])
            per[i]["empty"] = not bool(gts[k].any())
            per[i]["hist"] = (result["pos_hist"][k], result["neg_hist"][k])
    return per


def _pad(preds: list[np.ndarray], gts: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h = max(p.shape[0] for p in preds)
    w = max(p.shape[1] for p in preds)
    pred = torch.zeros((len(preds), h, w), dtype=torch.uint8)
    gt = torch.zeros((len(preds), h, w), dtype=torch.bool)
    valid = torch.zeros((len(preds), h, w), dtype=torch.bool)
    for k, (p, g) in enumerate(zip(preds, gts)):
        if p.shape != g.shape:
            raise HarnessError(f"prediction {p.shape} and ground truth {g.shape} differ in size")
        pred[k, : p.shape[0], : p.shape[1]] = torch.from_numpy(p)
        gt[k, : g.shape[0], : g.shape[1]] = torch.from_numpy(g)
        valid[k, : p.shape[0], : p.shape[1]] = True
    return pred, gt, valid


def _level_metrics(rows: pd.DataFrame, per_image: dict[str, dict], names: list[str], n_boot: int = 0,
                   seed: int = 0) -> dict[str, MetricValue]:
    """The task's metrics on one level's rows (:data:`metrics.METRICS`): per-image means over the
    tampered images, pooled values from their summed histograms, image-level values over all
    images; with ``n_boot`` ≥ 2 the pooled and image-level values get a bootstrap CI."""
    tampered = [i for i in rows.sample_id[rows.label == 1] if "hist" in per_image[i]]
    arrays = {"per_image": {name: np.array([per_image[i][name] for i in tampered], float)
                            for name in PER_IMAGE if name in names},
              "pos": np.stack([per_image[i]["hist"][0] for i in tampered]) if tampered else None,
              "neg": np.stack([per_image[i]["hist"][1] for i in tampered]) if tampered else None,
              "scores": rows.score.to_numpy(float), "labels": rows.label.to_numpy(int)}
    return evaluate([metrics.METRICS[name] for name in names], arrays, n_boot, seed)


FAMILY = SplicingFamily()
