"""Face anti-spoofing family (MMDG benchmark): list loader, sample generator, metrics, baselines.

The family object lives in ``family.py`` (``FAMILY``), so importing one module (a loader, the
metrics) registers the models without building the whole family.
"""
from ...models import BUILTIN_MODELS

BUILTIN_MODELS.register("fas-cnn", "harness.families.fas.baselines:LateFusionCNN")
BUILTIN_MODELS.register("fas-relief", "harness.families.fas.baselines:ReliefTexture")
