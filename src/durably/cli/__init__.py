"""The `durably` command line: run a worker, start, inspect and steer instances.

Every command takes ``--store URL`` (default: ``$DURABLY_STORE`` or
``sqlite:///durably.db``). Exit codes: 0 success, 1 the instance is unknown or its status
forbids the operation (or an awaited instance did not complete), 2 a usage error. Errors
print one line on stderr, never a traceback.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from typing import Literal

import click

from durably import logs
from durably.backends import store_url
from durably.cli import code, entity, serve, top
from durably.cli.code import load_app
from durably.cli.options import (
    STATUS_CHOICE,
    BadUsage,
    Failure,
    Timestamp,
    command,
    json_argument,
    parse_statuses,
)
from durably.cli.render import console, print_history, print_instances, print_status
from durably.client import Client
from durably.errors import InstanceNotFoundError
from durably.history import HistoryEvent, OrchestrationRuntimeStatus
from durably.versions import VersionFailure, VersionMatch

Status = OrchestrationRuntimeStatus


def _client(store: str | None) -> Client:
    return Client(store)


# -- commands -----------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="durably")
def main() -> None:
    """durably: durable functions for Python.

    Exit codes: 0 success; 1 unknown instance, a status that forbids the operation, or
    an awaited instance that did not complete; 2 a usage error.
    """


@main.command()
@click.argument("target", metavar="MODULE:APP")
@click.option(
    "--activity-concurrency",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    help="Activities at once.",
)
@click.option(
    "--retention-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Purge finished instances older than this.",
)
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="On SIGTERM, seconds to let running activities finish.",
)
@click.option(
    "--version-match",
    type=click.Choice(["none", "strict", "current_or_older"]),
    default="none",
    show_default=True,
    help="Which instances to run, by the app version that started them.",
)
@click.option(
    "--version-failure",
    type=click.Choice(["reject", "fail"]),
    default="reject",
    show_default=True,
    help="What to do with the others: leave them to other workers, or fail them.",
)
@click.option(
    "--unknown-function",
    type=click.Choice(["fail", "wait"]),
    default="fail",
    show_default=True,
    help="Work of an orchestrator or activity the app lacks: fail it, or leave it to"
    " a worker that has it (a rolling deploy).",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="With --unknown-function wait: seconds before such work fails after all.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port (/metrics).",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port."
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line, with instance_id, execution_id and function_name.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every episode at debug level.")
@command
def worker(
    target: str,
    activity_concurrency: int,
    retention_days: float | None,
    stop_timeout: float,
    version_match: VersionMatch,
    version_failure: VersionFailure,
    unknown_function: Literal["fail", "wait"],
    grace: float,
    metrics_port: int | None,
    metrics_host: str,
    log_format: str,
    verbose: bool,
    store: str | None,
) -> None:
    """Run the app's orchestrations and activities until SIGINT or SIGTERM.

    MODULE:APP names the module to import and the durably.App in it (APP defaults to
    `app`); the current directory is on the import path. On SIGTERM the worker stops
    taking work, lets running activities finish, and exits; unfinished work is picked up
    by the next worker. An activity still running after --stop-timeout is left to be
    retried; a second SIGTERM or SIGINT stops at once (exit 1).
    """
    from durably.worker import Worker

    app = load_app(target)
    logs.configure(logging.DEBUG if verbose else logging.INFO, log_format)
    durably_worker = Worker(
        app,
        store=store,
        activity_concurrency=activity_concurrency,
        retention_days=retention_days,
        version_match=version_match,
        version_failure=version_failure,
        unknown_function=unknown_function,
        grace=grace,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    version = f", version {app.version}" if app.version else ""
    entities = f", {len(app.entities)} entities" if app.entities else ""
    console.print(
        f"durably worker [bold]{durably_worker.worker_id}[/] on {store_url(store)}: "
        f"{len(app.orchestrators)} orchestrators, {len(app.activities)} activities"
        f"{entities}{version}",
        markup=True,
    )
    durably_worker.run_forever(stop_timeout=stop_timeout)
    console.print("worker stopped")


@main.command()
@click.argument("name")
@click.option("--input", "input_", metavar="JSON", default=None, help="The input, as JSON.")
@click.option("--id", "instance_id", default=None, help="The instance id (default: random).")
@click.option("--wait", is_flag=True, help="Wait until the instance finishes; print its status.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after seconds.")
@command
def start(
    name: str,
    input_: str | None,
    instance_id: str | None,
    wait: bool,
    timeout: float | None,
    store: str | None,
) -> None:
    """Start orchestration NAME and print its instance id.

    With --wait, exit code 1 means the instance Failed or was Terminated.
    """
    value = json_argument(input_, "--input")
    with _client(store) as client:
        instance_id = client.start_new(name, instance_id=instance_id, client_input=value)
        click.echo(instance_id)
        if not wait:
            return
        try:
            with console.status(f"waiting for {instance_id}", spinner="dots"):
                status = client.wait_for_completion(instance_id, timeout=timeout)
        except TimeoutError as exc:
            raise Failure(str(exc)) from None
    print_status(status)
    if status.runtime_status is not Status.Completed:
        sys.exit(1)


@main.command()
@click.argument("instance_id", metavar="ID")
@click.option("--history", "show_history", is_flag=True, help="Show the history too.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@command
def status(instance_id: str, show_history: bool, as_json: bool, store: str | None) -> None:
    """Show an instance's status (and history)."""
    with _client(store) as client:
        found = client.get_status(
            instance_id, show_history=show_history, show_history_output=show_history
        )
    if found is None:
        raise InstanceNotFoundError(instance_id)
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
        return
    print_status(found)
    if found.history is not None:
        print_history(found.history)


