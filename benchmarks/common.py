"""Helpers shared by the child processes of both systems (standard library only)."""

from __future__ import annotations

import argparse
import faulthandler
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

RESULT_PREFIX = "RESULT "


def emit(result: dict[str, Any]) -> None:
    """Hand the result to the runner: one line on stdout, parsed by ``run.py``."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def child_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line every child takes: the workload, the store and the size."""
    parser = argparse.ArgumentParser()
    parser.add_argument("workload")
    parser.add_argument("--store", required=True, help="store URL")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker-kw", action="append", default=[], help="KEY=VALUE")
    return parser.parse_args(argv)


def dump_stacks_before(timeout_s: float) -> None:
    """A hung run prints every thread's stack (to stderr, which the runner reports) and
    exits shortly before the runner would kill it."""
    faulthandler.dump_traceback_later(max(1.0, timeout_s - 15), exit=True)


def proc_status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in MB, or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    """p50 (median) and p99 by nearest rank (``sorted[98]`` of 100, as dbos_bench.py)."""
    ordered = sorted(samples)
    rank99 = max(0, min(len(ordered) - 1, round(len(ordered) * 0.99) - 1))
    return {
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[rank99] * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
    }


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def throughput(orchestrations: int, activities: int, wall: float) -> dict[str, float]:
    return {
        "wall_s": wall,
        "orch_per_s": orchestrations / wall,
        "act_per_s": activities / wall,
    }


def long_history(short: int, long: int, t_short: float, t_long: float) -> dict[str, float]:
    per_short = t_short / short
    per_long = t_long / long
    return {
        "per_act_ms_short": per_short * 1e3,
        "per_act_ms_long": per_long * 1e3,
        "linearity": per_long / per_short,
        "wall_short_s": t_short,
        "wall_long_s": t_long,
    }


def check(condition: bool, message: str) -> None:
    """A result check that survives ``python -O``."""
    if not condition:
        raise AssertionError(message)
