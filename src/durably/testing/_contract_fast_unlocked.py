"""Fast-path contract checks on commits without a lock (:meth:`FastPaths.
commit_if_unchanged`, :meth:`FastPaths.create_and_commit`) and on status watches."""

from __future__ import annotations

import dataclasses

from durably.backends.base import (
    ActivityClaim,
    FastBackend,
    InboxMessage,
    InstanceRecord,
    NewInstance,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.history import TaskCompleted
from durably.testing._contract_kit import (
    LEASE,
    T0,
    Status,
    StoreFactory,
    activity,
    commit,
    drive,
    fast,
    lock,
    lock_named,
    lock_one,
    message,
    note,
    own_fast_paths,
    registry,
    seconds,
    start,
)

CHECKS, _check = registry()


def _started(backend: FastBackend, instance_id: str) -> InstanceRecord:
    """Create the instance, run its first episode (one note), return it as stored."""
    backend.create_instance(start(instance_id))
    item = lock_one(backend, instance_id)
    assert backend.commit_orchestrations([commit(item, events=[note("first")])]) == []
    record = backend.get_instance(instance_id)
    assert record is not None and record.history_length == 1
    return record


def _stored(backend: FastBackend, instance_id: str) -> InstanceRecord:
    record = backend.get_instance(instance_id)
    assert record is not None
    return record


def _item(record: InstanceRecord) -> OrchestrationWorkItem:
    """A work item made from a remembered ``record``: no lock, no messages."""
    return OrchestrationWorkItem(instance=record, messages=(), lock_token=None)


def _step(
    record: InstanceRecord, text: str = "step", *, status: Status = Status.Running
) -> OrchestrationCommit:
    """An episode run on the remembered ``record``."""
    return commit(_item(record), events=[note(text)], status=status, at=T0 + seconds(1))


@_check
@own_fast_paths
def check_commit_if_unchanged_applies_to_an_unchanged_instance(factory: StoreFactory) -> None:
    backend = fast(factory)
    record = _started(backend, "a")
    step = _step(record, status=Status.Completed)
    with backend.watch_status("a") as watch:
        batch = backend.commit_if_unchanged(step, now=T0)
        assert batch is not None and batch.items == (step.work_item,) and batch.claimed == ()
        assert watch.record == backend.get_instance("a")
    assert backend.get_history("a") == [note("first"), note("step")]
    after = backend.get_instance("a")
    assert after is not None and after.runtime_status is Status.Completed
    assert (after.history_length, after.last_updated_time) == (2, T0 + seconds(1))
    # Once applied, the same memory is stale: a second commit from it changes nothing.
    assert backend.commit_if_unchanged(_step(record, "again"), now=T0) is None
    assert backend.get_history("a") == [note("first"), note("step")]


@_check
@own_fast_paths
def check_commit_if_unchanged_claims_and_retires_activities(factory: StoreFactory) -> None:
    backend = fast(factory)
    record = _started(backend, "a")
    claim = ActivityClaim(owner="w", lock_token="t1", expires=T0 + LEASE, count=1)
    tasks = [activity(_item(record), 0), activity(_item(record), 1)]
    first = dataclasses.replace(_step(record), activities=tuple(tasks), claim=claim)
    batch = backend.commit_if_unchanged(first, now=T0)
    assert batch is not None
    [claimed] = batch.claimed
    assert (claimed.task_id, claimed.lock_token, claimed.dequeue_count) == (0, "t1", 1)
    [free] = backend.lock_next_activities(owner="w2", now=T0, lease=LEASE, limit=10)
    assert free.task_id == 1  # the unclaimed one is ordinary work
    # The next step applies activity 0's result directly, retiring its request.
    record = _stored(backend, "a")
    done = TaskCompleted(timestamp=T0, task_scheduled_id=0, result="1")
    second = dataclasses.replace(
        commit(_item(record), events=[done]), completed_activities=(claimed.message_id,)
    )
    assert backend.commit_if_unchanged(second, now=T0) is not None
    assert backend.get_history("a")[-1] == done
    later = T0 + LEASE * 3
    left = backend.lock_next_activities(owner="w3", now=later, lease=LEASE, limit=10)
    assert [w.task_id for w in left] == [1]


@_check
@own_fast_paths
def check_commit_if_unchanged_refuses_a_changed_instance(factory: StoreFactory) -> None:
    backend = fast(factory)
    record = _started(backend, "a")
    history = backend.get_history("a")
    # Another episode committed since: the history is longer than remembered.
    drive(backend, "a", Status.Running)
    assert backend.commit_if_unchanged(_step(record), now=T0) is None
    assert backend.get_history("a") == [*history, note("Running")]
    # A new execution (restarted after it finished) with the same history length.
    fresh = _started(fast(factory), "b")
    drive(backend, "b", Status.Completed)
    backend.create_instance(start("b"))
    item = lock_one(backend, "b")
    assert backend.commit_orchestrations([commit(item, events=[note("first")])]) == []
    assert backend.commit_if_unchanged(_step(fresh), now=T0) is None
    # Another status (suspended, say) with the same history length.
    other = _started(backend, "c")
    suspended = dataclasses.replace(other, runtime_status=Status.Suspended)
    assert backend.commit_if_unchanged(_step(suspended), now=T0) is None
    assert backend.commit_if_unchanged(_step(other), now=T0) is not None
    # An instance that is gone.
    drive(backend, "b", Status.Completed)
    assert backend.purge_instance("b")
    assert backend.commit_if_unchanged(_step(fresh), now=T0) is None


@_check
@own_fast_paths
def check_commit_if_unchanged_refuses_while_messages_wait(factory: StoreFactory) -> None:
    backend = fast(factory)
    record = _started(backend, "a")
    backend.send_message(message("a", "later", visible_at=T0 + seconds(60)))
    # A message not visible yet (a timer) does not stand in the way.
    applied = backend.commit_if_unchanged(_step(record), now=T0)
    assert applied is not None
    record = _stored(backend, "a")
    backend.send_message(message("a", "now", visible_at=T0))
    assert backend.commit_if_unchanged(_step(record, "blocked"), now=T0) is None
    assert backend.get_history("a") == [note("first"), note("step")]
    item = lock_one(backend, "a")  # the message is still there, for an ordinary episode
    assert [getattr(m.event, "name", None) for m in item.messages] == ["now"]


@_check
@own_fast_paths
def check_commit_if_unchanged_respects_a_live_lease(factory: StoreFactory) -> None:
    backend = fast(factory)
    record = _started(backend, "a")
    taken = lock_named(backend, ["a"], owner="other")
    assert len(taken) == 1
    assert backend.commit_if_unchanged(_step(record), now=T0) is None
    # Once the lease ran out, the commit applies and the old holder's commit is lost.
    after = T0 + LEASE + seconds(1)
    assert backend.commit_if_unchanged(_step(record), now=after) is not None
    assert backend.commit_orchestrations([commit(taken[0], events=[note("late")])]) == ["a"]
    assert backend.get_history("a")[-1] == note("step")


def _first(new: NewInstance, *, status: Status = Status.Running) -> OrchestrationCommit:
    """The first episode of ``new``, run before anything was written."""
    start_message = InboxMessage(message_id=0, event=new.start_event, execution_id=new.execution_id)
    item = OrchestrationWorkItem(
        instance=new.pending_record(), messages=(start_message,), lock_token=None
    )
    tasks = (activity(item, 0), activity(item, 1))
    claim = ActivityClaim(owner="w", lock_token="t", expires=T0 + LEASE, count=1)
    episode = commit(
        item, events=[new.start_event, note("first")], status=status, at=T0 + seconds(1)
    )
    return dataclasses.replace(episode, custom_status='"s"', activities=tasks, claim=claim)


@_check
@own_fast_paths
def check_create_and_commit_writes_the_first_episode(factory: StoreFactory) -> None:
    backend = fast(factory)
    new = start("a", input='"in"', parent="p")
    batch = backend.create_and_commit(new, _first(new))
    assert batch is not None and [w.task_id for w in batch.claimed] == [0]
    record = _stored(backend, "a")
    assert (record.runtime_status, record.execution_id) == (Status.Running, new.execution_id)
    assert (record.input, record.custom_status, record.parent_instance_id) == ('"in"', '"s"', "p")
    assert (record.created_time, record.last_updated_time) == (T0, T0 + seconds(1))
    assert record.history_length == 2
    assert backend.get_history("a") == [new.start_event, note("first")]
    assert lock(backend) == []  # no start message left waiting
    [free] = backend.lock_next_activities(owner="w2", now=T0, lease=LEASE, limit=10)
    assert free.task_id == 1
    # A taken id, active or finished, writes nothing: the caller creates it as usual.
    again = start("a")
    assert backend.create_and_commit(again, _first(again)) is None
    drive(backend, "a", Status.Completed)
    assert backend.create_and_commit(again, _first(again)) is None
    assert _stored(backend, "a").execution_id == new.execution_id
    assert backend.get_history("a") == [new.start_event, note("first"), note("Completed")]


@_check
@own_fast_paths
def check_create_and_commit_of_a_finished_first_episode(factory: StoreFactory) -> None:
    backend = fast(factory)
    new = start("b")
    with backend.watch_status("b") as watch:
        assert backend.create_and_commit(new, _first(new, status=Status.Completed)) is not None
        assert watch.record == backend.get_instance("b")
    assert watch.record is not None and watch.record.runtime_status is Status.Completed


@_check
def check_a_status_watch_gets_the_finished_instance(factory: StoreFactory) -> None:
    backend = fast(factory)
    backend.create_instance(start("w", input='"in"'))
    with backend.watch_status("w") as watch, backend.watch_status("w") as second:
        assert watch.instance_id == "w" and watch.record is None
        item = lock_one(backend, "w")
        running = commit(item, events=[note("step")], status=Status.Running)
        assert backend.commit_orchestrations([running]) == []
        assert watch.record is None  # not finished yet
        backend.send_message(message("w", "go"))
        item = lock_one(backend, "w")
        at = T0 + seconds(2.5)
        done = commit(item, events=[note("end")], status=Status.Completed, output='"out"', at=at)
        assert backend.commit_orchestrations([done]) == []
        assert watch.record == backend.get_instance("w") == second.record
        assert watch.record is not None and watch.record.output == '"out"'
        assert watch.record.last_updated_time == at and watch.record.history_length == 2
    backend.create_instance(start("w"))  # replaces the finished one
    with backend.watch_status("w") as late:
        drive(backend, "w", Status.Failed)
        assert late.record is not None and late.record.runtime_status is Status.Failed
        assert late.record == backend.get_instance("w")
    with backend.watch_status("w") as idle:
        backend.purge_instance("w")
        assert idle.record is None
