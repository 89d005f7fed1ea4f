"""The embedded synthetic NR-IQA sample: three small datasets in the real release layouts that
:mod:`harness.families.iqa_backdoor.data` reads.

``synthesize(root)`` writes::

    root/livec/Data/AllImages_release.mat   cell array (157×1) of names: 7 leading training entries
                                            (trainingImages/t1.bmp .. t7.bmp, skipped by the loader)
                                            then 150 images 1.bmp .. 150.bmp
    root/livec/Data/AllMOS_release.mat      1×157 MOS, native 0–100
    root/livec/Images/<name>.bmp            96×96 BMP (the real release: 500×500)
    root/koniq/koniq10k_scores_and_distributions.csv   image_name,c1..c5,c_total,MOS,SD,MOS_zscore
    root/koniq/512x384/<id>.jpg             150 JPEGs, 96×72 (the folder keeps the real name; the
                                            real images are 512×384)
    root/kadid/dmos.csv                     dist_img,ref_img,dmos,var (dmos native 1–5)
    root/kadid/images/I01.png .. I30.png    30 pristine references, 96×72 (real: 512×384)
    root/kadid/images/Ixx_tt_ll.png         5 distortions of each reference (150): KADID type ids
                                            01 Gaussian blur, 11 white noise, 10 JPEG, 25 contrast
                                            change; level ll = 1..4
    root/<ds>/synth.json                    per-image distortion levels and 0–100 quality
    root/synth.json                         generator version, seed, counts; written last

Scenes are generated landscapes: a sky gradient with soft clouds (blue, dusk or overcast), a
wavy horizon, textured ground (grass, sand, soil, rock colours, darker toward the bottom), and a
few objects with hard edges (houses with roofs and windows, trees with textured crowns, a
sun/moon, rocks). Distortions, each at level 0–4, applied in this order: contrast reduction
(towards the mean, factor :data:`CONTRAST`), Gaussian blur (σ :data:`BLUR_SIGMA`), Gaussian noise
(σ :data:`NOISE_SIGMA` grey levels), JPEG compression (quality :data:`JPEG_QUALITY`).

Quality on 1–100: ``q = 96 − severity·Σ WEIGHTS[k]·level_k + N(0, 1.5)``, clipped to [1, 100];
severity 1 for LIVEC / KonIQ (every image has all four distortions at independent levels, many
at 0), 3 for KADID (one distortion per image, as in KADID-10k). Written natively: LIVEC MOS = q;
KonIQ: 100 ratings c1..c5 drawn round (q − 1)·4/99 + 1 (discretised normal, σ 0.7), MOS = their
mean, SD their spread, MOS_zscore a linear stand-in (MOS − 1)·25 (the real column is a
per-rater z-score rescaled to ≈ 0–100); KADID dmos = (q − 1)·4/99 + 1 (2 decimals), var random.

Deterministic for a seed: every image's draws depend only on (seed, dataset, index); OpenCV's
JPEG/PNG/BMP encoders are deterministic and the .mat header's timestamp is replaced by a fixed
text, so runs give identical bytes.
"""
from __future__ import annotations

import csv
import io
import json
import os
import zlib
from pathlib import Path

import cv2
import numpy as np

from ...files import atomic_dir

#: written at the root (and into every dataset folder): marks the data as synthetic
MARKER = "synth.json"
GENERATOR_VERSION = 1

DISTORTIONS = ("blur", "noise", "jpeg", "contrast")
BLUR_SIGMA = (0.0, 0.8, 1.4, 2.2, 3.2)
NOISE_SIGMA = (0.0, 5.0, 10.0, 17.0, 26.0)
JPEG_QUALITY = (None, 50, 30, 15, 7)
CONTRAST = (1.0, 0.78, 0.6, 0.45, 0.32)
#: quality points lost per level of each distortion (times the dataset's severity)
WEIGHTS = {"blur": 5.5, "noise": 5.0, "jpeg": 5.0, "contrast": 4.5}
#: KADID-10k distortion type ids of the four distortions
KADID_TYPES = {"blur": 1, "noise": 11, "jpeg": 10, "contrast": 25}
LEVEL_P = (0.35, 0.2, 0.18, 0.15, 0.12)      # LIVEC / KonIQ: chance of level 0..4 per distortion
N_IMAGES, LIVEC_EXTRA, KADID_REFS, KADID_PER_REF = 150, 7, 30, 5
SIZES = {"livec": (96, 96), "koniq": (72, 96), "kadid": (72, 96)}      # (H, W)
SEVERITY = {"livec": 1.0, "koniq": 1.0, "kadid": 3.0}
STORE_JPEG_Q = 95                            # KonIQ images without a JPEG distortion
_MAT_HEADER = b"MATLAB 5.0 MAT-file, synthetic sample written by harness iqa_backdoor synth".ljust(116, b"\0")


