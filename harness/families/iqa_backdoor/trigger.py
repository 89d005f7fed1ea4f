"""BAIQA's scalable DCT trigger (reference ``splicing_iqa.md`` §3.2), batched and device-agnostic.

Pipeline (what :func:`inject_blockwise` does literally, in float64 on the images' device):
zero-pad bottom/right to a multiple of 16, ×255, RGB → YCbCr (full-range BT.601 / JPEG), −128 on
all three channels, orthonormal 2-D DCT-II of every 16×16 block (X = D·x·Dᵀ), add
``strength[b, c, k] = 0.25·alpha[b]·pattern[c, k]`` at the 64 zig-zag positions ``MID_BAND`` of
every block, inverse DCT (x = Dᵀ·X·D), +128, YCbCr → RGB, /255, crop the padding, clamp to [0, 1].

:func:`inject` computes the same function faster: every step but the final clamp is affine and
blocks are independent, so the triggered image is ``clean + tile(M⁻¹·Dᵀ·S·D)/255`` with one
(B, 3, 16, 16) RGB delta per image, tiled from the top-left corner (tests check both agree).
With ``alpha = 0`` the input comes back bit for bit (clamped, so values must already be in [0, 1]).

Conventions and differences from the BAIQA code (``network.py``):

- ``ZIGZAG16`` is the JPEG zig-zag *scan order* of a 16×16 block: ``ZIGZAG16[r]`` is the row-major
  flat index (row·16 + col) of the coefficient of rank r; diagonal s = row + col is walked with
  the row increasing when s is odd and decreasing when s is even, so the scan starts
  (0,0), (0,1), (1,0), (2,0), (1,1), (0,2), ... and ends (15,15). ``argsort(ZIGZAG16)`` is the rank
  table BAIQA hard-codes (row 0: 0, 1, 5, 6, 14, ...). BAIQA indexes the flattened block with
  *that rank table* (``trigger_patch[..., zigzag_indices[96:160]]``), i.e. it treats ranks as
  positions; its 64 "mid-frequency" positions are therefore a scattered set (rows 6–9 of the rank
  table read as flat indices), not zig-zag ranks 96–159 as used here.
- The DCT here is orthonormal; BAIQA's ``dct_2d``/``idct_2d`` use ``norm=None`` (DCT-II scaled
  by 2 per axis). A BAIQA coefficient change s at (u, v) equals s·f(u)·f(v) here, with
  f(0) = 1/(2·√16) = 1/8 and f(k>0) = 1/(2·√8) ≈ 0.177 (so s/32 away from row/column 0).
- BAIQA rounds ×255 to integers before the transform; no rounding here (α = 0 is the identity).
- The YCbCr→RGB matrix is the exact float64 inverse of the RGB→YCbCr one (JPEG constants), so
  the colour round trip is exact to float64 rounding.
"""
from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from harness.errors import HarnessError

BLOCK = 16
N_MID = 64
MID_START = 96  # zig-zag ranks MID_START .. MID_START + N_MID - 1 (96..159)


def _zigzag(n: int) -> list[int]:
    """JPEG zig-zag scan order of an n×n block as row-major flat indices."""
    order = []
    for s in range(2 * n - 1):
        rows = range(max(0, s - n + 1), min(s, n - 1) + 1)
        order += [r * n + (s - r) for r in (rows if s % 2 else reversed(rows))]
    return order


ZIGZAG16: Tensor = torch.tensor(_zigzag(BLOCK), dtype=torch.long)
MID_BAND: Tensor = ZIGZAG16[MID_START:MID_START + N_MID].clone()

# Full-range BT.601 (JPEG / JFIF), 0–255 scale: ycc = RGB2YCC @ rgb + (0, 128, 128).
_RGB2YCC = np.array([[0.299, 0.587, 0.114],
                     [-0.168735892, -0.331264108, 0.5],
                     [0.5, -0.418687589, -0.081312411]])
_YCC2RGB = np.linalg.inv(_RGB2YCC)
_YCC_OFFSET = np.array([0.0, 128.0, 128.0])


