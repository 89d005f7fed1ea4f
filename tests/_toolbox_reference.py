"""Straightforward numpy ports of rPPG-Toolbox's unsupervised methods, for tests and benchmarks.

Each function takes ONE video's trace ``rgb`` of shape (N, 3) and follows the toolbox's own loop
structure (per-frame loop for POS, per-window loop for CHROM, ``np.linalg`` SVD/QR/solve for
LGI/OMIT/PBV) with no guards and no vectorisation, written independently of the torch code in
``harness.families.rppg.baselines``.  The toolbox's dense detrend is ``signal.detrend_dense``.
Also the synthetic face trace shared by the tests and the benchmark.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import signal as sps

from harness.families.rppg.signal import detrend_dense


def green(rgb: np.ndarray) -> np.ndarray:
    return np.array([frame[1] for frame in rgb], dtype=np.float64)


def pos(rgb: np.ndarray, fs: float, detrend=detrend_dense) -> np.ndarray:
    """Toolbox POS_WANG: for n in 0..N-1, the window is frames [n-l, n) once n ≥ l."""
    rgb = np.asarray(rgb, dtype=np.float64)
    n_frames = rgb.shape[0]
    win = math.ceil(1.6 * fs)
    projection = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])
    acc = np.zeros(n_frames)
    for n in range(n_frames):
        m = n - win
        if m < 0:
            continue
        block = rgb[m:n, :]
        cn = (block / block.mean(axis=0)).T  # (3, win)
        s = projection @ cn
        h = s[0] + (np.std(s[0]) / np.std(s[1])) * s[1]
        h = h - np.mean(h)
        for k in range(win):
            acc[m + k] += h[k]
    acc = detrend(acc, 100)
    b, a = sps.butter(1, [0.75 / fs * 2, 3.0 / fs * 2], btype="bandpass")
    return sps.filtfilt(b, a, acc)


def chrom(rgb: np.ndarray, fs: float) -> np.ndarray:
    """Toolbox CHROME_DEHAAN: returns (N // half) * half samples (shorter than N)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    n_frames = rgb.shape[0]
    nyq = fs / 2
    b, a = sps.butter(3, [0.7 / nyq, 2.5 / nyq], "bandpass")
    win = math.ceil(1.6 * fs)
    if win % 2:
        win += 1
    half = win // 2
    n_win = (n_frames - half) // half
    out = np.zeros(half * (n_win + 1))
    start = 0
    for _ in range(n_win):
        block = rgb[start:start + win]
        base = block.mean(axis=0)
        norm = np.zeros((win, 3))
        for t in range(win):
            norm[t] = block[t] / base
        xs = 3 * norm[:, 0] - 2 * norm[:, 1]
        ys = 1.5 * norm[:, 0] + norm[:, 1] - 1.5 * norm[:, 2]
        xf = sps.filtfilt(b, a, xs)
        yf = sps.filtfilt(b, a, ys)
        sw = (xf - (np.std(xf) / np.std(yf)) * yf) * sps.windows.hann(win)
        out[start:start + half] += sw[:half]
        out[start + half:start + win] = sw[half:]
        start += half
    return out


def lgi(rgb: np.ndarray) -> np.ndarray:
    trace = np.asarray(rgb, dtype=np.float64).T  # (3, N)
    u, _, _ = np.linalg.svd(trace)
    s = u[:, :1]
    return ((np.eye(3) - s @ s.T) @ trace)[1]


def omit(rgb: np.ndarray) -> np.ndarray:
    trace = np.asarray(rgb, dtype=np.float64).T
    q, _ = np.linalg.qr(trace)
    s = q[:, :1]
    return ((np.eye(3) - s @ s.T) @ trace)[1]


def pbv(rgb: np.ndarray) -> np.ndarray:
    trace = np.asarray(rgb, dtype=np.float64).T
    norm = np.stack([trace[c] / np.mean(trace[c]) for c in range(3)])
    sig = np.array([np.std(norm[c]) for c in range(3)])
    sig = sig / math.sqrt(sum(np.var(norm[c]) for c in range(3)))
    w = np.linalg.solve(norm @ norm.T, sig)
    return (norm.T @ w) / (sig @ w)


#: POS-paper pulse direction (relative R, G, B pulsatile strength) and a skin-like DC colour
PULSE_RGB = np.array([0.33, 0.77, 0.53])
SKIN_RGB = np.array([160.0, 110.0, 90.0])


def synthetic_rgb(hr_bpm: float, fs: float = 30.0, seconds: float = 20.0, seed: int = 0,
                  noise: float = 0.3, drift: float = 0.05) -> np.ndarray:
    """(N, 3) mean-RGB trace: skin colour plus a pulse (fundamental and a 0.1 2nd harmonic) along
    ``PULSE_RGB``, both scaled by a slow illumination drift, plus white sensor noise.

    The harmonic is kept small on purpose: the toolbox's POS/CHROM (1.6 s windows, then POS's
    1st-order 0.75 Hz high edge) halve a 50 bpm fundamental relative to its harmonic, so with a
    0.2–0.3 harmonic they report 100 bpm for a 50 bpm trace — faithful behaviour, not a bug."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    phase = 2 * np.pi * hr_bpm / 60.0 * t + rng.uniform(0, 2 * np.pi)
    pulse = np.sin(phase) + 0.1 * np.sin(2 * phase + 0.7)
    light = 1.0 + drift * np.sin(2 * np.pi * 0.05 * t + 1.0) + 0.5 * drift * t / seconds
    clean = light[:, None] * (SKIN_RGB + PULSE_RGB * pulse[:, None])
    return clean + noise * rng.standard_normal(clean.shape)


# ----------------------------------------------------------------------------- face crop
def toolbox_crop_resize(frames: np.ndarray, size: int, coef: float = 1.5, dynamic: bool = False,
                        freq: int = 30, median: bool = False, large_box: bool = True) -> np.ndarray:
    """rPPG-Toolbox's ``crop_face_resize`` with the Haar backend as its reference describes it
    (shared/reference/toolbox_models.md): OpenCV's defaults on the RGB frame, widest face, the box
    grown up-left by (coef-1)/2 and scaled, an int array of boxes, per-frame slice and INTER_AREA."""
    import cv2

    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    count = -(-len(frames) // freq) if dynamic else 1
    boxes = []
    for k in range(count):
        frame = frames[freq * k]
        zones = detector.detectMultiScale(frame[:, :, :3].astype(np.uint8))
        if len(zones) < 1:
            box = [0, 0, frame.shape[0], frame.shape[1]]
        else:
            box = list(zones[np.argmax(zones[:, 2])])
        if large_box:
            box = [max(0, box[0] - (coef - 1.0) / 2 * box[2]), max(0, box[1] - (coef - 1.0) / 2 * box[3]),
                   coef * box[2], coef * box[3]]
        boxes.append(box)
    boxes = np.asarray(boxes, dtype="int")
    out = np.zeros((len(frames), size, size, 3))
    for i in range(len(frames)):
        box = np.median(boxes, axis=0).astype("int") if median else boxes[i // freq if dynamic else 0]
        frame = frames[i]
        frame = frame[max(box[1], 0):min(box[1] + box[3], frame.shape[0]), max(box[0], 0):min(box[0] + box[2], frame.shape[1])]
        out[i] = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return out


def face_video(n_frames: int = 90, fs: float = 30.0, hr_hz: float = 1.2, drift_px: int = 12) -> np.ndarray:
    """(n, 240, 320, 3) uint8 RGB: the astronaut photograph (NASA, public domain: the rPPG sample's
    ``assets/face.png``, its matte over grey, 200×200) on a grey canvas, drifting right by ``drift_px``
    over the video and brightening with a pulse at ``hr_hz``."""
    import cv2

    from harness.families.rppg.synth import ASSETS

    rgba = cv2.cvtColor(cv2.imread(str(ASSETS / "face.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    matte = rgba[:, :, 3:].astype(np.float64) / 255.0
    face = cv2.resize(np.rint(rgba[:, :, :3] * matte + 90 * (1 - matte)).astype(np.uint8), (200, 200),
                      interpolation=cv2.INTER_AREA)
    t = np.arange(n_frames) / fs
    out = np.full((n_frames, 240, 320, 3), 90, dtype=np.uint8)
    for i in range(n_frames):
        dx = int(round(drift_px * i / max(n_frames - 1, 1)))
        gain = 1.0 + 0.02 * np.sin(2 * np.pi * hr_hz * t[i])
        out[i, 20:220, 40 + dx:240 + dx] = np.clip(face * gain, 0, 255).astype(np.uint8)
    return out
