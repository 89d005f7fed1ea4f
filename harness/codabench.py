"""``harness codabench-bundle``: a task as a Codabench competition bundle, scored by the same code
as ``harness score``.

The bundle (a folder, and with ``--zip`` also ``<folder>.zip`` for upload)::

    competition.yaml          version 2: pages, phases, one task, one leaderboard
    logo.png, pages/*.md      the competition's logo and pages (overview, evaluation, submission, terms)
    scoring_program/          metadata.yaml (the command) + score.py (the task, baked in)
    reference_data/           reference<suffix> (the family's reference file + its .harness.json, or folder)
    reference_data_final/     only with --final-reference: the final phase's hidden reference
    ORGANIZERS.md, docker/    how to build the scoring image and host the bundle (not read by Codabench)

It follows Codabench's v2 unpacker (codalab/codabench ``src/apps/competitions/unpackers``): each
phase ends strictly before the next starts, leaderboard keys <= 36 characters, column titles <= 36,
titles <= 256, ``docker_image`` <= 128. Codabench zips ``scoring_program`` and ``reference_data``
itself when the bundle is uploaded. The bundle vendors nothing and ships no test inputs: ``score.py``
imports the ``harness`` installed in the competition's docker image (``--docker-image``, required;
``docker/Dockerfile`` builds one from a checkout), and refuses to score if that harness defines the
task with another version or config hash than the one baked in. A bundle is never built from the
embedded synthetic sample (or a reference exported from it) without ``--allow-sample``; the bundle
says whether its labels are real.

Scoring contract (Codabench's compute worker): ``score.py [INPUT [OUTPUT]]`` (default ``/app/input``
and ``/app/output``) reads ``INPUT/ref`` (the reference) and ``INPUT/res`` (the participant's upload,
unzipped by Codabench, plus Codabench's own ``metadata`` file, which is ignored): for most families
exactly one prediction file (or a ``.zip`` holding one), for families with ``many_file_predictions``
the files themselves (or one ``.zip`` of them). It writes ``OUTPUT/scores.json`` — one key per
leaderboard column (the task metrics an upload determines and that rank), the keys equal to the
columns' keys — and ``OUTPUT/detailed_results.html`` (values, SE and CI; no label counts). An invalid
submission (or one for which a leaderboard metric is undefined) writes no ``scores.json``, prints
its participant-safe problems on stderr (Codabench shows it) and in ``detailed_results.html``, and
exits 2; an organizer-side problem (stale bundle, harness missing from the image, no reference) or
an internal error exits 1, without a traceback. Codabench marks both as failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import os
import pprint
import re
import shutil
import struct
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import HarnessError

#: the layout of the baked ``BUNDLE`` dict in score.py; bumped when it changes incompatibly
BUNDLE_FORMAT = 2
REFERENCE_STEM = "reference"  # + the family's reference_suffix ("" for a folder)
DEV_DAYS = 60
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Codabench refuses a phase that ends when (or after) the next one starts: development ends this much earlier
PHASE_GAP = dt.timedelta(seconds=1)
#: Codabench's field limits (its models: Competition.title, docker_image, Column.key/title)
MAX_TITLE, MAX_IMAGE, MAX_KEY, MAX_COLUMN_TITLE = 256, 128, 36, 36
#: a docker image reference: [registry[:port]/]name[/name...][:tag][@sha256:digest], lower-case names
IMAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
                           r"(@sha256:[0-9a-f]{64})?$")

EXIT_INVALID = 2   # the participant's submission is invalid
EXIT_CONFIG = 1    # the bundle, the image or the reference is wrong (an organizer problem)

#: files Codabench itself puts in the participant's result folder, and archive debris
IGNORED_RESULT_FILES = {"metadata"}
IGNORED_PREFIXES = (".", "__MACOSX")


# ----------------------------------------------------------------------------- leaderboard
def leaderboard_columns(task) -> list[dict[str, Any]]:
    """``harness leaderboard``'s columns (:func:`harness.leaderboard.task_columns`: the primary
    first, then the task's order; unit, direction, precision) that an upload determines and that
    rank (not the IQA trigger's psnr/ssim, measured from the images; not unranked metrics, which
    Codabench would still sort by), as Codabench columns: key = the metric name (what score.py
    writes, <= 36 characters), title = name (unit) when that fits Codabench's 36, index 0 the primary."""
    from .family import FAMILIES
    from .leaderboard import task_columns

    specs = FAMILIES.get(task.family).metric_specs or {}
    columns = []
    for column in task_columns(task):
        name = column.name
        if not getattr(specs.get(name), "from_upload", True) or not column.ranked:
            if name == task.primary_metric:
                raise HarnessError(f"the primary metric {name!r} of {task.name} cannot rank uploads on Codabench "
                                   f"(it is not computed from a prediction file or never ranks)", task.path)
            continue
        if len(name) > MAX_KEY:
            raise HarnessError(f"metric {name!r} is longer than Codabench's {MAX_KEY}-character column key", task.path)
        titled = f"{name} ({column.unit})"
        title = titled if column.unit and len(titled) <= MAX_COLUMN_TITLE else name
        columns.append({"title": title, "key": name, "index": len(columns),
                        "sorting": "asc" if column.direction == "min" else "desc", "precision": column.digits})
    return columns


