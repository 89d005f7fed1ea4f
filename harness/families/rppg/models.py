"""Built-in rPPG adapters: the seven unsupervised baselines (GREEN, ICA, CHROM, POS, LGI, PBV, OMIT)."""
from __future__ import annotations

import torch

from ...models import BUILTIN_MODELS, Adapter
from . import baselines


class BaselineAdapter(Adapter):
    """Wraps one of :data:`baselines.METHODS`: RGB traces in, BVP out, on whatever device the batch is."""

    family = "rppg"
    inputs = ("rgb",)
    output = "bvp"
    method = ""

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        bvp = baselines.METHODS[self.method](batch["rgb"], batch["fs"], batch["lengths"])
        return {"bvp": bvp}


def _register(name: str) -> None:
    cls = type(f"{name.upper()}Adapter", (BaselineAdapter,),
               {"method": name, "__doc__": f"rPPG-Toolbox-style {name.upper()} baseline (no training)."})
    cls.__module__ = __name__
    BUILTIN_MODELS.register(name, cls)


for _name in ("green", "ica", "chrom", "pos", "lgi", "pbv", "omit"):
    _register(_name)
from . import neural  # noqa: E402,F401  (registers physnet, tscan, deepphys, efficientphys)
