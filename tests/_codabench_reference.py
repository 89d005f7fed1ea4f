"""An independent emulation of what Codabench does with a bundle and a submission, written from its
code (codalab/codabench at c7dbc75, March 2026; described in our own words, no code copied):

* upload: ``competition.yaml`` at the zip root, ``version: 2`` read by the v2 unpacker
  (``src/apps/competitions/unpackers/v2.py`` and ``base_unpacker.py``), then the competition,
  task, phase and leaderboard serializers and their models' field limits;
* scoring: the compute worker (``compute_worker/compute_worker.py``) unzips the reference into
  ``input/ref`` and the participant's upload into ``input/res`` (with the prediction step's
  ``metadata`` file), replaces ``$program``/``$input``/``$output``/... in the scoring program's
  ``metadata.yaml`` command and runs it from ``/app/program``, then reads ``output/scores.json``.

Used by tests/test_codabench.py: a bundle must pass :func:`unpack_errors` with no error, and each
rule here is shown to fail on a bundle that breaks it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import runpy
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml
from dateutil import parser as dateparser

#: field limits of Codabench's models (max_length)
LIMITS = {"competition.title": 256, "competition.docker_image": 128, "phase.name": 256, "task.name": 256,
          "page.title": 255, "leaderboard.title": 64, "leaderboard.key": 36, "column.title": 36, "column.key": 36}
SUBMISSION_RULES = {"Add", "Add_And_Delete", "Add_And_Delete_Multiple", "Force_Last", "Force_Latest_Multiple", "Force_Best"}
SORTING = {"asc", "desc"}


def _when(value):
    """Codabench's reading of a phase date (dateutil; a bare date is midnight; empty is None)."""
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return dateparser.parse(value).replace(tzinfo=None)


def unpack_errors(bundle_zip: Path, tmp: Path) -> list[str]:
    """Every reason Codabench's upload would refuse this bundle zip (empty: accepted)."""
    errors: list[str] = []
    root = tmp / "unpacked"
    try:
        with zipfile.ZipFile(bundle_zip) as z:
            z.extractall(root)
    except zipfile.BadZipFile:
        return ["Bad zip file uploaded."]
    if not (root / "competition.yaml").is_file():
        return ["competition.yaml is missing from zip"]
    comp = yaml.safe_load((root / "competition.yaml").read_text())
    if str(comp.get("version", "1")) != "2":
        return [f"not a v2 bundle: version {comp.get('version')!r}"]

    def limit(what: str, value) -> None:
        if value is None or not str(value).strip():
            errors.append(f"{what} is empty")
        elif len(str(value)) > LIMITS[what]:
            errors.append(f"{what} {value!r} is longer than {LIMITS[what]}")

    def readable(rel, what: str) -> None:
        path = root / str(rel)
        if not path.is_file():
            errors.append(f"Unable to find {what}: {rel}")
        elif not path.read_text(encoding="utf-8"):
            errors.append(f"{what} {rel} is empty")

    limit("competition.title", comp.get("title"))
    limit("competition.docker_image", comp.get("docker_image", "codalab/codalab-legacy:py37"))
    for page in comp.get("pages") or []:
        readable(page.get("file"), "page")
        limit("page.title", page.get("title"))
    if "terms" not in comp:
        errors.append("no terms file")
    else:
        readable(comp["terms"], "terms")
    if "image" not in comp or not (root / str(comp["image"])).is_file():
        errors.append("no competition image")

    tasks = {}
    for task in comp.get("tasks") or errors.append("No tasks listed") or []:
        if "index" not in task:
            errors.append(f"no index for task {task.get('name')}")
            continue
        if task["index"] in tasks:
            errors.append(f"Duplicate task indexes. Index: {task['index']}")
        tasks[task["index"]] = task
        limit("task.name", task.get("name"))
        if "scoring_program" not in task:
            errors.append(f"task {task.get('name')} does not have a scoring program")
        for kind in ("scoring_program", "reference_data", "ingestion_program", "input_data"):
            if kind in task and not (root / task[kind]).exists():
                errors.append(f"Cannot find dataset: {task[kind]}")

    phases = sorted(comp.get("phases") or [], key=lambda p: p.get("index", 0))
    if not phases:
        errors.append("Competitions must have at least one phase")
    for i, phase in enumerate(phases):
        limit("phase.name", phase.get("name"))
        if "tasks" not in phase:
            errors.append("Phases must contain at least one task to be valid")
        elif any(t not in tasks for t in phase["tasks"]):
            errors.append(f"phase {phase.get('name')} names a task index that does not exist")
        if _when(phase.get("start")) is None:
            errors.append(f"phase {phase.get('name')} has no start")
        if i == 0 and phase.get("auto_migrate_to_this_phase"):
            errors.append("You cannot auto migrate to the first phase of a competition")
        if i > 0:
            before, end, start = phases[i - 1], _when(phases[i - 1].get("end")), _when(phase.get("start"))
            if end is None:
                errors.append(f"Phase {before.get('name')} must have an end time because it has a phase after it.")
            elif start is not None and start < end:
                errors.append(f"Phases must be sequential: {phase.get('name')} starts before {before.get('name')} has ended")
            elif start == end:
                errors.append(f"Phases dates conflict. Phase: {phase.get('name')} should start after Phase: "
                              f"{before.get('name')} has ended")

    boards = comp.get("leaderboards")
    if not boards:
        errors.append("Could not find leaderboards in the competition yaml")
    for board in boards or []:
        limit("leaderboard.title", board.get("title"))
        limit("leaderboard.key", board.get("key"))
        if board.get("submission_rule", "Add") not in SUBMISSION_RULES:
            errors.append(f"submission_rule {board.get('submission_rule')!r} is not a choice")
        columns = board.get("columns") or []
        if not columns:
            errors.append("Leaderboards require at least 1 column")
        if len({c.get("index") for c in columns}) != len(columns):
            errors.append("Columns must have unique indexes!")
        if len({c.get("key") for c in columns}) != len(columns):
            errors.append("Columns must have unique keys!")
        for c in columns:
            limit("column.title", c.get("title"))
            limit("column.key", c.get("key"))
            if c.get("sorting", "desc") not in SORTING:
                errors.append(f"column {c.get('key')}: sorting {c.get('sorting')!r} is not asc or desc")
            if not isinstance(c.get("index"), int) or c["index"] < 0:
                errors.append(f"column {c.get('key')}: index must be a non-negative integer")
            if not isinstance(c.get("precision", 2), int):
                errors.append(f"column {c.get('key')}: precision must be an integer")
        if board.get("primary_index", 0) not in {c.get("index") for c in columns}:
            errors.append("the leaderboard's primary_index names no column")
    return errors


