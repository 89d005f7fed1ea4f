"""The embedded synthetic deception sample, written in the ORGANIZERS' format (SVC 2025 pickles).

``write_organizer_pickles(out, seed)`` writes::

    out/<dataset>/features/<store>.pkl     pickle (protocol 4) of a list of clip dicts: video_x,
                                           OpenFace_x, x_affect, audio_x, audio_wave (numpy arrays),
                                           DD_label (int, truth=1), videoname (str)
    out/dolos/Training_Protocols/*.csv     DOLOS protocols: header file_name,label,gender; DOLOS's own
                                           labels 'truth'/'deception'
    out/<dataset>/synth.json, out/synth.json   generator version, seed, counts, cues ("synthetic")

These pickles are what the organizers distribute, so the harness converts them through the same safe
path as real ones. Stores (clips): rlt/all 40, bol/all 40, box/all 40 (60% lie), mu3d/all 40,
dolos/train 60 + dolos/test 60 (40 subjects x 3 clips), mdpe/balanced 30 + unbalanced-part1/-part2
30 each (80% lie), svc2025-final/test 40 with K=2 sub-clips (leading dim on every modality array)
and DOLOS-style videonames holding ``_lie``/``_truth`` — the real test set's label leak.

One clip (no sub-clips): video_x (8, 32, 32, 3) uint8; OpenFace_x (64, 43) float32 = 17 AU
intensities, 18 AU presences, 8 gaze values (OpenFace's order); x_affect (64, 7) float32 = 5
emotion probabilities, valence, arousal; audio_x (32, 32, 3) uint8 mel image computed from the
wave; audio_wave float32 at 16 kHz, 0.4–1.2 s (DOLOS spread over the whole range, so long/short
means something; the others short to keep the sample small).

Cues (:data:`CUES`), weak but learnable: lies raise AU04/AU07/AU14/AU45 intensity by 0.35 frame-sd,
lower valence and raise arousal by 0.25 sd, add pitch jitter and 1.5–3 kHz band energy (visible in
the mel image). Faces carry no label cue. Domain shift per dataset (:data:`CONDITIONS`): AU
baseline offsets and speaker spread, affect offsets, wave gain and noise floor, mel brightness and
noise, face tint, class balance. Deterministic for a seed: identical bytes on every run.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from ...files import atomic_dir
from .data import FEATURES_DIR, PROTOCOL_DIR, PROTOCOL_SPLITS

#: written into every generated folder: marks the data as synthetic wherever it is copied
MARKER = "synth.json"
GENERATOR_VERSION = 1

SR = 16000
FACE_FRAMES, FACE_SIZE = 8, 32
AU_FRAMES = 64
MEL_SIZE = 32
N_FFT = 512
AU_NAMES = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15",
            "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")
N_AU = len(AU_NAMES)                  # intensities; then 18 presences (+AU28), then 8 gaze values
EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear")

CUES = {
    "au_channels": ["AU04", "AU07", "AU14", "AU45"],
    "au_shift_sd": 0.35,               # lie - truth, in units of the frame-level sd
    "valence_shift_sd": -0.25,
    "arousal_shift_sd": 0.25,
    "pitch_jitter": {"truth": 0.015, "lie": 0.05},     # relative f0 wobble
    "band_hz": [1500, 3000],
    "band_level": {"truth": 0.03, "lie": 0.046},        # rms of the band noise before gain
    "faces": "no label cue (dataset tint, speaker texture)",
}
_LIE_AU = [AU_NAMES.index(a) for a in CUES["au_channels"]]
_CLIP_LEVEL_SD = 0.35                 # per-clip lognormal spread of the band level


def _condition(description: str, **kw) -> dict:
    """A dataset's recording condition; unspecified ones take these defaults.

    au_offset_sd: spread of the dataset's AU baseline offsets; speaker_sd: speaker AU offsets;
    affect_offset: (valence, arousal) shift; wave_gain / wave_noise: loudness and noise floor;
    mel_brightness / mel_noise: image offset and noise (0-1 scale); tint: face colour (RGB 0-1);
    f0: speaker pitch range (Hz); duration: clip length range (s); per_speaker: clips per speaker."""
    base = {"au_offset_sd": 0.15, "speaker_sd": 0.3, "affect_offset": (0.0, 0.0), "wave_gain": 1.0,
            "wave_noise": 0.004, "mel_brightness": 0.0, "mel_noise": 0.02, "tint": (0.8, 0.6, 0.5),
            "f0": (90.0, 220.0), "duration": (0.4, 0.5), "per_speaker": 4}
    unknown = sorted(set(kw) - set(base))
    if unknown:
        raise TypeError(f"unknown condition(s) {unknown}")
    return {**base, "description": description, **kw}


CONDITIONS: dict[str, dict] = {
    "rlt": _condition("courtroom video: loud, reverberant-noisy audio, warm tint", wave_gain=1.4, wave_noise=0.01,
                      mel_brightness=0.04, tint=(0.85, 0.6, 0.45), speaker_sd=0.35),
    "bol": _condition("lab recordings: quiet, dim, bluish", wave_gain=0.6, wave_noise=0.002, mel_brightness=-0.05,
                      tint=(0.55, 0.6, 0.75), affect_offset=(0.1, -0.1)),
    "box": _condition("TV game show: bright, music bed, saturated", wave_gain=1.2, wave_noise=0.008,
                      mel_noise=0.04, tint=(0.9, 0.7, 0.6), affect_offset=(0.2, 0.15), per_speaker=5),
    "mu3d": _condition("studio clips: clean audio, neutral grey", wave_gain=0.9, wave_noise=0.001,
                       tint=(0.6, 0.6, 0.6), affect_offset=(-0.1, -0.05), speaker_sd=0.25),
    "dolos": _condition("Would I Lie To You: studio audience, warm light, 0.4-1.2 s", wave_gain=1.1,
                        wave_noise=0.006, mel_brightness=0.02, tint=(0.8, 0.55, 0.55), affect_offset=(0.15, 0.1),
                        duration=(0.4, 1.2), per_speaker=3),
    "mdpe": _condition("interviews: webcam audio, greenish", wave_gain=0.8, wave_noise=0.005, mel_noise=0.03,
                       tint=(0.6, 0.7, 0.55), affect_offset=(-0.05, 0.05), per_speaker=6),
    "svc2025-final": _condition("challenge test set: DOLOS-like show clips, K=2 sub-clips", wave_gain=1.0,
                                wave_noise=0.007, tint=(0.75, 0.6, 0.6), affect_offset=(0.1, 0.05),
                                per_speaker=2),
}

#: dataset -> store -> (clips, lie fraction, sub-clips K)
STORES: dict[str, dict[str, tuple[int, float, int]]] = {
    "rlt": {"all": (40, 0.5, 1)},
    "bol": {"all": (40, 0.5, 1)},
    "box": {"all": (40, 0.6, 1)},
    "mu3d": {"all": (40, 0.5, 1)},
    "dolos": {"train": (60, 0.5, 1), "test": (60, 0.5, 1)},
    "mdpe": {"balanced": (30, 0.5, 1), "unbalanced-part1": (30, 0.8, 1), "unbalanced-part2": (30, 0.8, 1)},
    "svc2025-final": {"test": (40, 0.5, 2)},
}
DOLOS_FOLDS = 3


# ----------------------------------------------------------------------------- public API
def write_organizer_pickles(out: Path, seed: int = 0) -> dict:
    """Write the sample under ``out`` (layout in the module docstring); return the manifest.

    Each ``out/<dataset>`` folder is replaced atomically; ``out/synth.json`` is written last."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    datasets = {}
    protocols: dict[str, int] = {}
    for d_index, dataset in enumerate(STORES):
        rng = np.random.default_rng([seed, d_index])
        clips_by_store = _dataset_clips(dataset, rng)
        summary = {"condition": CONDITIONS[dataset], "stores": {}}
        with atomic_dir(out / dataset) as tmp:
            (tmp / FEATURES_DIR).mkdir(parents=True)
            for store, clips in clips_by_store.items():
                with open(tmp / FEATURES_DIR / f"{store}.pkl", "wb") as fh:
                    pickle.dump([c["pickle"] for c in clips], fh, protocol=4)
                labels = [c["pickle"]["DD_label"] for c in clips]
                summary["stores"][store] = {"file": f"{dataset}/{FEATURES_DIR}/{store}.pkl", "clips": len(clips),
                                            "truth": sum(labels), "lie": len(labels) - sum(labels),
                                            "sub_clips": STORES[dataset][store][2]}
            if dataset == "dolos":
                pool = [c for clips in clips_by_store.values() for c in clips]
                protocols = _write_protocols(tmp / PROTOCOL_DIR, pool, rng)
            _write_json(tmp / MARKER, {"generator_version": GENERATOR_VERSION, "seed": seed, "dataset": dataset,
                                       "note": "synthetic sample, not real data", **summary})
        datasets[dataset] = summary
    manifest = {
        "generator_version": GENERATOR_VERSION, "seed": seed,
        "note": "synthetic sample in the SVC 2025 organizers' pickle format; NOT real data",
        "label_convention": "DD_label truth=1, lie=0; DOLOS protocol CSVs use DOLOS's words truth/deception",
        "shapes": {"video_x": [FACE_FRAMES, FACE_SIZE, FACE_SIZE, 3], "OpenFace_x": [AU_FRAMES, 43],
                   "x_affect": [AU_FRAMES, 7], "audio_x": [MEL_SIZE, MEL_SIZE, 3], "audio_wave": ["L (16 kHz)"],
                   "sub_clips": "svc2025-final: leading K=2 on every modality array"},
        "cues": CUES, "datasets": datasets, "protocols": protocols,
    }
    _write_json(out / MARKER, manifest)
    return manifest


