"""A generator of hostile inputs: damaged zips, lying headers, links, allocation bombs, alias bombs,
oversized CSV fields, forged store lines. Tests rebuild the corpus from these functions (nothing of
it is checked in); each function returns bytes (or writes one file) and says what it attacks."""
from __future__ import annotations

import io
import pickle
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np


# ----------------------------------------------------------------------------- zips
def zip_bytes(members: dict[str, bytes] | list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    """A plain zip (members may repeat a name when given as a list of pairs)."""
    buf = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(buf, "w", method) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        for name, data in items:
            z.writestr(name, data)
    return buf.getvalue()


def _patch_headers(blob: bytes, local_offset: int, central_offset: int, fmt: str, value: int) -> bytes:
    """Write ``value`` at the same field offset of the first local header and central directory entry."""
    out = bytearray(blob)
    local = out.find(b"PK\x03\x04")
    central = out.rfind(b"PK\x01\x02")  # the last one: a member may itself be a zip (an .npz)
    struct.pack_into(fmt, out, local + local_offset, value)
    struct.pack_into(fmt, out, central + central_offset, value)
    return bytes(out)


def bad_crc_zip(name: str, data: bytes) -> bytes:
    """One stored member whose bytes no longer match its CRC (a flipped byte)."""
    blob = bytearray(zip_bytes({name: data}))
    start = blob.find(b"PK\x03\x04") + 30 + len(name.encode())
    blob[start] ^= 0xFF
    return bytes(blob)


def lying_size_zip(name: str, data: bytes, declared: int) -> bytes:
    """One deflated member whose size headers declare ``declared`` bytes, not ``len(data)``."""
    return _patch_headers(zip_bytes({name: data}, zipfile.ZIP_DEFLATED), 22, 24, "<I", declared)


def encrypted_zip(name: str, data: bytes) -> bytes:
    """One member flagged as encrypted (general purpose bit 0)."""
    return _patch_headers(zip_bytes({name: data}), 6, 8, "<H", 0x1)


def unknown_method_zip(name: str, data: bytes, method: int = 99) -> bytes:
    """One member compressed with a method no reader knows."""
    return _patch_headers(zip_bytes({name: data}), 8, 10, "<H", method)


# ----------------------------------------------------------------------------- images and arrays
def png_declaring(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header declares ``width`` x ``height`` grey pixels (decoding would need
    width*height bytes; its IDAT holds a few rows only)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 2, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def npy_declaring(shape: tuple[int, ...], dtype: str = "<f8", payload: bytes = b"") -> bytes:
    """A .npy header declaring ``shape`` followed by ``payload`` (too short, as a rule)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=True)
    return buf.getvalue()


# ----------------------------------------------------------------------------- pickles
class _Call:
    """Pickles as a call of ``fn(*args)`` (nothing is called while pickling)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def bytes_bomb_pickle() -> bytes:
    """~40 bytes asking ``builtins.bytes(8 << 30)``: 8 GiB."""
    return pickle.dumps(_Call(bytes, 8 << 30), protocol=2)


def range_bomb_pickle() -> bytes:
    """``list(range(300_000_000))``: ~10 GB of ints from ~60 bytes."""
    return pickle.dumps(_Call(list, range(300_000_000)), protocol=2)


def array_bomb_pickle() -> bytes:
    """numpy's ``_reconstruct(ndarray, (2**40,), b'b')``: a terabyte array declared in ~100 bytes."""
    from numpy._core.multiarray import _reconstruct

    return pickle.dumps(_Call(_reconstruct, np.ndarray, (1 << 40,), b"b"), protocol=2)


# ----------------------------------------------------------------------------- text
def alias_bomb_yaml(depth: int = 9, width: int = 9) -> str:
    """A ~700-byte task file whose ``description`` expands to width**depth strings through aliases."""
    lines = [f'  a0: &a0 [{", ".join(["lol"] * width)}]']
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth + 1)]
    return "task: bomb\nfamily: fas\ndescription:\n" + "\n".join(lines) + "\n"


def long_field_csv(header: str, length: int = 131_073) -> bytes:
    """A CSV whose second line's first field is ``length`` characters (over csv's default limit)."""
    return (header + "\n" + "x" * length + ",0.5\n").encode()


def odd_numbers() -> list[str]:
    """Numbers Python's float() takes that are not ASCII decimals: underscores, Arabic-Indic and fullwidth digits."""
    return ["7_2", "\u0667\u0662", "\uff17\uff12"]


def bad_store_lines() -> list[bytes]:
    """JSON lines with every required key but wrong types: a string seq, a metric that is not a dict."""
    common = {"id": "000009-x", "time": "2026-01-01T00:00:00Z", "task": "t", "task_version": 1, "config_hash": "c",
              "phase": "final", "team": "evil", "file_hash": "f", "reference": None, "status": "scored"}
    import json

    return [json.dumps({**common, "seq": "x", "metrics": {"m": {"value": 1.0}}}).encode(),
            json.dumps({**common, "seq": 99, "metrics": {"m": 5}}).encode()]


def make_fifo(path: Path) -> Path:
    import os

    os.mkfifo(path)
    return path
