"""`# durably: ignore[...]` silences one line, for the codes it names."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

import durably

app = durably.App()


@app.orchestrator
def silenced(context: durably.OrchestrationContext) -> Any:
    started = time.time()  # durably: ignore[DUR001]
    both = (time.time(), os.getenv("A"))  # durably: ignore[DUR001, DUR003]
    everything = (dt.datetime.now(), os.listdir("."))  # durably: ignore
    lowercase = time.time()  # durably: ignore[dur001]
    other_code = time.time()  # durably: ignore[DUR004]  # expect: DUR001
    next_line = (
        time.monotonic()  # expect: DUR001
    )  # durably: ignore[DUR001]
    in_a_string = ("# durably: ignore", time.time())  # expect: DUR001
    return [started, both, everything, lowercase, other_code, next_line, in_a_string]
