"""Core contract checks on instances: create, send, read, list, purge, task hubs."""

from __future__ import annotations

from durably.backends.base import InstanceQuery
from durably.errors import (
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
)
from durably.history import ExecutionStarted
from durably.testing._contract_kit import (
    LEASE,
    T0,
    Status,
    StoreFactory,
    activity,
    commit,
    drive,
    listed,
    lock,
    lock_one,
    locked_ids,
    message,
    note,
    raises,
    registry,
    seconds,
    start,
)

CHECKS, _check = registry()


@_check
def check_create_and_get(factory: StoreFactory) -> None:
    backend = factory()
    assert backend.get_instance("a") is None
    assert backend.get_history("a") == []
    created = T0 + seconds(1.123457)
    new = start("a", input='{"x":1}', created=created, parent="p")
    backend.create_instance(new)
    record = backend.get_instance("a")
    assert record is not None
    assert (record.instance_id, record.name, record.execution_id) == ("a", "orch", new.execution_id)
    assert record.runtime_status is Status.Pending
    assert (record.input, record.output, record.custom_status) == ('{"x":1}', None, None)
    assert record.created_time == created == record.last_updated_time
    assert record.created_time.utcoffset() == seconds(0)
    assert (record.parent_instance_id, record.history_length) == ("p", 0)
    [item] = lock(backend, now=created)
    assert item.instance == record
    [started] = item.messages
    assert started.event == new.start_event
    assert started.execution_id == new.execution_id


@_check
def check_create_refuses_an_active_instance(factory: StoreFactory) -> None:
    backend = factory()
    for status in (Status.Pending, Status.Running, Status.Suspended, Status.ContinuedAsNew):
        instance_id = f"busy-{status.value}"
        backend.create_instance(start(instance_id))
        if status is not Status.Pending:
            drive(backend, instance_id, status)
        with raises(InstanceExistsError) as caught:
            backend.create_instance(start(instance_id, input='"again"'))
        error = caught[0]
        assert isinstance(error, InstanceExistsError)
        assert (error.instance_id, error.runtime_status) == (instance_id, status)
        record = backend.get_instance(instance_id)
        assert record is not None and record.runtime_status is status and record.input is None
    # The refused start left no message behind: the Pending one has only its own.
    item = lock_one(backend, "busy-Pending")
    assert [m.execution_id for m in item.messages] == [item.instance.execution_id]


@_check
def check_create_replaces_a_terminal_instance(factory: StoreFactory) -> None:
    backend = factory()
    for status in (Status.Completed, Status.Failed, Status.Terminated):
        instance_id = f"done-{status.value}"
        backend.create_instance(start(instance_id, input='"old"'))
        item = lock_one(backend, instance_id)
        done = commit(
            item, events=[note("a"), note("b")], status=status, activities=[activity(item, 0)]
        )
        assert backend.commit_orchestrations([done]) == []
        backend.send_message(message(instance_id, "stray"))
        new = start(instance_id, input='"new"', created=T0 + seconds(5))
        backend.create_instance(new)
        record = backend.get_instance(instance_id)
        assert record is not None and record.runtime_status is Status.Pending
        assert (record.input, record.history_length, record.execution_id) == (
            '"new"',
            0,
            new.execution_id,
        )
        assert record.created_time == T0 + seconds(5)
        assert backend.get_history(instance_id) == []
        fresh = lock_one(backend, instance_id, now=T0 + seconds(5))
        assert [m.event for m in fresh.messages] == [new.start_event]
        work = backend.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10)
        assert [w for w in work if w.instance_id == instance_id] == []


@_check
def check_send_message(factory: StoreFactory) -> None:
    backend = factory()
    with raises(InstanceNotFoundError):
        backend.send_message(message("missing"))
    backend.create_instance(start("a"))
    backend.send_message(message("a", "first", data='"1"'))
    backend.send_message(message("a", "second", data='"2"', execution_id="exec-x"))
    item = lock_one(backend, "a")
    kinds = [type(m.event).__name__ for m in item.messages]
    assert kinds == ["ExecutionStarted", "EventRaised", "EventRaised"]
    assert [getattr(m.event, "name", None) for m in item.messages[1:]] == ["first", "second"]
    assert item.messages[2].execution_id == "exec-x"
    ids = [m.message_id for m in item.messages]
    assert ids == sorted(ids) and len(set(ids)) == 3


