"""The same numbers every time and on every CPU: the same command twice gives identical metrics and
an identical ``samples.csv`` (every family, on its sample), and the golden runs hold with torch's
deterministic algorithms, one thread, and baseline CPU kernels (``harness regress --platform-check``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness import regress
from harness.cli import main

# one task per family with its golden baseline (the splicing sweep is where AVX-512 once moved numbers)
CASES = [("svc2026-rppg-phase1", "pos", []), ("mmdg-p1-psw-c", "fas-relief", []),
         ("svc2026-deception", "dd-linear", []), ("scisp-blur", "splice-noise", ["--limit", "10"]),
         ("baiqa-livec", "iqa-ridge", [])]


def run_once(capsys, tmp_path: Path, name: str, task: str, model: str, extra: list[str]) -> tuple[dict, bytes, bytes]:
    out = tmp_path / name
    assert main(["run", "--task", task, "--model", model, "--output", str(out), "--json", "--n-boot", "200", *extra]) == 0
    record = json.loads(capsys.readouterr()[0])
    folder = Path(record["_path"]).parent
    return record, (folder / record["files"]["samples"]).read_bytes(), (folder / record["files"]["outputs"]).read_bytes()


@pytest.mark.parametrize("task, model, extra", CASES, ids=[c[0] for c in CASES])
def test_the_same_command_twice_gives_identical_numbers(capsys, tmp_path, task, model, extra):
    first, first_samples, first_outputs = run_once(capsys, tmp_path, "a", task, model, extra)
    second, second_samples, second_outputs = run_once(capsys, tmp_path, "b", task, model, extra)
    assert second["throughput"]["samples_reused"] == 0  # recomputed, not read from a cache
    assert second["metrics"] == first["metrics"]        # values, CIs, N: bit for bit
    assert second_samples == first_samples and len(first_samples) > 100
    assert second_outputs == first_outputs                # the prediction file too, byte for byte
    assert second["model"]["fingerprint"] == first["model"]["fingerprint"]


def platform_check(capsys, *argv: str) -> tuple[int, str]:
    code = main(["regress", "--platform-check", *argv])
    return code, capsys.readouterr()[0]


def test_golden_runs_hold_under_every_platform_variant(capsys):
    code, out = platform_check(capsys, "--task", "rppg-pure-to-ubfc", "--model", "pos")
    assert code == 0, out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "variant" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["as is", "deterministic algorithms", "one thread",
                                                       "baseline CPU dispatch"]
    assert all("| ok " in r for r in rows) and all("golden: 6 ok, 0 failing" in r for r in rows)
    assert "ATEN_CPU_CAPABILITY=default" in out and "NPY_DISABLE_CPU_FEATURES=" in out and "OMP_NUM_THREADS=1" in out
    assert "platform check: 4 of 4 variants reproduce the golden numbers" in out


def test_the_platform_check_fails_when_a_variant_drifts(capsys, monkeypatch):
    """A variant whose numbers move is named, with its failing rows; so is one that cannot run."""
    calls = []

    def fake_run(argv, env, **kwargs):
        calls.append((argv, env))
        if env.get("ATEN_CPU_CAPABILITY") == "default":
            stdout = ("| golden | scisp-blur | splice-noise | pixel_auc_pooled | 0.54092598 | 0.54092497 | 1e-09 | DRIFT |\n"
                      "golden: 12 ok, 1 failing\n")
            return subprocess.CompletedProcess(argv, 1, stdout, "")
        if env.get("OMP_NUM_THREADS") == "1":
            return subprocess.CompletedProcess(argv, 2, "", "harness: error: something broke\n")
        return subprocess.CompletedProcess(argv, 0, "golden: 13 ok, 0 failing\n", "")

    monkeypatch.setattr(regress.subprocess, "run", fake_run)
    code, out = platform_check(capsys, "--task", "scisp-blur", "--model", "splice-noise")
    assert code == 1 and "platform check: 2 of 4 variants reproduce the golden numbers; failing: one thread, " \
                          "baseline CPU dispatch" in out
    assert "DRIFT" in out and "pixel_auc_pooled" in out and "harness: error: something broke" in out
    assert all(argv[-4:] == ["--task", "scisp-blur", "--model", "splice-noise"] and argv[3:5] == ["regress", "--golden"]
               for argv, _ in calls)
    assert calls[1][1]["HARNESS_DETERMINISTIC"] == "1"


MAPS = textwrap.dedent("""
    import sys, numpy as np, torch
    from harness.families.splicing.baselines import ela_map, noise_map
    rng = np.random.default_rng(0)
    maps = []
    for size in ((37, 53), (64, 64), (91, 40)):
        smooth = np.cumsum(np.cumsum(rng.integers(-3, 4, (*size, 3)), 0), 1)
        image = torch.from_numpy(np.clip(smooth - smooth.min(), 0, 255).astype(np.uint8).transpose(2, 0, 1).copy()) / 255
        maps += [m.numpy().ravel() for m in (noise_map(image), ela_map(image), noise_map(image, window=1))]
    np.save(sys.argv[1], np.concatenate(maps))
""")


def test_splicing_maps_agree_under_every_platform_variant(tmp_path):
    """The cause of the AVX-512 drift: splice-noise's float32 kernels moved 8-bit mask levels. Its
    maps are now integer and float64 arithmetic: with baseline kernels, one thread or deterministic
    algorithms only numpy's SIMD exp/log may differ, by float64 ulps, and no mask level moves."""
    maps = {}
    for name, env in {"as is": {}, **regress.platform_variants()}.items():
        out = tmp_path / f"{len(maps)}.npy"
        proc = subprocess.run([sys.executable, "-c", MAPS, str(out)], env={**os.environ, **env},
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        maps[name] = np.load(out)
    reference = maps.pop("as is")
    assert reference.size > 10_000
    for name, m in maps.items():
        assert np.abs(m - reference).max() <= 1e-14, name
        assert np.array_equal(np.rint(m * 255.0), np.rint(reference * 255.0)), name
