"""An app whose version comes from DURABLY_TEST_APP_VERSION, for worker processes of
different versions on one store: ``job`` returns the version of the code that ran it."""

from __future__ import annotations

import os
from typing import Any

import durably

CODE = os.environ.get("DURABLY_TEST_APP_VERSION", "1.0")
app = durably.App(version=CODE)


@app.orchestrator
def job(context: durably.OrchestrationContext) -> Any:
    yield context.create_timer(context.current_utc_datetime)
    return {"started_by": context.version, "run_by": CODE}
