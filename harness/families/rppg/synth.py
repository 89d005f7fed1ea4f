"""The embedded synthetic rPPG sample: face videos with a known pulse, one folder per domain.

Each domain mimics the acquisition conditions of a real dataset, and is written in the EXACT
UBFC-rPPG DATASET_2 layout (``<dataset>/subjectN/vid.avi`` + ``ground_truth.txt``: line 1 PPG at
the frame rate, line 2 instantaneous HR in bpm, line 3 timestamps in s), plus a ``synth.json``
record of the generator version, seed and per-subject parameters at the dataset's root.

**Subjects** come from one real photograph: the NASA portrait of astronaut Eileen Collins (public
domain; ``assets/SOURCE.md``), shipped as a 240×240 head-and-shoulders cut-out with its person matte
and a facial-skin mask. Each subject varies it: mirror flip, face size and position, skin tone
(the skin recoloured towards a Fitzpatrick-like tone), a colour cast; and each video moves it:
slow sway, vibration, small head rotations (roll) and head turns (yaw, drawn as a horizontal
compression about the neck), with the face darkening as it turns away from the light.

**Pulse**: the ground truth is a finger-like PPG (systolic peak, dicrotic notch and wave; heart
rate wandering slowly plus respiratory sinus arrhythmia). Skin pixels are darkened by the face's
version of that pulse (smoother, 100 ms earlier), with the channel weights of the blood-volume-pulse
signature (green strongest), ``pulse_grey`` grey levels peak-to-peak in green at full light. The
written PPG carries its own contact-sensor noise and baseline wander; the HR line is the true rate.

**Recording**: illumination drift, in-band flicker (auto-exposure hunting, LED drivers), colour
tint drift, passing shadows, Gaussian sensor noise rising in the dark, then Motion-JPEG at the
domain's quality (libjpeg-turbo through ``cv2.imencode``, 4:2:0), in an AVI written by :mod:`.avi`.

**Same bytes everywhere**: every per-pixel step runs in float64 (numpy elementwise arithmetic is
correctly rounded on every CPU; OpenCV's float64 warps and resizes differ at most in the last
bits, far from a rounding boundary of the 8-bit output), random draws come from numpy's
``default_rng`` (platform-independent), and libjpeg-turbo's integer DCT gives identical output from
its C and SIMD code. A platform whose JPEG library differs gives a different data fingerprint,
which ``harness regress`` names as such rather than as a numeric drift.

Domains (160×120 px, 20 s; see ``DOMAINS`` for every number):

- ``ubfc-rppg``: indoor, light skin, drift, flicker, sway and turns, HR 60–120 (subjects play a game).
- ``pure``: lab light, low noise, near-lossless frames; the head talks, translates and rotates; HR 55–95.
- ``mmpd``: phone camera: skin tones 3–6 (darker, weaker pulse), low light, LED/incandescent tint
  and flicker, talking/walking motion with turns, heavier compression; 12 subjects.
- ``ibvp``: indoor, head-movement task (larger sway, turns), HR 55–105.
- ``scamps``: synthetic avatars: clean, all skin tones, the widest HR range 48–145.
- ``ubfc-phys``: 35 fps MJPEG camera, stress tasks (HR 65–130), moderate motion.
- ``physdrive``: driving: strong illumination changes, passing shadows, vibration, sway and turns.
- ``buaa-mihr``: steady, but illumination levels from dim to bright (lux), noise rising in the dark.

All 38 videos (~105 MB) take about 25 s of CPU (domains run in parallel threads, one per core).
"""
from __future__ import annotations

import functools
import json
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from ...errors import HarnessError, did_you_mean
from ...files import atomic_dir
from .avi import write_mjpeg_avi

#: written into every generated dataset folder: marks the data as synthetic wherever it is copied
MARKER = "synth.json"
GENERATOR_VERSION = 2
WIDTH, HEIGHT = 160, 120
ASSETS = Path(__file__).resolve().parent / "assets"
#: the Haar face box of ``assets/face.png`` (x, y, side), found once with ``face.detect_face``
ASSET_FACE = (83, 48, 75)

#: Fitzpatrick-like skin tones I–VI as RGB
SKIN_TONES = {1: (222, 182, 154), 2: (210, 162, 128), 3: (190, 140, 105),
              4: (160, 112, 80), 5: (134, 90, 64), 6: (112, 74, 52)}
