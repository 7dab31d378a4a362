"""The benchmark runner: ``python -m benchmarks.run [--peers] [--runs 3] [--only NAMES]``.

Every workload run is a fresh child process on a fresh store; with ``--peers`` the same run
of DBOS follows (or, on odd repetitions, precedes) durably's, so the two see the same disk
weather. Results go to ``benchmarks/results/<date>-<store>[-peers].json`` and ``.md``, and
``latest.md`` gets this invocation's tables. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from benchmarks import machine, peers, report
from benchmarks.common import RESULT_PREFIX
from benchmarks.stores import (
    SCRATCH,
    StoreSpec,
    journal_mode,
    pg_server_version,
    remove_sqlite,
    sqlite_path,
)
from benchmarks.workloads import BY_NAME, NAMES, Workload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PG_ENV = "DURABLY_TEST_POSTGRES"

console = Console(highlight=False, soft_wrap=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Run the peers' workloads on durably (and on DBOS with --peers).",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per workload (median shown)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(NAMES)}")
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgres", "memory"],
        action="append",
        help=f"store(s) to run on; default sqlite, plus postgres when ${PG_ENV} is set "
        "(memory: smoke tests only, no durability)",
    )
    parser.add_argument(
        "--synchronous",
        choices=["FULL", "NORMAL"],
        default="FULL",
        type=str.upper,
        help="SQLite synchronous for durably (NORMAL is opt-in and labelled everywhere)",
    )
    parser.add_argument("--peers", action="store_true", help="also run DBOS, interleaved")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no warm-up (smoke)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results")
    parser.add_argument(
        "--worker-kw",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra durably.Worker keyword argument (exploration; recorded in the JSON)",
    )
    args = parser.parse_args(argv)
    args.workloads = [BY_NAME[n] for n in _names(args.only, parser)]
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _names(only: str, parser: argparse.ArgumentParser) -> list[str]:
    if not only:
        return list(NAMES)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    return names


def choose_stores(args: argparse.Namespace) -> list[StoreSpec]:
    """The stores to run on; PostgreSQL is skipped, with a note, when it cannot run."""
    pg_url = os.environ.get(PG_ENV)
    kinds = args.store or (["sqlite", "postgres"] if pg_url else ["sqlite"])
    specs = []
    for kind in dict.fromkeys(kinds):
        if kind == "postgres":
            if not pg_url:
                console.print(f"[yellow]note:[/] skipping PostgreSQL: set {PG_ENV} to its URL")
                continue
            if importlib.util.find_spec("durably.backends.postgres") is None:
                console.print(
                    "[yellow]note:[/] skipping PostgreSQL: durably.backends.postgres does not "
                    "exist yet"
                )
                continue
        specs.append(StoreSpec(kind=kind, synchronous=args.synchronous, pg_url=pg_url))
    return specs


class ChildRunner:
    """Starts one child process per workload run and collects its figures."""

    def __init__(self, args: argparse.Namespace, peer_python: Path | None) -> None:
        self.quick: bool = args.quick
        self.worker_kw: list[str] = args.worker_kw
        self.pythons = {"durably": Path(sys.executable)}
        if peer_python is not None:
            self.pythons["dbos"] = peer_python
        self.env = _env()

    def command(self, system: str, workload: Workload, url: str) -> list[str]:
        python = str(self.pythons[system])
        if workload.name == "startup":
            return [python, "-m", "benchmarks.startup", system, url]
        command = [python, "-m", f"benchmarks.{system}_child", workload.name, "--store", url]
        if self.quick:
            command.append("--quick")
        if system == "durably":
            for pair in self.worker_kw:
                command += ["--worker-kw", pair]
        return command

    def run(self, system: str, workload: Workload, store: StoreSpec, tag: str) -> dict[str, Any]:
        """One run: the median over ``workload.repeats`` processes (one for most)."""
        samples: list[dict[str, Any]] = []
        record: dict[str, Any] = {}
        repeats = 1 if self.quick else workload.repeats
        # Startup: one untimed process first, which writes the bytecode cache (see _env).
        first = 0 if self.quick or workload.name != "startup" else -1
        for repeat in range(first, repeats):
            url = store.fresh(system, f"{tag}-{repeat}")
            try:
                sample = self._one(system, workload, url)
                if repeat >= 0:
                    samples.append(sample)
            except ChildFailed as exc:
                return {"error": str(exc)}
            finally:
                if store.kind == "sqlite":
                    record["journal_mode"] = journal_mode(url)
                    remove_sqlite(sqlite_path(url))
        figures = {
            key: _median([s[key] for s in samples])
            for key in samples[0]
            if isinstance(samples[0][key], int | float)
        }
        figures.update({k: v for k, v in samples[0].items() if k not in figures})
        return {**record, "figures": figures, "processes": len(samples)}

    def _one(self, system: str, workload: Workload, url: str) -> dict[str, Any]:
        command = self.command(system, workload, url)
        t0 = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=workload.timeout_s,
            )
        except subprocess.TimeoutExpired as exc:
            raise ChildFailed(f"timed out after {workload.timeout_s:.0f} s") from exc
        wall = time.perf_counter() - t0
        lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
        if done.returncode != 0 or not lines:
            log = SCRATCH / "logs" / f"{system}-{workload.name}-{time.strftime('%H%M%S')}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"$ {shlex.join(command)}\n{done.stdout}\n{done.stderr}")
            tail = (done.stdout[-1000:] + done.stderr[-1500:]).strip()
            raise ChildFailed(f"exit {done.returncode} (full output: {log}): {tail}")
        figures: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
        if workload.name == "startup":
            figures["process_ms"] = wall * 1e3
        return figures


def _env() -> dict[str, str]:
    """The children's environment: imports use cached bytecode, as after ``pip install``.

    ``PYTHONDONTWRITEBYTECODE`` (set on some CI machines) would make every import compile
    from source and the startup figures several times too high; the cache goes under
    ``benchmarks/.scratch/pycache`` rather than into the source tree.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(SCRATCH / "pycache")
    return env


