"""``harness score``: the command. One prediction file (``--predictions``) is scored by
:mod:`harness.scoring`, optionally into the submissions store (``--team``); a folder of
submissions (``--submissions``) by :mod:`harness.batch`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .batch import score_batch
from .errors import HarnessError
from .reference import load_references, say_reference
from .scoring import (DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT, record_head, run_limited, score_file, score_limits,
                      score_upload, write_outputs)
from .tables import metrics_table
from .upload import parse_uploaded_at, safe_reason, upload_hash


def cmd_score(args) -> int:
    from .records import results_dir
    from .task import TaskIndex

    tasks = TaskIndex().resolve(args.task)
    if len(tasks) != 1:
        raise HarnessError(f"{args.task!r} is a group; score each of its tasks: {', '.join(t.name for t in tasks)}")
    task = tasks[0]
    if args.data_root and args.reference:
        raise HarnessError("give --data-root or --reference, not both")
    stores = getattr(args, "submissions", None) is not None or args.team
    if stores and not (args.reference or args.data_root):  # never rank against the synthetic sample by accident
        raise HarnessError("scoring into the submissions store needs the ground truth named: --reference FILE "
                           "(from harness data reference) or --data-root DIR (--data-root sample for the embedded sample)")
    if stores:  # a mistyped phase never opens a new one; checked before anything is read
        from .submissions import SubmissionStore

        SubmissionStore(results_dir(args.results) / "submissions").check_phase(task, args.phase)
    if getattr(args, "submissions", None) is not None:
        if args.team:
            raise HarnessError("--team is for a single --predictions file; with --submissions each entry's name is its team")
        return score_batch(task, args)
    if args.jobs is not None:
        raise HarnessError("--jobs applies to --submissions (a folder of submissions), not to --predictions")
    time_limit, memory_limit = score_limits(args)
    uploaded = {"uploaded_at": parse_uploaded_at(args.uploaded_at)} if getattr(args, "uploaded_at", None) else {}
    if uploaded and not args.team:
        raise HarnessError("--uploaded-at is recorded in the submissions store: it needs --team (or --submissions)")
    predictions = Path(args.predictions)
    if not args.team:
        record = score_file(task, predictions, data_root=args.data_root,
                            reference=Path(args.reference) if args.reference else None, n_boot=args.n_boot,
                            time_limit=time_limit, memory_limit_mb=memory_limit)
    else:  # into the store: a reference problem is the organizer's; an unreadable upload is recorded failed
        references, ref_info = load_references(task, args.data_root, Path(args.reference) if args.reference else None)
        try:
            record = run_limited(lambda: score_upload(task, predictions, references, ref_info, n_boot=args.n_boot),
                                 time_limit=time_limit, memory_limit_mb=memory_limit)
        except HarnessError as exc:
            from .family import FAMILIES

            many = FAMILIES.get(task.family).many_file_predictions
            record = {**record_head(task, ref_info, predictions.name, upload_hash(predictions, many)),
                      "status": "failed", "reasons": [safe_reason(exc, predictions)], "organizer_log": [f"refused: {exc}"]}
    say_reference(record["reference"])
    rows = record.pop("_rows", None)
    organizer_log = record.pop("organizer_log", [])
    if args.output:
        write_outputs(Path(args.output), record, organizer_log, rows)
    if args.team:
        from .submissions import SubmissionStore

        store = SubmissionStore(results_dir(args.results) / "submissions")
        entry = store.record(
            task=task.name, task_version=task.version, config_hash=task.config_hash, phase=args.phase,
            team=args.team, file_hash=record["file"]["sha256"], status=record["status"],
            metrics=record.get("metrics"), reasons=record.get("reasons"), directions=task.directions,
            primary_metric=task.primary_metric, reference=record["reference"].get("digest"),
            submitted=uploaded.get("uploaded_at"), data=record["reference"].get("data"))
        record["submission"] = recorded(entry, store)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    elif record["status"] == "failed":
        print(f"{args.predictions}: invalid submission ({len(record['reasons'])} problem(s)):", file=sys.stderr)
        for reason in record["reasons"]:
            print(f"  - {reason}", file=sys.stderr)
    else:
        print(metrics_table([record]))
    if args.team and not args.json:
        print(confirmation(record["submission"]), file=sys.stderr if record["status"] == "failed" else sys.stdout)
    return 2 if record["status"] == "failed" else 0


def recorded(entry: dict, store) -> dict[str, Any]:
    """What the store kept for a scoring: the entry's id, sequence number, team, phase, status and
    data kind, and whether it is new (``False``: the same file, config and reference were scored before)."""
    return {"id": entry["id"], "seq": entry["seq"], "team": entry["team"], "phase": entry["phase"],
            "status": entry["status"], "data": entry.get("data") or "unknown",
            "store": str(store.path(entry["task"])), "new": store.appended}


def confirmation(rec: dict[str, Any]) -> str:
    """One line confirming what the store recorded."""
    how = "recorded" if rec["new"] else "already recorded (same file, task config and reference): kept"
    return (f"harness: {how} submission #{rec['seq']} ({rec['id']}) of team {rec['team']!r} in phase "
            f"{rec['phase']!r}: {rec['status']}, {rec['data']} labels — {rec['store']}")



SCORE_EPILOG = """\
Batch mode (--submissions DIR): each entry of DIR (names starting with '.' ignored) is one team's
submission, named by the entry without its suffix (teamA.csv, teamB/, teamC.zip -> teamA, teamB,
teamC); every one is validated, scored in its own worker process (at most --jobs at once) and
recorded in the submissions store under --phase, failures with participant-safe reasons. The
reference is read once, before any worker starts. Exit codes: 0 when the file (every submission)
scored; single file: 2 when it is refused; --submissions: 1 when the batch completed but some
submissions were recorded failed; 2 for an organizer error (bad options, missing or empty folder,
two entries for one team, a broken reference); 130 when interrupted (running workers are killed)."""


def add_cli(sub) -> None:
    import argparse

    p = sub.add_parser("score", help="validate and score a prediction file (or a folder of submissions) against the task's reference",
                       epilog=SCORE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--predictions", help="prediction file in the task family's format (below; a .zip holding one file is accepted too)")
    what.add_argument("--submissions", default=None, help="organizer batch: a folder with one prediction file, folder or "
                      ".zip per team (the team is the name without its suffix); each is scored in its own worker "
                      "process and recorded in the submissions store")
    p.add_argument("--data-root", default=None, help="read the reference from the datasets: a folder, "
                   "hf://datasets/ORG/NAME[@REV] or 'sample' (a single file without --team: the embedded sample by default)")
    p.add_argument("--reference", default=None, help="organizer's reference file instead of the datasets")
    p.add_argument("--output", default=None, help="write score.json, organizer.log and samples.csv here "
                   "(--submissions: under <output>/<team>/, plus <output>/summary.json)")
    p.add_argument("--team", default=None, help="record the submission under this team in the submissions store (--predictions only)")
    p.add_argument("--phase", default="final", help="challenge phase the submission belongs to (with --team or "
                   "--submissions; default: final)")
    p.add_argument("--results", default=None, help="results folder holding the submissions store "
                   "(default $HARNESS_RESULTS or ./results)")
    p.add_argument("--jobs", type=int, default=None, help="--submissions: worker processes at once (default 1)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help=f"wall-clock seconds one submission may take to be read, validated and scored (batch mode: "
                        f"recorded too) before its worker is killed and it is refused / recorded failed "
                        f"(default {DEFAULT_TIME_LIMIT:g})")
    p.add_argument("--memory-limit", type=float, default=None, metavar="MB",
                   help=f"memory (MB) scoring one submission may allocate beyond the scorer's own footprint: its "
                        f"worker caps its address space (RLIMIT_AS) at its virtual size when it starts (the forked "
                        f"scorer with the loaded reference) plus this. It bounds virtual, not resident, memory, so "
                        f"allow headroom for libraries that reserve address space. A submission exceeding it is "
                        f"refused / recorded failed. Default {DEFAULT_MEMORY_LIMIT:g}; 0 turns it off")
    p.add_argument("--uploaded-at", default=None, metavar="TIME|CSV",
                   help="when the submission was uploaded (ISO 8601, UTC unless a zone is given), recorded as given "
                        "and used as the ranking's tie-break; --submissions: a CSV team,uploaded_at naming every "
                        "team. Default: the time the store receives the submission (a file's modification time is "
                        "never used: it is forgeable)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs (0: none)")
    p.add_argument("--json", action="store_true", help="print the score record (--submissions: a JSON list of outcomes)")
    p.set_defaults(func=cmd_score)
    plain_help = p.format_help

    def format_help() -> str:  # the families' formats, loaded only when help is shown
        from .family import prediction_formats_text

        p.epilog = f"{SCORE_EPILOG}\n\nPrediction formats (each family declares its own):\n{prediction_formats_text()}"
        return plain_help()

    p.format_help = format_help
