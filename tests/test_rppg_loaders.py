"""rPPG dataset scanners on tiny fixtures written in each dataset's real layout."""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import h5py
import scipy.io

from harness.registry import natural_key
from harness.errors import HarnessError
from harness.families.rppg import data
import _rppg_fixtures as fx


def _scan_fixture(tmp_path: Path, name: str, **options):
    expected = fx.WRITERS[name](tmp_path / name)
    return data.scan(name, tmp_path / name, **options), expected


@pytest.mark.parametrize("name", sorted(fx.WRITERS))
def test_scan_reads_back_every_dataset(tmp_path, name):
    records, expected = _scan_fixture(tmp_path, name)
    assert [r.key for r in records] == sorted(expected, key=natural_key)
    for rec in records:
        exp = expected[rec.key]
        assert (rec.dataset, rec.subject, rec.fs) == (name, exp.subject, pytest.approx(exp.fs))
        assert rec.sample_id == f"{name}/{rec.key}"
        for k, v in exp.meta.items():
            np.testing.assert_array_equal(rec.meta[k], v)

        stream = rec.frames()
        assert inspect.isgenerator(stream)
        frames = list(stream)
        assert len(frames) == fx.N_FRAMES
        assert all(f.shape == (fx.H, fx.W, 3) and f.dtype == np.uint8 for f in frames)
        means = np.array([f.reshape(-1, 3).mean(axis=0) for f in frames])
        np.testing.assert_allclose(means, exp.colours, atol=exp.tolerance + 1e-9)

        wave, gt_fs = rec.ground_truth()
        np.testing.assert_allclose(wave, exp.wave, rtol=1e-6)
        assert gt_fs == (None if exp.gt_fs is None else pytest.approx(exp.gt_fs, rel=1e-6))
        bvp = data.resample_to_frames(wave, len(frames), gt_fs, rec.fs, rec.gt_path)
        assert bvp.shape == (len(frames),)
        assert bvp[0] == pytest.approx(wave[0]) and bvp[-1] == pytest.approx(wave[-1])


def test_scamps_reads_matlab_axis_order(tmp_path):
    records, _ = _scan_fixture(tmp_path, "scamps")
    frame = next(records[0].frames())
    assert frame[0, fx.W - 1].tolist() == [0, 0, 0]  # the black pixel is top-right, not transposed
    assert frame[fx.H - 1, 0].tolist() != [0, 0, 0]


def test_optional_intermediate_levels_and_plain_layouts(tmp_path):
    fx.ubfc_rppg(tmp_path / "ubfc", raw_level=True)
    assert [r.key for r in data.scan("ubfc-rppg", tmp_path / "ubfc")] == ["subject1", "subject2"]
    fx.mmpd(tmp_path / "mmpd", subjects=(3,), level=False)
    assert [r.key for r in data.scan("mmpd", tmp_path / "mmpd")] == ["subject3/p3_0"]
    fx.ibvp(tmp_path / "ibvp", sessions=("p07_c",), level=False)
    assert [r.subject for r in data.scan("ibvp", tmp_path / "ibvp")] == ["p07"]
    fx.write_mat73(tmp_path / "scamps" / "P000009.mat", {"Xsub": np.zeros((3, 4, 4, 3)), "d_ppg": np.ones(3)})
    [rec] = data.scan("scamps", tmp_path / "scamps")
    assert (rec.key, rec.meta["split"]) == ("P000009", None)


def test_pure_frames_follow_the_numeric_timestamp_order(tmp_path):
    fx.pure(tmp_path / "pure", sessions=("01-01",))
    frames_dir = tmp_path / "pure" / "01-01" / "01-01"
    names = sorted(p.name for p in frames_dir.iterdir())
    assert names[0] != "Image9000000.png"  # plain string order would be wrong here
    [rec] = data.scan("pure", tmp_path / "pure")
    means = [f.reshape(-1, 3).mean(0) for f in rec.frames()]
    np.testing.assert_array_equal(np.array(means), fx.colours())


def test_ibvp_quality_filter_drops_low_sq2_frames_like_the_toolbox(tmp_path):
    records, expected = _scan_fixture(tmp_path, "ibvp", quality_filter=True)
    rec = records[0]
    exp = expected[rec.key]
    frames = list(rec.frames())
    wave, gt_fs = rec.ground_truth()
    assert len(frames) == len(wave) == fx.N_FRAMES - 5 and gt_fs is None
    np.testing.assert_array_equal(np.array([f[0, 0] for f in frames]), exp.colours[5:])
    np.testing.assert_allclose(wave, exp.wave[5:])
    assert rec.meta["quality_filtered"] and int(rec.meta["quality_mask"].sum()) == fx.N_FRAMES - 5


def test_mmpd_uint8_video_passes_through(tmp_path):
    d = tmp_path / "mmpd" / "subject1"
    d.mkdir(parents=True)
    video = np.stack(fx.frames_of(fx.colours()))
    scipy.io.savemat(str(d / "p1_0.mat"), dict(video=video, GT_ppg=np.ones((fx.N_FRAMES, 1)), **fx.MMPD_LABELS))
    [rec] = data.scan("mmpd", tmp_path / "mmpd")
    np.testing.assert_array_equal(np.stack(list(rec.frames())), video)
    assert rec.meta["skin_color"] == 3 and rec.meta["light"] == "LED-low" and rec.meta["glasser"] is True


