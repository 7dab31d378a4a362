"""What the orchestration dispatcher reports of its commits: log lines (with the
instance's fields, :mod:`durably.logs`) and, when one is installed, the observer's
figures (:mod:`durably.worker.observe`)."""

from __future__ import annotations

import logging

from durably import logs, payload
from durably.backends.base import OrchestrationCommit, OrchestrationWorkItem
from durably.history import OrchestrationRuntimeStatus
from durably.worker import observe

log = logging.getLogger("durably.worker")
Status = OrchestrationRuntimeStatus


def fields_of(item: OrchestrationWorkItem) -> dict[str, str | None]:
    """The log fields (:mod:`durably.logs`) of a work item's instance."""
    record = item.instance
    return logs.fields(record.instance_id, record.execution_id, record.name)


def log_committed(commit: OrchestrationCommit) -> None:
    """A committed episode at debug level, and a Failed instance as a warning; a
    finished execution is reported to the observer, if any."""
    instance = commit.work_item.instance
    extra = logs.fields(instance.instance_id, commit.execution_id, instance.name)
    observer = observe.current()
    if observer is not None and commit.finishes:
        observer.orchestration_finished(commit.name, commit.runtime_status.value)
    if commit.finishes and commit.runtime_status is Status.Failed:
        first_line = (payload.loads(commit.output) or "").partition("\n")[0]
        log.warning(
            "orchestration %s (%s) failed: %s",
            instance.name,
            instance.instance_id,
            first_line,
            extra=extra,
        )
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "episode of %s (%s): %d messages in, %d events, %d activities, %d messages out, %s",
            instance.name,
            instance.instance_id,
            len(commit.work_item.messages),
            len(commit.new_events),
            len(commit.activities),
            len(commit.messages),
            commit.runtime_status,
            extra=extra,
        )
