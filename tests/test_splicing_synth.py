"""The embedded synthetic splicing sample (harness.families.splicing.synth): layout, determinism, cues."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.families.splicing import synth

LAYOUT_A = ("scisp", "casia2", "casia1", "nist16")
LAYOUT_B = ("columbia", "coverage", "imd2020")
IMAGE_EXTS = (".png", ".jpg")


@pytest.fixture(scope="module")
def sample(family_sample):
    """The session's splicing sample: ``synth.synthesize(root, seed=0)`` (written again below)."""
    return family_sample("splicing")


def _pairs(root: Path, ds: str) -> list[tuple[Path, Path | None]]:
    """(image, mask or None) for every image of a dataset, read the way the loader does."""
    folder = root / ds
    if ds in LAYOUT_B:
        return [(folder / img, None if m == "Negative" else folder / m)
                for img, m in json.loads((folder / "list.json").read_text())]
    out = []
    for img in sorted((folder / "Tp").iterdir()):
        cands = [folder / "Gt" / f"{img.stem}_gt.png", folder / "Gt" / f"{img.stem}.png"]
        found = [c for c in cands if c.is_file()]
        assert len(found) == 1, img
        out.append((img, found[0]))
    if (folder / "Au").is_dir():
        out += [(img, None) for img in sorted((folder / "Au").iterdir())]
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64).mean(axis=2)


