"""Where an orchestrator's replay of a history parts from it: the checks behind ``replay``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, assert_never, cast

from durably.actions import (
    Action,
    AnyAction,
    CallEntity,
    CompleteOrchestration,
    CreateTimer,
    LockEntities,
    ScheduleTask,
    SendEvent,
    StartSubOrchestration,
    UnlockEntity,
)
from durably.engine.replay import EpisodeResult, OrchestrationExecutor
from durably.history import (
    ContinueAsNew,
    EventSent,
    ExecutionCompleted,
    ExecutionStarted,
    FailureDetails,
    HistoryEvent,
    OrchestrationRuntimeStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    SubOrchestrationInstanceCreated,
    TaskScheduled,
    TimerCreated,
)

if TYPE_CHECKING:
    from durably.testing.replay import ReplayReport

Status = OrchestrationRuntimeStatus

NO_HISTORY_LIMIT = 2**62
"""Replays here only read what the code does: they must never fail a history for length."""
_IMPOSED_FAILURES = frozenset(
    {
        "NonDeterministicOrchestrationError",
        "HistoryTooLongError",
        "PoisonWorkError",
        "VersionMismatchError",
    }
)
"""Failures a worker records without the orchestrator's code raising them."""
_UNKNOWN_ORCHESTRATOR = "no orchestrator named "
"""How a worker whose app lacks the orchestrator fails its instance (a ValueError)."""
_SCHEDULED = (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated, EventSent)
_ENDINGS = (ExecutionCompleted, ContinueAsNew)


class Divergences:
    """Finds the first history position where an orchestrator's replay parts from history.

    The engine's replay checks each recorded scheduling event against the call the code
    makes. The rest is checked at episode ends (after each ``OrchestratorCompleted``),
    where the code must have asked for nothing history did not record and must not have
    finished unless history records the execution's end there. Where that fails, a
    bisection over episode ends, each a fresh replay of the history up to it, finds the
    episode: once asked for and never recorded, an action stays unrecorded, and a
    finished orchestrator stays finished.
    """

    def __init__(
        self,
        new_executor: Callable[[], OrchestrationExecutor],
        events: Sequence[HistoryEvent],
        report: ReplayReport,
    ) -> None:
        self._new_executor = new_executor
        self._events = events
        self._report = report
        self._limit = report.events_replayed  # the engine's divergence, or the end
        self._ends = [
            index + 1
            for index, event in enumerate(events[: self._limit])
            if isinstance(event, OrchestratorCompleted)
        ]
        self._ending = next((i for i, e in enumerate(events) if isinstance(e, _ENDINGS)), None)

    def first(self) -> str | None:
        """The first divergence as ``history position N: ...``, or None."""
        nondeterminism = self._report.nondeterminism
        found = [
            None if nondeterminism is None else self._engine_divergence(nondeterminism),
            self._finished_early(),
            self._unrecorded_work(),
            None if nondeterminism is not None else self._outcome(),
        ]
        # At one position the first finding in this order is the most precise.
        return min((f for f in found if f is not None), key=lambda f: f[0], default=(0, None))[1]

    def _engine_divergence(self, error: Exception) -> tuple[int, str]:
        """The engine's message, and how the orchestrator had ended if it had."""
        completion = self._probe(self._limit).completion if self._limit else None
        if completion is None:
            return self._limit, str(error)
        return self._limit, f"{error}: it had already ended, {_describe_completion(completion)}"

    def _probe(self, cut: int) -> EpisodeResult:
        """What the code has done after replaying ``events[:cut]``, read by an empty episode."""
        executor = self._new_executor()
        executor.replay(self._events[:cut])
        return executor.execute([], self._events[cut - 1].timestamp)

    def _finished_early(self) -> tuple[int, str] | None:
        ending = self._ending
        cuts = [cut for cut in self._ends if ending is None or cut < ending]
        if not cuts or self._probe(cuts[-1]).completion is None:
            return None
        cut = _first(cuts, lambda c: self._probe(c).completion is not None)
        completion = self._probe(cut).completion
        assert completion is not None
        later = "" if ending is None else f" (it records the end at position {ending})"
        return cut - 1, (
            f"history position {cut - 1}: on replay the orchestrator ends "
            f"{_describe_completion(completion)} in the episode at {self._span(cut)}, "
            f"where history records it still running{later}"
        )

    def _unrecorded_work(self) -> tuple[int, str] | None:
        if not self._ends:
            return None
        last = self._ends[-1]
        tail = self._events[last : self._limit]
        recorded_later = {e.event_id for e in tail if isinstance(e, _SCHEDULED)}
        asked: Sequence[Action]
        if self._report.nondeterminism is None and all(isinstance(e, _ENDINGS) for e in tail):
            asked = self._report.pending_actions  # the full replay's state: no replay needed
        else:
            asked = self._probe(last).actions
        new = [
            a
            for a in asked
            if not isinstance(a, CompleteOrchestration) and a.task_id not in recorded_later
        ]
        if not new:
            return None
        action = cast(AnyAction, min(new, key=lambda a: a.task_id))
        cut = _first(
            self._ends, lambda c: any(a.task_id == action.task_id for a in self._probe(c).actions)
        )
        text = (
            f"history position {cut - 1}: on replay the orchestrator schedules "
            f"{_describe_action(action)}, which history does not record in the episode at "
            f"{self._span(cut)}"
        )
        if self._ending == cut:
            status = self._report.recorded_status
            text += f"; history records the orchestration {status} there: new work after its end"
        return cut - 1, text

    def _outcome(self) -> tuple[int, str] | None:
        report = self._report
        recorded = _Outcome(
            report.recorded_status, report.recorded_output, report.recorded_failure_details
        )
        reached = _Outcome(report.runtime_status, report.output, report.failure_details)
        if recorded.key() == reached.key():
            return None
        at = len(self._events) - 1 if self._ending is None else self._ending
        if recorded.is_final and not reached.is_final:
            return at, (
                f"history position {at}: history records the orchestration {recorded} there, "
                "but on replay the orchestrator has not finished by then"
            )
        return at, (
            f"history position {at}: history records the orchestration {recorded}, but on "
            f"replay it is {reached}"
        )

    def _span(self, cut: int) -> str:
        end = cut - 1
        begin = next(
            (i for i in range(end, -1, -1) if isinstance(self._events[i], OrchestratorStarted)), 0
        )
        return f"positions {begin}-{end}"


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: OrchestrationRuntimeStatus
    output: str | None
    failure: FailureDetails | None

    @property
    def is_final(self) -> bool:
        return self.status.is_terminal or self.status is Status.ContinuedAsNew

    def key(self) -> tuple[Any, ...]:
        """Outputs compare as JSON values; failures by type and message (see failure_key)."""
        if self.status is Status.Failed:
            return (self.status, failure_key(self.failure))
        if self.is_final:
            return (self.status, decoded(self.output))
        return (self.status,)

    def __str__(self) -> str:
        if self.status is Status.Failed and self.failure is not None:
            return f"Failed with {_short(str(self.failure))}"
        if self.status is Status.ContinuedAsNew:
            return f"ContinuedAsNew with input {_short(self.output)}"
        if self.is_final:
            return f"{self.status} with output {_short(self.output)}"
        return str(self.status)


