"""Run a test directory's orchestrators in both forms: as written (generators) and as
``async def`` orchestrators doing the same thing.

:func:`as_async` turns a generator orchestrator into an ``async def`` one that awaits
each task the generator yields and hands it the result (or throws it the error), so the
engine drives a coroutine: awaited tasks, the same history, replay, cache and failures.
The ``orchestrator_form`` fixture (autouse where a conftest installs it) makes every
executor a test creates use that form; a test that checks what only a generator can do
(yielding a value that is not a task) is marked ``generator_only``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from durably.engine import replay

FORMS = ["generator", "async"]


def as_async(orchestrator: Callable[..., Any]) -> Callable[..., Any]:
    """``orchestrator`` as an ``async def`` orchestrator (itself if it is not a generator
    function)."""
    if not inspect.isgeneratorfunction(orchestrator):
        return orchestrator

    @functools.wraps(orchestrator)
    async def run(context: Any) -> Any:
        generator = orchestrator(context)
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                task = generator.send(value) if error is None else generator.throw(error)
            except StopIteration as stop:
                return stop.value
            try:
                value, error = await task, None
            except Exception as exc:  # the task's failure, thrown into the generator
                value, error = None, exc

    return run


@pytest.fixture(params=FORMS)
def orchestrator_form(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    form = request.param
    if form == "async":
        if request.node.get_closest_marker("generator_only"):
            pytest.skip("checks what only a generator orchestrator can do")
        original = replay.OrchestrationExecutor.__init__

        def init(self: Any, orchestrator: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
            original(self, as_async(orchestrator), *args, **kwargs)

        monkeypatch.setattr(replay.OrchestrationExecutor, "__init__", init)
    yield form
