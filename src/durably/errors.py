"""durably's exceptions. Every one derives from :class:`DurablyError`."""

from __future__ import annotations


class DurablyError(Exception):
    """Base class of every error raised by durably."""


class InstanceNotFoundError(DurablyError, LookupError):
    """No orchestration instance has this id in the task hub."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"no orchestration instance with id {instance_id!r}")
        self.instance_id = instance_id


class InstanceExistsError(DurablyError):
    """An instance with this id is still Pending, Running or Suspended."""

    def __init__(self, instance_id: str, runtime_status: str) -> None:
        super().__init__(
            f"an orchestration instance with id {instance_id!r} already exists "
            f"and is {runtime_status}; pick another id or wait until it finishes"
        )
        self.instance_id = instance_id
        self.runtime_status = runtime_status


class InvalidInstanceStateError(DurablyError):
    """The operation is not allowed in the instance's current runtime status."""

    def __init__(self, instance_id: str, runtime_status: str, operation: str) -> None:
        super().__init__(f"cannot {operation} instance {instance_id!r}: it is {runtime_status}")
        self.instance_id = instance_id
        self.runtime_status = runtime_status
        self.operation = operation


class NonDeterministicOrchestrationError(DurablyError):
    """Replay produced a different action than the one recorded in history."""


class TaskFailedError(DurablyError):
    """A task the orchestrator waited on failed.

    ``error_type``, ``message`` and ``details`` (the traceback text) describe the
    original error, raised in another process or another episode.
    """

    def __init__(self, message: str, *, error_type: str, details: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


class LockLost(DurablyError):
    """A worker's lease on an instance or an activity expired before it committed.

    Nothing raises it yet: a store reports lost leases per item (the ids that
    ``commit_orchestrations`` and ``complete_activities`` return), and the worker logs
    them. It stays because the public contract names it.
    """


class PayloadTooLargeError(DurablyError, ValueError):
    """A payload is larger, serialised, than ``max_payload_bytes`` allows.

    ``what`` names the payload ("orchestration input", "the result of activity 'x'"),
    ``size`` is its size in bytes and ``limit`` the limit. Nothing oversized is written.
    """

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(
            f"{what} is {size:,} bytes serialised, over the limit of {limit:,} bytes "
            "(max_payload_bytes)"
        )
        self.what = what
        self.size = size
        self.limit = limit


class HistoryTooLongError(DurablyError):
    """An execution's history would grow past ``max_history_events``: the instance fails.
    An orchestration meant to run for ever calls ``context.continue_as_new`` to start each
    new stretch with a fresh history."""


class PoisonWorkError(DurablyError):
    """Work was delivered ``max_dequeue_count`` times without its worker reporting back
    (the process died, hung or lost its lease each time), so it is not delivered again:
    an activity's task fails with this error."""


class VersionMismatchError(DurablyError):
    """An instance's version is not one its worker takes (``Worker(version_match=...)``),
    and the worker fails such instances (``version_failure="fail"``)."""


class StoreError(DurablyError):
    """The store could not be reached or refused an operation."""
