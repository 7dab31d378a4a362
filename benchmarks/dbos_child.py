"""One workload run on DBOS Transact, in its own process, with the peers' interpreter:
``benchmarks/.peers-venv/bin/python -m benchmarks.dbos_child WORKLOAD --store URL [--quick]``.

The workloads mirror ``durably_child`` and ``shared/peers/dbos_bench.py``: an activity is a
``@DBOS.step``, an orchestration a ``@DBOS.workflow``. Every result is checked. The store
(an SQLite file already in WAL mode, or an empty PostgreSQL database name) is prepared by
the runner, as dbos_bench.py does.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

from dbos import DBOS, DBOSConfig

from benchmarks import common
from benchmarks.common import check
from benchmarks.workloads import BY_NAME, WARMUP_CHAINS, WARMUP_ONE_STEP, expected_fanout_sum


@DBOS.step()
def add_one(x: int) -> int:
    return x + 1


@DBOS.workflow()
def one_step(x: int) -> int:
    return add_one(x)  # type: ignore[no-any-return]


@DBOS.workflow()
def chain(x: int, steps: int) -> int:
    for _ in range(steps):
        x = add_one(x)
    return x


@DBOS.workflow()
def fanout(width: int) -> int:
    # dbos_bench.py's fanout_start: each step is started as its own workflow, then awaited.
    handles = [DBOS.start_workflow(add_one, i) for i in range(width)]
    return sum(h.get_result() for h in handles)


_receiving = [0]
_receiving_lock = threading.Lock()


@DBOS.workflow()
def wait_event() -> int:
    with _receiving_lock:  # DBOS has no status for "blocked in recv()": count it here
        _receiving[0] += 1
    value = DBOS.recv("go", timeout_seconds=3600)
    return value + 1  # type: ignore[no-any-return]


def warm_up() -> None:
    for i in range(WARMUP_ONE_STEP):
        check(DBOS.start_workflow(one_step, i).get_result() == i + 1, "warm-up")
    for _ in range(WARMUP_CHAINS):
        check(chain(0, 10) == 10, "warm-up chain")


def latency(p: dict[str, int]) -> dict[str, Any]:
    for i in range(p["warmups"]):
        check(DBOS.start_workflow(one_step, i).get_result() == i + 1, "latency warm-up")
    samples = []
    for i in range(p["samples"]):
        t0 = time.perf_counter()
        result = DBOS.start_workflow(one_step, i).get_result()
        samples.append(time.perf_counter() - t0)
        check(result == i + 1, f"one_step({i}) = {result}")
    return common.percentiles_ms(samples)


def chain_sequential(p: dict[str, int]) -> dict[str, Any]:
    n, steps = p["orchestrations"], p["steps"]
    t0 = time.perf_counter()
    for i in range(n):
        result = chain(i, steps)
        check(result == i + steps, f"chain({i}) = {result}")
    return common.throughput(n, n * steps, time.perf_counter() - t0)


def chain_inflight(p: dict[str, int]) -> dict[str, Any]:
    n, steps = p["orchestrations"], p["steps"]
    t0 = time.perf_counter()
    handles = [DBOS.start_workflow(chain, i, steps) for i in range(n)]
    for i, handle in enumerate(handles):
        result = handle.get_result()
        check(result == i + steps, f"chain({i}) = {result}")
    return common.throughput(n, n * steps, time.perf_counter() - t0)


def fanout_n(p: dict[str, int]) -> dict[str, Any]:
    width = p["width"]
    t0 = time.perf_counter()
    result = fanout(width)
    wall = time.perf_counter() - t0
    check(result == expected_fanout_sum(width), f"fanout({width}) = {result}")
    return {"wall_s": wall, "act_per_s": width / wall}


def long_history(p: dict[str, int]) -> dict[str, Any]:
    short, long = p["short"], p["long"]
    t_short = common.timed(lambda: check(chain(0, short) == short, "short chain"))
    t_long = common.timed(lambda: check(chain(0, long) == long, "long chain"))
    return common.long_history(short, long, t_short, t_long)


def memory(p: dict[str, int]) -> dict[str, Any]:
    n = p["instances"]
    gc.collect()
    base = common.proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    handles = [DBOS.start_workflow(wait_event) for _ in range(n)]
    deadline = time.monotonic() + 600
    while _receiving[0] < n:
        check(time.monotonic() < deadline, f"only {_receiving[0]} of {n} workflows waiting")
        time.sleep(0.01)
    started = time.perf_counter() - t0
    rss = common.proc_status_mb("VmRSS")
    t1 = time.perf_counter()
    for i, handle in enumerate(handles):
        DBOS.send(handle.get_workflow_id(), i, "go")
    for i, handle in enumerate(handles):
        result = handle.get_result()
        check(result == i + 1, f"wait_event {i} = {result}")
    return {
        "rss_mb": rss,
        "rss_base_mb": base,
        "rss_peak_mb": common.proc_status_mb("VmHWM"),
        "start_s": started,
        "drain_s": time.perf_counter() - t1,
    }


RUNNERS: dict[str, Callable[[dict[str, int]], dict[str, Any]]] = {
    "latency": latency,
    "chain": chain_sequential,
    "chain-inflight": chain_inflight,
    "fanout-200": fanout_n,
    "fanout-10k": fanout_n,
    "hello5": chain_inflight,
    "long-history": long_history,
    "memory-10k": memory,
}


def main() -> None:
    args = common.child_args()
    workload = BY_NAME[args.workload]
    params = workload.params(args.quick)
    common.dump_stacks_before(workload.timeout_s)
    config: DBOSConfig = {
        "name": "durably-bench",
        "system_database_url": args.store,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        if not args.quick:
            warm_up()
        figures = RUNNERS[workload.name](params)
    finally:
        DBOS.destroy(destroy_registry=True)
    common.emit({"params": params, **figures})


if __name__ == "__main__":
    main()
