"""rPPG family: loaders, sample generator, HR recipe, metrics, baselines.

The family object lives in ``family.py`` (``FAMILY``), so importing one module (a loader, the
metrics) registers the models without building the whole family.
"""
from ...models import BUILTIN_MODELS
from . import baselines, neural

for _name, _cls in {**baselines.ADAPTERS, **neural.ADAPTERS}.items():
    BUILTIN_MODELS.register(_name, _cls)
