"""DUR006: threads, processes and event loops."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import durably

flagged = durably.App()
clean = durably.App()


@flagged.orchestrator
def spawns(context: durably.OrchestrationContext) -> Any:
    worker = threading.Thread(target=print)  # expect: DUR006
    worker.start()
    with ThreadPoolExecutor() as pool:  # expect: DUR006
        done = list(pool.map(str, [1, 2]))
    listing = subprocess.run(["ls"], capture_output=True)  # expect: DUR006
    loop_result = asyncio.run(asyncio.sleep(0, "x"))  # expect: DUR006 DUR007
    return (yield context.call_activity("use", [done, listing.returncode, loop_result]))


@clean.orchestrator
def fans_out(context: durably.OrchestrationContext) -> Any:
    tasks = [context.call_activity(run_command, item) for item in context.get_input()]
    results = yield context.task_all(tasks)
    return [results, isinstance(results, threading.Thread)]  # names the class only


@clean.activity
def run_command(item: str) -> int:
    return subprocess.run(["echo", item], check=True).returncode