# ----------------------------------------------------------------------------- clips
def _dataset_clips(dataset: str, rng: np.random.Generator) -> dict[str, list[dict]]:
    """store -> clips ({"pickle": organizer dict, "subject", "gender", "duration"})."""
    cond = CONDITIONS[dataset]
    offsets = {"au": rng.normal(0.0, cond["au_offset_sd"], 43)}
    subject = 0
    out = {}
    for store, (n, lie_fraction, k) in STORES[dataset].items():
        n_lie = round(n * lie_fraction)
        labels = rng.permutation(np.r_[np.zeros(n_lie, int), np.ones(n - n_lie, int)])
        speakers, counts, clips = {}, {}, []
        for i, label in enumerate(labels):
            s = subject + i // cond["per_speaker"]
            if s not in speakers:
                speakers[s] = _speaker(cond, rng)
            duration = float(rng.uniform(*cond["duration"]))
            subs = [_clip(cond, offsets, speakers[s], int(label), duration, rng) for _ in range(k)]
            arrays = subs[0] if k == 1 else {key: np.stack([sub[key] for sub in subs]) for key in subs[0]}
            counts[(s, label)] = counts.get((s, label), 0) + 1
            name = _videoname(dataset, s, int(label), counts[(s, label)], i)
            clips.append({"pickle": {**arrays, "DD_label": int(label), "videoname": name},
                          "subject": s, "gender": speakers[s]["gender"], "duration": duration})
        subject += -(-n // cond["per_speaker"])
        out[store] = clips
    return out


def _videoname(dataset: str, subject: int, label: int, k: int, index: int) -> str:
    word = "truth" if label == 1 else "lie"
    if dataset == "rlt":
        return f"trial_{word}_{index + 1:03d}"
    if dataset in ("dolos", "svc2025-final"):        # DOLOS style: XX_WILTY_EPn_{lie|truth}k (the leak)
        s = subject + (0 if dataset == "dolos" else 200)
        code = chr(65 + s // 26 % 26) + chr(65 + s % 26)
        return f"{code}_WILTY_EP{1 + s % 12}_{word}{k}"
    return f"{dataset}_s{subject:03d}_c{index:03d}"


def _speaker(cond: dict, rng: np.random.Generator) -> dict:
    return {"au": rng.normal(0.0, cond["speaker_sd"], 43),
            "affect": rng.normal(0.0, 0.1, 2),
            "emotion": rng.normal(0.0, 0.5, len(EMOTIONS)),
            "gaze": rng.normal(0.0, 0.15, 8),
            "f0": float(rng.uniform(*cond["f0"])),
            "loudness": float(np.exp(rng.normal(0.0, 0.15))),
            "texture": rng.uniform(-0.12, 0.12, (4, 4, 3)),
            "gender": ("male", "female")[int(rng.integers(2))]}


def _ar1(rng: np.random.Generator, shape: tuple[int, int], rho: float = 0.5) -> np.ndarray:
    """Unit-variance AR(1) noise along axis 0 (stationary from the first frame)."""
    from scipy.signal import lfilter

    c = np.sqrt(1 - rho * rho)
    e = rng.normal(size=shape)
    e[0] /= c
    return lfilter([c], [1.0, -rho], e, axis=0)


def _clip(cond: dict, offsets: dict, spk: dict, label: int, duration: float, rng: np.random.Generator) -> dict:
    lie = label == 0
    # OpenFace: 17 AU intensities (mean 1, frame sd 0.5), 18 presences, 8 gaze
    z = _ar1(rng, (AU_FRAMES, N_AU)) + offsets["au"][:N_AU] + spk["au"][:N_AU]
    if lie:
        z[:, _LIE_AU] += CUES["au_shift_sd"]
    intensity = np.clip(1.0 + 0.5 * z, 0.0, 5.0)
    presence = np.concatenate([(intensity + rng.normal(0, 0.2, intensity.shape) > 1.25),
                               rng.random((AU_FRAMES, 1)) < 0.1], axis=1)
    gaze = spk["gaze"] + offsets["au"][35:] * 0.2 + rng.normal(0.0, 0.05, (AU_FRAMES, 8))
    openface = np.concatenate([intensity, presence, gaze], axis=1).astype(np.float32)
    # affect: 5 emotion probabilities, valence, arousal (frame sd 0.3)
    logits = spk["emotion"] + 0.6 * _ar1(rng, (AU_FRAMES, len(EMOTIONS)))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    va = _ar1(rng, (AU_FRAMES, 2)) + (np.array([CUES["valence_shift_sd"], CUES["arousal_shift_sd"]]) if lie else 0.0)
    va = np.clip(np.array(cond["affect_offset"]) + spk["affect"] + 0.3 * va, -1.0, 1.0)
    affect = np.concatenate([probs, va], axis=1).astype(np.float32)
    wave = _wave(cond, spk, lie, duration, rng)
    return {"video_x": _faces(cond, spk, rng), "OpenFace_x": openface, "x_affect": affect,
            "audio_x": _mel_image(wave, cond, rng), "audio_wave": wave}


def _faces(cond: dict, spk: dict, rng: np.random.Generator) -> np.ndarray:
    """Tinted face ellipse with the speaker's texture on a darker background; no label cue."""
    import cv2

    yy, xx = np.mgrid[0:FACE_SIZE, 0:FACE_SIZE] / (FACE_SIZE - 1) * 2 - 1
    face = ((xx / 0.6) ** 2 + (yy / 0.8) ** 2 <= 1.0)[..., None]
    texture = cv2.resize(spk["texture"], (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_LINEAR)
    tint = np.array(cond["tint"])
    image = np.where(face, tint + texture, 0.35 * tint)
    gain = 1.0 + rng.normal(0.0, 0.04, (FACE_FRAMES, 1, 1, 1))
    frames = image[None] * gain + rng.normal(0.0, 0.02, (FACE_FRAMES, FACE_SIZE, FACE_SIZE, 3))
    return np.clip(np.round(frames * 255), 0, 255).astype(np.uint8)


def _wave(cond: dict, spk: dict, lie: bool, duration: float, rng: np.random.Generator) -> np.ndarray:
    """A voiced tone with pitch jitter, syllable envelope, 1.5-3 kHz band noise and a noise floor."""
    n = round(duration * SR)
    t = np.arange(n) / SR
    knots = rng.normal(size=int(duration * 50) + 2)          # jitter track at 50 Hz
    wobble = np.interp(t, np.linspace(0, duration, knots.size), knots)
    jitter = CUES["pitch_jitter"]["lie" if lie else "truth"]
    phase = 2 * np.pi * np.cumsum(spk["f0"] * (1 + jitter * wobble)) / SR
    s1, c2 = np.sin(phase), 2 * np.cos(phase)
    harmonics = [np.zeros(n), s1]                             # sin(h x) = 2 cos(x) sin((h-1) x) - sin((h-2) x)
    for _ in range(5):
        harmonics.append(c2 * harmonics[-1] - harmonics[-2])
    voice = sum(0.5 / h * harmonics[h] for h in range(1, 7))
    voice *= 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi))
    m = 1 << (n - 1).bit_length()                             # a fast FFT length; cut back to n
    spectrum = np.fft.rfft(rng.normal(size=m))
    freqs = np.fft.rfftfreq(m, 1 / SR)
    spectrum[(freqs < CUES["band_hz"][0]) | (freqs > CUES["band_hz"][1])] = 0
    band = np.fft.irfft(spectrum, m)[:n]
    band *= CUES["band_level"]["lie" if lie else "truth"] * np.exp(rng.normal(0, _CLIP_LEVEL_SD)) / band.std()
    wave = cond["wave_gain"] * spk["loudness"] * (0.3 * voice + band) + rng.normal(0, cond["wave_noise"], n)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def _mel_filterbank() -> np.ndarray:
    """(MEL_SIZE, N_FFT//2+1) triangular HTK-mel filters over 0-8 kHz."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)
    edges = hz(np.linspace(mel(0), mel(SR / 2), MEL_SIZE + 2))
    freqs = np.fft.rfftfreq(N_FFT, 1 / SR)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))


_MEL_FB = _mel_filterbank()
_DB_RANGE = (-40.0, 40.0)


def _mel_image(wave: np.ndarray, cond: dict, rng: np.random.Generator) -> np.ndarray:
    """(MEL_SIZE, MEL_SIZE, 3) uint8: rows = mel bands (high at top), columns = time, 3-channel colour map."""
    starts = np.linspace(0, max(wave.size - N_FFT, 0), MEL_SIZE).astype(int)
    padded = np.pad(wave.astype(np.float64), (0, max(0, N_FFT - wave.size)))
    frames = padded[starts[:, None] + np.arange(N_FFT)] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 @ _MEL_FB.T          # (time, mel)
    db = 10 * np.log10(power + 1e-10)
    v = (db - _DB_RANGE[0]) / (_DB_RANGE[1] - _DB_RANGE[0])
    v = v.T[::-1] + cond["mel_brightness"] + rng.normal(0, cond["mel_noise"], (MEL_SIZE, MEL_SIZE))
    v = np.clip(v, 0.0, 1.0)
    return np.round(np.stack([v, v ** 2, np.sqrt(v)], axis=-1) * 255).astype(np.uint8)


# ----------------------------------------------------------------------------- DOLOS protocols
def _write_protocols(folder: Path, pool: list[dict], rng: np.random.Generator) -> dict[str, int]:
    """DOLOS Training_Protocols CSVs over the pool: 3 subject-disjoint folds, long/short by duration
    (above / at-or-below the median), male/female by the subject's gender."""
    folder.mkdir(parents=True)
    subjects = sorted({c["subject"] for c in pool})
    groups = np.array_split(rng.permutation(subjects), DOLOS_FOLDS)
    median = float(np.median([c["duration"] for c in pool]))
    members = {}
    for k, group in enumerate(groups, 1):
        test = set(group.tolist())
        members[f"fold{k}-test"] = [c for c in pool if c["subject"] in test]
        members[f"fold{k}-train"] = [c for c in pool if c["subject"] not in test]
    members["long"] = [c for c in pool if c["duration"] > median]
    members["short"] = [c for c in pool if c["duration"] <= median]
    for gender in ("male", "female"):
        members[gender] = [c for c in pool if c["gender"] == gender]
    counts = {}
    for split, file in PROTOCOL_SPLITS.items():
        rows = ["file_name,label,gender"] + [
            f"{c['pickle']['videoname']},{'truth' if c['pickle']['DD_label'] == 1 else 'deception'},"
            f"{c['gender'].capitalize()}" for c in members[split]]
        (folder / file).write_text("\n".join(rows) + "\n")
        counts[file] = len(members[split])
    return counts


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")
