"""The embedded synthetic NR-IQA sample (harness.families.iqa_backdoor.synth): layout, determinism,
native score scales and a learnable quality signal."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy.stats import spearmanr

from harness.families.iqa_backdoor import synth


N, EXTRA, REFS, PER_REF = synth.N_IMAGES, synth.LIVEC_EXTRA, synth.KADID_REFS, synth.KADID_PER_REF


def test_counts_are_the_documented_ones():
    """150 LIVEC (+ 7 skipped training entries), 150 KonIQ, 30 KADID references x 5 = 150."""
    assert (N, EXTRA, REFS, PER_REF) == (150, 7, 30, 5)


@pytest.fixture(scope="module")
def sample(family_sample):
    """The session's IQA sample: ``synth.synthesize(root, seed=0)`` (written again below)."""
    return family_sample("iqa_backdoor")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _marker(root: Path, ds: str) -> list[dict]:
    return json.loads((root / ds / synth.MARKER).read_text())["images"]


def test_deterministic_small_and_seeded(sample, tmp_path):
    t = time.perf_counter()
    assert synth.synthesize(tmp_path / "a", seed=0) == tmp_path / "a"
    assert time.perf_counter() - t < 20          # ~1 s on an idle 2-core box, ~8 s with it heavily loaded
    a, b = _files(sample), _files(tmp_path / "a")
    assert a == b
    assert sum(len(v) for v in a.values()) < 10_000_000         # ~6.5 MB at 150 images per dataset
    synth.synthesize(tmp_path / "b", seed=1)
    other = _files(tmp_path / "b")
    assert other["kadid/dmos.csv"] != a["kadid/dmos.csv"]
    marker = json.loads((sample / synth.MARKER).read_text())
    assert marker["generator_version"] == synth.GENERATOR_VERSION and marker["seed"] == 0
    assert marker["datasets"] == {"livec": EXTRA + N, "koniq": N, "kadid": REFS * PER_REF}


def test_livec_layout(sample):
    names = scipy.io.loadmat(sample / "livec/Data/AllImages_release.mat")["AllImages_release"]
    mos = scipy.io.loadmat(sample / "livec/Data/AllMOS_release.mat")["AllMOS_release"]
    assert names.shape == (EXTRA + N, 1) and mos.shape == (1, EXTRA + N)
    listed = [str(n[0][0]) for n in names]
    assert listed[:EXTRA] == [f"trainingImages/t{i}.bmp" for i in range(1, EXTRA + 1)]
    assert listed[EXTRA:] == [f"{i}.bmp" for i in range(1, N + 1)]
    for n in listed:
        assert (sample / "livec/Images" / n).is_file()
    assert ((mos >= 0) & (mos <= 100)).all()
    with Image.open(sample / "livec/Images/1.bmp") as im:
        assert im.format == "BMP" and im.size == (96, 96)


def test_koniq_layout(sample):
    with open(sample / "koniq/koniq10k_scores_and_distributions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == N and len({r["image_name"] for r in rows}) == N
    assert list(rows[0]) == ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
    for r in rows:
        counts = [int(r[f"c{k}"]) for k in range(1, 6)]
        assert sum(counts) == int(r["c_total"])
        assert float(r["MOS"]) == pytest.approx(np.dot(counts, range(1, 6)) / sum(counts), abs=1e-5)
        assert 1 <= float(r["MOS"]) <= 5
        with Image.open(sample / "koniq/512x384" / r["image_name"]) as im:
            assert im.format == "JPEG" and im.size == (96, 72)


def test_kadid_layout(sample):
    with open(sample / "kadid/dmos.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == REFS * PER_REF and list(rows[0]) == ["dist_img", "ref_img", "dmos", "var"]
    refs = {}
    for r in rows:
        assert 1 <= float(r["dmos"]) <= 5
        assert r["dist_img"].startswith(Path(r["ref_img"]).stem + "_")
        assert (sample / "kadid/images" / r["dist_img"]).is_file()
        assert (sample / "kadid/images" / r["ref_img"]).is_file()
        refs.setdefault(r["ref_img"], []).append(r["dist_img"])
    assert sorted(refs) == [f"I{r:02d}.png" for r in range(1, REFS + 1)]
    assert all(len(v) == PER_REF for v in refs.values())
    kinds = {r["dist_img"].split("_")[1] for r in rows}
    assert kinds == {"01", "10", "11", "25"}


@pytest.mark.parametrize("ds", ["livec", "koniq", "kadid"])
def test_quality_follows_distortion(sample, ds):
    recs = [r for r in _marker(sample, ds) if not r.get("skipped")]
    total = [r["total_level"] for r in recs]
    native = [r["native_mos"] for r in recs]
    assert spearmanr(native, [-t for t in total])[0] > 0.9
    assert len(set(total)) >= 4
    sizes = set()
    for r in recs:
        folder = {"livec": "livec/Images", "koniq": "koniq/512x384", "kadid": "kadid/images"}[ds]
        with Image.open(sample / folder / r["file"]) as im:
            sizes.add(im.size)
    assert all(64 <= s <= 128 for size in sizes for s in size)


def test_distortions_change_the_image():
    rng = np.random.default_rng(0)
    scene = synth._scene(rng, 72, 96)
    clean = synth.distort(scene, dict.fromkeys(synth.DISTORTIONS, 0), np.random.default_rng(1)).astype(float)
    assert clean.std() > 10                                    # not flat: gradients, texture, objects
    for kind in synth.DISTORTIONS:
        diffs = []
        for level in range(1, 5):
            levels = {k: (level if k == kind else 0) for k in synth.DISTORTIONS}
            out = synth.distort(scene, levels, np.random.default_rng(1)).astype(float)
            diffs.append(np.abs(out - clean).mean())
        assert diffs[0] > 0.3 and diffs[-1] > diffs[0], kind
