"""The embedded synthetic FAS sample (harness.families.fas.synth): layout, determinism, domain shift, cues."""
from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from harness.families.fas import data, synth

CENTRE = slice(8, 24)          # the face's centre in a 32×32 frame


@pytest.fixture(scope="module")
def sample(family_sample):
    """The session's FAS sample: ``synth.synthesize(root, seed=0)`` (test_deterministic writes it again)."""
    return family_sample("fas")


def _all(root, d):
    return [s for split in data.SPLITS for s in data.read_list(root, d, split)[0]]


def test_every_list_reads_back_with_expected_counts(sample):
    for d, dom in synth.DOMAINS.items():
        for split in data.SPLITS:
            samples, rep = data.read_list(sample, d, split, check_files=True)
            n = dom["n_videos"][split] * dom["frames"]
            assert rep.n_samples == n == rep.n_lines
            assert rep.n_real == rep.n_attack == n // 2
            assert rep.duplicates == 0 and rep.missing_files == 0
            assert {s.label for s in samples} == {0, 1}
            assert len({s.video_id for s in samples}) == dom["n_videos"][split]
            text = data.list_path(sample, d, split).read_text()
            assert not text.endswith("\n") and ("\t" in text) == (d == "P")
        # no video is shared between splits
        vids = [{s.video_id for s in data.read_list(sample, d, sp)[0]} for sp in data.SPLITS]
        assert not (vids[0] & vids[1] or vids[0] & vids[2] or vids[1] & vids[2])


def test_attack_types_known_for_w_and_c_masks(sample):
    w = _all(sample, "W")
    assert {s.attack_type for s in w if s.label == 0} == {"print", "replay", "rigidmask", "flexiblemask"}
    assert all(s.attack_type is None for s in w if s.label == 1)
    c_test, rep = data.read_list(sample, "C", "test")
    assert set(rep.attack_types) == {"3D-Mask", "Silicone-Mask"}
    c_train = data.read_list(sample, "C", "train")[0]
    assert all(s.attack_type is None for s in c_train)       # masks are unseen in C train


def test_path_shapes_follow_the_real_layout(sample):
    s = data.read_list(sample, "C", "train")[0][0]
    assert s.sample_id.startswith("CeFA/CeFA-Race/") and "/profile/" in s.sample_id
    s = data.read_list(sample, "S", "val")[0][0]
    assert s.sample_id.startswith("CASIA-SURF-CROP/real_part/real_val_part/CLKJ_AS") and "/color/" in s.sample_id
    s = data.read_list(sample, "W", "test")[0][0]
    assert s.sample_id.startswith("WMCA-Image/R_CDIT/") and "/color/" in s.sample_id
    s = data.read_list(sample, "P", "train")[0][0]
    assert s.paths["npz"].parent == sample / "padisi" and len(s.sample_id) == len("0123abcd.npz")


def test_load_frame_every_domain(sample):
    for d in synth.DOMAINS:
        for s in data.read_list(sample, d, "test")[0][:4]:
            f = data.load_frame(s)
            assert f["rgb"].shape == (synth.SIZE, synth.SIZE, 3)
            assert f["depth"].shape == f["ir"].shape == (synth.SIZE, synth.SIZE, 1)
            assert all(a.dtype == np.uint8 for a in f.values())
    p = data.read_list(sample, "P", "train")[0][0]
    with np.load(p.paths["npz"]) as z:
        x = z["data"]
    assert x.shape == (1, 5, synth.SIZE, synth.SIZE) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_markers(sample):
    for d, folder in data.DOMAINS.items():
        rec = json.loads((sample / folder / synth.MARKER).read_text())
        assert rec["generator_version"] == synth.GENERATOR_VERSION and rec["seed"] == 0
        assert rec["domain"] == d and rec["parameters"]["render_px"] == synth.DOMAINS[d]["render_px"]
        assert len(rec["videos"]) == sum(synth.DOMAINS[d]["n_videos"].values())
    assert (sample / data.LIST_DIR / synth.MARKER).is_file()
    assert not [p for p in sample.iterdir() if p.name.startswith(".")]     # no temporaries left


def test_deterministic(sample, tmp_path):
    t = time.perf_counter()
    assert synth.synthesize(tmp_path, seed=0) == tmp_path
    assert time.perf_counter() - t < 15
    for d in synth.DOMAINS:
        for split in data.SPLITS:
            a = data.list_path(sample, d, split).read_bytes()
            assert a == data.list_path(tmp_path, d, split).read_bytes()
        for s in data.read_list(sample, d, "val")[0]:
            other = data.read_list(tmp_path, d, "val")[0][s.line_no - 1]
            for k, p in s.paths.items():
                assert p.read_bytes() == other.paths[k].read_bytes()
            fa, fb = data.load_frame(s), data.load_frame(other)
            assert all(np.array_equal(fa[m], fb[m]) for m in fa)
    # rewriting in place replaces the folders atomically; another seed gives other frames
    synth.synthesize(tmp_path, seed=1)
    s0 = data.read_list(sample, "C", "train")[0][0]
    s1 = data.read_list(tmp_path, "C", "train")[0][0]
    assert s0.sample_id == s1.sample_id
    assert not np.array_equal(data.load_frame(s0)["rgb"], data.load_frame(s1)["rgb"])
    assert json.loads((tmp_path / "cefa" / synth.MARKER).read_text())["seed"] == 1


def test_domain_shift(sample):
    means = {d: np.mean([data.load_frame(s)["rgb"].reshape(-1, 3).mean(0) for s in _all(sample, d)], axis=0)
             for d in synth.DOMAINS}
    bright = {d: float(m.mean()) for d, m in means.items()}
    vals = sorted(bright.values())
    assert min(b - a for a, b in zip(vals, vals[1:])) > 5, bright         # brightness differs
    casts = {d: m / m.mean() for d, m in means.items()}                    # and so does colour cast
    assert casts["C"][0] > casts["C"][2] + 0.2 and casts["P"][2] > casts["P"][0] + 0.1


def _features(sample, d):
    samples = _all(sample, d)
    frames = [data.load_frame(s) for s in samples]
    depth_std = np.array([f["depth"][CENTRE, CENTRE, 0].astype(float).std() for f in frames])
    ir_hf = np.array([np.abs(cv2.Laplacian(f["ir"][CENTRE, CENTRE, 0].astype(float), cv2.CV_64F)).mean()
                      for f in frames])
    labels = np.array([s.label for s in samples])
    return samples, labels, depth_std, ir_hf


def test_depth_cue_separates_bona_fide_from_print(sample):
    samples, labels, depth_std, _ = _features(sample, "C")
    meta = json.loads((sample / "cefa" / synth.MARKER).read_text())
    kind = {v["video"]: v["attack"] for v in meta["videos"]}
    keep = np.array([s.label == 1 or kind[s.video_id] == "print" for s in samples])
    assert keep.sum() > 20 and (~labels[keep].astype(bool)).sum() >= 6
    assert roc_auc_score(labels[keep], depth_std[keep]) > 0.8


def test_ir_texture_cue_separates_bona_fide_from_mask(sample):
    samples, labels, _, ir_hf = _features(sample, "W")
    keep = np.array([s.label == 1 or s.attack_type in ("rigidmask", "flexiblemask") for s in samples])
    assert roc_auc_score(labels[keep], ir_hf[keep]) > 0.8

