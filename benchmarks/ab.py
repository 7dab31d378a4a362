"""Interleaved A/B of durably against an earlier commit:
``python -m benchmarks.ab --base REV [--only NAMES] [--rounds N] [--store KIND ...] [--out DIR]``
(``--base-tree PATH`` runs a checkout as the base instead; ``--new-env KEY=VALUE`` sets
the new side's environment, so that ``--base-tree . --new-env DURABLY_BENCH_FORM=async``
compares generator orchestrators with ``async def`` ones on one tree).

Both sides run the same workload children on fresh stores, in ABBA order round by round
(base then new, new then base, ...), so that both see the same disk weather. The base is
a detached git worktree of REV under ``benchmarks/.scratch``, whose own code (durably and
its benchmark children) runs through ``PYTHONPATH``. Beside each workload's headline
figure the durably process's CPU time (user + system) is recorded: it moves with the
code and hardly with the disk. Writes ``ab.json`` and ``ab.md`` to DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULT_PREFIX
from benchmarks.stores import SCRATCH, StoreSpec, remove_sqlite, sqlite_path
from benchmarks.workloads import BY_NAME, Workload

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = "latency,chain,chain-inflight,hello5,fanout-10k"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    parser.add_argument("--base", default="HEAD", help="the commit to compare with")
    parser.add_argument(
        "--base-tree", type=Path, help="a checkout to run as the base instead of a worktree"
    )
    parser.add_argument(
        "--new-env", action="append", default=[], metavar="KEY=VALUE", help="new side's env"
    )
    parser.add_argument("--only", default=DEFAULT, help=f"workloads (default {DEFAULT})")
    parser.add_argument("--rounds", type=int, default=4, help="runs per side and workload")
    parser.add_argument("--store", action="append", choices=["sqlite", "postgres", "memory"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke tests)")
    parser.add_argument("--out", type=Path, default=SCRATCH / "ab")
    args = parser.parse_args(argv)
    unknown = [n for n in args.only.split(",") if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}")
    pg_url = os.environ.get("DURABLY_TEST_POSTGRES")
    kinds = args.store or (["sqlite", "postgres"] if pg_url else ["sqlite"])
    if "postgres" in kinds and not pg_url:
        parser.error("--store postgres needs DURABLY_TEST_POSTGRES")
    args.stores = [StoreSpec(kind=kind, pg_url=pg_url) for kind in kinds]
    args.workloads = [BY_NAME[n] for n in args.only.split(",")]
    return args


def base_tree(rev: str) -> Path:
    """A detached worktree of ``rev`` (made once, reused while the commit is the same)."""
    sha = _git("rev-parse", "--short", rev)
    tree = SCRATCH / f"ab-base-{sha}"
    if not tree.exists():
        _git("worktree", "add", "--detach", str(tree), sha)
    return tree


def run_one(
    side: Path | None,
    workload: Workload,
    store: StoreSpec,
    quick: bool,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One child run on a fresh store: its figures and its CPU seconds."""
    url = store.fresh("durably", f"ab-{workload.name}")
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(SCRATCH / "pycache-ab"), **(extra_env or {}))
    if side is not None:
        env["PYTHONPATH"] = f"{side / 'src'}{os.pathsep}{side}"
    command = [sys.executable, "-m", "benchmarks.durably_child", workload.name, "--store", url]
    if workload.name == "startup":
        command = [sys.executable, "-m", "benchmarks.startup", "durably", url]
    elif quick:
        command.append("--quick")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        command, cwd=side or ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if store.kind == "sqlite":
        remove_sqlite(sqlite_path(url))
    lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{workload.name} failed: {done.stderr[-1500:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"figures": json.loads(lines[-1][len(RESULT_PREFIX) :]), "cpu_s": cpu}


def run(args: argparse.Namespace) -> dict[str, Any]:
    tree = args.base_tree.resolve() if args.base_tree else base_tree(args.base)
    sides: dict[str, Path | None] = {"base": tree, "new": None}
    new_env = dict(pair.split("=", 1) for pair in args.new_env)
    if args.base_tree and args.base_tree.resolve() == ROOT:
        sides["base"] = None  # one tree: the sides differ by --new-env only
    results: dict[str, Any] = {}
    for round_ in range(args.rounds):
        order = ["base", "new"] if round_ % 2 == 0 else ["new", "base"]
        for store in args.stores:
            for workload in args.workloads:
                for side in order:
                    env = new_env if side == "new" else None
                    outcome = run_one(sides[side], workload, store, args.quick, env)
                    key = f"{store.label}/{workload.name}"
                    results.setdefault(key, {"base": [], "new": []})[side].append(outcome)
                    headline = outcome["figures"].get(workload.metrics[0].key)
                    cpu = outcome["cpu_s"]
                    print(f"round {round_ + 1} {key} {side}: {headline} (cpu {cpu:.2f} s)")
    base = str(tree) if args.base_tree else _git("rev-parse", "--short", args.base)
    if sides["base"] is None:
        base = _head()
    new = _head() + "".join(f" {pair}" for pair in args.new_env)
    return {"base": base, "new": new, "results": results}


def table(doc: dict[str, Any]) -> str:
    """Medians of each side's headline figure and CPU time, and the change."""
    lines = [
        f"A/B: base {doc['base']} vs new {doc['new']}: medians (min..max) of the runs, ABBA order",
        "",
        "| store / workload | figure | base | new | change | CPU base (s) | CPU new (s) | change |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, sides in doc["results"].items():
        metric = BY_NAME[key.split("/")[1]].metrics[0]
        values = {s: [r["figures"][metric.key] for r in runs] for s, runs in sides.items()}
        cpus = {s: [r["cpu_s"] for r in runs] for s, runs in sides.items()}
        fig = {s: statistics.median(v) for s, v in values.items()}
        cpu = {s: statistics.median(v) for s, v in cpus.items()}
        shown = {s: _spread(metric.fmt, fig[s], values[s]) for s in fig}
        lines.append(
            f"| {key} | {metric.label} ({metric.unit}) | {shown['base']} | {shown['new']} | "
            f"{_change(fig)} | {cpu['base']:.2f} | {cpu['new']:.2f} | {_change(cpu)} |"
        )
    notes = [_export_share(key, sides) for key, sides in doc["results"].items()]
    if any(notes):
        lines += ["", *(note for note in notes if note)]
    return "\n".join(lines) + "\n"


def _export_share(key: str, sides: dict[str, list[dict[str, Any]]]) -> str | None:
    """How much of the new side's CPU a span exporter spent encoding, when the runs
    traced (``export_cpu_s``), against the base side's whole CPU."""
    encoded = [r["figures"]["export_cpu_s"] for r in sides["new"] if "export_cpu_s" in r["figures"]]
    if not encoded:
        return None
    median = statistics.median(encoded)
    base_cpu = statistics.median(r["cpu_s"] for r in sides["base"])
    return (
        f"- {key}: the exporter encoding spans took {median:.2f} s of CPU (median), "
        f"{100 * median / base_cpu:.1f}% of the base side's CPU"
    )


def _spread(fmt: str, median: float, values: list[float]) -> str:
    """The median with the range of the runs: ``2.13 (2.01..2.30)``."""
    return f"{fmt.format(median)} ({fmt.format(min(values))}..{fmt.format(max(values))})"


def _change(medians: dict[str, float]) -> str:
    return f"{100 * (medians['new'] - medians['base']) / medians['base']:+.1f}%"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def _head() -> str:
    dirty = "+dirty" if _git("status", "--porcelain", "--", "src") else ""
    return _git("rev-parse", "--short", "HEAD") + dirty


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.time()
    doc = run(args)
    doc["command"] = "python -m benchmarks.ab " + " ".join(argv or sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ab.json").write_text(json.dumps(doc, indent=1))
    (args.out / "ab.md").write_text(table(doc) + f"\nCommand: `{doc['command']}`\n")
    print(table(doc))
    print(f"{time.time() - started:.0f} s; written to {args.out}")


if __name__ == "__main__":
    main()
