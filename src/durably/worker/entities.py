"""An entity's episode: the operations waiting in its inbox, run as one batch, into the
one commit that stores its new state with the answers to its callers."""

from __future__ import annotations

import datetime as _dt

from durably.app import App
from durably.backends.base import NewMessage, OrchestrationCommit, OrchestrationWorkItem
from durably.entities.batch import BatchOutcome, Request, Response, run_batch
from durably.entities.ids import EntityId
from durably.history import (
    EntityOperationCalled,
    EntityOperationFailed,
    EntityOperationSignaled,
    FailureDetails,
    OrchestrationRuntimeStatus,
)


def entity_commit(item: OrchestrationWorkItem, app: App, now: _dt.datetime) -> OrchestrationCommit:
    """Run the requests of ``item`` on its entity; the commit keeps the state in the
    instance row's input and records the batch as the instance's history."""
    instance = item.instance
    entity_id = EntityId.of(instance.instance_id)
    requests: list[Request] = [
        m.event
        for m in item.messages
        if isinstance(m.event, EntityOperationCalled | EntityOperationSignaled)
    ]
    entity = app.entities.get(entity_id.name)
    if entity is None:
        outcome = _unknown(app, entity_id, instance.input, requests, now)
    else:
        outcome = run_batch(
            entity,
            entity_id,
            instance.input,
            requests,
            now,
            codec=app.codec,
            limit=app.max_payload_bytes,
        )
    answers = tuple(
        NewMessage(
            instance_id=r.instance_id, event=r.event, visible_at=now, execution_id=r.execution_id
        )
        for r in outcome.responses
    )
    return OrchestrationCommit(
        work_item=item,
        new_events=tuple(outcome.events),
        reset_history=True,
        runtime_status=OrchestrationRuntimeStatus.Running,
        execution_id=instance.execution_id,
        name=instance.name,
        input=outcome.state,
        version=instance.version,
        last_updated_time=now,
        messages=answers,
    )


def _unknown(
    app: App, entity_id: EntityId, state: str | None, requests: list[Request], now: _dt.datetime
) -> BatchOutcome:
    """Every call to an entity the app lacks fails, naming the ones it has."""
    known = ", ".join(sorted(app.entities)) or "none"
    failure = FailureDetails(
        error_type="ValueError",
        message=f"no entity named {entity_id.name!r}; this app's entities: {known}",
    )
    outcome = BatchOutcome(state=state)
    for request in requests:
        outcome.events.append(request)
        if isinstance(request, EntityOperationCalled) and request.parent_instance_id:
            answer = EntityOperationFailed(
                timestamp=now, request_id=request.request_id, failure_details=failure
            )
            outcome.events.append(answer)
            outcome.responses.append(
                Response(request.parent_instance_id, request.parent_execution_id, answer)
            )
    return outcome
