"""NR-IQA backdoor family (BAIQA): loaders, sample, DCT trigger, metrics, baselines.

The family object lives in ``family.py`` (``FAMILY``), so importing one module (a loader, the
metrics) registers the models without building the whole family.
"""
from ...models import BUILTIN_MODELS

BUILTIN_MODELS.register("iqa-ridge", "harness.families.iqa_backdoor.baselines:QualityRidge")
BUILTIN_MODELS.register("iqa-cnn", "harness.families.iqa_backdoor.baselines:QualityCNN")
BUILTIN_MODELS.register("iqa-cnn-poisoned", "harness.families.iqa_backdoor.baselines:PoisonedQualityCNN")

