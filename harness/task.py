"""Tasks: versioned protocol files under ``tasks/`` (YAML), with includes, groups and a config hash.

A task file has ``task:`` (its name); a group file has ``group:`` and ``tasks:``; files whose name
starts with ``_`` are shared bases pulled in with ``include:`` and are not tasks themselves.
``published.yaml`` in a family folder holds published numbers (see :mod:`harness.published`).
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import HarnessError, did_you_mean
from .registry import select

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TASK_KEYS = {"task", "include", "description", "family", "version", "datasets", "metrics",
             "primary_metric", "recipe", "inputs", "sources", "notes", "tags", "columns", "phases"}
GROUP_KEYS = {"group", "include", "description", "version", "tasks", "aggregate", "sources", "notes"}
#: keys that describe a task but cannot move a score: left out of the config hash (``columns``, a
#: datasets repository's column mapping, enters the data fingerprint instead; ``phases`` names a
#: challenge's phases)
DESCRIPTIVE_KEYS = {"description", "sources", "notes", "tags", "columns", "phases"}
AGGREGATES = ("none", "mean")
DIRECTIONS = ("min", "max")
ROLES = ("train", "val", "test")  # val: source validation sets (thresholds, model selection)


def task_dirs() -> list[Path]:
    """Where task files live: ``$HARNESS_TASKS`` (os.pathsep-separated) then the project's ``tasks/``."""
    extra = [Path(p) for p in os.environ.get("HARNESS_TASKS", "").split(os.pathsep) if p]
    return extra + [PROJECT_ROOT / "tasks"]


@dataclasses.dataclass(frozen=True)
class DatasetRef:
    name: str
    split: str = "all"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "split": self.split}


@dataclasses.dataclass(frozen=True)
class MetricRef:
    name: str
    direction: str  # "min" or "max"


@dataclasses.dataclass
class Task:
    name: str
    version: int
    family: str
    datasets: dict[str, list[DatasetRef]]
    metrics: list[MetricRef]
    primary_metric: str
    recipe: dict[str, Any]
    description: str
    path: Path
    config: dict[str, Any]
    phases: tuple[str, ...] = ()  # challenge phases declared by the task (none: the store's, see harness.submissions)

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    @property
    def directions(self) -> dict[str, str]:
        return {m.name: m.direction for m in self.metrics}


@dataclasses.dataclass
class Group:
    name: str
    version: int
    tasks: list[str]
    aggregate: str
    description: str
    path: Path
    config: dict[str, Any]


