"""``harness codabench-bundle``: a task as a Codabench competition bundle, scored by the same code
as ``harness score``.

The bundle (a folder, and with ``--zip`` also ``<folder>.zip`` for upload)::

    competition.yaml          version 2: pages, phases, one task, one leaderboard
    logo.png, pages/*.md      the competition's logo and pages (overview, evaluation, submission, terms)
    scoring_program/          metadata.yaml (the command) + score.py (the task, baked in)
    reference_data/           reference.npz: the task's ground truth (the family's reference file)
    reference_data_final/     only with --final-reference: the final phase's hidden reference
    ORGANIZERS.md, docker/    how to build the scoring image (not read by Codabench)

Codabench zips the ``scoring_program`` and ``reference_data`` folders itself when the bundle is
uploaded (they may be folders or zips). The bundle vendors nothing: ``score.py`` imports the
``harness`` installed in the competition's docker image (``docker/Dockerfile`` builds one from a
checkout), and refuses to score if that harness defines the task with another version or config
hash than the one baked in — a stale bundle or image fails every submission loudly instead of
scoring under a different protocol.

Scoring contract (Codabench's): ``score.py [INPUT [OUTPUT]]`` (default ``/app/input`` and
``/app/output``) reads ``INPUT/ref`` (the reference) and ``INPUT/res`` (the participant's upload,
unzipped by Codabench: exactly one ``.csv`` or ``.npz``, or a ``.zip`` holding one; Codabench's own
``metadata`` file there is ignored) and writes ``OUTPUT/scores.json`` — one key per task metric,
its value, the keys equal to the leaderboard's column keys — and ``OUTPUT/detailed_results.html``.
An invalid submission (or one for which a leaderboard metric is undefined) writes no
``scores.json``, prints its participant-safe problems on stderr (Codabench shows it) and in
``detailed_results.html``, and exits 2; an organizer-side problem (stale bundle, harness missing
from the image, no reference) exits 1. Codabench marks both as failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import os
import pprint
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
BUNDLE_FORMAT = 1
REFERENCE_NAME = "reference.npz"
DEFAULT_IMAGE = "python:3.11-slim"
DEV_DAYS = 60
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

EXIT_INVALID = 2   # the participant's submission is invalid
EXIT_CONFIG = 1    # the bundle, the image or the reference is wrong (an organizer problem)

#: files Codabench itself puts in the participant's result folder, and archive debris
IGNORED_RESULT_FILES = {"metadata"}
IGNORED_PREFIXES = (".", "__MACOSX")


# ----------------------------------------------------------------------------- leaderboard
def leaderboard_columns(task) -> list[dict[str, Any]]:
    """One column per task metric: the primary first (index 0), then the task's order; key =
    the metric name (what score.py writes), sorting from its direction, precision 3 for metrics
    bounded within [-1, 1] (correlations), else 2 — the precision of ``harness leaderboard``."""
    from .family import FAMILIES

    specs = getattr(FAMILIES.get(task.family), "metric_specs", {}) or {}
    order = [task.primary_metric] + [m.name for m in task.metrics if m.name != task.primary_metric]
    columns = []
    for index, name in enumerate(order):
        spec = specs.get(name)
        low, high = getattr(spec, "bounds", (None, None))
        bounded = low is not None and high is not None and -1 <= low and high <= 1
        unit = getattr(spec, "unit", "")
        columns.append({"title": f"{name} ({unit})" if unit else name, "key": name, "index": index,
                        "sorting": "asc" if task.directions[name] == "min" else "desc",
                        "precision": 3 if bounded else 2})
    return columns


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


def _submission_format(family) -> str:
    """The family's description of its prediction files (its predictions module's docstring)."""
    import importlib
    import inspect

    try:
        module = importlib.import_module(f"harness.families.{family.name}.predictions")
    except ImportError:
        module = None
    doc = inspect.getdoc(module) if module is not None else None
    return doc or "One prediction file in the task's format (see `harness score --help`)."


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


def _export_reference(task, family, dest: Path, reference: Path | None, data_root: str | None) -> dict:
    """The reference file at ``dest``: a given file (checked by the family's reader) or the
    ground truth exported from the datasets / the embedded sample."""
    if reference is not None:
        refs, info = family.read_reference(task, Path(reference))
        dest.write_bytes(Path(reference).read_bytes())
        return {"kind": "file", "source": str(reference), "samples": len(refs)}
    from .hub import resolve_data_root

    refs, info = family.references(task, resolve_data_root(str(data_root) if data_root else None)[0])
    family.write_reference(dest, refs)
    return {"kind": info.get("kind"), "source": info.get("root"), "fingerprint": info.get("fingerprint"),
            "samples": len(refs)}


def _score_py(bundle: dict) -> str:
    baked = pprint.pformat(bundle, indent=1, width=100, sort_dicts=False)
    return f'''#!/usr/bin/env python3
"""Codabench scoring program for the harness task {bundle["task"]} (v{bundle["version"]}, config {bundle["config_hash"]}).

Generated by `harness codabench-bundle` (harness {bundle["harness_version"]}); rebuild the bundle instead of
editing it. It needs the `harness` package installed in the competition's docker image (see
ORGANIZERS.md) and scores with harness.scoring.score_file, the code path of `harness score`:
    python3 score.py [INPUT_DIR [OUTPUT_DIR]]      (defaults /app/input and /app/output)
