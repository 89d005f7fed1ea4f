"""Deception features: safe reading of organizer pickles, the memory-mapped feature store, batching.

Organizer pickles (reference rppg_deception.md §2.1) hold a list of clip dicts (or a dict of clip
dicts) with keys ``video_x``, ``OpenFace_x``, ``x_affect``, ``audio_x``, ``audio_wave``,
``DD_label`` and ``videoname``. Pickle runs code while it loads, so :func:`safe_load_pickle`
admits only plain containers, numbers, strings and numpy arrays (an allow-list by exact name).
:func:`convert` turns a pickle into a store folder (``store.json``, ``clips.json`` and one ``.npy``
per modality) that :class:`FeatureStore` memory-maps, so training reads only the rows it needs.

Conventions: truth = 1, lie = 0; every array of a clip carries a leading sub-clip axis K (test
pickles have K sub-clips; a clip without them gets K = 1). Faces and mel images are stored as
uint8; float images are scaled by 255 when the file's largest value for that modality is <= 1.0
(decided once per file and modality, so a dark clip is not rescaled on its own), else clipped to
0..255 and rounded. AU, affect and wave are float32.
"""
from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import pickle
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import HarnessError
from ...digest import file_sha256
from ...files import atomic_dir, check_replaceable, write_manifest

MODALITIES: tuple[str, ...] = ("faces", "au", "affect", "mel", "wave")
ORGANIZER_KEYS: dict[str, str] = {
    "video_x": "faces", "OpenFace_x": "au", "x_affect": "affect", "audio_x": "mel", "audio_wave": "wave"}
# ndim of one sub-clip, and the required size of the last axis (None: any)
ROW_NDIM: dict[str, int] = {"faces": 4, "au": 2, "affect": 2, "mel": 3, "wave": 1}
LAST_DIM: dict[str, int | None] = {"faces": 3, "au": 43, "affect": 7, "mel": 3, "wave": None}
IMAGE_MODALITIES = ("faces", "mel")
STORE_FORMAT, STORE_VERSION = "harness-deception-features", 1
STORE_META, CLIPS_META = "store.json", "clips.json"  # a folder holding STORE_META is a feature store
WAVE_RATE = 16_000

_CONVERT_HINT = "see 'harness data convert'"
_BUILTINS = {"bool", "int", "float", "complex", "str", "bytes", "bytearray", "list", "tuple", "dict",
             "set", "frozenset", "slice"}  # no range: with list() it makes a huge list from ~100 bytes
# callables that could allocate from a small argument (bytes(8 << 30), list(iterator), an array of a
# declared shape): each is wrapped to accept only already-built content, or counted in the budget
_BUILT_ONLY = {"bytes", "bytearray", "list", "tuple", "dict", "set", "frozenset", "str"}
_NUMPY_NAMES = {"multiarray": {"_reconstruct", "scalar"}, "numeric": {"_frombuffer"}}
_ALLOWED: set[tuple[str, str]] = (
    {(m, n) for m in ("builtins", "__builtin__") for n in _BUILTINS}
    | {("collections", "OrderedDict"), ("_codecs", "encode"), ("numpy", "ndarray"), ("numpy", "dtype")}
    | {(f"numpy.{core}.{sub}", n) for core in ("core", "_core") for sub, names in _NUMPY_NAMES.items()
       for n in names})


# ----------------------------------------------------------------------------- safe unpickling