#: the face's pulse is a smoothed, earlier copy of the finger PPG written as ground truth
FACE_PULSE_SMOOTH_S, FACE_PULSE_LEAD_S = 0.08, 0.10
#: relative pulsatile strength per channel (blood-volume-pulse signature, green strongest)
PULSE_RGB = np.array([0.33, 0.77, 0.53])
#: contact-sensor noise of the written PPG: white noise σ and baseline wander, in units of the beat
GT_NOISE, GT_WANDER = 0.03, 0.15


def _domain(description: str, **conditions) -> dict:
    """A domain's conditions; unspecified ones take these defaults.

    skin_tones: tones drawn from (``SKIN_TONES``); hr_bpm: range of a subject's mean HR;
    hrv: relative depth of the slow HR wander (respiratory sinus arrhythmia adds 30% of it);
    pulse_grey: green peak-to-peak pulse in grey levels; brightness: exposure range (lux);
    face_px: Haar face-box side in pixels; cast: per-channel colour cast (±fraction);
    drift: depth of the slow illumination drift; flicker: depth of in-band (0.7–3 Hz) light
    fluctuation; tint: slow per-channel colour drift; shadows: number sweeping across the frame;
    motion_px / motion_hz: head translation amplitude and top frequency; vibration_px: 3–8 Hz
    shake; roll_deg: head rotation amplitude; turns / turn_deg: head turns per video and their
    peak yaw; noise_grey: sensor noise σ at full brightness; jpeg_quality: Motion-JPEG quality.
    """
    base = dict(n_subjects=3, duration_s=20.0, fs=30.0, skin_tones=(1, 2, 3), hr_bpm=(55, 110), hrv=0.05,
                pulse_grey=(0.8, 1.4), brightness=(0.9, 1.0), face_px=(50, 62), cast=0.04, drift=0.02,
                flicker=0.0, tint=0.0, shadows=0, motion_px=1.0, motion_hz=0.4, vibration_px=0.0, roll_deg=1.5,
                turns=0, turn_deg=20.0, noise_grey=1.5, jpeg_quality=92, background=(120, 125, 130))
    unknown = sorted(set(conditions) - set(base))
    if unknown:
        raise TypeError(f"unknown domain condition(s) {unknown}")
    return dict(base, description=description, **conditions)


DOMAINS: dict[str, dict] = {
    "ubfc-rppg": _domain("indoor webcam, light skin, mild drift and sway; HR raised by a game",
                         hr_bpm=(60, 120), pulse_grey=(0.8, 1.4), brightness=(0.75, 1.0), drift=0.04, flicker=0.006,
                         motion_px=2.0, motion_hz=1.0, roll_deg=2.5, turns=2, turn_deg=20.0, jpeg_quality=90,
                         background=(150, 140, 125)),
    "pure": _domain("lab recording, constant light, low noise; the head talks, translates and rotates",
                    skin_tones=(1, 2), hr_bpm=(55, 95), hrv=0.03, pulse_grey=(1.0, 1.6), brightness=(0.95, 1.0),
                    drift=0.01, flicker=0.0015, motion_px=2.0, motion_hz=1.0, roll_deg=3.0, turns=2, turn_deg=20.0,
                    noise_grey=1.0, jpeg_quality=97, background=(120, 130, 140)),
    "mmpd": _domain("phone camera: skin tones 3-6 (weaker pulse), low light, LED/incandescent tint and "
                    "flicker, talking/walking motion", n_subjects=12, skin_tones=(3, 4, 5, 6), hr_bpm=(60, 130),
                    hrv=0.06, pulse_grey=(0.6, 1.1), brightness=(0.55, 0.8), face_px=(48, 60), cast=0.08,
                    drift=0.06, flicker=0.006, tint=0.04, motion_px=2.5, motion_hz=1.2, roll_deg=3.0,
                    turns=2, turn_deg=25.0, noise_grey=2.5, jpeg_quality=85, background=(130, 125, 115)),
    "ibvp": _domain("indoor, head-movement task", skin_tones=(1, 2, 3, 4), hr_bpm=(55, 105),
                    motion_px=2.5, motion_hz=0.5, roll_deg=3.0, turns=2, turn_deg=25.0, background=(110, 115, 120)),
    "scamps": _domain("rendered avatars: clean, every skin tone, the widest HR range",
                      skin_tones=(1, 2, 3, 4, 5, 6), hr_bpm=(48, 145), hrv=0.08, pulse_grey=(1.0, 2.0),
                      brightness=(0.95, 1.0), cast=0.0, drift=0.0, roll_deg=0.5, noise_grey=0.5, jpeg_quality=97,
                      background=(100, 110, 120)),
    "ubfc-phys": _domain("35 fps MJPEG camera, stress tasks", fs=35.0, hr_bpm=(65, 130), hrv=0.06,
                         brightness=(0.85, 1.0), flicker=0.003, motion_px=2.0, motion_hz=0.5, turns=1,
                         noise_grey=2.0, jpeg_quality=88, background=(140, 140, 135)),
    "physdrive": _domain("driving: strong light changes, passing shadows, road sway and vibration",
                         n_subjects=8, skin_tones=(1, 2, 3, 4, 5), hr_bpm=(60, 110), pulse_grey=(0.5, 1.0),
                         brightness=(0.5, 0.9), cast=0.08, drift=0.25, flicker=0.015, tint=0.06, shadows=4,
                         motion_px=3.5, motion_hz=1.5, vibration_px=0.8, roll_deg=3.0, turns=3, turn_deg=30.0,
                         noise_grey=3.0, jpeg_quality=85, background=(90, 90, 95)),
    "buaa-mihr": _domain("steady, illumination from dim to bright (lux levels): more noise in the dark",
                         hr_bpm=(55, 95), hrv=0.04, pulse_grey=(1.0, 1.5), brightness=(0.45, 1.0), drift=0.01,
                         motion_px=0.5, motion_hz=0.3, roll_deg=0.5, noise_grey=1.2, background=(125, 125, 130)),
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
    photo()  # a missing asset fails here, before any folder is made
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = min(len(names), os.cpu_count() or 1)
    if workers > 1:  # OpenCV and numpy release the GIL for most of the per-frame work
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda name: _write_atomically(out_dir, name, seed), names))
    else:
        for name in names:
            _write_atomically(out_dir, name, seed)
    return out_dir


