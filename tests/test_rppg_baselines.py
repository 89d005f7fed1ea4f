"""The seven unsupervised baselines: HR recovery, agreement with loop-style toolbox ports,
batch/padding invariance, dtypes/devices, degenerate input and argument errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import signal as sps

import _toolbox_reference as ref
from harness.families.rppg import baselines, signal

FS = 30.0
TOOLBOX_RECIPE = signal.Recipe(band=(0.6, 3.3))  # rPPG-Toolbox's default post-processing band
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

REFERENCES = {
    "green": lambda rgb, fs: ref.green(rgb),
    "pos": ref.pos,
    "chrom": ref.chrom,
    "lgi": lambda rgb, fs: ref.lgi(rgb),
    "pbv": lambda rgb, fs: ref.pbv(rgb),
    "omit": lambda rgb, fs: ref.omit(rgb),
}


def run(method: str, rgb: np.ndarray, fs: float = FS) -> np.ndarray:
    """One video through the torch method, as float64 numpy."""
    return baselines.METHODS[method](torch.tensor(rgb)[None], fs)[0].double().numpy()


def pad_batch(videos: list[np.ndarray], fill: str = "repeat") -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (N_i, 3) traces into (B, T, 3) with lengths; pad by repeating the last frame
    (what the caller does) or with NaN / huge values (to show padding is never read)."""
    frames = max(len(v) for v in videos)
    out = np.empty((len(videos), frames, 3))
    for i, v in enumerate(videos):
        out[i, : len(v)] = v
        out[i, len(v):] = {"repeat": v[-1], "nan": np.nan, "huge": 1e12}[fill]
    return torch.tensor(out), torch.tensor([len(v) for v in videos])


def test_methods_registry():
    assert set(baselines.METHODS) == {"green", "ica", "chrom", "pos", "lgi", "pbv", "omit"}


# ----------------------------------------------------------------------------- HR recovery
@pytest.mark.parametrize("hr", [50, 72, 110, 140])
@pytest.mark.parametrize("method", sorted(baselines.METHODS))
def test_recovers_heart_rate(method, hr):
    rgb = ref.synthetic_rgb(hr, fs=FS, seconds=20, seed=hr)
    bvp = run(method, rgb)
    assert abs(float(signal.hr_from_bvp(bvp, FS, TOOLBOX_RECIPE)) - hr) <= 3.0


@pytest.mark.parametrize("method", ["pos", "chrom", "ica"])
def test_recovers_heart_rate_at_35_fps(method):
    rgb = ref.synthetic_rgb(84, fs=35.0, seconds=15, seed=5)
    assert abs(float(signal.hr_from_bvp(run(method, rgb, 35.0), 35.0, TOOLBOX_RECIPE)) - 84) <= 3.0


# ----------------------------------------------------------------------------- toolbox ports
@pytest.mark.parametrize("fs", [30.0, 35.0, 24.0])  # 24 fps: ceil(1.6*24) = 39 by float rounding
@pytest.mark.parametrize("method", sorted(REFERENCES))
def test_matches_loop_style_toolbox_port(method, fs):
    rgb = ref.synthetic_rgb(77, fs=fs, seconds=11, seed=int(fs))
    expected = REFERENCES[method](rgb, fs)
    got = run(method, rgb, fs)
    n = len(expected)  # CHROM's toolbox output is shorter than the video
    np.testing.assert_allclose(got[:n], expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    assert np.all(got[n:] == 0)
    assert np.corrcoef(got[:n], expected)[0, 1] > 0.999999


def test_chrom_returns_the_toolbox_length_and_zeros_after():
    fs = 30.0  # window 48, half 24
    rgb = ref.synthetic_rgb(70, fs=fs, seconds=10, seed=1)[:250]  # 250 = 10*24 + 10
    out = run("chrom", rgb, fs)
    assert np.all(out[240:] == 0) and np.all(out[216:239] != 0)  # Hann is 0 at frame 239


def test_chrom_window_filter_matrix_is_filtfilt():
    op, hann = baselines._chrom_operators(30.0, 48)
    b, a = sps.butter(3, [0.7 / 15, 2.5 / 15], "bandpass")
    x = np.random.default_rng(0).standard_normal((5, 48))
    np.testing.assert_allclose(x @ op.T, sps.filtfilt(b, a, x, axis=-1), atol=1e-12)
    np.testing.assert_allclose(hann, 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(48) / 47), atol=1e-15)


