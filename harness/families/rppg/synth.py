"""The embedded synthetic rPPG sample: small face videos with a known pulse, one folder per domain.

Each domain mimics the acquisition conditions of a real dataset, and is written in the EXACT
UBFC-rPPG DATASET_2 layout (``<dataset>/subjectN/vid.avi`` + ``ground_truth.txt``: line 1 PPG at
the frame rate, line 2 instantaneous HR in bpm, line 3 timestamps in s), plus a ``synth.json``
record of the generator version, seed and per-subject parameters at the dataset's root.

A subject is a drawn face (skin ellipse, hair, eyes, brows, nose, mouth, shading, sheen) that
OpenCV's Haar frontal-face cascade detects, on a static background. The ground truth is a finger-
like PPG (systolic peak, dicrotic notch and wave; heart rate wandering slowly plus respiratory
sinus arrhythmia). Skin pixels are darkened by the face's version of that pulse (smoother, 100 ms
earlier) with the channel weights of the blood-volume-pulse signature (green strongest), a
fraction of a grey level to ~2 grey levels peak-to-peak. On top: illumination drift and colour
tint, passing shadows, face translation (slow sway below the HR band, vibration above it),
Gaussian sensor noise. With seed 0, POS (toolbox recipe) gets every video's HR within 4 bpm, while
the green channel alone misses by up to ~20 bpm under ``physdrive``'s light changes.

Domains (160×120 px, 20 s; see ``DOMAINS`` for every number):

- ``ubfc-rppg``: indoor, light skin, mild drift and sway, HR 60–120 (subjects play a game).
- ``pure``: steady: lab light, tiny motion, low noise, HR 55–95.
- ``mmpd``: phone camera, skin tones 3–6 (darker, weaker pulse), LED/incandescent tint shifts,
  head motion, more noise; 4 subjects.
- ``ibvp``: indoor, head-movement task (larger sway), HR 55–105.
- ``scamps``: synthetic avatars: clean, all skin tones, the widest HR range 48–145.
- ``ubfc-phys``: 35 fps MJPEG camera, stress tasks (HR 65–130), moderate motion.
- ``physdrive``: driving: strong illumination changes, passing shadows, vibration and sway.
- ``buaa-mihr``: steady, but illumination levels from dim to bright (lux), noise rising in the dark.

Video: Motion-JPEG at quality 100 by OpenCV's own writer (deterministic, fast, ~3 MB per video,
readable by any OpenCV build); the skin-region mean keeps the pulse (see tests). All 25 videos
take about 3 s on 2 cores (domains run in parallel threads).
"""
from __future__ import annotations

import json
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from ...errors import did_you_mean
from ...results import atomic_dir

#: written into every generated dataset folder: marks the data as synthetic wherever it is copied
MARKER = "synth.json"
GENERATOR_VERSION = 1
WIDTH, HEIGHT = 160, 120
_SUPERSAMPLE = 4

#: Fitzpatrick-like skin tones I–VI as RGB
SKIN_TONES = {1: (222, 182, 154), 2: (210, 162, 128), 3: (190, 140, 105),
              4: (160, 112, 80), 5: (134, 90, 64), 6: (112, 74, 52)}
#: the face's pulse is a smoothed, earlier copy of the finger PPG written as ground truth
FACE_PULSE_SMOOTH_S, FACE_PULSE_LEAD_S = 0.08, 0.10
#: relative pulsatile strength per channel (blood-volume-pulse signature, green strongest)
PULSE_RGB = np.array([0.33, 0.77, 0.53])