class ChildFailed(Exception):
    pass


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def headline(workload: Workload, run: dict[str, Any]) -> str:
    if "error" in run:
        return "[red]FAILED[/] " + run["error"].splitlines()[-1][:160]
    figures = run["figures"]
    shown = [
        f"{m.label} {m.fmt.format(figures[m.key])} {m.unit}"
        for m in workload.metrics[:2]
        if isinstance(figures.get(m.key), int | float)
    ]
    return ", ".join(shown)


def run_store(
    args: argparse.Namespace, store: StoreSpec, runner: ChildRunner, progress: Progress
) -> dict[str, Any]:
    systems = list(runner.pythons)
    if store.kind == "memory" and "dbos" in systems:
        console.print("[yellow]note:[/] DBOS has no in-memory store: durably only")
        systems = ["durably"]
    results: dict[str, Any] = {w.name: {s: {"runs": []} for s in systems} for w in args.workloads}
    task = progress.add_task(store.label, total=len(args.workloads) * args.runs * len(systems))
    for workload in args.workloads:
        for rep in range(args.runs):
            order = systems if rep % 2 == 0 else systems[::-1]
            for system in order:
                what = f"{store.label} · {workload.name} · {system} · run {rep + 1}/{args.runs}"
                progress.update(task, description=what)
                run = runner.run(system, workload, store, f"{workload.name}-{rep}")
                results[workload.name][system]["runs"].append(run)
                progress.console.print(f"  {what}: {headline(workload, run)}")
                progress.advance(task)
        for system in systems:
            data = results[workload.name][system]
            data["summary"] = report.aggregate(data["runs"], workload)
            data["errors"] = [r["error"] for r in data["runs"] if "error" in r]
    progress.update(task, description=f"{store.label} · done")
    return {"systems": systems, "workloads": results}


def commit_rate(store: StoreSpec) -> float | None:
    """The store's single-row commits per second now (the disk drifts during a run)."""
    if store.kind == "sqlite":
        return machine.commit_rate(store.synchronous)
    if store.kind == "postgres":
        assert store.pg_url is not None
        return machine.pg_commit_rate(store.pg_url)
    return None


def store_title(store: StoreSpec) -> str:
    if store.kind == "sqlite":
        return f"SQLite WAL, synchronous={store.synchronous}"
    return {"postgres": "PostgreSQL", "memory": "in-memory store (smoke test)"}[store.kind]


def write(doc: dict[str, Any], out: Path) -> tuple[Path, str]:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{doc['machine']['date'][:10]}-{doc['store']['label']}"
    if "dbos" in doc["systems"]:
        stem += "-peers"
    text = report.markdown(doc)
    (out / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / f"{stem}.md").write_text(text)
    return out / f"{stem}.md", text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stores = choose_stores(args)
    if not stores:
        console.print("[red]no store to run on[/]")
        return 2
    peer_python = peers.ensure_venv(console.print) if args.peers else None
    runner = ChildRunner(args, peer_python)
    info = machine.describe()
    pg_url = os.environ.get(PG_ENV)
    info["postgresql"] = pg_server_version(pg_url) if pg_url else None
    dbos_version = peers.dbos_version(peer_python) if peer_python else None
    command = "python -m benchmarks.run " + shlex.join(argv if argv is not None else sys.argv[1:])
    docs = []
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        for store in stores:
            anchor: dict[str, Any] = {"before": commit_rate(store)}
            outcome = run_store(args, store, runner, progress)
            anchor["after"] = commit_rate(store)
            docs.append(
                {
                    "command": command,
                    "runs": args.runs,
                    "quick": args.quick,
                    "worker_kw": args.worker_kw,
                    "bytecode": "cached (PYTHONPYCACHEPREFIX under benchmarks/.scratch)",
                    "machine": info,
                    "dbos_version": dbos_version,
                    "anchor": anchor,
                    "store": {
                        "kind": store.kind,
                        "label": store.label,
                        "title": store_title(store),
                        "durability": {s: store.durability(s) for s in ("durably", "dbos")},
                    },
                    **outcome,
                }
            )
    texts = []
    for doc in docs:
        path, text = write(doc, args.out)
        console.print(f"wrote {path} and {path.with_suffix('.json').name}")
        texts.append(text)
    (args.out / "latest.md").write_text("\n".join(texts))
    console.print()
    for text in texts:
        print(text)
    failed = any(
        data["errors"]
        for doc in docs
        for result in doc["workloads"].values()
        for system, data in result.items()
        if system == "durably"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
