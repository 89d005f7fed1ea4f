"""Built-in adapters for rPPG-Toolbox's pretrained networks: ``physnet``, ``tscan``, ``deepphys``
and ``efficientphys`` (architectures in :mod:`.networks`).

``--model-args weights=PATH`` loads one of the toolbox's released checkpoints (e.g.
``PURE_PhysNet_DiffNormalized.pth``); ``config=PATH`` reads a toolbox inference YAML and takes
from it everything it decides (input types, label type, chunk length, resize, face crop, frame
rate). Without ``config`` the defaults are those of the toolbox's
``PURE_UBFC-rPPG_<MODEL>_BASIC.yaml`` (:data:`DEFAULTS`). Any of ``chunk_frames``,
``chunk_stride``, ``chunk_tail`` and ``crop`` (a recipe name) may be overridden too. The config's
frame rate (``TEST.DATA.FS``) is the adapter's ``fs``: a run on videos at another rate notes it
(:func:`~harness.families.rppg.family.frame_rate_notes`); frames are not resampled.

The adapters refuse to run without weights. Tests build them with random weights through
``weights=random``, accepted only while the environment sets ``HARNESS_ALLOW_RANDOM_WEIGHTS=1``.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from ...errors import HarnessError
from ...models import TorchAdapter
from . import chunks, face, networks

RANDOM_WEIGHTS_ENV = "HARNESS_ALLOW_RANDOM_WEIGHTS"
CONFIG_MAX_BYTES = 1 << 20
TOOLBOX_NAMES = {"physnet": "Physnet", "tscan": "Tscan", "deepphys": "DeepPhys", "efficientphys": "EfficientPhys"}


@dataclasses.dataclass(frozen=True)
class Setup:
    """What a toolbox config decides for one network."""

    frame_types: tuple[str, ...]
    output: str = "bvp_diff"
    chunk_frames: int | None = 180
    chunk_tail: str = "drop"
    frame_size: int = 72
    crop: face.CropRecipe = face.CropRecipe("toolbox", frequency=30)
    frame_depth: int = 10
    fs: float = 30.0


#: the toolbox's PURE_UBFC-rPPG_<MODEL>_BASIC.yaml (EfficientPhys: PURE_UBFC-rPPG_EFFICIENTPHYS.yaml)
DEFAULTS = {
    "physnet": Setup(("diff_normalized",), chunk_frames=128, crop=face.CropRecipe("toolbox", frequency=32)),
    "tscan": Setup(("diff_normalized", "standardized")),
    "deepphys": Setup(("diff_normalized", "standardized")),
    "efficientphys": Setup(("standardized",)),
}


def _get(tree: Any, dotted: str, default: Any = None) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return default
        tree = tree[part]
    return tree


def read_toolbox_config(path: str | Path, arch: str) -> Setup:
    """The :class:`Setup` a toolbox inference YAML decides (its ``TEST.DATA`` and ``MODEL``)."""
    p = Path(path)
    if not p.is_file():
        raise HarnessError(f"{arch}: toolbox config not found", p)
    if p.stat().st_size > CONFIG_MAX_BYTES:
        raise HarnessError(f"{arch}: toolbox config is over {CONFIG_MAX_BYTES} bytes", p)
    try:
        cfg = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{arch}: toolbox config is not readable YAML: {exc}", p) from exc
    name = _get(cfg, "MODEL.NAME")
    if name is not None and str(name).lower() != TOOLBOX_NAMES[arch].lower():
        raise HarnessError(f"{arch}: the config is for model {name!r}, not {TOOLBOX_NAMES[arch]!r}", p)
    pre = _get(cfg, "TEST.DATA.PREPROCESS")
    if not isinstance(pre, dict):
        raise HarnessError(f"{arch}: the config has no TEST.DATA.PREPROCESS section", p)
    base = DEFAULTS[arch]
    try:
        types = chunks.frame_types_of(pre.get("DATA_TYPE", list(base.frame_types)))
        label = pre.get("LABEL_TYPE", "DiffNormalized")
        if label not in chunks.TOOLBOX_TYPES:
            raise ValueError(f"LABEL_TYPE {label!r} is not one of {sorted(chunks.TOOLBOX_TYPES)}")
        crop_cfg = pre.get("CROP_FACE") or {}
        backend = crop_cfg.get("BACKEND", "HC")
        if backend != "HC":
            raise ValueError(f"CROP_FACE.BACKEND {backend!r}: only Haar ('HC') is reproduced here")
        det = crop_cfg.get("DETECTION") or {}
        crop = face.CropRecipe("toolbox", large_box=bool(crop_cfg.get("USE_LARGE_FACE_BOX", True)),
                               coef=float(crop_cfg.get("LARGE_BOX_COEF", 1.5)),
                               dynamic=bool(det.get("DO_DYNAMIC_DETECTION", False)),
                               frequency=int(det.get("DYNAMIC_DETECTION_FREQUENCY", 30)),
                               median=bool(det.get("USE_MEDIAN_FACE_BOX", False)),
                               detect=bool(crop_cfg.get("DO_CROP_FACE", True)))
        resize = pre.get("RESIZE") or {}
        height, width = int(resize.get("H", 72)), int(resize.get("W", 72))
        if height != width:
            raise ValueError(f"RESIZE {height}×{width}: only square frames are supported")
        depth = _get(cfg, f"MODEL.{arch.upper()}.FRAME_DEPTH", base.frame_depth)
        return Setup(types, "bvp_diff" if label == "DiffNormalized" else "bvp",
                     int(pre.get("CHUNK_LENGTH", 180)) if pre.get("DO_CHUNK", True) else None, "drop",
                     height, crop, int(depth), float(_get(cfg, "TEST.DATA.FS", 30)))
    except (ValueError, TypeError, AttributeError) as exc:
        raise HarnessError(f"{arch}: toolbox config: {exc}", p) from exc


class ToolboxAdapter(TorchAdapter):
    """One of the toolbox's networks with the toolbox's own preprocessing (the knobs of
    :class:`~harness.families.rppg.family.InputSpec` set from its config)."""

    family = "rppg"
    inputs = ("frames",)
    arch = ""
    golden = False  # needs a checkpoint: not among the baselines `harness regress` re-runs

    def __init__(self, weights: str | None = None, config: str | None = None, chunk_frames: int | None = None,
                 chunk_stride: int | None = None, chunk_tail: str | None = None, crop: str | None = None):
        self.name = self.arch
        setup = read_toolbox_config(config, self.arch) if config else DEFAULTS[self.arch]
        self.setup = setup
        self.frame_types, self.output, self.frame_size = setup.frame_types, setup.output, setup.frame_size
        self.chunk_frames = chunk_frames if chunk_frames is not None else setup.chunk_frames
        self.chunk_stride, self.chunk_tail = chunk_stride, chunk_tail or setup.chunk_tail
        self.crop = face.CropRecipe.of(crop) if crop else setup.crop
        self.fs = setup.fs
        depth = setup.frame_depth if self.arch in ("tscan", "efficientphys") else 0
        if depth and self.chunk_frames and self.chunk_frames % depth:
            raise HarnessError(f"{self.arch}: chunk_frames {self.chunk_frames} must be a multiple of its frame depth {depth} "
                               "(its temporal shift works on groups of that many frames)")
        if depth and not self.chunk_frames:
            raise HarnessError(f"{self.arch}: needs chunks (chunk_frames) in multiples of its frame depth {depth}")
        if weights is None:
            raise HarnessError(f"{self.arch} needs pretrained weights: --model-args weights=PATH (a toolbox checkpoint, "
                               f"e.g. {self.example})")
        make = {"physnet": networks.PhysNet, "tscan": lambda: networks.tscan(self.frame_size, depth),
                "deepphys": lambda: networks.deepphys(self.frame_size),
                "efficientphys": lambda: networks.efficientphys(self.frame_size, depth)}[self.arch]
        try:
            random = weights == "random"
            if random and os.environ.get(RANDOM_WEIGHTS_ENV) != "1":
                raise HarnessError(f"{self.arch}: weights=random is for tests only (set {RANDOM_WEIGHTS_ENV}=1)")
            self.init_net(make, seed=0, weights=None if random else weights)
        except ValueError as exc:
            raise HarnessError(f"{self.arch}: {exc}") from exc
        self.net.eval()

    example = ""

    def architecture(self) -> str:
        return f"{self.arch}, {self.frame_size}×{self.frame_size}, {3 * len(self.frame_types)} channels"

    def eval(self) -> "ToolboxAdapter":
        """Inference mode for the network (BatchNorm running statistics, no dropout)."""
        self.net.eval()
        return self

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        x = batch["frames"].to(self.device, torch.float32)  # (B, T, S, S, C), RGB, channels last
        b, t = x.shape[:2]
        if self.arch == "physnet":
            out = self.net(x.permute(0, 4, 1, 2, 3).contiguous())  # the toolbox's NCDHW
        else:
            flat = x.reshape(b * t, *x.shape[2:]).permute(0, 3, 1, 2).contiguous()  # NDCHW flattened
            if self.arch == "efficientphys":  # it differences frames: one more, the last repeated, per window
                flat = torch.cat([flat.reshape(b, t, *flat.shape[1:]), flat.reshape(b, t, *flat.shape[1:])[:, -1:]], 1)
                out = torch.cat([self.net(flat[i]) for i in range(b)])
            else:
                out = self.net(flat)
        return {self.output: out.reshape(b, t)}


def _adapter(arch: str, example: str, doc: str) -> type[ToolboxAdapter]:
    cls = type(f"{arch.capitalize()}Adapter", (ToolboxAdapter,), {"arch": arch, "example": example, "__doc__": doc})
    cls.__module__ = __name__
    return cls


#: model name -> adapter class of the toolbox's networks (registered in ``__init__.py``)
ADAPTERS: dict[str, type[ToolboxAdapter]] = {arch: _adapter(arch, example, doc) for arch, example, doc in (
    ("physnet", "PURE_PhysNet_DiffNormalized.pth", "PhysNet (Yu et al. 2019) with rPPG-Toolbox checkpoints."),
    ("tscan", "PURE_TSCAN.pth", "TS-CAN (Liu et al. 2020) with rPPG-Toolbox checkpoints."),
    ("deepphys", "PURE_DeepPhys.pth", "DeepPhys (Chen & McDuff 2018) with rPPG-Toolbox checkpoints."),
    ("efficientphys", "PURE_EfficientPhys.pth", "EfficientPhys-C (Liu et al. 2023) with rPPG-Toolbox checkpoints."),
)}
