"""Deception family (SVC 2025/2026, DOLOS): safe feature store, loaders, sample, metrics, baselines.

``FAMILY`` is built on first access, so importing one module (e.g. ``features`` for a conversion)
does not import the whole family.
"""
from ...models import BUILTIN_MODELS

BUILTIN_MODELS.register("dd-fusion", "harness.families.deception.baselines:FusionNet")
BUILTIN_MODELS.register("dd-linear", "harness.families.deception.baselines:PooledLogistic")


def __getattr__(name: str):
    if name == "FAMILY":
        from .family import DeceptionFamily

        globals()["FAMILY"] = DeceptionFamily()
        return globals()["FAMILY"]
    raise AttributeError(name)
