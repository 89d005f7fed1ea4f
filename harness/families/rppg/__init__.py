"""rPPG family: loaders, sample generator, HR recipe, metrics, baselines."""
from . import models  # noqa: F401  (registers the built-in baselines)
from .family import RppgFamily

FAMILY = RppgFamily()
