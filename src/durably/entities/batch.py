"""Running a batch of an entity's operations: one at a time, in the order they arrived,
each failure rolling back that operation's state change only.

Pure: the worker hands in the entity's stored state and its inbox, and commits what comes
out (the new state, the responses to callers and the events to record) in one
transaction, so an operation's effects and its answer land together or not at all.
"""

from __future__ import annotations

import datetime as _dt
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from durably import payload
from durably.codecs import Codec
from durably.entities.context import EntityContext, run_class_operation
from durably.entities.ids import EntityId
from durably.history import (
    EntityOperationCalled,
    EntityOperationCompleted,
    EntityOperationFailed,
    EntityOperationSignaled,
    FailureDetails,
    HistoryEvent,
)

Request = EntityOperationCalled | EntityOperationSignaled
NO_STATE: None = None
"""The stored state of an entity that does not exist (a state of None is stored "null")."""


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to a called operation, for the caller's inbox."""

    instance_id: str
    execution_id: str | None
    event: EntityOperationCompleted | EntityOperationFailed


@dataclass(slots=True)
class BatchOutcome:
    """What a batch leaves: the state to store (``NO_STATE``: the entity is gone), the
    answers to callers, and the events to record (each request, then its outcome)."""

    state: str | None
    responses: list[Response] = field(default_factory=list)
    events: list[HistoryEvent] = field(default_factory=list)


def run_batch(
    entity: Callable[..., Any] | type,
    entity_id: EntityId,
    state: str | None,
    requests: Sequence[Request],
    now: _dt.datetime,
    *,
    codec: Codec | None = None,
    limit: int | None = None,
) -> BatchOutcome:
    """Apply ``requests`` in order to the entity stored with ``state``."""
    outcome = BatchOutcome(state=state)
    for request in requests:
        apply_request(entity, entity_id, outcome, request, now, codec=codec, limit=limit)
    return outcome


def apply_request(
    entity: Callable[..., Any] | type,
    entity_id: EntityId,
    outcome: BatchOutcome,
    request: Request,
    now: _dt.datetime,
    *,
    codec: Codec | None = None,
    limit: int | None = None,
) -> None:
    """Apply one request to ``outcome``: its state, its events, its answer."""
    outcome.events.append(request)
    answer = _apply(entity, entity_id, outcome, request, now, codec, limit)
    outcome.events.append(answer)  # a signal's too: its error shows in the history
    if isinstance(request, EntityOperationCalled) and request.parent_instance_id:
        outcome.responses.append(
            Response(request.parent_instance_id, request.parent_execution_id, answer)
        )


def _apply(
    entity: Callable[..., Any] | type,
    entity_id: EntityId,
    outcome: BatchOutcome,
    request: Request,
    now: _dt.datetime,
    codec: Codec | None,
    limit: int | None,
) -> EntityOperationCompleted | EntityOperationFailed:
    """One operation; on success its state is kept in ``outcome``, on failure dropped."""
    try:
        exists = outcome.state is not NO_STATE
        context = EntityContext(
            entity_id,
            request.operation,
            payload.loads(request.input, codec),
            load_state(outcome.state, codec) if exists else None,
            exists,
        )
        if inspect.isclass(entity):
            run_class_operation(entity, context)
        else:
            returned = entity(context)
            if returned is not None and context.result is None:
                context.set_result(returned)
        state = dump_state(context.state, codec, limit) if context.has_state else NO_STATE
        what = f"the result of {entity_id.name}.{request.operation}"
        result = payload.dumps(context.result, what=what, limit=limit, codec=codec)
    except Exception as exc:  # the operation's own failure: its state change is dropped
        failure = FailureDetails.from_exception(exc)
        return EntityOperationFailed(
            timestamp=now, request_id=request.request_id, failure_details=failure
        )
    outcome.state = state
    return EntityOperationCompleted(timestamp=now, request_id=request.request_id, output=result)


def dump_state(value: Any, codec: Codec | None, limit: int | None) -> str:
    """An entity's state as stored (a state of None is "null": the entity exists)."""
    text = payload.dumps(value, what="the entity's state", limit=limit, codec=codec)
    return "null" if text is None else text


def load_state(text: str | None, codec: Codec | None) -> Any:
    """The state stored by :func:`dump_state`."""
    return None if text is None or text == "null" else payload.loads(text, codec)
