"""Tiny rPPG dataset fixtures written in each dataset's real on-disk layout (reference §1.5).

Every writer takes a root folder (the dataset folder, e.g. ``tmp_path / "pure"``) and returns
``{key: Expected}``: what the loader must read back. Frames are uniform colours that change per
frame, so a frame's mean colour identifies it; ground truth is a sine of known length and rate.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import scipy.io

W, H = 16, 12
N_FRAMES = 20


@dataclasses.dataclass
class Expected:
    subject: str
    fs: float
    colours: np.ndarray          # (n_frames, 3) RGB mean of each frame
    wave: np.ndarray             # raw GT waveform as stored
    gt_fs: float | None          # what ground_truth() must report (None = one per frame)
    tolerance: float = 0.0       # max |decoded mean - colour| (lossy codecs)
    meta: dict = dataclasses.field(default_factory=dict)


def colours(n: int = N_FRAMES, offset: int = 0) -> np.ndarray:
    """Distinct RGB colours, one per frame, away from 0/255 so codecs don't clip them."""
    i = np.arange(n) + offset
    return np.stack([(20 + 11 * i) % 200 + 20, 220 - (7 * i) % 180, 60 + (5 * i) % 150], axis=1).astype(np.uint8)


def frames_of(cols: np.ndarray, w: int = W, h: int = H) -> list[np.ndarray]:
    return [np.broadcast_to(c, (h, w, 3)).copy() for c in cols]


def sine(n: int, seed: int) -> np.ndarray:
    return np.sin(np.linspace(0, 6 * np.pi, n) + seed) * 100 + 500


