"""A minimal Motion-JPEG AVI writer: RIFF ``AVI `` with one ``MJPG`` video stream and an ``idx1``
index, every frame a key frame.

Written by hand (not by ``cv2.VideoWriter``) so the bytes depend only on the JPEG frames: OpenCV's
own MJPEG encoder takes a NEON code path on ARM that rounds its DCT differently from x86, while
libjpeg-turbo (``cv2.imencode``) gives the same bytes from its C and SIMD paths.
"""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

AVIF_HASINDEX = 0x10
AVIIF_KEYFRAME = 0x10


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return fourcc + struct.pack("<I", len(payload)) + payload + pad


def _list(kind: bytes, payload: bytes) -> bytes:
    return _chunk(b"LIST", kind + payload)


def write_mjpeg_avi(path: Path, jpegs: list[bytes], fs: float, width: int, height: int) -> None:
    """Write ``jpegs`` (baseline JPEG frames of ``width`` × ``height``) as an AVI at ``fs`` frames/s."""
    if not jpegs:
        raise ValueError("an AVI needs at least one frame")
    rate = Fraction(fs).limit_denominator(1001)
    n, biggest = len(jpegs), max(len(j) for j in jpegs)
    avih = struct.pack("<14I", round(1e6 / fs), biggest * int(-(-rate.numerator // rate.denominator)), 0,
                       AVIF_HASINDEX, n, 0, 1, biggest, width, height, 0, 0, 0, 0)
    strh = b"vids" + b"MJPG" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, rate.denominator, rate.numerator,
                                           0, n, biggest, 0xFFFFFFFF, 0, 0, 0, width, height)
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    header = _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))
    frames, index, offset = [], [], 4          # index offsets count from the 'movi' identifier
    for jpeg in jpegs:
        chunk = _chunk(b"00dc", jpeg)
        index.append(b"00dc" + struct.pack("<III", AVIIF_KEYFRAME, offset, len(jpeg)))
        frames.append(chunk)
        offset += len(chunk)
    body = b"AVI " + header + _list(b"movi", b"".join(frames)) + _chunk(b"idx1", b"".join(index))
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
