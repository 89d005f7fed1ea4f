"""Hugging Face Hub dataset repositories: data and results as ``hf://datasets/<org>/<name>[@revision]``.

Reading: :func:`resolve_data_root` (a ``--data-root`` value or ``$HARNESS_DATA``) and
:func:`results_root` (a ``--results`` value) materialize the repository's snapshot into the local
Hugging Face cache (``huggingface_hub.snapshot_download``) and return its folder; the origin names
the exact commit, which :func:`fold_revision` folds into the data fingerprint. ``HF_HUB_OFFLINE=1``
(read at call time) means the cache only: a repository or revision not there is one clear error.

Writing: :func:`export_results` writes every reportable run record as one JSON per run evaluation,
the layout the Hugging Face demo-leaderboard template reads (``config.{model_name, model_sha,
model_dtype}`` and ``results.{task: {metric: value}}``), beside the run's per-sample table:
``<out>/<task>/<model-tag>/results_<created>[_seed<k>].json`` and ``samples_<same>.csv``, plus
the same runs as two Parquet ``datasets`` configs declared in the card's YAML ``configs:``:
``runs`` (one row per run and metric, the whole record included) and ``samples`` (the per-sample
tables), so ``load_dataset(repo, "runs")`` works; :func:`parquet_records` reads ``runs`` back.
:func:`push_results` uploads such an export to a dataset repository in one commit
(``harness push``). :func:`harness.records.iter_records` reads the export layout back, so
``harness leaderboard --results hf://datasets/<org>/<name>`` renders the same board.

User errors (a malformed URL, a repository or revision not found or not cached, no network, no
token) are :class:`HarnessError`: one line, exit code 2, no traceback.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import os
import re
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

from .errors import HarnessError
from .files import atomic_dir, atomic_path, write_json
from .records import iter_records, results_dir

HUB_PREFIX = "hf://datasets/"
#: first line of the exported dataset card; an existing ``--out`` folder is only replaced when its
#: README.md carries it (so a mistyped ``--out`` never wipes an unrelated folder)
CARD_MARKER = "<!-- harness results export -->"
DEFAULT_DTYPE = "float32"

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_TRUE = {"1", "ON", "YES", "TRUE"}
_FORM = "expected hf://datasets/<org>/<name>[@revision]"


# ----------------------------------------------------------------------------- URLs
def is_hub_url(text: str | os.PathLike | None) -> bool:
    """Whether ``text`` is an ``hf://`` URL (of any repository type)."""
    return isinstance(text, str) and text.startswith("hf://")


def parse_hub_url(text: str) -> tuple[str, str | None]:
    """``hf://datasets/<org>/<name>[@revision]`` → (``"org/name"``, revision or None).

    A revision may be a branch, a tag or a commit sha; ``%2F`` spells a ``/`` in it (``refs%2Fpr%2F1``).
    """
    if not is_hub_url(text):
        raise HarnessError(f"not a Hugging Face Hub URL: {text!r} ({_FORM})")
    if not text.startswith(HUB_PREFIX):
        kind = text[len("hf://"):].split("/", 1)[0] or "?"
        what = kind if kind in ("models", "spaces", "buckets", "kernels") else f"models ({kind}/... is a model id)"
        raise HarnessError(f"{text}: only dataset repositories are supported, not {what} ({_FORM})")
    rest = text[len(HUB_PREFIX):]
    repo, at, revision = rest.partition("@")
    if at and not revision:
        raise HarnessError(f"{text}: empty revision after '@' ({_FORM})")
    parts = repo.strip("/").split("/") if repo.strip("/") else []
    if len(parts) < 2:
        missing = "the organization (or user) and the name" if not parts else "the organization (or user)"
        raise HarnessError(f"{text}: missing {missing} of the dataset repository ({_FORM})")
    if len(parts) > 2:
        raise HarnessError(f"{text}: a path inside the repository is not supported; point at the repository "
                           f"itself ({_FORM})")
    for part in parts:
        if not _NAME.fullmatch(part) or ".." in part or "--" in part:
            raise HarnessError(f"{text}: {part!r} is not a valid repository id part ({_FORM})")
    revision = urllib.parse.unquote(revision) if revision else None
    if revision is not None and (not revision.strip() or any(c.isspace() for c in revision)):
        raise HarnessError(f"{text}: invalid revision {revision!r} ({_FORM})")
    return "/".join(parts), revision


