"""Deception family (SVC 2025/2026, DOLOS): safe feature store, loaders, sample, metrics, baselines.

The family object lives in ``family.py`` (``FAMILY``), so importing one module (a loader, the
metrics) registers the models without building the whole family.
"""
from ...models import BUILTIN_MODELS

BUILTIN_MODELS.register("dd-fusion", "harness.families.deception.baselines:FusionNet")
BUILTIN_MODELS.register("dd-linear", "harness.families.deception.baselines:PooledLogistic")