def _domain(description: str, **conditions) -> dict:
    """A domain's conditions; unspecified ones take these defaults.

    skin_tones: tones drawn from (``SKIN_TONES``); hr_bpm: range of a subject's mean HR;
    hrv: relative depth of the slow HR wander (respiratory sinus arrhythmia adds 30% of it);
    pulse_grey: green peak-to-peak pulse in grey levels; brightness: exposure range (lux);
    drift: depth of the slow illumination drift; tint: slow per-channel colour drift; shadows:
    number sweeping across the frame; motion_px / motion_hz: head translation amplitude and top
    frequency; vibration_px: 3–8 Hz shake; noise_grey: sensor noise σ at full brightness.
    """
    base = dict(n_subjects=3, duration_s=20.0, fs=30.0, skin_tones=(1, 2, 3), hr_bpm=(55, 110), hrv=0.05,
                pulse_grey=(0.8, 1.4), brightness=(0.9, 1.0), drift=0.02, tint=0.0, shadows=0,
                motion_px=1.0, motion_hz=0.4, vibration_px=0.0, noise_grey=1.5, background=(120, 125, 130))
    unknown = sorted(set(conditions) - set(base))
    if unknown:
        raise TypeError(f"unknown domain condition(s) {unknown}")
    return dict(base, description=description, **conditions)


DOMAINS: dict[str, dict] = {
    "ubfc-rppg": _domain("indoor webcam, light skin, mild drift and sway; HR raised by a game",
                         hr_bpm=(60, 120), pulse_grey=(1.0, 1.6), drift=0.03, motion_px=1.5,
                         background=(150, 140, 125)),
    "pure": _domain("steady lab recording: constant light, tiny motion, low noise",
                    skin_tones=(1, 2), hr_bpm=(55, 95), hrv=0.03, pulse_grey=(1.2, 1.8), brightness=(0.95, 1.0),
                    drift=0.01, motion_px=0.3, motion_hz=0.3, noise_grey=1.0, background=(120, 130, 140)),
    "mmpd": _domain("phone camera: skin tones 3-6 (weaker pulse), LED/incandescent tint, talking/walking motion",
                    n_subjects=12, skin_tones=(3, 4, 5, 6), hr_bpm=(60, 130), hrv=0.06, pulse_grey=(0.5, 1.0),
                    brightness=(0.8, 1.0), drift=0.05, tint=0.04, motion_px=2.5, motion_hz=0.5,
                    noise_grey=2.0, background=(130, 125, 115)),
    "ibvp": _domain("indoor, head-movement task", skin_tones=(1, 2, 3, 4), hr_bpm=(55, 105),
                    motion_px=2.5, motion_hz=0.5, background=(110, 115, 120)),
    "scamps": _domain("rendered avatars: clean, every skin tone, the widest HR range",
                      skin_tones=(1, 2, 3, 4, 5, 6), hr_bpm=(48, 145), hrv=0.08, pulse_grey=(1.0, 2.0),
                      brightness=(0.95, 1.0), drift=0.0, noise_grey=0.5, background=(100, 110, 120)),
    "ubfc-phys": _domain("35 fps MJPEG camera, stress tasks", fs=35.0, hr_bpm=(65, 130), hrv=0.06,
                         brightness=(0.85, 1.0), motion_px=2.0, motion_hz=0.5, noise_grey=2.0,
                         background=(140, 140, 135)),
    "physdrive": _domain("driving: strong light changes, passing shadows, road sway and vibration",
                         n_subjects=8, skin_tones=(1, 2, 3, 4, 5), hr_bpm=(60, 110), pulse_grey=(0.6, 1.2),
                         brightness=(0.75, 1.0),
                         drift=0.20, tint=0.05, shadows=4, motion_px=3.0, motion_hz=0.5,
                         vibration_px=0.6, noise_grey=2.5, background=(90, 90, 95)),
    "buaa-mihr": _domain("steady, illumination from dim to bright (lux levels): more noise in the dark",
                         hr_bpm=(55, 95), hrv=0.04, pulse_grey=(1.0, 1.5), brightness=(0.5, 1.0), drift=0.01,
                         motion_px=0.5, motion_hz=0.3, noise_grey=1.2, background=(125, 125, 130)),
}