def off_board_metrics(task, columns: list[dict], fixed: dict | None = None) -> dict[str, str]:
    """The task metrics that are not leaderboard columns, each with why (shown on the evaluation
    page); ``fixed``: the protocol's own values of those an upload cannot determine (MetricValue)."""
    from .family import FAMILIES

    specs = FAMILIES.get(task.family).metric_specs or {}
    keys = {c["key"] for c in columns}
    out = {}
    for m in task.metrics:
        if m.name in keys:
            continue
        spec = specs.get(m.name)
        if not getattr(spec, "from_upload", True):
            value = (fixed or {}).get(m.name)
            unit = getattr(spec, "unit", "") if getattr(spec, "unit", "") not in ("fraction", "ratio") else ""
            shown = (f"{value.value:.4g}{' ' + unit if unit else ''} on this test set"
                     if value is not None and value.value is not None else
                     "not computed here (the bundle was built from a reference file, without the test data)")
            out[m.name] = (f"a fixed property of the protocol, not of a submission: {shown}; measured by `harness run` "
                           f"from the test data and the task's default trigger, which an uploaded file does not carry")
        else:
            out[m.name] = "reported in the detailed results, never ranked"
        if spec is not None:
            out[m.name] += f" ({spec.description})"
    return out


# ----------------------------------------------------------------------------- the bundle
def _png(width: int = 64, height: int = 64, rgb: tuple[int, int, int] = (46, 94, 170)) -> bytes:
    """A plain one-colour PNG (Codabench requires a logo file)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _parse_date(value: str | None, default: dt.datetime) -> dt.datetime:
    if value is None:
        return default
    for fmt in (DATE_FORMAT, "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise HarnessError(f"dates are YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS' (UTC), got {value!r}")


def _git_commit() -> str | None:
    import subprocess

    from .task import PROJECT_ROOT

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def _labels(info: dict) -> str:
    """Whether a reference's labels are ``real``, the embedded ``sample``, or ``unknown`` (a given file
    without the .harness.json description that harness data reference writes)."""
    return info.get("kind") if info.get("kind") in ("real", "sample") else "unknown"


def _bundle_reference(task, family, dest: Path, reference: Path | None, data_root: str | None) -> dict:
    """Put the task's reference at ``dest`` with its ``.harness.json`` description (which the scorer
    checks): a given file or folder (checked as ``harness score --reference`` checks it, its
    description's sample/real flag carried over) or the ground truth exported from the datasets
    (``--data-root``; default: ``$HARNESS_DATA``, else the embedded sample)."""
    from .digest import content_digest
    from .reference import load_references, write_reference_sidecar

    if reference is not None:
        reference = Path(reference)
        if not reference.exists():
            raise HarnessError("reference file not found", reference)
        refs, info = load_references(task, reference=reference)  # info["data"]: its checked sidecar's flag
        flag = info.get("data")
        info = {**info, "kind": flag if flag in ("real", "sample") else "unknown", "source": str(reference)}
        if reference.is_dir():
            shutil.copytree(reference, dest, symlinks=True)
        else:
            shutil.copyfile(reference, dest)
    else:
        from .hub import resolve_data_root

        refs, info = family.references(task, resolve_data_root(str(data_root) if data_root else None)[0])
        family.write_reference(dest, refs)
        refs = family.read_reference(task, dest)[0]  # as the scorer will read it
        info = {**info, "source": info.get("root")}
    if dest.is_file():  # a folder's references name their files by absolute path, so its digest moves with it
        write_reference_sidecar(dest, task, refs, {"kind": _labels(info)})
    return {"labels": _labels(info), "source": info.get("source"), "fingerprint": info.get("fingerprint"),
            "samples": len(refs), "digest": content_digest(refs)}


def _score_py(bundle: dict) -> str:
    baked = pprint.pformat(bundle, indent=1, width=100, sort_dicts=False)
    return f'''#!/usr/bin/env python3
"""Codabench scoring program for the harness task {bundle["task"]} (v{bundle["version"]}, config {bundle["config_hash"]}).

Generated by `harness codabench-bundle` (harness {bundle["harness_version"]}); rebuild the bundle instead of
editing it. It needs the `harness` package installed in the competition's docker image (see
ORGANIZERS.md) and scores with harness.scoring.score_upload, the code path of `harness score`:
    python3 score.py [INPUT_DIR [OUTPUT_DIR]]      (defaults /app/input and /app/output)
