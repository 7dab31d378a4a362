"""Random orchestrator programs: plain JSON data, an interpreter and a reference evaluation.

A program is ``{"steps": [step, ...], "rounds": n}``; each step is a JSON list naming what
to do (``["act", 4]``, ``["try", [steps]]``, ``["sub", program]``...). The interpreter
(:func:`program_orchestrator`, registered as ``"program"``) runs one as an orchestrator
generator; after its steps an execution continues as new until ``rounds`` is reached.
:func:`reference` computes what running it must give, directly, with no engine: the
output, the failure, the custom status, and which events the instance consumes (the tests
raise exactly those).

Every outcome is decided by the program alone, never by timing: the activity fails or
succeeds by its input, each event name is awaited once, and a race is between something
that comes at once and a timer of :data:`LONG_MS` (which never fires during a test) or
something that never comes and a short timer.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import zlib
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from durably import OrchestrationContext, RetryOptions, TaskFailedError

Program = dict[str, Any]
Step = list[Any]

LONG_MS = 60_000
"""A timer that outlasts every test: the other side of its race always wins."""
WAIT_KINDS = ("plain", "raised", "missed")
"""``wait`` steps: no timeout; a raised event with a long timeout; a short timeout and no
event (TimeoutError, caught by the step)."""


# -- the activity and the events -------------------------------------------------------
def act(x: int) -> int:
    """The one activity: refuses inputs ending in 3 or 8, so failures follow the data."""
    if x % 5 == 3:
        raise ValueError(f"act refuses {x}")
    return (x * 7 + 3) % 1000


def event_data(name: str) -> int:
    """The data the tests raise with event ``name``."""
    return zlib.crc32(name.encode()) % 100


def event_name(path: str, round_: int) -> str:
    """The event a step awaits: one name per step and execution, so none is awaited twice."""
    return f"e{path}-r{round_}"


def start_input(program: Program, acc: int = 0) -> dict[str, Any]:
    """The input of a program's first execution."""
    return {"program": program, "round": 0, "acc": acc, "trace": []}


# -- the strategy ------------------------------------------------------------------------
def _step(*parts: st.SearchStrategy[Any]) -> st.SearchStrategy[Step]:
    return st.tuples(*parts).map(list)


def programs(
    depth: int = 2, *, events: bool = True, clock: bool = False
) -> st.SearchStrategy[Program]:
    """Programs nested ``depth`` deep (``sub`` and ``try``). Sub-programs wait for no
    events: the tests raise events on the top instance only. ``clock`` adds ``now``
    steps, which record the orchestration's time and a ``new_uuid()``: equal in a replay,
    but not from one run on a real clock to another."""
    rounds = st.integers(0, 2 if events else 1)
    return st.fixed_dictionaries(
        {"steps": steps(depth, events=events, clock=clock), "rounds": rounds}
    )


def steps(depth: int, *, events: bool, clock: bool = False) -> st.SearchStrategy[list[Step]]:
    small, ms = st.integers(0, 20), st.integers(1, 30)
    options = [
        _step(st.just("calc"), st.integers(1, 9), small),
        _step(st.just("act"), small),
        _step(st.just("status"), small),
        _step(st.just("timer"), st.integers(0, 30)),
        _step(st.just("retry"), small, st.integers(1, 3), ms),
        _step(st.just("fan"), st.lists(small, max_size=4)),
        _step(st.just("race_act"), small),
    ]
    if events:
        options += [
            _step(st.just("race_event"), st.booleans(), ms),
            _step(st.just("wait"), st.sampled_from(WAIT_KINDS), ms),
        ]
    if clock:
        options.append(st.just(["now"]))
    if depth > 0:
        child = programs(depth - 1, events=False, clock=clock)
        options += [
            _step(st.just("sub"), child),
            _step(st.just("sub_retry"), child, st.integers(1, 3), ms),
            _step(st.just("try"), steps(depth - 1, events=events, clock=clock)),
        ]
    return st.lists(st.one_of(options), max_size=4)


def without_clock(value: Any) -> Any:
    """``value`` (an output or a trace) with each ``now`` record reduced to ``["now"]``:
    what the reference evaluation, which has no clock, records."""
    if isinstance(value, list):
        if value and value[0] == "now":
            return ["now"]
        return [without_clock(item) for item in value]
    if isinstance(value, dict):
        return {key: without_clock(item) for key, item in value.items()}
    return value


# -- the interpreter ---------------------------------------------------------------------
class StepFailed(Exception):
    """A fan-out in which some activities failed; the message does not depend on which
    failure arrived first."""


def _ms(milliseconds: int) -> _dt.timedelta:
    return _dt.timedelta(milliseconds=milliseconds)


