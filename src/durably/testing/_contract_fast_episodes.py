"""Fast-path contract checks on batches of episodes: :meth:`FastPaths.run_episodes`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from durably.backends.base import (
    ActivityClaim,
    ActivityResult,
    ActivityWorkItem,
    NewInstance,
    OrchestrationCommit,
    OrchestrationWorkItem,
)
from durably.errors import InstanceExistsError
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
    lock_one,
    locked_ids,
    message,
    note,
    own_fast_paths,
    raises,
    registry,
    start,
)

CHECKS, _check = registry()


@_check
def check_run_episodes_locks_runs_and_commits_together(factory: StoreFactory) -> None:
    backend = fast(factory)
    for name in ("a", "b", "c"):
        backend.create_instance(start(name))
    busy = lock_one(backend, "c")
    seen: list[str] = []

    def runner(items: Sequence[OrchestrationWorkItem]) -> list[OrchestrationCommit]:
        seen.extend(i.instance.instance_id for i in items)
        return [commit(i, events=[note(i.instance.instance_id)]) for i in items]

    batch = backend.run_episodes(
        runner, owner="w", now=T0, lease=LEASE, limit=5, instance_ids=["a", "c", "missing"]
    )
    # The named free instance first, then others with visible messages; the busy one never.
    assert seen == ["a", "b"]
    assert [i.instance.instance_id for i in batch.items] == ["a", "b"]
    assert (batch.lost, batch.claimed) == (frozenset(), ())
    assert backend.get_history("a") == [note("a")]
    assert backend.get_history("b") == [note("b")]
    assert backend.get_instance("a").runtime_status is Status.Running  # type: ignore[union-attr]
    assert backend.commit_orchestrations([commit(busy)]) == []
    nothing = backend.run_episodes(runner, owner="w", now=T0, lease=LEASE, limit=5)
    assert nothing.items == () and seen == ["a", "b"]  # no visible work: runner not called


@_check
def check_run_episodes_named_only_with_no_limit(factory: StoreFactory) -> None:
    backend = fast(factory)
    backend.create_instance(start("a"))
    backend.create_instance(start("b"))
    batch = backend.run_episodes(
        lambda items: [commit(i) for i in items],
        owner="w",
        now=T0,
        lease=LEASE,
        limit=0,
        instance_ids=["b"],
    )
    assert [i.instance.instance_id for i in batch.items] == ["b"]
    assert locked_ids(backend) == ["a"]


@_check
def check_run_episodes_creates_the_instance_it_starts(factory: StoreFactory) -> None:
    backend = fast(factory)
    seen: list[OrchestrationWorkItem] = []

    def runner(items: Sequence[OrchestrationWorkItem]) -> list[OrchestrationCommit]:
        seen.extend(items)
        return [commit(i, events=[note(i.instance.instance_id)]) for i in items]

    def run(new: NewInstance) -> None:
        backend.run_episodes(runner, owner="w", now=T0, lease=LEASE, limit=0, create=new)

    new = start("a", input='"in"', parent="p")
    run(new)
    [item] = seen
    record = item.instance
    assert (record.instance_id, record.name, record.execution_id) == ("a", "orch", new.execution_id)
    assert (record.runtime_status, record.input, record.parent_instance_id) == (
        Status.Pending,
        '"in"',
        "p",
    )
    assert (record.created_time, record.history_length) == (T0, 0)
    assert [(m.event, m.execution_id) for m in item.messages] == [
        (new.start_event, new.execution_id)
    ]
    assert backend.get_history("a") == [note("a")]
    assert lock(backend) == []  # the start message was consumed with the episode
    # An active instance is refused, with nothing run or written.
    with raises(InstanceExistsError):
        run(start("a", input='"again"'))
    assert len(seen) == 1 and backend.get_history("a") == [note("a")]
    # A finished one is replaced: the episode runs on the new execution.
    drive(backend, "a", Status.Completed)
    again = start("a", input='"new"')
    run(again)
    assert seen[-1].instance.execution_id == again.execution_id
    assert seen[-1].instance.history_length == 0
    assert [m.execution_id for m in seen[-1].messages] == [again.execution_id]
    assert backend.get_history("a") == [note("a")]


@_check
def check_a_failing_runner_commits_nothing_and_frees_the_locks(factory: StoreFactory) -> None:
    backend = fast(factory)
    backend.create_instance(start("a"))

    def runner(items: Sequence[OrchestrationWorkItem]) -> list[OrchestrationCommit]:
        raise RuntimeError("episode blew up")

    with raises(RuntimeError):
        backend.run_episodes(runner, owner="w", now=T0, lease=LEASE, limit=5)
    assert backend.get_history("a") == []
    [item] = lock(backend)  # free again at once, its message still there
    assert [type(m.event).__name__ for m in item.messages] == ["ExecutionStarted"]


@_check
@own_fast_paths
def check_a_claim_enqueues_activities_locked_for_the_caller(factory: StoreFactory) -> None:
    backend = fast(factory)
    backend.create_instance(start("a"))
    claim = ActivityClaim(owner="w", lock_token="claim-token", expires=T0 + LEASE, count=2)

    def runner(items: Sequence[OrchestrationWorkItem]) -> list[OrchestrationCommit]:
        tasks = [activity(items[0], n) for n in range(3)]
        return [dataclasses.replace(commit(items[0], activities=tasks), claim=claim)]

    batch = backend.run_episodes(runner, owner="w", now=T0, lease=LEASE, limit=5)
    assert [(w.task_id, w.lock_token, w.dequeue_count) for w in batch.claimed] == [
        (0, "claim-token", 1),
        (1, "claim-token", 1),
    ]
    # Only the unclaimed one is up for grabs until the claim's lease runs out.
    [free] = backend.lock_next_activities(owner="w2", now=T0, lease=LEASE * 2, limit=10)
    assert free.task_id == 2
    done = TaskCompleted(timestamp=T0, task_scheduled_id=0, result="1")
    result = ActivityResult(work_item=batch.claimed[0], event=done, visible_at=T0)
    assert backend.complete_activities([result]) == []
    [again] = backend.lock_next_activities(owner="w2", now=T0 + LEASE, lease=LEASE, limit=10)
    assert (again.task_id, again.dequeue_count) == (1, 2)


@_check
@own_fast_paths
def check_a_claim_after_a_completed_activity_is_new_work(factory: StoreFactory) -> None:
    # A commit that applies activity results (completed_activities) and claims the next
    # activities: the claims are fresh work for the caller, whatever the store does with
    # the finished rows, even when a finished row is already gone (another worker re-ran
    # that activity and delivered its result through the inbox).
    backend = fast(factory)
    backend.create_instance(start("a"))

    def step(task_ids: list[int], done: tuple[int, ...], token: str) -> list[ActivityWorkItem]:
        claim = ActivityClaim(owner="w", lock_token=token, expires=T0 + LEASE, count=9)

        def runner(items: Sequence[OrchestrationWorkItem]) -> list[OrchestrationCommit]:
            tasks = [activity(items[0], n) for n in task_ids]
            applied = commit(items[0], activities=tasks)
            return [dataclasses.replace(applied, claim=claim, completed_activities=done)]

        batch = backend.run_episodes(
            runner, owner="w", now=T0, lease=LEASE, limit=0, instance_ids=["a"]
        )
        return list(batch.claimed)

    first = step([0, 1], (), "t1")
    second = step([2, 3, 4], tuple(w.message_id for w in first), "t2")
    assert [(w.task_id, w.lock_token, w.dequeue_count) for w in second] == [
        (2, "t2", 1),
        (3, "t2", 1),
        (4, "t2", 1),
    ]
    assert len({w.message_id for w in second}) == 3
    done = TaskCompleted(timestamp=T0, task_scheduled_id=0, result="1")
    old = [ActivityResult(work_item=w, event=done, visible_at=T0) for w in first]
    # The finished activities' leases are over: their results cannot be delivered again.
    assert sorted(backend.complete_activities(old)) == sorted(w.message_id for w in first)
    # Another worker delivered activity 2 through the inbox before our commit ran.
    assert backend.complete_activities([dataclasses.replace(old[0], work_item=second[0])]) == []
    third = step([5], (second[0].message_id,), "t3")
    assert [(w.task_id, w.lock_token) for w in third] == [(5, "t3")]
    assert backend.lock_next_activities(owner="w2", now=T0, lease=LEASE, limit=10) == []
    later = T0 + LEASE
    taken = backend.lock_next_activities(owner="w2", now=later, lease=LEASE, limit=10)
    assert sorted(w.task_id for w in taken) == [3, 4, 5]


@_check
def check_an_activity_result_is_applied_only_under_its_lease(factory: StoreFactory) -> None:
    # A worker applies its activity's result in the episode's own transaction only while
    # the activity is still leased to it. Once the lease ran out (the worker was paused)
    # another worker may run the activity again: the first result must then go through
    # complete_activities, which drops it; so a result from before a rewind can never
    # land on the task the rewind reopened.
    backend = fast(factory)
    backend.create_instance(start("a"))
    item = lock_one(backend, "a")
    backend.commit_orchestrations([commit(item, activities=[activity(item, 0)])])
    [first] = backend.lock_next_activities(owner="w1", now=T0, lease=LEASE, limit=1)
    later = T0 + LEASE
    [second] = backend.lock_next_activities(owner="w2", now=later, lease=LEASE, limit=1)
    backend.send_message(message("a"))  # the instance has work of its own
    seen: list[str] = []

    def runner(items: Sequence[OrchestrationWorkItem]) -> list[OrchestrationCommit]:
        seen.extend(i.instance.instance_id for i in items)
        return [commit(i, events=[note("applied")]) for i in items]

    def run(work: ActivityWorkItem, owner: str) -> list[str]:
        seen.clear()
        backend.run_episodes(
            runner,
            owner=owner,
            now=later,
            lease=LEASE,
            limit=5,
            instance_ids=["a"],
            activities=[work],
        )
        return list(seen)

    assert run(first, "w1") == []  # neither named nor found among the others
    assert run(second, "w2") == ["a"]