reads INPUT_DIR/ref (the reference) and INPUT_DIR/res (the submission), writes OUTPUT_DIR/scores.json
and OUTPUT_DIR/detailed_results.html; exit 2 = invalid submission, 1 = set-up problem or internal
error (never a traceback, never scores.json on failure).
"""
import sys

BUNDLE = {baked}


def main() -> int:
    try:
        from harness.codabench import score_submission
    except ImportError as exc:
        print("harness: error: the scoring program cannot import harness.codabench (" + str(exc) + "); "
              "the competition's docker image must have harness installed (see ORGANIZERS.md of the bundle)",
              file=sys.stderr)
        return 1
    input_dir = sys.argv[1] if len(sys.argv) > 1 else "/app/input"
    output_dir = sys.argv[2] if len(sys.argv) > 2 else "/app/output"
    return score_submission(BUNDLE, input_dir, output_dir)


if __name__ == "__main__":
    sys.exit(main())
'''


_DOCKERFILE = """\
# The scoring image of this bundle: Python + harness {version} (+ CPU torch, which harness imports).
# Build it from the root of a harness checkout (the same commit the bundle was built with) under the
# name competition.yaml gives (docker_image), and push it where the Codabench workers can pull it:
#     docker build -f {bundle}/docker/Dockerfile -t {image} .
#     docker push {image}
# harness is installed editable: the task files (tasks/) are read from the checkout.
FROM python:3.11-slim
WORKDIR /opt/harness
COPY pyproject.toml README.md ./
COPY harness ./harness
COPY tasks ./tasks
RUN pip install --no-cache-dir "torch>=2.1,<3" --index-url https://download.pytorch.org/whl/cpu \\
 && pip install --no-cache-dir -e .
