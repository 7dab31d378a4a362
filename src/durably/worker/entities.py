"""An entity's episode: the messages waiting in its inbox, handled in the order they
arrived, into the one commit that stores its new state with everything it sends.

Operations run as one batch (:mod:`durably.entities.batch`). A critical section's lock
request locks the entity for its orchestration and travels on to the next entity of the
section (or, at the last one, tells the orchestration its locks are all held); while
locked, the entity runs only its holder's operations and keeps the others, in order,
until the unlock. The lock and those kept messages are stored beside the state, in the
instance row's custom status.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from durably.app import App
from durably.backends.base import (
    NewInstance,
    NewMessage,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.entities.batch import BatchOutcome, Request, Response, apply_request
from durably.entities.ids import EntityId
from durably.entities.messages import entity_instance
from durably.history import (
    EntityLockGranted,
    EntityLockRequested,
    EntityOperationCalled,
    EntityOperationFailed,
    EntityOperationSignaled,
    EntityUnlockSent,
    FailureDetails,
    HistoryEvent,
    OrchestrationRuntimeStatus,
)

EntityMessage = (
    EntityOperationCalled | EntityOperationSignaled | EntityLockRequested | EntityUnlockSent
)


@dataclass(slots=True)
class Envelope:
    """What an entity keeps beside its state: the lock and the messages it waits on."""

    holder: str | None = None
    section: str | None = None
    queue: list[EntityMessage] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, text: str | None) -> Envelope:
        if not text:
            return cls()
        data = json.loads(text)
        queue = [HistoryEvent.from_dict(e) for e in data.get("queue", ())]
        return cls(
            holder=data.get("lockedBy"),
            section=data.get("section"),
            queue=[e for e in queue if isinstance(e, EntityMessage)],
            released=list(data.get("released", ())),
        )

    def dump(self) -> str | None:
        data: dict[str, Any] = {}
        if self.holder is not None:
            data["lockedBy"], data["section"] = self.holder, self.section
        if self.queue:
            data["queue"] = [event.to_dict() for event in self.queue]
        if self.released:
            data["released"] = self.released  # each leaves when its request comes
        return json.dumps(data, separators=(",", ":")) if data else None


def entity_commit(
    item: OrchestrationWorkItem,
    app: App,
    now: _dt.datetime,
    *,
    poison: FailureDetails | None = None,
) -> OrchestrationCommit:
    """Handle the messages of ``item`` on its entity; the commit keeps the state in the
    instance row's input, the lock and waiting messages in its custom status, and
    records what the episode handled as the instance's history. With ``poison`` (the
    batch was delivered too often without a commit: an operation kills its worker) the
    operations fail with it, unrun, and the state stays as it was."""
    instance = item.instance
    entity_id = EntityId.of(instance.instance_id)
    envelope = Envelope.load(instance.custom_status)
    arrived = [m.event for m in item.messages if isinstance(m.event, EntityMessage)]
    episode = _Episode(app, entity_id, envelope, BatchOutcome(state=instance.input), now, poison)
    episode.handle(deque([*envelope.queue, *arrived]))
    outcome = episode.outcome
    answers = [
        NewMessage(
            instance_id=r.instance_id, event=r.event, visible_at=now, execution_id=r.execution_id
        )
        for r in outcome.responses
    ]
    return OrchestrationCommit(
        work_item=item,
        new_events=tuple(outcome.events),
        # The history shows the last batch that handled something (one that only kept
        # messages for the lock leaves the one before).
        reset_history=bool(outcome.events),
        runtime_status=OrchestrationRuntimeStatus.Running,
        execution_id=instance.execution_id,
        name=instance.name,
        input=outcome.state,
        version=instance.version,
        custom_status=envelope.dump(),
        last_updated_time=now,
        messages=(*answers, *episode.sent),
        new_instances=tuple(episode.created),
    )


@dataclass(slots=True)
class _Episode:
    app: App
    entity_id: EntityId
    envelope: Envelope
    outcome: BatchOutcome
    now: _dt.datetime
    poison: FailureDetails | None = None
    sent: list[NewMessage] = field(default_factory=list)
    created: list[NewInstance] = field(default_factory=list)

    def handle(self, pending: deque[EntityMessage]) -> None:
        envelope = self.envelope
        kept: list[EntityMessage] = []
        while pending:
            message = pending.popleft()
            if isinstance(message, EntityUnlockSent):
                self.outcome.events.append(message)
                if self._unlock(message):
                    pending.extendleft(reversed(kept))  # what waited on the lock, in order
                    kept = []
            elif envelope.holder is not None and _sender(message) != envelope.holder:
                kept.append(message)  # locked for another orchestration: wait
            elif isinstance(message, EntityLockRequested):
                self.outcome.events.append(message)
                self._lock(message)
            else:
                self._operate(message)
        envelope.queue = kept

    def _unlock(self, message: EntityUnlockSent) -> bool:
        envelope = self.envelope
        if envelope.section == message.critical_section_id:
            envelope.holder = envelope.section = None
            return True
        envelope.released.append(message.critical_section_id)  # before its request came
        return False

    def _lock(self, request: EntityLockRequested) -> None:
        envelope = self.envelope
        if request.critical_section_id in envelope.released:
            envelope.released.remove(request.critical_section_id)  # its holder is gone
        else:
            envelope.holder, envelope.section = (
                request.parent_instance_id,
                request.critical_section_id,
            )
        position = request.position + 1
        if position < len(request.lock_set):
            target = request.lock_set[position]
            self.created.append(entity_instance(target, self.now))
            forward = dataclasses.replace(request, position=position, timestamp=self.now)
            self.sent.append(NewMessage(instance_id=target, event=forward, visible_at=self.now))
        elif request.parent_instance_id is not None:
            granted = EntityLockGranted(
                timestamp=self.now, critical_section_id=request.critical_section_id
            )
            self.sent.append(
                NewMessage(
                    instance_id=request.parent_instance_id,
                    event=granted,
                    visible_at=self.now,
                    execution_id=request.parent_execution_id,
                )
            )

    def _operate(self, request: Request) -> None:
        app, entity_id = self.app, self.entity_id
        entity = app.entities.get(entity_id.name)
        if entity is None or self.poison is not None:
            known = ", ".join(sorted(app.entities)) or "none"
            failure = self.poison or FailureDetails(
                error_type="ValueError",
                message=f"no entity named {entity_id.name!r}; this app's entities: {known}",
            )
            _refuse(self.outcome, request, self.now, failure)
            return
        limit = app.max_payload_bytes
        apply_request(
            entity, entity_id, self.outcome, request, self.now, codec=app.codec, limit=limit
        )


def poisoned(item: OrchestrationWorkItem, max_dequeue_count: int) -> FailureDetails | None:
    """The failure of a batch delivered more than ``max_dequeue_count`` times without a
    commit (one of its operations kills or hangs its worker), or None."""
    if item.dequeue_count <= max_dequeue_count:
        return None
    return FailureDetails(
        error_type="PoisonWorkError",
        message=f"the operations waiting on {item.instance.instance_id!r} were delivered"
        f" {item.dequeue_count - 1} times without a commit: one of them kills or hangs its"
        f" worker (max_dequeue_count={max_dequeue_count}); none of them ran",
    )


def _sender(message: EntityMessage) -> str | None:
    """The orchestration a message comes from (None: a signal, from anyone)."""
    if isinstance(message, EntityOperationCalled | EntityLockRequested):
        return message.parent_instance_id
    if isinstance(message, EntityOperationSignaled):
        return message.sender_instance_id
    return None


def _refuse(
    outcome: BatchOutcome, request: Request, now: _dt.datetime, failure: FailureDetails
) -> None:
    """A request that is not run: it fails with ``failure``, recorded in the entity's
    history as an operation's own failure is (a signal's too), and answered to a caller."""
    answer = EntityOperationFailed(
        timestamp=now, request_id=request.request_id, failure_details=failure
    )
    outcome.events += (request, answer)
    if isinstance(request, EntityOperationCalled) and request.parent_instance_id:
        outcome.responses.append(
            Response(request.parent_instance_id, request.parent_execution_id, answer)
        )