class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that imports nothing outside ``_ALLOWED``, refuses persistent ids, and lets no
    allowed callable allocate more than the file could hold: containers and bytes are built only
    from content already in the file, and arrays count against a byte budget (the file's size)."""

    def __init__(self, file, path: Path, budget: int):
        super().__init__(file)
        self._path = path
        self._budget = budget

    def _refuse_allocation(self, what: str) -> None:
        raise HarnessError(f"refused to unpickle: {what} would allocate more than the file holds "
                           f"(an allocation bomb?); {_CONVERT_HINT}", self._path)

    def _guard(self, module: str, name: str, fn: Any) -> Any:
        """``fn`` wrapped so that it cannot allocate beyond what the file holds."""
        if module == "builtins" and name in _BUILT_ONLY:
            def built_only(*args, **kwargs):
                if kwargs or any(not isinstance(a, (str, bytes, bytearray, list, tuple, dict, set, frozenset))
                                 for a in args):
                    self._refuse_allocation(f"{name}() of a {type(args[0]).__name__ if args else 'keyword'}")
                return fn(*args)
            return built_only
        if name == "_reconstruct":
            def reconstruct(subtype, shape, dtype):
                size = int(np.prod(np.asarray(shape, dtype=np.float64))) * np.dtype("b" if isinstance(dtype, bytes)
                                                                                    else dtype).itemsize
                self._budget -= size
                if self._budget < 0:
                    self._refuse_allocation(f"an array of shape {shape}")
                return fn(subtype, shape, dtype)
            return reconstruct
        return fn

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            if module.split(".")[0] == "torch":
                raise HarnessError(
                    f"refused to unpickle: the file would import {module}.{name} (a torch tensor); "
                    f"convert tensors to numpy arrays (tensor.numpy()) before pickling ({_CONVERT_HINT})",
                    self._path)
            raise HarnessError(
                f"refused to unpickle: the file would import {module}.{name}; only plain containers, "
                f"numbers, strings and numpy arrays are allowed ({_CONVERT_HINT})", self._path)
        if module == "__builtin__":
            module = "builtins"
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module[len("numpy.core."):]  # numpy >= 2 moved it
        elif module.startswith("numpy._core.") and not hasattr(np, "_core"):
            module = "numpy.core." + module[len("numpy._core."):]  # a numpy-2 pickle on numpy 1
        return self._guard(module, name, getattr(importlib.import_module(module), name))

    def persistent_load(self, pid: Any) -> Any:
        raise HarnessError("refused to unpickle: the file uses persistent ids (external objects); only "
                           f"plain containers, numbers, strings and numpy arrays are allowed ({_CONVERT_HINT})",
                           self._path)


def safe_load_pickle(path: Path) -> Any:
    """Load a pickle that may hold only plain containers, numbers, strings and numpy arrays.

    Anything else (a class, a function, ``os.system``, ``builtins.eval``, a torch tensor) raises a
    :class:`HarnessError` before it is imported, let alone called."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # the organizer's own file: a link to one is fine
            raise HarnessError("is not a regular file (a folder, FIFO or device); expected a .pkl file", path)
        with open(path, "rb") as f:
            return _SafeUnpickler(f, path, budget=os.fstat(f.fileno()).st_size).load()
    except HarnessError:
        raise
    except FileNotFoundError:
        raise HarnessError("no such file", path) from None
    except MemoryError:
        raise HarnessError("refused to unpickle: it needs more memory than is available (an allocation bomb?)",
                           path) from None
    except Exception as exc:  # noqa: BLE001 - every other failure means a damaged file
        raise HarnessError(f"corrupt or truncated pickle: {type(exc).__name__}: {exc}", path) from None


ID_KEY_FILE = "deception-ids.key"  # the organizer's secret for opaque ids, in the data root
ID_KEY_BYTES = 32


def opaque_id(key: bytes, dataset: str, videoname: str) -> str:
    """The participant-facing id of a clip: ``dd-`` + 16 hex of HMAC-SHA256(key, "<dataset>/<videoname>").

    Clip names are guessable (the SVC 2025 test names hold ``_lie``/``_truth``), so the id is keyed
    with the organizer's secret (:func:`id_key`): without the key the mapping cannot be rebuilt by
    hashing candidate names. References, runs and participant copies made with one key agree."""
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValueError("opaque_id needs the organizer's id key (at least 16 bytes)")
    return "dd-" + hmac.new(key, f"{dataset}/{videoname}".encode(), hashlib.sha256).hexdigest()[:16]


def name_digest(dataset: str, videoname: str) -> str:
    """An unkeyed digest of a clip's name, for what never leaves the harness (the validation split,
    the data fingerprint), so those stay the same on every machine whatever the key."""
    return "dd-" + hashlib.sha256(f"{dataset}/{videoname}".encode()).hexdigest()[:12]


def id_key(root: Path, create: bool = True) -> bytes:
    """The organizer's id key stored in data root ``root`` (``deception-ids.key``, 64 hex, mode
    0600), made from ``secrets`` on first use when ``create``. It is never copied into a participant
    copy; keep it with the ground truth. A link, a non-file or a malformed key is refused."""
    path = Path(root) / ID_KEY_FILE
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if not create:
            raise HarnessError(f"no {ID_KEY_FILE} here: the organizer's id key (made by harness data reference or "
                               "the first run on this data root; pass it with --id-key)", root) from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return id_key(root, create=False)
        except OSError as exc:
            raise HarnessError(f"cannot create the id key {ID_KEY_FILE} ({exc.strerror}); the data root must be "
                               "writable once, or hold the key", root) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(ID_KEY_BYTES) + "\n")
        return id_key(root, create=False)
    return read_id_key(path) if stat.S_ISREG(mode) else _bad_key(path, "is not a regular file")


def read_id_key(path: Path) -> bytes:
    """An id key file (64 hex characters); anything else is refused naming the file."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            _bad_key(path, "is not a regular file")
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except FileNotFoundError:
        raise HarnessError("id key file not found", path) from None
    except (OSError, UnicodeDecodeError, ValueError):
        _bad_key(path, f"must hold {2 * ID_KEY_BYTES} hex characters")
    if len(key) != ID_KEY_BYTES:
        _bad_key(path, f"must hold {2 * ID_KEY_BYTES} hex characters")
    return key