"""


#: how participants get the test inputs: the bundle ships none (shown on the pages and in ORGANIZERS.md)
TEST_INPUTS = ("The competition ships no test inputs (videos, images, features): participants obtain the test "
               "set from the organizers or the dataset's owners under its licence, without labels, run their method "
               "locally (e.g. `harness run --task {task} --data-root <test set> --model <name> --submission "
               "{example}`) and upload only the predictions. Organizers make that label-free copy (test inputs with "
               "opaque ids, the training data, instructions) and its matching reference in one step with `harness data "
               "participant-copy --task {task} --data-root <labelled data> --out <copy>`, and may attach the copy to a "
               "phase as Codabench public data (`public_data` in competition.yaml) where the licence allows.")


def _pages(task, family, columns: list[dict], ref_info: dict, final_info: dict | None, recipe: dict,
           fixed: dict) -> dict[str, str]:
    fmt = family.prediction_format()
    inputs = TEST_INPUTS.format(task=task.name, example=fmt.example_file)
    warn = ("\n> **Test bundle**: the reference labels are the harness's embedded *synthetic sample*, not a real "
            "test set. Rebuild with `--data-root` or `--reference` for a real competition.\n"
            if "sample" in (ref_info["labels"], (final_info or {}).get("labels")) else "")
    final_ref = ("The final phase is scored on a separate hidden reference."
                 if final_info else "Both phases are scored on the same reference data.")
    overview = (f"# {task.name} (v{task.version})\n\n{task.description or ''}\n{warn}\n"
                f"Task version {task.version}, config hash `{task.config_hash}`, family `{task.family}`. "
                f"Submissions are scored by harness {__version__} with the task's evaluation recipe; "
                f"the same file scored with `harness score --task {task.name}` gives the same numbers.\n\n"
                f"## Test data\n\n{inputs}\n\n"
                f"## Phases\n\n- **Development**: submit as often as the limits allow; scores are shown on the "
                f"leaderboard.\n- **Final**: successful development submissions are re-run automatically when it "
                f"starts. {final_ref}\n")
    rows = "\n".join(f"| {c['index']} | `{c['key']}` | {'lower' if c['sorting'] == 'asc' else 'higher'} is better"
                     f"{' (**primary**)' if c['index'] == 0 else ''} | {c['precision']} |" for c in columns)
    off = off_board_metrics(task, columns, fixed)
    off_text = ("\n\nNot on the leaderboard:\n\n" + "\n".join(f"- `{k}`: {why}." for k, why in off.items())) if off else ""
    evaluation = (f"# Evaluation\n\nThe leaderboard ranks by `{task.primary_metric}` (column 0), then by the "
                  f"other columns from left to right.\n\n| column | metric | better | decimals shown |\n|---|---|---|---|\n"
                  f"{rows}{off_text}\n\nEvaluation recipe (task `{task.name}` v{task.version}):\n\n```json\n"
                  f"{json.dumps(recipe, indent=2, default=str)}\n```\n\n"
                  f"The detailed results of a submission show each leaderboard metric with its standard error and "
                  f"95% CI. A submission for which a leaderboard metric is undefined (e.g. a correlation of constant "
                  f"predictions) is marked failed, with the reason, and never ranked.\n")
    if family.many_file_predictions:
        how = (f"`{fmt.example_command(task.name)}` writes a valid `.zip`: upload it as it is (Codabench unzips it; "
               f"a zip holding one folder of the files, or holding one such `.zip`, is accepted too).")
    else:
        how = (f"`{fmt.example_command(task.name)}` writes a valid file. Codabench takes `.zip` uploads: zip that one "
               f"file (`zip submission.zip {fmt.example_file}`) and upload the zip; it must hold exactly **one** "
               f"prediction file (accepted: {', '.join(fmt.suffixes)}, or a `.zip` holding one).")
    submission = (f"# Submission format\n\n{fmt.summary}\n\n```\n{fmt.details}\n```\n\n{how}\n\n"
                  f"Every problem of an invalid upload is reported at once in the submission's logs and detailed "
                  f"results; an invalid upload is never scored.\n\n## Test data\n\n{inputs}\n")
    terms = ("# Terms\n\nBy participating you agree to the rules of the challenge as published by its organizers, "
             "to submit only predictions produced by your own method, and not to attempt to obtain the hidden "
             "reference data.\n")
    return {"overview.md": overview, "evaluation.md": evaluation, "submission.md": submission, "terms.md": terms}


def _check_options(title: str, docker_image: str | None) -> None:
    """What Codabench would refuse, or run and fail on, refused here with the option named."""
    if not docker_image:
        raise HarnessError("--docker-image is required: Codabench pulls the image the scoring program runs in, and it "
                           "must have harness installed (a plain python image fails every submission with 'No module "
                           "named harness'). Choose a name in a registry the Codabench workers can pull from (e.g. "
                           "<you>/harness-scoring:" + __version__ + "); the bundle's docker/Dockerfile builds it and "
                           "its ORGANIZERS.md says how to push it")
    if len(docker_image) > MAX_IMAGE or not IMAGE_PATTERN.match(docker_image):
        raise HarnessError(f"--docker-image {docker_image!r} is not a docker image reference of at most {MAX_IMAGE} "
                           f"characters (lower-case [registry/]name[:tag], as Codabench pulls it)")
    if not title.strip() or len(title) > MAX_TITLE:
        raise HarnessError(f"--title must hold 1 to {MAX_TITLE} characters (Codabench's limit), got {len(title)}")


def build_bundle(task, out: Path, *, docker_image: str | None, reference: Path | None = None,
                 data_root: str | None = None, final_reference: Path | None = None, title: str | None = None,
                 start: str | None = None, final_start: str | None = None, allow_sample: bool = False) -> dict:
    """Write the Codabench bundle of ``task`` into ``out`` (replacing an earlier bundle there);
    return a summary (paths, reference info, leaderboard keys)."""
    import yaml

    from .family import FAMILIES

    if reference is not None and data_root is not None:
        raise HarnessError("give --data-root or --reference, not both")
    family = FAMILIES.get(task.family)
    family.check_task(task)
    title = title if title is not None else f"{task.name} (v{task.version})"
    _check_options(title, docker_image)
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "competition.yaml").is_file())):
        raise HarnessError("exists and is not an earlier bundle (no competition.yaml); choose another --out", out)
    today = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    start_at = _parse_date(start, today)
    final_at = _parse_date(final_start, start_at + dt.timedelta(days=DEV_DAYS))
    dev_end = final_at - PHASE_GAP
    if dev_end <= start_at:
        raise HarnessError(f"--final-start ({final_at:{DATE_FORMAT}}) must come after --start ({start_at:{DATE_FORMAT}})")

    columns = leaderboard_columns(task)
    name = REFERENCE_STEM + family.reference_suffix
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / "reference_data").mkdir()
        ref_info = _bundle_reference(task, family, tmp / "reference_data" / name, reference, data_root)
        final_info = None
        if final_reference is not None:
            (tmp / "reference_data_final").mkdir()
            final_info = _bundle_reference(task, family, tmp / "reference_data_final" / name, Path(final_reference), None)
        sample = [what for what, info in (("the reference", ref_info), ("the final reference", final_info))
                  if info and info["labels"] == "sample"]
        if sample and not allow_sample:
            raise HarnessError(f"{' and '.join(sample)} holds the harness's embedded synthetic sample, not real labels: "
                               f"a competition needs --data-root DIR (the real test set) or --reference FILE (harness "
                               f"data reference from it); pass --allow-sample to build a test bundle anyway")
        bundle = {"format": BUNDLE_FORMAT, "task": task.name, "version": task.version,
                  "config_hash": task.config_hash, "family": task.family, "primary_metric": task.primary_metric,
                  "metrics": [c["key"] for c in columns], "reference": name,
                  "labels": {"development": ref_info["labels"], **({"final": final_info["labels"]} if final_info else {})},
                  "harness_version": __version__, "harness_commit": _git_commit(),
                  "built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        program = tmp / "scoring_program"
        program.mkdir()
        (program / "score.py").write_text(_score_py(bundle), encoding="utf-8")
        (program / "metadata.yaml").write_text("command: python3 $program/score.py $input $output\n", encoding="utf-8")
        recipe = family.recipe_record(task)
        fixed = {}
        if reference is None and off_board_metrics(task, columns):
            from .hub import resolve_data_root

            fixed = family.protocol_values(task, resolve_data_root(str(data_root) if data_root else None)[0])
        (tmp / "pages").mkdir()
        for page, text in _pages(task, family, columns, ref_info, final_info, recipe, fixed).items():
            (tmp / "pages" / page).write_text(text, encoding="utf-8")
        (tmp / "logo.png").write_bytes(_png())
        (tmp / "docker").mkdir()
        (tmp / "docker" / "Dockerfile").write_text(_DOCKERFILE.format(version=__version__, bundle=out.name, image=docker_image),
                                                   encoding="utf-8")

        task_entry = {"name": f"{task.name} v{task.version}", "description": f"harness task {task.name} v{task.version} "
                      f"(config {task.config_hash})", "scoring_program": "scoring_program", "reference_data": "reference_data"}
        tasks = [{"index": 0, **task_entry}]
        if final_info:
            tasks.append({"index": 1, **task_entry, "name": f"{task.name} v{task.version} (final)",
                          "reference_data": "reference_data_final"})
        phase_limits = {"execution_time_limit": 600, "hide_output": False}
        labels = ", ".join(f"{k}: {v}" for k, v in bundle["labels"].items())
        competition = {
            "version": 2,
            "title": title,
            "description": (task.description or f"harness task {task.name}")[:1000],
            "image": "logo.png",
            "terms": "pages/terms.md",
            "docker_image": docker_image,
            "registration_auto_approve": False,
            "make_programs_available": False,
            "make_input_data_available": False,
            "enable_detailed_results": True,
            "show_detailed_results_in_submission_panel": True,
            "show_detailed_results_in_leaderboard": False,
            "pages": [{"title": "Overview", "file": "pages/overview.md"},
                      {"title": "Evaluation", "file": "pages/evaluation.md"},
                      {"title": "Submission format", "file": "pages/submission.md"},
                      {"title": "Terms", "file": "pages/terms.md"}],
            "phases": [
                {"index": 0, "name": "Development", "description": "Development phase: scored on the reference data.",
                 "start": f"{start_at:{DATE_FORMAT}}", "end": f"{dev_end:{DATE_FORMAT}}",
                 "max_submissions_per_day": 5, "max_submissions": 100, **phase_limits, "tasks": [0]},
                {"index": 1, "name": "Final", "description": "Final phase: the development phase's successful "
                 "submissions are re-run when it starts" + ("" if final_info else " (same reference data)") + ".",
                 "start": f"{final_at:{DATE_FORMAT}}", "auto_migrate_to_this_phase": True,
                 "max_submissions_per_day": 1, "max_submissions": 5, **phase_limits, "tasks": [1 if final_info else 0]},
            ],
            "tasks": tasks,
            "leaderboards": [{"title": "Results", "key": "main", "primary_index": 0, "submission_rule": "Force_Last",
                              "columns": columns}],
        }
        header = (f"# Codabench competition bundle of harness task {task.name} v{task.version} (config {task.config_hash}),\n"
                  f"# written by `harness codabench-bundle` (harness {__version__}). Reference labels: {labels}.\n"
                  f"# Leaderboard column keys are the keys scoring_program/score.py writes to scores.json.\n"
                  f"# docker_image must have harness installed (docker/Dockerfile, ORGANIZERS.md).\n")
        (tmp / "competition.yaml").write_text(header + yaml.safe_dump(competition, sort_keys=False, allow_unicode=True),
                                              encoding="utf-8")
        (tmp / "ORGANIZERS.md").write_text(_organizers(task, family, out.name, docker_image, ref_info, final_info),
                                           encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out), "reference": ref_info, "final_reference": final_info,
            "keys": [c["key"] for c in columns], "docker_image": docker_image}


def _readme_section(title: str) -> str | None:
    """A ``## title`` section of the checkout's README (the organizer material), or None."""
    from .task import PROJECT_ROOT

    try:
        text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    return found.group(1).strip() if found else None