def run_scoring(bundle: Path, task_index: int, upload_zip: Path, work: Path, in_process: bool = True
                ) -> subprocess.CompletedProcess:
    """The compute worker's scoring step, without docker: the task's reference data (zipped by
    Codabench when it is a folder, so its contents sit at the zip root) in ``input/ref``, the
    upload unzipped in ``input/res`` with the prediction step's ``metadata``, the command's
    variables replaced by this run's folders, run from the program folder — in a new interpreter,
    or (``in_process``, to spare the interpreter start in tests) the same script run as __main__."""
    comp = yaml.safe_load((bundle / "competition.yaml").read_text())
    task = next(t for t in comp["tasks"] if t["index"] == task_index)
    program, ref = bundle / task["scoring_program"], bundle / task["reference_data"]
    shutil.copytree(program, work / "program")
    shutil.copytree(ref, work / "input" / "ref")
    res = work / "input" / "res"
    res.mkdir(parents=True)
    with zipfile.ZipFile(upload_zip) as z:
        z.extractall(res)
    (res / "metadata").write_text("exitCode: 0\nelapsedTime: 1.0\ningestionExitCode: null\n")
    (work / "output").mkdir()
    command = yaml.safe_load((work / "program" / "metadata.yaml").read_text())["command"]
    for var, folder in (("$input", work / "input"), ("$output", work / "output"), ("$program", work / "program"),
                        ("$hidden", work / "input" / "ref"), ("$predictions", res), ("$shared", work / "shared")):
        command = command.replace(var, str(folder))
    return run_program(work / "program", shlex.split(command), in_process)


def run_program(program: Path, argv: list[str], in_process: bool = True) -> subprocess.CompletedProcess:
    """``argv`` (``python3 script args...``) run from ``program``: in a new interpreter, or the
    script run as __main__ in this one (stdout, stderr and the exit code captured alike)."""
    assert argv[0] in ("python", "python3"), argv
    if not in_process:
        return subprocess.run([sys.executable, *argv[1:]], cwd=program, capture_output=True, text=True, timeout=300)
    out, err, saved = io.StringIO(), io.StringIO(), (sys.argv, os.getcwd())
    code = 0
    try:
        sys.argv = argv[1:]
        os.chdir(program)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(argv[1], run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved[0]
        os.chdir(saved[1])
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
