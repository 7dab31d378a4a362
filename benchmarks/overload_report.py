"""What an overload run measured (:class:`Outcome`, :class:`Sample`) and its markdown."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.overload_app import ORCHESTRATOR

FINISHED = ("Completed", "Failed", "Terminated")
FLAT_MARGIN = 0.05  # RSS is flat if the second half's peak is at most this much higher


@dataclass(frozen=True, slots=True)
class Sample:
    """The store's backlog and the workers' RSS at one moment."""

    t: float  # seconds since the first start
    started: int
    statuses: dict[str, int]
    activities: int  # queued activity work (rows of durably_activities)
    inbox: int
    rss: tuple[float | None, ...]  # MiB per worker (empty before the workers run)
    threads: tuple[int | None, ...] = ()  # per worker
    cached: tuple[int | None, ...] = ()  # live orchestrations in each worker's cache

    def count(self, *names: str) -> int:
        return sum(self.statuses.get(name, 0) for name in names)

    @property
    def backlog(self) -> int:
        """Instances started and not finished."""
        return self.count("Pending", "Running", "Suspended")


@dataclass
class Outcome:
    """What one run measured."""

    kind: str
    instances: int
    workers: int
    clients: int
    backlog_first: bool
    durability: str
    started: int = 0
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    burst_s: float = 0.0
    workers_ready_at: float = 0.0  # seconds after the first start (0: ready before it)
    samples: list[Sample] = field(default_factory=list)
    done_at: float | None = None  # seconds from the first start to the last finish
    timeout: float = 0.0
    completed_ok: int = 0
    other: collections.Counter[str] = field(default_factory=collections.Counter)
    wrong: list[str] = field(default_factory=list)
    ready_rss: list[float | None] = field(default_factory=list)
    hwm: list[float | None] = field(default_factory=list)
    cpu: list[float | None] = field(default_factory=list)
    exit_codes: list[int | None] = field(default_factory=list)
    size_bytes: int | None = None
    sample_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    load: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    @property
    def ok(self) -> bool:
        return (
            self.done_at is not None
            and self.completed_ok == self.started
            and not self.other
            and all(code == 0 for code in self.exit_codes)
        )


@dataclass(frozen=True, slots=True)
class WorkerMemory:
    """One worker's RSS (MiB): when ready, its peak, at the end, and the peaks of the two
    halves of the time from the workers' start to the last finish."""

    ready: float | None
    peak: float | None
    end: float | None
    first: float | None
    second: float | None

    @property
    def flat(self) -> bool | None:
        if self.first is None or self.second is None:
            return None
        return self.second <= self.first * (1 + FLAT_MARGIN)


def worker_memory(o: Outcome, number: int) -> WorkerMemory:
    mine = [(s.t, s.rss[number]) for s in o.samples if len(s.rss) > number]
    begin = max(o.workers_ready_at, 0.0)
    end = o.done_at if o.done_at is not None else o.samples[-1].t
    middle = (begin + end) / 2
    return WorkerMemory(
        ready=o.ready_rss[number],
        peak=_peak([rss for _, rss in mine]),
        end=mine[-1][1] if mine else None,
        first=_peak([rss for t, rss in mine if begin < t <= middle]),
        second=_peak([rss for t, rss in mine if middle < t <= end]),
    )


