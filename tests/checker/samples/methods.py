"""Methods of the user's classes that orchestrators call are followed too."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import durably

app = durably.App()


class Steps:
    def __init__(self, context: durably.OrchestrationContext) -> None:
        self.context = context
        self.started = time.time()  # expect: DUR001

    def run(self, key: str) -> Any:
        value = yield self.context.call_activity("load", key)
        return self.decorate(value)

    def decorate(self, value: Any) -> Any:
        return [value, self.pick(), Steps.host()]

    @staticmethod
    def host() -> str:
        return os.uname().nodename  # expect: DUR003

    @classmethod
    def pick(cls) -> int:
        return random.randint(1, 6)  # expect: DUR002


class Settings:
    def read(self) -> str | None:
        return os.environ.get("REGION")  # expect: DUR003


SETTINGS = Settings()


@app.orchestrator
def uses_objects(context: durably.OrchestrationContext) -> Any:
    steps = Steps(context)
    result = yield from steps.run("a")
    return [result, SETTINGS.read()]
