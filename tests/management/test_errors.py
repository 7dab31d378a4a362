"""Every operation on an unknown instance raises InstanceNotFoundError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import durably
from durably.backends.base import Backend

OPERATIONS: dict[str, Callable[[durably.Client, str], Any]] = {
    "raise_event": lambda c, i: c.raise_event(i, "event", 1),
    "terminate": lambda c, i: c.terminate(i, "reason"),
    "suspend": lambda c, i: c.suspend(i, "reason"),
    "resume": lambda c, i: c.resume(i, "reason"),
    "rewind": lambda c, i: c.rewind(i, "reason"),
    "restart": lambda c, i: c.restart(i),
    "restart with a new id": lambda c, i: c.restart(i, "new-id"),
    "purge_instance_history": lambda c, i: c.purge_instance_history(i),
    "get_history": lambda c, i: c.get_history(i),
    "wait_for_completion": lambda c, i: c.wait_for_completion(i, timeout=1),
}


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
def test_operations_on_an_unknown_instance_raise_instance_not_found(
    backend: Backend, operation: Callable[[durably.Client, str], Any]
) -> None:
    client = durably.Client(backend)
    with pytest.raises(
        durably.InstanceNotFoundError, match="no orchestration instance with id 'ghost'"
    ):
        operation(client, "ghost")
    assert client.get_status("ghost") is None
