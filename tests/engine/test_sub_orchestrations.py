"""Sub-orchestrations: the action's fields, default child ids, results and failures."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from durably.actions import StartSubOrchestration
from durably.engine.context import OrchestrationContext
from durably.errors import TaskFailedError
from durably.history import OrchestrationRuntimeStatus, SubOrchestrationInstanceCreated

from .helpers import Run, output, sub_completed, sub_failed

Status = OrchestrationRuntimeStatus


def child(context: OrchestrationContext) -> Any:
    return context.get_input()


def parent(context: OrchestrationContext) -> Generator[Any, Any, Any]:
    first = context.call_sub_orchestrator(child, {"device": "a1"})
    second = context.call_sub_orchestrator("child", "b2", instance_id="device-b2")
    results = yield context.task_all([first, second])
    return results


def test_sub_orchestration_action_names_the_child_its_id_and_input() -> None:
    result = Run(parent, instance_id="p").start()
    assert result.actions == (
        StartSubOrchestration(
            task_id=0, name="child", instance_id="p:0000", input='{"device":"a1"}'
        ),
        StartSubOrchestration(task_id=1, name="child", instance_id="device-b2", input='"b2"'),
    )


def test_sub_orchestration_is_recorded_as_instance_created() -> None:
    result = Run(parent, instance_id="p").start()
    created = [e for e in result.new_events if isinstance(e, SubOrchestrationInstanceCreated)]
    assert [(e.event_id, e.name, e.instance_id) for e in created] == [
        (0, "child", "p:0000"),
        (1, "child", "device-b2"),
    ]


def test_default_child_id_is_the_parent_id_and_the_task_id() -> None:
    def many(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        context.call_activity("first")
        yield context.call_sub_orchestrator("child")

    (_, start) = Run(many, instance_id="order-7").start().actions
    assert isinstance(start, StartSubOrchestration)
    assert start.instance_id == "order-7:0001"


def test_sub_orchestration_results_come_back_in_order() -> None:
    run = Run(parent)
    run.start()
    run.episode(sub_completed(1, "B"), when=1)
    assert output(run.episode(sub_completed(0, "A"), when=2)) == ["A", "B"]


def test_sub_orchestration_failure_raises_task_failed_error() -> None:
    def careful(context: OrchestrationContext) -> Generator[Any, Any, Any]:
        try:
            yield context.call_sub_orchestrator("child")
        except TaskFailedError as error:
            return [error.error_type, error.message]

    run = Run(careful)
    run.start()
    result = run.episode(sub_failed(0, "RuntimeError", "no"), when=1)
    assert output(result) == ["RuntimeError", "no"]


def test_sub_orchestration_sees_its_parent_instance_id() -> None:
    def who(context: OrchestrationContext) -> Any:
        return context.parent_instance_id

    result = Run(who, instance_id="p:0000").start(parent_instance_id="p")
    assert output(result) == "p"
