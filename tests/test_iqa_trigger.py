"""BAIQA DCT trigger: zig-zag order, blockwise DCT, colour, inject (both paths), load_pattern."""
from __future__ import annotations

import math
import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.families.iqa_backdoor import trigger as T

scipy_fft = pytest.importorskip("scipy.fft")

PATHS = [T.inject, T.inject_blockwise]


def _textured(b, h, w, dtype=torch.float64, lo=0.3, hi=0.7, seed=0):
    """Images whose triggered values stay inside (0, 1) for |α| <= 4: no clamping."""
    g = torch.Generator().manual_seed(seed)
    return (lo + (hi - lo) * torch.rand(b, 3, h, w, generator=g, dtype=torch.float64)).to(dtype)


def _pattern(seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return ((torch.rand(3, 64, generator=g, dtype=torch.float64) * 2 - 1) * 9).to(dtype)


def _ycc_dct_of_change(out, x):
    """(out − x) on 0–255, to YCbCr (no offset: a difference) and into blockwise DCT."""
    diff = (out.to(torch.float64) - x.to(torch.float64)) * 255.0
    return T.blockwise_dct(torch.einsum("vc,bchw->bvhw", torch.as_tensor(T._RGB2YCC), diff))


# ---------------------------------------------------------------- zig-zag

def test_zigzag_first_and_last_positions_by_hand():
    rc = [(0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0)]
    assert T.ZIGZAG16[:10].tolist() == [r * 16 + c for r, c in rc]
    assert T.ZIGZAG16[-3:].tolist() == [14 * 16 + 15, 15 * 16 + 14, 15 * 16 + 15]
    assert T.ZIGZAG16.shape == (256,) and T.ZIGZAG16.dtype == torch.long
    assert sorted(T.ZIGZAG16.tolist()) == list(range(256))


def test_zigzag_walks_antidiagonals_alternating():
    r, c = T.ZIGZAG16 // 16, T.ZIGZAG16 % 16
    s = r + c
    assert (s[1:] - s[:-1] >= 0).all()  # diagonal by diagonal
    assert ((r[1:] - r[:-1]).abs() <= 1).all() and ((c[1:] - c[:-1]).abs() <= 1).all()
    for d in range(31):
        rows = r[s == d].tolist()
        assert rows == (sorted(rows) if d % 2 else sorted(rows, reverse=True)), d


def test_zigzag_rank_table_matches_baiqa_entries():
    """argsort(ZIGZAG16) is the rank table BAIQA hard-codes (a few of its entries)."""
    rank = torch.argsort(T.ZIGZAG16).view(16, 16)
    assert rank[0, :6].tolist() == [0, 1, 5, 6, 14, 15]
    assert rank[:6, 0].tolist() == [0, 2, 3, 9, 10, 20]
    assert rank[6, :4].tolist() == [21, 34, 38, 51]
    assert rank[15, -3:].tolist() == [250, 254, 255]


def test_mid_band_is_ranks_96_to_159():
    assert T.MID_BAND.shape == (64,)
    assert T.MID_BAND[0].item() == 5 * 16 + 8  # rank 96: 6th entry of diagonal 13 (rows rising)
    assert T.MID_BAND[-1].item() == 10 * 16 + 7  # rank 159: 9th entry of diagonal 17
    s = T.MID_BAND // 16 + T.MID_BAND % 16
    assert s.min().item() == 13 and s.max().item() == 17
    assert torch.equal(T.MID_BAND, T.ZIGZAG16[96:160])


# ---------------------------------------------------------------- DCT and colour

def test_dct_matrix_orthonormal_and_matches_scipy():
    d = T.dct_matrix()
    torch.testing.assert_close(d @ d.T, torch.eye(16, dtype=torch.float64), rtol=0, atol=1e-14)
    np.testing.assert_allclose(d.numpy(), scipy_fft.dct(np.eye(16), norm="ortho", axis=0), atol=1e-14)


def test_blockwise_dct_matches_scipy_dctn_and_round_trips():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(0, 60, size=(2, 3, 48, 64)))
    coef = T.blockwise_dct(x)
    assert coef.shape == (2, 3, 3, 4, 16, 16)
    for b, c, i, j in [(0, 0, 0, 0), (1, 2, 2, 3), (0, 1, 1, 2), (1, 0, 2, 0)]:
        block = x[b, c, 16 * i:16 * i + 16, 16 * j:16 * j + 16].numpy()
        np.testing.assert_allclose(coef[b, c, i, j].numpy(), scipy_fft.dctn(block, norm="ortho"),
                                   rtol=0, atol=1e-10)
    torch.testing.assert_close(T.blockwise_idct(coef), x, rtol=0, atol=1e-10)