# ----------------------------------------------------------------------------- resampling
def test_resample_to_frames_is_linear_end_to_end():
    wave = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(data.resample_to_frames(wave, 7, 2.0, 3.5, Path("gt")), np.linspace(0, 3, 7))
    same = data.resample_to_frames(wave, 4, None, 30.0, Path("gt"))
    np.testing.assert_array_equal(same, wave)
    assert same is not wave


@pytest.mark.parametrize("wave, n, gt_fs, fs, problem", [
    ([1.0], 10, None, 30.0, "at least 2"),
    ([1.0, np.nan, 2.0], 3, None, 30.0, "non-finite"),
    (np.zeros(100), 80, None, 30.0, "more than 10% apart"),     # per-frame GT 25% too long
    (np.zeros(120), 30, 60.0, 30.0, "more than 10% apart"),     # 2 s of GT for a 1 s video
    (np.zeros(10), 0, None, 30.0, "0 frames"),
])
def test_resample_to_frames_refuses_unmatchable_lengths(wave, n, gt_fs, fs, problem):
    with pytest.raises(HarnessError, match=problem) as err:
        data.resample_to_frames(np.asarray(wave), n, gt_fs, fs, Path("/data/x/ground_truth.txt"))
    assert err.value.path == "/data/x/ground_truth.txt"


def test_resample_accepts_durations_within_ten_percent():
    out = data.resample_to_frames(np.arange(105.0), 100, None, 30.0, Path("gt"))
    assert out.shape == (100,) and out[-1] == 104.0


def test_gt_that_does_not_span_the_video_is_refused(tmp_path):
    fx.ubfc_rppg(tmp_path / "ubfc-rppg", n_subjects=1)
    gt = tmp_path / "ubfc-rppg" / "subject1" / "ground_truth.txt"
    gt.write_text(" ".join(["0.5"] * 40) + "\n")  # 40 per-frame samples for a 20-frame video
    [rec] = data.scan("ubfc-rppg", tmp_path / "ubfc-rppg")
    wave, gt_fs = rec.ground_truth()
    with pytest.raises(HarnessError, match="more than 10% apart") as err:
        data.resample_to_frames(wave, len(list(rec.frames())), gt_fs, rec.fs, rec.gt_path)
    assert err.value.path == str(gt)


# ----------------------------------------------------------------------------- bad input
def test_unknown_dataset_suggests_close_names(tmp_path):
    with pytest.raises(HarnessError, match="Did you mean 'ubfc-rppg'"):
        data.scan("ubfc-rpg", tmp_path)
    fx.pure(tmp_path / "p", sessions=("01-01",))  # capitals and underscores are accepted
    assert len(data.scan("PURE", tmp_path / "p")) == 1


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_missing_and_empty_folders_name_the_folder_and_the_layout(tmp_path, name):
    with pytest.raises(HarnessError, match="folder not found") as err:
        data.scan(name, tmp_path / "absent")
    assert err.value.path == str(tmp_path / "absent") and data.LAYOUTS[name] in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match=f"no {name} videos found") as err:
        data.scan(name, tmp_path / "empty")
    assert data.LAYOUTS[name] in str(err.value)


def test_every_dataset_has_a_layout_and_a_fixture():
    assert set(data.DATASETS) == set(data.LAYOUTS) == set(fx.WRITERS) == {
        "ubfc-rppg", "pure", "mmpd", "ibvp", "scamps", "ubfc-phys", "physdrive", "buaa-mihr"}


def test_unknown_option_is_refused(tmp_path):
    fx.pure(tmp_path / "pure", sessions=("01-01",))
    with pytest.raises(HarnessError, match="unknown option"):
        data.scan("pure", tmp_path / "pure", quality_filter=True)


def test_corrupt_video_names_the_file(tmp_path):
    fx.ubfc_rppg(tmp_path / "ubfc-rppg", n_subjects=1)
    video = tmp_path / "ubfc-rppg" / "subject1" / "vid.avi"
    video.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(HarnessError, match="cannot open video") as err:
        data.scan("ubfc-rppg", tmp_path / "ubfc-rppg")
    assert err.value.path == str(video)
    with pytest.raises(HarnessError, match="cannot open video") as err:
        next(data.read_video(video))
    assert err.value.path == str(video)


def test_zero_frame_video_names_the_file(tmp_path):
    video = tmp_path / "empty.avi"
    fx.write_video(video, fx.colours(0), 30.0, "MJPG")
    with pytest.raises(HarnessError, match="no frame could be decoded") as err:
        list(data.read_video(video))
    assert err.value.path == str(video)


def test_corrupt_image_frame_names_the_file(tmp_path):
    fx.pure(tmp_path / "pure", sessions=("01-01",))
    bad = sorted((tmp_path / "pure" / "01-01" / "01-01").iterdir())[3]
    bad.write_bytes(b"not a png")
    [rec] = data.scan("pure", tmp_path / "pure")
    with pytest.raises(HarnessError, match="cannot read image frame") as err:
        list(rec.frames())
    assert err.value.path == str(bad)


