"""App: the registry of orchestrators and activities of one task hub."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from durably.codecs import Codec
from durably.ids import validate_name
from durably.limits import (
    DEFAULT_MAX_HISTORY_EVENTS,
    DEFAULT_MAX_PAYLOAD_BYTES,
    check_history_limit,
    check_payload_limit,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityOptions:
    """How the worker runs one activity (see :meth:`App.activity`)."""

    timeout: float | None = None
    isolation: str = "thread"
    """``thread`` (the worker's pool) or ``process`` (a child process per attempt)."""
    max_dequeue_count: int | None = None
    """Deliveries without a report back before the task fails (None: the worker's)."""

    def __post_init__(self) -> None:
        if self.isolation not in ("thread", "process"):
            raise ValueError(f'isolation must be "thread" or "process", got {self.isolation!r}')
        count = self.max_dequeue_count
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise ValueError(
                f"max_dequeue_count must be a whole number of at least 1, got {count!r}"
            )
        timeout = self.timeout
        if timeout is not None and (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not 0 < timeout < float("inf")
        ):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


class App:
    """Registers functions with decorators; a worker runs them, a client starts them.

    ``task_hub`` names the hub in the store: apps with different hubs share a database
    without seeing each other's instances. ``max_payload_bytes`` bounds every payload
    (inputs, outputs, results, event data, custom status) serialised, 2 MiB by default;
    ``max_history_events`` the history of one execution (100,000 events by default: past
    it the instance fails with ``HistoryTooLongError``, and an orchestration meant to run
    longer calls ``context.continue_as_new``). ``version`` (say ``"2.0"``) is stamped on
    each instance the app starts, its sub-orchestrations and the executions it continues
    as new: the instance's status shows it, orchestrators read it as ``context.version``.
    """

    def __init__(
        self,
        task_hub: str | None = None,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_history_events: int = DEFAULT_MAX_HISTORY_EVENTS,
        version: str | None = None,
        codec: Codec | None = None,
    ) -> None:
        if version is not None and (
            not isinstance(version, str) or not version.strip() or len(version) > 100
        ):
            raise ValueError(
                f"version must be a non-empty string of at most 100 characters, not {version!r}"
            )
        self.version = version
        """Stamped on each instance this app starts (status, history, ``context.version``)."""
        self.task_hub = task_hub
        self.max_payload_bytes = check_payload_limit(max_payload_bytes)
        if codec is not None and not isinstance(codec, Codec):
            raise TypeError(
                f"codec must have a name and encode/decode methods, got {type(codec).__name__}"
            )
        self.codec = codec
        """Transforms every stored payload (:mod:`durably.codecs`); None: plain JSON."""
        self.max_history_events = check_history_limit(max_history_events)
        self.orchestrators: dict[str, Callable[..., Any]] = {}
        self.activities: dict[str, Callable[..., Any]] = {}
        self.activity_options: dict[str, ActivityOptions] = {}
        self.entities: dict[str, Callable[..., Any]] = {}
        """Entities by (lower-cased) name: functions ``f(ctx)`` or classes."""

    @overload
    def orchestrator(self, function: F) -> F: ...
    @overload
    def orchestrator(self, *, name: str | None = None) -> Callable[[F], F]: ...

    def orchestrator(self, function: Any = None, *, name: str | None = None) -> Any:
        """Register a generator function ``f(context)`` as an orchestrator."""
        return self._register(self.orchestrators, "orchestrator", function, name)

    @overload
    def activity(self, function: F) -> F: ...
    @overload
    def activity(
        self,
        *,
        name: str | None = None,
        timeout: float | None = None,
        isolation: str = "thread",
        max_dequeue_count: int | None = None,
    ) -> Callable[[F], F]: ...

    def activity(
        self,
        function: Any = None,
        *,
        name: str | None = None,
        timeout: float | None = None,
        isolation: str = "thread",
        max_dequeue_count: int | None = None,
    ) -> Any:
        """Register ``f(input)`` (sync or ``async def``) as an activity.

        ``timeout`` (seconds): an attempt that runs longer fails with ``TimeoutError``
        (retry options apply). A sync activity past its timeout is left to finish on its
        thread, its result discarded; an ``async def`` one is cancelled.
        ``isolation="process"`` runs each attempt in a child process (CPU-bound work,
        crash isolation): a crash there fails only the task, and a timeout kills the
        child. The function must be importable by its module and name.
        ``max_dequeue_count`` (default: the worker's, 5): after that many deliveries
        without a report back (its worker died or hung each time) the task fails with
        ``PoisonWorkError`` instead of being delivered again.
        """
        options = ActivityOptions(
            timeout=timeout, isolation=isolation, max_dequeue_count=max_dequeue_count
        )

        def decorate(fn: F) -> F:
            registered = self._register(self.activities, "activity", fn, name)
            self.activity_options[registered.durably_name] = options
            return registered  # type: ignore[no-any-return]

        return decorate(function) if function is not None else decorate

    @overload
    def entity(self, function: F) -> F: ...
    @overload
    def entity(self, *, name: str | None = None) -> Callable[[F], F]: ...

    def entity(self, function: Any = None, *, name: str | None = None) -> Any:
        """Register a durable entity: a function ``f(ctx)`` (an
        :class:`~durably.entities.EntityContext`) or a class whose public methods are
        the operations and whose instance attributes are the state. Its name (the
        function's or class's, lower-cased) is the ``name`` of its ``EntityId``s."""

        def decorate(fn: F) -> F:
            key = validate_name(name or fn.__name__, "an entity's name").lower()
            if "@" in key:
                raise ValueError(f"an entity's name must not contain '@': {key!r}")
            return self._register(self.entities, "entity", fn, key)  # type: ignore[no-any-return]

        return decorate(function) if function is not None else decorate

    def _register(
        self, table: dict[str, Callable[..., Any]], kind: str, function: Any, name: str | None
    ) -> Any:
        def decorate(fn: F) -> F:
            key = validate_name(name or fn.__name__, f"an {kind}'s name")
            if key in table and table[key] is not fn:
                raise ValueError(f"an {kind} named {key!r} is already registered")
            table[key] = fn
            fn.durably_name = key  # type: ignore[attr-defined]
            return fn

        return decorate(function) if function is not None else decorate

    def unknown_orchestrator(self, name: str) -> ValueError:
        known = ", ".join(sorted(self.orchestrators)) or "none registered"
        return ValueError(f"no orchestrator named {name!r}; known orchestrators: {known}")

    def unknown_activity(self, name: str) -> ValueError:
        known = ", ".join(sorted(self.activities)) or "none registered"
        return ValueError(f"no activity named {name!r}; known activities: {known}")
