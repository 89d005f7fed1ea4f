"""Splicing family (SciSp and the manipulation benchmarks): loaders, sample, metrics, baselines.

``FAMILY`` is built on first access, so importing one module does not import the whole family.
"""
from ...models import BUILTIN_MODELS

BUILTIN_MODELS.register("splice-ela", "harness.families.splicing.baselines:ErrorLevelAnalysis")
BUILTIN_MODELS.register("splice-noise", "harness.families.splicing.baselines:NoiseResidual")
BUILTIN_MODELS.register("splice-unet", "harness.families.splicing.baselines:SmallSegNet")


def __getattr__(name: str):
    if name == "FAMILY":
        from .family import SplicingFamily

        globals()["FAMILY"] = SplicingFamily()
        return globals()["FAMILY"]
    raise AttributeError(name)