reads INPUT_DIR/ref (the reference) and INPUT_DIR/res (the submission), writes OUTPUT_DIR/scores.json
and OUTPUT_DIR/detailed_results.html; exit 2 = invalid submission, 1 = scoring set-up problem.
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
# Build it from the root of a harness checkout (the same commit the bundle was built with), push it,
# and put its name in competition.yaml (docker_image) — or rebuild the bundle with --docker-image:
#     docker build -f {bundle}/docker/Dockerfile -t <you>/harness-scoring:{version} .
#     docker push <you>/harness-scoring:{version}
# harness is installed editable: the task files (tasks/) are read from the checkout.
FROM python:3.11-slim
WORKDIR /opt/harness
COPY pyproject.toml README.md ./
COPY harness ./harness
COPY tasks ./tasks
RUN pip install --no-cache-dir "torch>=2.1,<3" --index-url https://download.pytorch.org/whl/cpu \\
 && pip install --no-cache-dir -e .
"""


def _pages(task, family, columns: list[dict], ref_info: dict, final_info: dict | None, recipe: dict) -> dict[str, str]:
    sample = ref_info.get("kind") == "sample"
    warn = ("\n> **Test bundle**: the reference data is the harness's embedded *synthetic sample*, not a real "
            "test set. Rebuild with `--data-root` or `--reference` for a real competition.\n" if sample else "")
    final_ref = ("The final phase is scored on a separate hidden reference."
                 if final_info else "Both phases are scored on the same reference data.")
    overview = (f"# {task.name} (v{task.version})\n\n{task.description or ''}\n{warn}\n"
                f"Task version {task.version}, config hash `{task.config_hash}`, family `{task.family}`. "
                f"Submissions are scored by harness {__version__} with the task's evaluation recipe; "
                f"the same file scored with `harness score --task {task.name}` gives the same numbers.\n\n"
                f"## Phases\n\n- **Development**: submit as often as the limits allow; scores are shown on the "
                f"leaderboard.\n- **Final**: successful development submissions are re-run automatically when it "
                f"starts. {final_ref}\n")
    rows = "\n".join(f"| {c['index']} | `{c['key']}` | {'lower' if c['sorting'] == 'asc' else 'higher'} is better"
                     f"{' (**primary**)' if c['index'] == 0 else ''} | {c['precision']} |" for c in columns)
    evaluation = (f"# Evaluation\n\nThe leaderboard ranks by `{task.primary_metric}` (column 0), then by the "
                  f"other columns from left to right.\n\n| column | metric | better | decimals shown |\n|---|---|---|---|\n"
                  f"{rows}\n\nEvaluation recipe (task `{task.name}` v{task.version}):\n\n```json\n"
                  f"{json.dumps(recipe, indent=2, default=str)}\n```\n\n"
                  f"The detailed results of a submission show each metric with its N, standard error and 95% "
                  f"CI. A submission for which a leaderboard metric is undefined (e.g. a correlation of constant "
                  f"predictions) is marked failed, with the reason, and never ranked.\n")
    submission = (f"# Submission format\n\nUpload a zip holding exactly **one** prediction file (a zip inside "
                  f"the zip is accepted too). Every problem of an invalid file is reported at once in the "
                  f"submission's logs and detailed results; an invalid file is never scored.\n\n```\n"
                  f"{_submission_format(family)}\n```\n\n`harness run --task {task.name} --model <name> "
                  f"--submission predictions.npz` writes a valid file; zip it and upload it.\n")
    terms = ("# Terms\n\nBy participating you agree to the rules of the challenge as published by its organizers, "
             "to submit only predictions produced by your own method, and not to attempt to obtain the hidden "
             "reference data.\n")
    return {"overview.md": overview, "evaluation.md": evaluation, "submission.md": submission, "terms.md": terms}


def build_bundle(task, out: Path, *, reference: Path | None = None, data_root: str | None = None,
                 final_reference: Path | None = None, docker_image: str = DEFAULT_IMAGE,
                 title: str | None = None, start: str | None = None, final_start: str | None = None) -> dict:
    """Write the Codabench bundle of ``task`` into ``out`` (replacing an earlier bundle there);
    return a summary (paths, reference info, leaderboard keys)."""
    import yaml

    from .family import FAMILIES

    if reference is not None and data_root is not None:
        raise HarnessError("give --data-root or --reference, not both")
    family = FAMILIES.get(task.family)
    family.check_task(task)
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "competition.yaml").is_file())):
        raise HarnessError("exists and is not an earlier bundle (no competition.yaml); choose another --out", out)
    today = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    start_at = _parse_date(start, today)
    final_at = _parse_date(final_start, start_at + dt.timedelta(days=DEV_DAYS))
    if final_at <= start_at:
        raise HarnessError(f"--final-start ({final_at:{DATE_FORMAT}}) must come after --start ({start_at:{DATE_FORMAT}})")

    columns = leaderboard_columns(task)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / "reference_data").mkdir()
        ref_info = _export_reference(task, family, tmp / "reference_data" / REFERENCE_NAME, reference, data_root)
        final_info = None
        if final_reference is not None:
            (tmp / "reference_data_final").mkdir()
            final_info = _export_reference(task, family, tmp / "reference_data_final" / REFERENCE_NAME,
                                           Path(final_reference), None)
        bundle = {"format": BUNDLE_FORMAT, "task": task.name, "version": task.version,
                  "config_hash": task.config_hash, "family": task.family, "primary_metric": task.primary_metric,
                  "metrics": [c["key"] for c in columns], "reference": REFERENCE_NAME,
                  "harness_version": __version__, "harness_commit": _git_commit(),
                  "built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        program = tmp / "scoring_program"
        program.mkdir()
        (program / "score.py").write_text(_score_py(bundle), encoding="utf-8")
        (program / "metadata.yaml").write_text("command: python3 /app/program/score.py /app/input /app/output\n",
                                               encoding="utf-8")
        recipe = family.recipe_record(task)
        (tmp / "pages").mkdir()
        for name, text in _pages(task, family, columns, ref_info, final_info, recipe).items():
            (tmp / "pages" / name).write_text(text, encoding="utf-8")
        (tmp / "logo.png").write_bytes(_png())
        (tmp / "docker").mkdir()
        (tmp / "docker" / "Dockerfile").write_text(_DOCKERFILE.format(version=__version__, bundle=out.name), encoding="utf-8")

        task_entry = {"name": f"{task.name} v{task.version}", "description": f"harness task {task.name} v{task.version} "
                      f"(config {task.config_hash})", "scoring_program": "scoring_program", "reference_data": "reference_data"}
        tasks = [{"index": 0, **task_entry}]
        if final_info:
            tasks.append({"index": 1, **task_entry, "name": f"{task.name} v{task.version} (final)",
                          "reference_data": "reference_data_final"})
        phase_limits = {"execution_time_limit": 600, "hide_output": False}
        competition = {
            "version": 2,
            "title": title or f"{task.name} (v{task.version})",
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
                 "start": f"{start_at:{DATE_FORMAT}}", "end": f"{final_at:{DATE_FORMAT}}",
                 "max_submissions_per_day": 5, "max_submissions": 100, **phase_limits, "tasks": [0]},
                {"index": 1, "name": "Final", "description": "Final phase: the development phase's successful "
                 "submissions are re-run when it starts" + ("" if final_info else " (same reference data)") + ".",
                 "start": f"{final_at:{DATE_FORMAT}}", "auto_migrate_to_this_phase": True,
                 "max_submissions_per_day": 1, "max_submissions": 5, **phase_limits, "tasks": [1 if final_info else 0]},
            ],
            "tasks": tasks,
            "leaderboards": [{"title": "Results", "key": "main", "submission_rule": "Force_Last", "columns": columns}],
        }
        header = (f"# Codabench competition bundle of harness task {task.name} v{task.version} (config {task.config_hash}),\n"
                  f"# written by `harness codabench-bundle` (harness {__version__}). Leaderboard column keys are the\n"
                  f"# keys scoring_program/score.py writes to scores.json. docker_image must have harness installed\n"
                  f"# (docker/Dockerfile, ORGANIZERS.md).\n")
        (tmp / "competition.yaml").write_text(header + yaml.safe_dump(competition, sort_keys=False, allow_unicode=True),
                                              encoding="utf-8")
        (tmp / "ORGANIZERS.md").write_text(_organizers(task, out.name, docker_image, ref_info, final_info), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out), "reference": ref_info, "final_reference": final_info,
            "keys": [c["key"] for c in columns], "docker_image": docker_image}


def _organizers(task, name: str, image: str, ref_info: dict, final_info: dict | None) -> str:
    return (f"# Hosting {task.name} on Codabench\n\n"
            f"1. Build the scoring image from the root of the harness checkout this bundle was built from and push it:\n"
            f"   `docker build -f {name}/docker/Dockerfile -t <you>/harness-scoring:{__version__} .` then "
            f"`docker push <you>/harness-scoring:{__version__}`.\n"
            f"2. Set `docker_image` in competition.yaml to that name (now `{image}`), or rebuild the bundle with "
            f"`--docker-image`.\n"
            f"3. Check dates, submission limits and pages in competition.yaml, then zip the bundle with "
            f"`competition.yaml` at the zip's root (`--zip` does this) and upload it (Benchmarks → Management → Upload).\n\n"
            f"Reference data: {ref_info.get('samples')} samples ({ref_info.get('kind')} data)"
            + (f"; final phase: {final_info.get('samples')} samples from a separate file" if final_info else
               "; both phases use it") + ".\n\n"
            f"The scoring program refuses to run (exit 1, every submission failed) if the image's harness defines "
            f"{task.name} with another version or config hash than v{task.version} / {task.config_hash}: rebuild the "
            f"image and the bundle from the same checkout. Participants see the scoring program's stderr (the reasons "
            f"an invalid file was refused) unless a phase sets `hide_output`.\n")


def write_zip(bundle_dir: Path) -> Path:
    """``<bundle_dir>.zip``: the bundle's files with ``competition.yaml`` at the zip root; folders
    stay folders (Codabench zips ``scoring_program`` and ``reference_data`` itself). Deterministic
    member order and times."""
    bundle_dir = Path(bundle_dir)
    target = bundle_dir.with_name(bundle_dir.name + ".zip")
    files = sorted(p for p in bundle_dir.rglob("*") if p.is_file())
    from .results import atomic_path

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


def _find_prediction(res: Path) -> Path:
    if not res.is_dir():
        raise _Refused(EXIT_INVALID, "no submission found (the result folder is missing)")
    found = []
    for path in sorted(res.rglob("*")):
        rel = path.relative_to(res)
        if any(part.startswith(IGNORED_PREFIXES) for part in rel.parts) or not path.is_file():
            continue
        if len(rel.parts) == 1 and rel.name in IGNORED_RESULT_FILES:
            continue
        found.append(rel)
    if len(found) != 1:
        shown = ", ".join(repr(p.as_posix()) for p in found[:5]) + (", …" if len(found) > 5 else "")
        raise _Refused(EXIT_INVALID, f"the submission must hold exactly one prediction file (.csv, .npz or a .zip "
                                     f"holding one), it holds {len(found)}" + (f": {shown}" if found else ""))
    return res / found[0]


def _find_reference(ref: Path, name: str) -> Path:
    if (ref / name).is_file():
        return ref / name
    candidates = sorted(p for p in ref.rglob("*.npz") if p.is_file()) if ref.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    raise _Refused(EXIT_CONFIG, f"scoring set-up error: no reference file {name!r} in the reference data "
                                f"({len(candidates)} .npz file(s) found); contact the organizers")


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
    keys = [task.primary_metric] + [m.name for m in task.metrics if m.name != task.primary_metric]
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
                    f"<td>{m['value']:.6g}</td><td>{se}</td><td>{ci}</td><td>{m.get('n')}</td></tr>")
    counts = ", ".join(f"{e(str(k))}: {e(str(v))}" for k, v in (record.get("counts") or {}).items())
    notes = "".join(f"<li>{e(str(n))}</li>" for n in record.get("notes") or [])
    return (head + f"<p>File {e(record['file']['name'])} (sha256 {e(record['file']['sha256'][:16])}…), "
            f"{record.get('n_samples')} samples scored. {counts}</p>"
            "<table border='1' cellpadding='4'><tr><th>metric</th><th>value</th><th>SE</th><th>95% CI</th><th>N</th></tr>"
            + "".join(rows) + "</table>" + (f"<ul>{notes}</ul>" if notes else "") + "</body></html>\n")


def score_submission(bundle: dict, input_dir: str | Path, output_dir: str | Path) -> int:
    """Score one Codabench submission (see the module docstring); return the exit code."""
    from .results import atomic_path

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    scores_path = output_dir / "scores.json"
    if scores_path.exists():
        scores_path.unlink()  # a failure must never leave scores behind
    record = None
    try:
        record, scores = _score(bundle, input_dir)
    except _Refused as refused:
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


def _score(bundle: dict, input_dir: Path) -> tuple[dict, dict[str, float]]:
    from .family import FAMILIES
    from .scoring import score_file

    try:
        task = _check_installed(bundle)
        FAMILIES.get(task.family).check_task(task)
    except HarnessError as exc:
        raise _Refused(EXIT_CONFIG, f"scoring set-up error: {exc}") from exc
    if bundle.get("harness_version") != __version__:
        print(f"note: bundle built with harness {bundle.get('harness_version')}, scoring with {__version__} "
              f"(same task version and config hash)")
    reference = _find_reference(input_dir / "ref", bundle.get("reference", REFERENCE_NAME))
    prediction = _find_prediction(input_dir / "res")
    try:
        record = score_file(task, prediction, reference=reference)
    except HarnessError as exc:
        if exc.path is not None and Path(exc.path) == reference:
            raise _Refused(EXIT_CONFIG, f"scoring set-up error: the reference data is unusable ({exc.message}); "
                                        f"contact the organizers") from exc
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
    summary = build_bundle(task, Path(args.out), reference=Path(args.reference) if args.reference else None,
                           data_root=args.data_root, final_reference=Path(args.final_reference) if args.final_reference else None,
                           docker_image=args.docker_image, title=args.title, start=args.start, final_start=args.final_start)
    ref = summary["reference"]
    print(f"wrote the Codabench bundle of {task.name} v{task.version} (config {task.config_hash}) to {summary['out']}")
    print(f"  reference: {ref['samples']} samples ({ref['kind']} data); leaderboard keys: {', '.join(summary['keys'])}")
    if ref["kind"] == "sample":
        print("  note: the reference is the embedded synthetic sample — a test bundle, not a real competition",
              file=sys.stderr)
    if args.docker_image == DEFAULT_IMAGE:
        print(f"  note: docker_image is {DEFAULT_IMAGE}, which has no harness: build the scoring image with "
              f"{Path(summary['out']) / 'docker' / 'Dockerfile'} and pass --docker-image (see ORGANIZERS.md)",
              file=sys.stderr)
    if args.zip:
        print(f"  zip: {write_zip(Path(summary['out']))}")
    return 0


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("codabench-bundle", help="write a Codabench competition bundle for a task (scored by harness)")
    p.add_argument("--task", required=True)
    p.add_argument("--out", required=True, help="bundle folder to write (an earlier bundle there is replaced)")
    p.add_argument("--data-root", default=None, help="export the reference from these datasets (default: $HARNESS_DATA, else the embedded sample)")
    p.add_argument("--reference", default=None, help="the organizer's reference file (harness data reference) instead")
    p.add_argument("--final-reference", default=None, help="a separate hidden reference file for the final phase (default: the same as development)")
    p.add_argument("--docker-image", default=DEFAULT_IMAGE, help="the competition's docker image; it must have harness installed (see the bundle's docker/Dockerfile)")
    p.add_argument("--title", default=None)
    p.add_argument("--start", default=None, help="development phase start, UTC (default: today)")
    p.add_argument("--final-start", default=None, help=f"final phase start, UTC (default: start + {DEV_DAYS} days)")
    p.add_argument("--zip", action="store_true", help="also write <out>.zip, ready to upload")
    p.set_defaults(func=cmd_bundle)