def test_colour_conversion_known_values_and_round_trip():
    rgb = torch.tensor([[255.0, 255, 255], [255, 0, 0], [0, 0, 0]], dtype=torch.float64)
    ycc = T.rgb_to_ycbcr(rgb.T.reshape(1, 3, 3, 1))[0, :, :, 0].T
    expected = [[255, 128, 128], [76.245, 128 - 0.168735892 * 255, 255.5], [0, 128, 128]]
    torch.testing.assert_close(ycc, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-6)
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64) * 255
    torch.testing.assert_close(T.ycbcr_to_rgb(T.rgb_to_ycbcr(x)), x, rtol=0, atol=1e-10)


# ---------------------------------------------------------------- inject

@pytest.mark.parametrize("size", [(32, 48), (37, 50), (15, 17)])
def test_alpha_zero_is_identity(size):
    x = torch.rand(3, 3, *size, generator=torch.Generator().manual_seed(0))
    assert torch.equal(T.inject(x, 0.0, T.DEFAULT_PATTERN), x)
    torch.testing.assert_close(T.inject_blockwise(x, 0.0, T.DEFAULT_PATTERN), x, rtol=0, atol=1e-6)
    torch.testing.assert_close(T.inject_blockwise(x, torch.zeros(3), T.DEFAULT_PATTERN), x, rtol=0,
                               atol=1e-6)


@pytest.mark.parametrize("fn", PATHS, ids=["inject", "blockwise"])
def test_change_only_at_mid_band_and_equal_to_strength(fn):
    x = _textured(3, 48, 64)
    t = _pattern()
    alpha = torch.tensor([4.0, -2.4, 0.4], dtype=torch.float64)
    out = fn(x, alpha, t)
    assert out.min() > 0 and out.max() < 1  # no clamping happened
    coef = _ycc_dct_of_change(out, x).reshape(3, 3, 12, 256)  # 3×4 blocks per image
    expected = torch.zeros(3, 3, 256, dtype=torch.float64)
    expected[:, :, T.MID_BAND] = 0.25 * alpha[:, None, None] * t
    torch.testing.assert_close(coef, expected[:, :, None].expand_as(coef), rtol=0, atol=1e-6)
    assert coef.abs().max() > 1  # a real change, not a vacuous match


def test_change_at_mid_band_float32_tolerance():
    """float32 in/out: the output's rounding (~3e-8 on [0, 1]) gives <= 1e-4 on the 0–255 DCT."""
    x, t = _textured(2, 32, 32, torch.float32), _pattern(dtype=torch.float32)
    out = T.inject(x, 3.2, t)
    assert out.dtype == torch.float32
    coef = _ycc_dct_of_change(out, x).reshape(2, 3, 4, 256)
    expected = torch.zeros(3, 256, dtype=torch.float64)
    expected[:, T.MID_BAND] = 0.25 * 3.2 * t.double()
    torch.testing.assert_close(coef, expected[None, :, None].expand_as(coef), rtol=0, atol=1e-4)


@pytest.mark.parametrize("fn", PATHS, ids=["inject", "blockwise"])
def test_linear_in_alpha(fn):
    x, t = _textured(2, 32, 48), _pattern()
    d1, d2, dm = (fn(x, a, t) - x for a in (1.6, 3.2, -1.6))
    torch.testing.assert_close(d2, 2 * d1, rtol=0, atol=1e-12)
    torch.testing.assert_close(dm, -d1, rtol=0, atol=1e-12)


