"""Image I/O shared by the image families (splicing, IQA backdoor; FAS reads its frames with
OpenCV): the safe reader and the conversion to the models' float tensors.

Decoding (:func:`read_image`, :func:`decode_checked`): the image size is
read from the header and checked against the pixel limit (:data:`MAX_PIXELS`, env
``HARNESS_MAX_PIXELS``) **before** decoding; Pillow's own decompression-bomb check is suspended
while the harness opens a file, so the harness's clear message comes first. Corrupt or truncated
files and unsupported modes raise :class:`HarnessError` naming the file. Mode conversions:

* ``RGB`` as is; ``RGBA`` alpha dropped; ``L`` / ``LA`` grey replicated to 3 channels (alpha
  dropped); ``P`` / ``PA`` palette converted to RGB; ``CMYK`` converted to RGB (Pillow's naive
  conversion); ``1`` bilevel → 0 / 255.
* 16-bit ``I;16`` (and its byte orders ``I;16B``/``I;16L``/``I;16N``): ``v >> 8``. ``I`` (32-bit
  int, how some 16-bit files open): accepted when every value lies in 0..65535 (the "max 65535"
  rule), then ``v >> 8``; other ranges are refused.
* Anything else (``F``, ``YCbCr``, ``LAB``, ``HSV``, ...) is refused.

Models see float32 (C, H, W) images in [0, 1] (:func:`image_tensor`). Test sets stream the
decoded uint8 pixels (:func:`pixels`) and convert each batch through the test set's ``prepare``
(:func:`model_images`): in the decoding threads for a CPU model, on the device for a GPU model
(a quarter of the bytes to copy), with the same bits.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import PIL
from PIL import Image, UnidentifiedImageError
from torch.utils.data import get_worker_info

from .errors import HarnessError

# decoded images are read-only views of the decoder's memory, and the tensors made of them
# (pixels) are only ever read: torch's warning about that, from this module alone, is noise. A
# filter installed once, as catch_warnings() is not safe in the decoding threads.
warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning,
                        module=__name__.replace(".", r"\."))

#: default pixel limit (H*W) of any decoded image; ``HARNESS_MAX_PIXELS`` overrides it
MAX_PIXELS = 80_000_000
MAX_PIXELS_ENV = "HARNESS_MAX_PIXELS"
#: Pillow formats the harness decodes (whatever the extension says)
IMAGE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "BMP")

_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)
#: 16-bit grey modes (byte orders), read as ``v >> 8``
SIXTEEN_BIT_MODES: tuple[str, ...] = ("I;16", "I;16B", "I;16L", "I;16N")
_RGB_CONVERT = ("RGBA", "P", "PA", "CMYK")
_GREY = ("L", "LA", "1")


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels``, else ``$HARNESS_MAX_PIXELS``, else :data:`MAX_PIXELS`."""
    if max_pixels is not None:
        return int(max_pixels)
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return MAX_PIXELS
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise HarnessError(f"{MAX_PIXELS_ENV}={text!r} is not a positive whole number of pixels")
    return value


_bomb_lock = threading.Lock()
_bomb_users = 0
_bomb_saved: int | None = None


@contextmanager
def _pillow_unlimited() -> Iterator[None]:
    """Suspend Pillow's own decompression-bomb check (the harness checks the header itself);
    reference-counted, so concurrent decodes don't restore it under each other."""
    global _bomb_users, _bomb_saved
    with _bomb_lock:
        if _bomb_users == 0:
            _bomb_saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _bomb_users += 1
    try:
        yield
    finally:
        with _bomb_lock:
            _bomb_users -= 1
            if _bomb_users == 0:
                Image.MAX_IMAGE_PIXELS = _bomb_saved


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.3g}"


class WrongSize(HarnessError):
    """An image whose header declares another size than expected (found before decoding it)."""

    def __init__(self, message: str, name: str | Path, size: tuple[int, int]):
        super().__init__(message, name)
        self.size = size  # (height, width) the header declares


