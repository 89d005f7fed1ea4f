"""Task families. Importing a family registers its built-in models."""
from ..family import FAMILIES


def load_all() -> None:
    """Import every registered family so its built-in models are registered too."""
    for name in FAMILIES.names():
        FAMILIES.get(name)
