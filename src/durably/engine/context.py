"""OrchestrationContext: the API an orchestrator function uses. Deterministic by construction.

Everything here reads time from history (``current_utc_datetime``) and numbers tasks in
call order, so a replay against the same history makes the same calls with the same ids.
The context holds the execution's identity; what its calls change lives in the
:class:`~durably.engine.state.OrchestrationState` the executor hands it.
"""

from __future__ import annotations

import datetime as _dt
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar, overload

from durably import payload
from durably.actions import (
    CallEntity,
    CreateTimer,
    LockEntities,
    ScheduleTask,
    StartSubOrchestration,
)
from durably.engine.locks import LockTask
from durably.engine.retry import RetryOptions
from durably.engine.state import OrchestrationState
from durably.engine.tasks import (
    AtomicTask,
    EventWithTimeoutTask,
    RetryableTask,
    Task,
    TimerTask,
    WhenAllTask,
    WhenAnyTask,
)
from durably.entities.ids import EntityId, as_entity_id
from durably.ids import validate_instance_id, validate_name
from durably.typed import NO_TYPE, convert, return_type

R = TypeVar("R")
"""What a task's result is (for type checkers)."""

_UUID_NAMESPACE = uuid.UUID("7f0e4a3e-2b5e-4b8a-9c1d-6d7572616279")


def function_name(function: str | Callable[..., Any]) -> str:
    """The registered name of an activity or orchestrator given by name or by function;
    ``ValueError`` for a name a store cannot keep (see :func:`durably.ids.validate_name`)."""
    if isinstance(function, str):
        return validate_name(function, "a function name")
    name = getattr(function, "durably_name", None) or getattr(function, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"expected a function or a name, got {function!r}")
    return validate_name(name, "a function name")


class ReplaySafeLogger:
    """A logger that stays silent while the orchestrator replays history."""

    def __init__(
        self, state: OrchestrationState, logger: logging.Logger, fields: dict[str, Any]
    ) -> None:
        self._state, self._logger, self._fields = state, logger, fields

    def _log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        if not self._state.is_replaying:
            # The instance's fields (durably.logs) on every record, beside the caller's.
            kwargs["extra"] = {**self._fields, **(kwargs.get("extra") or {})}
            self._logger.log(level, msg, *args, stacklevel=3, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, *args, **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, *args, exc_info=True, **kwargs)


