"""Core contract checks on work: locking, leases, commits, history, activities."""

from __future__ import annotations

import dataclasses

from durably.backends.base import (
    ActivityClaim,
    ActivityResult,
    NewMessage,
    OrchestrationWorkItem,
)
from durably.history import (
    FailureDetails,
    OrchestratorStarted,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskScheduled,
    TimerFired,
)
from durably.testing._contract_kit import (
    LEASE,
    T0,
    Status,
    StoreFactory,
    activity,
    commit,
    drive,
    lock,
    lock_named,
    lock_one,
    locked_ids,
    message,
    note,
    raises,
    registry,
    seconds,
    start,
)
from durably.versions import InstanceFilter

CHECKS, _check = registry()


@_check
def check_a_lock_takes_only_the_versions_it_admits(factory: StoreFactory) -> None:
    backend = factory()
    for instance_id, version in [("old", "1.9"), ("v2", "2.0"), ("new", "2.10"), ("none", None)]:
        backend.create_instance(start(instance_id, version=version))
    assert backend.get_instance("new").version == "2.10"  # type: ignore[union-attr]

    def taken(only: InstanceFilter) -> set[str]:
        items = backend.lock_next_orchestrations(
            owner="w", now=T0, lease=LEASE, limit=10, only=only
        )
        for item in items:
            backend.abandon_orchestration(item)
        return {item.instance.instance_id for item in items}

    assert taken(InstanceFilter(version="2.0", strict=True)) == {"v2", "none"}
    assert taken(InstanceFilter(version="2.0")) == {"old", "v2", "none"}
    assert taken(InstanceFilter(version="2.10")) == {"old", "v2", "new", "none"}
    assert taken(InstanceFilter(names=frozenset({"other"}))) == set()
    both = InstanceFilter(version="2.0", strict=True, names=frozenset({"orch", "other"}))
    assert taken(both) == {"v2", "none"}
    assert locked_ids(backend) == ["old", "v2", "new", "none"]  # no filter: every one