def _organizers(task, family, name: str, image: str, ref_info: dict, final_info: dict | None) -> str:
    def described(info: dict) -> str:
        return (f"{info['samples']} samples, **{info['labels']}** labels (content digest {info['digest']}"
                + (f", from {info['source']}" if info.get("source") else "") + ")")

    readme = [(t, _readme_section(t)) for t in ("Hosting on Codabench", "Organizers: submissions store and phases")]
    general = "".join(f"\n## {t} (from the harness README)\n\n{text}\n" for t, text in readme if text)
    return (f"# Hosting {task.name} on Codabench\n\n"
            f"1. Build the scoring image from the root of the harness checkout this bundle was built from and push it "
            f"under the name in competition.yaml:\n"
            f"   `docker build -f {name}/docker/Dockerfile -t {image} .` then `docker push {image}`.\n"
            f"   (Another name: rebuild the bundle with `--docker-image`.)\n"
            f"2. Check dates, submission limits and pages in competition.yaml, then zip the bundle with "
            f"`competition.yaml` at the zip's root (`--zip` does this) and upload it (Benchmarks → Management → Upload).\n"
            f"3. Give participants the test inputs (the bundle ships none): "
            + TEST_INPUTS.format(task=task.name, example=family.prediction_format().example_file) + "\n\n"
            f"Reference data (development): {described(ref_info)}"
            + (f"; final phase: {described(final_info)}" if final_info else "; the final phase uses it too") + ". "
            f"Labels `real` come from a data root of real datasets or a reference whose .harness.json says so, "
            f"`sample` from the embedded synthetic sample (built only with --allow-sample), `unknown` from a reference "
            f"file without .harness.json.\n\n"
            f"The scoring program refuses to run (exit 1, every submission failed) if the image's harness defines "
            f"{task.name} with another version or config hash than v{task.version} / {task.config_hash}: rebuild the "
            f"image and the bundle from the same checkout. Participants see the scoring program's stderr (the reasons "
            f"an invalid file was refused) unless a phase sets `hide_output`; the detailed results show values, SE "
            f"and CI only, never label counts.\n" + general)


