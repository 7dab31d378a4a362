"""EntityContext: what an entity's operation sees (function-based entities), and the
class-based form, whose public methods are the operations and whose instance attributes
are the state."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from durably.entities.ids import EntityId

T = TypeVar("T")
_UNSET: Any = object()


class EntityContext:
    """One operation on an entity: its name and input, the entity's state, the result.

    ``get_state(initializer)`` gives the state (``initializer()`` for an entity that
    has none yet), ``set_state(v)`` replaces it, ``set_result(v)`` answers a caller,
    ``destruct_on_exit()`` deletes the entity once the operation succeeds.
    """

    def __init__(
        self, entity_id: EntityId, operation: str, input_: Any, state: Any, exists: bool
    ) -> None:
        self._entity_id = entity_id
        self._operation = operation
        self._input = input_
        self._state = state
        self._has_state = exists
        self._result: Any = None
        self._destruct = False

    @property
    def entity_id(self) -> EntityId:
        return self._entity_id

    @property
    def entity_name(self) -> str:
        return self._entity_id.name

    @property
    def entity_key(self) -> str:
        return self._entity_id.key

    @property
    def operation_name(self) -> str:
        return self._operation

    @overload
    def get_input(self) -> Any: ...
    @overload
    def get_input(self, as_type: type[T]) -> T: ...

    def get_input(self, as_type: Any = None) -> Any:
        """The operation's input (converted to ``as_type`` when given)."""
        if as_type is None:
            return self._input
        from durably.typed import convert

        return convert(self._input, as_type)

    def get_state(self, initializer: Callable[[], Any] | None = None) -> Any:
        """The entity's state; ``initializer()`` (or None) if it has none yet."""
        if not self._has_state:
            return initializer() if initializer is not None else None
        return self._state

    def set_state(self, state: Any) -> None:
        """Replace the entity's state (it exists from now on)."""
        self._state, self._has_state, self._destruct = state, True, False

    def delete_state(self) -> None:
        """Delete the entity's state: the entity no longer exists."""
        self._state, self._has_state = None, False

    def set_result(self, result: Any) -> None:
        """The value a caller's ``call_entity`` returns."""
        self._result = result

    def destruct_on_exit(self) -> None:
        """Delete the entity once this operation succeeds."""
        self._destruct = True

    @property
    def has_state(self) -> bool:
        return self._has_state and not self._destruct

    @property
    def state(self) -> Any:
        return self._state

    @property
    def result(self) -> Any:
        return self._result


def run_class_operation(cls: type, context: EntityContext) -> None:
    """Run ``context``'s operation as a method of ``cls``: the state is the instance's
    attributes (an entity without state starts from ``cls()``); the method's return
    value is the result. The built-in ``delete`` operation deletes the entity."""
    operation = context.operation_name
    if operation == "delete" and not hasattr(cls, "delete"):
        context.delete_state()
        return
    method = getattr(cls, operation, None)
    if operation.startswith("_") or method is None or not callable(method):
        public = sorted(n for n, v in vars(cls).items() if callable(v) and not n.startswith("_"))
        raise ValueError(
            f"entity {context.entity_name!r} has no operation {operation!r};"
            f" its operations: {', '.join(public) or 'none'}"
        )
    if context.has_state and isinstance(context.state, dict):
        instance: Any = object.__new__(cls)
        instance.__dict__.update(context.state)
    else:
        instance = cls()
    bound = getattr(instance, operation)
    takes_input = len(inspect.signature(bound).parameters) > 0
    value = bound(context.get_input()) if takes_input else bound()
    context.set_state(dict(vars(instance)))
    context.set_result(value)
