"""The deception family: cross-domain audio-visual deception detection (SVC 2025, SVC 2026, DOLOS).

Datasets are named by their folder (``rlt``, ``bol``, ``box``, ``mu3d``, ``dolos``, ``mdpe``,
``svc2025-final``; layout in :data:`data.LAYOUT`). Clips come from the organizers' per-clip
features, converted once from pickles to a memory-mapped store (``harness data convert``), or from
raw clips. Labels follow SVC: **truth = 1, lie = 0**; each dataset's own convention is mapped at
load time. Sample ids are opaque (``dd-`` + a hash of dataset and clip name), so no submission
carries a label in its ids (the SVC 2025 test names held ``_lie``/``_truth``).

What an adapter receives per batch: the task's modalities that the clips hold (``faces``,
``au``, ``affect``, ``mel``, ``wave`` + ``wave_len``; shapes in :func:`features.collate`),
``mask`` (B, 5) bool and ``ids``. It returns ``{"score": (B,)}``, P(truth) in [0, 1]. A clip of
the organizers' test pickles holds K sub-clips; each is one unit, and the clip's score is the mean
of its sub-clips' scores (the organizers' baseline averages softmax over sub-clips).

``fit(train)`` receives the source clips with domain labels; 20% of each source dataset's clips
(per label) are held out as the only data for model selection; the test set never reaches fit.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import shutil
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ...errors import HarnessError
from ...family import (DataSource, Family, PredictionFormat, Score, StreamDataset, TestSet, Unit, cache_root, choose_root,
                      combined_fingerprint, roles_needed, scores_of, select_by_role)
from ...registry import natural_key
from ...files import atomic_dir, atomic_path
from ...upload import Problems, Upload, check_ids, number_in, read_csv, read_whitespace
from ...stats import evaluate, undefined_notes
from . import data, features, metrics

SAMPLE_SEED = 0
VAL_SHARE = 0.2
REFERENCE_HEADER = ("id", "label", "dataset", "gender", "duration_s", "videoname")


@dataclasses.dataclass(frozen=True)
class DeceptionRecipe:
    """What decides a deception number besides the scores."""

    threshold: float = 0.5                        # P(truth) >= threshold -> truth (SVC)
    modalities: tuple[str, ...] = features.MODALITIES   # what the task gives models; others are withheld
    missing_modality: str = "allow"               # a clip lacking one: "allow" (passed on as missing) or "refuse"
    sub_clips: str = "mean"                       # a clip's score from its sub-clips' scores

    @classmethod
    def from_dict(cls, d: dict | None) -> "DeceptionRecipe":
        d = dict(d or {})
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown recipe key(s) {unknown}")
        d["modalities"] = tuple(d.get("modalities", features.MODALITIES))
        r = cls(**d)
        if not 0.0 < float(r.threshold) < 1.0:
            raise ValueError(f"recipe.threshold must be in (0, 1), got {r.threshold!r}")
        bad = [m for m in r.modalities if m not in features.MODALITIES]
        if bad or not r.modalities:
            raise ValueError(f"recipe.modalities must be a non-empty subset of {list(features.MODALITIES)}, got {list(r.modalities)}")
        for name, value, allowed in (("missing_modality", r.missing_modality, ("allow", "refuse")),
                                     ("sub_clips", r.sub_clips, ("mean",))):
            if value not in allowed:
                raise ValueError(f"recipe.{name} must be one of {allowed}, got {value!r}")
        return r

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["modalities"] = list(self.modalities)
        d["decision"] = f"truth when P(truth) >= {self.threshold}"
        d["labels"] = "truth = 1, lie = 0"
        return d


@dataclasses.dataclass
class ClipRef:
    """One clip of a dataset split: where its features are, its label and its metadata."""

    dataset: str
    videoname: str
    sample_id: str
    label: int | None
    store: Any = None          # features.FeatureStore holding it, or None for a raw clip
    index: int = -1            # its index in the store
    raw_path: Path | None = None
    gender: str = ""
    present: tuple[str, ...] = ()
    stable_id: str = ""        # an unkeyed digest of the name (features.name_digest): same on every machine

    def duration_s(self) -> float | None:
        return self.store.duration_s(self.index) if self.store is not None else None

    def sub_clips(self, modalities: Sequence[str]) -> list[dict[str, np.ndarray]]:
        """The clip's sub-clips, each a dict of the present modalities the task gives."""
        if self.store is not None:
            subs = self.store.sub_clips(self.index)
        else:
            subs = [data.read_raw_clip(self.raw_path)]
        return [{k: v for k, v in s.items() if k in modalities} for s in subs]