class OrchestrationContext:
    """What an orchestrator receives; every scheduling method returns a :class:`Task`."""

    def __init__(
        self,
        state: OrchestrationState,
        *,
        instance_id: str,
        name: str,
        input_text: str | None,
        parent_instance_id: str | None,
        version: str | None = None,
    ) -> None:
        self._state = state
        self._version = version
        self._instance_id = instance_id
        self._name = name
        self._input_text = input_text
        self._parent_instance_id = parent_instance_id
        self.logger = ReplaySafeLogger(
            state,
            logging.getLogger(f"durably.orchestrator.{name}"),
            {"instance_id": instance_id, "function_name": name},
        )

    # -- properties --------------------------------------------------------------
    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def name(self) -> str:
        """The orchestrator's registered name."""
        return self._name

    @property
    def parent_instance_id(self) -> str | None:
        return self._parent_instance_id

    @property
    def version(self) -> str | None:
        """The version of the app that started this execution (``App(version=...)``),
        None if it had none."""
        return self._version

    @property
    def is_replaying(self) -> bool:
        """True while the orchestrator re-executes steps already recorded in history."""
        return self._state.is_replaying

    @property
    def current_utc_datetime(self) -> _dt.datetime:
        """The time of the current episode, from history (never the clock)."""
        return self._state.now

    @property
    def custom_status(self) -> Any:
        return self._state.custom_status

    def get_input(self, as_type: Any = NO_TYPE) -> Any:
        """The orchestration's input, decoded from JSON (and converted to ``as_type``, a
        dataclass, a pydantic model, ``datetime``, ... see :mod:`durably.typed`)."""
        value = payload.loads(self._input_text, self._state.codec)
        return value if as_type is NO_TYPE else convert(value, as_type)

    def new_uuid(self) -> str:
        """A deterministic UUID, derived from the instance id, the time and a counter."""
        state = self._state
        state.uuid_counter += 1
        key = f"{self._instance_id}_{state.now.isoformat()}_{state.uuid_counter}"
        return str(uuid.uuid5(_UUID_NAMESPACE, key))

    def set_custom_status(self, value: Any) -> None:
        """Publish a JSON-serialisable value visible in the instance's status."""
        self._dumps(value, "custom status")
        self._state.custom_status = value

    def is_patched(self, name: str) -> bool:
        """Whether to take the new code path of patch ``name``.

        True for an execution that reaches this point with the code that has the patch:
        a new one, or one started earlier that gets here after the deploy (the choice is
        recorded in history). False while replaying history written before the patch,
        so that an old execution replays the path it took. Keep the old path until no
        execution that started before the deploy is running.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"is_patched takes a non-empty patch name, not {name!r}")
        state = self._state
        taken = state.patches.get(name)
        if taken is not None:
            return taken <= state.episode
        if state.is_replaying:
            return False
        state.patches[name] = state.episode
        state.new_patches.append(name)
        return True

    def continue_as_new(self, input_: Any = None) -> None:
        """Restart the orchestration with a fresh history once the function returns."""
        text = self._dumps(input_, "continue_as_new input")
        self._state.continues_as_new, self._state.next_input = True, text

    def _dumps(self, value: Any, what: str) -> str | None:
        """A payload the orchestrator produces, as JSON text: ``TypeError`` if it is not
        JSON, ``PayloadTooLargeError`` if it is over the app's ``max_payload_bytes``."""
        state = self._state
        return payload.dumps(value, what=what, limit=state.max_payload_bytes, codec=state.codec)

    # -- scheduling --------------------------------------------------------------
    @overload
    def call_activity(
        self,
        name: Callable[..., Coroutine[Any, Any, R]],
        input_: Any = None,
        *,
        return_type: Any = NO_TYPE,
    ) -> Task[R]: ...

    @overload
    def call_activity(
        self, name: Callable[..., R], input_: Any = None, *, return_type: Any = NO_TYPE
    ) -> Task[R]: ...

    @overload
    def call_activity(self, name: str, input_: Any = None, *, return_type: type[R]) -> Task[R]: ...

    @overload
    def call_activity(self, name: str, input_: Any = None) -> Task[Any]: ...

    def call_activity(
        self, name: str | Callable[..., Any], input_: Any = None, *, return_type: Any = NO_TYPE
    ) -> Task[Any]:
        """Schedule an activity; yielding (or awaiting) the task gives its result,
        converted to ``return_type`` (default: the return annotation of ``name`` when it
        is the function; see :mod:`durably.typed`). Type checkers see that type too:
        ``await context.call_activity(total, order)`` is what ``total`` returns."""
        text = self._dumps(input_, "activity input")
        task = self._schedule_activity(function_name(name), text)
        task.return_type = _result_type(name, return_type)
        return task

    def call_activity_with_retry(
        self,
        name: str | Callable[..., Any],
        retry_options: RetryOptions,
        input_: Any = None,
        *,
        return_type: Any = NO_TYPE,
    ) -> Task[Any]:
        """Schedule an activity, retried by ``retry_options`` on failure."""
        text = self._dumps(input_, "activity input")
        activity = function_name(name)
        wanted = _result_type(name, return_type)

        def attempt() -> Task[Any]:
            task = self._schedule_activity(activity, text)
            task.return_type = wanted
            return task

        return self._retrying(attempt, retry_options)

    def call_sub_orchestrator(
        self,
        name: str | Callable[..., Any],
        input_: Any = None,
        instance_id: str | None = None,
        *,
        return_type: Any = NO_TYPE,
    ) -> Task[Any]:
        """Start a sub-orchestration and wait for its output; ``instance_id`` follows the
        rules of every instance id (``ValueError`` at the call)."""
        if instance_id is not None:
            validate_instance_id(instance_id)
        text = self._dumps(input_, "sub-orchestration input")
        task = self._schedule_sub(function_name(name), text, instance_id)
        task.return_type = _result_type(name, return_type)
        return task

    def call_sub_orchestrator_with_retry(
        self,
        name: str | Callable[..., Any],
        retry_options: RetryOptions,
        input_: Any = None,
        instance_id: str | None = None,
        *,
        return_type: Any = NO_TYPE,
    ) -> Task[Any]:
        """Start a sub-orchestration, started again by ``retry_options`` if it fails."""
        if instance_id is not None:
            validate_instance_id(instance_id)
        text = self._dumps(input_, "sub-orchestration input")
        orchestrator = function_name(name)
        wanted = _result_type(name, return_type)

        def attempt() -> Task[Any]:
            task = self._schedule_sub(orchestrator, text, instance_id)
            task.return_type = wanted
            return task

        return self._retrying(attempt, retry_options)

    # -- entities ------------------------------------------------------------------------
    def call_entity(
        self,
        entity_id: EntityId | tuple[str, str],
        operation: str,
        input_: Any = None,
        *,
        return_type: Any = NO_TYPE,
    ) -> Task[Any]:
        """Run ``operation`` on the entity and wait for its result (the operation's
        error is raised as ``TaskFailedError``). The entity exists from its first
        operation; operations on one entity run one at a time, in the order sent."""
        target = as_entity_id(entity_id)
        self._check_in_section(target)
        text = self._dumps(input_, "entity operation input")
        action = self._entity_action(target, operation, text, signal=False)
        task: AtomicTask = AtomicTask(action)
        self._state.register(task)
        self._state.entity_requests[action.request_id] = task.task_id
        task.return_type = return_type
        return task

    def signal_entity(
        self, entity_id: EntityId | tuple[str, str], operation: str, input_: Any = None
    ) -> None:
        """Send ``operation`` to the entity without waiting (nothing to ``yield``)."""
        target = as_entity_id(entity_id)
        text = self._dumps(input_, "entity operation input")
        action = self._entity_action(target, operation, text, signal=True)
        self._state.unmatched[action.task_id] = action

    def lock(self, entity_ids: Sequence[EntityId | tuple[str, str]]) -> LockTask:
        """A critical section: ``with (yield context.lock([a, b])):`` waits until the
        locks of every entity are held, so no other orchestration's operations run on
        them in between; leaving the block (or the end of the execution) releases them.
        Locks are taken in one global order, so sections never deadlock."""
        lock_set = tuple(sorted({as_entity_id(e).instance_id for e in entity_ids}))
        if not lock_set:
            raise ValueError("context.lock needs at least one entity")
        state = self._state
        if state.sections:
            raise ValueError(
                "a critical section is already open: leave it before context.lock takes"
                " others (one section at a time, so sections cannot deadlock)"
            )
        task_id = state.take_task_id()
        section = str(
            uuid.uuid5(_UUID_NAMESPACE, f"{self._instance_id}/lock/{task_id}/{state.now}")
        )
        task = LockTask(LockEntities(task_id=task_id, section_id=section, lock_set=lock_set))
        state.register(task)
        state.entity_requests[section] = task_id
        state.sections[section] = lock_set
        return task

    def _check_in_section(self, target: EntityId) -> None:
        """Inside a critical section, only its locked entities may be called: a call to
        another could wait on that entity's own holder, which may wait on this one."""
        state = self._state
        for section in state.held:
            locked = state.sections.get(section, ())
            if target.instance_id not in locked:
                raise ValueError(
                    f"inside a critical section only its entities can be called"
                    f" ({', '.join(locked)}), not {target.instance_id!r}"
                )

    def _entity_action(
        self, target: EntityId, operation: str, text: str | None, *, signal: bool
    ) -> CallEntity:
        state = self._state
        task_id = state.take_task_id()
        # Named by the caller and the call, so that replay gives the same id.
        request = uuid.uuid5(_UUID_NAMESPACE, f"{self._instance_id}/{task_id}/{state.now}")
        return CallEntity(
            task_id=task_id,
            instance_id=target.instance_id,
            operation=validate_name(operation, "an entity operation's name"),
            input=text,
            request_id=str(request),
            signal=signal,
        )

    def create_timer(self, fire_at: _dt.datetime | _dt.timedelta) -> TimerTask:
        """A durable timer firing at ``fire_at`` (a UTC datetime, or a delay from now)."""
        state = self._state
        if not isinstance(fire_at, _dt.datetime | _dt.timedelta):
            raise TypeError(
                "create_timer takes a datetime or a timedelta, "
                f"got {type(fire_at).__name__}: {fire_at!r}"
            )
        if isinstance(fire_at, _dt.timedelta):
            fire_at = state.now + fire_at
        elif fire_at.tzinfo is None:
            fire_at = fire_at.replace(tzinfo=_dt.UTC)
        action = CreateTimer(task_id=state.take_task_id(), fire_at=fire_at)
        timer = TimerTask(action, fire_at, state.cancel_timer, state.now)
        state.register(timer)
        return timer

    def wait_for_external_event(
        self, name: str, timeout: float | _dt.timedelta | None = None
    ) -> Task[Any]:
        """Wait for an event raised on this instance; ``timeout`` (seconds) raises TimeoutError."""
        state = self._state
        event = state.wait_for_event(name)
        if timeout is None or event.is_completed:
            return event
        delay = timeout if isinstance(timeout, _dt.timedelta) else _dt.timedelta(seconds=timeout)
        timer = self.create_timer(delay)
        return EventWithTimeoutTask(event, timer, lambda: state.drop_waiter(event))

    def task_all(self, tasks: Sequence[Task[R]]) -> Task[list[R]]:
        """Completes with all results in order; fails on the first failure."""
        return WhenAllTask(tasks)

    def task_any(self, tasks: Sequence[Task[R]]) -> Task[Task[R]]:
        """Completes with the first task to finish (the task object itself)."""
        return WhenAnyTask(tasks)

    # -- internals ---------------------------------------------------------------
    def _schedule_activity(self, name: str, text: str | None) -> AtomicTask:
        state = self._state
        task = AtomicTask(ScheduleTask(task_id=state.take_task_id(), name=name, input=text))
        state.register(task)
        return task

    def _schedule_sub(self, name: str, text: str | None, instance_id: str | None) -> AtomicTask:
        state = self._state
        task_id = state.take_task_id()
        child_id = instance_id or _child_id(self._instance_id, task_id)
        action = StartSubOrchestration(task_id=task_id, name=name, instance_id=child_id, input=text)
        task = AtomicTask(action)
        state.register(task)
        return task

    def _retrying(self, start: Callable[[], Task[Any]], options: RetryOptions) -> Task[Any]:
        state = self._state
        first_attempt_at = state.now

        def delay(attempt: int) -> Task[Any] | None:
            wait = options.next_delay(attempt, first_attempt_at, state.now)
            return None if wait is None else self.create_timer(wait)

        return RetryableTask(start, delay)


def _child_id(parent_id: str, task_id: int) -> str:
    """A sub-orchestration's default id: ``parent:0003``, or a name-based UUID of that when
    it would be longer than an id may be."""
    child_id = f"{parent_id}:{task_id:04d}"
    return child_id if len(child_id) <= 256 else uuid.uuid5(_UUID_NAMESPACE, child_id).hex


def _result_type(function: str | Callable[..., Any], given: Any) -> Any:
    """The type a task's result is converted to: ``given``, else the return annotation
    of ``function`` when it is one (an ``async def`` activity's is what it returns)."""
    if given is not NO_TYPE or isinstance(function, str):
        return given
    return return_type(function)
