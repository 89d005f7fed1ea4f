"""Results store: atomic writes leave either the old file or the new one, never half of one."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.files import atomic_path, write_json
from harness.records import iter_records, model_tag
from harness.runner import SampleCache


def test_write_json_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a" / "record.json"
    write_json(path, {"x": 1})
    write_json(path, {"x": 2, "arr": np.float64(1.5)})
    assert json.loads(path.read_text()) == {"x": 2, "arr": 1.5}
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "record.json"
    write_json(path, {"ok": True})
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("crash mid-write")
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_sample_cache_round_trip(tmp_path):
    cache = SampleCache(tmp_path)
    assert not cache.has("mmpd/subject1/p1_0")
    cache.put("mmpd/subject1/p1_0", {"bvp": np.arange(4.0)}, {"bvp": np.ones(4), "fs": 30.0}, {"face_found": True})
    out, ref, meta = cache.get("mmpd/subject1/p1_0")
    assert np.array_equal(out["bvp"], np.arange(4.0)) and float(ref["fs"]) == 30.0 and meta == {"face_found": True}


def test_model_tag_and_record_listing(tmp_path):
    assert model_tag("pos", {}) == "pos"
    assert model_tag("mine", {"window": 32}) != model_tag("mine", {"window": 64})
    write_json(tmp_path / "runs/sample/t/pos/record.json", {"m": 1})
    write_json(tmp_path / "runs/real/t/pos/record.json", {"m": 2})
    assert [r["m"] for r in iter_records(tmp_path, "t", "sample")] == [1]
    assert sorted(r["m"] for r in iter_records(tmp_path)) == [1, 2]


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    write_json(tmp_path / "r.json", {})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o666 & ~mask


def test_content_digest_is_by_value_not_by_container_or_float_width():
    import numpy as np
    import torch

    from harness.digest import content_digest

    a = {"x": np.array([1.0, 2.5], dtype=np.float32), "y": [1, "b", None]}
    same = {"y": (1, "b", None), "x": np.array([1.0, 2.5], dtype=np.float64)}
    assert content_digest(a) == content_digest(same)
    assert content_digest(a) != content_digest({**a, "x": np.array([1.0, 2.25])})
    assert content_digest({"w": torch.tensor([0.5, 1.5], dtype=torch.bfloat16)}) == content_digest({"w": np.array([0.5, 1.5])})
    assert content_digest({"n": np.float64(0.1)}) == content_digest({"n": 0.1}) != content_digest({"n": "0.1"})


# ----------------------------------------------------------------------------- the typed run record
RUN_KEYS = ["schema", "created", "task", "model", "inputs", "data", "metrics", "primary_metric", "directions",
            "n_samples", "counts", "breakdowns", "reportable", "limit", "seed", "n_boot", "precision", "environment",
            "distributed", "timings", "throughput", "notes", "files"]  # record.json as every version wrote it


def test_a_run_record_keeps_its_json(tmp_path):
    from harness.family import FAMILIES
    from harness.runner import RunOptions, run_task
    from harness.task import TaskIndex

    task = TaskIndex().tasks["mmdg-p1-cps-w"]
    rec = run_task(task, "fas-relief", RunOptions(output=str(tmp_path), limit=4, n_boot=10, progress=False),
                   log=lambda _m: None, group="g")
    path = tmp_path / "runs" / "sample" / task.name / "fas-relief@limit4" / "record.json"
    text = path.read_text()
    on_disk = json.loads(text)
    assert rec["_path"] == str(path) and list(on_disk) == RUN_KEYS
    family = FAMILIES.get(task.family)
    assert on_disk["task"] == {"name": task.name, "version": task.version, "config_hash": task.config_hash,
                               "family": "fas", "group": "g", "recipe": json.loads(json.dumps(family.recipe_record(task))),
                               "datasets": {r: [d.to_dict() for d in refs] for r, refs in task.datasets.items()}}
    assert on_disk["reportable"] is False and on_disk["limit"] == 4


def test_a_score_record_writes_the_task_header_it_always_wrote():
    from harness.family import FAMILIES
    from harness.scoring import record_head
    from harness.task import TaskIndex

    task = TaskIndex().tasks["scisp"]
    head = record_head(task, {"kind": "sample"}, "p.zip", "h")
    assert head["task"] == {"name": task.name, "version": task.version, "config_hash": task.config_hash,
                            "family": task.family, "recipe": FAMILIES.get(task.family).recipe_record(task)}
    assert list(head) == ["task", "file", "reference", "created", "primary_metric", "directions"]
