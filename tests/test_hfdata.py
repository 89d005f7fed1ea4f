"""Test sets from Hugging Face ``datasets`` repositories (harness.hfdata): the embedded samples
exported with ``harness data export --format datasets`` and read back as Parquet, as a
``save_to_disk`` folder and as ``hf://datasets/...`` from a fake offline Hub cache give the same
numbers as the on-disk layouts; column mappings; every problem named by column or row."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.cli import main
from harness.errors import HarnessError
from harness.hfdata import BATCH_ROWS, column_mapping, is_datasets_repository, parse_columns
from harness.runner import RunOptions, run_task
from harness.task import TaskIndex, config_hash, resolve_includes
from test_hub import cache_repo

datasets = pytest.importorskip("datasets")

SPLICE, IQA, FAS = "splice-casia1", "iqa-koniq", "mmdg-p1-cps-w"
MODELS = {SPLICE: "splice-ela", IQA: "iqa-ridge", FAS: "fas-relief"}


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture(scope="module")
def exports(tmp_path_factory, sample_cache) -> dict[str, Path]:
    """``harness data export`` of the three samples (Parquet), once per module."""
    import os

    os.environ["HARNESS_CACHE"] = str(sample_cache)
    out = tmp_path_factory.mktemp("exports")
    for task in MODELS:
        assert main(["data", "export", "--task", task, "--format", "datasets", "--out", str(out / task)]) == 0
    return {t: out / t for t in MODELS}


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory, exports) -> dict[str, dict]:
    """Each task's metrics on the sample's on-disk layout, once per module."""
    out = tmp_path_factory.mktemp("on-disk")
    return {t: _run(t, m, out / t) for t, m in MODELS.items()}


def _run(task_name: str, model: str, tmp_path: Path, data_root=None, **kw) -> dict:
    task = TaskIndex().tasks[task_name]
    opts = RunOptions(data_root=None if data_root is None else str(data_root), output=str(tmp_path / "res"),
                      n_boot=20, progress=False, device="cpu", **kw)
    return run_task(task, model, opts, log=lambda m: None)


def _metrics(rec: dict) -> dict:
    return {k: v for k, v in rec["metrics"].items()}


def error_of(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.strip().splitlines() if "error" in l]
    assert len(lines) == 1 and lines[0].startswith("harness: error: ") and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------- same numbers
@pytest.mark.parametrize("task_name, model", MODELS.items())
def test_a_datasets_copy_of_the_sample_gives_the_on_disk_numbers(task_name, model, exports, on_disk, tmp_path, offline):
    export = exports[task_name]
    assert is_datasets_repository(export) and json.loads((export / "harness.json").read_text())["source"] == "sample"
    on_disk = on_disk[task_name]
    parquet = _run(task_name, model, tmp_path / "b", export)
    assert _metrics(parquet) == _metrics(on_disk) and parquet["n_samples"] == on_disk["n_samples"]
    assert parquet["breakdowns"] == on_disk["breakdowns"]  # e.g. FAS APCER per attack type: the types came through
    assert parquet["data"]["source"] == "sample" and parquet["data"]["fingerprint"] != on_disk["data"]["fingerprint"]
    assert any("datasets repository" in n for n in parquet["data"]["notes"]) and parquet["data"]["root"] == str(export)

    # the same rows as memory-mapped Arrow (save_to_disk) and as hf:// from the offline cache
    loaded = datasets.load_dataset(str(export), cache_dir=str(tmp_path / 'hf-cache'))
    assert set(loaded) == {"test", "train"}  # both tasks train (splice-casia1 on casia2)
    arrow = tmp_path / "arrow"
    loaded.save_to_disk(str(arrow))
    (arrow / "harness.json").write_text((export / "harness.json").read_text())
    assert _metrics(_run(task_name, model, tmp_path / "c", arrow)) == _metrics(on_disk)
    sha = cache_repo(offline, "org/bench", export)
    hub = _run(task_name, model, tmp_path / "d", f"hf://datasets/org/bench@{sha}")
    assert _metrics(hub) == _metrics(on_disk) and hub["data"]["origin"]["commit"] == sha
    assert hub["data"]["fingerprint"] != parquet["data"]["fingerprint"]  # the commit is folded in


def test_renamed_columns_through_columns_or_the_task_file(exports, on_disk, tmp_path, monkeypatch, capsys):
    loaded = datasets.load_dataset(str(exports[SPLICE]), split="test", cache_dir=str(tmp_path / 'hf-cache'))
    renamed = loaded.rename_columns({"image": "img", "mask": "gt", "id": "name"}).remove_columns(["label", "dataset"])
    repo = tmp_path / "renamed"
    (repo / "data").mkdir(parents=True)
    renamed.to_parquet(str(repo / "data" / "test-0.parquet"))
    on_disk = on_disk[SPLICE]
    # real data from another tool's repository: labelled real, same numbers
    mapped = _run(SPLICE, "splice-ela", tmp_path / "b", repo, columns=parse_columns("image=img,mask=gt,id=name"))
    assert _metrics(mapped) == _metrics(on_disk) and mapped["data"]["source"] == "real"
    other = _run(SPLICE, "splice-ela", tmp_path / "c", repo, columns=parse_columns("image=img, mask=gt ,id=name"))
    assert other["data"]["fingerprint"] == mapped["data"]["fingerprint"]

    # a task file that ships the mapping
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    config = resolve_includes(TaskIndex().tasks[SPLICE].path)
    config.update(task="splice-renamed", columns={"image": "img", "mask": "gt", "id": "name"})
    (tasks / "splice-renamed.yaml").write_text(json.dumps(config))
    monkeypatch.setenv("HARNESS_TASKS", str(tasks))
    task = TaskIndex().tasks["splice-renamed"]
    assert task.config_hash == config_hash({k: v for k, v in config.items() if k != "columns"})  # enters the data fingerprint
    assert main(["run", "--task", "splice-renamed", "--model", "splice-ela", "--data-root", str(repo), "--n-boot", "20",
                 "--output", str(tmp_path / "e"), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["metrics"] == _metrics(on_disk)

    line = error_of(["run", "--task", SPLICE, "--model", "splice-ela", "--data-root", str(repo)], capsys)
    assert "missing column 'id' (role id" in line and "'name'" in line and "--columns id=COLUMN" in line


def test_column_mapping_rules():
    from harness.family import FAMILIES

    family, task = FAMILIES.get("splicing"), TaskIndex().tasks[SPLICE]
    assert column_mapping(family, task)["mask"] == "mask"
    assert column_mapping(family, task, {"mask": "gt"})["mask"] == "gt"
    with pytest.raises(HarnessError, match=r"unknown role\(s\) \['mos'\].*roles: id"):
        column_mapping(family, task, {"mos": "x"})
    for bad in ("image", "image=", "=img", "image=a,image=b"):
        with pytest.raises(HarnessError, match="--columns"):
            parse_columns(bad)
    assert parse_columns(None) == {} and parse_columns("a=b,,c=d") == {"a": "b", "c": "d"}
    with pytest.raises(HarnessError, match="does not read datasets"):
        column_mapping(FAMILIES.get("rppg"), TaskIndex().tasks["svc2026-rppg-phase2"])


# ----------------------------------------------------------------------------- problems named by column and row
def _png(size=(8, 6), mode="RGB", value=128, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, value if mode != "RGB" else (value,) * 3).save(buf, format=fmt)
    return buf.getvalue()


def _repo(tmp_path: Path, columns: dict, features=None, name="bad") -> Path:
    repo = tmp_path / name
    (repo / "data").mkdir(parents=True)
    feats = datasets.Features(features) if features else None
    datasets.Dataset.from_dict(columns, features=feats).to_parquet(str(repo / "data" / "test-0.parquet"))
    return repo


IMG = {"id": datasets.Value("string"), "image": datasets.Image(), "mask": datasets.Image()}


@pytest.mark.parametrize("columns, features, message", [
    ({"id": ["a", "b"], "image": [{"bytes": _png(), "path": None}] * 2, "mask": [1.0, 2.0]},
     {"id": datasets.Value("string"), "image": datasets.Image(), "mask": datasets.Value("float32")},
     "column 'mask' (role mask) is float32, expected an image"),
    ({"id": ["a", "a"], "image": [{"bytes": _png(), "path": None}] * 2, "mask": [{"bytes": _png(), "path": None}] * 2},
     IMG, "split 'test' row 1: duplicate id 'a' (column 'id') in dataset 'casia1', first at"),
    ({"id": ["a", "b"], "image": [{"bytes": _png(), "path": None}, {"bytes": b"not an image", "path": None}],
      "mask": [{"bytes": _png(), "path": None}] * 2},
     IMG, "split 'test' row 1 column 'image': cannot read image"),
    ({"id": ["a"], "image": [{"bytes": _png(), "path": None}], "mask": [{"bytes": _png((4, 4)), "path": None}]},
     IMG, "row 0 column 'mask': mask is 4x4 but its image is 6x8"),
    ({"id": ["../a"], "image": [{"bytes": _png(), "path": None}], "mask": [{"bytes": _png(), "path": None}]},
     IMG, "row 0: id '../a' (column 'id') cannot name a file"),
    ({"id": ["a"], "image": [{"bytes": _png(mode="F", value=0.5, fmt="TIFF"), "path": None}], "mask": [None]},
     IMG, "row 0 column 'image': unsupported image mode 'F'"),
])
def test_problems_name_the_column_or_row(columns, features, message, tmp_path, capsys):
    repo = _repo(tmp_path, columns, features)
    line = error_of(["run", "--task", SPLICE, "--model", "splice-ela", "--data-root", str(repo),
                     "--output", str(tmp_path / "res")], capsys)
    assert message in line, line
    assert not (tmp_path / "res").exists()  # no half-written result


def test_large_images_and_refused_modes_use_the_safe_decoder(tmp_path, capsys, monkeypatch):
    repo = _repo(tmp_path, {"id": ["a"], "image": [{"bytes": _png((40, 30)), "path": None}],
                            "mask": [{"bytes": _png((40, 30)), "path": None}]}, IMG)
    monkeypatch.setenv("HARNESS_MAX_PIXELS", "1000")
    line = error_of(["run", "--task", SPLICE, "--model", "splice-ela", "--data-root", str(repo)], capsys)
    assert "row 0 column 'image': image is 40x30" in line and "HARNESS_MAX_PIXELS" in line


def test_more_rows_than_a_batch_and_rows_of_other_datasets(tmp_path):
    n = BATCH_ROWS + 3
    rng = np.random.default_rng(0)
    masks = [{"bytes": _png(value=int(v)), "path": None} for v in rng.choice([0, 255], n)]
    repo = _repo(tmp_path, {"id": [f"x{i}" for i in range(n)], "image": [{"bytes": _png(value=i), "path": None} for i in range(n)],
                            "mask": masks, "label": [1] * (n - 1) + [0],
                            "dataset": ["casia1"] * (n - 2) + ["columbia"] * 2},
                 {**IMG, "label": datasets.Value("int64"), "dataset": datasets.Value("string")})
    rec = _run(SPLICE, "splice-ela", tmp_path / "a", repo)
    assert rec["n_samples"] == n - 2 and rec["counts"]["tampered"] == n - 2  # the columbia rows are not casia1's
    other = _run("splice-columbia", "splice-ela", tmp_path / "b", repo)  # its own copy of the repository
    assert other["n_samples"] == 2 and (other["counts"]["tampered"], other["counts"]["authentic"]) == (1, 1)


def test_a_participant_copy_has_no_labels_and_cannot_be_scored(tmp_path, capsys):
    out = tmp_path / "participant"
    assert main(["data", "export", "--task", SPLICE, "--out", str(out), "--strip-labels"]) == 0
    assert "labels stripped" in capsys.readouterr().out
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / 'hf-cache'))
    assert set(loaded) == {"test"} and set(loaded["test"].column_names) == {"id", "image", "dataset", "subset"}
    card = (out / "README.md").read_text()
    assert "config_name: default" in card and "synthetic sample" in card and "Participant copy" in card
    line = error_of(["run", "--task", SPLICE, "--model", "splice-ela", "--data-root", str(out)], capsys)
    assert "no ground truth" in line


def test_export_never_replaces_a_folder_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    line = error_of(["data", "export", "--task", SPLICE, "--out", str(mine)], capsys)
    assert "is not a harness test-set export" in line and (mine / "notes.txt").read_text() == "keep"
    line = error_of(["data", "export", "--task", "svc2026-rppg-phase2", "--out", str(tmp_path / "x")], capsys)
    assert "has no datasets format: its test inputs are videos" in line and not (tmp_path / "x").exists()
    line = error_of(["data", "export", "--task", "dd-lodo-bol", "--out", str(tmp_path / "x")], capsys)
    assert "the deception family has no datasets format: its test inputs are per-clip feature tensors" in line
    line = error_of(["run", "--task", SPLICE, "--model", "splice-ela", "--columns", "image=img"], capsys)
    assert "--columns applies to a datasets repository" in line


def test_reference_from_a_datasets_repository_equals_the_on_disk_one(exports, tmp_path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["data", "reference", "--task", IQA, "--out", str(a)]) == 0
    assert main(["data", "reference", "--task", IQA, "--out", str(b), "--data-root", str(exports[IQA])]) == 0
    assert a.read_text() == b.read_text()
    sides = [json.loads(Path(str(p) + ".harness.json").read_text()) for p in (a, b)]
    assert sides[0]["digest"] == sides[1]["digest"] and sides[1]["data"] == "sample"


def test_datasets_is_imported_only_where_it_is_used():
    import subprocess
    import sys

    code = ("import sys, harness.cli, harness.runner, harness.hub, harness.hfdata, harness.leaderboard\n"
            "from harness.family import FAMILIES\n"
            "[FAMILIES.get(n) for n in FAMILIES.names()]\n"
            "harness.cli.build_parser()\n"
            "assert 'datasets' not in sys.modules, 'datasets imported eagerly'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- FAS
@pytest.fixture(scope="module")
def fas_rows(exports, tmp_path_factory) -> dict[str, list]:
    """The first 4 rows of each dataset in the FAS export's test split (rows 0-3 cefa val, 4-7
    padisi val, 8-11 surf val, 12-15 wmca test), as plain columns, images left encoded."""
    loaded = datasets.load_dataset(str(exports[FAS]), split="test", cache_dir=str(tmp_path_factory.mktemp("hf")))
    for m in ("rgb", "depth", "ir"):
        loaded = loaded.cast_column(m, datasets.Image(decode=False))
    keep = [i for name in ("cefa", "padisi", "surf", "wmca")
            for i in [k for k, d in enumerate(loaded["dataset"]) if d == name][:4]]
    return loaded.select(keep).to_dict()


FAS_FEATURES = {"id": datasets.Value("string"), "rgb": datasets.Image(), "depth": datasets.Image(),
                "ir": datasets.Image(), "label": datasets.Value("int64"), "attack_type": datasets.Value("string"),
                "dataset": datasets.Value("string"), "split": datasets.Value("string")}


def test_fas_export_columns_and_the_reference_equal_the_on_disk_ones(exports, tmp_path, capsys):
    export = exports[FAS]
    info = json.loads((export / "harness.json").read_text())
    assert info["columns"] == {c: c for c in ("id", "rgb", "depth", "ir", "label", "attack_type", "dataset", "split")}
    test = datasets.load_dataset(str(export), split="test", cache_dir=str(tmp_path / "hf-cache"))
    # the test split holds what a run scores: the sources' val frames, then the target's test frames
    assert set(zip(test["dataset"], test["split"])) == {("cefa", "val"), ("padisi", "val"), ("surf", "val"), ("wmca", "test")}
    assert {t for t in test["attack_type"] if t} <= {"print", "replay", "rigidmask", "flexiblemask"}
    assert any(test["attack_type"]) and not any(t for t, l in zip(test["attack_type"], test["label"]) if l == 1)
    # ids, roles, labels, domains, video ids and attack types: the reference file is the same
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["data", "reference", "--task", FAS, "--out", str(a)]) == 0
    assert main(["data", "reference", "--task", FAS, "--out", str(b), "--data-root", str(export)]) == 0
    assert a.read_text() == b.read_text() and "fakehead" not in a.read_text()


def test_fas_participant_copy_has_the_scored_frames_without_labels(tmp_path, capsys):
    out = tmp_path / "participant"
    assert main(["data", "export", "--task", FAS, "--out", str(out), "--strip-labels"]) == 0
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert set(loaded) == {"test"} and set(loaded["test"].column_names) == {"id", "rgb", "depth", "ir", "dataset", "split"}
    assert set(loaded["test"]["split"]) == {"val", "test"}
    line = error_of(["run", "--task", FAS, "--model", "fas-relief", "--data-root", str(out)], capsys)
    assert "missing column 'label'" in line and "participant copy without labels" in line


def test_a_padisi_frame_comes_back_with_every_8_bit_level(tmp_path):
    from harness.families.fas import data as fdata, rows
    from harness.hfdata import RowImage

    rgb = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)  # every level 0..255 in each channel
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)[::-1].copy()
    png = lambda a: RowImage(cv2_png(a), "row 0")  # noqa: E731
    row = {"_where": "row 0", "id": "ab12cd34.npz", "dataset": "padisi", "split": "test", "label": 1,
           "rgb": png(rgb[:, :, ::-1]), "depth": png(grey), "ir": png(grey.T.copy())}
    assert rows.write_rows([row], tmp_path) == 1
    assert (tmp_path / "MMDG-Benchmark" / "P-test.txt").read_text() == "ab12cd34.npz\t1\n"
    (sample,), _ = fdata.read_list(tmp_path, "P", "test")
    frames = fdata.load_frame(sample)
    assert np.array_equal(frames["rgb"], rgb) and np.array_equal(frames["depth"][:, :, 0], grey)
    assert np.array_equal(frames["ir"][:, :, 0], grey.T)


def cv2_png(a: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", a)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("change, message", [
    (lambda r: r["label"].__setitem__(8, 0) or r["attack_type"].__setitem__(8, "print"),
     "row 8: attack type 'print' cannot be recorded in the MMDG layout, which holds no attack type for surf"),
    (lambda r: r["label"].__setitem__(12, 0) or r["attack_type"].__setitem__(12, "mask"),
     "row 12: attack type 'mask' cannot be recorded in the MMDG layout, which holds wmca's FlexModal types"),
    (lambda r: r["id"].__setitem__(0, "CeFA/a b/profile/1.jpg"), "row 0: id 'CeFA/a b/profile/1.jpg' holds white space"),
    (lambda r: r["id"].__setitem__(0, "CeFA/../x.jpg"), "row 0: id 'CeFA/../x.jpg' (column 'id') cannot name a file"),
    (lambda r: r["split"].__setitem__(0, "holdout"), "row 0: split 'holdout' is not one of train, val"),
    (lambda r: r["label"].__setitem__(5, 2), "row 5: label 2 is not 1 (bona fide) or 0 (attack)"),
    (lambda r: r["depth"].__setitem__(4, {"bytes": _png((4, 4)), "path": None}),
     "row 4: a padisi frame's rgb, depth and ir must have one size, got rgb 32x32, depth 4x4"),
    (lambda r: r["ir"].__setitem__(1, {"bytes": b"garbage", "path": None}), "row 1 column 'ir': cannot read image"),
    (lambda r: [r[k].__setitem__(1, r[k][0]) for k in ("id", "split")] and r["rgb"].__setitem__(1, {"bytes": _png((32, 32)), "path": None}),
     "row 1: duplicate id"),
    (lambda r: [r[k].__setitem__(1, r[k][0]) for k in ("id", "rgb", "depth", "ir", "label", "attack_type")]
     and r["split"].__setitem__(1, "Validation"),  # one frame, spelled val and Validation
     "row 1: duplicate id 'CeFA/"),
    (lambda r: r["id"].__setitem__(1, r["id"][0]) or r["split"].__setitem__(1, "test") or r["rgb"].__setitem__(1, {"bytes": _png((32, 32)), "path": None}),
     "row 1 column 'rgb': the same id was given other images at"),
], ids=["surf-attack-type", "wmca-attack-type", "space-in-id", "dotdot-id", "split", "label", "padisi-sizes",
        "undecodable", "duplicate", "duplicate-spelled-validation", "same-id-other-image"])
def test_fas_problems_name_the_row(change, message, fas_rows, tmp_path, capsys):
    columns = {k: list(v) for k, v in fas_rows.items()}
    change(columns)
    repo = _repo(tmp_path, columns, FAS_FEATURES)
    line = error_of(["run", "--task", FAS, "--model", "fas-relief", "--data-root", str(repo),
                     "--output", str(tmp_path / "res")], capsys)
    assert message in line, line
    assert not (tmp_path / "res").exists()


def test_fas_rows_need_their_dataset_and_take_the_split_from_the_repository(fas_rows, tmp_path, capsys):
    columns = fas_rows
    no_dataset = {k: v for k, v in columns.items() if k != "dataset"}
    repo = _repo(tmp_path, no_dataset, {k: v for k, v in FAS_FEATURES.items() if k != "dataset"}, name="nods")
    line = error_of(["run", "--task", FAS, "--model", "fas-relief", "--data-root", str(repo)], capsys)
    assert "missing column 'dataset' (role dataset" in line
    # no split column: the repository's split names say val / test (validation = val)
    repo = tmp_path / "splits"
    (repo / "data").mkdir(parents=True)
    feats = datasets.Features({k: v for k, v in FAS_FEATURES.items() if k != "split"})
    for split, name in (("val", "validation"), ("test", "test")):
        keep = [i for i, s in enumerate(columns["split"]) if s == split]
        part = {k: [v[i] for i in keep] for k, v in columns.items() if k != "split"}
        datasets.Dataset.from_dict(part, features=feats).to_parquet(str(repo / "data" / f"{name}-0.parquet"))
    rec = _run(FAS, "fas-relief", tmp_path / "r", repo)
    assert rec["counts"]["val"] == 12 and rec["counts"]["test"] == 4
