"""The embedded synthetic sample: layout, determinism, detectable faces, a pulse that survives coding."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.signal import find_peaks

from harness.errors import HarnessError
from harness.families.rppg import data, signal, synth

GENERATED = ("pure", "mmpd", "ubfc-phys")   # steady, darkest skin tones + motion, 35 fps


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return synth.synthesize(tmp_path_factory.mktemp("sample"), list(GENERATED), seed=0)


def _ground_truth(subject_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lines = (subject_dir / "ground_truth.txt").read_text().splitlines()
    ppg, hr, stamps = (np.array(line.split(), dtype=float) for line in lines)
    return ppg, hr, stamps


def _videos(root: Path) -> list[Path]:
    return sorted(root.glob("*/subject*/vid.avi"))


def test_domains_cover_every_dataset_with_enough_subjects_for_splits():
    assert set(synth.DOMAINS) == set(data.DATASETS)
    for name, dom in synth.DOMAINS.items():
        assert dom["n_subjects"] >= (4 if name == "mmpd" else 3), name
        assert 45 <= dom["hr_bpm"][0] < dom["hr_bpm"][1] <= 150, name
        assert dom["duration_s"] <= 30, name
    assert synth.DOMAINS["mmpd"]["skin_tones"] == (3, 4, 5, 6)
    assert synth.DOMAINS["physdrive"]["drift"] > 5 * synth.DOMAINS["pure"]["drift"]


def test_layout_is_exactly_ubfc_rppg_and_scans(sample):
    assert sorted(p.name for p in sample.iterdir()) == sorted(GENERATED)  # no temporary folders left
    for name in GENERATED:
        dom = synth.DOMAINS[name]
        records = data.scan("ubfc-rppg", sample / name)
        assert [r.key for r in records] == [f"subject{k}" for k in range(1, dom["n_subjects"] + 1)]
        for rec in records:
            assert sorted(p.name for p in rec.path.parent.iterdir()) == ["ground_truth.txt", "vid.avi"]
            assert rec.fs == dom["fs"]
            wave, gt_fs = rec.ground_truth()
            n = int(dom["duration_s"] * dom["fs"])
            assert wave.shape == (n,) and gt_fs == pytest.approx(dom["fs"])
        record = json.loads((sample / name / "synth.json").read_text())
        assert (record["generator_version"], record["seed"], record["dataset"]) == (synth.GENERATOR_VERSION, 0, name)


def test_same_seed_gives_identical_files_and_another_seed_differs(sample, tmp_path):
    again = synth.synthesize(tmp_path / "again", ["pure"], seed=0)
    for a, b in zip(sorted((sample / "pure").rglob("*.*")), sorted((again / "pure").rglob("*.*"))):
        assert a.relative_to(sample) == b.relative_to(again)
        assert a.read_bytes() == b.read_bytes(), a.name
    other = synth.synthesize(tmp_path / "other", ["pure"], seed=1)
    assert (other / "pure/subject1/ground_truth.txt").read_text() != (sample / "pure/subject1/ground_truth.txt").read_text()


@pytest.mark.skipif(not hasattr(cv2, "CascadeClassifier"),
                    reason="this OpenCV build has no Haar cascade (5.x); the project pins opencv-python-headless<5")
def test_haar_cascade_finds_one_face_in_every_first_frame(sample):
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert not cascade.empty()
    for video in _videos(sample):
        first = next(data.read_video(video))
        gray = cv2.cvtColor(first, cv2.COLOR_RGB2GRAY)
        for neighbours in (3, 5):
            faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=neighbours)
            assert len(faces) == 1, (video, neighbours)


def test_ground_truth_hr_is_in_range_and_matches_the_hr_line(sample):
    for subject in sorted(sample.glob("*/subject*")):
        ppg, hr, stamps = _ground_truth(subject)
        assert len(ppg) == len(hr) == len(stamps)
        fs = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        hr_fft = float(signal.hr_from_bvp(ppg, fs, signal.Recipe()))
        assert 45 <= hr_fft <= 150
        assert abs(hr_fft - hr.mean()) < 3.0, subject
        assert hr.std() > 0.5  # the heart rate wanders


def test_ppg_beat_has_systolic_peak_and_dicrotic_wave():
    phase = np.linspace(0, 1, 1000, endpoint=False)
    beat = synth._beat(phase)
    peaks, _ = find_peaks(np.concatenate([beat, beat[:10]]))
    peaks = peaks[peaks < 1000]
    assert len(peaks) == 2
    systolic, dicrotic = beat[peaks]
    assert systolic > 2 * dicrotic > 0
    assert beat[peaks[0]:peaks[1]].min() < dicrotic  # a notch between them


def test_decoded_skin_green_carries_the_pulse_in_a_steady_domain(sample):
    for subject in sorted((sample / "pure").glob("subject*")):
        ppg, _, stamps = _ground_truth(subject)
        fs = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        cheeks = (slice(58, 70), slice(66, 94))  # central face: skin in every subject
        green = np.array([f[cheeks][..., 1].mean() for f in data.read_video(subject / "vid.avi")])
        hr_video = float(signal.hr_from_bvp(green, fs))
        hr_gt = float(signal.hr_from_bvp(ppg, fs))
        assert abs(hr_video - hr_gt) <= 3.0, subject
        amplitude = np.ptp(signal.bandpass(green, fs, 0.75, 2.5))
        assert 0.2 < amplitude < 3.0  # a fraction of a grey level to ~2 grey levels


def test_failed_domain_leaves_no_partial_folder(tmp_path, monkeypatch):
    synth.synthesize(tmp_path, ["buaa-mihr"], seed=0)
    before = (tmp_path / "buaa-mihr" / "subject1" / "ground_truth.txt").read_bytes()
    calls = []

    def broken(path, rng, dom, params):
        calls.append(path)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(path, rng, dom, params)

    real = synth._render
    monkeypatch.setattr(synth, "_render", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        synth.synthesize(tmp_path, ["buaa-mihr"], seed=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buaa-mihr"]
    assert (tmp_path / "buaa-mihr" / "subject1" / "ground_truth.txt").read_bytes() == before


def test_unknown_domain_is_refused(tmp_path):
    with pytest.raises(HarnessError, match="Did you mean 'pure'"):
        synth.synthesize(tmp_path, ["pur"])
