"""The workload catalogue: names, sizes, the figures each reports and the targets.

Standard library only: the runner, durably's child processes and DBOS's child processes
(in their own virtual environment) all read it. The definitions are the peers' ones, from
``shared/peers/WORKLOADS.md``; the targets are issue 5's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Better = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What a figure must reach. ``kind``: ``advantage`` (durably vs the peer, in x),
    ``at_most`` or ``at_least`` (durably's own figure). ``stores`` limits where it applies."""

    kind: Literal["advantage", "at_most", "at_least"]
    value: float
    stores: tuple[str, ...] = ()

    def describe(self, unit: str) -> str:
        if self.kind == "advantage":
            text = f">= {self.value:g}x peer"
        elif self.kind == "at_most":
            text = f"<= {self.value:g} {unit}"
        else:
            text = f">= {self.value:g} {unit}"
        return text + (f" ({'/'.join(self.stores)})" if self.stores else "")

    def met(self, value: float | None, advantage: float | None, store: str) -> bool | None:
        """True/False, or None when it does not apply or cannot be judged in this run."""
        if self.stores and store not in self.stores:
            return None
        if self.kind == "advantage":
            return None if advantage is None else advantage >= self.value
        if value is None:
            return None
        return value <= self.value if self.kind == "at_most" else value >= self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """One reported figure of a workload (the median over runs is what the tables show)."""

    key: str
    label: str
    unit: str
    better: Better | None  # None: informative only, no advantage computed
    fmt: str = "{:.1f}"
    target: Target | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A workload: ``sizes`` are its parameters, ``quick`` the tiny ones for smoke tests."""

    name: str
    summary: str
    sizes: dict[str, int]
    quick: dict[str, int]
    metrics: tuple[Metric, ...]
    timeout_s: float = 600.0
    repeats: int = 1  # child processes per run; the run's figure is their median
    peer_notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def params(self, quick: bool) -> dict[str, int]:
        return dict(self.quick if quick else self.sizes)


def _throughput(per_s_target: Target | None = None) -> tuple[Metric, ...]:
    return (
        Metric(
            key="orch_per_s",
            label="orchestrations/s",
            unit="orch/s",
            better="higher",
            target=per_s_target,
        ),
        Metric(key="act_per_s", label="activities/s", unit="act/s", better="higher", fmt="{:.0f}"),
        Metric(key="wall_s", label="wall", unit="s", better="lower", fmt="{:.2f}"),
    )


def _fanout(target: Target | None) -> tuple[Metric, ...]:
    return (
        Metric(key="wall_s", label="wall", unit="s", better="lower", fmt="{:.3f}", target=target),
        Metric(key="act_per_s", label="activities/s", unit="act/s", better="higher", fmt="{:.0f}"),
    )


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        name="latency",
        summary="1-activity orchestration, started and awaited one at a time "
        "(100 samples after 5 warm-ups)",
        sizes={"samples": 100, "warmups": 5},
        quick={"samples": 5, "warmups": 1},
        metrics=(
            Metric(
                key="p50_ms",
                label="p50",
                unit="ms",
                better="lower",
                fmt="{:.2f}",
                target=Target(kind="advantage", value=5),
            ),
            Metric(key="p99_ms", label="p99", unit="ms", better="lower", fmt="{:.2f}"),
        ),
        timeout_s=300,
    ),
    Workload(
        name="chain",
        summary="orchestration calling add_one 10 times in sequence; 200 of them one after another",
        sizes={"orchestrations": 200, "steps": 10},
        quick={"orchestrations": 3, "steps": 3},
        metrics=_throughput(Target(kind="advantage", value=5)),
        peer_notes="DBOS: the workflow function is called directly (as dbos_bench.py does)",
    ),
    Workload(
        name="chain-inflight",
        summary="the same 200 chains, all started before any is awaited",
        sizes={"orchestrations": 200, "steps": 10},
        quick={"orchestrations": 3, "steps": 3},
        metrics=_throughput(Target(kind="advantage", value=10)),
    ),
    Workload(
        name="fanout-200",
        summary="one orchestration fanning out 200 add_one and summing them (= 20100)",
        sizes={"width": 200},
        quick={"width": 5},
        metrics=_fanout(Target(kind="advantage", value=20)),
        peer_notes="DBOS: each step started with DBOS.start_workflow, then awaited in order",
    ),
    Workload(
        name="fanout-10k",
        summary="the same with 10,000 activities",
        sizes={"width": 10_000},
        quick={"width": 10},
        metrics=_fanout(Target(kind="at_most", value=5, stores=("sqlite",))),
        timeout_s=900,
    ),
    Workload(
        name="hello5",
        summary="5,000 orchestrations of 5 sequential activities, all started at once",
        sizes={"orchestrations": 5000, "steps": 5},
        quick={"orchestrations": 5, "steps": 2},
        metrics=_throughput(Target(kind="at_least", value=500, stores=("sqlite",))),
        timeout_s=1200,
    ),
    Workload(
        name="long-history",
        summary="one orchestration of 10,000 sequential activities vs one of 1,000",
        sizes={"short": 1000, "long": 10_000},
        quick={"short": 5, "long": 20},
        metrics=(
            Metric(
                key="per_act_ms_short",
                label="time per activity, 1,000",
                unit="ms",
                better="lower",
                fmt="{:.3f}",
            ),
            Metric(
                key="per_act_ms_long",
                label="time per activity, 10,000",
                unit="ms",
                better="lower",
                fmt="{:.3f}",
            ),
            Metric(
                key="linearity",
                label="ratio 10,000 / 1,000 per activity",
                unit="x",
                better=None,
                fmt="{:.2f}",
                target=Target(kind="at_most", value=1.3),
            ),
        ),
        timeout_s=900,
    ),
    Workload(
        name="startup",
        summary="fresh process: import time; import + open an empty store + first "
        "orchestration done",
        sizes={},
        quick={},
        metrics=(
            Metric(
                key="import_ms",
                label="import",
                unit="ms",
                better="lower",
                fmt="{:.0f}",
                target=Target(kind="at_most", value=100),
            ),
            Metric(
                key="first_ms",
                label="import + open + first orchestration",
                unit="ms",
                better="lower",
                fmt="{:.0f}",
                target=Target(kind="at_most", value=300),
            ),
            Metric(
                key="process_ms",
                label="whole process (interpreter start to exit)",
                unit="ms",
                better="lower",
                fmt="{:.0f}",
            ),
        ),
        timeout_s=120,
        repeats=5,
        peer_notes="DBOS: import dbos; DBOS(config) + DBOS.launch() + first workflow",
    ),
    Workload(
        name="memory-10k",
        summary="a worker with 10,000 instances in flight, each waiting on an external event",
        sizes={"instances": 10_000},
        quick={"instances": 10},
        metrics=(
            Metric(
                key="rss_mb",
                label="RSS with all instances waiting",
                unit="MB",
                better="lower",
                fmt="{:.0f}",
                target=Target(kind="at_most", value=500),
            ),
            Metric(key="rss_base_mb", label="RSS before", unit="MB", better=None, fmt="{:.0f}"),
            Metric(key="rss_peak_mb", label="peak RSS", unit="MB", better="lower", fmt="{:.0f}"),
            Metric(
                key="start_s",
                label="start all and see them waiting",
                unit="s",
                better="lower",
                fmt="{:.1f}",
            ),
            Metric(
                key="drain_s",
                label="raise 10,000 events, all complete",
                unit="s",
                better="lower",
                fmt="{:.1f}",
            ),
        ),
        timeout_s=1200,
        peer_notes="DBOS: each workflow blocks a thread in DBOS.recv()",
    ),
)

BY_NAME: dict[str, Workload] = {w.name: w for w in WORKLOADS}
NAMES: tuple[str, ...] = tuple(w.name for w in WORKLOADS)

# Untimed warm-up before every timed workload (as dbos_bench.py does): one-activity
# orchestrations and one chain, so no figure includes first-call costs.
WARMUP_ONE_STEP = 5
WARMUP_CHAINS = 1


def expected_fanout_sum(width: int) -> int:
    return sum(i + 1 for i in range(width))
