"""What an ``async def`` orchestrator may await, and the error when it awaits anything
else: the engine drives its coroutine as it drives a generator, so every ``await`` must
reach a durably task (:meth:`durably.engine.tasks.Task.__await__`). An awaitable of
asyncio finds no event loop where orchestrators run (or hands the engine a future): the
instance fails with a nondeterminism error naming it, never hangs.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from durably.errors import NonDeterministicOrchestrationError


def not_a_task(awaited: str) -> NonDeterministicOrchestrationError:
    """The error of an ``async def`` orchestrator that awaited something else than a
    durably task (a sleep, I/O): its result would not be in history."""
    return NonDeterministicOrchestrationError(
        f"an async orchestrator awaited {awaited}, which is not a durably task: await only"
        " context.call_activity, create_timer, wait_for_external_event, task_all, task_any"
        " and call_sub_orchestrator (wait with context.create_timer; do I/O in an activity)"
    )


def needs_an_event_loop(exc: BaseException) -> bool:
    """Whether ``exc`` came out of asyncio itself: an awaitable that needs a running event
    loop, and there is none where orchestrators run."""
    if isinstance(exc, RuntimeError) and "no running event loop" in str(exc):
        return True
    return raised_in(exc).startswith("asyncio.")


def raised_in(exc: BaseException) -> str:
    """The asyncio function (module.qualname) the orchestrator called on the way to ``exc``:
    the outermost frame of asyncio's (else the innermost frame)."""
    tb = exc.__traceback__
    innermost = "an awaitable that needs an event loop"
    while tb is not None:
        frame = tb.tb_frame
        name = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_qualname}"
        if name.startswith("asyncio."):
            return name
        innermost = name
        tb = tb.tb_next
    return innermost


def awaited_by(coroutine: Coroutine[Any, Any, Any], yielded: Any) -> str:
    """What ``coroutine`` is awaiting, innermost function first (the object it handed
    the engine when no function is seen)."""
    awaited: Any = getattr(coroutine, "cr_await", None)
    name = None
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            name = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_qualname}"
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    handed = f"{type(yielded).__name__} {yielded!r}"
    if name is None:
        return handed
    return name if yielded is None else f"{name} (handing the engine {handed})"
