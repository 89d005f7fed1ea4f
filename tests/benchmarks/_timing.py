"""Timing shared by the benchmarks: paths timed interleaved per round (so the machine's load hits
them alike), best round per path in wall time and in this process's CPU time (plus its finished
children's, i.e. DataLoader workers), and the load average they ran under. On a shared machine the
CPU-time ratios are the meaningful ones for one process: wall time also counts waiting for a core."""
from __future__ import annotations

import os
import resource
import time
from typing import Callable


def cpu_seconds() -> tuple[float, float]:
    """(this process, its finished and waited-for children) user + system CPU seconds."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class Interleaved:
    """``round()`` runs every path once, in order; ``wall``/``cpu``/``cpu_children``: best round
    per path (seconds); ``busiest``: best round of the busier of (the calling thread, the
    process's other threads) in CPU time, i.e. what bounds a path's wall time given a core per
    thread; ``results``: what each path returned last."""

    def __init__(self, paths: dict[str, Callable[[], object]]):
        self.paths = paths
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.cpu_children: dict[str, float] = {}
        self.busiest: dict[str, float] = {}
        self.results: dict[str, object] = {}
        self.load: list[float] = []

    def round(self) -> None:
        self.load.append(os.getloadavg()[0])
        for name, fn in self.paths.items():
            (me0, kids0), t0, th0 = cpu_seconds(), time.perf_counter(), time.thread_time()
            self.results[name] = fn()
            wall, (me1, kids1), thread = time.perf_counter() - t0, cpu_seconds(), time.thread_time() - th0
            self.wall[name] = min(self.wall.get(name, float("inf")), wall)
            self.cpu[name] = min(self.cpu.get(name, float("inf")), me1 - me0)
            self.cpu_children[name] = min(self.cpu_children.get(name, float("inf")), kids1 - kids0)
            busiest = max(thread, me1 - me0 - thread)
            self.busiest[name] = min(self.busiest.get(name, float("inf")), busiest)

    def ratios(self, to: str, cpu: bool = False) -> dict[str, float]:
        """Each path's speed relative to ``to`` (> 1: faster), by wall or by CPU time."""
        times = self.cpu if cpu else self.wall
        return {k: round(times[to] / v, 3) for k, v in times.items()}

    def busiest_ratios(self, to: str) -> dict[str, float]:
        """Each path's busiest thread against ``to``'s whole CPU time: its speed relative to
        ``to`` (a one-thread path) when every thread has a core to itself."""
        return {k: round(self.cpu[to] / v, 3) for k, v in self.busiest.items()}

    def load_average(self) -> str:
        return f"{min(self.load):.2f}–{max(self.load):.2f}"
