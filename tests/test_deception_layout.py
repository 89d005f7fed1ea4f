"""Deception data-root layout: label conventions, protocol CSVs, raw clips (video, frames, wav)."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import wavfile

from harness.errors import HarnessError
from harness.families.deception import data
from harness.families.deception.data import (
    map_label,
    match_name,
    normalise_gender,
    read_protocol_csv,
)


# ----------------------------------------------------------------------------- fixtures
def _video(path: Path, n: int = 10, h: int = 48, w: int = 80) -> Path:
    """An MJPG .avi whose frame i has grey level 20*i in its centre square and red side bands."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert writer.isOpened()
    for i in range(n):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:, :, 2] = 255                                 # BGR red outside the centre square
        left = (w - h) // 2
        frame[:, left:left + h] = 20 * i
        writer.write(frame)
    writer.release()
    return path


def _wav(path: Path, seconds: float = 0.5, rate: int = 44100) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    wavfile.write(str(path), rate, np.stack([tone, tone // 2], axis=1))          # stereo int16
    return path


def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- names and labels
def test_datasets_and_protocol_splits():
    assert set(data.DATASETS) == {"rlt", "bol", "box", "mu3d", "dolos", "mdpe", "svc2025-final"}
    assert all({"title", "citation"} <= set(v) for v in data.DATASETS.values())
    assert data.PROTOCOL_SPLITS["fold1-train"] == "train_fold1.csv"
    assert data.PROTOCOL_SPLITS["fold3-test"] == "test_fold3.csv"
    assert {"long", "short", "male", "female"} <= set(data.PROTOCOL_SPLITS)
    assert len(data.PROTOCOL_SPLITS) == 10
    assert set(data.LABEL_MAPS) == set(data.DATASETS)
    assert "Training_Protocols" in data.LAYOUT and "labels.csv" in data.LAYOUT


def test_dolos_labels_are_flipped_to_truth_one():
    for raw in ("truth", "Truthful", " TRUTH "):
        assert map_label("dolos", raw) == 1
    for raw in ("deception", "lie", "Deception"):
        assert map_label("dolos", raw) == 0
    assert map_label("dolos", 1) == 0 and map_label("dolos", "1") == 0 and map_label("dolos", np.int64(1)) == 0
    assert map_label("dolos", 0) == 1 and map_label("dolos", "0.0") == 1 and map_label("dolos", np.array([0])) == 1


def test_other_conventions():
    assert map_label("bol", 1) == 1 and map_label("box", 0) == 0 and map_label("svc2025-final", True) == 1
    assert map_label("rlt", "trial_lie_012") == 0 and map_label("rlt", "clips/trial_truth_003.mp4") == 1
    assert [map_label("mdpe", g) for g in (1, 2, 3, 4, 5)] == [0, 0, 1, 1, 1]


@pytest.mark.parametrize("dataset, raw", [("dolos", "maybe"), ("dolos", 2), ("mdpe", 0), ("bol", "trial_lie_1"),
                                          ("mu3d", 0.5), ("dolos", float("nan"))])
def test_unknown_label_names_the_value(dataset, raw):
    with pytest.raises(HarnessError, match=re.escape(repr(raw))):
        map_label(dataset, raw)


def test_gender_and_match_name():
    assert [normalise_gender(g) for g in ("M", "male", " Male ", "F", "FEMALE", "woman", "", None, "NA")] == \
        ["male", "male", "male", "female", "female", "female", "", "", ""]
    with pytest.raises(HarnessError, match="'robot'"):
        normalise_gender("robot")
    assert match_name("AN_WILTY_EP15_lie1") == "an_wilty_ep15_lie1"
    assert match_name(r"some\dir/AN_WILTY_EP15_lie1.MP4") == "an_wilty_ep15_lie1"
    assert match_name("160-23-21") == "160-23-21" and match_name("clip.v2") == "clip.v2"


# ----------------------------------------------------------------------------- protocol CSVs
def test_protocol_csv_with_header_bom_and_extra_columns(tmp_path):
    path = tmp_path / "train_fold1.csv"
    path.write_bytes("\ufefffile_name, label ,gender,extra\n AN_WILTY_EP1_lie1 ,deception,M,x\n\n"
                     "BO_WILTY_EP2_truth1,truth,Female,y\n".encode("utf-8"))
    rows = read_protocol_csv(path)
    assert rows == [data.ProtocolRow("AN_WILTY_EP1_lie1", 0, "male"),
                    data.ProtocolRow("BO_WILTY_EP2_truth1", 1, "female")]


def test_protocol_csv_without_header_numeric_and_reordered_header(tmp_path):
    rows = read_protocol_csv(_csv(tmp_path / "a.csv", "A_lie1,1,male\nB_truth1,0,female\nC_x,1\n"))
    assert [(r.label, r.gender) for r in rows] == [(0, "male"), (1, "female"), (0, "")]
    rows = read_protocol_csv(_csv(tmp_path / "b.csv", "gender,label,file_name\nf,truthful,X1\n"))
    assert rows == [data.ProtocolRow("X1", 1, "female")]


def test_protocol_csv_unknown_label_names_it_and_the_line(tmp_path):
    path = _csv(tmp_path / "c.csv", "file_name,label,gender\nA,truth,m\nB,fib,m\n")
    with pytest.raises(HarnessError, match=r"line 3.*'fib'") as err:
        read_protocol_csv(path)
    assert err.value.path == str(path)


# ----------------------------------------------------------------------------- raw clips
def test_read_video_clip_with_wav(tmp_path):
    video = _video(tmp_path / "clips" / "A_WILTY_EP1_lie1.avi", n=10)
    _wav(tmp_path / "clips" / "A_WILTY_EP1_lie1.wav", seconds=0.5, rate=44100)
    clip = data.read_raw_clip(video)
    faces = clip["faces"]
    assert faces.shape == (32, 64, 64, 3) and faces.dtype == np.uint8
    assert np.abs(faces[..., 0].astype(int) - faces[..., 2].astype(int)).max() < 40   # centre crop: no red bands
    levels = faces[:, 20:44, 20:44].mean(axis=(1, 2, 3))
    assert abs(levels[0] - 0) < 10 and abs(levels[-1] - 180) < 10 and np.all(np.diff(levels) >= -5)
    wave = clip["wave"]
    assert wave.dtype == np.float32 and wave.shape == (8000,) and np.abs(wave).max() <= 1.0
    assert 0.2 < np.abs(wave).max() < 0.5         # mono mix of 0.5 and 0.25 amplitude


def test_read_frame_folder_natural_order_and_no_wav(tmp_path):
    folder = tmp_path / "clips" / "trial_truth_001"
    folder.mkdir(parents=True)
    for i in (1, 2, 10, 3):                      # natural order 1, 2, 3, 10
        cv2.imwrite(str(folder / f"{i}.png"), np.full((40, 30, 3), 20 * i, np.uint8))
    clip = data.read_raw_clip(folder, frames=4, size=16)
    assert set(clip) == {"faces"} and clip["faces"].shape == (4, 16, 16, 3)
    assert clip["faces"][:, 0, 0, 0].tolist() == [20, 40, 60, 200]


def test_corrupt_and_missing_video_name_the_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(HarnessError, match="bad.mp4"):
        data.read_raw_clip(bad)
    with pytest.raises(HarnessError, match="absent.avi"):
        data.read_raw_clip(tmp_path / "absent.avi")
    empty = tmp_path / "frames"
    empty.mkdir()
    with pytest.raises(HarnessError, match="frames"):
        data.read_raw_clip(empty)


def _dolos_root(root: Path) -> Path:
    protocols = root / "dolos" / data.PROTOCOL_DIR
    _csv(protocols / "train_fold1.csv", "file_name,label,gender\nAA_WILTY_EP1_lie1,deception,Male\n"
                                        "BB_WILTY_EP2_truth1,truth,F\n")
    _csv(protocols / "test_fold1.csv", "CC_WILTY_EP3_truth1,0,\n")        # numeric, DOLOS convention
    _csv(protocols / "male.csv", "CC_WILTY_EP3_truth1,0,\n")              # gender from the protocol name
    clips = root / "dolos" / "clips"
    _video(clips / "AA_WILTY_EP1_lie1.avi", n=3)
    _video(clips / "BB_WILTY_EP2_truth1.avi", n=3)
    frames = clips / "CC_WILTY_EP3_truth1"
    frames.mkdir()
    cv2.imwrite(str(frames / "0.jpg"), np.zeros((8, 8, 3), np.uint8))
    return root


def test_scan_raw_dolos_union_of_protocols(tmp_path):
    root = _dolos_root(tmp_path)
    clips = {c.videoname: c for c in data.scan_raw(root, "dolos")}
    assert set(clips) == {"AA_WILTY_EP1_lie1", "BB_WILTY_EP2_truth1", "CC_WILTY_EP3_truth1"}
    assert (clips["AA_WILTY_EP1_lie1"].label, clips["AA_WILTY_EP1_lie1"].gender) == (0, "male")
    assert (clips["BB_WILTY_EP2_truth1"].label, clips["BB_WILTY_EP2_truth1"].gender) == (1, "female")
    cc = clips["CC_WILTY_EP3_truth1"]
    assert (cc.label, cc.gender, cc.path.is_dir()) == (1, "male", True)
    assert data.read_raw_clip(cc.path)["faces"].shape == (32, 64, 64, 3)


def test_scan_raw_missing_clip_and_conflicting_labels(tmp_path):
    root = _dolos_root(tmp_path)
    _csv(root / "dolos" / data.PROTOCOL_DIR / "long.csv", "DD_WILTY_EP4_lie2,deception,m\n")
    with pytest.raises(HarnessError, match="DD_WILTY_EP4_lie2"):
        data.scan_raw(root, "dolos")
    _csv(root / "dolos" / data.PROTOCOL_DIR / "long.csv", "AA_WILTY_EP1_lie1,truth,m\n")
    with pytest.raises(HarnessError, match="AA_WILTY_EP1_lie1"):
        data.scan_raw(root, "dolos")


def test_scan_raw_other_datasets(tmp_path):
    assert data.scan_raw(tmp_path, "bol") == []                           # no clips folder
    _video(tmp_path / "bol" / "clips" / "u01_r1.avi", n=2)
    with pytest.raises(HarnessError, match="labels.csv"):
        data.scan_raw(tmp_path, "bol")
    _csv(tmp_path / "bol" / "labels.csv", "file_name,label\nu01_r1.avi,1\n")
    assert data.scan_raw(tmp_path, "bol") == [
        data.RawClip("u01_r1", 1, tmp_path / "bol" / "clips" / "u01_r1.avi", "")]
    _csv(tmp_path / "bol" / "labels.csv", "u01_r1,0\nu02_r1,1\n")
    with pytest.raises(HarnessError, match="u02_r1"):
        data.scan_raw(tmp_path, "bol")
    # Real-life Trial: labels from the file names when there is no labels.csv
    _video(tmp_path / "rlt" / "clips" / "trial_lie_001.avi", n=2)
    _video(tmp_path / "rlt" / "clips" / "trial_truth_002.avi", n=2)
    rlt = data.scan_raw(tmp_path, "rlt")
    assert [(c.videoname, c.label) for c in rlt] == [("trial_lie_001", 0), ("trial_truth_002", 1)]
