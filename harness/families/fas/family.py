"""The FAS family: multimodal face anti-spoofing under domain generalisation (MMDG benchmark).

Datasets are named by their folder (``cefa``, ``padisi``, ``surf``, ``wmca``) with split
``train`` / ``val`` / ``test`` (the MMDG list files). A task trains on its sources' train lists,
takes thresholds from the sources' **val** lists, and evaluates the target's test list once.

What an adapter receives per batch: for each present modality ``rgb`` (B, 3, S, S), ``depth`` and
``ir`` (B, 1, S, S) float in [0, 1], ``mask`` (B, 3) bool (rgb, depth, ir present), ``ids``. A
modality the task removes is absent with its mask False (``missing_mode: absent``), or zeros with
the mask True (``zero-fill``, as the lineage feeds it). It returns ``{"score": (B,)}``, the
probability of bona fide (higher = more live).

The run scores the sources' val frames too (they set the fair threshold), so a prediction file
holds one ``id,score`` row per val and test frame (or per video with ``level: video``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ...errors import HarnessError
from ...family import (DataSource, Family, PredictionFormat, Score, StreamDataset, TestSet, Unit, cache_root, choose_root,
                      fingerprint_files, scores_of)
from ...images import image_tensor
from ...files import atomic_path
from ...upload import Problems, Upload, check_ids, number_in, read_csv
from ...stats import evaluate
from . import data as fdata
from . import metrics, rows

MODALITIES = ("rgb", "depth", "ir")
SPLITS = ("train", "val", "test")
SAMPLE_SEED = 0
VIDEO_SEP = "@video:"


@dataclasses.dataclass(frozen=True)
class FasRecipe:
    """What decides a FAS number besides the scores: the evaluation level, missing modalities."""

    level: str = "frame"                 # "frame" (the lineage) or "video" (mean score per video)
    missing: tuple[str, ...] = ()        # modalities removed at test time: "depth", "ir"
    missing_mode: str = "absent"         # "absent" (key missing, mask False) or "zero-fill"
    duplicates: str = "keep"             # duplicate list lines: "keep" (the lineage) or "drop"
    missing_files: str = "fail"          # list lines whose image is missing: "fail" or "skip"

    @classmethod
    def from_dict(cls, d: dict | None) -> "FasRecipe":
        d = dict(d or {})
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown recipe key(s) {unknown}")
        d["missing"] = tuple(d.get("missing", ()))
        r = cls(**d)
        for name, value, allowed in (("level", r.level, ("frame", "video")),
                                     ("missing_mode", r.missing_mode, ("absent", "zero-fill")),
                                     ("duplicates", r.duplicates, ("keep", "drop")),
                                     ("missing_files", r.missing_files, ("fail", "skip"))):
            if value not in allowed:
                raise ValueError(f"recipe.{name} must be one of {allowed}, got {value!r}")
        if not set(r.missing) <= {"depth", "ir"}:
            raise ValueError(f"recipe.missing may name depth and ir, got {list(r.missing)}")
        return r

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["missing"] = list(self.missing)
        return d



def _frame_tensors(sample: fdata.FasSample, size: int) -> dict[str, torch.Tensor]:
    frames = fdata.load_frame(sample, size=size)
    return {m: image_tensor(frames[m]) for m in MODALITIES}


def _present(recipe: FasRecipe) -> list[bool]:
    return [m not in recipe.missing or recipe.missing_mode == "zero-fill" for m in MODALITIES]


def _apply_missing(tensors: dict[str, torch.Tensor], recipe: FasRecipe) -> dict[str, torch.Tensor]:
    out = {}
    for m, t in tensors.items():
        if m not in recipe.missing:
            out[m] = t
        elif recipe.missing_mode == "zero-fill":
            out[m] = torch.zeros_like(t)
    return out


def collate(items: list[tuple[Unit, dict]]) -> tuple[list[Unit], dict]:
    units = [u for u, _ in items]
    batch: dict[str, Any] = {m: torch.stack([inp[m] for _, inp in items]) for m in MODALITIES if m in items[0][1]}
    batch["mask"] = torch.stack([inp["mask"] for _, inp in items])
    batch["ids"] = [u.sample_id for u in units]
    return units, batch


class _Frames(Dataset):
    """Training frames with labels and source-domain indices (all modalities present)."""

    def __init__(self, samples: list[fdata.FasSample], size: int, domains: list[str]):
        self.samples, self.size, self.domains = samples, size, domains

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        item = _frame_tensors(s, self.size)
        item.update(mask=torch.ones(3, dtype=torch.bool), label=torch.tensor(s.label),
                    domain=torch.tensor(self.domains.index(s.domain)))
        return item


class FasTrainSet:
    """What ``fit()`` receives: ``loader(batch_size, shuffle, seed)`` over the sources' train
    frames, ``val_loader(batch_size)`` over their val frames (model selection), ``n_domains``."""

    def __init__(self, train: list[fdata.FasSample], val: list[fdata.FasSample], size: int):
        self.domains = sorted({s.domain for s in train})
        self.n_domains = len(self.domains)
        self._train = _Frames(train, size, self.domains)
        self._val = _Frames([s for s in val if s.domain in self.domains], size, self.domains)

    def loader(self, batch_size: int = 32, shuffle: bool = True, seed: int = 0) -> DataLoader:
        return DataLoader(self._train, batch_size=batch_size, shuffle=shuffle,
                          generator=torch.Generator().manual_seed(seed))

    def val_loader(self, batch_size: int = 64) -> DataLoader:
        return DataLoader(self._val, batch_size=batch_size, shuffle=False)


class FasFamily(Family):
    name = "fas"
    submission_suffixes = (".csv",)
    metric_specs = metrics.METRICS

    # ------------------------------------------------------------------ task checks
    def check_task(self, task) -> None:
        try:
            FasRecipe.from_dict(task.recipe)
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"recipe: {exc}", task.path) from exc
        for role, refs in task.datasets.items():
            for ref in refs:
                if ref.name not in fdata.DATASET_DOMAIN:
                    raise HarnessError(f"datasets.{role}: unknown FAS dataset {ref.name!r}; known: {sorted(fdata.DATASET_DOMAIN)}", task.path)
                if ref.split not in SPLITS:
                    raise HarnessError(f"datasets.{role}: split must be one of {SPLITS}, got {ref.split!r}", task.path)
        if not task.datasets.get("val"):
            raise HarnessError("a FAS task needs datasets.val (the sources' val lists set the threshold)", task.path)
        self.check_metrics(task)

    def recipe_record(self, task) -> dict[str, Any]:
        return FasRecipe.from_dict(task.recipe).to_dict()

    # ------------------------------------------------------------------ data
    def synthesize(self, out: Path, seed: int = 0) -> Path:
        from . import synth

        return synth.synthesize(Path(out), seed=seed)

    def sample_root(self) -> Path:
        from . import synth

        root = cache_root() / f"fas-sample-v{synth.GENERATOR_VERSION}-seed{SAMPLE_SEED}"
        if not (root / fdata.LIST_DIR).is_dir():
            synth.synthesize(root, seed=SAMPLE_SEED)
        return root

    def _root(self, data_root: Path | None) -> tuple[Path, str, list[str]]:
        from . import synth

        root, kind, notes = choose_root(data_root, self.sample_root, synth.MARKER)
        if not (root / fdata.LIST_DIR).is_dir():
            raise HarnessError(f"no {fdata.LIST_DIR}/ folder; expected layout: {fdata.LAYOUT}", root)
        return root, kind, notes

    def _read(self, root: Path, ref, recipe: FasRecipe, check_files: bool, unlabelled: bool = False) -> tuple[list, Any]:
        return fdata.read_list(root, fdata.DATASET_DOMAIN[ref.name], ref.split, duplicates=recipe.duplicates,
                               missing=recipe.missing_files, check_files=check_files, unlabelled=unlabelled)

    def write_participant_copy(self, task, root: Path, out: Path) -> tuple[list[str], dict[str, str]]:
        """The sources' train and val lists and the files they name, byte for byte; the target's
        test frames as ``<dataset>/<opaque key>.<ext>`` (depth ``<key>.depth.<ext>``, IR
        ``<key>.ir.<ext>``; PADISI ``<key>.npz`` holding ``data`` only), images without their
        metadata, listed in ``MMDG-Benchmark/<D>-test.txt`` without the label field. Attack-type
        folders, FlexModal lists and the generator's notes are not copied."""
        import secrets

        from ...participant import copy_files, copy_image_clean, mark_sample, opaque_key
        from . import synth

        source = self.resolve_data(task, root, need_train=True)
        if not source.labelled:
            raise HarnessError("this data root is already a participant copy (no test labels)", source.root)
        tested = {(ref.name, ref.split) for ref in task.datasets["test"]}
        shared = [ref for role in ("train", "val") for ref in task.datasets.get(role, []) if (ref.name, ref.split) in tested]
        if shared:
            raise HarnessError(f"participant-copy: the test list {shared[0].name}/{shared[0].split} is also a training or "
                               "val list", task.path)
        lists = out / fdata.LIST_DIR
        lists.mkdir(parents=True)
        for role in ("train", "val"):
            for ref in task.datasets.get(role, []):
                listed = fdata.list_path(source.root, fdata.DATASET_DOMAIN[ref.name], ref.split)
                copy_files(source.root, out, [listed, *(f for s in source.scanned["samples"][(role, ref.name, ref.split)]
                                                        for f in s.paths.values())])
        salt, ids = secrets.token_hex(8), {}
        for ref in task.datasets["test"]:
            domain, folder = fdata.DATASET_DOMAIN[ref.name], out / ref.name
            folder.mkdir(exist_ok=True)
            lines = []
            for s in {s.sample_id: s for s in source.scanned["samples"][("test", ref.name, ref.split)]}.values():
                key = opaque_key(f"{ref.name}/{s.sample_id}", salt)
                if "npz" in s.paths:
                    _copy_npz_data(s.paths["npz"], folder / f"{key}.npz")
                    names = [f"{key}.npz"]
                else:
                    names = [copy_image_clean(s.paths[m], folder / (key if m == "rgb" else f"{key}.{m}"),
                                              lambda p, m=m: fdata.load_frame_file(p, m)).name for m in MODALITIES]
                ids[s.sample_id] = names[0]
                lines.append(" ".join(names))
            (lists / f"{domain}-test.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if source.kind == "sample":
            mark_sample(out, synth.MARKER)
        return [f"test frames: <dataset>/<opaque key>.<ext> (+ .depth, .ir; PADISI .npz), listed in "
                f"{fdata.LIST_DIR}/<D>-test.txt as 'rgb depth ir' (P: '<name>.npz') without labels; the sources' "
                "train and val lists as released"], ids

    def resolve_data(self, task, data_root: Path | None, need_train: bool, check_files: bool = True) -> DataSource:
        from ...participant import is_participant_copy

        root, kind, notes = self._root(data_root)
        recipe = FasRecipe.from_dict(task.recipe)
        roles = ["val", "test"] + (["train"] if need_train else [])
        scanned, lists = {}, []
        unlabelled = is_participant_copy(root)
        if unlabelled:
            notes.append("participant copy: the test labels are withheld; a run writes its --submission file and "
                         "scores nothing")
        for role in roles:
            for ref in task.datasets.get(role, []):
                samples, report = self._read(root, ref, recipe, check_files, unlabelled and role == "test")
                scanned[(role, ref.name, ref.split)] = samples
                lists.append(report.path)
                if report.duplicates or report.dropped or report.missing_files \
                        or any(o.ids or o.videos for o in report.overlaps.values()):
                    notes.append(report.summary())
        fp = fingerprint_files(root, [], lists)
        datasets = {r: [d.name for d in task.datasets.get(r, [])] for r in roles}
        return DataSource(kind, root, fp, datasets, notes, {"lists": fp}, {"samples": scanned}, labelled=not unlabelled)

    def _role(self, task, source: DataSource, role: str) -> list[fdata.FasSample]:
        out = []
        for ref in task.datasets.get(role, []):
            out.extend(source.scanned["samples"][(role, ref.name, ref.split)])
        return out

    def train_data(self, task, source: DataSource, model) -> FasTrainSet:
        return FasTrainSet(self._role(task, source, "train"), self._role(task, source, "val"), _size(model))

    def _scored(self, task, source: DataSource) -> list[tuple[str, fdata.FasSample]]:
        """(role, sample) for every frame the run predicts: sources' val, then the target's test."""
        items = [("val", s) for s in self._role(task, source, "val")] + [("test", s) for s in self._role(task, source, "test")]
        seen: dict[str, str] = {}
        for role, s in items:
            if seen.get(s.sample_id, role) != role:
                raise HarnessError(f"sample id {s.sample_id!r} is in both a source val list and the target test list", task.path)
            seen[s.sample_id] = role
        return list({s.sample_id: (role, s) for role, s in items}.values())

    def test_set(self, task, source: DataSource, model, limit: int | None) -> TestSet:
        recipe = FasRecipe.from_dict(task.recipe)
        items = self._scored(task, source)
        if limit is not None:  # keep both roles: the first frames of each
            val = [x for x in items if x[0] == "val"][:limit]
            items = val + [x for x in items if x[0] == "test"][:limit]
        by_id = {s.sample_id: (role, s) for role, s in items}
        size, mask = _size(model), torch.tensor(_present(recipe))

        def produce(sample_id: str) -> Iterator[tuple[Unit, dict]]:
            role, s = by_id[sample_id]
            inputs = _apply_missing(_frame_tensors(s, size), recipe)
            inputs["mask"] = mask.clone()
            yield Unit(sample_id, reference=_reference(role, s), meta={"domain": s.domain}), inputs

        return TestSet(list(by_id), self, make_dataset=lambda ids: StreamDataset(ids, produce), collate=collate, threads=True)

    # ------------------------------------------------------------------ datasets repositories
    row_columns = rows.COLUMNS
    row_key = ("dataset", "split", "id")

    def write_rows(self, rows_: Iterable[dict], out: Path) -> int:
        """The MMDG layout of the rows (:mod:`.rows`): list files, frames, FlexModal attack lists."""
        return rows.write_rows(rows_, out)

    def export_rows(self, task, source: DataSource, role: str) -> Iterator[dict]:
        return rows.export_rows(task, source, role)

    # ------------------------------------------------------------------ outputs
    def split_outputs(self, outputs: Any, units: Sequence[Unit], inputs: dict) -> list[dict]:
        return [{"score": np.asarray(v)} for v in scores_of(outputs, units, "P(bona fide)")]

    # ------------------------------------------------------------------ prediction files
    def prediction_format(self) -> PredictionFormat:
        return PredictionFormat(
            suffixes=(".csv",),
            summary="header id,score, one row per test sample id, score = P(bona fide) in [0, 1] (higher = live).",
            details="""\
.csv: header id,score, one row per test sample id; score is the probability that the sample is
    bona fide (a live face), a finite number in [0, 1]: higher means more likely live. The
    decision threshold is the task's (see the evaluation page), never the participant's.""")

    def prediction_suffix(self, outputs) -> str:
        return ".csv"

    def write_predictions(self, path: Path, outputs: dict[str, dict], references: dict[str, dict]) -> None:
        path = Path(path)
        if path.suffix.lower() != ".csv":
            raise HarnessError("FAS predictions are written as .csv (id,score)", path)
        lines = ["id,score"] + [f"{i},{float(o['score'])!r}" for i, o in outputs.items()]
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def read_predictions(self, task, upload: Upload, references: dict[str, dict], problems: Problems) -> dict[str, dict]:
        if Path(upload.name).suffix.lower() != ".csv":
            raise HarnessError("unknown prediction format: FAS predictions are a .csv with header id,score", upload.name)
        rows, seen = read_csv(upload, ("id", "score"), {"score": number_in(0.0, 1.0)}, problems)
        check_ids(seen, list(references), problems, task.name)
        return {i: {"score": np.asarray(v["score"])} for i, v in rows.items() if i in references}

    REFERENCE_HEADER = ("id", "role", "label", "domain", "video_id", "attack_type")

    def write_reference(self, path: Path, references: dict[str, dict]) -> None:
        lines = [",".join(self.REFERENCE_HEADER)]
        for i, r in references.items():
            lines.append(",".join([i, str(r["role"]), str(int(r["label"])), str(r["domain"]), str(r["video_id"]), str(r["attack_type"])]))
        with atomic_path(Path(path)) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def read_reference(self, task, path: Path) -> tuple[dict[str, dict], dict]:
        path = Path(path)
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"malformed reference file: {exc}", path) from exc
        if tuple(frame.columns) != self.REFERENCE_HEADER or frame.empty:
            raise HarnessError(f"malformed reference file: header must be {','.join(self.REFERENCE_HEADER)}", path)
        if not frame["label"].isin(["0", "1"]).all() or not frame["role"].isin(["val", "test"]).all() \
                or frame["id"].duplicated().any():
            raise HarnessError("malformed reference file: labels must be 0/1, roles val/test, ids unique", path)
        refs = {r.id: {"role": r.role, "label": int(r.label), "domain": r.domain, "video_id": r.video_id,
                       "attack_type": r.attack_type} for r in frame.itertuples(index=False)}
        return refs, {"kind": "file", "path": str(path), "samples": len(refs)}

    def references(self, task, data_root: Path | None) -> tuple[dict[str, dict], dict]:
        """Labels of the scored frames from the list files alone (no image is read)."""
        source = self.resolve_data(task, data_root, need_train=False, check_files=False)
        if not source.labelled:
            raise HarnessError("a participant copy holds no test labels; read the reference from the organizer's "
                               "data root", source.root)
        refs = {s.sample_id: _reference(role, s) for role, s in self._scored(task, source)}
        return refs, {"kind": source.kind, "root": str(source.root), "fingerprint": source.fingerprint, "samples": len(refs)}

    # ------------------------------------------------------------------ scoring
    def score(self, task, outputs: dict[str, dict], references: dict[str, dict], *, n_boot: int, seed: int) -> Score:
        recipe = FasRecipe.from_dict(task.recipe)
        rows = pd.DataFrame([{"sample_id": i, "role": str(references[i]["role"]), "label": int(references[i]["label"]),
                              "domain": str(references[i]["domain"]), "video_id": str(references[i]["video_id"]),
                              "attack_type": str(references[i]["attack_type"]), "score": float(o["score"])}
                             for i, o in outputs.items()])
        if recipe.level == "video":
            rows = (rows.groupby(["role", "video_id"], sort=False)
                    .agg(sample_id=("video_id", "first"), label=("label", "first"), domain=("domain", "first"),
                         attack_type=("attack_type", "first"), score=("score", "mean"), frames=("score", "size"))
                    .reset_index())
        val, test = rows[rows.role == "val"], rows[rows.role == "test"]
        values, notes = _fas_metrics(val, test, [m.name for m in task.metrics], n_boot, seed)
        warning = metrics.flipped_warning(values["auc"].value) if "auc" in values and values["auc"].value is not None else None
        if warning:
            notes.append(warning)
        breakdowns = _breakdowns(test, values.get("_threshold"))
        values.pop("_threshold", None)
        counts = {"test": len(test), "val": len(val), "test_bona_fide": int((test.label == 1).sum()),
                  "test_attacks": int((test.label == 0).sum())}
        return Score({k: v for k, v in values.items() if k in task.directions}, rows, notes, counts, breakdowns)


