"""The embedded deception sample: organizer-format pickles, DOLOS protocols, cues, determinism."""
from __future__ import annotations

import hashlib
import json
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from harness.families.deception import data, synth

KEYS = {"video_x", "OpenFace_x", "x_affect", "audio_x", "audio_wave", "DD_label", "videoname"}
SOURCES = ("rlt", "bol", "box", "mu3d", "dolos")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("deception") / "sample"
    start = time.perf_counter()
    manifest = synth.write_organizer_pickles(out, seed=0)
    return out, manifest, time.perf_counter() - start


def _load(out: Path, dataset: str, store: str) -> list[dict]:
    with open(out / dataset / "features" / f"{store}.pkl", "rb") as fh:
        return pickle.load(fh)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_time_size_and_marker(sample):
    out, manifest, seconds = sample
    assert seconds < 10, f"generation took {seconds:.1f} s"
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert total < 40e6
    on_disk = json.loads((out / synth.MARKER).read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert on_disk["generator_version"] == synth.GENERATOR_VERSION and on_disk["seed"] == 0
    assert "synthetic" in on_disk["note"]
    for dataset in synth.STORES:
        assert json.loads((out / dataset / synth.MARKER).read_text())["dataset"] == dataset
    assert set(synth.STORES) <= set(data.DATASETS)


def test_counts_and_class_balance(sample):
    out, manifest, _ = sample
    expected = {("rlt", "all"): (40, 20), ("bol", "all"): (40, 20), ("box", "all"): (40, 24),
                ("mu3d", "all"): (40, 20), ("dolos", "train"): (60, 30), ("dolos", "test"): (60, 30),
                ("mdpe", "balanced"): (30, 15), ("mdpe", "unbalanced-part1"): (30, 24),
                ("mdpe", "unbalanced-part2"): (30, 24), ("svc2025-final", "test"): (40, 20)}
    found = {(p.parent.parent.name, p.stem) for p in out.glob("*/features/*.pkl")}
    assert found == set(expected)
    for (dataset, store), (n, n_lie) in expected.items():
        clips = _load(out, dataset, store)
        labels = [c["DD_label"] for c in clips]
        assert len(clips) == n and labels.count(0) == n_lie and labels.count(1) == n - n_lie
        assert manifest["datasets"][dataset]["stores"][store]["lie"] == n_lie
        assert len({c["videoname"] for c in clips}) == n


def test_clip_format(sample):
    out = sample[0]
    for dataset, stores in synth.STORES.items():
        for store, (_, _, k) in stores.items():
            for clip in _load(out, dataset, store):
                assert set(clip) == KEYS
                assert isinstance(clip["DD_label"], int) and isinstance(clip["videoname"], str)
                lead = (k,) if k > 1 else ()
                assert clip["video_x"].shape == lead + (8, 32, 32, 3) and clip["video_x"].dtype == np.uint8
                assert clip["OpenFace_x"].shape == lead + (64, 43) and clip["OpenFace_x"].dtype == np.float32
                assert clip["x_affect"].shape == lead + (64, 7) and clip["x_affect"].dtype == np.float32
                assert clip["audio_x"].shape == lead + (32, 32, 3) and clip["audio_x"].dtype == np.uint8
                wave = clip["audio_wave"]
                assert wave.dtype == np.float32 and wave.ndim == len(lead) + 1
                assert 0.4 * 16000 - 1 <= wave.shape[-1] <= 1.2 * 16000 + 1
                assert np.abs(wave).max() <= 1.0


def test_svc_final_has_subclips_and_leaky_names(sample):
    clips = _load(sample[0], "svc2025-final", "test")
    for clip in clips:
        for key in ("video_x", "OpenFace_x", "x_affect", "audio_x", "audio_wave"):
            assert clip[key].shape[0] == 2
        assert not np.array_equal(clip["OpenFace_x"][0], clip["OpenFace_x"][1])
        word = "_truth" if clip["DD_label"] == 1 else "_lie"
        assert word in clip["videoname"] and "_WILTY_" in clip["videoname"]


def test_deterministic_for_a_seed(sample, tmp_path):
    out = sample[0]
    again = synth.write_organizer_pickles(tmp_path / "again", seed=0)
    assert again == sample[1]
    assert _digest(tmp_path / "again") == _digest(out)
    other = tmp_path / "other"
    synth.write_organizer_pickles(other, seed=1)
    a, b = _load(out, "rlt", "all"), _load(other, "rlt", "all")
    assert not np.array_equal(a[0]["OpenFace_x"], b[0]["OpenFace_x"])


def test_dolos_protocols(sample):
    out = sample[0]
    pool = {data.match_name(c["videoname"]): c for store in ("train", "test") for c in _load(out, "dolos", store)}
    assert len(pool) == 120
    folder = out / "dolos" / data.PROTOCOL_DIR
    assert sorted(p.name for p in folder.iterdir()) == sorted(data.PROTOCOL_SPLITS.values())
    rows = {split: data.read_protocol_csv(folder / file) for split, file in data.PROTOCOL_SPLITS.items()}
    names = {split: [data.match_name(r.file_name) for r in rs] for split, rs in rows.items()}
    for split, rs in rows.items():           # DOLOS words mapped to the harness convention agree with DD_label
        assert all(pool[data.match_name(r.file_name)]["DD_label"] == r.label for r in rs), split
    subject = lambda name: name.split("_wilty_")[0]
    test_sets = []
    for k in (1, 2, 3):
        train, test = set(names[f"fold{k}-train"]), set(names[f"fold{k}-test"])
        assert train | test == set(pool) and not train & test
        assert not {subject(n) for n in train} & {subject(n) for n in test}
        test_sets.append(test)
    assert sum(len(t) for t in test_sets) == 120 and set().union(*test_sets) == set(pool)
    assert len({subject(n) for n in pool}) == 40
    long, short = set(names["long"]), set(names["short"])
    assert long | short == set(pool) and not long & short and min(len(long), len(short)) >= 50
    seconds = {n: pool[n]["audio_wave"].shape[-1] / 16000 for n in pool}
    assert min(seconds[n] for n in long) > max(seconds[n] for n in short)
    assert max(seconds.values()) - min(seconds.values()) > 0.6
    male, female = set(names["male"]), set(names["female"])
    assert male | female == set(pool) and not male & female and male and female
    assert not {subject(n) for n in male} & {subject(n) for n in female}
    assert {r.gender for r in rows["male"]} == {"male"} and {r.gender for r in rows["female"]} == {"female"}


# ----------------------------------------------------------------------------- learnability
def _features(clip: dict) -> np.ndarray:
    """Pooled statistics: AU means, affect means, mel-image row means (sub-clips averaged)."""
    au, affect, mel = clip["OpenFace_x"], clip["x_affect"], clip["audio_x"][..., 0] / 255.0
    if au.ndim == 3:
        au, affect, mel = au.mean(0), affect.mean(0), mel.mean(0)
    return np.r_[au.mean(0), affect.mean(0), mel.mean(1)]


def _logistic(x: np.ndarray, y: np.ndarray, steps: int = 500, lr: float = 0.1, l2: float = 1e-2):
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        g = 1 / (1 + np.exp(-(x @ w + b))) - y
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return w, b


def test_cues_are_learnable_across_datasets(sample):
    """Leave-one-dataset-out logistic regression on pooled AU/affect/mel statistics: >= 0.65."""
    out = sample[0]
    data = {}
    for dataset in SOURCES:
        clips = [c for store in synth.STORES[dataset] for c in _load(out, dataset, store)]
        data[dataset] = (np.stack([_features(c) for c in clips]), np.array([c["DD_label"] for c in clips]))
    accuracies = {}
    for held_out in SOURCES:
        x = np.concatenate([data[d][0] for d in SOURCES if d != held_out])
        y = np.concatenate([data[d][1] for d in SOURCES if d != held_out])
        mu, sd = x.mean(0), x.std(0) + 1e-6
        w, b = _logistic((x - mu) / sd, y)
        xt, yt = data[held_out]
        accuracies[held_out] = float(((((xt - mu) / sd) @ w + b > 0).astype(int) == yt).mean())
    assert all(a >= 0.65 for a in accuracies.values()), accuracies
    assert np.mean(list(accuracies.values())) >= 0.7, accuracies
    # faces carry no label cue: mean colour is not separable within a dataset
    faces = np.stack([c["video_x"].mean(axis=(0, 1, 2)) for c in _load(out, "mu3d", "all")])
    labels = np.array([c["DD_label"] for c in _load(out, "mu3d", "all")])
    gap = np.abs(faces[labels == 1].mean(0) - faces[labels == 0].mean(0))
    assert gap.max() < faces.std(0).max()
