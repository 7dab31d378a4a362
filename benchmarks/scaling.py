"""Scale-out on PostgreSQL: the chain workload with 1, 2 and 4 worker processes.

``python -m benchmarks.scaling [--workers 1,2,4] [--chains 500] [--steps 10] [--runs 3]
[--only cpu|io] [--url URL]`` (the URL defaults to ``$DURABLY_TEST_POSTGRES``).

Each run gets a freshly created database (``durably_scaling``). The client first starts
every chain (an orchestration calling ``add_one`` ``steps`` times in sequence), then W
worker processes, already connected and idle, are released together; the clock stops when
the last chain has completed (a ``count(*)`` on the instances table every 10 ms). Every
output is checked. Two variants: ``add_one`` returning at once (each step costs CPU only),
and ``add_one`` first waiting 20 ms as a call to another service would, 8 at a time per
worker (capacity bounded per process, as with I/O-bound activities). The figures: wall
time, orchestrations and activities per second, the speedup over one worker, and the CPU
time of the worker processes and of the server's sessions for the database.
Results go to ``benchmarks/results/scaling-postgres.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
DATABASE = "durably_scaling"
PG_ENV = "DURABLY_TEST_POSTGRES"


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """How the activities behave: ``activity_ms`` of waiting, ``concurrency`` at a time."""

    name: str
    title: str
    activity_ms: float
    concurrency: int


VARIANTS = (
    Variant(
        name="cpu",
        title="add_one returns at once (CPU only; Worker defaults)",
        activity_ms=0,
        concurrency=32,
    ),
    Variant(
        name="io",
        title="add_one waits 20 ms first (I/O-bound), 8 activities at a time per worker",
        activity_ms=20,
        concurrency=8,
    ),
)


# -- the worker process ------------------------------------------------------------------
def worker_main(url: str, activity_ms: float, concurrency: int) -> None:
    """Connect, say ``ready``, run from ``go`` until ``stop``; print the CPU time used."""
    import durably

    app = durably.App()

    @app.activity
    def add_one(x: int) -> int:
        if activity_ms:
            time.sleep(activity_ms / 1000)  # waiting on I/O: a call to another service
        return x + 1

    @app.orchestrator
    def chain(ctx: durably.OrchestrationContext) -> Any:
        x, steps = ctx.get_input()
        for _ in range(steps):
            x = yield ctx.call_activity(add_one, x)
        return x

    worker = durably.Worker(app, store=url, activity_concurrency=concurrency)
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    worker.start()
    sys.stdin.readline()
    worker.stop()
    print(json.dumps({"cpu_s": time.process_time() - cpu}), flush=True)


# -- one run -----------------------------------------------------------------------------
def one_run(server: str, workers: int, chains: int, steps: int, variant: Variant) -> dict[str, Any]:
    import psycopg

    import durably
    from benchmarks.stores import recreate_pg_database

    url = recreate_pg_database(server, DATABASE)
    with durably.Client(url) as client:
        for i in range(chains):
            client.start_new("chain", instance_id=f"chain-{i}", client_input=[i, steps])
    processes = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "benchmarks.scaling", "--worker", url),
                *("--activity-ms", str(variant.activity_ms)),
                *("--concurrency", str(variant.concurrency)),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    with psycopg.connect(url, autocommit=True) as connection:
        server_cpu_before = _server_cpu(DATABASE)
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        while _completed(connection) < chains:
            if time.perf_counter() - started > 600:
                raise RuntimeError(f"{workers} workers did not finish {chains} chains in 600 s")
            time.sleep(0.01)
        wall = time.perf_counter() - started
        server_cpu = _server_cpu(DATABASE) - server_cpu_before
        _check_outputs(connection, chains, steps)
    cpu = 0.0
    for process in processes:
        out, _ = process.communicate("stop\n", timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"a worker exited with {process.returncode}")
        cpu += json.loads(out.strip().splitlines()[-1])["cpu_s"]
    return {
        "variant": variant.name,
        "workers": workers,
        "wall_s": wall,
        "orch_per_s": chains / wall,
        "act_per_s": chains * steps / wall,
        "worker_cpu_s": cpu,
        "server_cpu_s": server_cpu,
    }


def _server_cpu(database: str) -> float:
    """CPU seconds (user + system) of the PostgreSQL backends serving ``database`` (Linux:
    the server runs on this machine; other databases' sessions are left out)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if not command.startswith(b"postgres:") or f" {database} ".encode() not in command:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _completed(connection: Any) -> int:
    row = connection.execute(
        "SELECT count(*) FROM durably_instances WHERE runtime_status = 'Completed'"
    ).fetchone()
    return int(row[0])


def _check_outputs(connection: Any, chains: int, steps: int) -> None:
    rows = connection.execute("SELECT instance_id, output FROM durably_instances").fetchall()
    outputs = {instance_id: json.loads(output) for instance_id, output in rows}
    wrong = [i for i in range(chains) if outputs.get(f"chain-{i}") != i + steps]
    if wrong or len(outputs) != chains:
        raise RuntimeError(f"wrong or missing outputs for chains {wrong[:10]}")


# -- the report --------------------------------------------------------------------------
_FIGURES = ("wall_s", "orch_per_s", "act_per_s", "worker_cpu_s", "server_cpu_s")


def summarise(runs: list[dict[str, Any]], variant: str) -> list[dict[str, Any]]:
    """The medians of each worker count of ``variant``, with the speedup over the first."""
    rows = []
    for workers in sorted({r["workers"] for r in runs if r["variant"] == variant}):
        mine = [r for r in runs if r["variant"] == variant and r["workers"] == workers]
        medians = {key: statistics.median(r[key] for r in mine) for key in _FIGURES}
        rows.append({"variant": variant, "workers": workers, "runs": len(mine), **medians})
    for row in rows:
        row["speedup"] = row["orch_per_s"] / rows[0]["orch_per_s"]
    return rows


def _loads(values: list[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def markdown(meta: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> str:
    m = meta["machine"]
    lines = [
        "# Scale-out on PostgreSQL: the chain workload with 1, 2 and 4 worker processes",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · {m['memory_gb']} GB · "
        f"Python {m['python']} · durably {m['durably_commit']} · "
        f"PostgreSQL {meta['server_version']} on the same machine "
        f"({', '.join(f'{k}={v}' for k, v in meta['server_settings'].items())}).",
        "",
        f"{meta['chains']} chains of {meta['steps']} `add_one` calls, all started before the "
        "workers are released; the clock runs from the release to the last completion. "
        f"Median of {meta['runs']} runs, interleaved, each on a new database "
        "(`python -m benchmarks.scaling`). Worker CPU is the sum over the worker processes; "
        "server CPU is that of the PostgreSQL sessions of the benchmark's database. "
        "Load averages (1, 5, 15 min) before the runs: "
        f"{_loads(meta['load_average']['before'])}; after: "
        f"{_loads(meta['load_average']['after'])}.",
    ]
    for variant in VARIANTS:
        if variant.name not in tables:
            continue
        lines += [
            "",
            f"## {variant.title}",
            "",
            "| worker processes | wall (s) | orchestrations/s | activities/s | speedup "
            "| worker CPU (s) | server CPU (s) |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in tables[variant.name]:
            lines.append(
                f"| {r['workers']} | {r['wall_s']:.2f} | {r['orch_per_s']:.1f} | "
                f"{r['act_per_s']:.0f} | {r['speedup']:.2f}x | {r['worker_cpu_s']:.1f} | "
                f"{r['server_cpu_s']:.1f} |"
            )
    lines += ["", "## Reading it", "", meta["note"], ""]
    return "\n".join(lines)


NOTE = (
    "The worker processes, the PostgreSQL server and the measuring client share this "
    "machine's {cores} cores, with whatever else runs there (the load averages above). With "
    "`add_one`, a step costs CPU only, in the worker (episode, psycopg) and in the server "
    "(about ten statements); one worker process and the server already keep both cores "
    "busy, so more processes cannot add throughput here: they split the same CPU and, "
    "taking work as it trickles in, form smaller batches (more transactions for the same "
    "steps, hence the growing CPU columns). When activities wait on I/O, a worker is "
    "bounded by its activity concurrency, not by CPU, and adding processes adds capacity "
    "until the cores are busy. On separate hosts each worker process brings its own CPU "
    "and the database server is the shared resource: see docs/postgres.md."
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__)
    parser.add_argument("--url", default=os.environ.get(PG_ENV), help=f"default ${PG_ENV}")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--chains", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only", choices=[v.name for v in VARIANTS], help="one variant (default: all)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--activity-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker, args.activity_ms, args.concurrency)
        return
    if not args.url:
        parser.error(f"give --url or set ${PG_ENV}")
    from benchmarks import machine
    from benchmarks.stores import pg_server_version, pg_settings

    counts = [int(w) for w in args.workers.split(",")]
    load_before = os.getloadavg()
    variants = [v for v in VARIANTS if args.only in (None, v.name)]
    runs = []
    for run in range(args.runs):
        # Interleaved, so drift in the machine touches every worker count alike.
        for variant in variants:
            for workers in counts if run % 2 == 0 else reversed(counts):
                result = one_run(args.url, workers, args.chains, args.steps, variant)
                print(
                    f"run {run + 1}: {variant.name}, {workers} workers: "
                    f"{result['wall_s']:.2f} s, {result['orch_per_s']:.1f} orchestrations/s",
                    flush=True,
                )
                runs.append(result)
    tables = {v.name: summarise(runs, v.name) for v in variants}
    described = machine.describe()
    meta = {
        "machine": described,
        "server_version": pg_server_version(args.url),
        "server_settings": pg_settings(args.url),
        "chains": args.chains,
        "steps": args.steps,
        "runs": args.runs,
        "variants": {v.name: v.title for v in variants},
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "note": NOTE.format(cores=described["cores"]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    summary = [row for rows in tables.values() for row in rows]
    (args.out / "scaling-postgres.json").write_text(
        json.dumps({**meta, "summary": summary, "runs": runs}, indent=2) + "\n"
    )
    report = markdown(meta, tables)
    (args.out / "scaling-postgres.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
