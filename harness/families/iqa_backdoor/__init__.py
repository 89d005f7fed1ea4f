"""NR-IQA backdoor family (BAIQA): loaders, sample, DCT trigger, metrics, baselines.

``FAMILY`` is built on first access, so importing one module does not import the whole family.
"""
from ...models import BUILTIN_MODELS

BUILTIN_MODELS.register("iqa-ridge", "harness.families.iqa_backdoor.heuristics:QualityRidge")
BUILTIN_MODELS.register("iqa-cnn", "harness.families.iqa_backdoor.baselines:QualityCNN")
BUILTIN_MODELS.register("iqa-cnn-poisoned", "harness.families.iqa_backdoor.baselines:PoisonedQualityCNN")


def __getattr__(name: str):
    if name == "FAMILY":
        from .family import IqaBackdoorFamily

        globals()["FAMILY"] = IqaBackdoorFamily()
        return globals()["FAMILY"]
    raise AttributeError(name)