def _bad_key(path: Path, problem: str):
    raise HarnessError(f"the id key {problem}", path)


def find_id_key(src: Path) -> bytes:
    """The id key of the data root an organizer file sits in (``<root>/<dataset>/features/x.pkl``):
    the nearest ``deception-ids.key`` in its folder or the three above it. None is ever made here:
    ids made with a fresh key would match no reference, so a missing key is an error."""
    src = Path(src).resolve()
    folders = ([src] if src.is_dir() else []) + list(src.parents)[:4]
    for folder in folders:
        if os.path.lexists(folder / ID_KEY_FILE):
            return id_key(folder, create=False)
    raise HarnessError(f"no {ID_KEY_FILE} (the organizer's id key) beside this file or above it; pass --id-key "
                       f"<data root>/{ID_KEY_FILE}, the key of the data root the references come from (harness data "
                       "reference makes it)", src)


# ----------------------------------------------------------------------------- clips

@dataclass
class Clip:
    """One clip: its name, label (truth 1 / lie 0 / None) and arrays with a leading sub-clip axis."""

    videoname: str
    label: int | None
    arrays: dict[str, np.ndarray]

    @property
    def n_sub(self) -> int:
        return next(iter(self.arrays.values())).shape[0] if self.arrays else 1


def _clip_records(data: Any, path: Path) -> list[tuple[Any, Any]]:
    """(fallback videoname, clip dict) pairs from the top-level object."""
    if isinstance(data, Mapping):
        if any(key in data for key in (*ORGANIZER_KEYS, "videoname", "DD_label")):
            raise HarnessError("the top level is a single clip dict; expected a list of clip dicts", path)
        records = list(data.items())
    elif isinstance(data, (list, tuple)):
        records = [(None, clip) for clip in data]
    else:
        raise HarnessError(f"expected a list of clip dicts (or a dict of clip dicts), found {type(data).__name__}",
                           path)
    if not records:
        raise HarnessError("empty file: no clips", path)
    return records


