"""The contract every task family implements (:class:`Family`); the core (runner, scoring,
leaderboard, plots, Codabench, participant copies, CLI) only talks to this. Families are found
through the ``harness.families`` entry-point group of the installed packages (this project's own
five are declared in its ``pyproject.toml``); see ``docs/adding-a-family.md``.
"""
from __future__ import annotations

import abc
import dataclasses
import hashlib
import math
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .errors import HarnessError
from .registry import Registry
from .stats import MetricValue

ENTRY_POINT_GROUP = "harness.families"


def _check_family(name: str, obj: Any) -> None:
    """An entry point of ``harness.families`` must name a :class:`Family` instance of that name."""
    if not isinstance(obj, Family):
        raise HarnessError(f"family entry point {name!r} gives a {type(obj).__name__}, not a harness.family.Family instance")
    if obj.name != name:
        raise HarnessError(f"family entry point {name!r} gives the family named {obj.name!r}; the names must match")


#: every installed family by name, read from the ``harness.families`` entry points
FAMILIES: Registry["Family"] = Registry(
    "family", entry_point_group=ENTRY_POINT_GROUP, validate=_check_family,
    missing_hint="the package's entry points are missing: reinstall it (pip install -e . in a clone)")


@dataclasses.dataclass
class DataSource:
    """Where a task's data comes from: ``real`` files under a data root, or the embedded ``sample``."""

    kind: str                       # "real" or "sample"
    root: Path
    fingerprint: str
    datasets: dict[str, list[str]]  # role -> dataset names available
    notes: list[str] = dataclasses.field(default_factory=list)
    role_fingerprints: dict[str, str] = dataclasses.field(default_factory=dict)  # role -> fingerprint
    scanned: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # family's own index, reused within a run
    origin: dict[str, Any] | None = None  # a Hub repository's URL, revision and commit (see harness.hub)
    labelled: bool = True  # False: a participant copy (test labels withheld): a run predicts, nothing is scored

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.kind, "root": str(self.root), "fingerprint": self.fingerprint,
                "role_fingerprints": self.role_fingerprints, "datasets": self.datasets, "notes": self.notes,
                **({"origin": self.origin} if self.origin else {})}


@dataclasses.dataclass
class Unit:
    """One item the runner feeds to a model: a whole sample, or one part of a long one."""

    sample_id: str
    part: int = 0
    last: bool = True
    reference: Any = None     # ground truth, sent with the last part; never shown to the model
    meta: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TestSet:
    """The test samples of a task, in a fixed order, and how to stream and batch them."""

    sample_ids: list[str]
    family: "Family"
    make_dataset: Any      # callable(sample_ids) -> torch IterableDataset of (Unit, inputs dict)
    collate: Any           # callable(list of (Unit, inputs)) -> (list[Unit], inputs dict)
    key: str = ""          # what besides data and model decides the outputs (e.g. a trigger's hash)
    notes: list[str] = dataclasses.field(default_factory=list)   # recorded with the run
    record: dict[str, Any] | None = None  # how inputs were made for this model (crop, chunking…), recorded as "inputs"
    max_workers: int | None = None   # a cap on decoding workers (0: decode in the main process, e.g. on the GPU)
    threads: bool = False  # decoding releases the GIL (Pillow, OpenCV, numpy): the workers are threads of the run's
                           # process (ThreadedLoader), so decoded images are never copied between processes
    prepare: Any = None    # callable(inputs, device) -> the model's inputs (e.g. images.prepare_images), run in the
                           # decoding workers for a CPU model, on the batch in the main process otherwise; None: tensors moved


@dataclasses.dataclass
class Score:
    metrics: dict[str, MetricValue]
    rows: pd.DataFrame             # the per-sample (or per-window) table anyone can rescore
    notes: list[str] = dataclasses.field(default_factory=list)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    breakdowns: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. per attack type, per domain


@dataclasses.dataclass(frozen=True)
class PredictionFormat:
    """What a family's participants upload (and ``harness run --submission`` writes): declared once
    by each family (:meth:`Family.prediction_format`) and shown by the Codabench bundle's submission
    page, the README and ``harness score --help``."""

    suffixes: tuple[str, ...]   # what an upload may be; the first is what ``--submission`` usually writes
    summary: str                # one line
    details: str                # the full description (columns, ranges, ids), plain text

    @property
    def example_file(self) -> str:
        return f"predictions{self.suffixes[0]}"

    def example_command(self, task_name: str = "T") -> str:
        return f"harness run --task {task_name} --model <name> --submission {self.example_file}"


