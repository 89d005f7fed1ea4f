"""Task families. Importing this package registers every family's built-in models."""
from importlib import import_module

from ..family import FAMILIES


def load_all() -> None:
    """Import every registered family so its built-in models are registered too."""
    for name in FAMILIES.names():
        FAMILIES.get(name)


__all__ = ["load_all", "import_module"]
