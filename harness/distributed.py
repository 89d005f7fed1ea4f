"""Data-parallel evaluation on ``torchrun``: who this process is, and the few collectives the
runner needs (check that every rank runs the same thing, share trained weights, gather outputs).

``torchrun --nproc-per-node N -m harness run ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous in the environment; a plain ``harness run`` is a
world of one and touches none of this. The collectives carry Python objects over a gloo group (CPU
memory), so evaluation never depends on NCCL; on CUDA machines the default group also has NCCL for
adapters whose ``fit`` uses DistributedDataParallel.

Failure handling: every collective turns a lost peer into one clear :class:`HarnessError`, and a
rank stopped by the launcher (SIGTERM, sent when another rank fails) says so in one line. Finished
samples are in the run cache, which is keyed by sample and not by rank, so the same command resumes
with any number of processes.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
from typing import Any

from .errors import HarnessError

#: seconds a rank waits in a collective (e.g. for rank 0's training); ``$HARNESS_DIST_TIMEOUT``
DEFAULT_TIMEOUT_S = 24 * 3600
RESUME_HINT = "finished samples are kept; re-run the same command to resume"


@dataclasses.dataclass
class World:
    """This process's place among the ranks of a run (a world of one without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    _objects: Any = dataclasses.field(default=None, repr=False)  # the gloo group for object collectives

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def label(self) -> str:
        return f"rank {self.rank} of {self.size}"

    def shard(self, items: list) -> list:
        """This rank's share: every ``size``-th item from position ``rank`` (balanced, disjoint,
        covering every item once, whatever the remainder)."""
        return items[self.rank::self.size]

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RuntimeError as exc:  # DistBackendError and friends: a peer is gone or timed out
            text = " ".join(str(exc).split()) or type(exc).__name__
            if "timed out" in text.lower() or "timeout" in text.lower():
                raise HarnessError(f"{self.label}: waited more than {self.timeout_s:g} s for the other ranks while {what} "
                                   f"(raise $HARNESS_DIST_TIMEOUT if that is expected, e.g. a long training on rank 0); "
                                   f"{RESUME_HINT}") from exc
            raise HarnessError(f"{self.label}: lost contact with the other ranks while {what} (another rank stopped "
                               f"or failed; see its message); {RESUME_HINT} [{text[:300]}]") from exc

    def all_gather(self, obj: Any, what: str) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.size == 1:
            return [obj]
        import torch.distributed as dist

        out: list = [None] * self.size
        self._call(what, dist.all_gather_object, out, obj, group=self._objects)
        return out

    def gather(self, obj: Any, what: str) -> list | None:
        """Every rank's ``obj`` on rank 0 (in rank order); None elsewhere."""
        if self.size == 1:
            return [obj]
        import torch.distributed as dist

        out: list | None = [None] * self.size if self.main else None
        self._call(what, dist.gather_object, obj, out, dst=0, group=self._objects)
        return out

    def broadcast(self, obj: Any, what: str) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.size == 1:
            return obj
        import torch.distributed as dist

        box = [obj if self.main else None]
        self._call(what, dist.broadcast_object_list, box, src=0, group=self._objects)
        return box[0]

    def check_same(self, fields: dict[str, Any], what: str,
                   hint: str = "every rank must get the same command, files and environment") -> None:
        """Refuse to go on when any rank's ``fields`` differ from rank 0's (each rank raises the
        same one-line error, naming the first differing field)."""
        seen = self.all_gather(fields, f"comparing the ranks' {what}")
        for rank, other in enumerate(seen[1:], 1):
            for key in sorted(set(seen[0]) | set(other)):
                if seen[0].get(key) != other.get(key):
                    raise HarnessError(f"{self.label}: rank {rank} differs from rank 0 in its {what} "
                                       f"({key}: {_short(other.get(key))} vs {_short(seen[0].get(key))}); {hint}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_WORLD: World | None = None


def current() -> World:
    """This process's :class:`World`; under torchrun (``WORLD_SIZE`` > 1) the process group is
    initialised on first use."""
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1:
        _WORLD = World()
        return _WORLD
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise HarnessError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    timeout = dt.timedelta(seconds=_env_int("HARNESS_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    try:
        if not dist.is_initialized():
            dist.init_process_group(backend=backend, timeout=timeout)
        objects = dist.new_group(backend="gloo", timeout=timeout)
    except (RuntimeError, ValueError) as exc:
        raise HarnessError(f"rank {rank} of {size}: cannot join the other ranks ({str(exc).splitlines()[0][:200]}); "
                           "start the run with torchrun (see the README)") from exc
    _WORLD = World(rank=rank, size=size, local_rank=local_rank, backend=backend, timeout_s=timeout.total_seconds(),
                   _objects=objects)
    signal.signal(signal.SIGTERM, _stopped)
    return _WORLD


def _stopped(signum: int, frame: Any) -> None:
    """SIGTERM: torchrun stops the other ranks when one fails, a scheduler when a job is cancelled
    or runs out of time; say so in one line."""
    world = _WORLD or World()
    err = HarnessError(f"{world.label}: stopped by SIGTERM (torchrun stops every rank when one fails; a scheduler "
                       f"when the job is cancelled or out of time); {RESUME_HINT}")
    err.exit_code = 128 + signum
    raise err


def close() -> None:
    """Leave the process group (end of ``harness run``)."""
    global _WORLD
    if _WORLD is not None and _WORLD.size > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _WORLD = None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise HarnessError(f"${name} must be an integer, got {raw!r}") from None


def rank_device(spec: str, world: World) -> str:
    """Under torchrun each rank takes its own GPU: ``auto``/``cuda`` → ``cuda:<LOCAL_RANK>``."""
    if world.size == 1 or spec not in ("auto", "cuda"):
        return spec
    import torch

    if not torch.cuda.is_available():
        return "cpu" if spec == "auto" else spec
    return f"cuda:{world.local_rank % max(torch.cuda.device_count(), 1)}"