@_check
def check_task_hubs_are_isolated(factory: StoreFactory) -> None:
    one, two = factory("hub-one"), factory("hub-two")
    one.create_instance(start("x", input='"one"'))
    item = lock_one(one, "x")
    one.commit_orchestrations(
        [commit(item, activities=[activity(item, 0)], status=Status.Completed)]
    )
    assert two.get_instance("x") is None and two.get_history("x") == []
    assert listed(two) == [] and locked_ids(two) == []
    assert two.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10) == []
    with raises(InstanceNotFoundError):
        two.send_message(message("x"))
    two.create_instance(start("x", input='"two"'))
    assert two.purge_instances(InstanceQuery()) == 0
    assert one.purge_instance("x") is True
    record = two.get_instance("x")
    assert record is not None and record.input == '"two"'
    assert one.get_instance("x") is None


def _populate_for_listing(factory: StoreFactory) -> None:
    backend = factory()
    rows = [
        ("order-1", "orders", Status.Pending),
        ("order-2", "orders", Status.Completed),
        ("order-3", "orders", Status.Running),
        ("ship-1", "shipping", Status.Failed),
        ("ship-2", "shipping", Status.Pending),
        ("Order-9", "orders", Status.Pending),
    ]
    for n, (instance_id, name, status) in enumerate(rows, start=1):
        backend.create_instance(start(instance_id, name=name, created=T0 + seconds(n)))
        if status is not Status.Pending:
            drive(backend, instance_id, status)


@_check
def check_list_instances_filters(factory: StoreFactory) -> None:
    _populate_for_listing(factory)
    backend = factory()
    everything = ["order-1", "order-2", "order-3", "ship-1", "ship-2", "Order-9"]
    assert listed(backend) == everything
    assert listed(backend, runtime_status=frozenset({Status.Pending})) == [
        "order-1",
        "ship-2",
        "Order-9",
    ]
    terminal = frozenset({Status.Completed, Status.Failed})
    assert listed(backend, runtime_status=terminal) == ["order-2", "ship-1"]
    assert listed(backend, runtime_status=frozenset()) == []
    assert listed(backend, name="shipping") == ["ship-1", "ship-2"]
    assert listed(backend, instance_id_prefix="order-") == ["order-1", "order-2", "order-3"]
    assert listed(backend, instance_id_prefix="") == everything
    window = {"created_time_from": T0 + seconds(2), "created_time_to": T0 + seconds(4)}
    assert listed(backend, **window) == ["order-2", "order-3", "ship-1"]
    pending = frozenset({Status.Pending})
    assert listed(backend, name="orders", runtime_status=pending, created_time_from=T0) == [
        "order-1",
        "Order-9",
    ]
    page = backend.list_instances(InstanceQuery(name="shipping"))
    assert page.continuation_token is None
    assert list(page.instances) == [backend.get_instance("ship-1"), backend.get_instance("ship-2")]


@_check
def check_list_instances_pages_stably(factory: StoreFactory) -> None:
    backend = factory()
    created = [T0 + seconds(n) for n in (1, 2, 2, 2, 3, 4, 5)]
    ids = [f"i{n}" for n in range(7)]
    for instance_id, when in zip(ids, created, strict=True):
        backend.create_instance(start(instance_id, created=when))
    seen: list[str] = []
    token: str | None = None
    sizes = []
    while True:
        page = backend.list_instances(InstanceQuery(page_size=3, continuation_token=token))
        seen += [r.instance_id for r in page.instances]
        sizes.append(len(page.instances))
        token = page.continuation_token
        if token is None:
            break
    assert (seen, sizes) == (ids, [3, 3, 1])
    first = backend.list_instances(InstanceQuery(page_size=3))
    assert first.continuation_token is not None
    backend.create_instance(start("early", created=T0))
    backend.create_instance(start("last", created=T0 + seconds(9)))
    drive(backend, "i1", Status.Completed)
    assert backend.purge_instance("i1")
    rest = backend.list_instances(
        InstanceQuery(page_size=10, continuation_token=first.continuation_token)
    )
    assert [r.instance_id for r in rest.instances] == [*ids[3:], "last"]
    exact = backend.list_instances(InstanceQuery(page_size=8))
    assert len(exact.instances) == 8 and exact.continuation_token is None
    with raises(ValueError):
        backend.list_instances(InstanceQuery(continuation_token="not-a-token"))