def test_pos_never_reads_the_last_frame_like_the_toolbox():
    rgb = ref.synthetic_rgb(80, seconds=5, seed=2)
    base = run("pos", rgb)
    changed_last = rgb.copy()
    changed_last[-1] *= 1.5
    np.testing.assert_array_equal(run("pos", changed_last), base)
    changed_before = rgb.copy()
    changed_before[-2] *= 1.5
    assert not np.allclose(run("pos", changed_before), base)


def test_pos_window_length_follows_the_toolbox_ceil():
    # 24 fps: 1.6*24 = 38.400000000000006 -> 39 frames; the shortest valid video is 40 frames
    rgb = ref.synthetic_rgb(80, fs=24.0, seconds=5, seed=3)
    run("pos", rgb[:40], 24.0)
    with pytest.raises(ValueError, match="39 frames, fewer than the 40"):
        run("pos", rgb[:39], 24.0)


# ----------------------------------------------------------------------------- hand-worked
def test_omit_projects_out_the_first_frame_colour():
    rgb = np.array([[3.0, 4.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [6.0, 8.0, 1.0]])
    # u = (0.6, 0.8, 0); green row of (I - u u^T) x = g - 0.8 (0.6 r + 0.8 g)
    expected = [4 - 0.8 * 5, 1 - 0.8 * 0.8, 0.0, 8 - 0.8 * 10]
    np.testing.assert_allclose(run("omit", rgb), expected, atol=1e-6)


def test_lgi_projects_out_the_dominant_direction():
    rgb = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5]])
    # Gram matrix diag(4, 1, 0.25): the dominant direction is red, so green passes unchanged
    np.testing.assert_allclose(run("lgi", rgb), [0.0, 1.0, 0.0], atol=1e-6)
    rgb_g = np.array([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.5]])
    np.testing.assert_allclose(run("lgi", rgb_g), [0.0, 0.0, 0.0], atol=1e-6)


def test_pbv_is_the_minimum_energy_projection_with_unit_gain_on_the_signature():
    rgb = ref.synthetic_rgb(66, seconds=8, seed=4)
    c = (rgb / rgb.mean(0)).T  # (3, N)
    sig = c.std(1) / np.linalg.norm(c.std(1))
    # minimise |C^T w|^2 subject to sig.w = 1 (Lagrange, by least squares on the KKT system)
    kkt = np.block([[2 * c @ c.T, sig[:, None]], [sig[None, :], np.zeros((1, 1))]])
    w = np.linalg.lstsq(kkt, np.r_[np.zeros(3), 1.0], rcond=None)[0][:3]
    np.testing.assert_allclose(run("pbv", rgb), c.T @ w, rtol=1e-5)


# ----------------------------------------------------------------------------- ICA
def test_jade_separates_independent_sources():
    rng = np.random.default_rng(7)
    n = 2000
    t = np.arange(n) / FS
    sources = np.stack([np.sin(2 * np.pi * 1.2 * t), rng.uniform(-1, 1, n), rng.laplace(size=n)])
    mixing = np.array([[1.0, 0.6, 0.3], [0.4, 1.0, 0.5], [0.7, 0.2, 1.0]])
    mixed = mixing @ sources
    mixed -= mixed.mean(1, keepdims=True)
    z = torch.tensor(mixed)[None]
    out = baselines._jade(z, torch.tensor([float(n)], dtype=torch.float64))[0].numpy()
    corr = np.abs(np.corrcoef(np.vstack([sources, out]))[:3, 3:])
    assert np.all(corr.max(1) > 0.99)  # every true source is recovered by one output
    assert sorted(corr.argmax(1)) == [0, 1, 2]  # by a different output each
    np.testing.assert_allclose(out @ out.T / n, np.eye(3), atol=1e-9)  # still white


def test_jade_padding_does_not_change_sources():
    rng = np.random.default_rng(8)
    mixed = np.array([[1.0, 0.5, 0.2], [0.3, 1.0, 0.4], [0.6, 0.1, 1.0]]) @ rng.laplace(size=(3, 300))
    mixed -= mixed.mean(1, keepdims=True)
    short = baselines._jade(torch.tensor(mixed)[None], torch.tensor([300.0], dtype=torch.float64))
    padded = torch.zeros(1, 3, 400, dtype=torch.float64)
    padded[0, :, :300] = torch.tensor(mixed)
    long = baselines._jade(padded, torch.tensor([300.0], dtype=torch.float64))
    torch.testing.assert_close(long[..., :300], short, rtol=0, atol=1e-10)


