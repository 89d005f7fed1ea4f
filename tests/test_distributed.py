"""Data-parallel evaluation: ``torchrun --nproc-per-node N -m harness run`` on CPU (gloo) gives
the same per-sample outputs and metrics as one process, for every family, whatever the remainder
of the test set over the ranks; a dying rank stops the run with a clear message and the same
command resumes it; ranks that disagree are refused."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from harness import distributed
from harness.distributed import World
from harness.errors import HarnessError
from harness.runner import _merge_shards, autocast_dtype, loader_workers, RunOptions

pytestmark = pytest.mark.slow

# one task per family, a model that trains where the family has a fast one (rank 0 trains and
# sends the weights); --limit 7 keeps the larger samples quick and leaves a remainder for 2 and 3
CASES = {
    "rppg": ("svc2026-rppg-phase2", "mine", None),        # 8 videos, the template trains a projection
    "fas": ("mmdg-p1-psw-c", "fas-relief", 7),
    "deception": ("svc2026-deception", "dd-linear", 7),
    "splicing": ("scisp", "splice-noise", 7),
    "iqa_backdoor": ("baiqa-livec", "iqa-ridge", 7),
}


def _env(results: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    return {**env, "HARNESS_RESULTS": str(results), "OMP_NUM_THREADS": "1", **extra}


def _run(results: Path, args: list[str], nproc: int = 1, **extra: str) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"] if nproc > 1 \
        else [sys.executable]
    return subprocess.run([*launcher, "-m", "harness", "run", *args, "--json", "--n-boot", "100"],
                          env=_env(results, **extra), capture_output=True, text=True, timeout=300)


def _outputs(record: dict) -> tuple[dict, str, dict]:
    """Metrics, per-sample table and the prediction file's content (a zip's members, not its dates)."""
    folder = Path(record["_path"]).parent
    path = folder / record["files"]["outputs"]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            content = {name: z.read(name) for name in sorted(z.namelist())}
    else:
        content = {path.name: path.read_bytes()}
    return record["metrics"], (folder / "samples.csv").read_text(), content


@pytest.mark.parametrize("family", sorted(CASES))
def test_one_two_and_three_processes_give_identical_outputs_and_metrics(tmp_path, family):
    task, model, limit = CASES[family]
    args = ["--task", task, "--model", model] + (["--limit", str(limit)] if limit else [])
    seen = {}
    worlds = (2, 3) if family == "rppg" else (3,)  # 2 processes once (the suite's time); 3 shards unevenly everywhere
    for nproc in (1, *worlds):
        done = _run(tmp_path / f"r{nproc}", args, nproc)
        assert done.returncode == 0, done.stderr[-2000:]
        record = json.loads(done.stdout)
        seen[nproc] = record
        if nproc > 1:
            shards = record["distributed"]["shards"]
            assert record["environment"]["world_size"] == nproc == len(shards)
            assert sum(s["samples"] for s in shards) == record["n_samples"]
            assert max(s["samples"] for s in shards) - min(s["samples"] for s in shards) <= 1
    n = seen[1]["n_samples"]
    assert n % 2 or n % 3, f"{task}: pick a set that does not divide evenly (n={n})"
    one = _outputs(seen[1])
    for nproc in worlds:
        assert _outputs(seen[nproc]) == one, f"{family}: {nproc} processes differ from one"
        assert seen[nproc]["n_samples"] == n and seen[nproc]["counts"] == seen[1]["counts"]
    assert seen[1]["distributed"] is None and seen[1]["environment"]["world_size"] == 1


DYING_MODEL = '''
import os
from harness.families.rppg.baselines import BaselineAdapter


class Model(BaselineAdapter):
    """GREEN, except that rank 1 dies on its second batch while $DIE_ON_RANK1 is set."""
    method = "green"
    calls = 0

    def predict(self, batch):
        Model.calls += 1
        if os.environ.get("DIE_ON_RANK1") and os.environ.get("RANK") == "1" and Model.calls == 2:
            os._exit(1)
        return super().predict(batch)
'''


def test_a_dying_rank_stops_the_run_clearly_and_the_same_command_resumes_it(tmp_path):
    subs = tmp_path / "subs"
    (subs / "dying").mkdir(parents=True)
    (subs / "dying" / "model.py").write_text(textwrap.dedent(DYING_MODEL))
    args = ["--task", "svc2026-rppg-phase2", "--model", "dying", "--batch-size", "1"]
    failed = _run(tmp_path / "r", args, 2, HARNESS_SUBMISSIONS=str(subs), DIE_ON_RANK1="1")
    assert failed.returncode != 0
    assert "re-run the same command to resume" in failed.stderr, failed.stderr[-3000:]
    assert not list((tmp_path / "r").glob("runs/*/*/*/record.json")), "no record from a failed run"
    resumed = _run(tmp_path / "r", args, 2, HARNESS_SUBMISSIONS=str(subs))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    record = json.loads(resumed.stdout)
    assert record["throughput"]["samples_reused"] >= 2  # rank 0's shard and rank 1's first sample
    assert record["throughput"]["samples_reused"] + record["throughput"]["samples_processed"] == 8
    single = _run(tmp_path / "one", args, 1, HARNESS_SUBMISSIONS=str(subs))
    assert _outputs(json.loads(single.stdout)) == _outputs(record)


DDP_MODEL = '''
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from harness.models import Adapter


class Model(Adapter):
    """A colour projection trained by SGD on every rank (distributed_fit): each rank takes its own
    videos, DistributedDataParallel averages the gradients, so the ranks' weights stay equal. With
    $BREAK_SYNC set it trains without DDP, so the ranks end up with different weights."""
    family, inputs, output = "rppg", ("rgb",), "bvp"
    distributed_fit = True

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(3, 1, bias=False)

    def state_dict(self):
        return self.net.state_dict()

    def fit(self, train):
        videos = list(train)
        ddp = dist.is_initialized() and not os.environ.get("BREAK_SYNC")
        rank, size = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        net = DistributedDataParallel(self.net) if ddp else self.net
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        for step in range(4):  # the same number of steps on every rank
            v = videos[(step * size + rank) % len(videos)]
            x = torch.as_tensor(v["rgb"], dtype=torch.float32)
            x = (x - x.mean(0)) / (x.std(0) + 1e-6)
            y = torch.as_tensor(v["bvp"], dtype=torch.float32)
            y = (y - y.mean()) / (y.std() + 1e-6)
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x)[:, 0], y).backward()
            opt.step()
        self.ranks_trained = size

    def predict(self, batch):
        x = batch["rgb"]
        x = (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-6)
        return {"bvp": self.net(x)[..., 0]}
'''


def test_an_adapter_may_train_on_every_rank_with_ddp_and_unsynchronised_weights_are_refused(tmp_path):
    subs = tmp_path / "subs"
    (subs / "ddp").mkdir(parents=True)
    (subs / "ddp" / "model.py").write_text(textwrap.dedent(DDP_MODEL))
    args = ["--task", "svc2026-rppg-phase2", "--model", "ddp"]
    done = _run(tmp_path / "r", args, 2, HARNESS_SUBMISSIONS=str(subs))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout)
    assert record["environment"]["world_size"] == 2 and record["metrics"]["mae"]["value"] is not None
    broken = _run(tmp_path / "b", args, 2, HARNESS_SUBMISSIONS=str(subs), BREAK_SYNC="1")
    assert broken.returncode != 0
    assert "rank 1 differs from rank 0 in its trained weights" in broken.stderr, broken.stderr[-3000:]
    assert "must leave every rank with the same weights" in broken.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ranks_with_different_settings_are_refused(tmp_path):
    """Two ranks started by hand (as a scheduler would), rank 1 with another seed: both refuse."""
    port = str(_free_port())
    procs = []
    for rank, seed in ((0, "0"), (1, "1")):
        env = _env(tmp_path / "r", RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        procs.append(subprocess.Popen([sys.executable, "-m", "harness", "run", "--task", "svc2026-rppg-phase2",
                                       "--model", "green", "--seed", seed], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, err
        assert "rank 1 differs from rank 0 in its run setup (seed: 1 vs 0)" in err
        assert "Traceback" not in err


# ----------------------------------------------------------------------------- in-process units
@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [0, 1, 5, 8, 11])
def test_shards_are_disjoint_balanced_and_cover_the_set(size, n):
    items = [f"s{i}" for i in range(n)]
    shards = [World(rank=r, size=size).shard(items) for r in range(size)]
    assert sorted(x for s in shards for x in s) == sorted(items)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def _gathered(parts: list[list[str]], test: str = "t") -> list:
    return [({"rank": r, "test": test}, {sid: ({}, {}, {}) for sid in ids}) for r, ids in enumerate(parts)]


def test_merging_shards_refuses_duplicates_gaps_and_different_test_sets():
    ids = ["a", "b", "c"]
    world = World(rank=0, size=2)
    assert set(_merge_shards(_gathered([["a", "c"], ["b"]]), ids, world)) == set(ids)
    with pytest.raises(HarnessError, match="came from two ranks"):
        _merge_shards(_gathered([["a", "c"], ["b", "c"]]), ids, world)
    with pytest.raises(HarnessError, match="1 test sample"):
        _merge_shards(_gathered([["a"], ["b"]]), ids, world)
    mixed = _gathered([["a", "c"], ["b"]])
    mixed[1][0]["test"] = "other"
    with pytest.raises(HarnessError, match="different test set"):
        _merge_shards(mixed, ids, world)


def test_a_world_of_one_needs_no_process_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    distributed.close()
    world = distributed.current()
    assert (world.rank, world.size, world.main) == (0, 1, True)
    assert world.gather({"x": 1}, "testing") == [{"x": 1}] and world.broadcast(3, "testing") == 3
    world.check_same({"seed": 0}, "run setup")
    assert distributed.rank_device("auto", world) == "auto"
    distributed.close()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(HarnessError, match="WORLD_SIZE must be an integer"):
        distributed.current()


class _Amp:
    amp = True


def test_amp_only_on_cuda_for_adapters_that_allow_it(monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype(cuda, _Amp(), "auto") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype(cuda, _Amp(), "auto") is torch.float16
    assert autocast_dtype(cuda, _Amp(), "fp32") is None
    assert autocast_dtype(cuda, object(), "auto") is None
    assert autocast_dtype(cpu, _Amp(), "auto") is None
    with pytest.raises(HarnessError, match="--precision"):
        autocast_dtype(cpu, _Amp(), "fp8")
    assert loader_workers(RunOptions(num_workers=3), cpu) == 3
    assert 0 <= loader_workers(RunOptions(), cuda) <= 4
