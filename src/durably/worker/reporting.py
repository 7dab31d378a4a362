"""What the orchestration dispatcher reports of its commits: log lines (with the
instance's fields, :mod:`durably.logs`), when one is installed the observer's figures
(:mod:`durably.worker.observe`), and when tracing is on the spans of what finished
(:mod:`durably.tracing`)."""

from __future__ import annotations

import itertools
import logging

from durably import logs, payload, tracing
from durably.backends.base import OrchestrationCommit, OrchestrationWorkItem
from durably.engine.replay import OrchestrationExecutor
from durably.entities.ids import EntityId, is_entity
from durably.history import (
    EntityOperationCalled,
    EntityOperationFailed,
    EntityOperationSignaled,
    ExecutionCompleted,
    ExecutionStarted,
    OrchestrationRuntimeStatus,
)
from durably.worker import observe

log = logging.getLogger("durably.worker")
Status = OrchestrationRuntimeStatus


def fields_of(item: OrchestrationWorkItem) -> dict[str, str | None]:
    """The log fields (:mod:`durably.logs`) of a work item's instance."""
    record = item.instance
    return logs.fields(record.instance_id, record.execution_id, record.name)


def log_committed(
    commit: OrchestrationCommit, executor: OrchestrationExecutor | None = None
) -> None:
    """A committed episode at debug level, and a Failed instance as a warning; a
    finished execution is reported to the observer, if any, and traced (``executor``:
    the one that ran the episode, if any)."""
    instance = commit.work_item.instance
    if is_entity(instance.instance_id):
        report_entity(commit)
        return
    if tracing.active():
        trace_committed(commit, executor)
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


def trace_committed(commit: OrchestrationCommit, executor: OrchestrationExecutor | None) -> None:
    """The spans a landed commit closes: the timers that fired in its episode and, if the
    execution ended (or continued as new), the orchestration's."""
    instance = commit.work_item.instance
    fired = executor.timers_fired if executor is not None else ()
    ended = commit.finishes or commit.runtime_status is Status.ContinuedAsNew
    if not fired and not ended:
        return
    started = executor.started if executor is not None else None
    if started is None:
        started = next((e for e in commit.new_events if isinstance(e, ExecutionStarted)), None)
    context = tracing.orchestration_context(
        instance.execution_id, started.parent_trace_context if started else None
    )
    for timer in fired:
        created = timer.created_at or commit.last_updated_time
        tracing.timer_span(
            instance.instance_id, context, timer.task_id, created, commit.last_updated_time
        )
    if not ended or instance.runtime_status.is_terminal:
        return
    completed = next((e for e in commit.new_events if isinstance(e, ExecutionCompleted)), None)
    tracing.orchestration_span(
        instance.name,
        instance.instance_id,
        instance.execution_id,
        started,
        started.timestamp if started is not None else instance.created_time,
        commit.last_updated_time,
        commit.runtime_status,
        completed.failure_details if completed is not None else None,
    )


def report_entity(commit: OrchestrationCommit) -> None:
    """An entity's batch landed: each operation to the observer and, traced, as an
    ``entity:{name}`` span under its sender's span."""
    observer = observe.current()
    traced = tracing.active()
    if observer is None and not traced:
        return
    name = EntityId.of(commit.work_item.instance.instance_id).name
    events = commit.new_events
    for request, answer in itertools.pairwise(events):
        if not isinstance(request, EntityOperationCalled | EntityOperationSignaled):
            continue
        failed = isinstance(answer, EntityOperationFailed)
        status = "Failed" if failed else "Completed"
        if observer is not None:
            observer.entity_operation_done(name, status)
        if traced and request.parent_trace_context:
            failure = answer.failure_details if isinstance(answer, EntityOperationFailed) else None
            tracing.entity_span(
                name,
                request.operation,
                commit.work_item.instance.instance_id,
                request.parent_trace_context,
                commit.last_updated_time,
                failure,
            )