def hub_url(repo_id: str, revision: str | None = None) -> str:
    return HUB_PREFIX + repo_id + (f"@{revision}" if revision else "")


# ----------------------------------------------------------------------------- the local cache
def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as set now (huggingface_hub itself reads it once, at import time)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE


def hub_cache_dir() -> Path:
    """The Hugging Face cache folder as the environment says now: ``$HF_HUB_CACHE``, the legacy
    ``$HUGGINGFACE_HUB_CACHE``, ``$HF_HOME/hub`` or ``$XDG_CACHE_HOME/huggingface/hub``."""
    env = os.environ
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(cache)).expanduser()


def _hf():
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError as exc:  # pragma: no cover - the dependency is installed with the harness
        raise HarnessError(f"hf:// repositories need the huggingface_hub package: install huggingface_hub ({exc})") from exc
    return huggingface_hub, errors


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0].strip() if text else type(exc).__name__)[:300]


def _http_errors() -> tuple[type[BaseException], ...]:
    """The HTTP client's transport errors (connection refused, timeouts), which are not OSErrors;
    huggingface_hub 2.x uses ``httpx2`` (older releases ``httpx``)."""
    import importlib

    found = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).HTTPError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def _cached_refs(repo_id: str, cache: Path) -> list[str]:
    folder = cache / f"datasets--{repo_id.replace('/', '--')}"
    refs = sorted(str(p.relative_to(folder / "refs")) for p in (folder / "refs").rglob("*") if p.is_file())
    shas = sorted(p.name[:12] for p in (folder / "snapshots").glob("*") if p.is_dir())
    return refs + shas


def snapshot(text: str) -> tuple[Path, dict]:
    """Materialize ``hf://datasets/<org>/<name>[@revision]`` in the local HF cache: (the snapshot
    folder, origin) with origin ``{"hub", "repo", "revision", "commit"}``."""
    repo_id, revision = parse_hub_url(text)
    hf, errors = _hf()
    cache = hub_cache_dir()
    offline = hub_offline()
    shown = hub_url(repo_id, revision or "main")
    fetch = (f"hf download {repo_id} --repo-type dataset" + (f" --revision {revision}" if revision else ""))
    try:
        path = hf.snapshot_download(repo_id, repo_type="dataset", revision=revision, cache_dir=str(cache),
                                    local_files_only=offline)
    except errors.IncompleteSnapshotError as exc:
        raise HarnessError(f"{shown}: the cached snapshot is incomplete and "
                           f"{'HF_HUB_OFFLINE=1' if offline else 'the Hub could not be reached'}: "
                           f"complete it with `{fetch}`") from exc
    except errors.LocalEntryNotFoundError as exc:
        cached = _cached_refs(repo_id, cache)
        what = (f"revision {revision or 'main'} of {repo_id} is not in the local Hugging Face cache ({cache}; "
                f"cached: {', '.join(cached)})" if cached else
                f"{shown} is not in the local Hugging Face cache ({cache})")
        if offline or isinstance(exc.__cause__, errors.OfflineModeIsEnabled):
            raise HarnessError(f"{what} and HF_HUB_OFFLINE=1: fetch it once with `{fetch}` "
                               "(or unset HF_HUB_OFFLINE)") from exc
        raise HarnessError(f"{what} and the Hub could not be reached ({_first_line(exc.__cause__ or exc)}): "
                           f"check the network, or fetch it once with `{fetch}`") from exc
    except errors.RevisionNotFoundError as exc:
        raise HarnessError(f"{shown}: revision {revision!r} not found in the dataset repository {repo_id}") from exc
    except errors.RepositoryNotFoundError as exc:  # also gated / private without a valid token
        raise HarnessError(f"{hub_url(repo_id)}: no such dataset repository on the Hub, or it is private or gated "
                           "and no valid token is set (`hf auth login` or HF_TOKEN)") from exc
    except errors.HfHubHTTPError as exc:
        raise HarnessError(f"{shown}: Hub request failed: {_first_line(exc)}") from exc
    except (OSError, *_http_errors()) as exc:
        raise HarnessError(f"{shown}: could not fetch the repository ({type(exc).__name__}: {_first_line(exc)}); "
                           f"check the network, or fetch it once with `{fetch}`") from exc
    except ValueError as exc:  # huggingface_hub's id validation
        raise HarnessError(f"{shown}: {_first_line(exc)}") from exc
    folder = Path(path)
    commit = folder.name
    if not _COMMIT.fullmatch(commit):  # pragma: no cover - snapshot folders are named by commit
        raise HarnessError(f"{shown}: unexpected snapshot folder (not named by a commit sha)", folder)
    return folder, {"hub": hub_url(repo_id), "repo": repo_id, "revision": revision or "main", "commit": commit}