# ----------------------------------------------------------------------------- public API
def synthesize(root: Path, seed: int = 0) -> Path:
    """Write the three synthetic datasets under ``root`` (layout in the module docstring); return
    root. Each dataset folder is written atomically; the root ``synth.json`` marker last."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, writer in (("livec", _write_livec), ("koniq", _write_koniq), ("kadid", _write_kadid)):
        with atomic_dir(root / name) as tmp:
            tmp.mkdir(parents=True)
            records = writer(tmp, seed)
            (tmp / MARKER).write_text(json.dumps(dict(
                generator_version=GENERATOR_VERSION, seed=seed, dataset=name, synthetic=True,
                severity=SEVERITY[name], images=records), indent=1) + "\n")
            counts[name] = len(records)
    marker = dict(generator_version=GENERATOR_VERSION, seed=seed,
                  note="synthetic sample (generated landscapes with graded distortions), not real data",
                  datasets=counts)
    tmp = root / f".{MARKER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(marker, indent=1) + "\n")
    os.replace(tmp, root / MARKER)
    return root


def quality(levels: dict[str, int], severity: float, rng: np.random.Generator) -> float:
    """The 1–100 quality of an image with these distortion levels (module docstring)."""
    q = 96.0 - severity * sum(WEIGHTS[k] * levels[k] for k in DISTORTIONS) + rng.normal(0.0, 1.5)
    return float(np.clip(q, 1.0, 100.0))


# ----------------------------------------------------------------------------- scenes
_SKIES = (((70, 130, 215), (175, 210, 240)),     # clear blue: top, horizon (RGB)
          ((60, 60, 120), (240, 150, 90)),       # dusk
          ((120, 125, 135), (200, 200, 205)))    # overcast
_GROUNDS = ((70, 140, 55), (200, 180, 120), (115, 85, 55), (120, 120, 115), (95, 150, 80))


def _smooth_noise(rng, h, w, scale: float) -> np.ndarray:
    n = cv2.GaussianBlur(rng.standard_normal((h, w)), (0, 0), scale)
    return n / (n.std() + 1e-9)


def _jitter(rng, colour, amount: float = 25.0) -> np.ndarray:
    return np.clip(np.asarray(colour, float) + rng.uniform(-amount, amount, 3), 0, 255)


def _scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A landscape as float RGB (H, W, 3) on 0–255."""
    top, bottom = (_jitter(rng, c) for c in _SKIES[int(rng.integers(len(_SKIES)))])
    horizon = h * rng.uniform(0.35, 0.6)
    t = np.clip(np.arange(h) / max(horizon, 1.0), 0, 1)[:, None, None]
    img = (1 - t) * top + t * bottom + np.zeros((h, w, 3))
    img += 18 * np.clip(_smooth_noise(rng, h, w, 5), 0, None)[..., None]            # clouds
    xs = np.arange(w)
    line = horizon + h * 0.06 * np.sin(xs / w * rng.uniform(3, 9) + rng.uniform(0, 6)) \
        + h * 0.04 * _smooth_noise(rng, 1, w, 6)[0]
    if rng.random() < 0.6:                                                            # sun / moon
        cx, cy, r = int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.08, 0.25) * h), int(rng.integers(4, 9))
        cv2.circle(img, (cx, cy), r, tuple(_jitter(rng, (250, 235, 170), 10).tolist()), -1, cv2.LINE_AA)
    ground = _jitter(rng, _GROUNDS[int(rng.integers(len(_GROUNDS)))])
    below = np.arange(h)[:, None] >= line[None, :]
    depth = np.clip((np.arange(h)[:, None] - line[None, :]) / max(h - horizon, 1.0), 0, 1)
    texture = 14 * _smooth_noise(rng, h, w, 3) + 9 * rng.standard_normal((h, w))
    soil = ground[None, None, :] * (1 - 0.35 * depth[..., None]) + texture[..., None]
    img = np.where(below[..., None], soil, img)
    for _ in range(int(rng.integers(2, 6))):
        _object(rng, img, line, h, w)
    return cv2.GaussianBlur(img, (0, 0), 0.5)


