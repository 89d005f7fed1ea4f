"""The embedded synthetic sample: layout, determinism, its photograph, detectable faces, a pulse that
survives coding, and baselines that land where they do on real data (ordered, not 0.00)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage
from scipy.signal import find_peaks

from harness.errors import HarnessError
from harness.families.rppg import avi, data, face, signal, synth
from harness.regress import run_baselines
from harness.task import TaskIndex

GENERATED = tuple(synth.DOMAINS)


@pytest.fixture(scope="module")
def sample(family_sample) -> Path:
    """Every domain, as `harness run` uses it (the session's cache: generated once per test run)."""
    return family_sample("rppg")


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
    pure, mmpd, drive = (synth.DOMAINS[d] for d in ("pure", "mmpd", "physdrive"))
    assert drive["drift"] > 5 * pure["drift"] and drive["flicker"] > pure["flicker"] and drive["shadows"] > 0
    assert drive["motion_px"] > pure["motion_px"] and drive["vibration_px"] > 0 and drive["turns"] > pure["turns"]
    assert mmpd["brightness"][1] < pure["brightness"][0]          # low light
    assert mmpd["jpeg_quality"] < pure["jpeg_quality"]           # a phone's compression


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
def test_the_runs_face_detector_finds_every_face_on_the_first_frame(sample):
    videos = _videos(sample)
    assert len(videos) == sum(d["n_subjects"] for d in synth.DOMAINS.values())
    for video in videos:
        first = next(data.read_video(video))
        found = face.detect_face(first)
        assert found is not None, video
        x, y, w, h = found
        assert 40 <= w <= 75 and 0 <= x and x + w <= synth.WIDTH and y + h <= synth.HEIGHT, (video, found)


def test_unsupervised_baselines_on_phase_1_are_realistic_and_ordered(sample, tmp_path):
    """As on real MMPD (rPPG-Toolbox Table 2: GREEN 21.7, POS 12.4, CHROM 13.7 bpm MAE): several bpm,
    not 0.00, and the chrominance methods clearly better than the green channel. Margins, not values."""
    task = TaskIndex().tasks["svc2026-rppg-phase1"]
    mae = {m: r["metrics"]["mae"]["value"] for m, r in run_baselines(task, ["green", "pos", "chrom"], tmp_path).items()}
    for method in ("pos", "chrom"):
        assert 1.0 <= mae[method] <= 15.0, mae
        assert mae["green"] >= max(1.5 * mae[method], mae[method] + 5.0), mae
    assert mae["green"] <= 40.0, mae   # wrong, but a heart rate: not noise


def test_the_face_asset_is_small_sourced_and_matches_its_recorded_face_box():
    files = sorted(p.name for p in synth.ASSETS.iterdir())
    assert files == ["SOURCE.md", "face.png", "skin.png"]
    assert sum((synth.ASSETS / f).stat().st_size for f in files) <= 150_000
    assert "public domain" in (synth.ASSETS / "SOURCE.md").read_text()
    rgb, matte, skin = synth.photo()
    assert rgb.shape == (240, 240, 3) and matte.shape == skin.shape == (240, 240)
    assert not rgb.flags.writeable
    assert 0.3 < matte.mean() < 0.8 and 0.05 < skin.mean() < 0.3 and (skin <= matte + 1e-9).all()
    x, y, w, h = face.detect_face(rgb.astype(np.uint8))
    ax, ay, side = synth.ASSET_FACE
    assert abs(x - ax) <= 3 and abs(y - ay) <= 3 and abs(w - side) <= 4


def test_a_missing_face_asset_is_named_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "ASSETS", tmp_path / "nowhere")
    synth.photo.cache_clear()
    try:
        with pytest.raises(HarnessError, match="face image is missing") as err:
            synth.synthesize(tmp_path / "out", ["pure"])
        assert "face.png" in str(err.value)
        assert not (tmp_path / "out").exists()
    finally:
        synth.photo.cache_clear()


def test_avi_writer_round_trips_through_opencv(tmp_path):
    yy, xx = np.mgrid[0:24, 0:32]
    frames = [np.dstack([xx * 4 + 10 * k, yy * 6 + 5 * k, 128 + 0 * xx]).astype(np.uint8) for k in range(7)]  # smooth, distinct
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames]
    for fs in (30.0, 35.0, 30000 / 1001):
        path = tmp_path / f"v{fs:.2f}.avi"
        avi.write_mjpeg_avi(path, jpegs, fs, 32, 24)
        cap = cv2.VideoCapture(str(path))
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(fs, rel=1e-4)
        decoded = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in data.read_video(path)]
        cap.release()
        assert len(decoded) == len(jpegs)
        for k, got in enumerate(decoded):  # every frame, in order (decoders may upsample chroma differently)
            errors = [np.abs(got.astype(int) - f).mean() for f in frames]
            assert int(np.argmin(errors)) == k and errors[k] < 2.0
    with pytest.raises(ValueError):
        avi.write_mjpeg_avi(tmp_path / "empty.avi", [], 30.0, 32, 24)


def test_ground_truth_hr_is_in_range_and_matches_the_hr_line(sample):
    for subject in sorted(sample.glob("*/subject*")):
        ppg, hr, stamps = _ground_truth(subject)
        assert len(ppg) == len(hr) == len(stamps)
        fs = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        hr_fft = float(signal.hr_from_bvp(ppg, fs, signal.Recipe()))
        assert 45 <= hr_fft <= 150
        assert abs(hr_fft - hr.mean()) < 3.0, subject
        assert hr.std() > 0.5  # the heart rate wanders


def test_recorded_ppg_adds_sensor_noise_and_a_slow_baseline_wander():
    fs, n = 30.0, 6000
    clean, _ = synth.ppg_waveform(np.random.default_rng(1), n, fs, 70.0, 0.05)
    added = synth._sensor_ppg(np.random.default_rng(2), clean, fs) - clean
    slow = ndimage.uniform_filter1d(added, int(fs))             # 1 s mean: the wander
    white = added - slow
    assert white.std() == pytest.approx(synth.GT_NOISE, rel=0.1)
    assert abs(np.corrcoef(white[1:], white[:-1])[0, 1]) < 0.1  # uncorrelated sample to sample
    assert 0.2 * synth.GT_WANDER < slow.std() and np.abs(slow).max() <= 1.1 * synth.GT_WANDER
    spectrum = np.abs(np.fft.rfft(slow)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / fs)
    assert spectrum[freqs <= 0.2].sum() > 0.95 * spectrum[freqs > 0].sum()  # below the heart-rate band


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
        frames = list(data.read_video(subject / "vid.avi"))
        x, y, w, h = face.detect_face(frames[0])
        cheeks = (slice(y + h // 2, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4))  # below the eyes
        green = np.array([f[cheeks][..., 1].mean() for f in frames])
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