# ----------------------------------------------------------------------------- data and results roots
def resolve_data_root(text: str | None) -> tuple[Path | None, dict | None]:
    """A ``--data-root`` value (None: look at ``$HARNESS_DATA``) → (root, origin).

    An ``hf://datasets/...`` value: the local snapshot folder and its origin (see :func:`snapshot`).
    Any other value: ``(Path(text), None)``; ``(None, None)`` when ``text`` is None or empty (an
    ordinary ``$HARNESS_DATA`` is left to the family's own handling)."""
    if text is None:
        env = os.environ.get("HARNESS_DATA") or ""
        return snapshot(env) if is_hub_url(env) else (None, None)
    if is_hub_url(text):
        return snapshot(text)
    return (Path(text) if text else None), None


def fold_revision(fingerprint: str, origin: dict | None) -> str:
    """The data fingerprint with the repository commit folded in (16 hex digits); unchanged when
    the data did not come from the Hub."""
    if not origin:
        return fingerprint
    blob = json.dumps([fingerprint, origin.get("repo"), origin["commit"]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def results_root(text: str | None) -> Path:
    """A ``--results`` value → the folder to read: an ``hf://datasets/...`` value (or
    ``$HARNESS_RESULTS`` holding one) is materialized like a data root; anything else is
    :func:`harness.records.results_dir`."""
    if text is None and is_hub_url(os.environ.get("HARNESS_RESULTS")):
        text = os.environ["HARNESS_RESULTS"]
    if is_hub_url(text):
        return snapshot(text)[0]
    return results_dir(text)


# ----------------------------------------------------------------------------- export
def _stamp(created: str) -> str:
    try:
        when = dt.datetime.fromisoformat(str(created))
    except ValueError:
        return re.sub(r"[^0-9A-Za-z]+", "-", str(created)).strip("-") or "unknown"
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H-%M-%S")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]+", "_", str(name)) or "_"


_PRECISION_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _dtype(rec: dict) -> str:
    """The template's ``model_dtype``: the run's autocast dtype (``amp-bfloat16`` → bfloat16), else
    a dtype the model declares or was given (model args ``dtype``), else the run's precision
    (``fp32`` → float32), else float32."""
    model = rec.get("model") or {}
    args = model.get("args") or {}
    run = str(rec.get("precision") or "")
    value = str((run if run.startswith("amp-") else None) or model.get("dtype") or model.get("precision")
                or args.get("dtype") or args.get("precision") or run or DEFAULT_DTYPE)
    value = value.removeprefix("amp-").removeprefix("torch.")
    return _PRECISION_DTYPES.get(value, value)


def hub_record(rec: dict, samples: str | None = None) -> dict:
    """A run record as exported: without ``_path``; ``files`` naming the exported per-sample table
    (outputs are not exported); plus the leaderboard template's ``config`` and ``results``."""
    out = {k: v for k, v in rec.items() if k != "_path"}
    model = rec.get("model") or {}
    out["files"] = {"samples": samples, "outputs": None, "submission": None}
    out["config"] = {"model_name": model.get("tag") or model.get("name"),
                     "model_sha": model.get("fingerprint") or model.get("code_fingerprint"), "model_dtype": _dtype(rec)}
    out["results"] = {rec["task"]["name"]: {m: v.get("value") if isinstance(v, dict) else v
                                            for m, v in (rec.get("metrics") or {}).items()}}
    return out


def _export_plan(results: Path, source: str | None) -> list[tuple[str, dict, Path]]:
    """(relative stem, record, run folder) for each reportable record, stems made unique."""
    if source not in (None, "real", "sample"):
        raise HarnessError(f"unknown data source {source!r} (real or sample)")
    plan = []
    for rec in iter_records(results, None, source):
        if not rec.get("reportable"):
            continue
        seed = rec.get("seed") or 0
        stem = (f"{_safe(rec['task']['name'])}/{_safe(rec['model']['tag'])}/results_{_stamp(rec.get('created', ''))}"
                + (f"_seed{seed}" if seed else ""))
        plan.append([stem, rec, Path(rec["_path"]).parent])
    counts: dict[str, int] = {}
    for item in plan:
        counts[item[0]] = counts.get(item[0], 0) + 1
    for item in plan:  # a sample and a real run of one model in the same second: name both by source
        if counts[item[0]] > 1:
            item[0] += f"_{_safe(item[1].get('data', {}).get('source', 'unknown'))}"
    if len({item[0] for item in plan}) != len(plan):  # pragma: no cover - (source, task, tag, seed) is unique
        raise HarnessError("two run records export to the same file name", results)
    return [tuple(item) for item in plan]


def _card(written: list[Path], out: Path) -> str:
    tasks = sorted({p.relative_to(out).parts[0] for p in written})
    return f"""---
configs:
- config_name: {RUNS_CONFIG}
  data_files:
  - split: train
    path: {RUNS_FILE}
- config_name: {SAMPLES_CONFIG}
  data_files:
  - split: train
    path: {SAMPLES_FILE}
tags:
- leaderboard
- evaluation-results
---
{CARD_MARKER}
# Benchmark harness results

Run records exported by `harness push` (the benchmark/leaderboard harness): one JSON file per model
evaluation, the layout the Hugging Face demo-leaderboard template reads, plus the harness's full
run record.

Layout: `<task>/<model-tag>/results_<created UTC, YYYY-MM-DDTHH-MM-SS>[_seed<k>].json`, and beside
each its per-sample table `samples_<same>.csv` (what the metrics were computed from).

Each JSON holds:

- `config`: `model_name` (the harness model tag), `model_sha` (the model's fingerprint: code, weights, argument files),
  `model_dtype`;
- `results`: `{{<task>: {{<metric>: <value>}}}}` (`null` for an undefined metric);
- the harness run record: `task` (name, version, config hash, recipe), `model`, `data` (`source`:
  `sample` for the embedded synthetic sample, `real` for real datasets — never mix them on one
  board; `fingerprint`), `metrics` (value, n, CI, SE method), `seed`, `environment`, `created`.

The same runs as `datasets` configs (Parquet), declared in this card's YAML:

- `runs`: one row per run and metric — `task`, `task_version`, `config_hash`, `model`,
  `model_fingerprint`, `data_source`, `data_fingerprint`, `seed`, `created`, `metric`, `direction`,
  `primary`, `value`, `ci_low`, `ci_high`, `se`, `n`, `file` (the run's JSON) and `record` (the
  whole run record as JSON, what `harness leaderboard` reads back);
- `samples`: the per-sample tables — `task`, `model`, `data_source`, `seed`, `file`, `sample_id`
  and `row` (the table's row as JSON: its columns differ between task families).

```python
from datasets import load_dataset
runs = load_dataset("<org>/<name>", "runs", split="train")
```

Only reportable runs are exported (no `--limit` smoke runs). Render a board from this repository with
`harness leaderboard --task <task> --results hf://datasets/<org>/<name>[@revision] [--source real|sample]`.

Tasks: {", ".join(f"`{t}`" for t in tasks)} — {len(written)} run record(s).
"""


RUNS_CONFIG, SAMPLES_CONFIG = "runs", "samples"
RUNS_FILE, SAMPLES_FILE = "data/runs-00000-of-00001.parquet", "data/samples-00000-of-00001.parquet"


def _run_rows(stem: str, rec: dict) -> list[dict]:
    """The ``runs`` rows of one exported record: one per metric."""
    task, model, data = rec["task"], rec.get("model") or {}, rec.get("data") or {}
    full = json.dumps(rec, sort_keys=True, default=str)
    rows = []
    for metric, v in (rec.get("metrics") or {}).items():
        v = v if isinstance(v, dict) else {"value": v}
        rows.append({"task": task["name"], "task_version": task.get("version"), "config_hash": task.get("config_hash"),
                     "model": model.get("tag") or model.get("name"),
                     "model_fingerprint": model.get("fingerprint") or model.get("code_fingerprint"),
                     "data_source": data.get("source"), "data_fingerprint": data.get("fingerprint"),
                     "seed": rec.get("seed") or 0, "created": rec.get("created"), "metric": metric,
                     "direction": (rec.get("directions") or {}).get(metric),
                     "primary": metric == rec.get("primary_metric"), "value": v.get("value"),
                     "ci_low": v.get("ci_low"), "ci_high": v.get("ci_high"), "se": v.get("se"), "n": v.get("n"),
                     "file": f"{stem}.json", "record": full})
    return rows


_RUN_TYPES = {"task": "string", "task_version": "int64", "config_hash": "string", "model": "string",
              "model_fingerprint": "string", "data_source": "string", "data_fingerprint": "string", "seed": "int64",
              "created": "string", "metric": "string", "direction": "string", "primary": "bool", "value": "float64",
              "ci_low": "float64", "ci_high": "float64", "se": "float64", "n": "int64", "file": "string",
              "record": "string"}
_SAMPLE_TYPES = {"task": "string", "model": "string", "data_source": "string", "seed": "int64", "file": "string",
                 "sample_id": "string", "row": "string"}


def _write_parquet(path: Path, rows: Any, types: dict[str, str]) -> None:
    """``rows`` (an iterable of dicts) as one Parquet file with the columns and types of ``types``,
    written in row groups (bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(k, getattr(pa, t)() if t != "bool" else pa.bool_()) for k, t in types.items()])
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(str(path), schema) as writer:
        chunk: list[dict] = []
        for row in itertools.chain(rows, [None]):
            if row is not None:
                chunk.append(row)
            if chunk and (row is None or len(chunk) == 4096):
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                chunk = []


def _sample_rows(stem: str, rec: dict, table: Path) -> Any:
    """The ``samples`` rows of one exported per-sample table: one per row, its cells as JSON."""
    import pandas as pd

    for chunk in pd.read_csv(table, dtype=str, keep_default_na=False, chunksize=4096):
        for row in chunk.to_dict("records"):
            yield {"task": rec["task"]["name"], "model": (rec.get("model") or {}).get("tag"),
                   "data_source": (rec.get("data") or {}).get("source"), "seed": rec.get("seed") or 0,
                   "file": f"{stem}.json", "sample_id": row.get("sample_id", row.get("id", "")),
                   "row": json.dumps(row, sort_keys=True)}


def parquet_records(folder: Path, task: str | None = None, source: str | None = None,
                    skipped: list[str] | None = None) -> Iterator[dict]:
    """The run records of an export's ``runs`` config, read through ``datasets`` (streamed), in
    the order of their JSON files, each with ``_path`` (its JSON file in ``folder``, beside which
    its per-sample table lies)."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise HarnessError(f"reading a results export needs the datasets package ({exc})") from exc
    datasets.disable_progress_bars()
    try:
        runs = datasets.load_dataset(str(folder), RUNS_CONFIG, split="train", streaming=True)
        found: dict[str, str] = {}
        for row in runs.select_columns(["task", "data_source", "file", "record"]):
            if (task is None or row["task"] == task) and (source is None or row["data_source"] == source):
                found.setdefault(row["file"], row["record"])
    except Exception as exc:  # datasets raises many kinds for a malformed repository
        raise HarnessError(f"cannot read the {RUNS_CONFIG!r} config ({type(exc).__name__}: {_first_line(exc)})",
                           folder) from exc
    for file in sorted(found, key=lambda f: Path(f).parts):
        try:
            rec = json.loads(found[file])
        except json.JSONDecodeError as exc:
            if skipped is None:
                raise HarnessError(f"unreadable run record in the {RUNS_CONFIG!r} config: {exc}", folder / file) from exc
            skipped.append(f"{folder / file}: unreadable run record: {exc}")
            continue
        rec["_path"] = str(folder / file)
        yield rec


def export_results(results: Path, out: Path, source: str | None = None) -> list[Path]:
    """Write every reportable run record under ``results`` (one source, or both) as
    ``out/<task>/<model-tag>/results_<created>[_seed<k>].json`` with its per-sample table beside it,
    plus ``out/README.md``; ``out`` is replaced in one step. Returns the JSON files written."""
    results, out = Path(results), Path(out)
    plan = _export_plan(results, source)
    if not plan:
        what = f"{source} " if source else ""
        raise HarnessError(f"nothing to push: no reportable {what}run records", results)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _is_export(out))):
        raise HarnessError("exists and is not a harness results export (it would be replaced): "
                           "pick a new or empty folder", out)
    written: list[Path] = []
    runs: list[dict] = []
    tables: list[tuple[str, dict, Path]] = []
    with atomic_dir(out) as tmp:
        tmp.mkdir(parents=True)
        for stem, rec, folder in plan:
            samples_src = folder / (rec.get("files") or {}).get("samples", "samples.csv")
            samples = None
            target = tmp / f"{stem}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            if samples_src.is_file():
                samples = Path(stem).name.replace("results_", "samples_", 1) + ".csv"
                shutil.copyfile(samples_src, target.parent / samples)
            exported = hub_record(rec, samples)
            write_json(target, exported)
            written.append(out / f"{stem}.json")
            runs.extend(_run_rows(stem, exported))
            if samples:
                tables.append((stem, exported, target.parent / samples))
        _write_parquet(tmp / RUNS_FILE, runs, _RUN_TYPES)
        _write_parquet(tmp / SAMPLES_FILE, (r for stem, rec, t in tables for r in _sample_rows(stem, rec, t)),
                       _SAMPLE_TYPES)
        with atomic_path(tmp / "README.md") as card:
            card.write_text(_card(written, out), encoding="utf-8")
    return written


