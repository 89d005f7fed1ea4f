"""One generic name → object registry, used for families and models.

Entries are objects or lazy ``"module:attr"`` strings imported on first use. Registering a name
twice is an error; a miss raises a "did you mean" error listing what exists.
"""
from __future__ import annotations

import fnmatch
import importlib
import re
from typing import Callable, Generic, Iterable, TypeVar

from .errors import HarnessError, did_you_mean

T = TypeVar("T")


def natural_key(text: str) -> list:
    """Sort key that orders 'p2' before 'p10' (case-insensitive)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def select(names: Iterable[str], pattern: str | None = None, exclude: str | None = None) -> list[str]:
    """fnmatch include, then exclude; natural sort."""
    out = [n for n in names if (pattern is None or fnmatch.fnmatch(n, pattern))]
    if exclude:
        out = [n for n in out if not fnmatch.fnmatch(n, exclude)]
    return sorted(out, key=natural_key)


def import_string(target: str):
    """Import ``"package.module:attr"``."""
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


class Registry(Generic[T]):
    """Name → object (or lazy import string) for one kind of thing."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | T | str:
        """Register ``obj`` (or use as a decorator). A duplicate name is an error."""
        if obj is None:
            return lambda o: self.register(name, o)
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj
        return obj

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self, pattern: str | None = None, exclude: str | None = None) -> list[str]:
        return select(self._entries, pattern, exclude)

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise did_you_mean(name, self._entries, self.kind)
        entry = self._entries[name]
        if isinstance(entry, str):
            try:
                entry = import_string(entry)
            except (ImportError, AttributeError) as exc:
                raise HarnessError(f"{self.kind} {name!r} could not be imported from {entry!r}: {exc}") from exc
            self._entries[name] = entry
        return entry  # type: ignore[return-value]