def _first(cuts: Sequence[int], holds: Callable[[int], bool]) -> int:
    """The first of ``cuts`` where ``holds``, which holds at the last one and stays true."""
    low, high = 0, len(cuts) - 1
    while low < high:
        middle = (low + high) // 2
        if holds(cuts[middle]):
            high = middle
        else:
            low = middle + 1
    return cuts[low]


def before_imposed_failure(events: list[HistoryEvent]) -> list[HistoryEvent]:
    """``events`` without the episode that recorded a failure durably imposed, if any."""
    ending = next((i for i, e in enumerate(events) if isinstance(e, ExecutionCompleted)), None)
    if ending is None:
        return events
    failure = cast(ExecutionCompleted, events[ending]).failure_details
    if failure is None:
        return events
    unknown = failure.error_type == "ValueError" and failure.message.startswith(
        _UNKNOWN_ORCHESTRATOR
    )
    if failure.error_type not in _IMPOSED_FAILURES and not unknown:
        return events
    begin = next(
        (i for i in range(ending, -1, -1) if isinstance(events[i], OrchestratorStarted)), 0
    )
    started = next(i for i, e in enumerate(events) if isinstance(e, ExecutionStarted))
    return events[: max(begin, started + 1)]


def _describe_action(action: AnyAction) -> str:
    match action:
        case ScheduleTask():
            what = f"activity {action.name!r} with input {_short(action.input)}"
        case CreateTimer():
            what = f"a timer firing at {action.fire_at.isoformat()}"
        case StartSubOrchestration():
            what = f"sub-orchestration {action.name!r} with input {_short(action.input)}"
        case SendEvent():
            what = f"event {action.name!r} to instance {action.instance_id!r}"
        case CallEntity():
            verb = "signal" if action.signal else "call"
            what = f"entity {verb} {action.operation!r} on {action.instance_id!r}"
        case LockEntities():
            what = f"the locks of {', '.join(action.lock_set)}"
        case UnlockEntity():
            what = f"the release of the lock on {action.instance_id!r}"
        case CompleteOrchestration():
            what = "its completion"
        case _:
            assert_never(action)
    return f"{what} (task {action.task_id})"


def _describe_completion(completion: CompleteOrchestration) -> str:
    return str(_Outcome(completion.status, completion.result, completion.failure_details))


def _short(text: str | None, limit: int = 80) -> str:
    shown = "null" if text is None else text
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def decoded(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def failure_key(failure: FailureDetails | None) -> tuple[str, str] | None:
    """Failures compare by type and message: tracebacks change with any edit to the code."""
    return None if failure is None else (failure.error_type, failure.message)