def _val_mask(clips: list[ClipRef]) -> list[bool]:
    """Hold out ``VAL_SHARE`` of each (dataset, label) group, chosen by a hash of the id
    (deterministic, independent of order); groups of 2+ keep at least one clip on each side."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(clips):
        groups.setdefault((c.dataset, c.label), []).append(i)
    held = [False] * len(clips)
    for members in groups.values():
        if len(members) < 2:
            continue
        ranked = sorted(members, key=lambda i: hashlib.sha256(clips[i].stable_id.encode()).hexdigest())
        k = min(max(1, math.ceil(VAL_SHARE * len(members))), len(members) - 1)
        for i in ranked[:k]:
            held[i] = True
    return held


class _SubClips(Dataset):
    """Training examples: one per sub-clip, with the clip's label and source-domain index."""

    def __init__(self, clips: list[ClipRef], modalities: Sequence[str], domains: list[str]):
        self.items = [(c, k) for c in clips for k in range(_n_sub(c))]
        self.modalities, self.domains = tuple(modalities), domains

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[dict, int, int]:
        clip, k = self.items[i]
        return clip.sub_clips(self.modalities)[k], int(clip.label), self.domains.index(clip.dataset)


def _n_sub(clip: ClipRef) -> int:
    return clip.store.n_sub(clip.index) if clip.store is not None else 1


def _train_collate(items: list[tuple[dict, int, int]]) -> dict:
    batch = features.collate([x for x, _, _ in items])
    batch["label"] = torch.tensor([y for _, y, _ in items], dtype=torch.float32)
    batch["domain"] = torch.tensor([d for _, _, d in items], dtype=torch.int64)
    return batch


class DeceptionTrainSet:
    """What ``fit()`` receives: ``loader(batch_size, shuffle, seed)`` over the source clips'
    sub-clips (``label``: 1 truth, 0 lie; ``domain``: index into ``domains``),
    ``val_loader(batch_size)`` over the held-out source clips (model selection only)."""

    def __init__(self, clips: list[ClipRef], modalities: Sequence[str]):
        self.domains = sorted({c.dataset for c in clips})
        self.n_domains = len(self.domains)
        present = {m for c in clips for m in c.present}
        self.modalities = tuple(m for m in features.MODALITIES if m in present and m in modalities)
        held = _val_mask(clips)
        self.train_clips = [c for c, h in zip(clips, held) if not h]
        self.val_clips = [c for c, h in zip(clips, held) if h]
        self._train = _SubClips(self.train_clips, self.modalities, self.domains)
        self._val = _SubClips(self.val_clips, self.modalities, self.domains)

    def loader(self, batch_size: int = 16, shuffle: bool = True, seed: int = 0) -> DataLoader:
        return DataLoader(self._train, batch_size=batch_size, shuffle=shuffle, collate_fn=_train_collate,
                          generator=torch.Generator().manual_seed(seed))

    def val_loader(self, batch_size: int = 64) -> DataLoader:
        return DataLoader(self._val, batch_size=batch_size, shuffle=False, collate_fn=_train_collate)


def collate(items: list[tuple[Unit, dict]]) -> tuple[list[Unit], dict]:
    units = [u for u, _ in items]
    batch = features.collate([inp for _, inp in items])
    batch["ids"] = [u.sample_id for u in units]
    return units, batch


