"""Face anti-spoofing family (MMDG benchmark): list loader, sample generator, metrics, baselines."""
from ...models import BUILTIN_MODELS
from .family import FasFamily

BUILTIN_MODELS.register("fas-cnn", "harness.families.fas.baselines:LateFusionCNN")
BUILTIN_MODELS.register("fas-relief", "harness.families.fas.heuristics:ReliefTexture")

FAMILY = FasFamily()
