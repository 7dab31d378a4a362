"""What a client does with entities: signal them and read their state (the
:class:`~durably.client.Client` methods; :class:`~durably.async_client.AsyncClient` has
them as coroutines)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import uuid
from typing import Any

from durably import tracing
from durably.backends.base import (
    Backend,
    EntityPurging,
    FastBackend,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
    NewMessage,
    RecordPage,
)
from durably.codecs import Codec
from durably.entities.batch import load_state
from durably.entities.ids import PREFIX, EntityId, as_entity_id, entity_name
from durably.entities.messages import entity_instance
from durably.entities.state import EntityMetadata, EntityPage, EntityStateResponse
from durably.errors import InstanceExistsError, InstanceNotFoundError
from durably.history import EntityOperationSignaled
from durably.ids import validate_name


class EntityClient:
    """The entity methods of a client on ``backend``."""

    backend: FastBackend

    @property
    def _codec(self) -> Codec | None:
        raise NotImplementedError

    def _dumps(self, value: Any, what: str) -> str | None:
        raise NotImplementedError

    def signal_entity(
        self,
        entity_id: EntityId | tuple[str, str],
        operation: str,
        input_: Any = None,
        *,
        signal_time: _dt.datetime | None = None,
    ) -> None:
        """Send ``operation`` to the entity (created by its first operation); with
        ``signal_time`` it is delivered then, not before."""
        target = as_entity_id(entity_id)
        message = self._signal_message(target, operation, input_, signal_time)
        row = entity_instance(target.instance_id, _now())
        if isinstance(self.backend, EntityPurging):
            self.backend.send_to_entity(row, message)
            return
        send_to_entity(self.backend, row, message)

    def read_entity_state(self, entity_id: EntityId | tuple[str, str]) -> EntityStateResponse:
        """Whether the entity exists, and its state."""
        return self._entity_state(self.backend.get_instance(as_entity_id(entity_id).instance_id))

    def list_entities(
        self,
        name: str | None = None,
        *,
        last_operation_from: _dt.datetime | None = None,
        last_operation_to: _dt.datetime | None = None,
        include_deleted: bool = False,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> EntityPage:
        """A page of entities (of one name, if given), by instance id, with their state,
        filtered by the time of their last operation. Deleted ones (no state) are left
        out unless ``include_deleted``; a filtered page may hold fewer than
        ``page_size``: follow the token to the end."""
        page = self.backend.list_instances(entity_query(name, page_size, continuation_token))
        return self._entity_page(page, last_operation_from, last_operation_to, include_deleted)

    def purge_entities(self, name: str | None = None) -> int:
        """Delete the entities (of ``name``, if given) that hold nothing: no state, no
        lock, no operation waiting or on its way; how many. (An entity without state
        keeps its row until then: it exists again from its next operation either way.)
        ``TypeError`` for a store that cannot purge entities."""
        backend = self.backend
        if not isinstance(backend, EntityPurging):
            raise TypeError(f"the store {type(backend).__name__} cannot purge entities")
        purged, token = 0, None
        while True:
            page = self.list_entities(
                name, include_deleted=True, page_size=1000, continuation_token=token
            )
            for found in page.entities:
                if not found.entity_exists and found.locked_by is None:
                    purged += backend.purge_entity(found.entity_id.instance_id)
            token = page.continuation_token
            if token is None:
                return purged

    def _entity_page(
        self,
        page: RecordPage,
        last_operation_from: _dt.datetime | None,
        last_operation_to: _dt.datetime | None,
        include_deleted: bool,
    ) -> EntityPage:
        """The entities of a page of their instance rows that pass the filters."""
        entities = [self._metadata(record) for record in page.instances]
        kept = [
            e
            for e in entities
            if (include_deleted or e.entity_exists)
            and (last_operation_from is None or e.last_operation_time >= last_operation_from)
            and (last_operation_to is None or e.last_operation_time < last_operation_to)
        ]
        return EntityPage(entities=kept, continuation_token=page.continuation_token)

    def _metadata(self, record: InstanceRecord) -> EntityMetadata:
        found = self._entity_state(record)
        lock = json.loads(record.custom_status) if record.custom_status else {}
        return EntityMetadata(
            entity_id=EntityId.of(record.instance_id),
            last_operation_time=record.last_updated_time,
            entity_exists=found.entity_exists,
            entity_state=found.entity_state,
            locked_by=lock.get("lockedBy"),
            waiting_operations=len(lock.get("queue", ())),
        )

    def _entity_state(self, record: InstanceRecord | None) -> EntityStateResponse:
        if record is None or record.input is None:
            return EntityStateResponse(entity_exists=False)
        state = load_state(record.input, self._codec)
        return EntityStateResponse(entity_exists=True, entity_state=state)

    def _signal_message(
        self, target: EntityId, operation: str, input_: Any, signal_time: _dt.datetime | None
    ) -> NewMessage:
        text = self._dumps(input_, "entity operation input")
        now = _now()
        request = EntityOperationSignaled(
            timestamp=now,
            request_id=uuid.uuid4().hex,
            operation=validate_name(operation, "an entity operation's name"),
            input=text,
            scheduled_time=signal_time,
            target_instance_id=target.instance_id,
            parent_trace_context=tracing.caller_context(),
        )
        if signal_time is not None and signal_time.tzinfo is None:
            signal_time = signal_time.replace(tzinfo=_dt.UTC)
        at = now if signal_time is None else max(now, signal_time)
        return NewMessage(instance_id=target.instance_id, event=request, visible_at=at)


def entity_query(name: str | None, page_size: int, continuation_token: str | None) -> InstanceQuery:
    """The instance query of a page of entities (of ``name``, if given)."""
    prefix = f"{PREFIX}{entity_name(name)}{PREFIX}" if name is not None else PREFIX
    return InstanceQuery(
        instance_id_prefix=prefix, page_size=page_size, continuation_token=continuation_token
    )


def send_to_entity(backend: Backend, row: NewInstance, message: NewMessage) -> None:
    """Deliver ``message`` to an entity with the core calls: create its row (if it has
    none), then send (again if a purge deleted the row in between)."""
    for _ in range(3):
        with contextlib.suppress(InstanceExistsError):
            backend.create_instance(row)
        with contextlib.suppress(InstanceNotFoundError):
            backend.send_message(message)
            return
    raise InstanceNotFoundError(row.instance_id)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)