def _label(value: Any, where: str, path: Path) -> int | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise HarnessError(f"{where}: DD_label has shape {value.shape}; expected one value 0 or 1", path)
        value = value.reshape(()).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return int(value)
    raise HarnessError(f"{where}: DD_label {value!r} is not 0 (lie) or 1 (truth)", path)


def _raw_array(value: Any, name: str, key: str, where: str, path: Path) -> np.ndarray:
    """A validated organizer array (dtype unchanged) with its leading K axis."""
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise HarnessError(f"{where}: {key} ({name}) has dtype {arr.dtype}; expected numbers", path)
    row_ndim = ROW_NDIM[name]
    if arr.ndim == row_ndim:
        arr = arr[None]
    elif arr.ndim != row_ndim + 1:
        raise HarnessError(f"{where}: {key} ({name}) has shape {arr.shape}; expected {row_ndim} axes "
                           f"(or {row_ndim + 1} with a leading sub-clip axis)", path)
    want = LAST_DIM[name]
    if want is not None and arr.shape[-1] != want:
        raise HarnessError(f"{where}: {key} ({name}) has shape {arr.shape}; its last axis must be {want}", path)
    if arr.size == 0:
        raise HarnessError(f"{where}: {key} ({name}) is empty (shape {arr.shape})", path)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise HarnessError(f"{where}: {key} ({name}) holds NaN or infinite values", path)
    return arr


def _to_uint8(arr: np.ndarray, unit_scale: bool) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "f":
        scaled = arr * 255.0 if unit_scale else arr.astype(np.float64, copy=False)
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)


def clips_from_pickle(path: Path) -> list[Clip]:
    """Safely load an organizer pickle and return its validated, dtype-normalised clips."""
    path = Path(path)
    data = safe_load_pickle(path)
    records = _clip_records(data, path)
    parsed: list[tuple[str, int | None, dict[str, np.ndarray]]] = []
    image_max = {name: -np.inf for name in IMAGE_MODALITIES}
    seen: dict[str, int] = {}
    for index, (key, record) in enumerate(records):
        where = f"clip {index}"
        if not isinstance(record, Mapping):
            raise HarnessError(f"{where} is a {type(record).__name__}, not a dict", path)
        videoname = record.get("videoname", key if isinstance(key, str) else None)
        if isinstance(videoname, bytes):
            videoname = videoname.decode("utf-8", "replace")
        if not isinstance(videoname, str) or not videoname.strip():
            raise HarnessError(f"{where}: missing videoname", path)
        videoname = str(videoname)
        where = f"clip {index} ({videoname!r})"
        if videoname in seen:
            raise HarnessError(f"{where}: duplicate videoname (also clip {seen[videoname]})", path)
        seen[videoname] = index
        label = _label(record.get("DD_label"), where, path)
        arrays = {}
        for org_key, name in ORGANIZER_KEYS.items():
            if record.get(org_key) is not None:
                arrays[name] = _raw_array(record[org_key], name, org_key, where, path)
        if not arrays:
            raise HarnessError(f"{where}: no modality ({', '.join(ORGANIZER_KEYS)}) present", path)
        counts = {name: arr.shape[0] for name, arr in arrays.items()}
        if len(set(counts.values())) > 1:
            raise HarnessError(f"{where}: modalities disagree on the number of sub-clips: {counts}", path)
        for name in IMAGE_MODALITIES:
            if name in arrays and arrays[name].dtype.kind == "f":
                image_max[name] = max(image_max[name], float(arrays[name].max()))
        parsed.append((videoname, label, arrays))
    del data, records  # the raw arrays now live only in ``parsed``: freed one by one below
    labelled = [label is not None for _, label, _ in parsed]
    if any(labelled) and not all(labelled):
        index = labelled.index(False)
        raise HarnessError(f"clip {index} ({parsed[index][0]!r}): DD_label missing while other clips have one; "
                           "a file is either fully labelled or label-free", path)
    clips = []
    for videoname, label, arrays in parsed:
        for name, arr in arrays.items():
            if name in IMAGE_MODALITIES:
                arrays[name] = _to_uint8(arr, image_max[name] <= 1.0)
            else:
                arrays[name] = np.asarray(arr, dtype=np.float32)
        clips.append(Clip(videoname, label, arrays))
    return clips


