"""The embedded synthetic splicing sample: seven small datasets of spliced *scientific figures*.

``synthesize(root)`` writes, in the layouts the splicing loader reads::

    root/<ds>/Tp/<id>.jpg|.png      tampered images           (layout A: scisp, casia2, casia1, nist16)
    root/<ds>/Gt/<id>_gt.png        8-bit L masks, 0/255       (nist16: Gt/<id>.png)
    root/<ds>/Au/<id>.jpg           authentic images           (scisp, casia2)
    root/scisp/subsets.csv          ``id,subset`` per tampered image: C (collected) / H (hand-made)
    root/<ds>/list.json             [[image, mask] | [image, "Negative"], ...] relative to the
                                    dataset folder (layout B: columbia, coverage, imd2020)
    root/<ds>/synth.json            per-image record (host/donor kind, region shape, JPEG history)
    root/synth.json                 generator version, seed, per-dataset counts; written last

A figure is a western-blot panel (dark bands in lanes on a light membrane), a fluorescence
micrograph (cells with nuclei on black) or a plot (axes, ticks, curves or bars, putText labels),
with per-dataset palettes, sizes (not all square) and sensor-noise levels. A splice copies a
region (rectangle, horizontal band, or irregular blob) from ANOTHER figure and pastes it at the
mask's position. The donor had its own noise level and was JPEG-compressed at quality 60–75
before pasting, so its region carries less high-frequency noise than the host: error-level and
noise-residual analysis can find it. "Sloppy" splices (SciSp-C and most CASIA-like ones) paste
with a hard edge and a contrast/brightness jump; "careful" ones (SciSp-H) match the host's colour
statistics, feather the edge and add back part of the host's noise. Authentic images come from
the same generators without a paste. In Coverage the authentic image is the tampered image's host.

Deterministic for a seed: every image's draws depend only on (seed, dataset, index) and the
encoders (OpenCV JPEG at fixed quality, PNG) are deterministic, so runs give identical bytes.
"""
from __future__ import annotations

import json
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ...files import atomic_dir

#: written at the root (and into every dataset folder): marks the data as synthetic
MARKER = "synth.json"
GENERATOR_VERSION = 1

KINDS = ("blot", "micro", "plot")
SHAPES = ("rect", "band", "blob")

PALETTES = {   # RGB
    "classic": dict(cells=[(40, 220, 70), (235, 50, 45)], nuclei=(60, 90, 245), spots=(240, 230, 60),
                    lines=[(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)],
                    blot_tint=[(1.0, 1.0, 1.0)]),
    "vivid": dict(cells=[(225, 55, 205), (40, 215, 225)], nuclei=(70, 70, 250), spots=(250, 140, 30),
                  lines=[(200, 30, 30), (30, 30, 200), (20, 140, 20), (120, 40, 160)],
                  blot_tint=[(1.0, 0.95, 0.84), (1.0, 1.0, 1.0)]),
    "muted": dict(cells=[(120, 200, 110), (200, 120, 110)], nuclei=(110, 130, 210), spots=(210, 200, 120),
                  lines=[(60, 60, 60), (120, 120, 120), (70, 110, 160)],
                  blot_tint=[(0.93, 0.97, 1.05), (1.0, 1.0, 1.0)]),
}


def _dataset(description: str, **kw) -> dict:
    """A dataset's style; unspecified fields take these defaults.

    layout: "A" (Tp/Gt/Au folders) or "B" (list.json); n_tp / n_au: tampered / authentic counts;
    size: side range (px, each side drawn independently); kinds: figure-kind weights (blot, micro,
    plot); noise: host sensor-noise σ range; donor_noise: donor σ as a factor of the host's;
    palette: :data:`PALETTES` key; png: share of tampered images stored as PNG (others JPEG at
    quality ``jpeg_q``); donor_q: the donor's JPEG quality range; careful: share of careful splices;
    shapes: region-shape weights (rect, band, blob); gt_suffix: mask file-name suffix (layout A)."""
    base = dict(layout="A", n_tp=10, n_au=0, size=(96, 192), kinds=(1, 1, 1), noise=(3.0, 6.0),
                donor_noise=(0.4, 1.4), palette="classic", png=0.0, jpeg_q=95, donor_q=(60, 75),
                careful=0.5, shapes=(1, 1, 1), gt_suffix="_gt")
    unknown = sorted(set(kw) - set(base))
    if unknown:
        raise TypeError(f"unknown dataset field(s) {unknown}")
    return dict(base, description=description, **kw)


