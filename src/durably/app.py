"""App: the registry of orchestrators and activities of one task hub."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from durably.ids import validate_name
from durably.payload import DEFAULT_MAX_PAYLOAD_BYTES, check_limit

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """Registers functions with decorators; a worker runs them, a client starts them.

    ``task_hub`` names the hub in the store: apps with different hubs share a database
    without seeing each other's instances. ``max_payload_bytes`` bounds every payload
    (inputs, outputs, results, event data, custom status) serialised, 2 MiB by default.
    """

    def __init__(
        self, task_hub: str | None = None, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    ) -> None:
        self.task_hub = task_hub
        self.max_payload_bytes = check_limit(max_payload_bytes)
        self.orchestrators: dict[str, Callable[..., Any]] = {}
        self.activities: dict[str, Callable[..., Any]] = {}

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
    def activity(self, *, name: str | None = None) -> Callable[[F], F]: ...

    def activity(self, function: Any = None, *, name: str | None = None) -> Any:
        """Register ``f(input)`` (sync or ``async def``) as an activity."""
        return self._register(self.activities, "activity", function, name)

    def _register(
        self, table: dict[str, Callable[..., Any]], kind: str, function: Any, name: str | None
    ) -> Any:
        def decorate(fn: F) -> F:
            key = validate_name(name or fn.__name__, f"an {kind}'s name")
            if kind == "orchestrator" and inspect.iscoroutinefunction(fn):
                raise TypeError(f"orchestrator {key!r} must be a generator function, not async")
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