def prediction_formats_text(markdown: bool = False) -> str:
    """Every family's prediction format, one entry per family: ``harness score --help`` (plain)
    and the README's list (``markdown``; a test keeps the README equal to it)."""
    import textwrap

    lines = []
    for name in FAMILIES.names():
        fmt = FAMILIES.get(name).prediction_format()
        kinds = " or ".join(f"`{s}`" if markdown else s for s in fmt.suffixes)
        if markdown:
            lines.append(f"- **{name}** ({kinds}): {fmt.summary} E.g. `{fmt.example_command()}`.")
        else:
            lines += textwrap.wrap(f"{name} ({kinds}): {fmt.summary}", 100, initial_indent="  ",
                                   subsequent_indent="      ", break_on_hyphens=False)
            lines.append(f"      e.g. {fmt.example_command()}")
    return "\n".join(lines)


def cache_root() -> Path:
    """Where generated samples and run caches live: ``$HARNESS_CACHE`` or ``~/.cache/harness``."""
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")


def choose_root(data_root: Path | None, sample_root: Any, marker: str) -> tuple[Path, str, list[str]]:
    """(root, "sample" | "real", notes): ``--data-root`` / ``$HARNESS_DATA``, or the embedded sample
    (``sample_root()``, generated on first use) when neither is given or the value is ``sample``. A
    root holding the generator's ``marker`` file is a copy of the sample and labelled so."""
    text = str(data_root) if data_root else os.environ.get("HARNESS_DATA", "")
    if text in ("", "sample"):
        root = sample_root()
        why = "no data root given (--data-root DIR or HARNESS_DATA)" if not text else "--data-root sample"
        return root, "sample", [f"using the embedded synthetic sample in {root} ({why}); results are labelled 'sample'"]
    root = Path(text)
    if not root.is_dir():
        raise HarnessError("data root does not exist (use --data-root sample for the embedded sample)", root)
    if (root / marker).is_file():
        return root, "sample", [f"{root} holds the harness's synthetic sample ({marker}): results are labelled 'sample'"]
    return root, "real", []


def scores_of(outputs: Any, units: Sequence[Unit], meaning: str) -> list[float]:
    """A model's per-unit scores as finite floats: a (B,) or (B, 1) tensor (or array), bare or under
    ``"score"``; ``meaning`` says what a score is in the error messages (e.g. "P(truth)")."""
    value = outputs.get("score") if isinstance(outputs, dict) else outputs
    if value is None:
        raise HarnessError(f"model output must hold 'score' ({meaning}), got keys {sorted(outputs)}")
    value = torch.as_tensor(value).detach().double().cpu()
    if tuple(value.shape) == (len(units), 1):  # a (B, 1) head
        value = value[:, 0]
    if tuple(value.shape) != (len(units),):
        raise HarnessError(f"model returned score of shape {tuple(value.shape)} for a batch of {len(units)}; "
                           f"expected ({len(units)},) (sample {units[0].sample_id})")
    scores = value.tolist()
    for unit, v in zip(units, scores):
        if not math.isfinite(v):
            raise HarnessError(f"model returned a NaN or infinite score for sample {unit.sample_id}")
    return scores


def roles_needed(task, need_train: bool) -> list[str]:
    """The roles a run reads: the test set, plus the training sets when the model trains."""
    return ["test"] + (["train"] if need_train and task.datasets.get("train") else [])


def select_by_role(task, roles: Sequence[str], records_of: Any, what: str) -> dict[str, list]:
    """Each role's records (anything with ``dataset`` and ``sample_id``) from ``records_of(ref)``
    over its dataset refs, in order and without repeats; a test record that is also a training
    record is refused (``what`` names them in the message, e.g. "image")."""
    chosen: dict[str, list] = {}
    for role in roles:
        records: dict[tuple, Any] = {}
        for ref in task.datasets[role]:
            for r in records_of(ref):
                records.setdefault((r.dataset, r.sample_id), r)
        chosen[role] = list(records.values())
    if "train" in chosen:
        leaked = sorted({(r.dataset, r.sample_id) for r in chosen["train"]} & {(r.dataset, r.sample_id) for r in chosen["test"]})
        if leaked:
            raise HarnessError(f"{len(leaked)} test {what}(s) are also training {what}s (e.g. {leaked[:2]}): the protocol "
                               f"would test on its training data", task.path)
    return chosen


