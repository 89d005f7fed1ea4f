"""Tiny MMDG-benchmark fixture written in the real layout (reference fas.md §1.2–§1.3).

``write_benchmark(root)`` writes ``MMDG-Benchmark/{C,P,S,W}-{train,val,test}.txt`` (C/S/W lines
``rgb depth ir label`` space-separated, P lines ``<8-hex>.npz<TAB>label``, no final newline),
uniform-colour JPG frames under ``cefa/``, ``surf/``, ``wmca/``, PADISI npz files under
``padisi/`` (``data`` = (1, 5, H, W) floats in [0, 1]: RGB, IR, depth) and the FlexModal WMCA
per-attack lists. Quirks of the real lists are reproduced: an exact duplicate line in S-test and
C-test, and a CeFA video shared by C-val and C-test. Path shapes beyond the prefixes given in
§1.3 (the SURF and CeFA-Mask sub-folders) are plausible guesses.

It returns ``{(domain, split): [Line, ...]}`` in file order, duplicates included.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

H, W = 6, 8


@dataclasses.dataclass
class Line:
    sample_id: str
    label: int
    rels: tuple[str, ...]               # fields before the label (relative to the dataset folder)
    video_id: str
    attack_type: str | None = None
    rgb: tuple[int, int, int] = (0, 0, 0)
    depth: int = 0
    ir: int = 0

    def text(self, sep: str = " ") -> str:
        return sep.join((*self.rels, str(self.label)))


def _colour(i: int) -> tuple[tuple[int, int, int], int, int]:
    return (40 + 17 * i % 160, 200 - 13 * i % 150, 90 + 7 * i % 120), 30 + 9 * i % 200, 60 + 11 * i % 180


def write_jpg(path: Path, value, h: int = H, w: int = W) -> None:
    """Uniform JPG; ``value`` an RGB triple or a grey level."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, tuple):
        img = np.empty((h, w, 3), np.uint8)
        img[:] = value[::-1]                              # RGB -> BGR for cv2
    else:
        img = np.full((h, w, 3), value, np.uint8)         # depth/IR frames stored as 3-channel JPG
    assert cv2.imwrite(str(path), img)


def _image_line(video: str, frame: str, rgb_dir: str, label: int, i: int,
                attack: str | None = None, depth_frame: str | None = None) -> Line:
    rgb, depth, ir = _colour(i)
    other = depth_frame or frame
    rels = (f"{video}/{rgb_dir}/{frame}", f"{video}/depth/{other}", f"{video}/ir/{other}")
    return Line(rels[0], label, rels, video, attack, rgb, depth, ir)


def cefa_lines(split: str) -> list[Line]:
    frames = ("0026.jpg", "0051.jpg", "0076.jpg")
    subj = {"train": (0, 1), "val": (200, 300), "test": (300, 301)}[split]
    out, i = [], 0
    for s in subj:
        for race in ("AF",):
            for kind, label in ((1, 1), (3, 0)):
                if split == "val" and s == 300 and kind == 3:
                    continue                              # only one video shared with C-test
                video = f"CeFA/CeFA-Race/{race}/{race}-{s:03d}/1_{s:03d}_1_1_{kind}"
                for f in (frames[:1] if split == "val" and s == 300 else frames):
                    out.append(_image_line(video, f, "profile", label, i))
                    i += 1
    if split == "test":   # unseen mask attacks: mostly one frame per 3D-Mask video (§1.3)
        out.append(_image_line("CeFA/CeFA-Mask/3D-Mask/3D-Mask-001/1_001_3_1_1", "0026.jpg",
                               "profile", 0, i, "3D-Mask"))
        out.append(_image_line("CeFA/CeFA-Mask/Silicone-Mask/Silicone-Mask-002/1_002_3_1_1",
                               "0026.jpg", "profile", 0, i + 1, "Silicone-Mask"))
        out.insert(2, dataclasses.replace(out[1]))       # exact duplicate line (C-test has 4)
    return out


def surf_lines(split: str) -> list[Line]:
    out, i = [], 100
    for kind, label, video in (("real", 1, "CLKJ_AS0137/real.rssdk"),
                               ("fake", 0, "CLKJ_AS0005/04_en_b.rssdk")):
        base = f"CASIA-SURF-CROP/{kind}_part/{kind}_{split}_part/{video}"
        for f in ("31.jpg", "61.jpg"):
            out.append(_image_line(base, f, "color", label, i))
            i += 1
    if split == "test":
        out.append(dataclasses.replace(out[0]))           # exact duplicate (S-test has 56)
    return out


def wmca_lines(split: str) -> list[Line]:
    client = {"train": 1, "val": 100, "test": 200}[split]
    vids = ((f"{client:03d}_01_000_0_00", 1, None), (f"{client:03d}_03_015_2_10", 0, "replay"),
            (f"{client:03d}_06_067_1_02", 0, "rigidmask"), (f"{client:03d}_02_033_3_01", 0, None))
    out, i = [], 200
    for video, label, pai in vids:
        base = f"WMCA-Image/R_CDIT/{video}"
        for k, f in enumerate(("0012.jpg", "0024.jpg", "0036.jpg")):
            # one video has depth/IR frame indices that differ from the colour one (§1.3)
            dframe = "0013.jpg" if video.endswith("_2_10") and k == 0 else None
            out.append(_image_line(base, f, "color", label, i, pai, dframe))
            i += 1
    return out


def padisi_lines(split: str) -> list[Line]:
    start = {"train": 0, "val": 16, "test": 32}[split]
    out = []
    for k in range(3):
        name = f"{start + k:08x}.npz"
        rgb, depth, ir = _colour(300 + start + k)
        out.append(Line(name, 1 if k == 0 else 0, (name,), name[:-4], None, rgb, depth, ir))
    return out


def write_npz(path: Path, line: Line, h: int = H, w: int = W) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.zeros((1, 5, h, w), np.float32)
    for c, v in enumerate((*line.rgb, line.ir, line.depth)):   # channels RGB, IR, depth
        x[0, c] = (v - 0.5) / 255.0    # the lineage converts with ceil(x*255): mid-step values read back exactly
    np.savez(path, data=x)


WRITERS = {"C": cefa_lines, "P": padisi_lines, "S": surf_lines, "W": wmca_lines}
FOLDERS = {"C": "cefa", "P": "padisi", "S": "surf", "W": "wmca"}


def write_benchmark(root: Path, images: bool = True, flexmodal: bool = True) -> dict[tuple[str, str], list[Line]]:
    expected = {}
    lists = root / "MMDG-Benchmark"
    lists.mkdir(parents=True, exist_ok=True)
    for d, make in WRITERS.items():
        for split in ("train", "val", "test"):
            lines = make(split)
            expected[d, split] = lines
            sep = "\t" if d == "P" else " "
            (lists / f"{d}-{split}.txt").write_text("\n".join(l.text(sep) for l in lines))
            if not images:
                continue
            base = root / FOLDERS[d]
            for l in lines:
                if d == "P":
                    write_npz(base / l.rels[0], l)
                else:
                    write_jpg(base / l.rels[0], l.rgb)
                    write_jpg(base / l.rels[1], l.depth)
                    write_jpg(base / l.rels[2], l.ir)
    if flexmodal:
        flex = root / "FlexModal_Protocols"
        flex.mkdir(exist_ok=True)
        all_w = [l for s in ("train", "val", "test") for l in expected["W", s]]
        for pai in ("fakehead", "flexiblemask", "glasses", "papermask", "print", "replay", "rigidmask"):
            rows = [l.text() for l in all_w if l.attack_type == pai]
            (flex / f"WMCA_test_{pai}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))
    return expected