@pytest.mark.parametrize("name, remove, what", [
    ("ubfc-rppg", "subject1/ground_truth.txt", "ground_truth.txt"),
    ("pure", "01-02/01-02.json", "PPG json"),
    ("ibvp", "iBVP_Dataset/p01_b/p01_b_bvp.csv", "BVP csv"),
    ("ubfc-phys", "s2/bvp_s2_T1.csv", "BVP csv"),
    ("physdrive", "AFH1/A1/Label/BVP.mat", "Label/BVP.mat"),
    ("physdrive", "AFH1/A1/RGB.mp4", "RGB.mp4"),
    ("buaa-mihr", "Sub 02/lux 10.0/lux10.0_GDB_wave.csv", "PPG wave csv"),
])
def test_missing_files_are_named_with_the_expected_layout(tmp_path, name, remove, what):
    fx.WRITERS[name](tmp_path / name)
    (tmp_path / name / remove).unlink()
    with pytest.raises(HarnessError, match=f"missing {what}") as err:
        data.scan(name, tmp_path / name)
    assert err.value.path == str(tmp_path / name / remove) and data.LAYOUTS[name] in str(err.value)


@pytest.mark.parametrize("name, target, content, problem", [
    ("ubfc-rppg", "subject1/ground_truth.txt", "1 2 x\n", "non-numeric"),
    ("ubfc-rppg", "subject1/ground_truth.txt", "1 2 3\n70 70 70\n0 0.1\n", "2 timestamps"),
    ("pure", "01-01/01-01.json", '{"/Image": []}', "malformed PURE json"),
    ("ubfc-phys", "s1/bvp_s1_T1.csv", "0.1\nabc\n", "line 2 is not numeric"),
    ("mmpd", "mat_dataset/subject1/p1_0.mat", "garbage", "cannot read .mat"),
    ("scamps", "Train/P000001.mat", "garbage", "not a readable MATLAB v7.3"),
])
def test_malformed_ground_truth_names_the_file(tmp_path, name, target, content, problem):
    fx.WRITERS[name](tmp_path / name)
    (tmp_path / name / target).write_text(content)
    with pytest.raises(HarnessError, match=problem) as err:
        for rec in data.scan(name, tmp_path / name):
            rec.ground_truth()
    assert err.value.path == str(tmp_path / name / target)


def test_physdrive_mat_without_numeric_signal_is_refused(tmp_path):
    fx.physdrive(tmp_path / "physdrive")
    gt = tmp_path / "physdrive" / "AFH1" / "A1" / "Label" / "BVP.mat"
    scipy.io.savemat(str(gt), {"note": "no signal here"})
    rec = next(r for r in data.scan("physdrive", tmp_path / "physdrive") if r.key == "AFH1/A1")
    with pytest.raises(HarnessError, match="no numeric signal") as err:
        rec.ground_truth()
    assert err.value.path == str(gt)


def test_scanning_decodes_nothing(tmp_path, monkeypatch):
    for name, writer in fx.WRITERS.items():
        writer(tmp_path / name)
    calls = []
    monkeypatch.setattr(data, "read_video", lambda p: calls.append(p))
    monkeypatch.setattr(data, "read_image_sequence", lambda p: calls.append(p))
    monkeypatch.setattr(data, "_mmpd_frames", lambda p: calls.append(p))
    monkeypatch.setattr(data, "_scamps_frames", lambda p: calls.append(p))
    for name in fx.WRITERS:
        assert data.scan(name, tmp_path / name)
    assert calls == []


def test_physdrive_reads_a_matlab_v73_label_skipping_char_arrays(tmp_path):
    fx.physdrive(tmp_path / "physdrive")
    gt = tmp_path / "physdrive" / "AFH1" / "A1" / "Label" / "BVP.mat"
    gt.unlink()
    wave = np.linspace(0.0, 1.0, 3 * fx.N_FRAMES)
    fx.write_mat73(gt, {"a_note": np.frombuffer(b"h\0i\0", dtype=np.uint16), "wave": wave[:, None]})
    with h5py.File(gt, "r+") as f:
        f["a_note"].attrs["MATLAB_class"] = np.bytes_("char")
    rec = next(r for r in data.scan("physdrive", tmp_path / "physdrive") if r.key == "AFH1/A1")
    got, gt_fs = rec.ground_truth()
    np.testing.assert_allclose(got, wave)
    assert gt_fs == pytest.approx(90.0)


def test_video_without_a_frame_count_in_its_header_is_counted(tmp_path, monkeypatch):
    fx.ubfc_phys(tmp_path / "ubfc-phys", subjects=(1,), tasks=(1,))
    monkeypatch.setattr(data, "_probe_video", lambda path, default_fs: (35.0, 0))
    [rec] = data.scan("ubfc-phys", tmp_path / "ubfc-phys")
    wave, gt_fs = rec.ground_truth()
    assert gt_fs == pytest.approx(wave.size * 35.0 / fx.N_FRAMES)