@functools.lru_cache(maxsize=1)
def photo() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face asset as float64: (RGB 0–255, person matte 0–1, facial skin 0–1), read-only."""
    face_path, skin_path = ASSETS / "face.png", ASSETS / "skin.png"
    rgba = cv2.imread(str(face_path), cv2.IMREAD_UNCHANGED)
    if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise HarnessError("the rPPG sample's face image is missing or not RGBA (reinstall harness)", face_path)
    skin = cv2.imread(str(skin_path), cv2.IMREAD_GRAYSCALE)
    if skin is None or skin.shape != rgba.shape[:2]:
        raise HarnessError("the rPPG sample's skin mask is missing or does not match face.png", skin_path)
    layers = (rgba[..., 2::-1].astype(np.float64), rgba[..., 3] / 255.0, skin / 255.0)
    for layer in layers:
        layer.flags.writeable = False
    return layers


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


def _sensor_ppg(rng: np.random.Generator, ppg: np.ndarray, fs: float) -> np.ndarray:
    """The PPG as a contact sensor records it: plus white noise and a slow baseline wander."""
    t = np.arange(len(ppg)) / fs
    return ppg + GT_WANDER * _smooth_noise(rng, t, 0.02, 0.15) + rng.normal(0.0, GT_NOISE, len(ppg))


def _skin_pulse(ppg: np.ndarray, fs: float) -> np.ndarray:
    """The pulse as the face shows it, from the clean finger PPG: smoother (Gaussian, σ 80 ms),
    arriving 100 ms earlier (the face is closer to the heart), zero mean, peak-to-peak 1."""
    t = np.arange(len(ppg)) / fs
    smooth = ndimage.gaussian_filter1d(ppg, FACE_PULSE_SMOOTH_S * fs, mode="nearest")
    pulse = np.interp(t + FACE_PULSE_LEAD_S, t, smooth)
    return (pulse - pulse.mean()) / np.ptp(pulse)


# ----------------------------------------------------------------------------- the subject
def _subject_params(rng: np.random.Generator, dom: dict) -> dict:
    return dict(skin_tone=int(rng.choice(dom["skin_tones"])), hr_bpm=float(rng.uniform(*dom["hr_bpm"])),
                pulse_grey=float(rng.uniform(*dom["pulse_grey"])), brightness=float(rng.uniform(*dom["brightness"])),
                flip=bool(rng.integers(2)), face_px=float(rng.uniform(*dom["face_px"])),
                face_xy=[float(WIDTH / 2 + rng.uniform(-10, 10)), float(HEIGHT / 2 - 4 + rng.uniform(-4, 4))],
                cast=[float(v) for v in 1 + dom["cast"] * rng.uniform(-1, 1, 3)])


def _subject_layers(params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    """(RGB, matte, skin) of one subject at its size, and where its face centre lies in them.

    The photograph, mirrored if drawn so, its face recoloured towards the subject's tone (a soft
    mask: skin with the holes of eyes and mouth closed, blurred, so the hairline blends), scaled by area averaging so the Haar face box has
    ``face_px`` pixels a side.
    """
    rgb, matte, skin = photo()
    x, y, side = ASSET_FACE
    centre = (x + side / 2, y + side / 2)
    if params["flip"]:
        rgb, matte, skin = rgb[:, ::-1], matte[:, ::-1], skin[:, ::-1]
        centre = (rgb.shape[1] - centre[0], centre[1])
    # the whole face takes the tone (eyes, brows and lips included), so its features keep their contrast
    region = cv2.morphologyEx((skin > 0.5).astype(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (21, 21)))
    weight = cv2.GaussianBlur(region.astype(np.float64), (0, 0), 2.0)
    photo_tone = (rgb * skin[..., None]).sum((0, 1)) / skin.sum()
    ratio = np.asarray(SKIN_TONES[params["skin_tone"]], np.float64) / photo_tone
    rgb = rgb * (1 + weight[..., None] * (ratio - 1))
    scale = params["face_px"] / side
    size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))

    def resized(a: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(a), size, interpolation=cv2.INTER_AREA)

    return resized(rgb), resized(matte), resized(skin), (centre[0] * size[0] / rgb.shape[1], centre[1] * size[1] / rgb.shape[0])


def _background(rng: np.random.Generator, colour: tuple[int, int, int]) -> np.ndarray:
    """Static background: a horizontal light gradient plus blurred texture."""
    x = np.linspace(0, 1, WIDTH)
    gradient = (0.8 + 0.4 * (x if rng.uniform() < 0.5 else 1 - x))[None, :, None]
    texture = cv2.GaussianBlur(rng.normal(0, 12, (HEIGHT, WIDTH, 3)), (0, 0), 4)
    return np.asarray(colour, np.float64) * gradient + texture


# ----------------------------------------------------------------------------- one video
def _pose(rng: np.random.Generator, t: np.ndarray, dom: dict) -> dict[str, np.ndarray]:
    """Per-frame head pose: translation dx, dy (px), roll and yaw (radians); easing in over 1 s."""
    ramp = np.clip(t, 0, 1)
    top = dom["motion_hz"]
    dx = dom["motion_px"] * _smooth_noise(rng, t, 0.05, top, 6) + dom["vibration_px"] * _smooth_noise(rng, t, 3, 8)
    dy = 0.6 * dom["motion_px"] * _smooth_noise(rng, t, 0.05, top, 6) + dom["vibration_px"] * _smooth_noise(rng, t, 3, 8)
    roll = np.radians(dom["roll_deg"]) * _smooth_noise(rng, t, 0.05, top, 4)
    yaw = np.zeros_like(t)
    for _ in range(dom["turns"]):  # turn away and back: sin² bump over 2-4 s, after the first 2 s
        start, dur = rng.uniform(2.0, dom["duration_s"] - 4.0), rng.uniform(2.0, 4.0)
        u = np.clip((t - start) / dur, 0, 1)
        yaw += np.radians(dom["turn_deg"]) * rng.uniform(0.5, 1.0) * rng.choice([-1, 1]) * np.sin(np.pi * u) ** 2
    return dict(dx=ramp * dx, dy=ramp * dy, roll=ramp * roll, yaw=yaw)


def _lighting(rng: np.random.Generator, t: np.ndarray, dom: dict, params: dict) -> np.ndarray:
    """Per-frame, per-column, per-channel light gain (n, W, 3): exposure, drift, flicker, colour
    cast and tint, shadows."""
    light = params["brightness"] * (1 - dom["drift"] * 0.5 * (_smooth_noise(rng, t, 0.02, 0.15) + 1))
    light = light * (1 + dom["flicker"] * _smooth_noise(rng, t, 0.7, 3.0, 6))
    tint = 1 + dom["tint"] * np.stack([_smooth_noise(rng, t, 0.02, 0.1) for _ in range(3)], axis=1)
    gain = (light[:, None] * tint * np.asarray(params["cast"]))[:, None, :].repeat(WIDTH, axis=1)
    columns = np.arange(WIDTH)
    for _ in range(dom["shadows"]):  # a dark band sweeping across the frame
        start, dur, strength = rng.uniform(1.5, dom["duration_s"] - 2), rng.uniform(0.8, 2.0), rng.uniform(0.25, 0.45)
        direction = rng.choice([-1, 1])
        u = (t - start) / dur
        centre = np.where(direction > 0, u, 1 - u) * 1.6 * WIDTH - 0.3 * WIDTH
        dip = strength * np.sin(np.pi * np.clip(u, 0, 1))[:, None] * np.exp(-(((columns - centre[:, None]) / 35.0) ** 2))
        gain *= (1 - np.where(((u >= 0) & (u <= 1))[:, None], dip, 0.0))[..., None]
    return gain


def _affine(pose: dict[str, np.ndarray], i: int, anchor: tuple[float, float], target: list[float], face_px: float) -> np.ndarray:
    """2×3 map from the subject's layers to the frame: yaw (horizontal compression, the face
    shifting about the neck), roll, then the face centre ``anchor`` to ``target`` plus the sway."""
    yaw, roll = pose["yaw"][i], pose["roll"][i]
    c, s = np.cos(roll), np.sin(roll)
    linear = np.array([[c, -s], [s, c]]) @ np.diag([np.cos(yaw), 1.0])
    where = np.array([target[0] + pose["dx"][i] + 0.4 * face_px * np.sin(yaw), target[1] + pose["dy"][i]])
    return np.hstack([linear, (where - linear @ np.asarray(anchor))[:, None]])


def _render(path: Path, rng: np.random.Generator, dom: dict, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write one video; returns (recorded PPG, HR, timestamps) at the frame rate."""
    fs = dom["fs"]
    n = int(round(dom["duration_s"] * fs))
    t = np.arange(n) / fs
    ppg, hr = ppg_waveform(rng, n, fs, params["hr_bpm"], dom["hrv"])
    pulse = _skin_pulse(ppg, fs)

    colour, matte, skin, anchor = _subject_layers(params)
    background = _background(rng, dom["background"])
    green_dc = float((colour[..., 1] * skin).sum() / skin.sum())
    depth = params["pulse_grey"] / green_dc * PULSE_RGB / PULSE_RGB[1]
    face = np.dstack([colour * matte[..., None], matte])              # premultiplied RGB + matte
    pulse_image = np.dstack([colour * depth * (skin * matte)[..., None], np.zeros_like(matte)])

    pose = _pose(rng, t, dom)
    shade = 1 - 0.25 * np.abs(np.sin(pose["yaw"]))                  # turning away from the light
    gain = _lighting(rng, t, dom, params)

    # sensor noise: random windows of a bank of noise frames, scaled up in dim scenes
    sigma = dom["noise_grey"] / np.sqrt(params["brightness"])
    pad = 8
    bank = rng.standard_normal((24, HEIGHT + pad, WIDTH + pad, 3))
    picks = rng.integers(0, [24, pad, pad], size=(n, 3))
    encode = [cv2.IMWRITE_JPEG_QUALITY, dom["jpeg_quality"],
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
    jpegs, pulsing, frame, bgr = [], np.empty_like(face), np.empty((HEIGHT, WIDTH, 3)), np.empty((HEIGHT, WIDTH, 3), np.uint8)
    for i in range(n):                       # in-place numpy arithmetic: same result, fewer allocations
        np.subtract(face, np.multiply(pulse_image, pulse[i], out=pulsing), out=pulsing)
        layer = cv2.warpAffine(pulsing, _affine(pose, i, anchor, params["face_xy"], params["face_px"]),
                               (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        np.multiply(background, 1 - layer[..., 3:], out=frame)
        frame += shade[i] * layer[..., :3]
        frame *= gain[i]
        k, oy, ox = picks[i]
        frame += sigma * bank[k, oy:oy + HEIGHT, ox:ox + WIDTH]
        np.clip(np.rint(frame, out=frame), 0, 255, out=frame)
        bgr[...] = frame[..., ::-1]
        ok, jpeg = cv2.imencode(".jpg", bgr, encode)
        if not ok:
            raise RuntimeError(f"OpenCV cannot encode a JPEG frame for {path}")
        jpegs.append(jpeg.tobytes())
    write_mjpeg_avi(path, jpegs, fs, WIDTH, HEIGHT)
    return _sensor_ppg(rng, ppg, fs), hr, t


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
                  source_photo="assets/SOURCE.md",
                  domain={k: list(v) if isinstance(v, tuple) else v for k, v in dom.items()}, subjects=subjects)
    (folder / MARKER).write_text(json.dumps(record, indent=1) + "\n")


def _write_atomically(out_dir: Path, name: str, seed: int) -> None:
    with atomic_dir(out_dir / name) as tmp:
        _write_domain(tmp, name, seed)