class _Execution:
    """One execution of a program: its accumulator, its trace, the steps that change them."""

    def __init__(self, context: OrchestrationContext, start: dict[str, Any]) -> None:
        self.context = context
        self.acc: int = start["acc"]
        self.trace: list[Any] = start["trace"]
        self.round: int = start["round"]

    def input_for(self, k: int) -> int:
        return (self.acc + k) % 1000

    def run(self, steps: list[Step], path: str) -> Generator[Any, Any, None]:
        for index, step in enumerate(steps):
            yield from self.step(step, f"{path}{index}")

    def step(self, step: Step, path: str) -> Generator[Any, Any, None]:
        match step:
            case ["calc", int(a), int(b)]:
                self.acc = (self.acc * a + b) % 1000
            case ["now"]:
                now = self.context.current_utc_datetime.isoformat()
                self.trace.append(["now", now, self.context.new_uuid()])
            case ["act", int(k)]:
                self.acc = yield self.context.call_activity("act", self.input_for(k))
                self.trace.append(self.acc)
            case ["status", int(k)]:
                self.context.set_custom_status([self.round, k, self.acc])
            case ["timer", int(ms)]:
                yield self.context.create_timer(_ms(ms))
                self.trace.append("timer")
            case ["retry", int(k), int(attempts), int(ms)]:
                yield from self.retry(k, attempts, ms)
            case ["fan", list(ks)]:
                yield from self.fan(ks)
            case ["race_act", int(k)]:
                yield from self.race_act(k)
            case ["race_event", bool(raised), int(ms)]:
                yield from self.race_event(event_name(path, self.round), raised, ms)
            case ["wait", str(kind), int(ms)]:
                yield from self.wait(event_name(path, self.round), kind, ms)
            case ["sub", dict(program)]:
                yield from self.sub(program)
            case ["sub_retry", dict(program), int(attempts), int(ms)]:
                yield from self.sub(program, attempts, ms)
            case ["try", list(body)]:
                try:
                    yield from self.run(body, f"{path}.")
                except (TaskFailedError, StepFailed) as error:
                    self.trace.append(["caught", str(error)])
            case _:
                raise ValueError(f"not a step: {step!r}")

    def retry(self, k: int, attempts: int, ms: int) -> Generator[Any, Any, None]:
        options = RetryOptions(
            first_retry_interval_in_milliseconds=ms, max_number_of_attempts=attempts
        )
        task = self.context.call_activity_with_retry("act", options, self.input_for(k))
        self.acc = yield task
        self.trace.append(["retry", self.acc])

    def sub(self, program: Program, attempts: int = 0, ms: int = 1) -> Generator[Any, Any, None]:
        start = start_input(program, self.acc)
        if attempts:  # each attempt is a new child instance (a new task id)
            options = RetryOptions(
                first_retry_interval_in_milliseconds=ms, max_number_of_attempts=attempts
            )
            task = self.context.call_sub_orchestrator_with_retry("program", options, start)
        else:
            task = self.context.call_sub_orchestrator("program", start)
        child = yield task
        self.acc = child["acc"]
        self.trace.append(["sub", child["trace"]])

    def fan(self, ks: list[int]) -> Generator[Any, Any, None]:
        tasks = [self.context.call_activity("act", self.input_for(k)) for k in ks]
        try:
            results = yield self.context.task_all(tasks)
        except TaskFailedError:
            # Wait for the others too: what history records must not depend on timing.
            for task in tasks:
                if not task.is_completed:
                    with contextlib.suppress(TaskFailedError):
                        yield task
            failed = sum(task.is_faulted for task in tasks)
            raise StepFailed(f"fan of {len(tasks)}: {failed} failed") from None
        self.acc = sum(results) % 1000
        self.trace.append(["fan", results])

    def race_act(self, k: int) -> Generator[Any, Any, None]:
        work = self.context.call_activity("act", self.input_for(k))
        timer = self.context.create_timer(_ms(LONG_MS))
        winner = yield self.context.task_any([work, timer])
        timer.cancel()
        if winner is not work:
            self.trace.append(["race", "timer"])
        elif work.is_faulted:
            self.trace.append(["race", "failed", str(work.exception)])
        else:
            self.acc = work.result
            self.trace.append(["race", self.acc])

    def race_event(self, name: str, raised: bool, ms: int) -> Generator[Any, Any, None]:
        event = self.context.wait_for_external_event(name)
        timer = self.context.create_timer(_ms(LONG_MS if raised else ms))
        winner = yield self.context.task_any([event, timer])
        if winner is event:
            timer.cancel()
            self.acc = (self.acc + event.result) % 1000
            self.trace.append(["event", event.result])
        else:
            self.trace.append(["event", "timer"])

    def wait(self, name: str, kind: str, ms: int) -> Generator[Any, Any, None]:
        if kind == "plain":
            data = yield self.context.wait_for_external_event(name)
        else:
            timeout = (LONG_MS if kind == "raised" else ms) / 1000
            try:
                data = yield self.context.wait_for_external_event(name, timeout=timeout)
            except TimeoutError:
                self.trace.append(["wait", "timeout"])
                return
        self.acc = (self.acc + data) % 1000
        self.trace.append(["wait", data])


