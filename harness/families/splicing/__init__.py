"""Splicing family (SciSp and the manipulation benchmarks): loaders, sample, metrics, baselines.

The family object lives in ``family.py`` (``FAMILY``), so importing one module (a loader, the
metrics) registers the models without building the whole family.
"""
from ...models import BUILTIN_MODELS

BUILTIN_MODELS.register("splice-ela", "harness.families.splicing.baselines:ErrorLevelAnalysis")
BUILTIN_MODELS.register("splice-noise", "harness.families.splicing.baselines:NoiseResidual")
BUILTIN_MODELS.register("splice-unet", "harness.families.splicing.baselines:SmallSegNet")

