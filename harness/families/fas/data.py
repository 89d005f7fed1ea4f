"""MMDG-benchmark list files → :class:`FasSample` lists, and frame loading (reference fas.md §1).

Layout under the data root (``LAYOUT``)::

    MMDG-Benchmark/{C,P,S,W}-{train,val,test}.txt      the 12 list files of OMGGGGG/mmdg
    cefa/CeFA/CeFA-Race/AF/AF-300/1_300_1_1_1/{profile,depth,ir}/0026.jpg   (C lines' paths)
    padisi/<8-hex>.npz                                  (P lines' names)
    surf/CASIA-SURF-CROP/{real,fake}_part/...           (S lines' paths)
    wmca/WMCA-Image/R_CDIT/<video>/{color,depth,ir}/0012.jpg   (W lines' paths)
    FlexModal_Protocols/WMCA_test_<pai>.txt             optional: WMCA per-attack lists

Format facts (fas.md §1.3 unless noted):

* C/S/W lines hold four whitespace-separated fields ``rgb depth ir label``; P lines hold
  ``<name>.npz<TAB>label``. Fields are split on any whitespace, so a P line with a space instead
  of a tab is accepted too. Blank lines and a missing final newline are accepted; CR is stripped.
* Labels: 1 = bona fide (real), 0 = attack. Anything else (``2``, ``1.0``, ``x``) is refused.
  (DADM maps any non-1 label to spoof; the harness is stricter.)
* Paths in a line are relative to the dataset folder ``root/DOMAINS[domain]`` — i.e. the C paths
  start with ``CeFA/``, S with ``CASIA-SURF-CROP/``, W with ``WMCA-Image/R_CDIT/`` (§1.3, and the
  DADM loader joins them to its dataset roots). Each modality's path is taken from its own field,
  never derived from the RGB path: two WMCA videos have depth/IR frame indices that differ from
  the colour frame's (§1.3, FlexModal README).
* ``sample_id`` is a line's first field (the RGB path, or the npz name for P).
* ``video_id`` (per-video aggregation): C/S/W — the RGB path without its last two components
  (the modality folder and the frame file), e.g. ``CeFA/CeFA-Race/AF/AF-300/1_300_1_1_1``
  (C and W confirmed by §1.3's video names; S UNCONFIRMED: assumed ``.../<video>/color/<frame>``
  like the others). P — the npz stem: one npz per presentation (§1.2, §1.3).
* ``attack_type`` is None for bona fide samples. W attacks get their PAI type from the optional
  FlexModal per-attack lists ``FlexModal_Protocols/WMCA_test_<pai>.txt`` (§1.3: same 4-field
  format assumed, UNCONFIRMED; matched by the RGB path), else None. C attacks under
  ``CeFA/CeFA-Mask/<type>/`` get ``<type>`` (``3D-Mask``, ``Silicone-Mask``; §1.3); CeFA-Race
  print/replay attacks, S and P attacks get None — their lists carry no type (decoding the CeFA
  and SURF file names is UNCONFIRMED and not done).
* Duplicates: exact duplicate lines occur (S-test 56, S-train 20, C-test 4; §1.3). They are
  counted; ``duplicates="drop"`` keeps the first. Two lines with the same id but different
  content are refused (scoring by id would be ambiguous).
* Overlap: one CeFA video is in both C-val and C-test (§1.3). ``read_list`` reports, for each
  other split of the same domain whose list exists, the ids and videos it shares.
* PADISI npz (§1.2, DADM ``usc_preprocess.py``): key ``data``, first element, channels first:
  channels 0–2 RGB (order as stored; RGB per the reference, UNCONFIRMED against PADISI docs),
  3 IR, 4 depth; values in [0, 1], converted like the lineage with ceil(x·255) (so a stored
  float32 k/255 whose product rounds above k reads back as k+1, as in DADM's conversion).
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ...errors import HarnessError, did_you_mean

DOMAINS: dict[str, str] = {"C": "cefa", "P": "padisi", "S": "surf", "W": "wmca"}
#: dataset folder name -> its MMDG domain letter
DATASET_DOMAIN: dict[str, str] = {name: letter for letter, name in DOMAINS.items()}
SPLITS: tuple[str, ...] = ("train", "val", "test")
LIST_DIR = "MMDG-Benchmark"
FLEXMODAL_DIR = "FlexModal_Protocols"
#: WMCA presentation-attack types with a FlexModal per-attack list (fas.md §1.3)
WMCA_PAI_TYPES: tuple[str, ...] = ("fakehead", "flexiblemask", "glasses", "papermask", "print",
                                   "replay", "rigidmask")
#: line counts of the released lists (fas.md §1.3), for the report; a mismatch is not an error
EXPECTED_LINES: dict[tuple[str, str], int] = {
    ("C", "train"): 4800, ("C", "val"): 2401, ("C", "test"): 6739,
    ("P", "train"): 1090, ("P", "val"): 272, ("P", "test"): 667,
    ("S", "train"): 6297, ("S", "val"): 2100, ("S", "test"): 12564,
    ("W", "train"): 1695, ("W", "val"): 1671, ("W", "test"): 1671,
}
#: how many examples a report or an error names
EXAMPLES = 5

LAYOUT = ("MMDG-Benchmark/{C,P,S,W}-{train,val,test}.txt under the data root; C/S/W lines "
          "'rgb depth ir label' with paths relative to cefa/, surf/, wmca/ (e.g. "
          "wmca/WMCA-Image/R_CDIT/<video>/color/0012.jpg); P lines '<name>.npz<TAB>label' "
          "naming padisi/<name>.npz; optional FlexModal_Protocols/WMCA_test_<pai>.txt")

_MODALITIES = ("rgb", "depth", "ir")
_CEFA_MASK = re.compile(r"^CeFA/CeFA-Mask/([^/]+)/")


@dataclass(frozen=True)
class FasSample:
    sample_id: str                 # the list line's first field
    domain: str                    # "C", "P", "S" or "W"
    label: int | None              # 1 = bona fide, 0 = attack (None: a participant copy's test list)
    paths: dict[str, Path]         # "rgb"/"depth"/"ir" (C/S/W) or "npz" (P) -> resolved file
    attack_type: str | None
    video_id: str | None
    line_no: int

    def __hash__(self) -> int:     # paths is a dict: hash on the identifying fields only
        return hash((self.domain, self.sample_id, self.line_no))


@dataclass
class Overlap:
    """What a list shares with another split of the same domain."""
    other: str                     # the other list file's name, e.g. "C-test.txt"
    ids: int                       # distinct sample ids in both
    videos: int                    # distinct video ids in both
    first: list[str] = field(default_factory=list)   # first few shared video ids


@dataclass
class ListReport:
    path: Path
    n_lines: int = 0               # non-blank lines read
    n_samples: int = 0             # samples returned
    n_real: int = 0
    n_attack: int = 0
    expected_lines: int | None = None   # the released list's line count (fas.md §1.3)
    duplicates: int = 0            # exact duplicate lines (beyond the first occurrence)
    duplicate_examples: list[str] = field(default_factory=list)   # "line 7 = line 3: <id>"
    dropped: int = 0               # lines not returned (duplicates dropped + missing files skipped)
    overlaps: dict[str, Overlap] = field(default_factory=dict)    # other split -> Overlap
    checked_files: bool = True
    missing_files: int = 0         # samples with at least one missing file
    missing_examples: list[str] = field(default_factory=list)     # "line N: <file>"
    attack_types: dict[str, int] = field(default_factory=dict)    # type -> count

    def summary(self) -> str:
        parts = [(f"{self.path.name}: {self.n_samples} samples ({self.n_real} real, "
                  f"{self.n_attack} attack) from {self.n_lines} lines")]
        if self.expected_lines is not None and self.expected_lines != self.n_lines:
            parts.append(f"released list has {self.expected_lines} lines")
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate line(s)")
        if self.dropped:
            parts.append(f"{self.dropped} dropped")
        if self.missing_files:
            parts.append(f"{self.missing_files} with missing files")
        for ov in self.overlaps.values():
            if ov.ids or ov.videos:
                parts.append(f"shares {ov.ids} id(s) / {ov.videos} video(s) with {ov.other}")
        if not self.checked_files:
            parts.append("files not checked")
        return "; ".join(parts)


# ----------------------------------------------------------------------------- public API
def list_path(root: Path, domain: str, split: str) -> Path:
    return Path(root) / LIST_DIR / f"{_domain(domain)}-{_split(split)}.txt"


def read_list(root: Path, domain: str, split: str, *, duplicates: str = "keep",
              missing: str = "fail", check_files: bool = True,
              unlabelled: bool = False) -> tuple[list[FasSample], ListReport]:
    """Samples of ``MMDG-Benchmark/<domain>-<split>.txt`` under ``root``, in file order.

    ``duplicates``: "keep" every exact duplicate line or "drop" all but the first.
    ``missing``: a sample whose file(s) do not exist makes it "fail" (HarnessError naming how many
    and the first few) or is "skip"ped (dropped, recorded in the report). ``check_files=False``
    checks nothing on disk beyond the list (enough to score predictions against a test list).
    ``unlabelled``: a participant copy's test list, whose lines lack the label field (label None).
    """
    root = Path(root)
    domain, split = _domain(domain), _split(split)
    if duplicates not in ("keep", "drop"):
        raise HarnessError(f"duplicates must be 'keep' or 'drop', got {duplicates!r}")
    if missing not in ("fail", "skip"):
        raise HarnessError(f"missing must be 'fail' or 'skip', got {missing!r}")
    path = list_path(root, domain, split)
    if not path.is_file():
        what = "is not a file" if path.exists() else "list file not found"
        raise HarnessError(f"{what}; expected layout: {LAYOUT}", path)
    report = ListReport(path=path, expected_lines=EXPECTED_LINES.get((domain, split)),
                        checked_files=check_files)
    base = root / DOMAINS[domain]
    pai = _wmca_pai_types(root) if domain == "W" else {}

    samples: list[FasSample] = []
    first_seen: dict[str, tuple[int, tuple[str, ...]]] = {}
    for line_no, fields in _lines(path):
        report.n_lines += 1
        sample = _parse(fields, domain, base, path, line_no, pai, unlabelled)
        key = tuple(fields)
        if sample.sample_id in first_seen:
            prev_no, prev_fields = first_seen[sample.sample_id]
            if prev_fields != key:
                raise HarnessError(
                    f"line {line_no}: id {sample.sample_id!r} already on line {prev_no} with "
                    f"different fields", path)
            report.duplicates += 1
            if len(report.duplicate_examples) < EXAMPLES:
                report.duplicate_examples.append(f"line {line_no} = line {prev_no}: {sample.sample_id}")
            if duplicates == "drop":
                report.dropped += 1
                continue
        else:
            first_seen[sample.sample_id] = (line_no, key)
        samples.append(sample)
    if report.n_lines == 0:
        raise HarnessError(f"empty list file: no lines; expected layout: {LAYOUT}", path)

    if check_files:
        kept = []
        for s in samples:
            absent = [p for p in s.paths.values() if not p.is_file()]
            if not absent:
                kept.append(s)
                continue
            report.missing_files += 1
            if len(report.missing_examples) < EXAMPLES:
                report.missing_examples.append(f"line {s.line_no}: {absent[0]}")
        if report.missing_files and missing == "fail":
            raise HarnessError(
                f"{report.missing_files} of {len(samples)} sample(s) have missing files under "
                f"{base} (first: {'; '.join(report.missing_examples)}); pass missing='skip' to "
                f"drop them, or check the layout: {LAYOUT}", path)
        report.dropped += len(samples) - len(kept)
        samples = kept

    for other in SPLITS:
        other_path = list_path(root, domain, other)
        if other == split or not other_path.is_file():
            continue
        ids = {f[0] for _, f in _lines(other_path) if f}
        mine = {s.sample_id for s in samples}
        vids_other = {_video_id(domain, i) for i in ids}
        shared_videos = sorted({s.video_id for s in samples} & vids_other)
        report.overlaps[other] = Overlap(other=other_path.name, ids=len(mine & ids),
                                         videos=len(shared_videos), first=shared_videos[:EXAMPLES])

    report.n_samples = len(samples)
    report.n_real = sum(s.label == 1 for s in samples)
    report.n_attack = sum(s.label == 0 for s in samples)
    for s in samples:
        if s.attack_type is not None:
            report.attack_types[s.attack_type] = report.attack_types.get(s.attack_type, 0) + 1
    return samples, report


def overlap(a: list[FasSample], b: list[FasSample]) -> list[str]:
    """Sample ids present in both lists, in ``a``'s order, each once (e.g. C-val vs C-test)."""
    ids_b = {s.sample_id for s in b}
    seen: set[str] = set()
    out = []
    for s in a:
        if s.sample_id in ids_b and s.sample_id not in seen:
            seen.add(s.sample_id)
            out.append(s.sample_id)
    return out


