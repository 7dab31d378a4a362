"""What a client does with entities: signal them and read their state (the
:class:`~durably.client.Client` methods; :class:`~durably.async_client.AsyncClient` has
them as coroutines)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import uuid
from typing import Any

from durably.backends.base import FastBackend, InstanceRecord, NewMessage
from durably.codecs import Codec
from durably.entities.batch import load_state
from durably.entities.ids import EntityId, entity_id
from durably.entities.messages import entity_instance
from durably.entities.state import EntityStateResponse
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
        entity: EntityId | tuple[str, str],
        operation: str,
        input_: Any = None,
        *,
        signal_time: _dt.datetime | None = None,
    ) -> None:
        """Send ``operation`` to the entity (created by its first operation); with
        ``signal_time`` it is delivered then, not before."""
        target = entity_id(entity)
        message = self._signal_message(target, operation, input_, signal_time)
        for _ in range(3):  # the row may be purged between the two: create it again
            with contextlib.suppress(InstanceExistsError):
                self.backend.create_instance(entity_instance(target.instance_id, _now()))
            with contextlib.suppress(InstanceNotFoundError):
                self.backend.send_message(message)
                return
        raise InstanceNotFoundError(target.instance_id)

    def read_entity_state(self, entity: EntityId | tuple[str, str]) -> EntityStateResponse:
        """Whether the entity exists, and its state."""
        return self._entity_state(self.backend.get_instance(entity_id(entity).instance_id))

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
        )
        if signal_time is not None and signal_time.tzinfo is None:
            signal_time = signal_time.replace(tzinfo=_dt.UTC)
        at = now if signal_time is None else max(now, signal_time)
        return NewMessage(instance_id=target.instance_id, event=request, visible_at=at)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)