# ----------------------------------------------------------------------------- public API
def synthesize(out_dir: Path, datasets: list[str] | None = None, seed: int = 0) -> Path:
    """Write ``out_dir/<dataset>/subjectN/{vid.avi, ground_truth.txt}`` for each domain.

    Deterministic for a given seed (each domain's draws depend only on seed and domain name).
    Each dataset folder appears atomically: written to a temporary folder, then renamed.
    Domains are generated in parallel threads, one per CPU core.
    """
    out_dir = Path(out_dir)
    names = list(DOMAINS) if datasets is None else list(datasets)
    for name in names:
        if name not in DOMAINS:
            raise did_you_mean(name, DOMAINS, "sample domain")
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = min(len(names), os.cpu_count() or 1)
    if workers > 1:  # OpenCV and numpy release the GIL for most of the per-frame work
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda name: _write_atomically(out_dir, name, seed), names))
    else:
        for name in names:
            _write_atomically(out_dir, name, seed)
    return out_dir


# ----------------------------------------------------------------------------- waveforms
def _smooth_noise(rng: np.random.Generator, t: np.ndarray, f_lo: float, f_hi: float, n: int = 4) -> np.ndarray:
    """Smooth random signal in [-1, 1]: a sum of sinusoids with random frequencies in [f_lo, f_hi]."""
    freqs = rng.uniform(f_lo, f_hi, n)
    phases = rng.uniform(0, 2 * np.pi, n)
    weights = rng.uniform(0.5, 1.0, n)
    x = (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    return x / weights.sum()


def _beat(phase: np.ndarray) -> np.ndarray:
    """One heartbeat per unit phase: fast systolic upstroke, slower decay, dicrotic wave."""
    def wrapped(centre: float) -> np.ndarray:
        return (phase - centre + 0.5) % 1.0 - 0.5

    d1 = wrapped(0.18)
    systolic = np.exp(-0.5 * (d1 / np.where(d1 < 0, 0.055, 0.11)) ** 2)
    dicrotic = 0.4 * np.exp(-0.5 * (wrapped(0.52) / 0.08) ** 2)
    return systolic + dicrotic


def ppg_waveform(rng: np.random.Generator, n: int, fs: float, hr_bpm: float, hrv: float) -> tuple[np.ndarray, np.ndarray]:
    """(PPG in 0..~1, instantaneous HR in bpm) for ``n`` samples at ``fs``."""
    t = np.arange(n) / fs
    resp_hz = rng.uniform(0.2, 0.3)
    hr = hr_bpm * (1 + hrv * _smooth_noise(rng, t, 0.01, 0.08) + 0.3 * hrv * np.sin(2 * np.pi * resp_hz * t))
    phase = rng.uniform() + np.concatenate([[0.0], np.cumsum((hr[1:] + hr[:-1]) / 2)]) / (60.0 * fs)
    amplitude = 1 + 0.05 * _smooth_noise(rng, t, 0.05, 0.2)
    baseline = 0.08 * np.sin(2 * np.pi * resp_hz * t + rng.uniform(0, 2 * np.pi))
    return amplitude * _beat(phase % 1.0) + baseline, hr


def _skin_pulse(ppg: np.ndarray, fs: float) -> np.ndarray:
    """The pulse as the face shows it, from the finger PPG: smoother (Gaussian, σ 80 ms), arriving
    100 ms earlier (the face is closer to the heart), zero mean, peak-to-peak 1."""
    t = np.arange(len(ppg)) / fs
    smooth = ndimage.gaussian_filter1d(ppg, FACE_PULSE_SMOOTH_S * fs, mode="nearest")
    pulse = np.interp(t + FACE_PULSE_LEAD_S, t, smooth)
    return (pulse - pulse.mean()) / np.ptp(pulse)


# ----------------------------------------------------------------------------- the face
def _face_layers(rng: np.random.Generator, skin: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RGB colour, skin fraction, alpha) of a frontal face, drawn supersampled then reduced."""
    s = _SUPERSAMPLE
    w, h = WIDTH * s, HEIGHT * s
    cx, cy = WIDTH / 2 + rng.uniform(-8, 8), HEIGHT / 2 + 2 + rng.uniform(-4, 4)
    ax, ay = rng.uniform(26, 30), rng.uniform(35, 39)
    hair = tuple(float(v) for v in rng.uniform(15, 50) * np.array([1.0, 0.8, 0.65]))
    skin_f = tuple(float(v) for v in skin)
    img = np.zeros((h, w, 3), np.float32)
    mask = np.zeros((h, w), np.float32)
    alpha = np.zeros((h, w), np.float32)

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x * s)), int(round(y * s))

    def ellipse(layers, centre, axes, value, start=0, end=360):
        for layer, v in zip(layers, value):
            cv2.ellipse(layer, pt(*centre), pt(*axes), 0, start, end, v, -1)

    for layer, v in zip((img, mask, alpha), (skin_f, 1.0, 1.0)):                           # neck
        cv2.rectangle(layer, pt(cx - 13, cy + 20), pt(cx + 13, HEIGHT + 5), v, -1)
    ellipse((img, alpha), (cx, cy - 8), (ax + 4, ay + 2), (hair, 1.0), 180, 360)           # hair
    ellipse((img, mask, alpha), (cx, cy), (ax, ay), (skin_f, 1.0, 1.0))                    # face
    ellipse((img, mask), (cx, cy - ay + 6), (ax - 2, 9), (hair, 0.0), 180, 360)            # fringe
    for side in (-1, 1):
        ex, ey = cx + side * 11, cy - 7
        ellipse((img, mask), (ex, ey - 7), (8, 2), ((20.0, 15.0, 12.0), 0.0))             # brow
        ellipse((img,), (ex, ey), (7, 3.5), (tuple(0.7 * v for v in skin_f),))            # socket
        ellipse((img,), (ex, ey), (5.5, 2.5), ((235.0, 235.0, 230.0),))                   # sclera
        cv2.circle(img, pt(ex, ey), int(2.3 * s), (50.0, 35.0, 25.0), -1)                 # iris
        ellipse((mask,), (ex, ey), (8, 4.5), (0.0,))
    ellipse((img,), (cx, cy + 9), (5, 2.5), (tuple(0.75 * v for v in skin_f),))          # nose
    for side in (-1, 1):
        cv2.circle(img, pt(cx + side * 2.5, cy + 9), int(1.2 * s), tuple(0.35 * v for v in skin_f), -1)
    ellipse((mask,), (cx, cy + 9), (6, 3), (0.0,))
    ellipse((img, mask), (cx, cy + 20), (10, 3), ((150.0, 60.0, 60.0), 0.0))             # mouth
    ellipse((mask,), (cx, cy + 20), (11, 4), (0.0,))

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - cx * s) / (ax * s)) ** 2 + ((yy - cy * s) / (ay * s)) ** 2
    eye_band = np.exp(-(((yy - (cy - 8) * s) / (5 * s)) ** 2)) * (1 - 0.9 * np.exp(-(((xx - cx * s) / (3 * s)) ** 2)))
    shade = 1.12 - 0.30 * np.clip(r2, 0, 1.2) - 0.22 * eye_band      # rounded face, darker eye band
    img *= np.where(alpha > 0, shade, 1.0)[..., None]

    def blob(x, y, sx, sy):
        return np.exp(-(((xx - x * s) / (sx * s)) ** 2) - (((yy - y * s) / (sy * s)) ** 2))

    sheen = (blob(cx, cy - 22, 9, 5) + blob(cx, cy + 1, 2.5, 6)                         # forehead, nose
             + 0.6 * (blob(cx - 14, cy + 3, 5, 4) + blob(cx + 14, cy + 3, 5, 4)))       # cheekbones
    img += (18.0 * sheen * mask)[..., None]                         # specular sheen: helps dark skin too

    def reduce(a):
        return cv2.resize(a, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)

    premultiplied, mask, alpha = reduce(img), reduce(mask), reduce(alpha)
    # un-premultiply; outside the face take the local average colour, so edges blend cleanly
    spread = cv2.GaussianBlur(premultiplied, (0, 0), 3) / np.maximum(cv2.GaussianBlur(alpha, (0, 0), 3), 1e-3)[..., None]
    covered = (alpha > 0.02)[..., None]
    colour = np.where(covered, premultiplied / np.maximum(alpha, 1e-3)[..., None], spread)
    skin_fraction = np.clip(mask / np.maximum(alpha, 1e-3), 0, 1)
    return colour.astype(np.float32), skin_fraction.astype(np.float32), alpha


def _background(rng: np.random.Generator, colour: tuple[int, int, int]) -> np.ndarray:
    """Static background: a horizontal light gradient plus blurred texture."""
    x = np.linspace(0, 1, WIDTH, dtype=np.float32)
    gradient = (0.8 + 0.4 * (x if rng.uniform() < 0.5 else 1 - x))[None, :, None]
    texture = cv2.GaussianBlur(rng.normal(0, 12, (HEIGHT, WIDTH, 3)).astype(np.float32), (0, 0), 4)
    return np.float32(colour) * gradient + texture


# ----------------------------------------------------------------------------- one video
def _subject_params(rng: np.random.Generator, dom: dict) -> dict:
    tone = int(rng.choice(dom["skin_tones"]))
    return dict(skin_tone=tone, hr_bpm=float(rng.uniform(*dom["hr_bpm"])),
                pulse_grey=float(rng.uniform(*dom["pulse_grey"])), brightness=float(rng.uniform(*dom["brightness"])))


def _motion(rng: np.random.Generator, t: np.ndarray, dom: dict) -> np.ndarray:
    """(dx, dy) face translation in px per frame: slow sway plus vibration, easing in over 1 s."""
    ramp = np.clip(t, 0, 1)
    sway = dom["motion_px"] * np.stack([_smooth_noise(rng, t, 0.05, dom["motion_hz"], 6),
                                        0.6 * _smooth_noise(rng, t, 0.05, dom["motion_hz"], 6)])
    shake = dom["vibration_px"] * np.stack([_smooth_noise(rng, t, 3, 8), _smooth_noise(rng, t, 3, 8)])
    return ramp * (sway + shake)


def _lighting(rng: np.random.Generator, t: np.ndarray, dom: dict, brightness: float) -> np.ndarray:
    """Per-frame, per-column, per-channel light gain (n, W, 3): exposure, drift, tint, shadows."""
    light = brightness * (1 - dom["drift"] * 0.5 * (_smooth_noise(rng, t, 0.02, 0.15) + 1))
    tint = 1 + dom["tint"] * np.stack([_smooth_noise(rng, t, 0.02, 0.1) for _ in range(3)], axis=1)
    gain = (light[:, None] * tint)[:, None, :].repeat(WIDTH, axis=1)
    columns = np.arange(WIDTH)
    for _ in range(dom["shadows"]):  # a dark band sweeping across the frame
        start, dur, strength = rng.uniform(1.5, dom["duration_s"] - 2), rng.uniform(0.8, 2.0), rng.uniform(0.25, 0.45)
        direction = rng.choice([-1, 1])
        u = (t - start) / dur
        centre = np.where(direction > 0, u, 1 - u) * 1.6 * WIDTH - 0.3 * WIDTH
        dip = strength * np.sin(np.pi * np.clip(u, 0, 1))[:, None] * np.exp(-(((columns - centre[:, None]) / 35.0) ** 2))
        gain *= (1 - np.where(((u >= 0) & (u <= 1))[:, None], dip, 0.0))[..., None]
    return gain.astype(np.float32)


def _render(path: Path, rng: np.random.Generator, dom: dict, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write one video; returns (PPG, HR, timestamps) at the frame rate."""
    fs = dom["fs"]
    n = int(round(dom["duration_s"] * fs))
    t = np.arange(n) / fs
    ppg, hr = ppg_waveform(rng, n, fs, params["hr_bpm"], dom["hrv"])
    pulse = _skin_pulse(ppg, fs)

    face, skin, alpha = _face_layers(rng, SKIN_TONES[params["skin_tone"]])
    background = _background(rng, dom["background"])
    green_dc = float(face[..., 1][skin > 0.99].mean())
    depth = np.float32(params["pulse_grey"] / green_dc) * (PULSE_RGB / PULSE_RGB[1]).astype(np.float32)
    pulse_image = face * depth * skin[..., None]                   # darkening per unit of pulse

    # the face moves inside a fixed box; only that box is warped and blended
    margin = int(np.ceil(dom["motion_px"] + dom["vibration_px"])) + 2
    ys, xs = np.nonzero(alpha > 0)
    y0, y1 = max(ys.min() - margin, 0), min(ys.max() + margin + 1, HEIGHT)
    x0, x1 = max(xs.min() - margin, 0), min(xs.max() + margin + 1, WIDTH)
    box = (slice(y0, y1), slice(x0, x1))
    face_box, pulse_box, alpha_box, bg_box = face[box], pulse_image[box], alpha[box], background[box]
    size = (x1 - x0, y1 - y0)

    dx, dy = _motion(rng, t, dom)
    gain = _lighting(rng, t, dom, params["brightness"])

    # sensor noise: random windows of a bank of noise frames, scaled up in dim scenes
    sigma = dom["noise_grey"] / np.sqrt(params["brightness"])
    pad = 8
    bank = rng.standard_normal((24, HEIGHT + pad, WIDTH + pad, 3), dtype=np.float32)
    picks = rng.integers(0, [24, pad, pad], size=(n, 3))

    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fs, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write Motion-JPEG video to {path}")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
    try:
        for i in range(n):
            shift = np.float32([[1, 0, dx[i]], [0, 1, dy[i]]])
            colour = cv2.warpAffine(cv2.scaleAdd(pulse_box, -float(pulse[i]), face_box), shift, size,
                                    borderMode=cv2.BORDER_REPLICATE)
            a = cv2.warpAffine(alpha_box, shift, size, borderMode=cv2.BORDER_CONSTANT)
            frame = background.copy()
            frame[box] = cv2.blendLinear(colour, bg_box, a, 1 - a)
            frame *= gain[i]
            k, oy, ox = picks[i]
            frame = cv2.scaleAdd(bank[k, oy:oy + HEIGHT, ox:ox + WIDTH], float(sigma), frame)
            rgb = cv2.convertScaleAbs(np.clip(frame, 0, 255, out=frame))   # rounds and saturates
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return ppg, hr, t


def _write_domain(folder: Path, name: str, seed: int) -> None:
    dom = DOMAINS[name]
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    folder.mkdir(parents=True)
    subjects = []
    for k in range(1, dom["n_subjects"] + 1):
        params = _subject_params(rng, dom)
        sub = folder / f"subject{k}"
        sub.mkdir()
        ppg, hr, t = _render(sub / "vid.avi", rng, dom, params)
        lines = [" ".join(f"{v:.7e}" for v in row) for row in (ppg, hr, t)]
        (sub / "ground_truth.txt").write_text("\n".join(lines) + "\n")
        subjects.append(dict(subject=f"subject{k}", mean_hr_bpm=round(float(hr.mean()), 3), **params))
    record = dict(generator_version=GENERATOR_VERSION, seed=seed, dataset=name, layout="ubfc-rppg",
                  domain={k: list(v) if isinstance(v, tuple) else v for k, v in dom.items()}, subjects=subjects)
    (folder / MARKER).write_text(json.dumps(record, indent=1) + "\n")


def _write_atomically(out_dir: Path, name: str, seed: int) -> None:
    with atomic_dir(out_dir / name) as tmp:
        _write_domain(tmp, name, seed)