DATASETS: dict[str, dict] = {
    "scisp": _dataset("SciSp-like: all three figure kinds; half collected (C, sloppy), half hand-made "
                      "(H, careful)", n_tp=60, n_au=30, size=(96, 192), noise=(3.0, 6.0)),
    "casia2": _dataset("CASIA2-like training set: vivid palette, micrographs favoured, mostly sloppy, "
                       "a quarter PNG", n_tp=40, n_au=20, size=(112, 192), kinds=(1, 2, 1),
                       noise=(2.5, 5.5), palette="vivid", png=0.25, careful=0.3),
    "casia1": _dataset("CASIA1-like test set: JPEG q90, sloppy rectangles and blobs", n_tp=12,
                       size=(112, 176), noise=(3.0, 5.0), jpeg_q=90, careful=0.2, shapes=(2, 0, 1)),
    "columbia": _dataset("Columbia-like: uncompressed PNG, noisy sensors, plots favoured", layout="B",
                         n_tp=8, n_au=8, size=(128, 192), kinds=(1, 1, 2), noise=(5.0, 8.0),
                         palette="muted", png=1.0, careful=0.5),
    "coverage": _dataset("Coverage-like: PNG, clean sensors, authentic = the host of each tampered "
                         "image", layout="B", n_tp=8, n_au=8, size=(96, 160), noise=(2.5, 4.0),
                         png=1.0, careful=0.75, shapes=(1, 1, 2)),
    "nist16": _dataset("NIST16-like: mixed PNG/JPEG, careful splices, masks named <id>.png", n_tp=10,
                       size=(128, 192), kinds=(2, 1, 1), noise=(3.0, 5.0), palette="muted", png=0.5,
                       careful=0.8, gt_suffix=""),
    "imd2020": _dataset("IMD2020-like: JPEG q92, vivid palette, all shapes", layout="B", n_tp=8, n_au=8,
                        size=(96, 176), kinds=(1, 2, 2), noise=(3.0, 6.0), palette="vivid", jpeg_q=92,
                        careful=0.5),
}

MIN_CHANGE = 6.0        # mean |spliced - host| (grey levels) inside the mask a splice must reach