def _is_export(folder: Path) -> bool:
    try:
        return CARD_MARKER in (folder / "README.md").read_text(encoding="utf-8")
    except OSError:
        return False


# ----------------------------------------------------------------------------- push
def push_results(results: Path, repo_id: str, *, source: str | None = None, private: bool = False,
                 revision: str | None = None, message: str | None = None, api: Any = None) -> dict:
    """Export ``results`` into a temporary folder and upload it to the dataset repository
    ``repo_id`` (created when missing) in one commit. Returns ``{"repo", "url", "commit",
    "files", "info"}`` (files: the JSON paths in the repository; info: ``upload_folder``'s answer)."""
    _check_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="harness-push-") as tmp:
        out = Path(tmp) / "export"
        written = export_results(results, out, source)
        files = [p.relative_to(out).as_posix() for p in written]
        if api is None:
            if hub_offline():  # huggingface_hub only reads HF_HUB_OFFLINE at import: decide here
                raise HarnessError(f"{hub_url(repo_id)}: cannot push with HF_HUB_OFFLINE=1 (unset it, or export "
                                   "with --out DIR)")
            hf, _ = _hf()
            api = hf.HfApi()
        tasks = sorted({f.split("/")[0] for f in files})
        message = message or f"harness: {len(files)} run record(s) for {', '.join(tasks)}"
        where = hub_url(repo_id, revision)
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            if revision and revision != "main":
                api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
            info = api.upload_folder(folder_path=str(out), repo_id=repo_id, repo_type="dataset",
                                     commit_message=message, revision=revision)
        except HarnessError:
            raise
        except Exception as exc:
            raise HarnessError(_push_error(exc, where)) from exc
    return {"repo": repo_id, "url": getattr(info, "commit_url", None) or (info if isinstance(info, str) else None),
            "commit": getattr(info, "oid", None), "files": files, "info": info}


