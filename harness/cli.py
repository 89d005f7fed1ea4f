"""The ``harness`` command: parse, call, print. User errors exit 2 with one line, no traceback."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Sequence

from tabulate import tabulate

from . import __version__
from .errors import HarnessError
from .tables import fmt_number, metrics_table
from .task import TaskIndex


def _log(msg: str) -> None:
    print(f"harness: {msg}", file=sys.stderr, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from . import distributed
    from .hfdata import parse_columns
    from .models import parse_model_args
    from .runner import RunOptions, run_task

    index = _index()
    tasks = index.resolve(args.task)
    group = args.task if args.task in index.groups else None
    opts = RunOptions(model_args=parse_model_args(args.model_args), data_root=args.data_root,
                      device=args.device, batch_size=args.batch_size, num_workers=args.num_workers,
                      precision=args.precision, limit=args.limit, seed=args.seed, output=args.output,
                      n_boot=args.n_boot, progress=not args.json, submission=args.submission,
                      columns=parse_columns(args.columns))
    if args.submission and len(tasks) > 1:
        raise HarnessError("--submission writes one task's prediction file: run the group's tasks one by one")
    for flag, value, least in (("--batch-size", args.batch_size, 1), ("--limit", args.limit, 1),
                               ("--num-workers", args.num_workers, 0), ("--n-boot", args.n_boot, 0)):
        if value is not None and value < least:
            raise HarnessError(f"{flag} must be ≥ {least}, got {value}")
    from .family import FAMILIES
    from .models import resolve_model
    from .runner import pick_device

    if args.submission:  # a wrong name fails now, not after hours of training
        FAMILIES.get(tasks[0].family).check_submission_path(Path(args.submission))
    resolve_model(args.model)  # fail on a bad name or device before any work starts
    world = distributed.current()
    pick_device(distributed.rank_device(args.device, world))
    said: set[str] = set()

    def log_once(msg: str) -> None:  # a group's tasks repeat the same data notes; one rank speaks
        if msg not in said and world.main:
            said.add(msg)
            _log(msg)

    fitted: dict = {}
    records = []
    try:
        for task in tasks:
            log_once(f"running {task.name} v{task.version} with model {args.model}"
                     + (f" on {world.size} processes" if world.size > 1 else ""))
            records.append(run_task(task, args.model, opts, log=log_once, group=group, fitted=fitted))
    finally:
        distributed.close()
    if not world.main:  # rank 0 reports for the whole run
        return 0
    if args.json:
        out = records[0] if len(records) == 1 else records
        print(json.dumps(out, indent=2, default=str))
        return 0
    rec = records[0]
    if rec.get("scored") is False:  # a participant copy: no labels, nothing scored
        print(f"\nmodel {args.model}  |  data: {rec['data']['source']} ({rec['data']['fingerprint']}), no test labels: "
              f"nothing scored\n{rec['n_samples']} test samples -> prediction file (upload it): {rec['files']['submission']}")
        return 0
    shards = f"  |  {world.size} processes" if world.size > 1 else ""
    print(f"\nmodel {args.model}  |  data: {rec['data']['source']} ({rec['data']['fingerprint']})"
          f"  |  {'' if rec['reportable'] else 'NOT REPORTABLE (--limit)  |  '}device {rec['environment']['device']}{shards}")
    print(metrics_table(records, mean_of_parts=group is not None and index.groups[group].aggregate == "mean"))
    for r in records:
        counts = ", ".join(f"{v} {k}" for k, v in r["counts"].items())
        print(f"{r['task']['name']}: {r['n_samples']} samples ({counts}), "
              f"{r['timings']['total_s']:.1f} s  ->  {r['_path']}")
        for note in r["notes"]:
            if note not in rec["data"]["notes"]:
                print(f"  note: {note}")
        if r["files"].get("submission"):
            print(f"  submission file (for harness score): {r['files']['submission']}")
    return 0


def _index() -> TaskIndex:
    return TaskIndex()


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "tasks":
        index = _index()
        rows = []
        for name in index.names(args.pattern, args.exclude):
            if name in index.groups:
                g = index.groups[name]
                rows.append([name, "group", g.version, ", ".join(g.tasks)])
            else:
                t = index.tasks[name]
                rows.append([name, t.family, t.version, textwrap.shorten(t.description, 90, placeholder=" …")])
        print(tabulate(rows, headers=["name", "family", "version", "description"], tablefmt="github"))
        for err in index.errors:
            print(f"error: {err}", file=sys.stderr)
        return 2 if index.errors else 0
    from .models import available_models
    from .registry import select

    found = available_models()
    rows = [[n, found[n]] for n in select(found, args.pattern, args.exclude)]
    print(tabulate(rows, headers=["model", "origin"], tablefmt="github"))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import yaml

    from .family import FAMILIES

    index = _index()
    if args.task in index.groups:
        g = index.groups[args.task]
        print(yaml.safe_dump({"group": g.name, "version": g.version, "tasks": g.tasks,
                              "aggregate": g.aggregate, "description": g.description, "file": str(g.path)},
                             sort_keys=False, allow_unicode=True))
        return 0
    task = index.resolve(args.task)[0]
    FAMILIES.get(task.family).check_task(task)
    shown = {"task": task.name, "version": task.version, "config_hash": task.config_hash, "file": str(task.path),
             **{k: v for k, v in task.config.items() if k not in ("task", "version")}}
    shown["recipe"] = FAMILIES.get(task.family).recipe_record(task)
    print(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .family import FAMILIES
    from .published import published_rows

    index = _index()
    errors = list(index.errors)
    for task in index.tasks.values():
        try:
            FAMILIES.get(task.family).check_task(task)
            published_rows(index, task)
        except HarnessError as exc:
            errors.append(str(exc))
    errors = list(dict.fromkeys(errors))
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    print(f"{len(index.tasks)} task(s), {len(index.groups)} group(s), {len(errors)} error(s)")
    return 2 if errors else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .hub import results_root
    from .leaderboard import build, build_group, render, write

    index = _index()
    results = results_root(args.results)  # a folder, or an hf://datasets/... export
    if not results.is_dir():
        raise HarnessError("no such results folder (give --results: a results folder, a harness push export or "
                           "hf://datasets/ORG/NAME)", results)
    tables = [build(index, task, results, args.source) for task in index.resolve(args.task)]  # a group: each member
    group = index.groups.get(args.task) if args.task not in index.tasks else None
    if group is not None and group.aggregate == "mean":  # and the group table, the mean of its parts
        tables.append(build_group(index, group, results, args.source))
    for table in tables:
        if args.out is None:
            print(render(table, args.format))
            continue
        for path, numbers in write(table, args.format, Path(args.out)):
            shown = ", ".join(f"{k}={v if isinstance(v, int) else fmt_number(v)}" for k, v in numbers.items())
            print(f"{path}" + (f"  ({shown})" if shown else ""))
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from .family import FAMILIES

    index = _index()
    task = index.resolve(args.task)
    if len(task) != 1:
        raise HarnessError(f"{args.task!r} is a group; export each of its tasks")
    task = task[0]
    family = FAMILIES.get(task.family)
    from .hub import resolve_data_root

    from .files import check_replaceable
    from .reference import reference_sidecar, write_reference_sidecar

    out, suffix = Path(args.out), family.reference_suffix
    if out.suffix.lower() != suffix and (suffix or out.suffix.lower() in (".npz", ".csv", ".txt", ".zip")):
        want = f"a {suffix} file" if suffix else "a folder (reference.csv + masks/)"
        raise HarnessError(f"the reference of a {family.name} task is {want}; name --out accordingly "
                           f"(e.g. reference{suffix})", out)
    from .hfdata import parse_columns, references

    check_replaceable(out, args.overwrite)
    refs, info = references(family, task, resolve_data_root(args.data_root)[0], parse_columns(args.columns))
    family.write_reference(out, refs)
    write_reference_sidecar(out, task, family.read_reference(task, out)[0], info)  # as harness score will read it
    print(f"wrote the reference of {task.name} ({info['samples']} samples, {info['kind']} data) to {out} "
          f"(described in {reference_sidecar(out).name}, which harness score checks)")
    return 0


def cmd_participant_copy(args: argparse.Namespace) -> int:
    from .participant import participant_copy

    tasks = _index().resolve(args.task)
    if len(tasks) != 1:
        raise HarnessError(f"{args.task!r} is a group; make a participant copy of each of its tasks")
    made = participant_copy(tasks[0], args.data_root, Path(args.out), Path(args.reference) if args.reference else None)
    print(f"wrote the participant copy of {made['task']} ({made['test_samples']} test samples, opaque ids, no labels; "
          f"{made['data']} data) to {made['out']}: hand this folder to participants\n"
          f"wrote the matching reference (keep it private) to {made['reference']}\n"
          f"participants run: {made['run']}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .family import FAMILIES

    out = FAMILIES.get(args.family).synthesize(Path(args.out), seed=args.seed)
    print(f"wrote the {args.family} sample to {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .family import FAMILIES
    from .hfdata import export_task
    from .hub import resolve_data_root

    tasks = _index().resolve(args.task)
    if len(tasks) != 1:
        raise HarnessError(f"{args.task!r} is a group; export each of its tasks")
    task = tasks[0]
    done = export_task(FAMILIES.get(task.family), task, resolve_data_root(args.data_root)[0], Path(args.out),
                       strip_labels=args.strip_labels)
    for path in done["files"]:
        print(path)
    rows = ", ".join(f"{n} {split}" for split, n in done["rows"].items())
    print(f"exported {task.name} ({rows} rows, {done['source']} data"
          + (", labels stripped" if args.strip_labels else "") + f") as a datasets repository in {args.out}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .family import FAMILIES

    src = Path(args.src)
    if not src.exists():
        raise HarnessError("nothing to convert: no such file or folder", src)
    names = [args.family] if args.family else [n for n in FAMILIES.names() if FAMILIES.get(n).can_convert(src)]
    if len(names) != 1:
        raise HarnessError("no family converts this (pass --family)" if not names
                           else f"several families could convert this ({', '.join(names)}); pass --family", src)
    written = FAMILIES.get(names[0]).convert(src, Path(args.out), dataset=args.dataset, strip_labels=args.strip_labels,
                                             name=args.name, overwrite=args.overwrite,
                                             id_key=Path(args.id_key) if args.id_key else None)
    for folder in written:
        print(f"wrote {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description="Benchmark and leaderboard harness for subtle-signal vision.")
    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a model on a task (or a group of tasks) and score it",
                       description="Run a model on a task or group and score it. Started by torchrun "
                       "(torchrun --nproc-per-node N -m harness run ...), the test samples are shared out over the "
                       "processes and scored once on rank 0 (see the README, 'Scaling out').")
    r.add_argument("--task", required=True, help="a task or a group of tasks (harness list tasks)")
    r.add_argument("--model", required=True, help="a built-in model, a submissions/<name>/ folder or an entry point "
                   "(harness list models)")
    r.add_argument("--model-args", default="", help="k=v,k2=v2 passed to the model")
    r.add_argument("--data-root", default=None, help="folder holding the datasets, or a Hub dataset repository "
                   "hf://datasets/ORG/NAME[@REVISION] (default $HARNESS_DATA; 'sample' = embedded sample)")
    r.add_argument("--columns", default=None, help="a datasets repository's column mapping ROLE=COLUMN,... (e.g. "
                   "image=img,mask=gt; roles per family in the README; default: the task file's columns:, else the "
                   "roles' own names)")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:i")
    r.add_argument("--batch-size", type=int, default=4, help="samples (or parts of long samples) per model call")
    r.add_argument("--num-workers", type=int, default=None, help="workers decoding ahead of the model: threads for "
                   "images and clips, processes for videos (default: one per available core; processes "
                   "up to 4 on CUDA; 0 = the main thread)")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32"], help="auto: mixed precision (AMP) on CUDA "
                   "for adapters that declare amp = True; fp32: never (the precision is recorded with the run)")
    r.add_argument("--limit", type=int, default=None, help="first N test samples only (marks the run not reportable)")
    r.add_argument("--seed", type=int, default=0, help="seeds training and the bootstrap; other seeds are kept beside "
                   "seed 0 and the leaderboard shows their mean ± std")
    r.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for CIs")
    r.add_argument("--output", default=None, help="results folder (default $HARNESS_RESULTS or ./results of the project)")
    r.add_argument("--json", action="store_true", help="print the run record as JSON on stdout")
    r.add_argument("--submission", default=None, help="also write the outputs as the task family's prediction file for harness score (rPPG: .npz "
                   "waveforms or .csv heart rates; FAS: .csv; deception: .txt or .csv; splicing: .zip or a folder "
                   "of mask PNGs; IQA: .csv id,alpha,score)")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list tasks or models")
    ls.add_argument("what", choices=["tasks", "models"])
    ls.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'svc2026-*'")
    ls.add_argument("--exclude", default=None)
    ls.set_defaults(func=cmd_list)

    sh = sub.add_parser("show", help="show a task's resolved protocol")
    sh.add_argument("task")
    sh.set_defaults(func=cmd_show)

    va = sub.add_parser("validate", help="resolve and check every task file")
    va.set_defaults(func=cmd_validate)

    from .leaderboard import FORMATS

    lb = sub.add_parser("leaderboard", help="leaderboard of a task from the results folder (a group: each "
                        "member's, then the mean of the parts when the group averages them)")
    lb.add_argument("--task", required=True)
    lb.add_argument("--results", default=None, help="results folder (default $HARNESS_RESULTS or ./results), a "
                    "`harness push --out` export, or hf://datasets/ORG/NAME[@REVISION]")
    lb.add_argument("--format", default="md", choices=list(FORMATS))
    lb.add_argument("--out", default=None, help="write <out>/<task>.<ext> and the family's plots (PNG) there; print the paths")
    lb.add_argument("--source", default=None, choices=["real", "sample"], help="default: real, or sample when only sample runs exist")
    lb.set_defaults(func=cmd_leaderboard)

    da = sub.add_parser("data", help="data utilities")
    dsub = da.add_subparsers(dest="data_command", required=True)
    sy = dsub.add_parser("synth", help="write a family's embedded synthetic sample")
    sy.add_argument("family")
    sy.add_argument("--out", required=True)
    sy.add_argument("--seed", type=int, default=0)
    sy.set_defaults(func=cmd_data)
    cv = dsub.add_parser("convert", help="convert distributed feature files (e.g. the SVC organizers' pickles, "
                         "read through a restricted loader) to the harness's safe memory-mapped format")
    cv.add_argument("src", help="a file or a folder of files")
    cv.add_argument("--out", required=True, help="folder receiving one converted store per file")
    cv.add_argument("--family", default=None, help="default: the one family that converts this kind of file")
    cv.add_argument("--dataset", default=None, help="dataset name (needed with --strip-labels: it enters the opaque ids)")
    cv.add_argument("--name", default=None, help="folder name of a single file's output (default: the file's stem), "
                    "e.g. the split a task reads: train")
    cv.add_argument("--strip-labels", action="store_true", help="write a participant copy: no labels, opaque ids "
                    "keyed with the organizer's id key (never copied into the output)")
    cv.add_argument("--id-key", default=None, help="the organizer's id key file (deception-ids.key); default: the one "
                    "in the data root holding the source file (<root>/<dataset>/features/), made there if absent")
    cv.add_argument("--overwrite", action="store_true", help="replace an existing output folder, and only if every "
                    "file in it was written by the harness (listed in its manifest)")
    cv.set_defaults(func=cmd_convert)
    pc = dsub.add_parser("participant-copy", help="write what participants get (training data, test inputs with opaque "
                         "ids and no labels, instructions) and the matching reference, in one step",
                         description="Write a data root for participants (the task's training datasets, its test "
                         "inputs with opaque ids and no labels, participant.json and README.md) and, outside it, the "
                         "matching reference with its .harness.json, from one read of the data. Participants run "
                         "harness run --task T --data-root OUT --model M --submission FILE on it (nothing is scored). "
                         "Where test samples are renamed (rPPG, FAS, splicing, IQA), the table of original to "
                         "participant ids goes beside the reference as <reference>.ids.csv. Test images keep their "
                         "pixels only (no metadata). Existing paths are never replaced.")
    pc.add_argument("--task", required=True)
    pc.add_argument("--out", required=True, help="the participant copy (a new folder)")
    pc.add_argument("--data-root", default=None, help="the organizer's labelled data (default $HARNESS_DATA; 'sample' "
                    "= embedded sample)")
    pc.add_argument("--reference", default=None, help="where the reference goes (default: <out>-reference<suffix> "
                    "beside the copy; never inside it)")
    pc.set_defaults(func=cmd_participant_copy)
    rf = dsub.add_parser("reference", help="export a task's ground truth as the organizer's reference file for harness score")
    rf.add_argument("--task", required=True)
    rf.add_argument("--out", required=True)
    rf.add_argument("--data-root", default=None)
    rf.add_argument("--columns", default=None, help="a datasets repository's column mapping (as for run)")
    rf.add_argument("--overwrite", action="store_true", help="replace an existing reference; a folder only if every "
                    "file in it was written by the harness (listed in its manifest)")
    ex = dsub.add_parser("export", help="write a task's test set (and training set, if any) from its data "
                         "(the embedded sample when no --data-root) as a Hugging Face datasets repository: Parquet with embedded images, a dataset card, harness.json")
    ex.add_argument("--task", required=True)
    ex.add_argument("--format", default="datasets", choices=["datasets"], help="the repository format (datasets)")
    ex.add_argument("--out", required=True, help="folder to write (new, empty, or an earlier export: replaced)")
    ex.add_argument("--data-root", default=None, help="as for run (default: the embedded sample)")
    ex.add_argument("--strip-labels", action="store_true", help="participant copy: leave the ground-truth columns out")
    ex.set_defaults(func=cmd_export)
    rf.set_defaults(func=cmd_reference)
    for module in PLUGIN_COMMANDS:
        importlib.import_module(module).add_cli(sub)
    return p


#: modules that add their own subcommands through ``add_cli(subparsers)``
PLUGIN_COMMANDS = ("harness.regress", "harness.submissions", "harness.codabench", "harness.score_command", "harness.hub")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as exc:
        sys.stderr.write(f"harness: error: {exc}\n")  # one write: ranks sharing a terminal do not interleave
        sys.stderr.flush()
        return exc.exit_code
    except KeyboardInterrupt:
        resumable = args.command == "run"
        print("harness: interrupted" + (" (finished samples are kept; re-run to resume)" if resumable else ""),
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `harness leaderboard ... | head`
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