# ----------------------------------------------------------------------------- public API
def synthesize(root: Path, seed: int = 0) -> Path:
    """Write the seven synthetic datasets under ``root`` (layout in the module docstring); return root.

    Each dataset folder is written in a thread, atomically (temporary folder + rename); the root
    ``synth.json`` marker is written last."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = list(DATASETS)
    workers = min(len(names), max(1, os.cpu_count() or 1))

    def one(name: str) -> dict:
        with atomic_dir(root / name) as tmp:
            return _write_dataset(tmp, name, seed)

    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            counts = list(pool.map(one, names))
    else:
        counts = [one(n) for n in names]
    marker = dict(generator_version=GENERATOR_VERSION, seed=seed,
                  note="synthetic sample (generated scientific figures), not real data",
                  datasets=dict(zip(names, counts, strict=True)))
    tmp = root / f".{MARKER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(marker, indent=1) + "\n")
    os.replace(tmp, root / MARKER)
    return root


# ----------------------------------------------------------------------------- figures
def _figure(rng: np.random.Generator, kind: str, h: int, w: int, style: dict) -> np.ndarray:
    """A clean figure (float64 H×W×3 RGB, 0–255) of the given kind."""
    pal = PALETTES[style["palette"]]
    return {"blot": _blot, "micro": _micro, "plot": _plot}[kind](rng, h, w, pal)


def _blot(rng, h, w, pal) -> np.ndarray:
    bg = rng.uniform(195, 232)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.full((h, w), bg) + 10 * _smooth_noise(rng, h, w, 12)          # uneven membrane
    n_lanes = int(rng.integers(4, 10))
    pitch = w / (n_lanes + 1)
    half = pitch * rng.uniform(0.28, 0.4)
    top = int(h * rng.uniform(0.12, 0.22))
    rows = np.sort(rng.uniform(top + 6, h - 8, int(rng.integers(1, 5))))
    dark = np.zeros((h, w))
    for r in rows:
        sy = rng.uniform(1.5, 4.0)
        depth = rng.uniform(80, 170)
        smile = rng.uniform(-3, 3)
        for k in range(n_lanes):
            cx = pitch * (k + 1) + rng.normal(0, pitch * 0.04)
            a = depth * rng.uniform(0.1, 1.0)
            ux = (xx - cx) / half
            cy = r + smile * ux ** 2 + rng.normal(0, 0.6)
            sy_k = sy * rng.uniform(0.8, 1.3)
            dark += a * np.exp(-np.abs(ux) ** 6) * np.exp(-((yy - cy) / sy_k) ** 2 / 2)
    img = img - np.minimum(dark, bg - 15)
    tint = np.array(pal["blot_tint"][int(rng.integers(len(pal["blot_tint"])))])
    out = img[..., None] * tint
    for r in rows[:3]:                                                      # size-marker labels
        cv2.putText(out, str(int(rng.integers(15, 250))), (1, int(r) + 3), cv2.FONT_HERSHEY_SIMPLEX,
                    0.25, (40, 40, 40), 1, cv2.LINE_AA)
    return out


def _micro(rng, h, w, pal) -> np.ndarray:
    cyto, nuc, spots = (np.zeros((h, w)) for _ in range(3))
    for _ in range(int(rng.integers(5, 18) * h * w / 144 ** 2) + 3):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        ax = (int(rng.integers(5, 16)), int(rng.integers(4, 11)))
        ang = float(rng.uniform(0, 180))
        cv2.ellipse(cyto, c, ax, ang, 0, 360, float(rng.uniform(0.4, 1.0)), -1, cv2.LINE_AA)
        cv2.ellipse(nuc, c, (max(2, ax[0] // 2), max(2, ax[1] // 2)), ang, 0, 360,
                    float(rng.uniform(0.6, 1.0)), -1, cv2.LINE_AA)
        for _ in range(int(rng.integers(0, 4))):
            p = (c[0] + int(rng.integers(-ax[0], ax[0] + 1)), c[1] + int(rng.integers(-ax[1], ax[1] + 1)))
            cv2.circle(spots, p, 1, float(rng.uniform(0.5, 1.0)), -1, cv2.LINE_AA)
    cyto = cv2.GaussianBlur(cyto, (0, 0), 1.5) * (1 + 0.35 * _smooth_noise(rng, h, w, 3))
    nuc = cv2.GaussianBlur(nuc, (0, 0), 1.0)
    col = np.array(pal["cells"][int(rng.integers(len(pal["cells"])))], float)
    out = np.full((h, w, 3), rng.uniform(12, 22)) + 6 * _smooth_noise(rng, h, w, 16)[..., None]
    out = out + np.clip(cyto, 0, 1.3)[..., None] * col + nuc[..., None] * np.array(pal["nuclei"], float) * 0.8
    return out + spots[..., None] * np.array(pal["spots"], float)


def _plot(rng, h, w, pal) -> np.ndarray:
    out = np.full((h, w, 3), rng.uniform(236, 246))
    x0, y0 = int(w * rng.uniform(0.16, 0.22)), int(h * rng.uniform(0.78, 0.85))
    x1, y1 = int(w * rng.uniform(0.9, 0.96)), int(h * rng.uniform(0.08, 0.14))
    ink = (25, 25, 25)
    cv2.line(out, (x0, y0), (x1, y0), ink, 1)
    cv2.line(out, (x0, y0), (x0, y1), ink, 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for k in range(5):
        tx = x0 + (x1 - x0) * k // 4
        ty = y0 - (y0 - y1) * k // 4
        cv2.line(out, (tx, y0), (tx, y0 + 3), ink, 1)
        cv2.line(out, (x0 - 3, ty), (x0, ty), ink, 1)
        cv2.putText(out, str(k * 5), (tx - 3, min(h - 12, y0 + 11)), font, 0.25, ink, 1, cv2.LINE_AA)
        cv2.putText(out, f"{k * 0.5:.1f}", (1, ty + 3), font, 0.25, ink, 1, cv2.LINE_AA)
    cv2.putText(out, ("Time (h)", "Dose", "Day")[int(rng.integers(3))], ((x0 + x1) // 2 - 12, h - 3),
                font, 0.28, ink, 1, cv2.LINE_AA)
    lines = pal["lines"]
    if rng.random() < 0.5:                                                  # bars with error bars
        n = int(rng.integers(3, 7))
        bw = (x1 - x0) / (n + 1)
        for k in range(n):
            top = int(y0 - (y0 - y1) * rng.uniform(0.2, 0.95))
            cx = int(x0 + bw * (k + 1))
            cv2.rectangle(out, (cx - int(bw * 0.35), top), (cx + int(bw * 0.35), y0 - 1),
                          lines[k % len(lines)], -1)
            e = int(rng.integers(2, 7))
            cv2.line(out, (cx, top - e), (cx, top + e), ink, 1)
    else:                                                                   # curves with markers
        xs = np.linspace(x0 + 2, x1 - 2, 40)
        for k in range(int(rng.integers(1, 4))):
            f = rng.uniform(0.5, 3.0)
            ys = 0.5 + 0.35 * np.sin(f * np.linspace(0, np.pi, 40) + rng.uniform(0, 6)) * rng.uniform(0.4, 1)
            pts = np.stack([xs, y0 - (y0 - y1) * ys], 1).astype(np.int32)
            c = lines[k % len(lines)]
            cv2.polylines(out, [pts], False, c, 1, cv2.LINE_AA)
            for p in pts[::8]:
                cv2.circle(out, (int(p[0]), int(p[1])), 2, c, -1, cv2.LINE_AA)
    return out


def _smooth_noise(rng, h, w, scale: float) -> np.ndarray:
    """Unit-σ low-frequency noise (correlation length ~``scale`` px)."""
    n = cv2.GaussianBlur(rng.standard_normal((h, w)), (0, 0), scale)
    return n / (n.std() + 1e-9)


def _sensor(rng, img: np.ndarray, sigma: float) -> np.ndarray:
    """Slight optical blur plus sensor noise (shared grey part + colour part); float, unclipped."""
    h, w = img.shape[:2]
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    grey = rng.standard_normal((h, w, 1))
    colour = rng.standard_normal((h, w, 3))
    return img + sigma * (0.8 * grey + 0.6 * colour)


def _u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _jpeg_roundtrip(img: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(q)])
    if not ok:
        raise RuntimeError("OpenCV cannot encode JPEG")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


# ----------------------------------------------------------------------------- splicing
def _region(rng, shape: str, h: int, w: int) -> np.ndarray:
    """A binary region (bh×bw uint8 0/1) of the given shape, sized relative to the image."""
    if shape == "rect":
        bh, bw = int(h * rng.uniform(0.22, 0.45)), int(w * rng.uniform(0.22, 0.45))
        return np.ones((bh, bw), np.uint8)
    if shape == "band":
        bh, bw = int(h * rng.uniform(0.12, 0.2)), int(w * rng.uniform(0.35, 0.8))
        return np.ones((bh, bw), np.uint8)
    r = min(h, w) * rng.uniform(0.16, 0.26)
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    rad = r * (1 + sum(rng.uniform(0, 0.22) * np.cos(k * t + rng.uniform(0, 6)) for k in (2, 3, 5)))
    b = int(np.ceil(rad.max())) + 2
    pts = np.stack([b + rad * np.cos(t), b + rad * np.sin(t)], 1).astype(np.int32)
    m = np.zeros((2 * b, 2 * b), np.uint8)
    cv2.fillPoly(m, [pts], 1)
    return m


def _splice(rng, host: np.ndarray, host_sigma: float, style: dict, careful: bool, host_kind: str):
    """Paste a region of another figure into ``host`` (uint8); return (image, mask, record)."""
    h, w = host.shape[:2]
    donor_kind = host_kind if rng.random() < 0.4 else KINDS[int(rng.integers(3))]
    donor_sigma = host_sigma * rng.uniform(*style["donor_noise"])
    donor_q = int(rng.integers(style["donor_q"][0], style["donor_q"][1] + 1))
    donor = _jpeg_roundtrip(_u8(_sensor(rng, _figure(rng, donor_kind, h, w, style), donor_sigma)), donor_q)
    shape = SHAPES[int(rng.choice(3, p=_weights(style["shapes"])))]
    hostf = host.astype(np.float64)
    for _attempt in range(8):
        local = _region(rng, shape, h, w)
        bh, bw = local.shape
        py, px = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        # the donor crop with the most content among a few candidate positions
        cands = [(int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))) for _ in range(4)]
        sy, sx = max(cands, key=lambda c: donor[c[0]:c[0] + bh, c[1]:c[1] + bw][local > 0].std())
        patch = donor[sy:sy + bh, sx:sx + bw].astype(np.float64)
        under = hostf[py:py + bh, px:px + bw]
        inside = local > 0
        if careful:       # match colour statistics, feather the edge, add back part of the noise
            pm, ps = patch[inside].mean(0), patch[inside].std(0) + 1e-6
            hm, hs = under[inside].mean(0), under[inside].std(0) + 1e-6
            k = rng.uniform(0.6, 0.9)
            patch = (patch - pm) * (1 + k * (hs / ps - 1)).clip(0.6, 1.6) + pm + k * (hm - pm)
            patch = patch + host_sigma * rng.uniform(0.2, 0.45) * rng.standard_normal(patch.shape)
            alpha = cv2.GaussianBlur(local.astype(np.float64), (0, 0), 1.0)
            alpha = np.where(inside, np.maximum(alpha, 0.5), np.minimum(alpha, 0.49))
        else:             # hard paste with a contrast / brightness jump
            gain = rng.uniform(0.75, 1.3)
            patch = (patch - 128) * gain + 128 + rng.choice((-1, 1)) * rng.uniform(6, 22)
            alpha = local.astype(np.float64)
        out = hostf.copy()
        out[py:py + bh, px:px + bw] = alpha[..., None] * patch + (1 - alpha[..., None]) * under
        out = _u8(out)
        change = float(np.abs(out[py:py + bh, px:px + bw].astype(np.float64) - under)[inside].mean())
        if change >= MIN_CHANGE:
            break
    mask = np.zeros((h, w), np.uint8)
    mask[py:py + bh, px:px + bw] = local * 255
    return out, mask, dict(donor_kind=donor_kind, shape=shape, careful=careful,
                           donor_noise=round(donor_sigma, 3), donor_jpeg_q=donor_q,
                           mean_abs_change=round(change, 3))


def _weights(w) -> np.ndarray:
    w = np.asarray(w, float)
    return w / w.sum()


# ----------------------------------------------------------------------------- writing
def _make(name: str, seed: int, i: int, tampered: bool, careful: bool | None = None):
    """Image ``i`` of a dataset: (image uint8 RGB, mask or None, host uint8, record)."""
    style = DATASETS[name]
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), int(tampered), i])
    h, w = (int(rng.integers(style["size"][0], style["size"][1] + 1)) for _ in range(2))
    kind = KINDS[int(rng.choice(3, p=_weights(style["kinds"])))]
    sigma = float(rng.uniform(*style["noise"]))
    host = _u8(_sensor(rng, _figure(rng, kind, h, w, style), sigma))
    rec = dict(kind=kind, height=h, width=w, noise=round(sigma, 3))
    if not tampered:
        return host, None, host, rec
    if careful is None:
        careful = bool(rng.random() < style["careful"])
    img, mask, more = _splice(rng, host, sigma, style, careful, kind)
    return img, mask, host, dict(rec, **more)


def _encode(path: Path, img: np.ndarray, quality: int) -> None:
    """Write RGB (H×W×3) or L (H×W) uint8 as PNG or JPEG (by suffix)."""
    arr = img[..., ::-1] if img.ndim == 3 else img
    if path.suffix == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, 9]
    ok, buf = cv2.imencode(path.suffix, np.ascontiguousarray(arr), params)
    if not ok:
        raise RuntimeError(f"OpenCV cannot encode {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())


def _write_dataset(folder: Path, name: str, seed: int) -> dict:
    style = DATASETS[name]
    folder.mkdir(parents=True)
    q = style["jpeg_q"]
    records, pairs, subsets = [], [], []
    for i in range(style["n_tp"]):
        careful = None
        if name == "scisp":
            careful = i % 2 == 1                       # even: C (sloppy), odd: H (careful)
        img, mask, host, rec = _make(name, seed, i, True, careful)
        fmt = np.random.default_rng([seed, zlib.crc32(name.encode()), i, 7])     # storage format draw
        ext = ".png" if fmt.random() < style["png"] else ".jpg"
        img_rel, mask_rel, au_rel = _names(name, i, ext, style)
        _encode(folder / img_rel, img, q)
        _encode(folder / mask_rel, mask, q)
        pairs.append([img_rel, mask_rel])
        rec = dict(image=img_rel, mask=mask_rel, label=1, **rec)
        if name == "scisp":
            rec["subset"] = "H" if careful else "C"
            subsets.append((Path(img_rel).stem, rec["subset"]))
        records.append(rec)
        if name == "coverage":                         # the authentic twin is the host itself
            _encode(folder / au_rel, host, q)
            pairs.append([au_rel, "Negative"])
            host_rec = {k: rec[k] for k in ("kind", "height", "width", "noise")}
            records.append(dict(image=au_rel, label=0, host_of=img_rel, **host_rec))
    if name != "coverage":
        for i in range(style["n_au"]):
            img, _, _, rec = _make(name, seed, i, False)
            au_rel = _au_name(name, i)
            _encode(folder / au_rel, img, q)
            pairs.append([au_rel, "Negative"])
            records.append(dict(image=au_rel, label=0, **rec))
    if style["layout"] == "B":
        (folder / "list.json").write_text(json.dumps(pairs, indent=1) + "\n")
    if subsets:
        (folder / "subsets.csv").write_text("id,subset\n" + "".join(f"{a},{b}\n" for a, b in subsets))
    counts = dict(layout=style["layout"], tampered=style["n_tp"], authentic=style["n_au"])
    if subsets:
        counts["subsets"] = {s: sum(1 for _, b in subsets if b == s) for s in ("C", "H")}
    (folder / MARKER).write_text(json.dumps(dict(
        generator_version=GENERATOR_VERSION, seed=seed, dataset=name, synthetic=True,
        description=style["description"], counts=counts, images=records), indent=1) + "\n")
    return counts


def _names(name: str, i: int, ext: str, style: dict) -> tuple[str, str, str]:
    """(tampered image, mask, coverage's authentic twin) paths relative to the dataset folder."""
    if name == "columbia":
        return f"4cam_splc/splc_{i + 1:03d}.png", f"edgemask/splc_{i + 1:03d}_mask.png", ""
    if name == "coverage":
        return f"image/{i + 1}t.png", f"mask/{i + 1}forged.png", f"image/{i + 1}.png"
    if name == "imd2020":
        return f"images/imd_{i + 1:04d}_comp{ext}", f"masks/imd_{i + 1:04d}_mask.png", ""
    stem = {"scisp": f"sp_{i + 1:04d}", "casia2": f"Tp_S_NNN_S_N_syn{i:05d}",
            "casia1": f"Sp_S_NNN_A_syn{i:04d}", "nist16": f"NC2016_{1000 + i:04d}"}[name]
    return f"Tp/{stem}{ext}", f"Gt/{stem}{style['gt_suffix']}.png", ""


def _au_name(name: str, i: int) -> str:
    if name == "columbia":
        return f"4cam_auth/auth_{i + 1:03d}.png"
    if name == "imd2020":
        return f"images/imd_{i + 1:04d}_orig.jpg"
    stem = {"scisp": f"au_{i + 1:04d}", "casia2": f"Au_syn_{i:05d}"}.get(name, f"au_{i:04d}")
    return f"Au/{stem}.jpg"