def _check_repo_id(repo_id: Any) -> None:
    if not isinstance(repo_id, str) or not re.fullmatch(r"[^/\s]+/[^/\s]+", repo_id):
        raise HarnessError(f"--repo must be <org>/<name>, got {repo_id!r}")
    parse_hub_url(hub_url(repo_id))  # the same checks as an hf:// URL


def _push_error(exc: BaseException, where: str) -> str:
    try:
        _, errors = _hf()
    except HarnessError:  # pragma: no cover
        errors = None
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if errors is not None and isinstance(exc, errors.OfflineModeIsEnabled):
        return f"{where}: cannot push with HF_HUB_OFFLINE=1 (unset it, or export with --out DIR)"
    if status in (401, 403) or type(exc).__name__ in ("LocalTokenNotFoundError",):
        return (f"{where}: not authorized to write this repository ({_first_line(exc)}): log in with "
                "`hf auth login` or set HF_TOKEN to a token with write access")
    if errors is not None and isinstance(exc, errors.HfHubHTTPError):
        return f"{where}: Hub request failed: {_first_line(exc)}"
    if isinstance(exc, (OSError, *_http_errors())):
        return f"{where}: could not reach the Hub ({type(exc).__name__}: {_first_line(exc)})"
    return f"{where}: push failed ({type(exc).__name__}: {_first_line(exc)})"