@pytest.mark.parametrize("fn", PATHS, ids=["inject", "blockwise"])
def test_per_image_alpha_equals_one_at_a_time(fn):
    x = torch.rand(4, 3, 37, 50, generator=torch.Generator().manual_seed(2))
    alpha = torch.tensor([0.0, 4.0, -0.8, 2.0])
    batched = fn(x, alpha, T.DEFAULT_PATTERN)
    for i in range(4):
        single = fn(x[i:i + 1], float(alpha[i]), T.DEFAULT_PATTERN)
        torch.testing.assert_close(batched[i:i + 1], single, rtol=0, atol=1e-7)


@pytest.mark.parametrize("size", [(37, 50), (15, 17), (16, 16), (1, 1), (384, 512)])
def test_shapes_range_and_paths_agree(size):
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(3))
    out = T.inject(x, torch.tensor([4.0, -4.0]), T.DEFAULT_PATTERN)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    ref = T.inject_blockwise(x, torch.tensor([4.0, -4.0]), T.DEFAULT_PATTERN)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)


def test_odd_size_is_the_crop_of_the_padded_size():
    big = _textured(2, 48, 64)
    t = _pattern()
    full = T.inject(big, 2.0, t)
    for h, w in ((37, 50), (32, 48)):  # padded, and a non-contiguous view of full blocks
        torch.testing.assert_close(T.inject(big[..., :h, :w], 2.0, t), full[..., :h, :w], rtol=0, atol=1e-12)
    channels_last = T.inject(big.to(memory_format=torch.channels_last), 2.0, t)
    torch.testing.assert_close(channels_last, full, rtol=0, atol=1e-12)