def overlap_videos(a: list[FasSample], b: list[FasSample]) -> list[str]:
    """Video ids present in both lists, sorted (C-val and C-test share one CeFA video, §1.3)."""
    return sorted({s.video_id for s in a} & {s.video_id for s in b} - {None})


def load_frame(sample: FasSample, size: int | None = None) -> dict[str, np.ndarray]:
    """``{"rgb": HxWx3, "depth": HxWx1, "ir": HxWx1}`` uint8 for one sample.

    C/S/W: RGB from the colour image (BGR→RGB), depth and IR read as greyscale. P: the npz's
    channels split per the documented layout. Modalities of different sizes are refused unless
    ``size`` is given, which resizes each to size×size (bilinear).
    """
    if size is not None and (not isinstance(size, int) or size < 1):
        raise HarnessError(f"size must be a positive integer, got {size!r}")
    if "npz" in sample.paths:
        out = _load_npz(sample.paths["npz"])
    else:
        out = {m: load_frame_file(sample.paths[m], m) for m in _MODALITIES}
    if size is not None:
        return {m: _resize(a, size) for m, a in out.items()}
    shapes = {m: a.shape[:2] for m, a in out.items()}
    if len(set(shapes.values())) > 1:
        where = sample.paths.get("npz") or sample.paths["rgb"]
        sizes = ", ".join(f"{m} {w}x{h}" for m, (h, w) in shapes.items())
        raise HarnessError(f"modalities differ in size ({sizes}; line {sample.line_no}); pass "
                           f"size= to resize them", where)
    return out