# ----------------------------------------------------------------------------- CLI
def cmd_push(args: argparse.Namespace) -> int:
    results = results_dir(args.results)
    if args.out is None and not args.repo:
        raise HarnessError("give --repo ORG/NAME to push, or --out DIR to export locally")
    if args.out is not None and (args.repo or args.private or args.revision or args.message):
        raise HarnessError("--out exports locally and uploads nothing: --repo, --private, --revision and --message "
                           "apply to a push; give one or the other")
    if args.out is not None:
        written = export_results(results, Path(args.out), args.source)
        for path in written:
            print(path)
        print(f"exported {len(written)} run record(s) from {results} to {args.out} (not uploaded)")
        return 0
    done = push_results(results, args.repo, source=args.source, private=args.private, revision=args.revision,
                        message=args.message)
    for name in done["files"]:
        print(name)
    print(f"pushed {len(done['files'])} run record(s) to {hub_url(args.repo, args.revision)}"
          + (f": {done['url']}" if done["url"] else ""))
    return 0


def add_cli(subparsers: Any) -> None:
    """``harness push``."""
    p = subparsers.add_parser("push", help="export reportable run records (one JSON per model evaluation, the HF "
                              "leaderboard layout) and push them to a Hub dataset repository",
                              description="Export every reportable run record (--limit runs are skipped) as "
                              "<task>/<model>/results_<time>.json plus its per-sample table, then either upload it to "
                              "a Hub dataset repository in one commit (--repo; needs a write token: hf auth login or "
                              "$HF_TOKEN) or write it to a local folder (--out).")
    p.add_argument("--results", default=None, help="results folder (default $HARNESS_RESULTS or ./results)")
    p.add_argument("--repo", default=None, help="ORG/NAME of the dataset repository (created when missing)")
    p.add_argument("--source", default=None, choices=["real", "sample"], help="default: both (each file names its source)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--revision", default=None, help="branch to commit to (default: main)")
    p.add_argument("--message", default=None, help="commit message")
    p.add_argument("--out", default=None, help="export into this folder instead of uploading (replaced if it is an "
                   "earlier export)")
    p.set_defaults(func=cmd_push)