def write_video(path: Path, cols: np.ndarray, fps: float, fourcc: str = "FFV1") -> None:
    """FFV1 (lossless) or MJPG .avi, or mp4v .mp4, one uniform frame per colour."""
    path.parent.mkdir(parents=True, exist_ok=True)
    api = cv2.CAP_OPENCV_MJPEG if fourcc == "MJPG" else cv2.CAP_FFMPEG
    writer = cv2.VideoWriter(str(path), api, cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert writer.isOpened(), f"cv2 cannot write {fourcc} to {path}"
    for frame in frames_of(cols):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def write_images(folder: Path, cols: np.ndarray, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames_of(cols), names):
        assert cv2.imwrite(str(folder / name), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def write_csv(path: Path, columns: list[np.ndarray], header: list[str] | None = None) -> None:
    lines = [",".join(header)] if header else []
    lines += [",".join(f"{v:.6f}" for v in row) for row in zip(*columns)]
    path.write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- per dataset
def ubfc_rppg(root: Path, n_subjects: int = 2, fps: float = 30.0, raw_level: bool = False) -> dict[str, Expected]:
    """``subjectN/vid.avi`` + ``ground_truth.txt`` (PPG, HR, timestamps)."""
    out = {}
    base = root / "RawData" if raw_level else root
    for s in range(1, n_subjects + 1):
        d = base / f"subject{s}"
        cols = colours(offset=s)
        write_video(d / "vid.avi", cols, fps)
        wave = sine(N_FRAMES, s)
        stamps = np.arange(N_FRAMES) / fps
        hr = np.full(N_FRAMES, 72.0)
        rows = (" ".join(f"{v:.7e}" for v in row) for row in (wave, hr, stamps))
        (d / "ground_truth.txt").write_text("\n".join(rows) + "\n")
        out[f"subject{s}"] = Expected(f"subject{s}", fps, cols, wave, fps)
    return out


def pure(root: Path, sessions: tuple[str, ...] = ("01-01", "01-02", "02-01")) -> dict[str, Expected]:
    """``ii-jj/ii-jj/Image<ns timestamp>.png`` + ``ii-jj/ii-jj.json`` (60 Hz PPG)."""
    out = {}
    for k, name in enumerate(sessions):
        cols = colours(offset=3 * k)
        # timestamps whose lexicographic order differs from their numeric order
        stamps = [9_000_000 + 100_000 * i for i in range(N_FRAMES)]
        write_images(root / name / name, cols, [f"Image{t}.png" for t in stamps])
        wave = sine(2 * N_FRAMES, k)
        package = [{"Timestamp": i, "Value": {"waveform": float(v), "o2saturation": 97, "pulseRate": 70}}
                   for i, v in enumerate(wave)]
        (root / name / f"{name}.json").write_text(json.dumps({"/FullPackage": package, "/Image": []}))
        out[name] = Expected(name.split("-")[0], 30.0, cols, wave, 60.0, meta={"task": name.split("-")[1]})
    return out


MMPD_LABELS = dict(light="LED-low", motion="Stationary", exercise="False", skin_color=3, gender="female",
                   glasser="True", hair_cover="False", makeup="False")


def mmpd(root: Path, subjects: tuple[int, ...] = (1, 2), videos: int = 1, level: bool = True) -> dict[str, Expected]:
    """``mat_dataset/subjectN/pN_M.mat`` (v5): video [t,h,w,3] float 0..1, GT_ppg (1, t), labels."""
    out = {}
    base = root / "mat_dataset" if level else root
    for s in subjects:
        for m in range(videos):
            cols = colours(offset=s + m)
            video = np.stack(frames_of(cols)).astype(np.float64) / 255.0
            wave = sine(N_FRAMES, s)
            d = base / f"subject{s}"
            d.mkdir(parents=True, exist_ok=True)
            labels = dict(MMPD_LABELS, skin_color=3 + s % 4)
            scipy.io.savemat(str(d / f"p{s}_{m}.mat"), dict(video=video, GT_ppg=wave[None, :], **labels),
                             do_compression=True)
            meta = {k: {"True": True, "False": False}.get(v, v) for k, v in labels.items()}
            out[f"subject{s}/p{s}_{m}"] = Expected(f"subject{s}", 30.0, cols, wave, None, meta=meta)
    return out


def ibvp(root: Path, sessions: tuple[str, ...] = ("p01_a", "p01_b", "p02_a"), level: bool = True) -> dict[str, Expected]:
    """``iBVP_Dataset/pXX_x/pXX_x_rgb/*.bmp`` + ``pXX_x_bvp.csv`` (header row; SQ2 in column 4).
    SQ2 is ≤ 0.3 on the first 5 frames."""
    out = {}
    base = root / "iBVP_Dataset" if level else root
    for k, name in enumerate(sessions):
        cols = colours(offset=2 * k)
        write_images(base / name / f"{name}_rgb", cols, [f"{i:05d}.bmp" for i in range(N_FRAMES)])
        wave = sine(N_FRAMES, k)
        sq2 = np.where(np.arange(N_FRAMES) < 5, 0.1, 0.9)
        ones = np.ones(N_FRAMES)
        write_csv(base / name / f"{name}_bvp.csv", [wave, ones, ones, sq2, ones],
                  ["BVP", "SQPhysMD", "SQ1", "SQ2", "Perfusion_Value"])
        out[name] = Expected(name.split("_")[0], 30.0, cols, wave, None,
                             meta={"condition": name.split("_")[1], "quality_mask": sq2 > 0.3})
    return out


def write_mat73(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A MATLAB v7.3 file: HDF5 with the 512-byte MATLAB header, arrays stored transposed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in arrays.items():
            ds = f.create_dataset(key, data=np.asarray(value).T)  # MATLAB column-major → reversed axes
            ds.attrs["MATLAB_class"] = np.bytes_("double")
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2026 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:  # 116 bytes of text, 8 of subsystem offset, version 0x0200, 'IM'
        f.write(text.ljust(116) + b" " * 8 + b"\x00\x02" + b"IM")


def scamps(root: Path, names: tuple[tuple[str, str], ...] = (("Train", "P000001"), ("Train", "P000002"),
                                                              ("Test", "P000003"))) -> dict[str, Expected]:
    """``{Train,Val,Test}/P######.mat`` v7.3: Xsub MATLAB [t,h,w,c] float 0..1, d_ppg [t]."""
    out = {}
    for k, (split, stem) in enumerate(names):
        cols = colours(offset=4 * k)
        frames = np.stack(frames_of(cols)).astype(np.float64) / 255.0  # (t, h, w, c)
        frames[:, 0, W - 1, :] = 0.0  # one black top-right pixel: catches swapped or flipped axes
        wave = sine(N_FRAMES, k)
        write_mat73(root / split / f"{stem}.mat", {"Xsub": frames, "d_ppg": wave[:, None], "d_br": wave[:, None] * 0})
        mean = (cols.astype(np.float64) * (W * H - 1)) / (W * H)
        out[f"{split}/{stem}"] = Expected(stem, 30.0, mean, wave, None, tolerance=1e-9, meta={"split": split})
    return out


def ubfc_phys(root: Path, subjects: tuple[int, ...] = (1, 2), tasks: tuple[int, ...] = (1, 2),
              fps: float = 35.0) -> dict[str, Expected]:
    """``sN/vid_sN_Tk.avi`` (MJPEG) + ``bvp_sN_Tk.csv`` (one column, 64 Hz spanning the video)."""
    out = {}
    for s in subjects:
        for t in tasks:
            d = root / f"s{s}"
            cols = colours(offset=s + t)
            write_video(d / f"vid_s{s}_T{t}.avi", cols, fps, "MJPG")
            wave = sine(round(N_FRAMES / fps * 64), s + t)
            d.mkdir(parents=True, exist_ok=True)
            (d / f"bvp_s{s}_T{t}.csv").write_text("\n".join(f"{v:.6f}" for v in wave) + "\n")
            out[f"s{s}/T{t}"] = Expected(f"s{s}", fps, cols, wave, wave.size * fps / N_FRAMES, tolerance=3.0,
                                         meta={"task": f"T{t}"})
    return out


def physdrive(root: Path) -> dict[str, Expected]:
    """Raw ``AFH1/A1/RGB.mp4`` + ``Label/BVP.mat``; toolbox-style ``AFH1/B1/Align/*.png``;
    ``CMZ2/A1`` whose BVP.mat uses another key."""
    out = {}
    specs = [("AFH1", "A1", "mp4", "BVP"), ("AFH1", "B1", "align", "BVP"), ("CMZ2", "A1", "mp4", "PPG")]
    for k, (driver, cond, kind, key) in enumerate(specs):
        d = root / driver / cond
        cols = colours(offset=5 * k)
        if kind == "mp4":
            write_video(d / "RGB.mp4", cols, 30.0, "mp4v")
        else:
            write_images(d / "Align", cols, [f"{i}.png" for i in range(N_FRAMES)])
        wave = sine(3 * N_FRAMES, k)
        (d / "Label").mkdir(parents=True)
        scipy.io.savemat(str(d / "Label" / "BVP.mat"), {key: wave[None, :], "note": "x"})
        tol = 5.0 if kind == "mp4" else 0.0
        out[f"{driver}/{cond}"] = Expected(driver, 30.0, cols, wave, 3 * 30.0, tolerance=tol,
                                           meta={"condition": cond, "source": "RGB.mp4" if kind == "mp4" else "Align"})
    return out


def buaa_mihr(root: Path) -> dict[str, Expected]:
    """``Sub XX/lux Y/luxY_NAME.avi`` + ``luxY_NAME_wave.csv`` (+ an HR csv that is ignored)."""
    out = {}
    specs = [("Sub 01", "lux 1.0", "APH"), ("Sub 01", "lux 100.0", "APH"), ("Sub 02", "lux 10.0", "GDB")]
    for k, (sub, lux, name) in enumerate(specs):
        d = root / sub / lux
        stem = f"{lux.replace(' ', '')}_{name}"
        cols = colours(offset=6 * k)
        write_video(d / f"{stem}.avi", cols, 30.0)
        wave = sine(2 * N_FRAMES, k)
        (d / f"{stem}_wave.csv").write_text("\n".join(f"{v:.6f}" for v in wave) + "\n")
        write_csv(d / f"{stem}.csv", [np.full(5, 70.0)], ["PULSE"])
        out[f"{sub}/{lux}"] = Expected(sub, 30.0, cols, wave, 2 * 30.0,
                                       meta={"lux": float(lux.split()[1]), "name": name})
    return out


WRITERS = {
    "ubfc-rppg": ubfc_rppg, "pure": pure, "mmpd": mmpd, "ibvp": ibvp, "scamps": scamps,
    "ubfc-phys": ubfc_phys, "physdrive": physdrive, "buaa-mihr": buaa_mihr,
}