def program_orchestrator(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    """Run the program in the input (see :func:`start_input`), one round per execution."""
    start = context.get_input()
    program = start["program"]
    execution = _Execution(context, start)
    yield from execution.run(program["steps"], "")
    if execution.round < program["rounds"]:
        context.continue_as_new(
            {**start, "round": execution.round + 1, "acc": execution.acc, "trace": execution.trace}
        )
        return None
    return {"acc": execution.acc, "trace": execution.trace}


# -- the reference evaluation -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    """What running a program must give."""

    status: str
    """``Completed`` or ``Failed``."""
    output: Any
    """The output; for a failure, its first line (``ErrorType: message``)."""
    custom_status: Any
    events: dict[str, int] = field(default_factory=dict)
    """The events the instance consumes, with their data: what the tests raise."""


class _Raised(Exception):
    """A failure as the orchestrator would see it raised.

    ``text`` is ``str()`` of the real exception (what ``try`` records) and
    ``error_type`` the real exception's type name (what a failed instance reports).
    """

    def __init__(self, error_type: str, text: str) -> None:
        super().__init__(text)
        self.error_type, self.text = error_type, text


class _Reference:
    """The program's semantics in plain Python, one execution at a time."""

    def __init__(self, acc: int, trace: list[Any], round_: int, events: dict[str, int]) -> None:
        self.acc, self.trace, self.round = acc, trace, round_
        self.events = events
        self.custom_status: Any = None

    def activity(self, x: int) -> int:
        try:
            return act(x)
        except ValueError as error:
            raise _Raised("TaskFailedError", f"ValueError: {error}") from None

    def event(self, path: str) -> int:
        name = event_name(path, self.round)
        self.events[name] = event_data(name)
        return self.events[name]

    def run(self, steps: list[Step], path: str) -> None:
        for index, step in enumerate(steps):
            self.step(step, f"{path}{index}")

    def step(self, step: Step, path: str) -> None:
        match step:
            case ["calc", int(a), int(b)]:
                self.acc = (self.acc * a + b) % 1000
            case ["now"]:
                self.trace.append(["now"])
            case ["act", int(k)]:
                self.acc = self.activity((self.acc + k) % 1000)
                self.trace.append(self.acc)
            case ["status", int(k)]:
                self.custom_status = [self.round, k, self.acc]
            case ["timer", int()]:
                self.trace.append("timer")
            case ["retry", int(k), int(), int()]:
                self.acc = self.activity((self.acc + k) % 1000)
                self.trace.append(["retry", self.acc])
            case ["fan", list(ks)]:
                self.fan(ks)
            case ["race_act", int(k)]:
                try:
                    self.acc = self.activity((self.acc + k) % 1000)
                    self.trace.append(["race", self.acc])
                except _Raised as error:
                    self.trace.append(["race", "failed", error.text])
            case ["race_event", bool(raised), int()]:
                self.received(self.event(path) if raised else None, "event", "timer")
            case ["wait", str(kind), int()]:
                data = None if kind == "missed" else self.event(path)
                self.received(data, "wait", "timeout")
            case ["sub", dict(program)] | ["sub_retry", dict(program), int(), int()]:
                child = reference(program, acc=self.acc)
                if child.status == "Failed":
                    raise _Raised("TaskFailedError", child.output)
                self.acc = child.output["acc"]
                self.trace.append(["sub", child.output["trace"]])
            case ["try", list(body)]:
                try:
                    self.run(body, f"{path}.")
                except _Raised as error:
                    self.trace.append(["caught", error.text])
            case _:
                raise ValueError(f"not a step: {step!r}")

    def fan(self, ks: list[int]) -> None:
        results, failed = [], 0
        for k in ks:
            try:
                results.append(self.activity((self.acc + k) % 1000))
            except _Raised:
                failed += 1
        if failed:
            raise _Raised("StepFailed", f"fan of {len(ks)}: {failed} failed")
        self.acc = sum(results) % 1000
        self.trace.append(["fan", results])

    def received(self, data: int | None, kind: str, missed: str) -> None:
        if data is None:
            self.trace.append([kind, missed])
        else:
            self.acc = (self.acc + data) % 1000
            self.trace.append([kind, data])


def reference(program: Program, *, acc: int = 0) -> Outcome:
    """What running ``program`` (from :func:`start_input` with ``acc``) must give."""
    trace: list[Any] = []
    events: dict[str, int] = {}
    for round_ in range(program["rounds"] + 1):
        execution = _Reference(acc, trace, round_, events)
        try:
            execution.run(program["steps"], "")
        except _Raised as error:
            failure = f"{error.error_type}: {error.text}"
            return Outcome("Failed", failure, execution.custom_status, events)
        acc = execution.acc
    return Outcome("Completed", {"acc": acc, "trace": trace}, execution.custom_status, events)