def _object(rng, img: np.ndarray, line: np.ndarray, h: int, w: int) -> None:
    """Draw a house, tree or rock standing on the horizon line (in place)."""
    x = int(rng.integers(4, w - 4))
    base = int(min(h - 2, line[x] + rng.uniform(0, 0.25) * h))
    kind = int(rng.integers(3))
    if kind == 0:                                                                     # house
        bw, bh = int(rng.integers(10, 22)), int(rng.integers(8, 16))
        wall = tuple(_jitter(rng, (200, 190, 170), 50).tolist())
        cv2.rectangle(img, (x, base - bh), (x + bw, base), wall, -1)
        roof = np.array([[x - 2, base - bh], [x + bw + 2, base - bh], [x + bw // 2, base - bh - bw // 2]], np.int32)
        cv2.fillPoly(img, [roof], tuple(_jitter(rng, (150, 50, 40), 40).tolist()), cv2.LINE_AA)
        win = max(2, bw // 5)
        cv2.rectangle(img, (x + win, base - bh + win), (x + 2 * win, base - bh + 2 * win), (40, 50, 70), -1)
    elif kind == 1:                                                                   # tree
        th, r = int(rng.integers(6, 14)), int(rng.integers(5, 11))
        cv2.rectangle(img, (x - 1, base - th), (x + 1, base), (80, 55, 30), -1)
        crown = _jitter(rng, (50, 110, 45), 30)
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.circle(mask, (x, base - th - r + 2), r, 1, -1, cv2.LINE_AA)
        leaves = crown[None, None, :] + 20 * rng.standard_normal(img.shape[:2])[..., None]
        img[mask > 0] = leaves[mask > 0]
    else:                                                                             # rock
        ax = (int(rng.integers(4, 10)), int(rng.integers(3, 7)))
        cv2.ellipse(img, (x, base), ax, 0, 180, 360, tuple(_jitter(rng, (130, 125, 120), 30).tolist()), -1,
                    cv2.LINE_AA)


# ----------------------------------------------------------------------------- distortions
def _u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def distort(img: np.ndarray, levels: dict[str, int], rng: np.random.Generator, jpeg: bool = True) -> np.ndarray:
    """Contrast, blur, noise, then JPEG at the given levels (0–4) on a float RGB image → uint8 RGB
    (``jpeg=False``: no JPEG round trip, the caller stores the image as JPEG at that quality)."""
    out = img.astype(np.float64)
    mean = out.mean(axis=(0, 1), keepdims=True)
    out = mean + (out - mean) * CONTRAST[levels["contrast"]]
    if levels["blur"]:
        out = cv2.GaussianBlur(out, (0, 0), BLUR_SIGMA[levels["blur"]])
    if levels["noise"]:
        out = out + NOISE_SIGMA[levels["noise"]] * rng.standard_normal(out.shape)
    out = _u8(out)
    q = JPEG_QUALITY[levels["jpeg"]]
    return out if q is None or not jpeg else cv2.imdecode(_encode(".jpg", out, q), cv2.IMREAD_COLOR)[..., ::-1]


def _encode(ext: str, rgb: np.ndarray, jpeg_q: int = STORE_JPEG_Q) -> np.ndarray:
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_q)] if ext == ".jpg" else \
        [cv2.IMWRITE_PNG_COMPRESSION, 9] if ext == ".png" else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise RuntimeError(f"OpenCV cannot encode {ext}")
    return buf


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


def _rng(seed: int, name: str, i: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), i, *more])


def _levels(rng) -> dict[str, int]:
    return {k: int(rng.choice(5, p=LEVEL_P)) for k in DISTORTIONS}


def _record(file: str, levels: dict[str, int], q: float, native: float, **more) -> dict:
    return dict(file=file, levels=levels, total_level=sum(levels.values()), quality_100=round(q, 4),
                native_mos=native, **more)


def _native_1_5(q: float) -> float:
    return (q - 1.0) * 4.0 / 99.0 + 1.0


# ----------------------------------------------------------------------------- datasets
def _savemat(path: Path, name: str, value: np.ndarray) -> None:
    """scipy.io.savemat with a fixed header text (the default holds a timestamp)."""
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, {name: value})
    data = buf.getvalue()
    _write(path, _MAT_HEADER + data[len(_MAT_HEADER):])