def _mask(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_deterministic_and_small(sample, tmp_path):
    t = time.perf_counter()
    assert synth.synthesize(tmp_path, seed=0) == tmp_path
    assert time.perf_counter() - t < 10
    a, b = _files(sample), _files(tmp_path)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert sum(len(v) for v in a.values()) < 8 * 2 ** 20
    assert not [p for p in sample.iterdir() if p.name.startswith(".")]       # no temporary folders
    other = synth.synthesize(tmp_path.parent / f"{tmp_path.name}-seed1", seed=1)
    c = _files(other)
    common = a.keys() & c.keys()
    assert len(common) > len(a) * 0.8 and sum(a[k] != c[k] for k in common) > len(common) // 2


def test_marker_and_counts(sample):
    marker = json.loads((sample / synth.MARKER).read_text())
    assert marker["generator_version"] == synth.GENERATOR_VERSION == 1 and marker["seed"] == 0
    assert "synthetic" in marker["note"]
    assert set(marker["datasets"]) == set(synth.DATASETS) == set(LAYOUT_A + LAYOUT_B)
    for ds, style in synth.DATASETS.items():
        pairs = _pairs(sample, ds)
        n_tp = sum(m is not None for _, m in pairs)
        n_au = len(pairs) - n_tp
        assert (n_tp, n_au) == (style["n_tp"], style["n_au"]), ds
        assert marker["datasets"][ds]["tampered"] == n_tp and marker["datasets"][ds]["authentic"] == n_au
        assert (sample / ds / "list.json").is_file() == (ds in LAYOUT_B)
        inner = json.loads((sample / ds / synth.MARKER).read_text())
        assert inner["synthetic"] is True and len(inner["images"]) == len(pairs)
    expected = {"scisp": (60, 30), "casia2": (40, 20), "casia1": (12, 0), "columbia": (8, 8),
                "coverage": (8, 8), "nist16": (10, 0), "imd2020": (8, 8)}
    assert {ds: (s["n_tp"], s["n_au"]) for ds, s in synth.DATASETS.items()} == expected


def test_every_tampered_image_has_a_matching_mask(sample):
    for ds in LAYOUT_A:
        tp = {p.stem for p in (sample / ds / "Tp").iterdir()}
        gt = {p.name.removesuffix(".png").removesuffix("_gt") for p in (sample / ds / "Gt").iterdir()}
        assert tp == gt, ds
        assert all(p.suffix in IMAGE_EXTS for p in (sample / ds / "Tp").iterdir())
        assert all(p.suffix == ".jpg" for p in (sample / ds / "Au").glob("*"))
    assert {p.suffix for p in (sample / "nist16" / "Tp").iterdir()} == {".png", ".jpg"}
    assert all(p.name.endswith("_gt.png") for p in (sample / "casia2" / "Gt").iterdir())
    assert not any(p.name.endswith("_gt.png") for p in (sample / "nist16" / "Gt").iterdir())


def test_list_json_entries_resolve(sample):
    for ds in LAYOUT_B:
        entries = json.loads((sample / ds / "list.json").read_text())
        assert all(isinstance(e, list) and len(e) == 2 for e in entries)
        for img, m in entries:
            assert not Path(img).is_absolute() and (sample / ds / img).is_file()
            assert m == "Negative" or (sample / ds / m).is_file()
        assert len({img for img, _ in entries}) == len(entries)


def test_masks_binary_and_sized_like_their_images(sample):
    sizes = set()
    for ds in synth.DATASETS:
        for img, m in _pairs(sample, ds):
            im = Image.open(img)
            assert im.mode == "RGB"
            sizes.add(im.size)
            if m is None:
                continue
            mk = Image.open(m)
            assert mk.mode == "L" and mk.size == im.size, m
            arr = np.asarray(mk)
            assert set(np.unique(arr)) == {0, 255}, m                      # non-empty, not all tampered
            assert 0.02 < (arr == 255).mean() < 0.5
    assert len(sizes) > 50 and any(w != h for w, h in sizes)
    assert min(min(s) for s in sizes) >= 96 and max(max(s) for s in sizes) <= 192


def test_scisp_subsets_cover_tampered_images(sample):
    with open(sample / "scisp" / "subsets.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "subset"]
    ids = {r["id"]: r["subset"] for r in rows}
    assert len(ids) == len(rows)
    assert set(ids) == {p.stem for p in (sample / "scisp" / "Tp").iterdir()}
    assert list(ids.values()).count("C") == list(ids.values()).count("H") == 30
    images = json.loads((sample / "scisp" / synth.MARKER).read_text())["images"]
    recs = {Path(r["image"]).stem: r for r in images if r["label"] == 1}
    assert all(recs[i]["careful"] == (s == "H") for i, s in ids.items())


def test_pasted_region_differs_from_host(sample):
    for ds in synth.DATASETS:
        recs = json.loads((sample / ds / synth.MARKER).read_text())["images"]
        tampered = [r for r in recs if r["label"] == 1]
        assert tampered and all(r["mean_abs_change"] >= synth.MIN_CHANGE for r in tampered), ds
        assert all(60 <= r["donor_jpeg_q"] <= 75 for r in tampered)
    # Coverage's authentic twin is the host: the tampered image differs from it inside the mask
    # (beyond JPEG/PNG noise) and, for hard pastes, equals it well outside
    recs = json.loads((sample / "coverage" / synth.MARKER).read_text())["images"]
    for r in recs:
        if r["label"] != 0:
            continue
        tp = next(x for x in recs if x["image"] == r["host_of"])
        a, t = _grey(sample / "coverage" / r["image"]), _grey(sample / "coverage" / tp["image"])
        m = _mask(sample / "coverage" / tp["mask"]) > 127
        diff = np.abs(a - t)
        assert diff[m].mean() > 3.0
        far = ~_dilate(m, 3)
        assert diff[far].max() == 0


def _dilate(m: np.ndarray, r: int) -> np.ndarray:
    out = m.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(m, dy, 0), dx, 1)
    return out


def _erode(m: np.ndarray, r: int) -> np.ndarray:
    return ~_dilate(~m, r)


def _residual_energy(grey: np.ndarray, k: int = 5) -> np.ndarray:
    """Local mean of |Laplacian| over k×k windows (same size as the image; edges zero-padded)."""
    lap = np.zeros_like(grey)
    lap[1:-1, 1:-1] = np.abs(4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1]
                             - grey[1:-1, :-2] - grey[1:-1, 2:])
    c = np.pad(lap, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    h, w = grey.shape
    r = k // 2
    y0, y1 = np.clip(np.arange(h) - r, 0, h), np.clip(np.arange(h) + r + 1, 0, h)
    x0, x1 = np.clip(np.arange(w) - r, 0, w), np.clip(np.arange(w) + r + 1, 0, w)
    out = c[y1][:, x1] - c[y0][:, x1] - c[y1][:, x0] + c[y0][:, x0]
    return out / ((y1 - y0)[:, None] * (x1 - x0)[None, :])


def test_noise_residual_weakly_separates_the_splice(sample):
    """The donor's JPEG history leaves less high-frequency noise: the median local |Laplacian|
    inside the (eroded) mask differs from the median outside the (dilated) mask on most images."""
    hits, total = 0, 0
    per_ds = {}
    for ds in synth.DATASETS:
        h_ds = n_ds = 0
        for img, m in _pairs(sample, ds):
            if m is None:
                continue
            e = _residual_energy(_grey(img))
            mk = _mask(m) > 127
            inside, outside = np.median(e[_erode(mk, 3)]), np.median(e[~_dilate(mk, 3)])
            sep = abs(np.log((inside + 1e-6) / (outside + 1e-6))) > np.log(1.5)
            h_ds += sep
            n_ds += 1
        per_ds[ds] = h_ds / n_ds
        hits, total = hits + h_ds, total + n_ds
    assert hits / total >= 0.7, per_ds
    assert min(per_ds.values()) >= 0.5, per_ds


def test_authentic_images_have_no_such_inconsistency(sample):
    """Control: on authentic images a random rectangle is not separated as often."""
    rng = np.random.default_rng(0)
    hits = total = 0
    for ds in ("scisp", "casia2"):
        for img, m in _pairs(sample, ds):
            if m is not None:
                continue
            g = _grey(img)
            h, w = g.shape
            mk = np.zeros((h, w), bool)
            y, x = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
            mk[y:y + h // 3, x:x + w // 3] = True
            e = _residual_energy(g)
            inside, outside = np.median(e[_erode(mk, 3)]), np.median(e[~_dilate(mk, 3)])
            hits += abs(np.log((inside + 1e-6) / (outside + 1e-6))) > np.log(1.5)
            total += 1
    assert hits / total < 0.5