def _peak(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _loads(values: Sequence[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def markdown(o: Outcome, command: str, about: dict[str, Any]) -> str:
    verdict = "all completed" if o.ok else "NOT all completed"
    mode = ", every start before the workers" if o.backlog_first else ""
    lines = [
        f"### Overload on {o.kind}: {o.instances:,} instances{mode}, {verdict}",
        "",
        f"Command: `{command}`",
        "",
        f"- Store: {o.durability}",
        f"- Machine: {about['cores']} cores ({about['cpu']}), {about['memory_gb']} GB;"
        f" Python {about['python']}, SQLite {about['sqlite']}, durably {about['durably']}"
        f" ({about['durably_commit']}); load average (1, 5, 15 min) before"
        f" {_loads(o.load[0])}, after {_loads(o.load[1])}",
        f"- Workload: `{ORCHESTRATOR}` (two `add_one` activities in sequence), started by"
        f" {o.clients} client threads (one `Client` each) as fast as they go, drained by"
        f" {o.workers} worker processes `python -m benchmarks.overload_app URL` (a"
        " `durably.Worker` with its defaults, as `durably worker` runs it:"
        " activity_concurrency 128, orchestration_batch_size 64, cache_size 4096,"
        " cache_idle_seconds 300)"
        + (", started once every instance had been started" if o.backlog_first else ""),
        *_burst_lines(o),
        *_backlog_lines(o),
        f"- Workers: exit codes after SIGTERM {', '.join(str(c) for c in o.exit_codes)};"
        f" CPU {', '.join(_num(c) for c in o.cpu)} s",
    ]
    if o.size_bytes is not None:
        lines.append(f"- Store size at the end: {o.size_bytes / 2**20:.0f} MiB (file and WAL)")
    if o.sample_errors:
        lines.append(f"- Samples skipped (store busy): {dict(o.sample_errors)}")
    return "\n".join(lines + _memory_lines(o) + _timeline(o)) + "\n"


def _burst_lines(o: Outcome) -> list[str]:
    refused = (
        ", ".join(f"{n:,} times {why}" for why, n in o.refused.most_common())
        or "none (durably has no backlog limit: every start is accepted)"
    )
    lines = [
        f"- Starts: {o.started:,} in {o.burst_s:.1f} s ({o.started / o.burst_s:,.0f} starts/s);"
        f" refused: {refused}"
    ]
    if o.done_at is None:
        lines.append(f"- Drain: **not finished** within {o.timeout:.0f} s")
    else:
        finished = o.completed_ok + sum(o.other.values())
        since_workers = o.done_at - max(o.workers_ready_at, 0.0)
        lines.append(
            f"- Drain: the last instance finished {o.done_at:.1f} s after the first start"
            f" ({finished / o.done_at:,.0f} orchestrations/s,"
            f" {2 * finished / o.done_at:,.0f} activities/s overall),"
            f" {o.done_at - o.burst_s:.1f} s after the last start"
            + (
                f"; the workers drained it in {since_workers:.1f} s"
                f" ({finished / since_workers:,.0f} orchestrations/s)"
                if o.backlog_first
                else ""
            )
        )
    other = ", ".join(f"{n:,} {status}" for status, n in o.other.most_common()) or "none"
    lines.append(f"- Check: {o.completed_ok:,} Completed with the right output; other: {other}")
    return lines + [f"  - {w}" for w in o.wrong]


def _backlog_lines(o: Outcome) -> list[str]:
    peak = max(o.samples, key=lambda s: s.backlog)
    return [
        f"- Peak backlog: {peak.backlog:,} unfinished instances at {peak.t:.0f} s"
        f" (pending {peak.count('Pending'):,}, running {peak.count('Running'):,});"
        f" peak queued activity work {max(s.activities for s in o.samples):,};"
        f" peak inbox {max(s.inbox for s in o.samples):,} messages"
    ]


def _memory_lines(o: Outcome) -> list[str]:
    memory = [worker_memory(o, n) for n in range(o.workers)]
    flat = [m.flat for m in memory]
    verdict = "yes" if all(flat) else "**no**" if False in flat else "unknown (too short)"
    lines = [
        f"- RSS stayed flat: {verdict} (each worker's peak in the second half of its run at"
        f" most {FLAT_MARGIN:.0%} above its peak in the first half; sampled once a second,"
        " VmHWM is the kernel's exact peak)",
        "",
        "| worker | RSS when ready (MiB) | peak | at the end | peak, 1st half | peak, 2nd half"
        " | VmHWM | threads at the end | cached orchestrations: peak, at the end | CPU (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    end = o.samples[-1]
    for n, m in enumerate(memory):
        cached = [s.cached[n] for s in o.samples if len(s.cached) > n]
        lines.append(
            f"| {n} | {_num(m.ready)} | {_num(m.peak)} | {_num(m.end)} | {_num(m.first)}"
            f" | {_num(m.second)} | {_num(o.hwm[n])} | {_at(end.threads, n)}"
            f" | {_num(_peak(cached), 0)}, {_at(end.cached, n)} | {_num(o.cpu[n])} |"
        )
    return lines


def _at(values: tuple[int | None, ...], n: int) -> str:
    return str(values[n]) if len(values) > n and values[n] is not None else "-"


def _timeline(o: Outcome, rows: int = 12) -> list[str]:
    samples = o.samples
    step = max(1, round((len(samples) - 1) / (rows - 1)))
    chosen = samples[::step]
    if chosen[-1] is not samples[-1]:
        chosen.append(samples[-1])
    lines = [
        "",
        "| t (s) | started | unfinished | pending | running | finished | activity queue"
        " | inbox | worker RSS (MiB) | worker threads | cached orchestrations |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for s in chosen:
        rss = ", ".join(_num(r) for r in s.rss) or "-"
        threads = ", ".join(_at(s.threads, n) for n in range(len(s.threads))) or "-"
        cached = ", ".join(_at(s.cached, n) for n in range(len(s.cached))) or "-"
        lines.append(
            f"| {s.t:.0f} | {s.started:,} | {s.backlog:,} | {s.count('Pending'):,}"
            f" | {s.count('Running'):,} | {s.count(*FINISHED):,} | {s.activities:,}"
            f" | {s.inbox:,} | {rss} | {threads} | {cached} |"
        )
    return lines
