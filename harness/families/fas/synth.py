"""The embedded synthetic FAS sample: four small multimodal (RGB, depth, IR) domains in the MMDG layout.

``synthesize(root)`` writes, in EXACTLY the layout :func:`harness.families.fas.data.read_list`
reads (``data.LAYOUT``; path shapes as in the real lists, fas.md §1.2–§1.3)::

    root/cefa/CeFA/CeFA-Race/AF/AF-000/1_000_1_1_1/{profile,depth,ir}/0026.jpg   (+ CeFA-Mask in test)
    root/padisi/<8-hex>.npz              data (1, 5, 32, 32) float32 in [0, 1]: RGB, IR, depth
    root/surf/CASIA-SURF-CROP/{real,fake}_part/{real,fake}_<split>_part/CLKJ_AS0001/real.rssdk/{color,depth,ir}/31.jpg
    root/wmca/WMCA-Image/R_CDIT/<client>_<session>_<pai>_<type>_<nn>/{color,depth,ir}/0012.jpg
    root/FlexModal_Protocols/WMCA_test_<pai>.txt     per-attack W lists (so W attack types are known)
    root/MMDG-Benchmark/{C,P,S,W}-{train,val,test}.txt   written last
    root/<dataset>/synth.json, root/MMDG-Benchmark/synth.json   generator version, seed, parameters

Each folder appears atomically (written to a temporary folder, then renamed); the list folder is
renamed into place after every dataset folder, so a reader never sees lists naming absent files.
The CeFA/SURF/WMCA file-name codes for attack kinds are plausible guesses (the lists carry no
types); ``synth.json`` records every video's attack type.

A frame is a drawn face (skin ellipse, eyes, mouth, directional shading) on a background, rendered
at the domain's resolution and resized to 32×32. Per modality:

- bona fide: RGB skin with fine texture; depth a face-shaped bump (+ nose); IR textured skin.
- ``print`` (and ``cutprint``, a print with eye/mouth holes showing a real face behind): paper
  plane — flat depth (slightly tilted, bent in some domains), IR "normal" (printed face with
  texture), RGB lower contrast with a paper tint.
- ``replay``: screen plane — flat depth; RGB with a moiré grating and a bluish cast; IR dark
  screen with a saturated glare blob.
- masks (``mask``, ``rigidmask``, ``flexiblemask``, ``3D-Mask``, ``Silicone-Mask``): depth bump
  present; IR and RGB texture largely off (smooth); a plastic-ish skin hue.

Cue strengths (depth gain, IR texture, moiré, glare, print bend) and the acquisition conditions
(illumination, colour cast, sensor noise, render resolution, JPEG quality) differ per domain, and
cues are drawn per video, so they are weak-but-learnable and leave-one-domain-out is a real test.
Deterministic for a seed: the same bytes on every run (npz zips carry a fixed timestamp).
All four domains take well under a second on 2 cores.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ...files import atomic_dir
from .data import DOMAINS as FOLDERS, FLEXMODAL_DIR, LIST_DIR, SPLITS, WMCA_PAI_TYPES

#: written into every generated folder: marks the data as synthetic wherever it is copied
MARKER = "synth.json"
GENERATOR_VERSION = 1
#: stored frame size (px); each domain renders at its own resolution and is resized to this
SIZE = 32

#: attack name -> the cue family it is rendered with
ATTACK_CUES = {"print": "print", "cutprint": "cutprint", "replay": "replay", "mask": "mask",
               "rigidmask": "mask", "flexiblemask": "mask", "3D-Mask": "mask", "Silicone-Mask": "mask"}


def _domain(description: str, **conditions) -> dict:
    """A domain's conditions; unspecified ones take these defaults.

    render_px: resolution the scene is drawn at before resizing to ``SIZE``; brightness: global
    illumination gain; colour_cast: RGB channel gains; background: RGB; rgb_noise / depth_noise /
    ir_noise: sensor noise σ (grey levels) at render resolution; jpeg_quality: of the stored JPGs;
    ir_level: skin brightness in IR. Cues: depth_gain (face bump height, grey levels), ir_texture
    (σ of bona fide IR skin texture), moire (replay grating amplitude), glare (replay IR glare
    strength, 0–1), print_bend (paper bend height in depth). n_videos: per split (half bona fide);
    frames: per video; attacks: the attack kinds cycled through in train/val; test_attacks: in test.
    """
    base = dict(render_px=32, brightness=1.0, colour_cast=(1.0, 1.0, 1.0), background=(110, 110, 110),
                rgb_noise=3.0, depth_noise=3.0, ir_noise=3.0, jpeg_quality=92, ir_level=150.0,
                depth_gain=70.0, ir_texture=10.0, moire=6.0, glare=1.0, print_bend=0.0,
                n_videos={"train": 12, "val": 4, "test": 8}, frames=3,
                attacks=("print", "replay", "mask"), test_attacks=None)
    unknown = sorted(set(conditions) - set(base))
    if unknown:
        raise TypeError(f"unknown domain condition(s) {unknown}")
    out = dict(base, description=description, **conditions)
    if out["test_attacks"] is None:
        out["test_attacks"] = out["attacks"]
    return out


DOMAINS: dict[str, dict] = {
    "C": _domain("CeFA-like: RealSense, warm indoor light, 32 px; print/replay in train/val, "
                 "unseen 3D/silicone masks only in test",
                 render_px=32, brightness=0.9, colour_cast=(1.08, 1.0, 0.9), background=(120, 105, 90),
                 rgb_noise=3.0, depth_noise=3.0, ir_noise=3.0, jpeg_quality=90, ir_level=150.0,
                 depth_gain=70.0, ir_texture=16.0, moire=10.0, glare=1.0,
                 attacks=("print", "replay"), test_attacks=("print", "replay", "3D-Mask", "Silicone-Mask")),
    "P": _domain("PADISI-like: dim cool light, low-res 24 px upscaled (blurry), weaker depth; one npz per "
                 "presentation",
                 render_px=24, brightness=0.65, colour_cast=(0.88, 1.0, 1.12), background=(70, 80, 95),
                 rgb_noise=2.0, depth_noise=4.0, ir_noise=2.0, ir_level=120.0,
                 depth_gain=30.0, ir_texture=12.0, moire=7.0, glare=0.6,
                 n_videos={"train": 36, "val": 12, "test": 24}, frames=1,
                 attacks=("print", "replay", "mask")),
    "S": _domain("CASIA-SURF-like: bright greenish light, sharp 48 px downscaled, noisy depth, bent "
                 "prints and cut prints",
                 render_px=48, brightness=1.15, colour_cast=(0.95, 1.06, 0.92), background=(150, 160, 140),
                 rgb_noise=6.0, depth_noise=8.0, ir_noise=5.0, jpeg_quality=80, ir_level=170.0,
                 depth_gain=55.0, ir_texture=18.0, moire=12.0, glare=0.8, print_bend=18.0,
                 attacks=("print", "cutprint")),
    "W": _domain("WMCA-like: neutral-magenta light, 40 px, clean sensors; print, replay, rigid and "
                 "flexible masks",
                 render_px=40, brightness=1.0, colour_cast=(1.04, 0.95, 1.04), background=(95, 95, 105),
                 rgb_noise=2.5, depth_noise=2.5, ir_noise=2.5, jpeg_quality=95, ir_level=135.0,
                 depth_gain=85.0, ir_texture=14.0, moire=9.0, glare=1.0, print_bend=6.0,
                 attacks=("print", "replay", "rigidmask", "flexiblemask")),
}


# ----------------------------------------------------------------------------- public API
def synthesize(root: Path, seed: int = 0) -> Path:
    """Write the four synthetic domains under ``root`` (layout in the module docstring); return root.

    Deterministic for a seed (each domain's draws depend only on seed and domain). Dataset folders
    are written in parallel threads, each atomically (temporary folder + rename); the FlexModal
    lists follow, and the ``MMDG-Benchmark`` list folder is renamed into place last.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = list(DOMAINS)
    workers = min(len(names), os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda d: _write_atomically(root, d, seed), names))
    else:
        results = [_write_atomically(root, d, seed) for d in names]
    lines = dict(zip(names, results))

    def flex(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        w = [v for split in SPLITS for v in lines["W"][split]]
        for pai in WMCA_PAI_TYPES:
            rows = [" ".join((*v["rels"], "0")) for v in w if v["attack"] == pai]
            (tmp / f"WMCA_test_{pai}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))

    def lists(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        for d in names:
            sep = "\t" if d == "P" else " "
            for split in SPLITS:       # no final newline, like the released lists (fas.md §1.3)
                text = "\n".join(sep.join((*v["rels"], str(v["label"]))) for v in lines[d][split])
                (tmp / f"{d}-{split}.txt").write_text(text)
        _write_json(tmp / MARKER, dict(generator_version=GENERATOR_VERSION, seed=seed, size=SIZE,
                                       domains=names, note="synthetic MMDG-benchmark sample"))

    _atomic(root, FLEXMODAL_DIR, flex)
    _atomic(root, LIST_DIR, lists)
    return root


# ----------------------------------------------------------------------------- naming
def _videos(d: str, split: str, rng: np.random.Generator) -> list[dict]:
    """Per video: label, attack, the relative paths of each frame (``rels`` per frame)."""
    dom = DOMAINS[d]
    n = dom["n_videos"][split]
    kinds = dom["test_attacks"] if split == "test" else dom["attacks"]
    out, k_att = [], 0
    for i in range(n):
        real = i % 2 == 0
        attack = None
        if not real:
            attack = kinds[k_att % len(kinds)]
            k_att += 1
        out.append(dict(index=i, label=int(real), attack=attack, frames=_frame_paths(d, split, i, attack)))
    return out


def _frame_paths(d: str, split: str, i: int, attack: str | None) -> list[tuple[str, ...]]:
    if d == "P":
        name = f"{zlib.crc32(f'padisi-{split}-{i}'.encode()):08x}.npz"
        return [(name,)]
    if d == "C":
        s = {"train": 0, "val": 200, "test": 300}[split] + i // 2
        race, code = (("AF", 1), ("CA", 2))[(i // 2) % 2]
        if attack in ("3D-Mask", "Silicone-Mask"):
            video = f"CeFA/CeFA-Mask/{attack}/{attack}-{s:03d}/{code}_{s:03d}_3_1_1"
        else:
            kind = {None: 1, "print": 2, "replay": 3}[attack]
            video = f"CeFA/CeFA-Race/{race}/{race}-{s:03d}/{code}_{s:03d}_1_1_{kind}"
        rgb_dir, frames = "profile", ("0026.jpg", "0051.jpg", "0076.jpg")
    elif d == "S":
        subj = {"train": 1, "val": 300, "test": 500}[split] + i // 2
        part = "real" if attack is None else "fake"
        leaf = "real.rssdk" if attack is None else {"print": "04_en_b.rssdk", "cutprint": "05_en_b.rssdk"}[attack]
        video = f"CASIA-SURF-CROP/{part}_part/{part}_{split}_part/CLKJ_AS{subj:04d}/{leaf}"
        rgb_dir, frames = "color", ("31.jpg", "61.jpg", "91.jpg")
    else:
        client = {"train": 1, "val": 100, "test": 200}[split] + i // 2
        pai, typ = {None: (0, 0), "rigidmask": (67, 1), "replay": (15, 2), "print": (33, 3),
                    "flexiblemask": (51, 5)}[attack]
        video = f"WMCA-Image/R_CDIT/{client:03d}_{1 + i % 3:02d}_{pai:03d}_{typ}_{i % 7:02d}"
        rgb_dir, frames = "color", ("0012.jpg", "0024.jpg", "0036.jpg")
    frames = frames[:DOMAINS[d]["frames"]]
    return [(f"{video}/{rgb_dir}/{f}", f"{video}/depth/{f}", f"{video}/ir/{f}") for f in frames]


# ----------------------------------------------------------------------------- rendering
def _video_params(rng: np.random.Generator, dom: dict) -> dict:
    return dict(cx=float(rng.uniform(-0.08, 0.08)), cy=float(rng.uniform(-0.06, 0.06)),
                scale=float(rng.uniform(0.85, 1.05)),
                skin=[float(v) for v in rng.uniform((150, 105, 80), (225, 180, 150))],
                light=[float(v) for v in rng.uniform(-0.35, 0.35, 2)],
                illum=float(dom["brightness"] * rng.uniform(0.85, 1.15)),
                cue=float(rng.uniform(0.45, 1.3)),            # per-video cue strength
                tilt=[float(v) for v in rng.uniform(-6, 6, 2)],
                moire_f=float(rng.uniform(0.2, 0.3)), moire_angle=float(rng.uniform(0, np.pi)),
                glare=[float(v) for v in rng.uniform(-0.5, 0.5, 2)])


def _render(rng: np.random.Generator, dom: dict, vp: dict, cue: str | None, attack: str | None,
            tex_rgb: np.ndarray, tex_ir: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame (RGB HxWx3, depth HxW, IR HxW; uint8 at ``SIZE``)."""
    r = dom["render_px"]
    g = (np.arange(r, dtype=np.float64) + 0.5) / r * 2 - 1
    u, v = np.meshgrid(g, g)
    cx = vp["cx"] + rng.normal(0, 0.015)
    cy = vp["cy"] + rng.normal(0, 0.015)
    ax, ay = 0.55 * vp["scale"], 0.72 * vp["scale"]
    du, dv = (u - cx) / ax, (v - cy) / ay
    e = du ** 2 + dv ** 2
    alpha = np.clip((1 - e) * 6, 0, 1)
    bump = np.sqrt(np.clip(1 - e, 0, 1)) + 0.35 * np.exp(-(du ** 2 + (dv + 0.05) ** 2) / (2 * 0.12 ** 2))
    eyes = sum(np.exp(-((du - sx) ** 2 + (dv + 0.25) ** 2) / (2 * 0.1 ** 2)) for sx in (-0.4, 0.4))
    mouth = np.exp(-((du / 0.35) ** 2 + ((dv - 0.5) / 0.08) ** 2) / 2)
    features = 1 - 0.55 * eyes - 0.45 * mouth
    flat_shade = 1 + vp["light"][0] * du * ax + vp["light"][1] * dv * ay
    gy, gx = np.gradient(bump)
    relief = 1 + 3.0 * (vp["light"][0] * gx + vp["light"][1] * gy) * r / 32
    k = vp["cue"]
    skin = np.array(vp["skin"])
    tex_amp = {None: 1.0, "print": 0.6, "cutprint": 0.6, "replay": 0.7,
               "mask": 0.3 if attack == "flexiblemask" or attack == "Silicone-Mask" else 0.12}[cue]
    face = skin * (flat_shade * features)[..., None] + 14 * tex_amp * tex_rgb[..., None]
    if cue in (None, "mask"):
        face = face * relief[..., None]
    if cue == "mask":
        face = 0.6 * face + 0.4 * face.mean(axis=(0, 1)) * np.array([1.05, 1.0, 0.85])
    bg = np.array(dom["background"], float) * (1 + 0.15 * u[..., None])
    rgb = alpha[..., None] * face + (1 - alpha[..., None]) * bg

    # depth: near = bright, background far (dark)
    depth = np.zeros((r, r))
    plane = (np.abs(u - cx) < ax * 1.25) & (np.abs(v - cy) < ay * 1.2)
    ir = np.full((r, r), 22.0) + 8 * (1 - np.abs(u))
    dome = np.sqrt(np.clip(1 - e, 0, 1))
    ir_face = dom["ir_level"] * (0.75 + 0.25 * dome) * (1 - 0.25 * eyes - 0.15 * mouth)
    tex_ir = dom["ir_texture"] * tex_ir
    if cue is None or cue == "mask":
        depth = alpha * (90 + dom["depth_gain"] * k * (0.95 if cue == "mask" else 1.0) * bump)
        smooth = 0.15 if cue == "mask" else 1.0
        ir = alpha * (ir_face * (1.08 if cue == "mask" else 1.0) + smooth * k * tex_ir) + (1 - alpha) * ir
    else:
        bend = dom["print_bend"] * k * (1 - (u - cx) ** 2) if cue in ("print", "cutprint") else 0.0
        depth = np.where(plane, 130 + vp["tilt"][0] * u + vp["tilt"][1] * v + bend, 0.0)
        if cue in ("print", "cutprint"):
            printed = 0.9 * ir_face * (0.8 + 0.2 * flat_shade)   # a photo of the face, IR-reflective
            ir = np.where(plane, 0.5 * dom["ir_level"], ir)
            ir = alpha * (printed + 0.9 * k * tex_ir) + (1 - alpha) * ir
            rgb = np.where(plane[..., None], (0.85 * rgb + 0.15 * 225) * np.array([1.0, 0.98, 0.9]), rgb)
            if cue == "cutprint":          # holes at the eyes and mouth show a real face behind
                hole = np.clip((eyes + mouth) * 3 - 1.2, 0, 1)
                depth = (1 - hole) * depth + hole * (90 + dom["depth_gain"] * k * bump + 10)
                ir = (1 - hole) * ir + hole * (ir_face + k * tex_ir)
        else:                              # replay: screen
            a = vp["moire_angle"]
            phase = 2 * np.pi * vp["moire_f"] * (np.cos(a) * u + np.sin(a) * v) * SIZE / 2   # in stored px
            rgb = np.where(plane[..., None], rgb * np.array([0.92, 0.98, 1.1]) + 10, rgb)
            rgb = rgb + plane[..., None] * dom["moire"] * k * np.sin(phase)[..., None]
            glare = np.exp(-((u - vp["glare"][0]) ** 2 + (v - vp["glare"][1]) ** 2) / (2 * 0.3 ** 2))
            ir = np.where(plane, 30 + 320 * dom["glare"] * k * glare, ir)
            depth = np.where(plane, depth * 0.9 + 10 * (rng.random((r, r)) < 0.05), depth)

    rgb = rgb * np.array(dom["colour_cast"]) * vp["illum"] + rng.normal(0, dom["rgb_noise"], (r, r, 3))
    depth = depth + rng.normal(0, dom["depth_noise"], (r, r))
    ir = ir + rng.normal(0, dom["ir_noise"], (r, r))
    interp = cv2.INTER_AREA if r > SIZE else cv2.INTER_LINEAR
    out = []
    for img in (rgb, depth, ir):
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        out.append(img if r == SIZE else cv2.resize(img, (SIZE, SIZE), interpolation=interp))
    return out[0], out[1], out[2]


def _texture(rng: np.random.Generator, r: int) -> np.ndarray:
    """Unit-σ fine skin texture (pores): white noise lightly smoothed."""
    t = cv2.GaussianBlur(rng.standard_normal((r, r)), (0, 0), 0.5)
    return t / (t.std() + 1e-9)


# ----------------------------------------------------------------------------- writing
def _write_domain(folder: Path, d: str, seed: int) -> dict[str, list[dict]]:
    dom = DOMAINS[d]
    rng = np.random.default_rng([seed, zlib.crc32(d.encode())])
    folder.mkdir(parents=True)
    lines: dict[str, list[dict]] = {}
    record = []
    enc = [cv2.IMWRITE_JPEG_QUALITY, int(dom["jpeg_quality"])]
    for split in SPLITS:
        lines[split] = []
        for vid in _videos(d, split, rng):
            vp = _video_params(rng, dom)
            cue = ATTACK_CUES[vid["attack"]] if vid["attack"] else None
            tex_rgb, tex_ir = _texture(rng, dom["render_px"]), _texture(rng, dom["render_px"])
            for rels in vid["frames"]:
                drift = 0.85 + 0.15 * np.float64(rng.random())     # texture varies a little per frame
                rgb, depth, ir = _render(rng, dom, vp, cue, vid["attack"], tex_rgb * drift, tex_ir * drift)
                if d == "P":
                    x = np.stack([*rgb.transpose(2, 0, 1), ir, depth])[None].astype(np.float32)
                    _write_npz(folder / rels[0], np.maximum((x - 0.5) / 255.0, 0).astype(np.float32))
                else:
                    for rel, img in zip(rels, (cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), depth, ir)):
                        ok, buf = cv2.imencode(".jpg", img, enc)
                        if not ok:
                            raise RuntimeError(f"OpenCV cannot encode JPG for {rel}")
                        p = folder / rel
                        p.parent.mkdir(parents=True, exist_ok=True)
                        p.write_bytes(buf.tobytes())
                lines[split].append(dict(rels=rels, label=vid["label"], attack=vid["attack"]))
            record.append(dict(split=split, video=_video_name(d, vid["frames"][0][0]), label=vid["label"],
                               attack=vid["attack"], frames=len(vid["frames"]),
                               **{k: v for k, v in vp.items() if k in ("scale", "illum", "cue")}))
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dom.items()}
    _write_json(folder / MARKER, dict(generator_version=GENERATOR_VERSION, seed=seed, domain=d,
                                      dataset=FOLDERS[d], size=SIZE, parameters=params, videos=record))
    return lines


def _video_name(d: str, first: str) -> str:
    return first[:-4] if d == "P" else first.rsplit("/", 2)[0]


def _write_npz(path: Path, data: np.ndarray) -> None:
    """``np.savez(path, data=data)`` with a fixed zip timestamp, so the bytes are reproducible."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(data), allow_pickle=False)
    info = zipfile.ZipInfo("data.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info, buf.getvalue())


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


def _write_atomically(root: Path, d: str, seed: int) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}

    def write(tmp: Path) -> None:
        result.update(_write_domain(tmp, d, seed))

    _atomic(root, FOLDERS[d], write)
    return result


def _atomic(root: Path, name: str, write) -> None:
    with atomic_dir(root / name) as tmp:
        write(tmp)