# ----------------------------------------------------------------------------- store writing


def _row_shapes(clips: list[Clip]) -> dict[str, tuple[int, ...]]:
    """The one per-row shape of each fixed-shape modality (HarnessError naming a clip that differs)."""
    shapes: dict[str, tuple[int, ...]] = {}
    first: dict[str, str] = {}
    for index, clip in enumerate(clips):
        for name, arr in clip.arrays.items():
            if name == "wave":
                continue
            shape = tuple(arr.shape[1:])
            if name not in shapes:
                shapes[name], first[name] = shape, clip.videoname
            elif shapes[name] != shape:
                raise HarnessError(
                    f"clip {index} ({clip.videoname!r}): {name} rows have shape {shape} but clip "
                    f"{first[name]!r} has {shapes[name]}; one store needs one shape per modality")
    return shapes


SYNTH_MARKER = "synth.json"  # what the harness's sample generators leave beside their files


def _synthetic_source(path: Path) -> bool:
    """Whether ``path`` comes from the harness's synthetic sample: a generator marker sits in its
    folder or one of the two above it (``<sample>/<dataset>/features/<file>.pkl``)."""
    return any((folder / SYNTH_MARKER).is_file() for folder in list(path.parents)[:3])


def write_store(clips: list[Clip], out: Path, *, dataset: str | None, source: str | Path,
                strip_labels: bool = False, key: bytes | None = None) -> None:
    """Write ``clips`` as a feature-store folder at ``out`` (atomically).

    ``source`` is the original file (its name and, when it exists, its sha256 are recorded).
    ``strip_labels`` writes a participant copy: labels dropped, videonames replaced by
    :func:`opaque_id` under ``key`` and clips sorted by that id (so neither names nor order tell the
    labels); the key itself is never written."""
    out = Path(out)
    if not clips:
        raise HarnessError("no clips to write", out)
    if strip_labels:
        if not dataset:
            raise HarnessError("strip_labels needs the dataset name (it salts the opaque ids)", out)
        if key is None:
            raise HarnessError("strip_labels needs the organizer's id key", out)
        names = [opaque_id(key, dataset, clip.videoname) for clip in clips]
        if len(set(names)) != len(names):
            raise HarnessError("two videonames map to the same opaque id", out)
        order = sorted(range(len(clips)), key=names.__getitem__)
        clips, names = [clips[i] for i in order], [names[i] for i in order]
        labels: list[int | None] = [None] * len(clips)
    else:
        names = [clip.videoname for clip in clips]
        labels = [clip.label for clip in clips]
    shapes = _row_shapes(clips)
    n_rows = {name: sum(c.n_sub for c in clips if name in c.arrays) for name in MODALITIES}
    present = [name for name in MODALITIES if n_rows[name]]
    source_path = Path(source)
    meta = {
        "format": STORE_FORMAT, "version": STORE_VERSION, "dataset": dataset, "source": source_path.name,
        "source_sha256": file_sha256(source_path) if source_path.is_file() else None,
        "n_clips": len(clips), "ids": "opaque" if strip_labels else "videoname",
        "labels": not strip_labels and labels[0] is not None,
        "synthetic": _synthetic_source(source_path),
        "modalities": {name: {"shape": list(shapes[name]) if name != "wave" else None,
                              "dtype": "uint8" if name in IMAGE_MODALITIES else "float32",
                              "rows": n_rows[name]} for name in present},
    }
    with atomic_dir(out) as tmp:
        tmp.mkdir()
        starts = {name: 0 for name in present}
        rows_of: list[dict[str, list[int]]] = [{} for _ in clips]
        for name in present:
            if name == "wave":
                _write_wave(clips, tmp, rows_of)
                continue
            dest = np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=meta["modalities"][name]["dtype"],
                                             shape=(n_rows[name], *shapes[name]))
            for clip, rows in zip(clips, rows_of):
                if name in clip.arrays:
                    k = clip.n_sub
                    dest[starts[name]:starts[name] + k] = clip.arrays[name]
                    rows[name] = [starts[name], k]
                    starts[name] += k
            dest.flush()
            del dest
        table = [{"videoname": name, "label": label, "n_sub": clip.n_sub,
                  "rows": {m: rows[m] for m in MODALITIES if m in rows}}
                 for name, label, clip, rows in zip(names, labels, clips, rows_of)]
        (tmp / CLIPS_META).write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
        (tmp / STORE_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        write_manifest(tmp)


def _write_wave(clips: list[Clip], folder: Path, rows_of: list[dict[str, list[int]]]) -> None:
    """Ragged waves: ``wave.npy`` (1-D concatenation) and ``wave_index.npy`` (rows, 2) = (start, length)."""
    waves = [(clip, rows) for clip, rows in zip(clips, rows_of) if "wave" in clip.arrays]
    total = sum(clip.arrays["wave"].size for clip, _ in waves)
    n_rows = sum(clip.n_sub for clip, _ in waves)
    data = np.lib.format.open_memmap(folder / "wave.npy", mode="w+", dtype=np.float32, shape=(total,))
    index = np.zeros((n_rows, 2), dtype=np.int64)
    offset = row = 0
    for clip, rows in waves:
        arr = clip.arrays["wave"]
        k, length = arr.shape
        data[offset:offset + arr.size] = arr.reshape(-1)
        index[row:row + k, 0] = offset + length * np.arange(k)
        index[row:row + k, 1] = length
        rows["wave"] = [row, k]
        offset += arr.size
        row += k
    data.flush()
    del data
    np.save(folder / "wave_index.npy", index)


def convert(src: Path, out: Path, *, dataset: str | None = None, strip_labels: bool = False,
            name: str | None = None, key: bytes | None = None, overwrite: bool = False) -> list[Path]:
    """Convert a ``.pkl`` file (or every ``*.pkl`` in a folder) into store folders ``out/<stem>/``
    (``out/<name>/`` for one file with ``name``, e.g. the split a task reads: ``train``).
    ``strip_labels``: participant copies with ids keyed by ``key`` (default: :func:`find_id_key`)."""
    src, out = Path(src), Path(out)
    if name is not None and (not src.is_file() or Path(name).name != name or name in ("", ".", "..")):
        raise HarnessError(f"--name {name!r} needs a single .pkl file and a plain folder name", src)
    if src.is_dir():
        sources = sorted(src.glob("*.pkl"))
        if not sources:
            raise HarnessError("no .pkl files in this folder", src)
    elif src.is_file():
        sources = [src]
    else:
        raise HarnessError("no such file or folder", src)
    for path in sources:
        stem = name or path.stem
        if stem in ("", ".", "..") or stem.startswith(".") or Path(stem).name != stem:
            raise HarnessError(f"cannot name an output folder {stem!r} after this file; rename it or pass --name", path)
        check_replaceable(out / stem, overwrite)
    written = []
    for path in sources:
        target = out / (name or path.stem)
        if strip_labels and key is None and dataset:
            key = find_id_key(path)
        write_store(clips_from_pickle(path), target, dataset=dataset, source=path, strip_labels=strip_labels, key=key)
        written.append(target)
    return written


# ----------------------------------------------------------------------------- store reading

def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise HarnessError(f"missing {path.name}; not a deception feature store (make one with "
                           "'harness data convert')", path.parent)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"corrupt {path.name}: {exc}", path.parent) from None


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise HarnessError(f"missing {path.name} (the store is incomplete; convert it again)", path.parent)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise HarnessError(f"corrupt or truncated {path.name}: {exc}", path.parent) from None


