"""One generic name → object registry, used for families and models.

Entries are objects or lazy ``"module:attr"`` strings imported on first use. A registry may also
read an entry-point group of the installed packages (e.g. ``harness.families``): each entry point
becomes a lazy entry under its name. Registering a name twice is an error; a miss raises a "did
you mean" error listing what exists.
"""
from __future__ import annotations

import fnmatch
import importlib
import re
from importlib import metadata
from typing import Callable, Generic, Iterable, Iterator, TypeVar

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


def _entry_points(group: str) -> Iterator[metadata.EntryPoint]:
    """Every entry point of ``group``, from each installed distribution once (the first found on
    ``sys.path``, as imports see it). Unlike ``metadata.entry_points``, two distributions giving
    one name both appear, so the caller can refuse the clash instead of silently keeping one."""
    seen: set[str] = set()
    for dist in metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
        if name in seen:
            continue
        seen.add(name)
        yield from dist.entry_points.select(group=group)


class Registry(Generic[T]):
    """Name → object (or lazy import string) for one kind of thing."""

    def __init__(self, kind: str, entry_point_group: str | None = None, missing_hint: str = "",
                 validate: Callable[[str, T], None] | None = None):
        self.kind = kind
        self.validate = validate  # called with (name, object) when a lazy entry is first imported
        self.entry_point_group = entry_point_group
        self.missing_hint = missing_hint  # appended to a miss's message when the registry is empty
        self._entries: dict[str, T | str] = {}
        self._origins: dict[str, tuple[str, str]] = {}  # name -> (distribution, target) of its entry point

    def discover(self) -> None:
        """Add the entry points of ``entry_point_group`` not yet known (read again on every call,
        so a package installed, or put on ``sys.path``, since the last call is seen). Two
        distributions giving one name different targets is an error naming both."""
        if not self.entry_point_group:
            return
        for ep in _entry_points(self.entry_point_group):
            origin = (ep.dist.name, ep.value)
            seen = self._origins.get(ep.name)
            if seen == origin:
                continue
            if seen is not None or ep.name in self._entries:
                first = f"{seen[0]} ({seen[1]})" if seen else "the harness itself"
                raise HarnessError(f"{self.kind} {ep.name!r} is registered twice: by {first} and by "
                                   f"{origin[0]} ({origin[1]}); uninstall one")
            self._entries[ep.name] = ep.value
            self._origins[ep.name] = origin

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | T | str:
        """Register ``obj`` (or use as a decorator). A duplicate name is an error."""
        if obj is None:
            return lambda o: self.register(name, o)
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj
        return obj

    def __contains__(self, name: str) -> bool:
        if name not in self._entries:
            self.discover()
        return name in self._entries

    def names(self, pattern: str | None = None, exclude: str | None = None) -> list[str]:
        self.discover()
        return select(self._entries, pattern, exclude)

    def get(self, name: str) -> T:
        if name not in self:
            if not self._entries and self.missing_hint:
                raise HarnessError(f"unknown {self.kind} {name!r}: none is installed; {self.missing_hint}")
            raise did_you_mean(name, self._entries, self.kind)
        entry = self._entries[name]
        if isinstance(entry, str):
            try:
                entry = import_string(entry)
            except (ImportError, AttributeError) as exc:
                raise HarnessError(f"{self.kind} {name!r} could not be imported from {entry!r}: {exc}") from exc
            if self.validate is not None:
                self.validate(name, entry)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]