def test_ica_is_deterministic():
    rgb = torch.tensor(ref.synthetic_rgb(90, seconds=10, seed=9))[None]
    torch.testing.assert_close(baselines.ica(rgb, FS), baselines.ica(rgb, FS), rtol=0, atol=0)


def test_ica_peak_selection_score():
    n = 64
    t = np.arange(n)
    src = torch.tensor(np.stack([np.sin(2 * np.pi * 5 * t / n),
                                 np.cos(2 * np.pi * 3 * t / n) + np.cos(2 * np.pi * 7 * t / n),
                                 5.0 + 0.1 * np.sin(2 * np.pi * 9 * t / n)]))
    # bins 1..31: one line holds all power; two equal lines hold half each; DC is not counted
    torch.testing.assert_close(baselines._peak_fraction(src),
                               torch.tensor([1.0, 0.5, 1.0], dtype=torch.float64))


# ----------------------------------------------------------------------------- batching
@pytest.mark.parametrize("method", sorted(baselines.METHODS))
def test_batch_and_padding_invariance(method):
    videos = [ref.synthetic_rgb(72, fs=30.0, seconds=9, seed=11),
              ref.synthetic_rgb(95, fs=35.0, seconds=6, seed=12),
              ref.synthetic_rgb(60, fs=30.0, seconds=7.3, seed=13),
              ref.synthetic_rgb(120, fs=35.0, seconds=9, seed=14)]
    rates = [30.0, 35.0, 30.0, 35.0]
    fn = baselines.METHODS[method]
    rgb, lengths = pad_batch(videos)
    batched = fn(rgb, torch.tensor(rates), lengths).double().numpy()
    for fill in ("nan", "huge"):
        other = fn(pad_batch(videos, fill)[0], torch.tensor(rates), lengths).double().numpy()
        np.testing.assert_array_equal(other, batched)
    for i, (video, rate) in enumerate(zip(videos, rates)):
        alone = fn(torch.tensor(video)[None], rate)[0].double().numpy()
        n = len(video)
        np.testing.assert_allclose(batched[i, :n], alone, rtol=0, atol=1e-5 * np.abs(alone).max())
        assert np.all(batched[i, n:] == 0)


@pytest.mark.parametrize("method", ["pos", "chrom"])
def test_frame_rate_forms_agree(method):
    rgb = torch.tensor(np.stack([ref.synthetic_rgb(70, seconds=6, seed=s) for s in (1, 2)]))
    fn = baselines.METHODS[method]
    expected = fn(rgb, 30.0)
    for fs in (30, torch.tensor(30.0), torch.tensor([30.0, 30.0])):
        torch.testing.assert_close(fn(rgb, fs), expected, rtol=0, atol=0)


def test_empty_batch():
    out = baselines.pos(torch.zeros(0, 100, 3), FS)
    assert out.shape == (0, 100) and out.dtype == torch.float32


# ----------------------------------------------------------------------------- dtypes, devices
@pytest.mark.parametrize("method", sorted(baselines.METHODS))
def test_float32_and_float64_inputs_agree(method):
    rgb = ref.synthetic_rgb(85, seconds=10, seed=21)
    fn = baselines.METHODS[method]
    out64 = fn(torch.tensor(rgb, dtype=torch.float64)[None], FS)[0].double().numpy()
    out32 = fn(torch.tensor(rgb, dtype=torch.float32)[None], FS)[0].double().numpy()
    if method == "ica":  # ICA's sign is arbitrary
        out32 *= np.sign(np.dot(out32, out64))
    np.testing.assert_allclose(out32, out64, rtol=0, atol=1e-4 * np.abs(out64).max())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", sorted(baselines.METHODS))
def test_output_shape_dtype_device(method, device):
    videos = [ref.synthetic_rgb(72, seconds=6, seed=31), ref.synthetic_rgb(72, seconds=4, seed=32)]
    rgb, lengths = pad_batch(videos)
    rgb32 = rgb.to(device=device, dtype=torch.float32)
    out = baselines.METHODS[method](rgb32, FS, lengths.to(device))
    assert out.shape == (2, 180) and out.dtype == torch.float32 and out.device.type == device
    assert torch.all(out[1, 120:] == 0) and torch.isfinite(out).all()
    if device != "cpu":
        on_cpu = baselines.METHODS[method](rgb32.cpu(), FS, lengths)
        scale = on_cpu.abs().max()
        if method == "ica":
            on_cpu = on_cpu * torch.sign((on_cpu * out.cpu()).sum(1, keepdim=True))
        torch.testing.assert_close(out.cpu(), on_cpu, rtol=0, atol=1e-5 * float(scale))


