"""Critical sections: an orchestration holding the locks of several entities at once.

``with (yield context.lock([a, b])):`` (or ``async with context.lock([a, b]):``) waits
until every lock is held; leaving the block releases them, and so does the end of the
execution, however it ends. The locks are taken in one global order (sorted instance
ids), one entity after the other, so two sections never wait on each other.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from durably.actions import LockEntities, UnlockEntity
from durably.engine.tasks import AtomicTask

if TYPE_CHECKING:
    from durably.engine.state import OrchestrationState


class CriticalSection:
    """Held locks; leaving the ``with`` block releases them."""

    __slots__ = ("_state", "lock_set", "section_id")

    def __init__(self, state: OrchestrationState, section_id: str, lock_set: tuple[str, ...]):
        self._state = state
        self.section_id = section_id
        self.lock_set = lock_set
        """The locked entities' instance ids, in the order they were taken."""

    def __enter__(self) -> CriticalSection:
        return self

    def __exit__(self, *exc: object) -> None:
        release(self._state, self.section_id)


class LockTask(AtomicTask):
    """The task of ``context.lock``: its result is the :class:`CriticalSection`; also an
    async context manager for ``async with context.lock([...]):``."""

    __slots__ = ()

    def __aenter__(self) -> LockTask:
        return self  # awaiting the task gives the critical section

    def __aexit__(self, *exc: object) -> _Done:
        section = self.result
        if isinstance(section, CriticalSection):
            section.__exit__()
        return _Done()


class _Done:
    """An awaitable that is already finished (``__aexit__`` must return one)."""

    def __await__(self) -> Generator[Any, Any, None]:
        return
        yield


def release(state: OrchestrationState, section_id: str) -> None:
    """Release the section's locks: an unlock for each entity of its set (once)."""
    lock_set = state.sections.pop(section_id, None)
    if lock_set is None:
        return
    state.held.discard(section_id)
    unsent = [
        task_id
        for task_id, action in state.unmatched.items()
        if isinstance(action, LockEntities) and action.section_id == section_id
    ]
    if unsent:  # asked for in this very episode: the request is dropped, not sent
        for task_id in unsent:
            del state.unmatched[task_id]
            state.pending.pop(task_id, None)
        return
    for instance_id in lock_set:
        task_id = state.take_task_id()
        state.unmatched[task_id] = UnlockEntity(
            task_id=task_id, section_id=section_id, instance_id=instance_id
        )


def release_all(
    state: OrchestrationState, recorded: dict[str, tuple[str, ...]] | None = None
) -> None:
    """At the end of the execution: release every section asked for, held or not yet,
    and those ``recorded`` in history as requested and not released (unless this
    episode released them already)."""
    releasing = {a.section_id for a in state.unmatched.values() if isinstance(a, UnlockEntity)}
    for section_id, lock_set in (recorded or {}).items():
        if section_id not in releasing:
            state.sections.setdefault(section_id, lock_set)
    for section_id in list(state.sections):
        release(state, section_id)