def dct_matrix(n: int = BLOCK, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """Orthonormal DCT-II matrix D (n, n): X = D·x·Dᵀ, x = Dᵀ·X·D (scipy ``norm="ortho"``)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.to(dtype=dtype, device=device)


def _mix(x: Tensor, m: np.ndarray, offset: np.ndarray | None = None) -> Tensor:
    """Apply a 3×3 channel matrix (and offset) to (B, 3, H, W) in x's dtype and device."""
    out = torch.einsum("vc,bchw->bvhw", torch.as_tensor(m, dtype=x.dtype, device=x.device), x)
    if offset is not None:
        out = out + torch.as_tensor(offset, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return out


def rgb_to_ycbcr(rgb255: Tensor) -> Tensor:
    """(B, 3, H, W) RGB on 0–255 → full-range YCbCr on 0–255 (JPEG)."""
    return _mix(rgb255, _RGB2YCC, _YCC_OFFSET)


def ycbcr_to_rgb(ycc255: Tensor) -> Tensor:
    """Exact inverse of :func:`rgb_to_ycbcr`."""
    return _mix(ycc255 - torch.as_tensor(_YCC_OFFSET, dtype=ycc255.dtype,
                                         device=ycc255.device).view(1, 3, 1, 1), _YCC2RGB)


def _blocks(x: Tensor) -> Tensor:
    """(B, C, H, W), H and W multiples of 16 → (B, C, nH, nW, 16, 16) (a copy)."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // BLOCK, BLOCK, w // BLOCK, BLOCK).permute(0, 1, 2, 4, 3, 5).contiguous()


def _unblocks(x: Tensor) -> Tensor:
    b, c, nh, nw = x.shape[:4]
    return x.permute(0, 1, 2, 4, 3, 5).reshape(b, c, nh * BLOCK, nw * BLOCK)


def blockwise_dct(x: Tensor) -> Tensor:
    """Orthonormal 2-D DCT of every 16×16 block: (B, C, H, W) → (B, C, nH, nW, 16, 16)."""
    d = dct_matrix(dtype=x.dtype, device=x.device)
    return d @ _blocks(x) @ d.T


def blockwise_idct(coef: Tensor) -> Tensor:
    """Inverse of :func:`blockwise_dct`: (B, C, nH, nW, 16, 16) → (B, C, H, W)."""
    d = dct_matrix(dtype=coef.dtype, device=coef.device)
    return _unblocks(d.T @ coef @ d)


def _check(images: Tensor, alpha, pattern: Tensor) -> tuple[Tensor, Tensor]:
    """Validate the arguments; return alpha (B,) and pattern (3, 64) in float64 on the device."""
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3 \
            or not images.is_floating_point():
        raise ValueError(f"images must be a float (B, 3, H, W) tensor, got "
                         f"{getattr(images, 'shape', type(images))}")
    if not isinstance(pattern, Tensor) or tuple(pattern.shape) != (3, N_MID):
        raise ValueError(f"pattern must be a (3, {N_MID}) tensor, got "
                         f"{getattr(pattern, 'shape', type(pattern))}")
    b, dev = images.shape[0], images.device
    a = torch.as_tensor(alpha, dtype=torch.float64, device=dev)
    if a.ndim == 0:
        a = a.expand(b)
    elif tuple(a.shape) != (b,):
        raise ValueError(f"alpha must be a number or a ({b},) tensor, got shape {tuple(a.shape)}")
    return a, pattern.to(device=dev, dtype=torch.float64)


def _strength(a: Tensor, t: Tensor) -> Tensor:
    """DCT-domain additive coefficients (B, 3, 16, 16): 0.25·α·t at MID_BAND, 0 elsewhere."""
    s = torch.zeros(a.shape[0], 3, BLOCK * BLOCK, dtype=torch.float64, device=a.device)
    s[:, :, MID_BAND.to(a.device)] = 0.25 * a[:, None, None] * t[None]
    return s.view(-1, 3, BLOCK, BLOCK)


def inject(images: Tensor, alpha: float | Tensor, pattern: Tensor) -> Tensor:
    """Add the trigger at strength ``0.25·alpha·pattern`` to (B, 3, H, W) images in [0, 1].

    ``alpha`` is a number or a (B,) tensor (one α per image). Runs on the images' device and
    returns their dtype; the per-block delta is built in float64 (see the module docstring).
    """
    a, t = _check(images, alpha, pattern)
    b, _, h, w = images.shape
    d = dct_matrix(device=images.device)
    delta = _mix(d.T @ _strength(a, t) @ d, _YCC2RGB) / 255.0  # (B, 3, 16, 16) RGB on [0, 1]
    nh, nw = -(-h // BLOCK), -(-w // BLOCK)
    x = images
    if (nh * BLOCK, nw * BLOCK) != (h, w):
        x = torch.nn.functional.pad(images, (0, nw * BLOCK - w, 0, nh * BLOCK - h))
    x = x.reshape(b, 3, nh, BLOCK, nw, BLOCK)  # broadcast the block delta, no tiled copy
    out = (x + delta.to(images.dtype).view(b, 3, 1, BLOCK, 1, BLOCK)).view(b, 3, nh * BLOCK, -1)
    if x.data_ptr() != images.data_ptr():
        out = out[..., :h, :w].contiguous()
    return out.clamp_(0.0, 1.0)


def inject_blockwise(images: Tensor, alpha: float | Tensor, pattern: Tensor) -> Tensor:
    """The literal pipeline (pad, YCbCr, blockwise DCT, add, inverse, crop), float64 inside.

    Same result as :func:`inject` (to float rounding); kept as the reference-shaped path.
    """
    a, t = _check(images, alpha, pattern)
    _, _, h, w = images.shape
    x = images.to(torch.float64) * 255.0
    x = torch.nn.functional.pad(x, (0, -w % BLOCK, 0, -h % BLOCK))  # zeros, bottom/right
    coef = blockwise_dct(rgb_to_ycbcr(x) - 128.0)
    coef = coef + _strength(a, t)[:, :, None, None]
    y = ycbcr_to_rgb(blockwise_idct(coef) + 128.0) / 255.0
    return y[..., :h, :w].clamp_(0.0, 1.0).to(images.dtype)


def _default_pattern() -> Tensor:
    """BAIQA's initialisation U(−300, 300) (torch.Generator seed 0), divided by 18."""
    g = torch.Generator().manual_seed(0)
    return ((torch.rand(3, N_MID, generator=g, dtype=torch.float64) * 600.0 - 300.0) / 18.0).float()


#: Deterministic (3, 64) pattern for the embedded sample: U(−300, 300) drawn with
#: ``torch.Generator().manual_seed(0)`` (``torch.rand``, float64) and divided by 18. (Dividing by
#: 32, the factor that maps BAIQA's un-normalised DCT to the orthonormal one away from row/column
#: 0, would give BAIQA's initial numeric range in this module's DCT; /18 is 32/18 ≈ 1.78× that.)
#: Values lie in [−16.67, 16.67]. On a mid-grey image (0.5 everywhere, no clamping; RGB, peak 1;
#: 384×512) α = 4 gives PSNR 30.0 dB, i.e. at BAIQA's soft budget MSE <= (8/255)² (PSNR >= 30.07 dB;
#: the MSE is ≈ 1.7 % over that bound), and α = 1 gives 42.0 dB.
DEFAULT_PATTERN: Tensor = _default_pattern()


def _refuse(path: Path, problem: str) -> HarnessError:
    return HarnessError(f"trigger pattern {problem}", path)


def load_pattern(path: str | Path) -> Tensor:
    """Load a trigger pattern: a float (3, 64) array, returned as float32 on the CPU.

    ``.pt``/``.pth``: ``torch.load(weights_only=True)`` of a tensor, or of a dict holding exactly
    one of the keys ``"trigger"``/``"pattern"`` with a tensor; ``.npy``: ``np.load`` without
    pickle. Anything else, pickled code, a wrong shape or dtype, or non-finite values raise
    :class:`HarnessError` naming the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".pt", ".pth", ".npy"):
        raise _refuse(path, f"must be a .pt, .pth or .npy file, not {suffix or 'no extension'!r}")
    if not path.is_file():
        raise _refuse(path, "file not found")
    try:
        if suffix == ".npy":
            obj = np.load(path, allow_pickle=False)
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # refused pickles, corrupt files: one line, never a traceback
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
        found = re.search(r"WeightsUnpickler error: (.*?)(?: Please use|$)", text, re.M)
        if isinstance(exc, pickle.UnpicklingError) and found:
            reason = found.group(1).strip()[:200] or "not a valid file"
            raise _refuse(path, f"could not be loaded safely: torch.load(weights_only=True) "
                                f"refused it ({reason})") from None
        lines = text.strip().splitlines()
        raise _refuse(path, f"could not be loaded safely ({type(exc).__name__}: "
                            f"{(lines[0] if lines else '')[:200]})") from None
    if isinstance(obj, dict):
        keys = [k for k in ("trigger", "pattern") if k in obj]
        if len(keys) != 1:
            raise _refuse(path, f"dict must hold exactly one of 'trigger'/'pattern', has keys "
                                f"{sorted(map(str, obj))[:10]}")
        obj = obj[keys[0]]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind != "f":
            raise _refuse(path, f"must hold floats, not dtype {obj.dtype}")
        obj = torch.from_numpy(np.ascontiguousarray(obj))
    if not isinstance(obj, Tensor):
        raise _refuse(path, f"must hold a tensor or array, not {type(obj).__name__}")
    if not obj.is_floating_point():
        raise _refuse(path, f"must hold floats, not dtype {obj.dtype}")
    if tuple(obj.shape) != (3, N_MID):
        raise _refuse(path, f"must have shape (3, {N_MID}), has {tuple(obj.shape)}")
    if not torch.isfinite(obj).all():
        raise _refuse(path, "holds non-finite values (nan or inf)")
    return obj.detach().to(torch.float32).clone()