def decode_checked(source: Path | bytes, name: str | Path, max_pixels: int | None, formats: tuple[str, ...],
            what: str = "image", size: tuple[int, int] | None = None) -> Image.Image:
    """Open ``source``, check its header size against the limit (and against ``size`` = (height,
    width) when given), then load it fully: nothing is decoded before its size is known to fit."""
    limit = max_pixels_limit(max_pixels)
    with _pillow_unlimited():
        try:
            im = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=list(formats))
        except FileNotFoundError:
            raise HarnessError(f"{what} file not found", name) from None
        except _DECODE_ERRORS as e:
            raise HarnessError(f"cannot read {what} (not a {'/'.join(formats)} file, or corrupt): {e}", name) from None
        w, h = im.size
        if size is not None and (h, w) != tuple(size):
            im.close()
            raise WrongSize(f"{what} is {h}x{w} (height x width), expected {size[0]}x{size[1]}", name, (h, w))
        if w * h > limit or w <= 0 or h <= 0:
            im.close()
        if w * h > limit:
            raise HarnessError(f"image is {w}x{h} = {_mp(w * h)} MP; the limit is {_mp(limit)} MP ({MAX_PIXELS_ENV})",
                               name)
        if w <= 0 or h <= 0:
            raise HarnessError(f"{what} has an empty size {w}x{h}", name)
        try:
            im.load()
        except _DECODE_ERRORS as e:
            im.close()
            raise HarnessError(f"cannot decode {what} (corrupt or truncated): {e}", name) from None
    return im


def sixteen_to_8(im: Image.Image, name: str | Path) -> np.ndarray:
    """16-bit grey (``I;16*``, or ``I`` with values in 0..65535) → uint8 by ``v >> 8``."""
    a = np.asarray(im)
    if im.mode == "I":
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise HarnessError(f"32-bit integer image with values {lo}..{hi}; only 0..65535 (16-bit) is accepted", name)
    return (a.astype(np.uint32) >> 8).astype(np.uint8)


def unsupported_mode(mode: str, name: str | Path, accepted: str) -> HarnessError:
    return HarnessError(f"unsupported image mode {mode!r}; accepted: {accepted}", name)


_IMAGE_MODES = "RGB, RGBA, L, LA, P, PA, 1, CMYK, I;16, I (0..65535)"


def _arrow_export() -> Any:
    """pyarrow where Pillow's Arrow export can hand out its pixels: Pillow >= 13 (Pillow 11.2's
    export leaked every exported image, python-pillow/Pillow#8950; 13.0 is where it was measured
    not to, and a test checks the installed one) and pyarrow importable; else None."""
    global _PYARROW
    if _PYARROW is None:
        _PYARROW = False
        major = int(PIL.__version__.split(".")[0]) if PIL.__version__.split(".")[0].isdigit() else 0
        if major >= 13 and hasattr(Image.Image, "__arrow_c_array__"):
            try:
                import pyarrow

                _PYARROW = pyarrow
            except ImportError:
                pass
    return _PYARROW or None


_PYARROW: Any = None


def rgb_pixels(im: Image.Image) -> np.ndarray:
    """A decoded ``RGB`` image's pixels as uint8 (H, W, 3). Where Pillow exports its memory
    through the Arrow C interface (:func:`_arrow_export`; an image in one memory block, i.e. up to
    Pillow's block size, 16 MB of RGBX: about 4 MP) this is a read-only view of Pillow's own
    RGBX pixels, which stay valid after the image is closed; otherwise Pillow's packed copy
    (``np.asarray``, which packs RGBX into RGB in 64 kB pieces and joins them: two copies). The
    same bytes either way."""
    w, h = im.size
    pa = _arrow_export()
    if pa is not None and w and h:
        try:
            exported = pa.array(im)
            values = (exported.flatten().to_numpy(zero_copy_only=True)
                      if pa.types.is_fixed_size_list(exported.type) and exported.type.list_size == 4 else None)
        except (ValueError, TypeError, AttributeError, pa.ArrowException):  # several blocks
            values = None
        if values is not None and values.dtype == np.uint8 and values.size == 4 * w * h:
            return values.reshape(h, w, 4)[:, :, :3]
    return np.asarray(im, dtype=np.uint8)


def to_rgb(im: Image.Image, name: str | Path) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return rgb_pixels(im)
    if mode in _RGB_CONVERT:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    if mode in _GREY:
        grey = np.asarray(im.convert("L"), dtype=np.uint8)
    elif mode in SIXTEEN_BIT_MODES or mode == "I":
        grey = sixteen_to_8(im, name)
    else:
        raise unsupported_mode(mode, name, _IMAGE_MODES)
    return np.repeat(grey[:, :, None], 3, axis=2)


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image, from its header only (nothing is decoded)."""
    with _pillow_unlimited():
        try:
            with Image.open(path, formats=list(IMAGE_FORMATS)) as im:
                w, h = im.size
        except FileNotFoundError:
            raise HarnessError("image file not found", path) from None
        except _DECODE_ERRORS as e:
            raise HarnessError(f"cannot read image header: {e}", path) from None
    return h, w


def read_image(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """An image as uint8 (H, W, 3) RGB (mode conversions: module docstring); read-only, and for
    an RGB file a view of the decoder's RGBX memory (:func:`rgb_pixels`), not C-contiguous."""
    im = decode_checked(Path(path), path, max_pixels, IMAGE_FORMATS)
    try:
        return to_rgb(im, path)
    finally:
        im.close()


