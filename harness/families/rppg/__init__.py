"""rPPG family: loaders, sample generator, HR recipe, metrics, baselines.

The family object lives in ``family.py`` (``FAMILY``), so importing one module (a loader, the
metrics) registers the models without building the whole family.
"""
from . import models  # noqa: F401  (registers the built-in baselines)
