"""The deterministic context: time, uuids, custom status, replay flag, logger, helpers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Generator
from typing import Any

import pytest

from durably.engine.context import OrchestrationContext
from durably.engine.replay import OrchestrationExecutor
from durably.history import OrchestrationRuntimeStatus

from .helpers import Run, at, completed, output, started

Status = OrchestrationRuntimeStatus


def clock(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    times = [context.current_utc_datetime.isoformat()]
    yield context.call_activity("a")
    times.append(context.current_utc_datetime.isoformat())
    yield context.call_activity("b")
    times.append(context.current_utc_datetime.isoformat())
    return times


def test_current_utc_datetime_is_the_time_of_each_episode() -> None:
    run = Run(clock)
    run.start(when=10)
    run.episode(completed(0, when=15), when=20)
    result = run.episode(completed(1), when=30)
    assert output(result) == [at(10).isoformat(), at(20).isoformat(), at(30).isoformat()]


def test_current_utc_datetime_comes_from_history_when_replaying() -> None:
    run = Run(clock)
    run.start(when=10)
    run.episode(completed(0), when=20)
    fresh = run.replayed()
    result = fresh.execute([completed(1)], at(99))
    assert output(result) == [at(10).isoformat(), at(20).isoformat(), at(99).isoformat()]


def test_current_utc_datetime_is_timezone_aware_utc() -> None:
    def tz(context: OrchestrationContext) -> Any:
        return str(context.current_utc_datetime.tzinfo)

    assert output(Run(tz).start()) == "UTC"


def uuids(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    first = [context.new_uuid(), context.new_uuid()]
    yield context.call_activity("a")
    return [*first, context.new_uuid()]


def test_new_uuid_is_different_on_every_call() -> None:
    run = Run(uuids)
    run.start()
    values = output(run.episode(completed(0), when=1))
    assert len(set(values)) == 3
    assert all(uuid.UUID(value).version == 5 for value in values)


def test_new_uuid_is_the_same_on_replay() -> None:
    run = Run(uuids)  # Run checks that a full replay gives the same output
    run.start()
    first = output(run.episode(completed(0), when=1))
    again = Run(uuids)
    again.start()
    assert output(again.episode(completed(0), when=1)) == first


def test_new_uuid_depends_on_the_instance_id() -> None:
    def one(context: OrchestrationContext) -> Any:
        return context.new_uuid()

    assert output(Run(one, instance_id="a").start()) != output(Run(one, instance_id="b").start())


def test_custom_status_is_reported_as_json_text() -> None:
    def progress(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        context.set_custom_status({"step": 1})
        yield context.call_activity("a")
        context.set_custom_status({"step": 2})
        yield context.call_activity("b")

    run = Run(progress)
    assert run.start().custom_status == '{"step":1}'
    assert run.episode(completed(0), when=1).custom_status == '{"step":2}'


def test_custom_status_is_none_until_set() -> None:
    assert Run(clock).start().custom_status is None


def test_custom_status_that_is_not_json_raises_at_the_call() -> None:
    def opaque(context: OrchestrationContext) -> Any:
        try:
            context.set_custom_status(object())
        except TypeError as error:
            return str(error)

    assert "custom status is not JSON-serialisable" in output(Run(opaque).start())


def steps(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    seen: list[bool] = []
    seen.append(context.is_replaying)
    yield context.call_activity("a")
    seen.append(context.is_replaying)
    yield context.call_activity("b")
    seen.append(context.is_replaying)
    return seen


def test_is_replaying_is_false_for_new_work_on_a_cached_executor() -> None:
    executor = OrchestrationExecutor(steps, instance_id="x")
    executor.execute([started()], at(0))
    executor.execute([completed(0)], at(1))
    assert output(executor.execute([completed(1)], at(2))) == [False, False, False]


def test_is_replaying_is_true_while_a_fresh_executor_replays_history() -> None:
    executor = OrchestrationExecutor(steps, instance_id="x")
    history = [*executor.execute([started()], at(0)).new_events]
    history += executor.execute([completed(0)], at(1)).new_events
    fresh = OrchestrationExecutor(steps, instance_id="x")
    fresh.replay(history)
    assert output(fresh.execute([completed(1)], at(2))) == [True, True, False]


def chatty(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    context.logger.info("starting %s", context.instance_id)
    yield context.call_activity("a")
    context.logger.warning("after a")
    yield context.call_activity("b")
    context.logger.error("after b")


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "durably.orchestrator.chatty"]


def test_logger_is_silent_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    executor = OrchestrationExecutor(chatty, instance_id="x")
    history = [*executor.execute([started(name="chatty")], at(0)).new_events]
    history += executor.execute([completed(0)], at(1)).new_events
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    fresh = OrchestrationExecutor(chatty, instance_id="x")
    fresh.replay(history)
    assert _messages(caplog) == []
    fresh.execute([completed(1)], at(2))
    assert _messages(caplog) == ["after b"]


def test_logger_logs_new_work_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    executor = OrchestrationExecutor(chatty, instance_id="x")
    executor.execute([started(name="chatty")], at(0))
    executor.execute([completed(0)], at(1))
    assert _messages(caplog) == ["starting x", "after a"]


def test_logger_records_the_orchestrator_as_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    OrchestrationExecutor(chatty, instance_id="x").execute([started(name="chatty")], at(0))
    (record,) = [r for r in caplog.records if r.name == "durably.orchestrator.chatty"]
    assert record.funcName == "chatty"


def greet(context: OrchestrationContext, city: str) -> Generator[Any, Any, str]:
    text = yield context.call_activity("hello", city)
    return f"<{text}>"


def test_yield_from_helper_generators() -> None:
    def using_helpers(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        first = yield from greet(context, "Oslo")
        second = yield from greet(context, "Rome")
        return [first, second]

    run = Run(using_helpers)
    run.start()
    run.episode(completed(0, "hi Oslo"), when=1)
    assert output(run.episode(completed(1, "hi Rome"), when=2)) == ["<hi Oslo>", "<hi Rome>"]


def test_task_ids_count_every_scheduling_call_in_order() -> None:
    def mixed(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        context.call_activity("a")
        context.create_timer(at(5))
        context.call_sub_orchestrator("s")
        yield context.call_activity("b")

    result = Run(mixed).start()
    assert [a.task_id for a in result.actions] == [0, 1, 2, 3]