#: file extension written for each decoded format
FORMAT_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp"}


def check_row_image(row_image, max_pixels: int | None = None) -> tuple[str, tuple[int, int]]:
    """Check a ``datasets`` row's encoded image through the safe decoder (pixel limit, refused
    modes; errors name the row and column). Returns (its format, e.g. ``PNG``, (H, W))."""
    im = decode_checked(row_image.data, row_image.where, max_pixels, IMAGE_FORMATS)
    try:
        if im.mode == "I":
            sixteen_to_8(im, row_image.where)  # refuses values outside 0..65535
        elif im.mode not in ("RGB", *_RGB_CONVERT, *_GREY, *SIXTEEN_BIT_MODES):
            raise unsupported_mode(im.mode, row_image.where, _IMAGE_MODES)  # what to_rgb accepts, without converting
        return im.format, (int(im.size[1]), int(im.size[0]))
    finally:
        im.close()


def save_row_image(row_image, folder: Path, stem: str, max_pixels: int | None = None) -> tuple[Path, tuple[int, int]]:
    """Check a ``datasets`` row's encoded image (:func:`check_row_image`), then write its bytes
    unchanged as ``folder/<stem><ext>`` (ext from the decoded format). Returns (the file, (H, W))."""
    fmt, shape = check_row_image(row_image, max_pixels)
    path = folder / f"{stem}{FORMAT_EXTENSIONS[fmt]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(row_image.data)
    return path, shape


def image_tensor(image: np.ndarray, shared: bool = False) -> torch.Tensor:
    """A uint8 (H, W, C) image as float32 (C, H, W) in [0, 1]: bit-identical to torch's
    ``.float().div_(255)`` (one correctly rounded division either way), in one numpy pass, which
    uses no intra-op threads that a decoding worker or a busy main process would contend for.
    ``shared``: written straight into shared memory, so that a DataLoader worker hands it to the
    main process without the copy torch otherwise makes (12 MB for a 1024² image)."""
    shape = (image.shape[2], *image.shape[:2])
    if shared:
        storage = torch.UntypedStorage._new_shared(4 * int(np.prod(shape)))  # as torch's default_collate does
        out = torch.empty(0, dtype=torch.float32).set_(storage, 0, shape)
    else:
        out = torch.empty(shape, dtype=torch.float32)
    np.divide(image.transpose(2, 0, 1), np.float32(255), out=out.numpy(), dtype=np.float32)
    return out


def pixels(image: np.ndarray) -> torch.Tensor:
    """A decoded uint8 (H, W, C) image as a tensor sharing its memory, for the trip from a
    decoding worker to the model: a quarter of the float image's bytes, and no conversion where
    the decoding runs. :func:`model_images` makes the model's float images of it on the device."""
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"pixels: expected a uint8 (H, W, C) image, got {image.dtype} {image.shape}")
    return torch.from_numpy(image)  # torch's warning for a read-only image: filtered for this module (top)


def model_images(images: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """The model's images from a batch's :func:`pixels`: float32 (C, H, W) in [0, 1] on
    ``device``, bit-identical to :func:`image_tensor`. On the CPU it is :func:`image_tensor`
    (the runner calls it in the decoding workers: threads for the image families; a DataLoader
    worker process writes it straight into shared memory); on a GPU
    the same correctly rounded division runs there, after a copy of a quarter of the bytes.
    Float images (already converted, e.g. with a trigger added) pass through unchanged."""
    out = []
    in_worker = get_worker_info() is not None
    for x in images:
        if x.dtype != torch.uint8:
            out.append(x)
        elif device.type == "cpu":
            out.append(image_tensor(x.numpy(), shared=in_worker))
        else:
            out.append(float_image_on(x, device))
    return out


def float_image_on(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (H, W, C) → float32 (C, H, W) / 255 computed by torch on ``device`` (a GPU's path in
    :func:`model_images`; bit-identical to :func:`image_tensor`, tested on the CPU)."""
    chw = x.to(device, non_blocking=True).permute(2, 0, 1)
    # a 0-dim tensor divisor: CUDA divides by a host scalar as a multiplication by its reciprocal
    # (one bit off for 126 of the 256 levels), by a device tensor truly, as numpy and the CPU do
    return torch.empty(chw.shape, dtype=torch.float32, device=device).copy_(chw).div_(
        torch.tensor(255.0, dtype=torch.float32, device=device))


def prepare_images(inputs: dict, device: torch.device) -> dict:
    """A test set's ``prepare`` for batches whose ``images`` list holds :func:`pixels`: the same
    batch with the model's images (:func:`model_images`)."""
    return {**inputs, "images": model_images(inputs["images"], device)}