def write_zip(bundle_dir: Path) -> Path:
    """``<bundle_dir>.zip``: the bundle's files with ``competition.yaml`` at the zip root; folders
    stay folders (Codabench zips ``scoring_program`` and ``reference_data`` itself). Deterministic
    member order and times."""
    bundle_dir = Path(bundle_dir)
    target = bundle_dir.with_name(bundle_dir.name + ".zip")
    files = sorted(p for p in bundle_dir.rglob("*") if p.is_file())
    from .files import atomic_path

    with atomic_path(target) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                info = zipfile.ZipInfo(path.relative_to(bundle_dir).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return target


# ----------------------------------------------------------------------------- scoring (in the container)
class _Refused(Exception):
    def __init__(self, code: int, headline: str, reasons: Sequence[str] = ()):
        super().__init__(headline)
        self.code, self.headline, self.reasons = code, headline, list(reasons)


def _uploaded_files(res: Path) -> list[Path]:
    """The participant's files in ``INPUT/res``, relative: Codabench's ``metadata`` (top level) and
    archive debris (dot files, ``__MACOSX``) left out; a link is refused."""
    if not res.is_dir():
        raise _Refused(EXIT_INVALID, "no submission found (the result folder is missing)")
    found = []
    for path in sorted(res.rglob("*")):
        rel = path.relative_to(res)
        if any(part.startswith(IGNORED_PREFIXES) for part in rel.parts):
            continue
        if path.is_symlink():
            raise _Refused(EXIT_INVALID, "invalid submission", [f"{rel.as_posix()}: links are refused"])
        if path.is_file() and not (len(rel.parts) == 1 and rel.name in IGNORED_RESULT_FILES):
            found.append(rel)
    return found


def _find_prediction(res: Path, family, stage: Path) -> Path:
    """What to read as the upload: the one prediction file (or .zip holding one); for a
    many-file family one .zip of the files, or the files themselves, copied to ``stage`` without
    Codabench's own files."""
    found = _uploaded_files(res)
    shown = ", ".join(repr(p.as_posix()) for p in found[:5]) + (", …" if len(found) > 5 else "")
    if not found:
        raise _Refused(EXIT_INVALID, "invalid submission", ["the upload holds no prediction file: "
                                                            + family.prediction_format().summary])
    if len(found) == 1 and (not family.many_file_predictions or found[0].suffix.lower() == ".zip"):
        return res / found[0]
    if not family.many_file_predictions:
        accepted = ", ".join(family.prediction_format().suffixes)
        raise _Refused(EXIT_INVALID, "invalid submission", [f"the upload must hold exactly one prediction file "
                                                            f"({accepted}, or a .zip holding one), it holds {len(found)}: {shown}"])
    for rel in found:
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(res / rel, stage / rel)
    return stage


def _find_reference(ref: Path, name: str) -> Path:
    if (ref / name).exists():
        return ref / name
    raise _Refused(EXIT_CONFIG, f"scoring set-up error: no reference {name!r} in the reference data; contact the organizers")


def _check_installed(bundle: dict):
    """The installed harness's task, which must be the one baked into the scoring program."""
    from .task import TaskIndex

    if bundle.get("format") != BUNDLE_FORMAT:
        raise _Refused(EXIT_CONFIG, f"scoring set-up error: the scoring program has bundle format "
                                    f"{bundle.get('format')!r}, the installed harness {__version__} reads format "
                                    f"{BUNDLE_FORMAT}; rebuild the bundle with `harness codabench-bundle`")
    index = TaskIndex()
    task = index.tasks.get(bundle["task"])
    if task is None:
        raise _Refused(EXIT_CONFIG, f"scoring set-up error: the installed harness {__version__} does not define "
                                    f"task {bundle['task']!r}; install the harness the bundle was built with")
    stale = [f"{what} {got} in the installed harness {__version__}, {want} in this bundle"
             for what, got, want in (("version", task.version, bundle["version"]),
                                     ("config hash", task.config_hash, bundle["config_hash"])) if got != want]
    if stale:
        raise _Refused(EXIT_CONFIG, f"stale bundle: task {task.name} has " + "; ".join(stale) + ". The scoring "
                       f"program would score under another protocol: rebuild the bundle (`harness codabench-bundle "
                       f"--task {task.name}`) and the image from the same harness checkout")
    keys = [c["key"] for c in leaderboard_columns(task)]
    if keys != list(bundle["metrics"]):
        raise _Refused(EXIT_CONFIG, f"stale bundle: task {task.name} has metrics {keys}, the bundle's leaderboard "
                                    f"{list(bundle['metrics'])}; rebuild the bundle")
    return task


def _detailed_html(bundle: dict, record: dict | None, refused: _Refused | None) -> str:
    e = html.escape
    head = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(bundle['task'])}</title></head><body>"
            f"<h2>{e(bundle['task'])} v{bundle['version']} (config {e(bundle['config_hash'])})</h2>")
    if refused is not None:
        items = "".join(f"<li>{e(r)}</li>" for r in refused.reasons)
        return head + f"<p><b>Not scored:</b> {e(refused.headline)}</p>" + (f"<ul>{items}</ul>" if items else "") + "</body></html>\n"
    rows = []
    for key in bundle["metrics"]:
        m = record["metrics"][key]
        se = "" if m.get("se") is None else f"{m['se']:.4g}"
        ci = "" if m.get("ci_low") is None else f"[{m['ci_low']:.4g}, {m['ci_high']:.4g}]"
        rows.append(f"<tr><td>{e(key)}{' (primary)' if key == bundle['primary_metric'] else ''}</td>"
                    f"<td>{m['value']:.6g}</td><td>{se}</td><td>{ci}</td></tr>")
    # no per-metric N, label counts or notes: they can tell participants how many test samples
    # hold each hidden label (e.g. deception's truth/lie counts, splicing's tampered images)
    return (head + f"<p>File {e(record['file']['name'])} (sha256 {e(record['file']['sha256'][:16])}…), "
            f"{record.get('n_samples')} predictions scored.</p>"
            "<table border='1' cellpadding='4'><tr><th>metric</th><th>value</th><th>SE</th><th>95% CI</th></tr>"
            + "".join(rows) + "</table></body></html>\n")


