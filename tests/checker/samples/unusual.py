"""Orchestrators the checker cannot always read: lambdas, code built at run time, objects."""

from __future__ import annotations

import functools
import time
from typing import Any

import durably

app = durably.App()

app.orchestrator(name="one_lambda")(lambda context: (yield time.time()))  # expect: DUR001

first, second = (lambda context: (yield 1)), (lambda context: (yield 2))
app.orchestrator(name="twin_lambda")(first)

_namespace: dict[str, Any] = {}
exec("def generated(context):\n    yield context.call_activity('x')\n", _namespace)
app.orchestrator(name="generated")(_namespace["generated"])


def _takes_a_setting(context: durably.OrchestrationContext, setting: int) -> Any:
    return (yield context.call_activity("x", [setting, time.monotonic()]))  # expect: DUR001


app.orchestrator(name="partial")(functools.partial(_takes_a_setting, setting=3))


class _Callable:
    def __call__(self, context: durably.OrchestrationContext) -> Any:
        return (yield context.call_activity("x", time.time()))


app.orchestrator(name="instance")(_Callable())
