"""durably: durable functions for Python, with no cloud attached.

Write orchestrators as generator functions that yield tasks; durably checkpoints every
step into an append-only history and rebuilds local state by replay.
"""

from durably.app import App
from durably.backends.base import Backend
from durably.client import Client
from durably.engine.context import OrchestrationContext
from durably.engine.retry import RetryOptions
from durably.engine.tasks import Task, TimerTask
from durably.errors import (
    DurablyError,
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
    LockLost,
    NonDeterministicOrchestrationError,
    OrchestrationFailedError,
    StoreError,
    TaskFailedError,
)
from durably.history import FailureDetails, HistoryEvent, OrchestrationRuntimeStatus
from durably.status import DurableOrchestrationStatus, InstancePage, PurgeHistoryResult
from durably.worker import Worker

__version__ = "0.1.0"

__all__ = [
    "App",
    "Backend",
    "Client",
    "DurableOrchestrationStatus",
    "DurablyError",
    "FailureDetails",
    "HistoryEvent",
    "InstanceExistsError",
    "InstanceNotFoundError",
    "InstancePage",
    "InvalidInstanceStateError",
    "LockLost",
    "NonDeterministicOrchestrationError",
    "OrchestrationContext",
    "OrchestrationFailedError",
    "OrchestrationRuntimeStatus",
    "PurgeHistoryResult",
    "RetryOptions",
    "StoreError",
    "Task",
    "TaskFailedError",
    "TimerTask",
    "Worker",
    "__version__",
]