def combined_fingerprint(role_fingerprints: dict[str, str]) -> str:
    """One fingerprint (16 hex) of a run's data from its roles' fingerprints."""
    text = "".join(f"{role}:{fp};" for role, fp in sorted(role_fingerprints.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def held_out(key: str, share: int) -> bool:
    """Whether ``key`` falls in the 1/``share`` held out for model selection (by hash: stable,
    independent of order)."""
    return int(hashlib.sha256(f"val/{key}".encode()).hexdigest(), 16) % share == 0


def fingerprint_files(root: Path, files: Iterable[Path], heads: Iterable[Path] = (), head_bytes: int = 1 << 16) -> str:
    """sha256 (16 hex) over each file's path relative to ``root`` and size, plus the first
    ``head_bytes`` bytes of the files in ``heads`` (videos, label files; frame images by size only,
    so fingerprinting a folder of 100k frames stays cheap)."""
    h = hashlib.sha256()
    heads = set(heads)
    for f in sorted(set(files) | heads):
        h.update(str(f.relative_to(root)).encode())
        h.update(str(f.stat().st_size).encode())
        if f in heads:
            with open(f, "rb") as fh:
                h.update(fh.read(head_bytes))
    return h.hexdigest()[:16]


#: a plot function: (per-sample table, title, PNG path) -> the numbers it drew (see harness.plots)
PlotFn = Callable[["pd.DataFrame", str, Path], dict[str, Any]]


class Family(abc.ABC):
    """What differs between task families: the one contract the core calls.

    A family is one instance of a subclass, named by a ``harness.families`` entry point whose name
    is :attr:`name` (``docs/adding-a-family.md`` walks through adding one). The hooks come in
    groups: the declaration (class attributes), tasks, data, the model loop, scoring, prediction
    and reference files, and optional extras. Abstract methods must be implemented. The optional
    hooks have a documented default: a neutral answer (no plots, no protocol values, one part per
    sample...) or, for a service the family may lack (datasets repositories, participant copies,
    conversion), one :class:`HarnessError` saying the family does not offer it;
    :meth:`supports` tells which of those a family offers.
    """

    # --- declaration -------------------------------------------------------------------------
    #: the name tasks give as ``family:`` (and the entry point's name)
    name: str = ""
    #: metric name -> :class:`harness.stats.MetricSpec` (direction, ranked, from_upload, tolerance)
    metric_specs: dict[str, Any] = {}
    #: True: a prediction is many files (a folder or zip of them, e.g. mask PNGs); Codabench then
    #: accepts the files themselves, a zip of them or one folder
    many_file_predictions: bool = False
    #: the module (relative to the family's package, e.g. ``".plots"``) whose ``PLOTS`` (kind ->
    #: plot function) :meth:`plots` returns, imported only when plots are drawn; "" for no plots
    plots_module: str = ""
    #: what :meth:`write_reference` writes ("" for a folder): the reference file's name in a
    #: Codabench bundle and in participant copies
    reference_suffix: str = ".csv"
    #: what ``--submission`` may be named (empty: any name, e.g. a folder)
    submission_suffixes: tuple[str, ...] = ()
    #: the roles a ``datasets`` row plays for this family (:class:`harness.hfdata.Column`); empty:
    #: the family reads no ``datasets`` repositories (and :meth:`write_rows`/:meth:`export_rows`
    #: refuse)
    row_columns: tuple = ()
    #: the roles whose values identify a ``datasets`` row (two rows with the same are refused)
    row_key: tuple = ("dataset", "id")
    #: why a family without ``row_columns`` has no ``datasets`` format (said when one is asked for)
    rows_refused: str = ""

    def supports(self, hook: str) -> bool:
        """Whether this family implements the optional hook named ``hook`` (e.g.
        ``"write_participant_copy"``) rather than inheriting the base class's default."""
        if not callable(getattr(Family, hook, None)):
            raise ValueError(f"Family has no hook {hook!r}")
        return getattr(type(self), hook) is not getattr(Family, hook)

    # --- tasks -------------------------------------------------------------------------------
    @abc.abstractmethod
    def check_task(self, task) -> None:
        """Validate the family-specific parts of a task (recipe, dataset names, splits); call
        :meth:`check_metrics` too."""

    @abc.abstractmethod
    def recipe_record(self, task) -> dict[str, Any]:
        """The resolved evaluation recipe, as recorded with every result (and shown on the
        Codabench pages)."""

    def check_metrics(self, task) -> None:
        """Every task metric is one of the family's, with the direction the family declares."""
        for m in task.metrics:
            spec = self.metric_specs.get(m.name)
            if spec is None:
                raise HarnessError(f"unknown {self.name} metric {m.name!r}; known: {sorted(self.metric_specs)}", task.path)
            if spec.direction != m.direction:
                raise HarnessError(f"metric {m.name!r} has direction {spec.direction!r}, the task says {m.direction!r}", task.path)
        if not getattr(self.metric_specs.get(task.primary_metric), "ranked", True):
            raise HarnessError(f"primary_metric {task.primary_metric!r} is never ranked (e.g. an oracle score); "
                               f"choose a fair metric", task.path)

    def check_model(self, task, model) -> None:
        """Refuse a model this task must not score (checked before any data is read or any
        training starts). Default: every model of the family is accepted."""

    def check_submission_path(self, path: Path) -> None:
        """Refuse a ``--submission`` name this family cannot write, before any data is read or any
        model trained (from :attr:`submission_suffixes` and :attr:`many_file_predictions`)."""
        path = Path(path)
        if self.submission_suffixes and path.suffix.lower() not in self.submission_suffixes:
            raise HarnessError(f"a {self.name} prediction file is {' or '.join(self.submission_suffixes)}; "
                               f"name --submission accordingly (e.g. predictions{self.submission_suffixes[0]})", path)
        if path.is_dir() and not self.many_file_predictions:
            raise HarnessError("--submission names a folder; give a file name", path)
        if path.is_dir() and not path.is_symlink() and any(path.iterdir()):
            raise HarnessError("--submission names a folder that is not empty; writing it would replace what is "
                               "there: choose a new name", path)
        if not path.resolve().parent.is_dir():
            raise HarnessError("the folder of --submission does not exist", path)

    # --- data --------------------------------------------------------------------------------
    @abc.abstractmethod
    def synthesize(self, out: Path, seed: int = 0) -> Path:
        """Write the family's embedded synthetic sample, in a real on-disk layout, under ``out``;
        return its root (``harness data synth``; runs without a data root use it, labelled
        ``sample``)."""

    @abc.abstractmethod
    def resolve_data(self, task, data_root: Path | None, need_train: bool) -> DataSource:
        """Find the task's datasets under ``data_root`` (None: the embedded sample, see
        :func:`choose_root`) and fingerprint them; the training roles only when ``need_train``."""

    @abc.abstractmethod
    def train_data(self, task, source: DataSource, model) -> Any:
        """What a training model's ``fit`` receives (the family documents its shape)."""

    @abc.abstractmethod
    def test_set(self, task, source: DataSource, model, limit: int | None) -> TestSet:
        """The test samples in a fixed order and how to stream them to ``model`` (None: only the
        ids are needed); ``limit`` keeps the first so many (a smoke run, never ranked)."""

    def test_ids(self, task, source: DataSource) -> list[str]:
        """The test sample ids of a resolved data source (those a prediction file must hold).
        Default: those of :meth:`test_set` for no model."""
        return self.test_set(task, source, None, None).sample_ids

    # --- the model loop ----------------------------------------------------------------------
    @abc.abstractmethod
    def split_outputs(self, outputs: Any, units: Sequence[Unit], inputs: dict) -> list[Any]:
        """Validate a batch's model outputs and split them per unit (numpy, on the CPU); a bad
        output is one HarnessError naming the sample."""

    def merge_parts(self, parts: list[Any]) -> Any:
        """Join a sample's per-part outputs into one output. Default: a sample is one part."""
        return parts[0]

    # --- scoring -----------------------------------------------------------------------------
    @abc.abstractmethod
    def score(self, task, outputs: dict[str, Any], references: dict[str, Any], *, n_boot: int, seed: int) -> Score:
        """The task's metrics (with uncertainty) and the per-sample table from per-sample outputs
        and references (both keyed by sample id)."""

    def protocol_values(self, task, data_root: Path | None) -> dict[str, MetricValue]:
        """Task metrics fixed by the protocol and the test data rather than by a submission (those
        whose spec says ``from_upload=False``, e.g. a trigger's visibility; the Codabench pages
        show them). Default: none."""
        return {}

    def plots(self) -> dict[str, PlotFn]:
        """Plot kind -> plot function drawn per run by ``harness leaderboard --plots`` (see
        :mod:`harness.plots`). Default: the ``PLOTS`` of :attr:`plots_module`, else none."""
        if not self.plots_module:
            return {}
        import importlib
        import sys

        package = sys.modules[type(self).__module__].__package__  # right for a family in a package's __init__ too
        try:
            return dict(importlib.import_module(self.plots_module, package).PLOTS)
        except (ImportError, AttributeError, TypeError) as exc:
            raise HarnessError(f"family {self.name!r}: plots_module {self.plots_module!r} (relative to {package!r}) "
                               f"gives no PLOTS: {exc}") from exc

    # --- prediction files (what participants upload) -----------------------------------------
    @abc.abstractmethod
    def prediction_format(self) -> PredictionFormat:
        """What participants upload: suffixes, a one-line summary and the full description (the
        Codabench submission page, the README and ``harness score --help`` show it)."""

    @abc.abstractmethod
    def prediction_suffix(self, outputs: dict[str, Any]) -> str:
        """File suffix of the prediction format these outputs are written in (e.g. ".npz")."""

    @abc.abstractmethod
    def write_predictions(self, path: Path, outputs: dict[str, Any], references: dict[str, Any]) -> None:
        """Write outputs as the family's prediction file: the file participants upload."""

    @abc.abstractmethod
    def read_predictions(self, task, upload, references: dict[str, Any], problems) -> dict[str, Any]:
        """Validate an uploaded prediction file against the reference ids; collect every problem in
        ``problems`` (participant-safe wording) and return the usable outputs."""

    # --- reference files (what organizers score against) -------------------------------------
    @abc.abstractmethod
    def references(self, task, data_root: Path | None) -> tuple[dict[str, Any], dict]:
        """(references, description) of a task's test set, read from the datasets."""

    @abc.abstractmethod
    def write_reference(self, path: Path, references: dict[str, Any]) -> None:
        """Write references as the organizer's reference file (:attr:`reference_suffix`) that
        :meth:`read_reference` reads; Codabench bundles and participant copies ship it."""

    @abc.abstractmethod
    def read_reference(self, task, path: Path) -> tuple[dict[str, Any], dict]:
        """(references, description) from an organizer's reference file."""

    # --- optional services (default: one clear refusal) --------------------------------------
    def write_participant_copy(self, task, root: Path, out: Path) -> tuple[list[str], dict[str, str] | None]:
        """Write under ``out`` a data root holding ``task``'s training datasets and its test inputs
        with opaque ids and no labels, so that ``resolve_data(task, out, ...)`` (once the core's
        ``participant.json`` is there) returns ``labelled=False``. Return (notes for participants,
        original id → copy id, or None when the copy keeps the reference's ids).
        Default: refused (``harness data participant-copy`` does not support the family)."""
        raise HarnessError(f"harness data participant-copy does not support the {self.name} family yet")

    def write_rows(self, rows: Iterable[dict], out: Path) -> int:
        """Write ``datasets`` rows (role → value, images as :class:`harness.hfdata.RowImage`,
        ``dataset`` and ``id`` filled in, ``_where`` naming the row) in the family's on-disk layout
        under ``out``; return how many rows were written. Problems name the row.
        Default: refused (the family reads no datasets repositories)."""
        raise HarnessError(f"family {self.name!r} reads no datasets repositories")

    def export_rows(self, task, source: DataSource, role: str) -> Iterable[dict]:
        """The records of ``role`` (test, train) as ``datasets`` rows (role → value), for
        ``harness data export``. Default: refused (the family has no datasets format)."""
        raise HarnessError(f"the {self.name} family has no datasets format")

    def rename_references(self, references: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
        """The reference of a participant copy: ``references`` keyed by the copy's ids (``renamed``
        is what :meth:`write_participant_copy` returned; ids it leaves out keep their name)."""
        return {renamed.get(i, i): r for i, r in references.items()}


    def can_convert(self, src: Path) -> bool:
        """Whether ``harness data convert`` should hand ``src`` to this family. Default: never."""
        return False

    def convert(self, src: Path, out: Path, *, dataset: str | None = None, strip_labels: bool = False,
                name: str | None = None, overwrite: bool = False, id_key: Path | None = None) -> list[Path]:
        """Convert distributed files (e.g. pickles) to the family's safe internal format; return
        the folders written (``name``: the folder of a single file's output). ``strip_labels``
        writes a label-free participant copy (ids keyed with the organizer's ``id_key`` file).
        An existing output is replaced only with ``overwrite``, and only what the harness wrote.
        Default: refused (the family has nothing to convert)."""
        raise HarnessError(f"family {self.name!r} has nothing to convert")


@dataclasses.dataclass
class WorkerFailure:
    """A HarnessError raised in a DataLoader worker, carried to the main process as an item (the
    loader would re-raise it wrapped in the worker's traceback); the runner raises it there."""

    message: str
    path: str | None = None

    def error(self):
        return HarnessError(self.message, self.path)


class StreamDataset(IterableDataset):
    """Streams ``produce(item)`` (``(Unit, inputs)`` pairs) for each item; each DataLoader worker
    takes every k-th item, so nothing is loaded twice and long samples can be cut into parts
    without ever being held whole. In a worker, a HarnessError ends its stream as a
    :class:`WorkerFailure` item."""

    def __init__(self, items: Sequence[Any], produce: Any):
        self.items = list(items)
        self.produce = produce

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        try:
            for item in self.items[start::step]:
                yield from self.produce(item)
        except HarnessError as exc:
            if info is None:
                raise
            yield WorkerFailure(exc.message, exc.path)


class ThreadedLoader:
    """The batches a ``DataLoader(dataset, batch_size, collate_fn=collate)`` without workers gives
    over a :class:`StreamDataset` (the same units in the same batches, in the same order, whatever
    the thread count), with ``produce`` and ``collate`` run by ``threads`` threads of this process.

    For decoders that release the GIL (Pillow, OpenCV, numpy), threads scale like processes
    without their cost: a decoded image stays where it was made instead of being copied through
    fresh shared memory (whose page faults cost a 1024² image about as much as its decoding).
    At most ``2 × threads`` items are decoding and ``threads + 1`` batches wait besides the one
    handed out; a HarnessError raised by ``produce`` or ``collate`` is raised here after the
    batches completed before it, as it would be without workers."""

    def __init__(self, dataset: StreamDataset, batch_size: int, collate: Callable, threads: int,
                 finish: Callable | None = None):
        if not isinstance(dataset, StreamDataset):
            raise TypeError(f"ThreadedLoader streams a StreamDataset, not a {type(dataset).__name__}")
        if threads < 1 or batch_size < 1:
            raise ValueError(f"threads and batch_size must be positive, got {threads} and {batch_size}")
        self.dataset, self.batch_size, self.collate, self.threads = dataset, batch_size, collate, threads
        self.finish = finish  # applied to each collated batch in its thread (e.g. pinning it for a GPU)

    def _units(self, item: Any) -> list:
        return list(self.dataset.produce(item))

    def _batch(self, units: list) -> Any:
        batch = self.collate(units)
        return self.finish(batch) if self.finish is not None else batch

    def _batch_futures(self, pool: ThreadPoolExecutor):
        items = iter(self.dataset.items)
        produced = deque(pool.submit(self._units, item) for item in islice(items, 2 * self.threads))
        units: list = []
        while produced:
            done = produced.popleft().result()
            produced.extend(pool.submit(self._units, item) for item in islice(items, 1))
            for unit in done:
                units.append(unit)
                if len(units) == self.batch_size:
                    yield pool.submit(self._batch, units)
                    units = []
        if units:
            yield pool.submit(self._batch, units)

    def __iter__(self):
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="harness-decode")
        ahead: deque = deque()
        try:
            try:
                for future in self._batch_futures(pool):
                    ahead.append(future)
                    if len(ahead) > self.threads:
                        yield ahead.popleft().result()
            except HarnessError:  # an item failed: the batches made before it still reach the model, as in one process
                while ahead:
                    yield ahead.popleft().result()
                raise
            while ahead:
                yield ahead.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
