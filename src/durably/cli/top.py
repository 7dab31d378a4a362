"""``durably top``: a live view of a store, from any machine that reaches it.

Each refresh reads the store once:

- its summary (counts by status and the backlog, from indexes);
- the instances created in the window (a range of the created-time index), to get
  throughput, latency percentiles and failures per orchestrator;
- the oldest instances still running, which are the slowest ones.
"""

from __future__ import annotations

import datetime as _dt
import signal
import statistics
import time
from dataclasses import dataclass, field
from types import FrameType

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from durably.backends.base import Backend, InstanceQuery, InstanceRecord
from durably.backends.summaries import listed, summarize
from durably.cli.options import command
from durably.cli.render import STATUS_STYLE, console
from durably.client import Client
from durably.history import TERMINAL_STATUSES, OrchestrationRuntimeStatus

Status = OrchestrationRuntimeStatus
SCAN = 20_000
"""Instances read from the window at most, each refresh."""


@dataclass
class _Function:
    started: int = 0
    finished: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass
class Snapshot:
    """What one refresh read."""

    now: _dt.datetime
    window: _dt.timedelta
    counts: dict[Status, int]
    backlog: dict[str, int]
    oldest: dict[str, _dt.datetime | None]
    functions: dict[str, _Function]
    running: list[InstanceRecord]
    failures: list[InstanceRecord]
    truncated: bool


def read(backend: Backend, window: _dt.timedelta, now: _dt.datetime | None = None) -> Snapshot:
    """One reading of the store for the view."""
    now = now or _dt.datetime.now(_dt.UTC)
    summary = summarize(backend, now, 0)
    functions: dict[str, _Function] = {}
    failures: list[InstanceRecord] = []
    seen = 0
    window_query = InstanceQuery(created_time_from=now - window, page_size=1000)
    for record in listed(backend, window_query, limit=SCAN):
        seen += 1
        stats = functions.setdefault(record.name, _Function())
        stats.started += 1
        if record.runtime_status in TERMINAL_STATUSES:
            stats.finished += 1
            elapsed = (record.last_updated_time - record.created_time).total_seconds()
            stats.latencies.append(elapsed)
        if record.runtime_status is Status.Failed:
            stats.failed += 1
            failures.append(record)
    running = backend.list_instances(
        InstanceQuery(runtime_status=frozenset({Status.Running}), page_size=10)
    ).instances
    failures.sort(key=lambda r: r.last_updated_time, reverse=True)
    return Snapshot(
        now=now,
        window=window,
        counts=dict(summary.counts),
        backlog=dict(summary.backlog),
        oldest=dict(summary.oldest),
        functions=functions,
        running=list(running),
        failures=failures[:10],
        truncated=seen >= SCAN,
    )


def render(snapshot: Snapshot) -> Group:
    """The view of one snapshot."""
    minutes = snapshot.window.total_seconds() / 60
    header = Text()
    header.append("durably top", style="bold")
    header.append(f"  {snapshot.now:%Y-%m-%d %H:%M:%S}Z  window {minutes:g} min  ")
    for status, count in sorted(snapshot.counts.items()):
        header.append(f"{status.value} {count:,}  ", style=STATUS_STYLE.get(status, "white"))
    backlog = Text("backlog  ")
    for kind in ("orchestration", "activity"):
        due = snapshot.oldest.get(kind)
        age = f", oldest {(snapshot.now - due).total_seconds():.1f} s" if due else ""
        backlog.append(f"{kind} {snapshot.backlog.get(kind, 0):,}{age}   ")
    functions = Table(title="orchestrators (instances created in the window)", expand=True)
    for column in ("name", "started/min", "finished/min", "failed", "p50 s", "p95 s", "max s"):
        functions.add_column(column, justify="left" if column == "name" else "right")
    for name, stats in sorted(snapshot.functions.items(), key=lambda kv: -kv[1].started):
        p50, p95, top = _percentiles(stats.latencies)
        functions.add_row(
            name,
            f"{stats.started / minutes:.1f}",
            f"{stats.finished / minutes:.1f}",
            Text(str(stats.failed), style="red" if stats.failed else ""),
            p50,
            p95,
            top,
        )
    running = Table(title="running longest", expand=True)
    for column in ("instance", "name", "running for", "updated"):
        running.add_column(column)
    for record in snapshot.running:
        running_for = (snapshot.now - record.created_time).total_seconds()
        shown = f"{running_for:,.1f} s"
        running.add_row(record.instance_id, record.name, shown, _ago(snapshot, record))
    failed = Table(title="failed in the window", expand=True)
    for column in ("instance", "name", "failed"):
        failed.add_column(column)
    for record in snapshot.failures:
        failed.add_row(record.instance_id, record.name, _ago(snapshot, record))
    parts: list[object] = [header, backlog, functions, running, failed]
    if snapshot.truncated:
        parts.append(Text(f"(the window holds more than {SCAN:,} instances: read the first)"))
    return Group(*parts)  # type: ignore[arg-type]


def _percentiles(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return "-", "-", "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(ordered):.3f}", f"{p95:.3f}", f"{ordered[-1]:.3f}"


def _ago(snapshot: Snapshot, record: InstanceRecord) -> str:
    return f"{(snapshot.now - record.last_updated_time).total_seconds():,.1f} s ago"


@click.command()
@click.option(
    "--window", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="Minutes."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@click.option("--once", is_flag=True, help="Print one view and exit (scripts, tests).")
@command
def top(window: float, interval: float, once: bool, store: str | None) -> None:
    """A live view of the store: throughput and latency per orchestrator, the backlog and
    its age, the instances running longest and the recent failures. Ctrl-C to quit."""
    with Client(store) as client:
        span = _dt.timedelta(minutes=window)
        if once:
            console.print(render(read(client.backend, span)))
            return
        with Live(render(read(client.backend, span)), console=console, screen=False) as live:
            # SIGTERM ends the view as Ctrl-C does, so its last frame is written (to a
            # file or pipe, that frame is all the view writes).
            previous = signal.signal(signal.SIGTERM, _interrupt)
            try:
                while True:
                    time.sleep(interval)
                    live.update(render(read(client.backend, span)))
            except KeyboardInterrupt:
                pass
            finally:
                signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
