"""The seeded chaos workload: what to start, what the driver does to it, what must come out.

``spec(seed, n)`` is instance ``n`` of the run with that seed, the same every time: a
failing seed reproduces its workload (the moments faults land at depend on timing).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Kinds and their weights in the mix.
KINDS: dict[str, int] = {
    "chain": 20,
    "fan": 12,
    "timer": 9,
    "approval": 10,
    "race": 5,
    "suspendable": 8,
    "parent": 8,
    "retried": 8,
    "counter": 8,
    "doomed": 5,
    "rewound": 7,
}


@dataclass(frozen=True, slots=True)
class Step:
    """Something the driver does to an instance ``after`` seconds from its start:
    ``raise`` (an event), ``suspend``, ``resume`` or ``terminate``."""

    after: float
    action: str
    event: str = ""
    value: Any = None


@dataclass(frozen=True, slots=True)
class Spec:
    instance_id: str
    kind: str
    input: Any
    status: str  # the final runtime status
    output: Any
    steps: tuple[Step, ...] = ()
    children: dict[str, tuple[str, Any]] = field(default_factory=dict)  # id -> status, output
    # Children that exist only if the parent ran before it was terminated.
    maybe_children: dict[str, tuple[str, Any]] = field(default_factory=dict)
    marker: Path | None = None  # created by the driver before it rewinds (kind "rewound")

    @property
    def rewinds(self) -> bool:
        return self.kind == "rewound"


def spec(seed: int, n: int, markers: Path) -> Spec:
    rng = random.Random(f"{seed}:{n}")
    kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    instance_id = f"s{seed}-{n:06d}-{kind}"
    x = rng.randrange(1000)
    match kind:
        case "chain":
            length = rng.randint(1, 8)
            return Spec(instance_id, kind, {"n": length, "x": x}, "Completed", x + length)
        case "fan":
            # Now and then a wide one: results come back in batches.
            width = rng.randint(300, 600) if rng.random() < 0.03 else rng.randint(1, 64)
            return Spec(instance_id, kind, {"n": width}, "Completed", width * (width - 1))
        case "timer":
            seconds = round(rng.uniform(0.2, 3.0), 3)
            return Spec(instance_id, kind, {"seconds": seconds, "x": x}, "Completed", x + 1)
        case "approval":
            value = rng.randrange(100)
            # Some events arrive before the instance has run at all: they wait for it.
            after = 0.0 if rng.random() < 0.3 else rng.uniform(0.1, 2.0)
            steps = (Step(after, "raise", "approve", value),)
            return Spec(instance_id, kind, {"x": x}, "Completed", x + value, steps)
        case "race":
            seconds = round(rng.uniform(0.2, 1.5), 3)
            return Spec(instance_id, kind, {"seconds": seconds}, "Completed", "timeout")
        case "suspendable":
            value = rng.randrange(100)
            suspend_at = rng.uniform(0.0, 0.5)
            raise_at = suspend_at + rng.uniform(0.0, 1.0)  # the event arrives while suspended
            resume_at = raise_at + rng.uniform(0.1, 1.0)
            steps = (
                Step(suspend_at, "suspend"),
                Step(raise_at, "raise", "go", value),
                Step(resume_at, "resume"),
            )
            return Spec(instance_id, kind, {"x": x}, "Completed", x + 1 + value, steps)
        case "parent":
            k = rng.randint(1, 5)
            children = {f"{instance_id}.c{i}": ("Completed", x + i + 2) for i in range(k)}
            output = sum(out for _, out in children.values())
            return Spec(instance_id, kind, {"k": k, "x": x}, "Completed", output, (), children)
        case "retried":
            arg = {"marker": str(markers / f"{instance_id}.flaky"), "value": x}
            return Spec(instance_id, kind, arg, "Completed", 2 * x)
        case "counter":
            total = rng.randint(2, 6)
            output = sum(range(total)) + x
            arg = {"gen": 0, "total": total, "acc": x}
            return Spec(instance_id, kind, arg, "Completed", output)
        case "doomed":
            reason = f"doomed {n}"
            steps = (Step(rng.uniform(0.2, 2.0), "terminate", value=reason),)
            maybe = {f"{instance_id}.sleeper": ("Terminated", reason)}
            return Spec(instance_id, kind, {}, "Terminated", reason, steps, maybe_children=maybe)
        case "rewound":
            marker = markers / f"{instance_id}.fixed"
            arg = {"marker": str(marker), "value": x}
            return Spec(instance_id, kind, arg, "Completed", x + 1 + 3 * x, marker=marker)
    raise AssertionError(kind)