class FeatureStore:
    """A converted feature store, memory-mapped: rows are read from disk only when used."""

    def __init__(self, folder: Path):
        self.folder = folder = Path(folder)
        if not folder.is_dir():
            raise HarnessError("no such feature-store folder", folder)
        self._store_text = (folder / STORE_META).read_bytes() if (folder / STORE_META).is_file() else b""
        meta = _read_json(folder / STORE_META)
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            raise HarnessError(f"store.json is not a {STORE_FORMAT!r} file", folder)
        if meta.get("version") != STORE_VERSION:
            raise HarnessError(f"store.json has version {meta.get('version')!r}; this harness reads "
                               f"version {STORE_VERSION} (convert the pickle again)", folder)
        self._clips_text = (folder / CLIPS_META).read_bytes() if (folder / CLIPS_META).is_file() else b""
        table = _read_json(folder / CLIPS_META)
        try:
            self._check(meta, table)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise HarnessError(f"malformed store.json / clips.json ({type(exc).__name__}: {exc}); "
                               "convert the pickle again", folder) from None
        self.meta, self._table = meta, table
        self.dataset: str | None = meta.get("dataset")
        self.ids_opaque: bool = meta["ids"] == "opaque"
        self.has_labels: bool = bool(meta["labels"])
        self.videonames: list[str] = [row["videoname"] for row in table]
        self.labels: np.ndarray | None = (np.array([row["label"] for row in table], dtype=np.int8)
                                          if self.has_labels else None)
        self.modalities: tuple[str, ...] = tuple(m for m in MODALITIES if m in meta["modalities"])
        self._arrays = {m: self._open(m, meta["modalities"][m]) for m in self.modalities}
        if "wave" in self._arrays:
            self._wave_index = np.asarray(_load_npy(folder / "wave_index.npy"))
            self._check_wave()

    def _check(self, meta: dict, table: list) -> None:
        if not isinstance(table, list) or len(table) != meta["n_clips"]:
            raise ValueError(f"clips.json holds {len(table) if isinstance(table, list) else '?'} clips, "
                             f"store.json says {meta['n_clips']}")
        unknown = set(meta["modalities"]) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}")
        for row in table:
            for name, (start, count) in row["rows"].items():
                if name not in meta["modalities"] or count != row["n_sub"] or start < 0 \
                        or start + count > meta["modalities"][name]["rows"]:
                    raise ValueError(f"clip {row['videoname']!r}: bad row range {name} {[start, count]}")
            if meta["labels"] and row["label"] not in (0, 1):
                raise ValueError(f"clip {row['videoname']!r}: label {row['label']!r}")

    def _open(self, name: str, info: dict) -> np.ndarray:
        arr = _load_npy(self.folder / f"{name}.npy")
        want = (info["rows"],) if name == "wave" else (info["rows"], *info["shape"])
        if name == "wave":
            ok, expected = arr.ndim == 1 and arr.dtype == np.float32, "1-D float32"
        else:
            ok = arr.shape == want and arr.dtype == np.dtype(info["dtype"])
            expected = f"{want} {info['dtype']}"
        if not ok:
            raise HarnessError(f"{name}.npy has shape {arr.shape} and dtype {arr.dtype}; store.json expects "
                               f"{expected}", self.folder)
        return arr

    def _check_wave(self) -> None:
        index, rows = self._wave_index, self.meta["modalities"]["wave"]["rows"]
        if index.shape != (rows, 2) or index.dtype != np.int64 or (index < 0).any() \
                or (index.sum(axis=1) > self._arrays["wave"].size).any():
            raise HarnessError("wave_index.npy does not match wave.npy / store.json (convert again)", self.folder)

    def __len__(self) -> int:
        return len(self._table)

    def present(self, i: int) -> tuple[str, ...]:
        """The modalities clip ``i`` has, in MODALITIES order."""
        rows = self._table[i]["rows"]
        return tuple(m for m in MODALITIES if m in rows)

    def n_sub(self, i: int) -> int:
        return int(self._table[i]["n_sub"])

    def sub_clips(self, i: int) -> list[dict[str, np.ndarray]]:
        """One dict per sub-clip of clip ``i``: each present modality's (memory-mapped) array."""
        rows = self._table[i]["rows"]
        out: list[dict[str, np.ndarray]] = [{} for _ in range(self.n_sub(i))]
        for name, (start, count) in rows.items():
            for k in range(count):
                out[k][name] = self._row(name, start + k)
        return out

    def _row(self, name: str, row: int) -> np.ndarray:
        if name == "wave":
            start, length = self._wave_index[row]
            return self._arrays["wave"][start:start + length]
        return self._arrays[name][row]

    def duration_s(self, i: int) -> float | None:
        """Length in seconds of clip ``i``'s first sub-clip wave (None without a wave)."""
        rows = self._table[i]["rows"]
        if "wave" not in rows:
            return None
        return float(self._wave_index[rows["wave"][0], 1]) / WAVE_RATE

    def fingerprint(self) -> str:
        """16 hex of sha256 over store.json and clips.json: changes when the content changes."""
        return hashlib.sha256(self._store_text + b"\0" + self._clips_text).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.folder)!r}, n={len(self)}, modalities={self.modalities})"