@main.command(name="list")
@click.option("--status", "statuses", multiple=True, type=STATUS_CHOICE, help="Repeatable.")
@click.option("--name", default=None, help="Orchestrator name.")
@click.option("--prefix", default=None, help="Instance id prefix.")
@click.option("--created-from", type=Timestamp(), default=None, help="ISO-8601 time.")
@click.option("--created-to", type=Timestamp(), default=None, help="ISO-8601 time.")
@click.option("--page-size", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--continuation-token", default=None, help="From the previous page.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@command
def list_(
    statuses: tuple[str, ...],
    name: str | None,
    prefix: str | None,
    created_from: _dt.datetime | None,
    created_to: _dt.datetime | None,
    page_size: int,
    continuation_token: str | None,
    as_json: bool,
    store: str | None,
) -> None:
    """List instances, oldest first, one page at a time."""
    with _client(store) as client:
        page = client.list_instances(
            runtime_status=parse_statuses(statuses),
            name=name,
            instance_id_prefix=prefix,
            created_time_from=created_from,
            created_time_to=created_to,
            page_size=page_size,
            continuation_token=continuation_token,
        )
    if as_json:
        body = {
            "instances": [s.to_json() for s in page.instances],
            "continuationToken": page.continuation_token,
        }
        click.echo(json.dumps(body, indent=2))
        return
    print_instances(page)


@main.command(name="raise")
@click.argument("instance_id", metavar="ID")
@click.argument("event")
@click.argument("data", required=False, metavar="[DATA]")
@command
def raise_(instance_id: str, event: str, data: str | None, store: str | None) -> None:
    """Raise EVENT on an instance, with DATA as JSON."""
    value = json_argument(data, "DATA")
    with _client(store) as client:
        client.raise_event(instance_id, event, value)
    click.echo(f"raised {event} on {instance_id}")


_reason = click.option("--reason", default=None, help="Recorded in the history.")


@main.command()
@click.argument("instance_id", metavar="ID")
@_reason
@click.option(
    "--recursive/--no-recursive", default=True, help="Also terminate running sub-orchestrations."
)
@command
def terminate(instance_id: str, reason: str | None, recursive: bool, store: str | None) -> None:
    """Terminate an instance (a finished one is left as it is)."""
    with _client(store) as client:
        if client.terminate(instance_id, reason, recursive=recursive):
            click.echo(f"termination of {instance_id} requested")
            return
        found = client.get_status(instance_id, show_input=False)
    status_name = found.runtime_status.value if found else "gone"
    click.echo(f"{instance_id} already finished ({status_name}); nothing to terminate")


@main.command()
@click.argument("instance_id", metavar="ID")
@_reason
@command
def suspend(instance_id: str, reason: str | None, store: str | None) -> None:
    """Suspend an instance: it stores the events it receives but does not advance."""
    with _client(store) as client:
        client.suspend(instance_id, reason)
    click.echo(f"suspension of {instance_id} requested")


@main.command()
@click.argument("instance_id", metavar="ID")
@_reason
@command
def resume(instance_id: str, reason: str | None, store: str | None) -> None:
    """Resume a suspended instance."""
    with _client(store) as client:
        client.resume(instance_id, reason)
    click.echo(f"resumption of {instance_id} requested")


@main.command()
@click.argument("instance_id", metavar="ID")
@_reason
@command
def rewind(instance_id: str, reason: str | None, store: str | None) -> None:
    """Run a Failed instance's failed work again, keeping what succeeded."""
    with _client(store) as client:
        client.rewind(instance_id, reason)
    click.echo(f"rewind of {instance_id} requested")


@main.command()
@click.argument("instance_id", metavar="ID")
@click.option("--new-id", default=None, help="Run under this id (default: replace ID).")
@command
def restart(instance_id: str, new_id: str | None, store: str | None) -> None:
    """Start an instance's orchestration again from its input; prints the new run's id."""
    with _client(store) as client:
        click.echo(client.restart(instance_id, new_id))


@main.command()
@click.argument("instance_id", metavar="[ID]", required=False)
@click.option("--recursive", is_flag=True, help="With ID: also its finished sub-orchestrations.")
@click.option("--status", "statuses", multiple=True, type=STATUS_CHOICE, help="Repeatable.")
@click.option("--created-from", type=Timestamp(), default=None, help="ISO-8601 time.")
@click.option("--created-to", type=Timestamp(), default=None, help="ISO-8601 time.")
@command
def purge(
    instance_id: str | None,
    recursive: bool,
    statuses: tuple[str, ...],
    created_from: _dt.datetime | None,
    created_to: _dt.datetime | None,
    store: str | None,
) -> None:
    """Delete a finished instance's history, or every finished instance matching filters."""
    filtered = bool(statuses or created_from or created_to)
    if instance_id is not None and filtered:
        raise BadUsage("give an ID or filters (--status, --created-from, --created-to), not both")
    if instance_id is None and not filtered:
        raise BadUsage("give an ID, or at least one of --status, --created-from, --created-to")
    with _client(store) as client:
        if instance_id is not None:
            result = client.purge_instance_history(instance_id, recursive=recursive)
        else:
            result = client.purge_instance_history_by(
                created_from, created_to, parse_statuses(statuses)
            )
    click.echo(f"purged {result.instances_deleted} instance(s)")


@main.command()
@click.argument("instance_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Export as JSON (Durable Functions shape).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File.")
@command
def history(instance_id: str, as_json: bool, output: str | None, store: str | None) -> None:
    """Show or export an instance's history."""
    with _client(store) as client:
        events: list[HistoryEvent] = client.get_history(instance_id)
    dicts = [event.to_dict() for event in events]
    if not as_json and output is None:
        print_history(dicts)
        return
    text = json.dumps(dicts, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    click.echo(f"wrote {len(dicts)} events to {output}")


@main.command()
@click.option("--orders", default=40, show_default=True, help="How many orders to run.")
@command
def demo(orders: int, store: str | None) -> None:
    """Run the order-fulfilment demo app on the store."""
    from durably.demo import run

    sys.exit(run(store, orders))


main.add_command(code.replay)
main.add_command(code.check_)
main.add_command(serve.serve)
main.add_command(top.top)
main.add_command(entity.entity)