@_check
def check_messages_are_invisible_before_visible_at(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    backend.commit_orchestrations([commit(lock_one(backend, "a"))])
    fire_at = T0 + seconds(10)
    timer = TimerFired(timestamp=T0, timer_id=1, fire_at=fire_at)
    backend.send_message(NewMessage(instance_id="a", event=timer, visible_at=fire_at))
    assert locked_ids(backend, now=T0 + seconds(5)) == []
    backend.send_message(message("a", "now", visible_at=T0 + seconds(1)))
    item = lock_one(backend, "a", now=T0 + seconds(5))
    assert [type(m.event).__name__ for m in item.messages] == ["EventRaised"]
    assert backend.commit_orchestrations([commit(item)]) == []
    assert locked_ids(backend, now=fire_at - seconds(0.000001)) == []
    item = lock_one(backend, "a", now=fire_at)
    assert [m.event for m in item.messages] == [timer]


@_check
def check_lock_picks_the_oldest_visible_message_first(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("late", created=T0 + seconds(2)))
    backend.create_instance(start("early", created=T0 + seconds(1)))
    backend.create_instance(start("future", created=T0 + seconds(60)))
    assert locked_ids(backend, now=T0 + seconds(5), limit=1) == ["early"]
    assert locked_ids(backend, now=T0 + seconds(5), limit=5) == ["late"]
    assert locked_ids(backend, now=T0 + seconds(5), limit=5) == []


@_check
def check_a_lock_is_exclusive_until_its_lease_expires(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    first = lock_one(backend, "a")
    backend.send_message(message("a", "more"))
    assert locked_ids(backend) == []
    assert locked_ids(backend, now=T0 + LEASE - seconds(0.000001)) == []
    second = lock_one(backend, "a", now=T0 + LEASE)
    assert second.lock_token != first.lock_token
    assert [m.message_id for m in second.messages[:1]] == [first.messages[0].message_id]
    assert len(second.messages) == 2


@_check
def check_a_stale_commit_is_reported_lost_and_changes_nothing(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    stale = lock_one(backend, "a")
    current = lock_one(backend, "a", now=T0 + LEASE + seconds(1))
    backend.create_instance(start("other"))
    episode = commit(
        stale,
        events=[OrchestratorStarted(timestamp=T0)],
        status=Status.Completed,
        activities=[activity(stale, 0)],
        messages=[message("other", "from-stale")],
        new_instances=[start("child")],
    )
    assert backend.commit_orchestrations([episode]) == ["a"]
    record = backend.get_instance("a")
    assert record is not None and record.runtime_status is Status.Pending
    assert record.history_length == 0 and backend.get_history("a") == []
    assert backend.get_instance("child") is None
    assert backend.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10) == []
    assert [type(m.event).__name__ for m in lock_one(backend, "other").messages] == [
        "ExecutionStarted"
    ]
    backend.abandon_orchestration(stale)
    assert "a" not in locked_ids(backend, now=T0 + LEASE + seconds(1))
    assert backend.commit_orchestrations([commit(current, events=[note("ok")])]) == []
    assert backend.get_history("a") == [note("ok")]


@_check
def check_a_work_item_without_a_lease_commits_nothing(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    record = backend.get_instance("a")
    assert record is not None
    unleased = OrchestrationWorkItem(instance=record, messages=(), lock_token=None)
    assert backend.commit_orchestrations([commit(unleased, events=[note("x")])]) == ["a"]
    backend.abandon_orchestration(unleased)
    leased = lock_one(backend, "a")
    assert backend.commit_orchestrations([commit(unleased, events=[note("x")])]) == ["a"]
    backend.abandon_orchestration(unleased)  # the lease is someone else's: kept
    assert locked_ids(backend) == []
    assert backend.get_history("a") == [] and backend.get_instance("a") == record
    assert backend.commit_orchestrations([commit(leased, events=[note("ok")])]) == []


@_check
def check_a_commit_after_an_expired_lease_nobody_took_is_accepted(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    item = lock_one(backend, "a")
    late = commit(item, events=[note("late")], at=T0 + LEASE * 3)
    assert backend.commit_orchestrations([late]) == []
    record = backend.get_instance("a")
    assert record is not None and record.runtime_status is Status.Running
    assert record.last_updated_time == T0 + LEASE * 3


@_check
def check_a_commit_applies_the_whole_episode(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("other"))
    backend.create_instance(start("p"))
    item = lock_one(backend, "p")
    backend.send_message(message("p", "late"))
    events = [
        OrchestratorStarted(timestamp=T0),
        item.messages[0].event,
        TaskScheduled(timestamp=T0, event_id=0, name="activity-0", input='"input-0"'),
        note("end"),
    ]
    episode = commit(
        item,
        events=events,
        at=T0 + seconds(1),
        custom_status='"busy"',
        activities=[activity(item, 0)],
        messages=[message("other", "hello"), message("nobody", "dropped")],
    )
    assert backend.commit_orchestrations([episode]) == []
    record = backend.get_instance("p")
    assert record is not None and record.runtime_status is Status.Running
    assert (record.custom_status, record.history_length) == ('"busy"', 4)
    assert record.last_updated_time == T0 + seconds(1)
    assert backend.get_history("p") == events
    [work] = backend.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10)
    assert (work.instance_id, work.execution_id, work.task_id) == (
        "p",
        item.instance.execution_id,
        0,
    )
    assert (work.name, work.input, work.dequeue_count) == ("activity-0", '"input-0"', 1)
    other = lock_one(backend, "other")
    assert [getattr(m.event, "name", None) for m in other.messages] == ["orch", "hello"]
    assert backend.get_instance("nobody") is None
    again = lock_one(backend, "p")
    assert [getattr(m.event, "name", None) for m in again.messages] == ["late"]


@_check
def check_history_sequencing_and_reset(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    item = lock_one(backend, "a")
    backend.commit_orchestrations([commit(item, events=[note("1"), note("2")])])
    backend.send_message(message("a"))
    item = lock_one(backend, "a")
    assert item.instance.history_length == 2
    backend.commit_orchestrations([commit(item, events=[note("3")])])
    assert backend.get_history("a") == [note("1"), note("2"), note("3")]
    backend.send_message(message("a"))
    item = lock_one(backend, "a")
    renewed = commit(
        item,
        events=[note("4")],
        reset_history=True,
        execution_id="exec-2",
        status=Status.ContinuedAsNew,
    )
    backend.commit_orchestrations([renewed])
    record = backend.get_instance("a")
    assert record is not None and (record.history_length, record.execution_id) == (1, "exec-2")
    assert record.runtime_status is Status.ContinuedAsNew
    backend.send_message(message("a"))
    backend.commit_orchestrations([commit(lock_one(backend, "a"), events=[note("5")])])
    assert backend.get_history("a") == [note("4"), note("5")]
    record = backend.get_instance("a")
    assert record is not None and record.history_length == 2


@_check
def check_a_batch_reports_each_lost_commit(factory: StoreFactory) -> None:
    backend = factory()
    for instance_id in ("a", "b", "c"):
        backend.create_instance(start(instance_id))
    items = {i.instance.instance_id: i for i in lock(backend)}
    backend.abandon_orchestration(items["b"])
    retaken = lock_one(backend, "b")
    batch = [commit(items[i], events=[note(i)], status=Status.Completed) for i in "abc"]
    assert backend.commit_orchestrations(batch) == ["b"]
    for instance_id in ("a", "c"):
        assert backend.get_history(instance_id) == [note(instance_id)]
    record = backend.get_instance("b")
    assert record is not None and record.runtime_status is Status.Pending
    assert backend.commit_orchestrations([commit(retaken, events=[note("b2")])]) == []
    assert backend.get_history("b") == [note("b2")]


@_check
def check_a_failing_batch_changes_nothing(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    backend.create_instance(start("b"))
    items = {i.instance.instance_id: i for i in lock(backend)}
    good = commit(items["a"], events=[note("a")], messages=[message("b", "x")])
    unencodable = TaskScheduled(timestamp=T0, name="x", input=object())  # type: ignore[arg-type]
    poisoned = commit(items["b"], events=[unencodable])
    with raises(Exception):
        backend.commit_orchestrations([good, poisoned])
    for instance_id in ("a", "b"):
        record = backend.get_instance(instance_id)
        assert record is not None and record.runtime_status is Status.Pending
        assert backend.get_history(instance_id) == []
    assert locked_ids(backend) == []
    assert backend.commit_orchestrations([good]) == []
    assert backend.get_history("a") == [note("a")]


@_check
def check_new_instances_and_conflicts(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("p"))
    backend.create_instance(start("busy"))
    backend.create_instance(start("quiet"))
    backend.create_instance(start("done"))
    drive(backend, "done", Status.Completed)
    busy_before = backend.get_instance("busy")
    item = lock_one(backend, "p")
    failure = SubOrchestrationInstanceFailed(
        timestamp=T0,
        task_scheduled_id=1,
        failure_details=FailureDetails(error_type="InstanceExistsError", message="busy"),
    )
    conflict = NewMessage(instance_id="p", event=failure, visible_at=T0)
    children = [
        start("c1", parent="p", input='"1"'),
        start("busy", parent="p", on_conflict=conflict),
        start("quiet", parent="p"),
        start("done", parent="p", input='"again"'),
        start("later", parent="p", visible_at=T0 + seconds(60)),
    ]
    assert backend.commit_orchestrations([commit(item, new_instances=children)]) == []
    for child in children[:4]:
        record = backend.get_instance(child.instance_id)
        assert record is not None and record.runtime_status is Status.Pending
    assert backend.get_instance("busy") == busy_before
    c1 = backend.get_instance("c1")
    assert c1 is not None and (c1.parent_instance_id, c1.input) == ("p", '"1"')
    done = backend.get_instance("done")
    assert done is not None and (done.input, done.history_length) == ('"again"', 0)
    assert backend.get_history("done") == []
    items = {i.instance.instance_id: i for i in lock(backend)}
    assert set(items) == {"p", "c1", "busy", "quiet", "done"}
    assert [m.event for m in items["p"].messages] == [failure]
    assert [m.event for m in items["c1"].messages] == [children[0].start_event]
    assert [m.event for m in items["done"].messages] == [children[3].start_event]
    assert "later" not in items
    assert "later" in locked_ids(backend, now=T0 + seconds(60))


@_check
def check_activity_lock_and_complete(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    item = lock_one(backend, "a")
    later = activity(item, 1, visible_at=T0 + seconds(600))
    backend.commit_orchestrations([commit(item, activities=[activity(item, 0), later])])
    [work] = backend.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10)
    assert (work.task_id, work.dequeue_count) == (0, 1)
    assert backend.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10) == []
    done = TaskCompleted(timestamp=T0, task_scheduled_id=0, result='"r"')
    result = ActivityResult(work_item=work, event=done, visible_at=T0)
    assert backend.complete_activities([result]) == []
    assert backend.complete_activities([result]) == [work.message_id]
    assert backend.lock_next_activities(owner="w", now=T0 + LEASE, lease=LEASE, limit=10) == []
    delivered = lock_one(backend, "a")
    assert [m.event for m in delivered.messages] == [done]
    assert delivered.messages[0].execution_id == item.instance.execution_id
    [work] = backend.lock_next_activities(owner="w", now=T0 + seconds(600), lease=LEASE, limit=10)
    assert work.task_id == 1


@_check
def check_activity_abandon_and_redelivery(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    item = lock_one(backend, "a")
    backend.commit_orchestrations([commit(item, activities=[activity(item, 0)])])
    [first] = backend.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10)
    backend.abandon_activity(first, visible_at=T0 + seconds(5))
    assert backend.lock_next_activities(owner="w", now=T0 + seconds(4), lease=LEASE, limit=1) == []
    [second] = backend.lock_next_activities(owner="w", now=T0 + seconds(5), lease=LEASE, limit=1)
    # The abandon took its delivery back: the worker reported back.
    assert (second.message_id, second.dequeue_count) == (first.message_id, 1)
    assert second.lock_token != first.lock_token
    backend.abandon_activity(first, visible_at=T0)
    assert backend.lock_next_activities(owner="w", now=T0 + seconds(5), lease=LEASE, limit=1) == []
    done = TaskCompleted(timestamp=T0, task_scheduled_id=0)
    stale = ActivityResult(work_item=first, event=done, visible_at=T0)
    assert backend.complete_activities([stale]) == [first.message_id]
    assert locked_ids(backend) == []


@_check
def check_activity_leases_renew_and_expire(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    item = lock_one(backend, "a")
    backend.commit_orchestrations([commit(item, activities=[activity(item, 0)])])
    [first] = backend.lock_next_activities(owner="w1", now=T0, lease=LEASE, limit=1)
    assert backend.renew_activity_locks([first], until=T0 + seconds(60)) == []
    assert (
        backend.lock_next_activities(owner="w2", now=T0 + seconds(45), lease=LEASE, limit=1) == []
    )
    [second] = backend.lock_next_activities(owner="w2", now=T0 + seconds(60), lease=LEASE, limit=1)
    assert second.dequeue_count == 2
    assert backend.renew_activity_locks([first], until=T0 + seconds(600)) == [first.message_id]
    done = TaskCompleted(timestamp=T0, task_scheduled_id=0, result='"first"')
    lost = [ActivityResult(work_item=first, event=done, visible_at=T0)]
    assert backend.complete_activities(lost) == [first.message_id]
    assert locked_ids(backend, now=T0 + seconds(60)) == []
    done = TaskCompleted(timestamp=T0, task_scheduled_id=0, result='"second"')
    won = [ActivityResult(work_item=second, event=done, visible_at=T0)]
    assert backend.complete_activities(won) == []
    delivered = lock_one(backend, "a", now=T0 + seconds(60))
    assert [m.event for m in delivered.messages] == [done]


@_check
def check_an_abandoned_lock_is_free_at_once(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    first = lock_one(backend, "a")
    assert locked_ids(backend, now=T0 + LEASE - seconds(1)) == []
    backend.abandon_orchestration(first)
    second = lock_one(backend, "a")
    assert second.messages == first.messages
    backend.abandon_orchestration(first)  # lost: nothing happens
    assert locked_ids(backend) == []
    assert backend.commit_orchestrations([commit(second, events=[note("ok")])]) == []


@_check
def check_a_lock_takes_the_named_free_instances_first(factory: StoreFactory) -> None:
    backend = factory()
    for name in ("a", "b", "c", "d"):
        backend.create_instance(start(name))
    busy = lock_one(backend, "a")
    items = lock_named(backend, ["c", "a", "missing", "b"], owner="w2")
    assert sorted(i.instance.instance_id for i in items) == ["b", "c"]
    assert all(len(i.messages) == 1 for i in items)  # their ExecutionStarted
    assert locked_ids(backend) == ["d"]
    assert backend.commit_orchestrations([commit(busy)]) == []
    later = T0 + seconds(1)
    [again] = lock_named(backend, ["a"], owner="w2", now=later)
    assert again.messages == ()  # locked even with an empty inbox
    assert lock_named(backend, ["b"], owner="w3", now=later) == []
    [taken] = lock_named(backend, ["b"], owner="w3", now=T0 + LEASE)
    assert taken.instance.instance_id == "b"
    # The named ones first, then up to ``limit`` others with visible messages.
    backend.create_instance(start("e"))
    mixed = backend.lock_next_orchestrations(
        owner="w4", now=T0 + LEASE, lease=LEASE, limit=1, instance_ids=["c"]
    )
    assert [i.instance.instance_id for i in mixed] == ["c", "d"]


@_check
def check_commit_retires_the_activities_it_applied(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    item = lock_one(backend, "a")
    backend.commit_orchestrations([commit(item, activities=[activity(item, 0), activity(item, 1)])])
    works = backend.lock_next_activities(owner="w", now=T0, lease=LEASE, limit=10)
    assert len(works) == 2
    [item] = lock_named(backend, ["a"], owner="w")
    done = TaskCompleted(timestamp=T0, task_scheduled_id=0, result="1")
    applied = commit(item, events=[done])
    applied = dataclasses.replace(applied, completed_activities=(works[0].message_id,))
    assert backend.commit_orchestrations([applied]) == []
    assert backend.get_history("a")[-1] == done
    result = ActivityResult(work_item=works[0], event=done, visible_at=T0)
    assert backend.complete_activities([result]) == [works[0].message_id]
    later = T0 + LEASE
    [left] = backend.lock_next_activities(owner="w", now=later, lease=LEASE, limit=10)
    assert left.task_id == works[1].task_id


@_check
def check_commit_orchestrations_ignores_claims(factory: StoreFactory) -> None:
    backend = factory()
    backend.create_instance(start("a"))
    item = lock_one(backend, "a")
    claim = ActivityClaim(owner="w", lock_token="t", expires=T0 + LEASE, count=1)
    applied = dataclasses.replace(commit(item, activities=[activity(item, 0)]), claim=claim)
    assert backend.commit_orchestrations([applied]) == []
    [work] = backend.lock_next_activities(owner="w2", now=T0, lease=LEASE, limit=10)
    assert (work.task_id, work.dequeue_count) == (0, 1)