def score_submission(bundle: dict, input_dir: str | Path, output_dir: str | Path) -> int:
    """Score one Codabench submission (see the module docstring); return the exit code."""
    from .files import atomic_path

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    scores_path = output_dir / "scores.json"
    if scores_path.exists():
        scores_path.unlink()  # a failure must never leave scores behind
    try:
        with tempfile.TemporaryDirectory(prefix="harness-upload-") as stage:
            (Path(stage) / "submission").mkdir()
            record, scores = _score(bundle, input_dir, Path(stage) / "submission")
    except (_Refused, Exception) as exc:  # never a traceback, never scores: the reasons and a non-zero exit
        refused = exc if isinstance(exc, _Refused) else _Refused(
            EXIT_CONFIG, f"the scorer failed on this submission (internal error: {type(exc).__name__}); "
                         f"the organizers can reproduce it with harness score on the same upload")
        print(f"harness: error: {refused.headline}" + (f" ({len(refused.reasons)} problem(s)):" if refused.reasons else ""),
              file=sys.stderr)
        for reason in refused.reasons:
            print(f"  - {reason}", file=sys.stderr)
        with atomic_path(output_dir / "detailed_results.html") as tmp:
            tmp.write_text(_detailed_html(bundle, None, refused), encoding="utf-8")
        return refused.code
    with atomic_path(output_dir / "detailed_results.html") as tmp:
        tmp.write_text(_detailed_html(bundle, record, None), encoding="utf-8")
    with atomic_path(scores_path) as tmp:
        tmp.write_text(json.dumps(scores) + "\n", encoding="utf-8")
    print(f"scored {record['file']['name']} on {bundle['task']} v{bundle['version']} ({record['n_samples']} samples): "
          + ", ".join(f"{k}={v:.6g}" for k, v in scores.items()))
    return 0


#: Codabench stores a score as a decimal of 20 digits, 10 after the point
MAX_SCORE = 1e10