def _write_sample_key(root: Path, seed: int) -> None:
    """The sample's id key is public and fixed (its labels ship with the harness), so its opaque ids,
    and prediction files written against it, are the same on every machine."""
    key = Path(root) / features.ID_KEY_FILE
    text = hashlib.sha256(f"harness deception sample ids, seed {seed}".encode()).hexdigest() + "\n"
    if not key.is_file() or key.is_symlink() or key.read_text(encoding="ascii", errors="replace") != text:
        key.unlink(missing_ok=True)
        key.write_text(text, encoding="ascii")
        key.chmod(0o600)


class DeceptionFamily(Family):
    name = "deception"
    plots_module = ".plots"
    rows_refused = ("its test inputs are per-clip feature tensors (faces, action units, affect, mel, waveform, each "
                    "with a sub-clip axis and a clip-dependent length), kept in the harness's memory-mapped feature "
                    "store (harness data convert), not images and labels a datasets row holds")
    submission_suffixes = (".txt", ".csv")
    metric_specs = metrics.METRICS

    # ------------------------------------------------------------------ task checks
    def check_task(self, task) -> None:
        try:
            DeceptionRecipe.from_dict(task.recipe)
        except (ValueError, TypeError) as exc:
            raise HarnessError(f"recipe: {exc}", task.path) from exc
        if not task.datasets.get("test"):
            raise HarnessError("a deception task needs datasets.test", task.path)
        for role, refs in task.datasets.items():
            if role == "val":
                raise HarnessError("deception tasks hold out validation clips from the sources themselves; "
                                   "remove datasets.val", task.path)
            for ref in refs:
                if ref.name not in data.DATASETS:
                    raise HarnessError(f"datasets.{role}: unknown deception dataset {ref.name!r}; "
                                       f"known: {sorted(data.DATASETS)}", task.path)
                if ref.split in data.PROTOCOL_SPLITS and ref.name != "dolos":
                    raise HarnessError(f"datasets.{role}: split {ref.split!r} is a DOLOS protocol split", task.path)
        self.check_metrics(task)

    def recipe_record(self, task) -> dict[str, Any]:
        return DeceptionRecipe.from_dict(task.recipe).to_dict()

    # ------------------------------------------------------------------ data
    def synthesize(self, out: Path, seed: int = 0) -> Path:
        """Write the embedded sample under ``out``: organizer-format pickles are generated, then
        converted through the same safe path as real ones (``features.convert``)."""
        from . import synth

        out = Path(out)
        with atomic_dir(out) as tmp:
            staging = tmp / ".organizer"
            synth.write_organizer_pickles(staging, seed=seed)
            for pkl in sorted(staging.glob("*/features/*.pkl")):
                dataset = pkl.parent.parent.name
                features.convert(pkl, tmp / dataset / "features", dataset=dataset)
            for folder in sorted(staging.glob("*/" + data.PROTOCOL_DIR)):
                shutil.copytree(folder, tmp / folder.parent.name / data.PROTOCOL_DIR)
            shutil.copy2(staging / synth.MARKER, tmp / synth.MARKER)
            shutil.rmtree(staging)
            _write_sample_key(tmp, seed)
        return out

    def sample_root(self) -> Path:
        from . import synth

        root = cache_root() / f"deception-sample-v{synth.GENERATOR_VERSION}-seed{SAMPLE_SEED}"
        if not (root / synth.MARKER).is_file():
            self.synthesize(root, SAMPLE_SEED)
        _write_sample_key(root, SAMPLE_SEED)  # a sample cached before the key was fixed gets it too
        return root

    def _root(self, data_root: Path | None) -> tuple[Path, str, list[str]]:
        from . import synth

        return choose_root(data_root, self.sample_root, synth.MARKER)

    def write_participant_copy(self, task, root: Path, out: Path) -> tuple[list[str], None]:
        """The training datasets' folders as they are; each test split as one label-free store
        (``<dataset>/features/<split>``, or ``test`` for split ``all``) with :func:`features.opaque_id`
        ids keyed with the data root's organizer key (the ids the reference uses; the key stays behind)."""
        from ...participant import copy_dataset_folders

        train = [d.name for d in task.datasets.get("train", [])]
        for ref in task.datasets["test"]:
            if ref.name in train or ref.split in data.PROTOCOL_SPLITS:
                raise HarnessError(f"participant-copy: test dataset {ref.name!r} (split {ref.split!r}) shares its folder "
                                   "or protocol files with training data; not supported for this task", task.path)
        source = self.resolve_data(task, root, need_train=bool(train))
        if not source.labelled:
            raise HarnessError("this data root is already a participant copy (no test labels)", root)
        root = source.root  # the sample's folder for --data-root sample
        copy_dataset_folders(root, out, train)
        cache: dict = {}
        for ref in task.datasets["test"]:
            clips = self._split(root, ref, cache)
            first = clips[0]
            origin = first.store.folder if first.store is not None else root / ref.name
            features.write_store([_as_clip(c) for c in clips], out / ref.name / "features" / (
                ref.split if ref.split != "all" else "test"), dataset=ref.name, source=origin, strip_labels=True,
                key=features.id_key(root))  # the organizer's key: the ids the reference uses, never copied
        return ["test clips: one label-free feature store per test split, ids dd-<hash>, clips in id order"], None

    def can_convert(self, src: Path) -> bool:
        src = Path(src)
        return src.suffix == ".pkl" or (src.is_dir() and any(src.glob("*.pkl")))

    def convert(self, src: Path, out: Path, *, dataset: str | None = None, strip_labels: bool = False,
                name: str | None = None, overwrite: bool = False, id_key: Path | None = None) -> list[Path]:
        key = features.read_id_key(id_key) if id_key is not None else None
        return features.convert(Path(src), Path(out), dataset=dataset, strip_labels=strip_labels, name=name, key=key,
                                overwrite=overwrite)

    def _stores(self, root: Path, dataset: str) -> list[tuple[str, Any]]:
        """(store name, FeatureStore) of a dataset; an unconverted pickle is refused."""
        folder = root / dataset / "features"
        if not folder.is_dir():
            return []
        pickles = sorted(p for p in folder.glob("*.pkl") if not (folder / p.stem / features.STORE_META).is_file())
        if pickles:
            raise HarnessError(f"an organizer pickle is not converted yet; pickles can run code, so the harness "
                               f"reads them once through a restricted loader: harness data convert {pickles[0]} "
                               f"--out {folder} --dataset {dataset}", pickles[0])
        return [(p.name, features.FeatureStore(p)) for p in sorted(folder.iterdir(), key=lambda p: natural_key(p.name))
                if (p / features.STORE_META).is_file()]

    def _pool(self, root: Path, dataset: str, cache: dict) -> list[tuple[str, ClipRef]]:
        """Every clip of a dataset as (store name or 'raw', ClipRef), stores first."""
        if dataset in cache:
            return cache[dataset]
        pool: list[tuple[str, ClipRef]] = []
        key: list[bytes] = []

        def sample_id(videoname: str) -> str:  # the key is read (or made) once, and only when needed
            key[:] = key or [features.id_key(root)]
            return features.opaque_id(key[0], dataset, videoname)

        for name, store in self._stores(root, dataset):
            for i, videoname in enumerate(store.videonames):
                if store.ids_opaque:  # a participant copy: its names are the ids already
                    sid = stable = videoname
                else:
                    sid, stable = sample_id(videoname), features.name_digest(dataset, videoname)
                label = None if store.labels is None else int(store.labels[i])
                pool.append((name, ClipRef(dataset, videoname, sid, label, store, i, present=store.present(i),
                                           stable_id=stable)))
        for raw in data.scan_raw(root, dataset):
            pool.append(("raw", ClipRef(dataset, raw.videoname, sample_id(raw.videoname), raw.label,
                                        raw_path=raw.path, gender=raw.gender, present=("faces", "wave"),
                                        stable_id=features.name_digest(dataset, raw.videoname))))
        if not pool:
            raise HarnessError(f"no clips for dataset {dataset!r}; expected layout: {data.LAYOUT}", root / dataset)
        if dataset == "dolos":
            self._attach_protocol_metadata(root, pool)
        cache[dataset] = pool
        return pool

    def _attach_protocol_metadata(self, root: Path, pool: list[tuple[str, ClipRef]]) -> None:
        """Gender from DOLOS's male/female lists; labels cross-checked against every protocol file."""
        by_name = {data.match_name(c.videoname): c for _, c in pool}
        for split, file in data.PROTOCOL_SPLITS.items():
            path = root / "dolos" / data.PROTOCOL_DIR / file
            if not path.is_file():
                continue
            for row in data.read_protocol_csv(path):
                clip = by_name.get(data.match_name(row.file_name))
                if clip is None:
                    continue
                if clip.label is not None and clip.label != row.label:
                    raise HarnessError(f"clip {row.file_name!r}: the protocol file says label {row.label} (truth=1), "
                                       f"the features say {clip.label}", path)
                if split in ("male", "female"):
                    clip.gender = split
                elif row.gender and not clip.gender:
                    clip.gender = row.gender

    def _split(self, root: Path, ref, cache: dict) -> list[ClipRef]:
        pool = self._pool(root, ref.name, cache)
        if ref.split == "all":
            return list({c.sample_id: c for _, c in pool}.values())
        if ref.split in data.PROTOCOL_SPLITS:
            path = root / "dolos" / data.PROTOCOL_DIR / data.PROTOCOL_SPLITS[ref.split]
            if not path.is_file():
                raise HarnessError(f"DOLOS protocol file for split {ref.split!r} is missing; expected layout: {data.LAYOUT}", path)
            by_name = {data.match_name(c.videoname): c for _, c in pool}
            rows = data.read_protocol_csv(path)
            missing = [r.file_name for r in rows if data.match_name(r.file_name) not in by_name]
            if missing:
                raise HarnessError(f"{len(missing)} clip(s) of the protocol file have no features or clip, e.g. "
                                   f"{missing[:3]}", path)
            return list({c.sample_id: c for c in (by_name[data.match_name(r.file_name)] for r in rows)}.values())
        chosen = [c for name, c in pool if name == ref.split or name.startswith(f"{ref.split}-part")]
        if not chosen:
            stores = sorted({name for name, _ in pool})
            raise HarnessError(f"dataset {ref.name!r} has no store for split {ref.split!r}; stores found: {stores}",
                               root / ref.name / "features")
        return chosen

    def resolve_data(self, task, data_root: Path | None, need_train: bool) -> DataSource:
        root, kind, notes = self._root(data_root)
        recipe = DeceptionRecipe.from_dict(task.recipe)
        roles = roles_needed(task, need_train)
        cache: dict = {}
        clips: dict[str, list[ClipRef]] = select_by_role(task, roles, lambda ref: self._split(root, ref, cache), "clip")
        synthetic = sorted({c.dataset for cs in clips.values() for c in cs
                            if c.store is not None and c.store.meta.get("synthetic")})
        if synthetic and kind == "real":
            if len(synthetic) < len({c.dataset for cs in clips.values() for c in cs}):
                raise HarnessError(f"mixes stores converted from the harness's synthetic sample ({', '.join(synthetic)}) "
                                   f"with real data; keep them in separate data roots", root)
            kind = "sample"
            notes.append(f"the stores under {root} were converted from the harness's synthetic sample: results are "
                         f"labelled 'sample'")
        unlabelled = sum(c.label is None for c in clips["test"])
        if 0 < unlabelled < len(clips["test"]):
            raise HarnessError(f"{unlabelled} of {len(clips['test'])} test clips carry no labels: keep a participant "
                               "copy (--strip-labels) and labelled stores in separate data roots", root)
        if unlabelled:
            notes.append("participant copy: the test labels are withheld; a run writes its --submission file and "
                         "scores nothing")
        for role, cs in clips.items():
            self._check_modalities(role, cs, recipe, notes)
        if "train" in clips:
            notes.append(f"model selection: fit() gets {VAL_SHARE:.0%} of each source dataset's clips (per label) held out "
                         f"as its only validation data; the test clips never reach fit()")
        role_fps = {role: self._fingerprint(cs, root) for role, cs in clips.items()}
        datasets = {r: [d.name for d in task.datasets.get(r, [])] for r in roles}
        return DataSource(kind, root, combined_fingerprint(role_fps), datasets, notes, role_fps, {"clips": clips},
                          labelled=not unlabelled)

    def _check_modalities(self, role: str, clips: list[ClipRef], recipe: DeceptionRecipe, notes: list[str]) -> None:
        lacking: dict[str, list[ClipRef]] = {}
        for c in clips:
            for m in recipe.modalities:
                if m not in c.present:
                    lacking.setdefault(m, []).append(c)
        for m, cs in lacking.items():
            if recipe.missing_modality == "refuse":
                raise HarnessError(f"{len(cs)} {role} clip(s) lack modality {m!r} (e.g. {cs[0].dataset}/{cs[0].videoname}); "
                                   f"the task's recipe refuses clips with a missing modality")
            notes.append(f"{len(cs)} of {len(clips)} {role} clips lack modality {m!r}: passed on as missing (mask False)")

    @staticmethod
    def _fingerprint(clips: list[ClipRef], root: Path) -> str:
        h = hashlib.sha256()
        stores = {id(c.store): c.store for c in clips if c.store is not None}
        for fp in sorted(s.fingerprint() for s in stores.values()):
            h.update(fp.encode())
        for c in sorted(clips, key=lambda c: c.stable_id):
            h.update(f"{c.stable_id}:{c.label}".encode())
            if c.raw_path is not None:
                h.update(f"{c.raw_path.relative_to(root)}:{c.raw_path.stat().st_size}".encode())
        return h.hexdigest()[:16]

    def train_data(self, task, source: DataSource, model) -> DeceptionTrainSet:
        recipe = DeceptionRecipe.from_dict(task.recipe)
        return DeceptionTrainSet(source.scanned["clips"].get("train", []), recipe.modalities)

    def test_set(self, task, source: DataSource, model, limit: int | None) -> TestSet:
        recipe = DeceptionRecipe.from_dict(task.recipe)
        clips = source.scanned["clips"]["test"]
        if limit is not None:
            clips = clips[: max(int(limit), 0)]
        by_id = {c.sample_id: c for c in clips}

        def produce(sample_id: str) -> Iterator[tuple[Unit, dict]]:
            clip = by_id[sample_id]
            subs = clip.sub_clips(recipe.modalities)
            for k, inputs in enumerate(subs):
                last = k == len(subs) - 1
                yield Unit(sample_id, part=k, last=last, reference=_reference(clip) if last and clip.label is not None else None,
                           meta={"dataset": clip.dataset}), inputs

        return TestSet(list(by_id), self, make_dataset=lambda ids: StreamDataset(ids, produce), collate=collate, threads=True)

    # ------------------------------------------------------------------ outputs
    def split_outputs(self, outputs: Any, units: Sequence[Unit], inputs: dict) -> list[dict]:
        out = []
        for unit, v in zip(units, scores_of(outputs, units, "P(truth)")):
            if not 0.0 <= v <= 1.0:
                raise HarnessError(f"model returned score {v!r} for sample {unit.sample_id}; it must be P(truth) in [0, 1] "
                                   f"(apply a sigmoid/softmax to logits)")
            out.append({"score": float(v)})
        return out

    def merge_parts(self, parts: list[dict]) -> dict:
        return {"score": float(np.mean([p["score"] for p in parts])), "n_sub": len(parts)}

    # ------------------------------------------------------------------ prediction files
    def prediction_format(self) -> PredictionFormat:
        return PredictionFormat(
            suffixes=(".txt", ".csv"),
            summary="P(truth) in [0, 1] per test clip id: .txt lines '<id> <P(truth)>' (the SVC format, no header) "
                    "or .csv with header id,score.",
            details="""\
.txt: the SVC challenges' format: one line '<id> <P(truth)>' per test clip (whitespace between,
    no header line).
.csv: header id,score, one row per test clip.
The score is P(truth) (truth = 1, lie = 0), a finite number in [0, 1]; ids are the test clips'
opaque ids (dd-...).""")

    def prediction_suffix(self, outputs) -> str:
        return ".txt"

    def write_predictions(self, path: Path, outputs: dict[str, dict], references: dict[str, dict]) -> None:
        """SVC format (``<id> <P(truth)>`` per line) for ``.txt``; ``id,score`` for ``.csv``."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".txt":
            lines = [f"{i} {float(o['score'])!r}" for i, o in outputs.items()]
        elif suffix == ".csv":
            lines = ["id,score"] + [f"{i},{float(o['score'])!r}" for i, o in outputs.items()]
        else:
            raise HarnessError("deception predictions are written as .txt (SVC: '<id> <P(truth)>' lines) or .csv (id,score)", path)
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def read_predictions(self, task, upload: Upload, references: dict[str, dict], problems: Problems) -> dict[str, dict]:
        suffix = Path(upload.name).suffix.lower()
        parse = {"score": number_in(0.0, 1.0)}
        if suffix == ".csv":
            rows, seen = read_csv(upload, ("id", "score"), parse, problems)
        elif suffix == ".txt":
            rows, seen = read_whitespace(upload, ("id", "score"), parse, problems)
        else:
            raise HarnessError("unknown prediction format: deception predictions are a .txt of '<id> <P(truth)>' "
                               "lines (SVC format, optionally zipped) or a .csv with header id,score", upload.name)
        check_ids(seen, list(references), problems, task.name)
        return {i: {"score": float(v["score"])} for i, v in rows.items() if i in references}

    def write_reference(self, path: Path, references: dict[str, dict]) -> None:
        frame = pd.DataFrame([{"id": i, **{k: r.get(k) for k in REFERENCE_HEADER[1:]}} for i, r in references.items()],
                             columns=list(REFERENCE_HEADER))
        with atomic_path(Path(path)) as tmp:
            frame.to_csv(tmp, index=False)

    def read_reference(self, task, path: Path) -> tuple[dict[str, dict], dict]:
        path = Path(path)
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"malformed reference file: {exc}", path) from exc
        if tuple(frame.columns) != REFERENCE_HEADER or frame.empty:
            raise HarnessError(f"malformed reference file: header must be {','.join(REFERENCE_HEADER)}", path)
        if not frame["label"].isin(["0", "1"]).all() or frame["id"].duplicated().any():
            raise HarnessError("malformed reference file: labels must be 0 (lie) or 1 (truth), ids unique", path)
        refs = {r.id: {"label": int(r.label), "dataset": r.dataset, "gender": r.gender,
                       "duration_s": float(r.duration_s) if r.duration_s else float("nan"), "videoname": r.videoname}
                for r in frame.itertuples(index=False)}
        return refs, {"kind": "file", "path": str(path), "samples": len(refs)}

    def references(self, task, data_root: Path | None) -> tuple[dict[str, dict], dict]:
        source = self.resolve_data(task, data_root, need_train=False)
        if not source.labelled:
            raise HarnessError("the test clips carry no labels (a participant copy); read the reference from the "
                               "organizer's labelled data root", source.root)
        refs = {c.sample_id: _reference(c) for c in source.scanned["clips"]["test"]}
        return refs, {"kind": source.kind, "root": str(source.root), "fingerprint": source.fingerprint, "samples": len(refs)}

    # ------------------------------------------------------------------ scoring
    def score(self, task, outputs: dict[str, dict], references: dict[str, dict], *, n_boot: int, seed: int) -> Score:
        recipe = DeceptionRecipe.from_dict(task.recipe)
        rows = pd.DataFrame([_row(i, o, references[i]) for i, o in outputs.items()])
        rows["predicted"] = (rows.score >= recipe.threshold).astype(int)
        names = [m.name for m in task.metrics]
        values = evaluate([metrics.METRICS[name] for name in names],
                          {"scores": rows.score.to_numpy(), "labels": rows.label.to_numpy(), "threshold": recipe.threshold},
                          n_boot, seed)
        notes = undefined_notes(values)
        if "auc" in values and values["auc"].value is not None and values["auc"].value < 0.5:
            notes.append(f"AUC {values['auc'].value:.4f} < 0.5: scores may be inverted; they must be P(truth) (truth = 1)")
        counts = {"test": len(rows), "truth": int((rows.label == 1).sum()), "lie": int((rows.label == 0).sum()),
                  "sub_clips": int(rows.n_sub.sum())}
        return Score(values, rows, notes, counts, _breakdowns(rows, recipe.threshold))


def _as_clip(ref: ClipRef) -> features.Clip:
    """A clip's every sub-clip, stacked per modality (those all its sub-clips hold), for a new store."""
    subs = ref.sub_clips(features.MODALITIES)
    shared = [m for m in features.MODALITIES if all(m in s for s in subs)]
    try:
        arrays = {m: np.stack([np.asarray(s[m]) for s in subs]) for m in shared}
    except ValueError as exc:
        raise HarnessError(f"clip {ref.dataset}/{ref.videoname}: sub-clips of unequal shape ({exc})") from exc
    return features.Clip(ref.videoname, ref.label, arrays)