@_check
def check_purge_rules(factory: StoreFactory) -> None:
    backend = factory()
    assert backend.purge_instance("missing") is False
    for status in (Status.Pending, Status.Running, Status.Suspended, Status.ContinuedAsNew):
        instance_id = f"active-{status.value}"
        backend.create_instance(start(instance_id))
        if status is not Status.Pending:
            drive(backend, instance_id, status)
        with raises(InvalidInstanceStateError) as caught:
            backend.purge_instance(instance_id)
        error = caught[0]
        assert isinstance(error, InvalidInstanceStateError)
        assert (error.instance_id, error.runtime_status, error.operation) == (
            instance_id,
            status,
            "purge",
        )
        assert backend.get_instance(instance_id) is not None
    backend.create_instance(start("done"))
    item = lock_one(backend, "done")
    final = commit(
        item, events=[note("x")], status=Status.Completed, activities=[activity(item, 0)]
    )
    backend.commit_orchestrations([final])
    backend.send_message(message("done", "stray"))
    assert backend.purge_instance("done") is True
    assert backend.get_instance("done") is None and backend.get_history("done") == []
    assert backend.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10) == []
    assert backend.purge_instance("done") is False
    backend.create_instance(start("done"))
    assert [type(m.event) for m in lock_one(backend, "done").messages] == [ExecutionStarted]


@_check
def check_purge_instances_by_query(factory: StoreFactory) -> None:
    _populate_for_listing(factory)
    backend = factory()
    assert backend.purge_instances(InstanceQuery(name="orders", page_size=1)) == 1
    assert backend.get_instance("order-2") is None
    assert listed(backend) == ["order-1", "order-3", "ship-1", "ship-2", "Order-9"]
    assert backend.purge_instances(InstanceQuery(runtime_status=frozenset({Status.Pending}))) == 0
    assert backend.purge_instances(InstanceQuery(created_time_to=T0 + seconds(3))) == 0
    assert backend.purge_instances(InstanceQuery(created_time_from=T0 + seconds(4))) == 1
    assert listed(backend) == ["order-1", "order-3", "ship-2", "Order-9"]


@_check
def check_closed_backends_leave_the_store_to_others(factory: StoreFactory) -> None:
    first = factory()
    first.create_instance(start("a"))
    first.close()
    second = factory()
    record = second.get_instance("a")
    assert record is not None and record.runtime_status is Status.Pending


@_check
def check_a_waiting_note_holds_until_the_next_commit(factory: StoreFactory) -> None:
    # A worker notes why an instance's work waits for another worker (an orchestrator or
    # activity it lacks); status reads show the note until the instance commits again.
    backend = factory()
    for instance_id in ("a", "b", "c"):
        backend.create_instance(start(instance_id))
    backend.note_waiting("missing", "no instance: nothing to note")
    backend.note_waiting("a", "waiting for a worker with orchestrator 'orch'")
    record = backend.get_instance("a")
    assert record is not None and record.waiting == "waiting for a worker with orchestrator 'orch'"
    page = backend.list_instances(InstanceQuery())
    notes = {r.instance_id: r.waiting for r in page.instances}
    assert notes == {"a": record.waiting, "b": None, "c": None}
    backend.note_waiting("a", "a later note replaces the first")
    assert getattr(backend.get_instance("a"), "waiting", None) == "a later note replaces the first"
    item = lock_one(backend, "a", now=T0 + seconds(1))
    backend.abandon_orchestration(item)  # handed back untouched: the note stays
    assert getattr(backend.get_instance("a"), "waiting", None) is not None
    item = lock_one(backend, "a", now=T0 + seconds(1))
    assert backend.commit_orchestrations([commit(item, at=T0 + seconds(1))]) == []
    record = backend.get_instance("a")
    assert record is not None and record.runtime_status is Status.Running
    assert record.waiting is None
    # Only work a worker may take waits so: not a suspended or finished instance's.
    drive(backend, "b", Status.Suspended, now=T0 + seconds(2))
    drive(backend, "c", Status.Completed, now=T0 + seconds(2))
    for instance_id in ("b", "c"):
        backend.note_waiting(instance_id, "ignored")
        assert getattr(backend.get_instance(instance_id), "waiting", None) is None