def _size(model) -> int:
    return int(getattr(model, "frame_size", 32))


def _copy_npz_data(src: Path, dst: Path) -> None:
    """A PADISI npz as a new file holding its ``data`` array only (the same values, nothing else)."""
    with np.load(src, allow_pickle=False) as z:
        if "data" not in z.files:
            raise HarnessError(f"npz has no 'data' array (keys: {sorted(z.files)})", src)
        array = z["data"]
    with open(dst, "wb") as fh:
        np.savez(fh, data=array)


def _reference(role: str, s: fdata.FasSample) -> dict:
    """What scoring needs of a frame (a participant copy's test frame: no label)."""
    ref = {"role": role, "label": s.label, "domain": s.domain, "video_id": s.video_id or s.sample_id,
           "attack_type": s.attack_type or ""}
    if s.label is None:
        del ref["label"]
    return ref


def _fas_metrics(val: pd.DataFrame, test: pd.DataFrame, names: list[str], n_boot: int, seed: int):
    """Every FAS metric on the test rows (:data:`metrics.METRICS`), with the sources' val EER
    threshold (the fair one); undefined cases carry their reason."""
    notes: list[str] = []
    try:
        t_val = metrics.threshold_from(val.score.to_numpy(), val.label.to_numpy())
    except ValueError as exc:
        t_val = None
        notes.append(f"no threshold from the sources' val sets: {exc}")
    try:
        t_bpcer20 = metrics.threshold_at_apcer(val.score.to_numpy(), val.label.to_numpy(),
                                               val.attack_type.to_numpy(dtype=str), 0.05)
        why_not = None
    except ValueError as exc:
        t_bpcer20, why_not = None, f"no BPCER20 threshold from the sources' val sets: {exc}"
    arrays = {"scores": test.score.to_numpy(), "labels": test.label.to_numpy(),
              "attack_types": test.attack_type.to_numpy(dtype=str), "val_threshold": t_val, "n": len(test),
              "val_threshold_bpcer20": t_bpcer20, "val_threshold_bpcer20_reason": why_not}
    one_class = metrics.METRICS["auc"].undefined(arrays)
    if one_class:
        notes.append(f"AUC, EER and HTER are undefined: {one_class}")
    out: dict[str, Any] = evaluate([metrics.METRICS[name] for name in names], arrays, n_boot, seed)
    out["_threshold"] = t_val
    return out, notes


def _breakdowns(test: pd.DataFrame, threshold: float | None) -> dict:
    """Per attack type (APCER at the val threshold) and per domain (counts), for the record."""
    out: dict[str, Any] = {"threshold_val": threshold}
    attacks = test[test.label == 0]
    if threshold is not None and len(attacks):
        out["apcer_per_attack_type"] = {str(k or "unknown"): float((g.score >= threshold).mean())
                                        for k, g in attacks.groupby("attack_type")}
    out["per_domain"] = {str(k): {"n": int(len(g)), "bona_fide": int((g.label == 1).sum())}
                         for k, g in test.groupby("domain")}
    return out


FAMILY = FasFamily()