def test_clamps_to_unit_range():
    white, black = torch.ones(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    for x in (white, black):
        out = T.inject(x, 4.0, T.DEFAULT_PATTERN * 4)
        assert out.min() >= 0 and out.max() <= 1 and not torch.equal(out, x)


def test_alpha_forms_and_argument_errors():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    ref = T.inject(x, torch.tensor([2.0, 2.0]), T.DEFAULT_PATTERN)
    for a in (2.0, 2, torch.tensor(2.0), np.float64(2.0)):
        assert torch.equal(T.inject(x, a, T.DEFAULT_PATTERN), ref)
    with pytest.raises(ValueError, match="alpha"):
        T.inject(x, torch.ones(3), T.DEFAULT_PATTERN)
    with pytest.raises(ValueError, match="pattern"):
        T.inject(x, 1.0, torch.ones(3, 63))
    with pytest.raises(ValueError, match="images"):
        T.inject(x[0], 1.0, T.DEFAULT_PATTERN)
    with pytest.raises(ValueError, match="images"):
        T.inject((x * 255).to(torch.uint8), 1.0, T.DEFAULT_PATTERN)


def test_differentiable_in_pattern():
    t = _pattern(dtype=torch.float32).requires_grad_(True)
    T.inject(_textured(1, 32, 32, torch.float32), 4.0, t).sum().backward()
    assert t.grad is not None and t.grad.shape == (3, 64) and t.grad.abs().sum() > 0


def test_default_pattern_documented_values():
    p = T.DEFAULT_PATTERN
    assert p.shape == (3, 64) and p.dtype == torch.float32 and torch.isfinite(p).all()
    g = torch.Generator().manual_seed(0)
    again = (torch.rand(3, 64, generator=g, dtype=torch.float64) * 600 - 300) / 18
    assert torch.equal(p, again.float())
    assert p.abs().max() <= 300 / 18
    grey = torch.full((1, 3, 384, 512), 0.5, dtype=torch.float64)
    for alpha, psnr in ((4.0, 30.0), (1.0, 42.0)):
        mse = ((T.inject(grey, alpha, p) - grey) ** 2).mean().item()
        assert -10 * math.log10(mse) == pytest.approx(psnr, abs=0.05)
    mse4 = ((T.inject(grey, 4.0, p) - grey) ** 2).mean().item()
    assert mse4 == pytest.approx((8 / 255) ** 2, rel=0.03)              # alpha 4 sits at BAIQA's soft budget


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_like_cpu():
    x = torch.rand(3, 3, 37, 50, generator=torch.Generator().manual_seed(5))
    alpha = torch.tensor([4.0, -1.2, 0.0])
    for fn in PATHS:
        out = fn(x.cuda(), alpha.cuda(), T.DEFAULT_PATTERN.cuda())
        assert out.device.type == "cuda"
        torch.testing.assert_close(out.cpu(), fn(x, alpha, T.DEFAULT_PATTERN), rtol=0, atol=1e-6)
    # a CPU pattern and a float alpha are moved to the images' device
    assert T.inject(x.cuda(), 2.0, T.DEFAULT_PATTERN).device.type == "cuda"


# ---------------------------------------------------------------- load_pattern

def test_load_pattern_accepts_tensor_dict_and_npy(tmp_path):
    t = _pattern(dtype=torch.float64)
    torch.save(t, tmp_path / "a.pt")
    torch.save({"trigger": t.float()}, tmp_path / "b.pth")
    torch.save({"pattern": t, "note": "uap seed 3"}, tmp_path / "c.PT")
    np.save(tmp_path / "d.npy", t.numpy().astype(np.float32))
    for name in ("a.pt", "b.pth", "c.PT", "d.npy"):
        got = T.load_pattern(tmp_path / name)
        assert got.dtype == torch.float32 and got.shape == (3, 64)
        torch.testing.assert_close(got, t.float(), rtol=0, atol=0)


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: a file appears if code is executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_load_pattern_refuses_pickled_code(tmp_path):
    probe, marker = tmp_path / "probe", tmp_path / "marker"
    torch.save(_Payload(probe), tmp_path / "probe.pt")
    torch.load(tmp_path / "probe.pt", weights_only=False)  # the payload is real...
    assert probe.exists()
    torch.save({"trigger": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(HarnessError, match=r"loaded safely: .*weights_only=True.*GLOBAL io.open") as err:
        T.load_pattern(tmp_path / "evil.pt")
    assert not marker.exists()  # ...and load_pattern never runs it
    assert err.value.path == str(tmp_path / "evil.pt")
    assert str(tmp_path / "evil.pt") in str(err.value)


def test_load_pattern_refuses_npy_object_array(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(HarnessError, match="loaded safely"):
        T.load_pattern(tmp_path / "obj.npy")


@pytest.mark.parametrize("name, content, problem", [
    ("shape.pt", torch.zeros(3, 63), "shape"),
    ("transposed.npy", np.zeros((64, 3)), "shape"),
    ("flat.pt", torch.zeros(192), "shape"),
    ("nan.pt", torch.full((3, 64), float("nan")), "non-finite"),
    ("inf.npy", np.full((3, 64), np.inf), "non-finite"),
    ("int.pt", torch.zeros(3, 64, dtype=torch.int64), "floats"),
    ("int.npy", np.zeros((3, 64), dtype=np.int32), "floats"),
    ("bool.npy", np.zeros((3, 64), dtype=bool), "floats"),
    ("complex.pt", torch.zeros(3, 64, dtype=torch.complex64), "floats"),
    ("both.pt", {"trigger": torch.zeros(3, 64), "pattern": torch.zeros(3, 64)}, "exactly one"),
    ("neither.pt", {"weights": torch.zeros(3, 64)}, "exactly one"),
    ("list.pt", [torch.zeros(3, 64)], "tensor or array"),
    ("dictstr.pt", {"trigger": "abc"}, "tensor or array"),
])
def test_load_pattern_refuses_bad_content(tmp_path, name, content, problem):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, content)
    else:
        torch.save(content, path)
    with pytest.raises(HarnessError, match=problem) as err:
        T.load_pattern(path)
    assert err.value.path == str(path)


@pytest.mark.parametrize("name, problem", [
    ("p.npz", "must be a .pt"), ("p.txt", "must be a .pt"), ("p", "no extension"),
    ("missing.pt", "not found"), ("garbage.pt", "loaded safely"), ("garbage.npy", "loaded safely"),
])
def test_load_pattern_refuses_bad_files(tmp_path, name, problem):
    path = tmp_path / name
    if name != "missing.pt":
        path.write_bytes(b"\x00\x01 not a tensor or array file")
    with pytest.raises(HarnessError, match=problem) as err:
        T.load_pattern(path)
    assert str(path) in str(err.value)