def _score(bundle: dict, input_dir: Path, stage: Path) -> tuple[dict, dict[str, float]]:
    from .family import FAMILIES
    from .reference import load_references
    from .scoring import score_upload

    try:
        task = _check_installed(bundle)
        family = FAMILIES.get(task.family)
        family.check_task(task)
    except HarnessError as exc:
        raise _Refused(EXIT_CONFIG, f"scoring set-up error: {exc}") from exc
    if bundle.get("harness_version") != __version__:
        print(f"note: bundle built with harness {bundle.get('harness_version')}, scoring with {__version__} "
              f"(same task version and config hash)")
    reference = _find_reference(input_dir / "ref", bundle["reference"])
    try:
        references, ref_info = load_references(task, reference=reference)
    except HarnessError as exc:
        raise _Refused(EXIT_CONFIG, f"scoring set-up error: the reference data is unusable ({exc.message}); "
                                    f"contact the organizers") from exc
    prediction = _find_prediction(input_dir / "res", family, stage)
    try:  # the code path of harness score
        record = score_upload(task, prediction, references, ref_info)
    except HarnessError as exc:
        where = f"{Path(exc.path).name}: " if exc.path else ""
        raise _Refused(EXIT_INVALID, "invalid submission", [where + exc.message]) from exc
    if record["status"] != "scored":
        raise _Refused(EXIT_INVALID, "invalid submission", record.get("reasons") or ["not scored"])
    scores: dict[str, float] = {}
    undefined = []
    for key in bundle["metrics"]:
        metric = record["metrics"].get(key) or {}
        value = metric.get("value")
        if value is None or not math.isfinite(value):
            undefined.append(f"{key} is undefined for this submission ({metric.get('reason') or 'no value'})")
        elif abs(value) >= MAX_SCORE:
            undefined.append(f"{key} = {value:.6g} is beyond what Codabench stores (|value| < {MAX_SCORE:g})")
        else:
            scores[key] = value
    if undefined:
        raise _Refused(EXIT_INVALID, "not ranked: every leaderboard metric must be defined", undefined)
    return record, scores


# ----------------------------------------------------------------------------- the command
def cmd_bundle(args: argparse.Namespace) -> int:
    from .task import TaskIndex

    tasks = TaskIndex().resolve(args.task)
    if len(tasks) != 1:
        raise HarnessError(f"{args.task!r} is a group; build one bundle per task: {', '.join(t.name for t in tasks)}")
    task = tasks[0]
    summary = build_bundle(task, Path(args.out), docker_image=args.docker_image,
                           reference=Path(args.reference) if args.reference else None, data_root=args.data_root,
                           final_reference=Path(args.final_reference) if args.final_reference else None,
                           title=args.title, start=args.start, final_start=args.final_start, allow_sample=args.allow_sample)
    print(f"wrote the Codabench bundle of {task.name} v{task.version} (config {task.config_hash}) to {summary['out']}")
    for what, ref in (("reference", summary["reference"]), ("final reference", summary["final_reference"])):
        if ref:
            print(f"  {what}: {ref['samples']} samples, {ref['labels']} labels (digest {ref['digest']})")
    print(f"  leaderboard keys: {', '.join(summary['keys'])}; docker image: {summary['docker_image']} "
          f"(build and push it with {Path(summary['out']) / 'docker' / 'Dockerfile'}, see ORGANIZERS.md)")
    labels = {r["labels"] for r in (summary["reference"], summary["final_reference"]) if r}
    if "sample" in labels:
        print("harness: note: the labels are the embedded synthetic sample: a test bundle, not a real competition",
              file=sys.stderr)
    if "unknown" in labels:
        print("harness: note: a reference without .harness.json: the bundle cannot say whether its labels are real "
              "(export it with harness data reference)", file=sys.stderr)
    if args.zip:
        print(f"  zip: {write_zip(Path(summary['out']))}")
    return 0


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("codabench-bundle", help="write a Codabench competition bundle for a task (scored by harness)")
    p.add_argument("--task", required=True)
    p.add_argument("--out", required=True, help="bundle folder to write (an earlier bundle there is replaced)")
    p.add_argument("--docker-image", default=None, help="required: the image Codabench runs the scoring program in, "
                   "pullable by its workers, with harness installed (the bundle's docker/Dockerfile builds it under this name)")
    p.add_argument("--data-root", default=None, help="export the reference from these datasets (default: $HARNESS_DATA, else the embedded sample)")
    p.add_argument("--reference", default=None, help="the organizer's reference (harness data reference; its .harness.json "
                   "says whether the labels are real) instead")
    p.add_argument("--final-reference", default=None, help="a separate hidden reference for the final phase (default: the same as development)")
    p.add_argument("--allow-sample", action="store_true", help="build even when the labels are the embedded synthetic "
                   "sample (a test bundle; refused otherwise)")
    p.add_argument("--title", default=None, help=f"competition title (at most {MAX_TITLE} characters; default: task and version)")
    p.add_argument("--start", default=None, help="development phase start, UTC (default: today)")
    p.add_argument("--final-start", default=None, help=f"final phase start, UTC (default: start + {DEV_DAYS} days); "
                   f"the development phase ends {PHASE_GAP.total_seconds():g} s earlier (Codabench refuses phases that touch)")
    p.add_argument("--zip", action="store_true", help="also write <out>.zip, ready to upload")
    p.set_defaults(func=cmd_bundle)