# ----------------------------------------------------------------------------- batching

def _stack(samples: list[dict[str, np.ndarray]], name: str, dtype: type) -> np.ndarray:
    """(B, *row) array of ``name`` rows, zeros for samples without it."""
    shapes = {tuple(s[name].shape) for s in samples if name in s}
    if len(shapes) > 1:
        raise HarnessError(f"cannot batch {name} rows of different shapes {sorted(shapes)}; "
                           "all clips of one batch need one shape")
    out = np.zeros((len(samples), *shapes.pop()), dtype=dtype)
    for b, sample in enumerate(samples):
        if name in sample:
            out[b] = sample[name]
    return out


def collate(samples: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Sub-clip dicts → the adapter batch (faces (B,T,3,H,W) and mel (B,3,H,W) float32 in [0,1];
    au, affect float32; wave zero-padded + ``wave_len``; ``mask`` (B, 5) bool in MODALITIES order).
    A modality key is present iff some sample has it; absent samples are zeros."""
    import torch

    if not samples:
        raise ValueError("collate needs at least one sample")
    mask = np.array([[name in s for name in MODALITIES] for s in samples], dtype=bool)
    batch: dict[str, Any] = {}
    for k, name in enumerate(MODALITIES):
        if not mask[:, k].any():
            continue
        if name == "wave":
            lengths = np.array([s["wave"].shape[0] if "wave" in s else 0 for s in samples], dtype=np.int64)
            wave = np.zeros((len(samples), int(lengths.max())), dtype=np.float32)
            for b, sample in enumerate(samples):
                if "wave" in sample:
                    wave[b, :lengths[b]] = sample["wave"]
            batch["wave"], batch["wave_len"] = torch.from_numpy(wave), torch.from_numpy(lengths)
        elif name in IMAGE_MODALITIES:
            images = torch.from_numpy(_stack(samples, name, np.uint8))
            channels_first = images.movedim(-1, -3)  # (..., H, W, 3) -> (..., 3, H, W)
            batch[name] = channels_first.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
        else:
            batch[name] = torch.from_numpy(_stack(samples, name, np.float32))
    batch["mask"] = torch.from_numpy(mask)
    return batch
