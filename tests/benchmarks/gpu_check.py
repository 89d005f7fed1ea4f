"""The prepared GPU check (run it where a GPU is lent; it also runs on the CPU alone):

    python tests/benchmarks/gpu_check.py --out gpu_check.json

For each family's fast baseline it runs the same task on the CPU and on CUDA (fp32, then AMP
where the adapter allows it), and records samples/s on each device and the largest difference of
every metric between the devices; then the runner's overhead against a bare loop (POS on the rPPG
sample, as in test_bench_runner.py) on the GPU. Paste the printed Markdown into BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

FAST = {"rppg": ("svc2026-rppg-phase2", "pos"), "fas": ("mmdg-p1-psw-c", "fas-cnn"),
        "deception": ("svc2026-deception", "dd-fusion"), "splicing": ("scisp", "splice-unet"),
        "iqa_backdoor": ("baiqa-livec", "iqa-cnn")}


def _run(task: str, model: str, device: str, precision: str, out: Path) -> dict:
    from harness.runner import RunOptions, run_task
    from harness.task import TaskIndex

    opts = RunOptions(device=device, precision=precision, output=str(out), progress=False, n_boot=0)
    return run_task(TaskIndex().tasks[task], model, opts, log=lambda m: None)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--families", default=",".join(FAST))
    args = p.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows, report = [], {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                        "torch": torch.__version__, "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families.split(","):
            task, model = FAST[family]
            runs = {}
            for device in devices:
                for precision in (["fp32", "auto"] if device == "cuda" else ["fp32"]):
                    rec = _run(task, model, device, precision, Path(tmp) / f"{family}-{device}-{precision}")
                    runs[f"{device}/{rec['precision']}"] = rec
            base = runs["cpu/fp32"]
            entry = {"task": task, "model": model, "samples": base["n_samples"], "runs": {}}
            for key, rec in runs.items():
                diffs = {m: abs((rec["metrics"][m]["value"] or 0) - (v["value"] or 0))
                         for m, v in base["metrics"].items() if v.get("value") is not None}
                entry["runs"][key] = {"samples_per_s": rec["throughput"]["samples_per_s"],
                                      "max_metric_diff_vs_cpu": max(diffs.values(), default=0.0),
                                      "metric_diffs": diffs}
                rows.append(f"| {family} | {model} | {key} | {rec['throughput']['samples_per_s']:.1f} | "
                            f"{max(diffs.values(), default=0.0):.2e} |")
            report["families"][family] = entry
        if torch.cuda.is_available():
            from test_bench_runner import TASK, bare_loop  # the same bare loop as the CPU benchmark

            from harness.runner import RunOptions, run_task

            t0 = time.perf_counter()
            bare_loop()
            bare = time.perf_counter() - t0
            t0 = time.perf_counter()
            run_task(TASK, "pos", RunOptions(device="cuda", output=str(Path(tmp) / "overhead"), progress=False),
                     log=lambda m: None)
            report["runner_overhead"] = {"bare_s": bare, "harness_s": time.perf_counter() - t0}
    Path(args.out).write_text(json.dumps(report, indent=2))
    print("| family | model | device/precision | samples/s | max metric diff vs CPU |\n|---|---|---|---|---|")
    print("\n".join(rows))
    if "runner_overhead" in report:
        o = report["runner_overhead"]
        print(f"\nrunner overhead on the GPU: bare {o['bare_s']:.2f} s, harness {o['harness_s']:.2f} s "
              f"({(o['harness_s'] / o['bare_s'] - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
