"""durably: durable functions for Python, with no cloud attached.

Write orchestrators as generator functions that yield tasks (or ``async def`` ones that
await them); durably checkpoints every
step into an append-only history and rebuilds local state by replay.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durably.app import App
    from durably.async_client import AsyncClient
    from durably.backends.base import Backend
    from durably.client import Client
    from durably.engine.context import OrchestrationContext
    from durably.engine.retry import RetryOptions
    from durably.engine.tasks import Task, TimerTask
    from durably.entities import EntityContext, EntityId, EntityStateResponse
    from durably.errors import (
        DurablyError,
        HistoryTooLongError,
        InstanceExistsError,
        InstanceNotFoundError,
        InvalidInstanceStateError,
        LockLost,
        NonDeterministicOrchestrationError,
        PayloadTooLargeError,
        PoisonWorkError,
        StoreError,
        TaskFailedError,
        VersionMismatchError,
    )
    from durably.history import FailureDetails, HistoryEvent, OrchestrationRuntimeStatus
    from durably.status import DurableOrchestrationStatus, InstancePage, PurgeHistoryResult
    from durably.worker import Worker

__version__ = "0.1.0"

# Names load on first use (PEP 562), so `import durably` stays cheap for the CLI and
# for short scripts; `from durably import Worker` works as usual.
_LAZY = {
    "App": "durably.app",
    "AsyncClient": "durably.async_client",
    "Backend": "durably.backends.base",
    "Client": "durably.client",
    "OrchestrationContext": "durably.engine.context",
    "RetryOptions": "durably.engine.retry",
    "Task": "durably.engine.tasks",
    "TimerTask": "durably.engine.tasks",
    "EntityContext": "durably.entities",
    "EntityId": "durably.entities",
    "EntityStateResponse": "durably.entities",
    "DurablyError": "durably.errors",
    "HistoryTooLongError": "durably.errors",
    "InstanceExistsError": "durably.errors",
    "InstanceNotFoundError": "durably.errors",
    "InvalidInstanceStateError": "durably.errors",
    "LockLost": "durably.errors",
    "NonDeterministicOrchestrationError": "durably.errors",
    "PayloadTooLargeError": "durably.errors",
    "PoisonWorkError": "durably.errors",
    "VersionMismatchError": "durably.errors",
    "StoreError": "durably.errors",
    "TaskFailedError": "durably.errors",
    "FailureDetails": "durably.history",
    "HistoryEvent": "durably.history",
    "OrchestrationRuntimeStatus": "durably.history",
    "DurableOrchestrationStatus": "durably.status",
    "InstancePage": "durably.status",
    "PurgeHistoryResult": "durably.status",
    "Worker": "durably.worker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'durably' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "App",
    "AsyncClient",
    "Backend",
    "Client",
    "DurableOrchestrationStatus",
    "DurablyError",
    "EntityContext",
    "EntityId",
    "EntityStateResponse",
    "FailureDetails",
    "HistoryEvent",
    "HistoryTooLongError",
    "InstanceExistsError",
    "InstanceNotFoundError",
    "InstancePage",
    "InvalidInstanceStateError",
    "LockLost",
    "NonDeterministicOrchestrationError",
    "OrchestrationContext",
    "OrchestrationRuntimeStatus",
    "PayloadTooLargeError",
    "PoisonWorkError",
    "PurgeHistoryResult",
    "RetryOptions",
    "StoreError",
    "Task",
    "TaskFailedError",
    "TimerTask",
    "VersionMismatchError",
    "Worker",
    "__version__",
]