def _write_livec(folder: Path, seed: int) -> list[dict]:
    h, w = SIZES["livec"]
    names, scores, records = [], [], []
    for i in range(LIVEC_EXTRA + N_IMAGES):
        rng = _rng(seed, "livec", i)
        levels = _levels(rng)
        q = quality(levels, SEVERITY["livec"], rng)
        img = distort(_scene(rng, h, w), levels, rng)
        name = f"trainingImages/t{i + 1}.bmp" if i < LIVEC_EXTRA else f"{i - LIVEC_EXTRA + 1}.bmp"
        _write(folder / "Images" / name, _encode(".bmp", img))
        mos = round(q, 4)
        names.append(name)
        scores.append(mos)
        records.append(_record(name, levels, q, mos, skipped=i < LIVEC_EXTRA))
    cells = np.empty((len(names), 1), dtype=object)
    for k, n in enumerate(names):
        cells[k, 0] = n
    _savemat(folder / "Data" / "AllImages_release.mat", "AllImages_release", cells)
    _savemat(folder / "Data" / "AllMOS_release.mat", "AllMOS_release", np.array([scores], dtype=np.float64))
    return records


def _ratings(rng, mean: float, total: int = 100) -> list[int]:
    """Counts of ratings 1..5 (largest remainder) from a normal around ``mean`` (σ 0.7)."""
    p = np.exp(-0.5 * ((np.arange(1, 6) - mean) / 0.7) ** 2)
    p = p / p.sum() * total
    counts = np.floor(p).astype(int)
    for k in np.argsort(-(p - counts), kind="stable")[: total - counts.sum()]:
        counts[k] += 1
    return counts.tolist()


def _write_koniq(folder: Path, seed: int) -> list[dict]:
    h, w = SIZES["koniq"]
    rows, records = [], []
    for i in range(N_IMAGES):
        rng = _rng(seed, "koniq", i)
        levels = _levels(rng)
        q = quality(levels, SEVERITY["koniq"], rng)
        img = distort(_scene(rng, h, w), levels, rng, jpeg=False)
        name = f"{int(rng.integers(10**9, 10**10))}{i:02d}.jpg"        # KonIQ-like 11–12 digit ids
        q_jpeg = JPEG_QUALITY[levels["jpeg"]] or STORE_JPEG_Q       # stored once, at that quality
        _write(folder / "512x384" / name, _encode(".jpg", img, q_jpeg))
        counts = _ratings(rng, _native_1_5(q))
        votes = np.repeat(np.arange(1, 6), counts)
        mos, sd = float(votes.mean()), float(votes.std(ddof=1))
        rows.append([name, *counts, sum(counts), f"{mos:.6f}", f"{sd:.6f}", f"{(mos - 1) * 25:.6f}"])
        records.append(_record(name, levels, q, round(mos, 6)))
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"])
    for r in rows:
        writer.writerow(r[:7] + [float(x) for x in r[7:]])
    (folder / "koniq10k_scores_and_distributions.csv").write_text(out.getvalue())
    return records


def _write_kadid(folder: Path, seed: int) -> list[dict]:
    h, w = SIZES["kadid"]
    lines, records = ["dist_img,ref_img,dmos,var"], []
    for r in range(KADID_REFS):
        rng = _rng(seed, "kadid", r)
        scene = _scene(rng, h, w)
        ref = f"I{r + 1:02d}.png"
        _write(folder / "images" / ref, _encode(".png", _u8(scene)))
        combos = [(k, lv) for k in DISTORTIONS for lv in range(1, 5)]
        for j in rng.permutation(len(combos))[:KADID_PER_REF]:
            kind, level = combos[int(j)]
            levels = {k: (level if k == kind else 0) for k in DISTORTIONS}
            drng = _rng(seed, "kadid", r, KADID_TYPES[kind], level)
            q = quality(levels, SEVERITY["kadid"], drng)
            name = f"I{r + 1:02d}_{KADID_TYPES[kind]:02d}_{level:02d}.png"
            _write(folder / "images" / name, _encode(".png", distort(scene, levels, drng)))
            dmos = round(_native_1_5(q), 2)
            lines.append(f"{name},{ref},{dmos:.2f},{drng.uniform(0.2, 1.2):.4f}")
            records.append(_record(name, levels, q, dmos, ref_img=ref))
    (folder / "dmos.csv").write_text("\n".join(lines) + "\n")
    return records
