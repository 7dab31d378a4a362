"""Record the golden histories of durably's examples: ``python -m tests.golden.record``.

Each recipe below runs one example's orchestrations on a fresh SQLite file with a
``Worker``, with the inputs its ``main()`` uses, and exports the histories with
``durably history ID --json -o FILE``, as users export theirs, to
``tests/golden/histories/<example>[.<case>].json``; only tracebacks are cut to their last
line (their file paths and line numbers vary, and replay never reads them).
``test_examples_replay.py`` replays every file against the current example code.

Record again only after a deliberate change that old instances could not survive (the
old files then rightly fail) or a change in what durably records. Run it from the
repository root, in a fresh process: the monitor and retry examples count calls in
module globals.
"""

from __future__ import annotations

import argparse
import importlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import durably
from durably.cli import main as durably_cli

HISTORIES = Path(__file__).parent / "histories"
TIMEOUT = 30.0
Status = durably.OrchestrationRuntimeStatus
Export = Callable[[str, str], None]
"""export(file stem, instance id): write the instance's history as it is now."""


def _finish(client: durably.Client, name: str, instance_id: str, input_: Any = None) -> str:
    client.start_new(name, instance_id, input_)
    status = client.wait_for_completion(instance_id, timeout=TIMEOUT)
    if status.runtime_status is not Status.Completed:
        raise RuntimeError(f"{instance_id} ended {status.runtime_status}: {status.output}")
    return instance_id


def _wait_for_event_type(client: durably.Client, instance_id: str, event_type: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not any(e.event_type == event_type for e in client.get_history(instance_id)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{instance_id} recorded no {event_type} in {TIMEOUT} s")
        time.sleep(0.01)


def function_chaining(client: durably.Client, export: Export) -> None:
    export("function_chaining", _finish(client, "hello_sequence", "chain"))


def fan_out_fan_in(client: durably.Client, export: Export) -> None:
    export("fan_out_fan_in", _finish(client, "backup", "backup", "/data"))


def async_http_api(client: durably.Client, export: Export) -> None:
    export("async_http_api", _finish(client, "render_report", "report", 5))


def fastapi_progress(client: durably.Client, export: Export) -> None:
    # An async def orchestrator: the same history as a generator doing the same.
    export("fastapi_progress", _finish(client, "render_report", "report", 3))


def monitor(client: durably.Client, export: Export) -> None:
    export("monitor", _finish(client, "watch_job", "watch", "nightly-build"))


def human_interaction(client: durably.Client, export: Export) -> None:
    request = {"approver": "ana", "amount": 120, "timeout": 30}
    client.start_new("approval_workflow", "approved", request)
    _wait_for_event_type(client, "approved", "TimerCreated")  # waiting for the approval
    export("human_interaction.waiting", "approved")
    client.raise_event("approved", "Approval", {"approved": True, "by": "ana"})
    client.wait_for_completion("approved", timeout=TIMEOUT)
    export("human_interaction.approved", "approved")
    request = {"approver": "bob", "amount": 999, "timeout": 0.5}
    export("human_interaction.timed_out", _finish(client, "approval_workflow", "ignored", request))


def eternal(client: durably.Client, export: Export) -> None:
    # The history of the last execution: each continue_as_new starts a fresh one.
    export("eternal", _finish(client, "periodic_cleanup", "cleanup"))


def sub_orchestrations(client: durably.Client, export: Export) -> None:
    export("sub_orchestrations", _finish(client, "set_up_fleet", "fleet", ["a1", "b2", "c3"]))
    export("sub_orchestrations.device-a1", "device-a1")


def retries_and_errors(client: durably.Client, export: Export) -> None:
    export("retries_and_errors", _finish(client, "place_order", "order-42", "order-42"))


def entities_bank(client: durably.Client, export: Export) -> None:
    export("entities_bank", _finish(client, "count_visits", "visits", 3))
    client.signal_entity(("account", "ana"), "deposit", 50)
    export("entities_bank.transfer", _finish(client, "transfer", "pay", ["ana", "bob", 20]))


RECIPES: dict[str, Callable[[durably.Client, Export], None]] = {
    recipe.__name__: recipe
    for recipe in (
        function_chaining,
        fan_out_fan_in,
        async_http_api,
        fastapi_progress,
        monitor,
        human_interaction,
        eternal,
        sub_orchestrations,
        retries_and_errors,
        entities_bank,
    )
}
"""One recipe per module of examples/, named after it."""


def record(example: str, out: Path, scratch: Path) -> list[Path]:
    """Run ``examples.<example>``'s recipe and write its histories under ``out``."""
    app = importlib.import_module(f"examples.{example}").app
    store = f"sqlite:///{scratch / f'{example}.db'}"
    written: list[Path] = []

    def export(stem: str, instance_id: str) -> None:
        path = out / f"{stem}.json"
        args = ["history", instance_id, "--json", "-o", str(path), "--store", store]
        result = CliRunner().invoke(durably_cli, args)
        if result.exit_code != 0:
            raise RuntimeError(f"durably {' '.join(args)}: {result.output}")
        _cut_tracebacks(path)
        written.append(path)

    with durably.Worker(app, store=store, poll_interval=0.02) as worker:
        RECIPES[example](worker.client(), export)
    return written


def _cut_tracebacks(path: Path) -> None:
    events = json.loads(path.read_text(encoding="utf-8"))
    for event in events:
        failure = event.get("FailureDetails")
        if failure and failure.get("StackTrace"):
            failure["StackTrace"] = failure["StackTrace"].strip().splitlines()[-1]
    path.write_text(json.dumps(events, indent=2) + "\n", encoding="utf-8")  # as the CLI writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HISTORIES, help="Where to write the files.")
    parser.add_argument("examples", nargs="*", default=sorted(RECIPES), help="Default: all.")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for example in options.examples:
            for path in record(example, options.out, Path(scratch)):
                print(f"wrote {path}")


if __name__ == "__main__":
    main()