def load_frame_file(path: Path, modality: str) -> np.ndarray:
    """One modality's image file: RGB HxWx3 (``rgb``) or HxWx1 (``depth``, ``ir``) uint8."""
    if not path.is_file():
        raise HarnessError(f"{modality} image not found", path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR if modality == "rgb" else cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise HarnessError(f"cannot read {modality} image (corrupt or unsupported format)", path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if modality == "rgb" else img[:, :, None]


# ----------------------------------------------------------------------------- helpers
def _domain(domain: str) -> str:
    d = str(domain).strip().upper()
    if d not in DOMAINS:
        raise did_you_mean(str(domain), DOMAINS, "FAS domain")
    return d


def _split(split: str) -> str:
    s = str(split).strip().lower()
    if s not in SPLITS:
        raise did_you_mean(str(split), SPLITS, "split")
    return s


def _lines(path: Path):
    """(line number, whitespace-split fields) of each non-blank line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise HarnessError(f"not a UTF-8 text list file ({e.reason} at byte {e.start})", path) from None
    except OSError as e:
        raise HarnessError(f"cannot read list file ({e.strerror or e})", path) from None
    for no, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if fields:
            yield no, fields


def _parse(fields: list[str], domain: str, base: Path, path: Path, line_no: int,
           pai: dict[str, str], unlabelled: bool = False) -> FasSample:
    want = (2 if domain == "P" else 4) - unlabelled
    if len(fields) != want:
        shape = "'<name>.npz<TAB>label'" if domain == "P" else "'rgb depth ir label'"
        if unlabelled:
            shape = "'<name>.npz'" if domain == "P" else "'rgb depth ir' (a participant copy: no label)"
        raise HarnessError(f"line {line_no}: expected {want} fields {shape}, got {len(fields)}", path)
    label = None if unlabelled else _label(fields[-1], path, line_no)
    rels = fields if unlabelled else fields[:-1]
    for r in rels:
        if r.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", r) or ".." in Path(r).parts:
            raise HarnessError(f"line {line_no}: path {r!r} must be relative to {base.name}/", path)
    sid = rels[0]
    if domain == "P":
        if not sid.lower().endswith(".npz"):
            raise HarnessError(f"line {line_no}: expected a '.npz' name, got {sid!r}", path)
        paths = {"npz": base / sid}
    else:
        paths = {m: base / r for m, r in zip(_MODALITIES, rels)}
    attack = attack_type_of(domain, sid, pai) if label == 0 else None
    return FasSample(sample_id=sid, domain=domain, label=label, paths=paths, attack_type=attack,
                     video_id=_video_id(domain, sid), line_no=line_no)


def attack_type_of(domain: str, sample_id: str, pai: dict[str, str]) -> str | None:
    """An attack's type as the layout records it: a W id's from the FlexModal lists (``pai``, RGB
    path → type), a C id's from its ``CeFA/CeFA-Mask/<type>/`` path; None otherwise."""
    if domain == "W":
        return pai.get(sample_id)
    if domain == "C":
        m = _CEFA_MASK.match(sample_id)
        return m.group(1) if m else None
    return None


def _label(text: str, path: Path, line_no: int) -> int:
    if text not in ("0", "1"):
        kind = "outside {0, 1}" if re.fullmatch(r"[+-]?\d+", text) else "not an integer 0 or 1"
        raise HarnessError(f"line {line_no}: label {text!r} is {kind} (1 = bona fide, 0 = attack)", path)
    return int(text)


def _video_id(domain: str, sample_id: str) -> str:
    if domain == "P":
        return Path(sample_id).stem
    parts = sample_id.replace("\\", "/").split("/")
    return "/".join(parts[:-2]) if len(parts) > 2 else "/".join(parts[:-1]) or sample_id


def _wmca_pai_types(root: Path) -> dict[str, str]:
    """RGB path -> PAI type from the FlexModal per-attack lists present under ``root``."""
    out: dict[str, str] = {}
    folder = root / FLEXMODAL_DIR
    if not folder.is_dir():
        return out
    for pai in WMCA_PAI_TYPES:
        path = folder / f"WMCA_test_{pai}.txt"
        if not path.is_file():
            continue
        for line_no, fields in _lines(path):
            if len(fields) != 4:
                raise HarnessError(f"line {line_no}: expected 4 fields 'rgb depth ir label', "
                                   f"got {len(fields)}", path)
            if _label(fields[3], path, line_no) != 0:
                raise HarnessError(f"line {line_no}: a per-attack list holds attacks only "
                                   f"(label 0), got label 1", path)
            prev = out.setdefault(fields[0], pai)
            if prev != pai:
                raise HarnessError(f"line {line_no}: {fields[0]!r} is also in "
                                   f"WMCA_test_{prev}.txt", path)
    return out


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise HarnessError("npz file not found", path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "data" not in z.files:
                raise HarnessError(f"npz has no 'data' array (keys: {sorted(z.files)})", path)
            data = np.asarray(z["data"])
    except HarnessError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise HarnessError(f"cannot read npz (corrupt or not an npz file: {e})", path) from None
    x = data[0] if data.ndim == 4 else data
    if x.ndim != 3 or x.shape[0] != 5:
        raise HarnessError(f"'data' has shape {data.shape}; expected (N, 5, H, W) or (5, H, W): "
                           f"channels RGB, IR, depth", path)
    if not np.issubdtype(x.dtype, np.number):
        raise HarnessError(f"'data' has non-numeric dtype {x.dtype}", path)
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise HarnessError("'data' holds non-finite values (NaN/inf)", path)
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise HarnessError(f"'data' values span [{lo:g}, {hi:g}]; expected [0, 1]", path)
    u8 = np.clip(np.ceil(x * 255.0), 0, 255).astype(np.uint8)
    return {"rgb": np.ascontiguousarray(u8[0:3].transpose(1, 2, 0)),
            "depth": np.ascontiguousarray(u8[4:5].transpose(1, 2, 0)),
            "ir": np.ascontiguousarray(u8[3:4].transpose(1, 2, 0))}


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    out = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    return out[:, :, None] if out.ndim == 2 else out