def config_hash(config: dict[str, Any]) -> str:
    """sha256 (first 12 hex) of the canonical JSON of the score-relevant resolved config."""
    relevant = {k: v for k, v in config.items() if k not in DESCRIPTIVE_KEYS}
    blob = json.dumps(relevant, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


MAX_YAML_BYTES = 1024 * 1024   # a task file
MAX_YAML_NODES = 100_000       # values of a task file once its aliases are expanded


def _expanded_nodes(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded (shared nodes counted once each
    time they are referenced), computed without expanding anything."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = MAX_YAML_NODES + 1  # a cycle counts as too many
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        total += _expanded_nodes(child, sizes)
        if total > MAX_YAML_NODES:
            break
    sizes[id(node)] = total
    return total


#: PyYAML's safe loader, on libyaml where PyYAML was built with it (about 6x faster on the task
#: files; the same resolver and constructor in Python, so the same values for every file both
#: read: a test compares them on every shipped file). libyaml is a little more lenient (it reads
#: a tab after ``key:``, which the pure-Python reader refuses); PyPI's PyYAML wheels include it.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    """A YAML file read safely: at most :data:`MAX_YAML_BYTES`, no Python tags, and refused when
    its aliases would expand to more than :data:`MAX_YAML_NODES` values (an alias bomb)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise HarnessError(f"the file is larger than {MAX_YAML_BYTES // 1024} KiB; task files are small", path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read: {exc}", path) from exc
    loader = None
    try:
        loader = SAFE_LOADER(text)  # the pure-Python reader refuses control characters already here
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            too_big = _expanded_nodes(node, {}) > MAX_YAML_NODES
        except RecursionError:
            too_big = True
        if too_big:
            raise HarnessError(f"its aliases expand to more than {MAX_YAML_NODES} values (an alias bomb?); refused", path)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise HarnessError(f"invalid YAML: {str(exc).splitlines()[0]}", path) from exc
    except RecursionError:
        raise HarnessError("invalid YAML: nested too deeply", path) from None
    finally:
        if loader is not None:
            loader.dispose()


def _read_yaml(path: Path) -> dict:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise HarnessError("expected a mapping at the top level", path)
    return data


def resolve_includes(path: Path, _seen: tuple[Path, ...] = ()) -> dict:
    """The file's mapping with its ``include:`` files (relative paths) merged underneath it."""
    path = path.resolve()
    if path in _seen:
        raise HarnessError("include cycle: " + " -> ".join(p.name for p in (*_seen, path)), path)
    data = _read_yaml(path)
    includes = data.pop("include", [])
    includes = [includes] if isinstance(includes, str) else includes
    merged: dict = {}
    for inc in includes:
        target = (path.parent / inc)
        if not target.is_file():
            raise HarnessError(f"included file {inc!r} does not exist", path)
        merged = _deep_merge(merged, resolve_includes(target, (*_seen, path)))
    return _deep_merge(merged, data)


def _unknown_keys(data: dict, allowed: set[str], path: Path) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise HarnessError(f"unknown key {key!r}{hint}", path)


def _version(data: dict, path: Path) -> int:
    v = data.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise HarnessError(f"'version' must be a positive integer, got {v!r}", path)
    return v


def _dataset_refs(raw: Any, role: str, path: Path) -> list[DatasetRef]:
    if not isinstance(raw, list) or not raw:
        raise HarnessError(f"datasets.{role} must be a non-empty list", path)
    refs = []
    for item in raw:
        if isinstance(item, str):
            refs.append(DatasetRef(item))
        elif isinstance(item, dict) and set(item) <= {"name", "split"} and "name" in item:
            refs.append(DatasetRef(str(item["name"]), str(item.get("split", "all"))))
        else:
            raise HarnessError(f"datasets.{role}: each entry is a name or {{name, split}}, got {item!r}", path)
    return refs


def parse_task(data: dict, path: Path) -> Task:
    _unknown_keys(data, TASK_KEYS, path)
    for key in ("family", "datasets", "metrics", "primary_metric"):
        if key not in data:
            raise HarnessError(f"missing required key {key!r}", path)
    datasets_raw = data["datasets"]
    if not isinstance(datasets_raw, dict) or "test" not in datasets_raw or set(datasets_raw) - set(ROLES):
        raise HarnessError(f"'datasets' must map roles {ROLES} (test required) to lists", path)
    datasets = {role: _dataset_refs(v, role, path) for role, v in datasets_raw.items()}
    metrics = []
    for m in data["metrics"] or []:
        if not (isinstance(m, dict) and set(m) == {"name", "direction"} and m["direction"] in DIRECTIONS):
            raise HarnessError(f"each metric needs exactly name and direction (min|max), got {m!r}", path)
        metrics.append(MetricRef(str(m["name"]), m["direction"]))
    if not metrics:
        raise HarnessError("'metrics' must list at least one metric", path)
    if data["primary_metric"] not in {m.name for m in metrics}:
        raise HarnessError(f"primary_metric {data['primary_metric']!r} is not among the task's metrics", path)
    recipe = data.get("recipe") or {}
    if not isinstance(recipe, dict):
        raise HarnessError("'recipe' must be a mapping", path)
    phases = data.get("phases") or []
    if not isinstance(phases, list) or not all(isinstance(p, str) and p.strip() for p in phases) \
            or len(set(phases)) != len(phases):
        raise HarnessError(f"'phases' must be a list of distinct phase names, got {phases!r}", path)
    return Task(name=str(data["task"]), version=_version(data, path), family=str(data["family"]),
                datasets=datasets, metrics=metrics, primary_metric=str(data["primary_metric"]),
                recipe=recipe, description=str(data.get("description", "")).strip(), path=path,
                config=data, phases=tuple(phases))


def parse_group(data: dict, path: Path) -> Group:
    _unknown_keys(data, GROUP_KEYS, path)
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise HarnessError("'tasks' must be a non-empty list of task names", path)
    aggregate = data.get("aggregate", "none")
    if aggregate not in AGGREGATES:
        raise HarnessError(f"'aggregate' must be one of {AGGREGATES}, got {aggregate!r}", path)
    return Group(name=str(data["group"]), version=_version(data, path), tasks=tasks, aggregate=aggregate,
                 description=str(data.get("description", "")).strip(), path=path, config=data)


class TaskIndex:
    """All tasks and groups found under the task folders; parse errors are collected, not swallowed."""

    def __init__(self, dirs: list[Path] | None = None):
        self.tasks: dict[str, Task] = {}
        self.groups: dict[str, Group] = {}
        self.errors: list[str] = []
        self.published_files: list[Path] = []
        for root in dirs if dirs is not None else task_dirs():
            if root.is_dir():
                for path in sorted(root.rglob("*.yaml")):
                    self._add(path)
        for group in self.groups.values():
            for member in group.tasks:
                if member not in self.tasks:
                    self.errors.append(f"{group.path}: group member {member!r} is not a task")

    def _add(self, path: Path) -> None:
        if path.name.startswith("_"):
            return
        if path.name == "published.yaml":
            self.published_files.append(path)
            return
        try:
            data = resolve_includes(path)
            if "group" in data:
                item = parse_group(data, path)
                table = self.groups
            elif "task" in data:
                item = parse_task(data, path)
                table = self.tasks
            else:
                raise HarnessError("neither 'task:' nor 'group:' is set (bases must start with '_')", path)
            if item.name in self.tasks or item.name in self.groups:
                raise HarnessError(f"name {item.name!r} is defined twice", path)
            table[item.name] = item
        except HarnessError as exc:
            self.errors.append(str(exc))

    def names(self, pattern: str | None = None, exclude: str | None = None) -> list[str]:
        return select([*self.tasks, *self.groups], pattern, exclude)

    def resolve(self, name: str) -> list[Task]:
        """The task itself, or a group's member tasks in order."""
        if name in self.tasks:
            return [self.tasks[name]]
        if name in self.groups:
            return [self.tasks[t] for t in self.groups[name].tasks if t in self.tasks]
        raise did_you_mean(name, [*self.tasks, *self.groups], "task")