# ----------------------------------------------------------------------------- degenerate input
DEGENERATE = {
    "constant": lambda rgb: np.broadcast_to([120.3, 80.7, 60.1], rgb.shape).copy(),
    "all_zero": lambda rgb: np.zeros_like(rgb),
    "zero_blue": lambda rgb: rgb * [1.0, 1.0, 0.0],
    "grey": lambda rgb: np.repeat(rgb[:, 1:2], 3, axis=1),
}


@pytest.mark.parametrize("case", sorted(DEGENERATE))
@pytest.mark.parametrize("method", sorted(baselines.METHODS))
def test_degenerate_input_gives_finite_output(method, case):
    rgb = DEGENERATE[case](ref.synthetic_rgb(75, seconds=8, seed=41))
    out = run(method, rgb)
    assert np.all(np.isfinite(out))
    # exact zeros (the HR recipe then reports "no pulse") for no variation at all, and for a grey
    # trace in the methods that only see colour differences (chrominance or projection)
    if case in ("all_zero", "constant") or (case == "grey" and method in ("pos", "chrom", "lgi", "omit")):
        np.testing.assert_array_equal(out, 0.0)
    else:
        assert np.ptp(out) > 0


@pytest.mark.parametrize("method", sorted(baselines.METHODS))
def test_weak_pulse_is_not_mistaken_for_flat(method):
    t = np.arange(600) / FS
    rgb = ref.SKIN_RGB + 1e-4 * ref.PULSE_RGB * np.sin(2 * np.pi * 1.3 * t)[:, None]  # ~1e-6 relative
    assert abs(float(signal.hr_from_bvp(run(method, rgb), FS, TOOLBOX_RECIPE)) - 78.0) <= 3.0


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("method", sorted(baselines.METHODS))
def test_too_short_video_names_length_and_minimum(method):
    minimum = {"pos": math.ceil(1.6 * FS) + 1, "chrom": 48, "ica": 22}.get(method, 1)
    fn = baselines.METHODS[method]
    rgb = torch.tensor(ref.synthetic_rgb(75, seconds=3, seed=51))
    fn(rgb[None, :minimum], FS)  # the minimum itself is accepted
    if minimum > 1:
        rgb_b, lengths = pad_batch([rgb.numpy(), rgb.numpy()[: minimum - 1]])
        with pytest.raises(ValueError, match=f"video 1 has {minimum - 1} frames, fewer than the {minimum}"):
            fn(rgb_b, FS, lengths)


@pytest.mark.parametrize("method,fs,pattern", [
    ("chrom", 10.0, "fewer than the 22 its 3rd-order filtfilt needs"),
    ("pos", 5.0, "above Nyquist"),
    ("ica", 4.0, "above Nyquist"),
])
def test_unusable_frame_rate(method, fs, pattern):
    with pytest.raises(ValueError, match=pattern):
        baselines.METHODS[method](torch.rand(1, 200, 3) * 100, fs)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(rgb=torch.rand(50, 3)), r"\(B, T, 3\)"),
    (dict(rgb=torch.rand(2, 50, 4)), r"\(B, T, 3\)"),
    (dict(lengths=torch.tensor([50, 0])), r"lengths must lie in \[1, T=50\]"),
    (dict(lengths=torch.tensor([50, 51])), r"lengths must lie in \[1, T=50\]"),
    (dict(lengths=torch.tensor([50.0, 40.0])), "integer tensor"),
    (dict(lengths=torch.tensor([50])), r"\(2,\) integer tensor"),
    (dict(fs=-30.0), "positive finite"),
    (dict(fs=float("nan")), "positive finite"),
    (dict(fs=torch.tensor([30.0, 30.0, 30.0])), r"\(2,\) tensor"),
])
def test_bad_arguments(kwargs, pattern):
    args = dict(rgb=torch.rand(2, 50, 3) * 100, fs=30.0, lengths=None) | kwargs
    with pytest.raises(ValueError, match=pattern):
        baselines.green(**args)


def test_non_finite_values_in_valid_frames():
    rgb = torch.rand(2, 50, 3) * 100
    rgb[1, 45, 0] = float("nan")
    baselines.green(rgb, FS, torch.tensor([50, 40]))  # NaN in padding is fine
    with pytest.raises(ValueError, match="NaN or inf"):
        baselines.green(rgb, FS)