def _reference(clip: ClipRef) -> dict:
    duration = clip.duration_s()
    return {"label": int(clip.label), "dataset": clip.dataset, "gender": clip.gender,
            "duration_s": float("nan") if duration is None else float(duration), "videoname": clip.videoname}


def _row(sample_id: str, output: dict, ref: dict) -> dict:
    """One clip's scored row (references may come back from the run cache as 0-d arrays)."""
    duration = ref.get("duration_s")
    duration = None if duration is None or not np.isfinite(float(duration)) else float(duration)
    return {"sample_id": sample_id, "dataset": str(ref["dataset"]), "gender": str(ref.get("gender") or ""),
            "duration_s": duration, "label": int(ref["label"]), "score": float(output["score"]),
            "n_sub": int(output.get("n_sub", 1))}


def _group_summary(g: pd.DataFrame, threshold: float) -> dict:
    s, y = g.score.to_numpy(), g.label.to_numpy()
    vals = metrics.binary_metrics(s, y, ["accuracy", "f1_truth", "auc"], threshold=threshold)
    return {"n": int(len(g)), "truth": int((y == 1).sum()), "lie": int((y == 0).sum()),
            **{k: (float(v) if np.isfinite(v) else None) for k, v in vals.items()}}


def _breakdowns(rows: pd.DataFrame, threshold: float) -> dict:
    """Accuracy, F1 (truth) and AUC per dataset, per gender (where known) and per duration half
    (clips at or below the test set's median duration vs above it, where the wave gives one)."""
    out: dict[str, Any] = {"per_dataset": {str(k): _group_summary(g, threshold) for k, g in rows.groupby("dataset")}}
    known = rows[rows.gender != ""]
    if len(known):
        out["per_gender"] = {str(k): _group_summary(g, threshold) for k, g in known.groupby("gender")}
    timed = rows[rows.duration_s.notna()]
    if len(timed) >= 2:
        median = float(timed.duration_s.median())
        out["per_duration"] = {"median_s": median,
                               f"short (<= {median:.2f} s)": _group_summary(timed[timed.duration_s <= median], threshold),
                               f"long (> {median:.2f} s)": _group_summary(timed[timed.duration_s > median], threshold)}
    return out


FAMILY = DeceptionFamily()
