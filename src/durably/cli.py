"""The `durably` command line: run a worker, start, inspect and steer instances.

Every command takes ``--store URL`` (default: ``$DURABLY_STORE`` or
``sqlite:///durably.db``). Exit codes: 0 success, 1 the instance is unknown or its status
forbids the operation (or an awaited instance did not complete), 2 a usage error. Errors
print one line on stderr, never a traceback.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from durably.app import App
from durably.client import Client
from durably.errors import (
    DurablyError,
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
    StoreError,
)
from durably.history import HistoryEvent, OrchestrationRuntimeStatus, parse_time
from durably.status import DurableOrchestrationStatus

F = TypeVar("F", bound=Callable[..., Any])
Status = OrchestrationRuntimeStatus

_STATUS_STYLE = {
    Status.Pending: "cyan",
    Status.Running: "blue",
    Status.Suspended: "yellow",
    Status.Completed: "green",
    Status.ContinuedAsNew: "blue",
    Status.Failed: "red",
    Status.Terminated: "magenta",
    Status.Canceled: "magenta",
}
_STATUS_NAMES = [s.value for s in Status]

console = Console(highlight=False, soft_wrap=True)


class Failure(click.ClickException):
    """A one-line error: the instance is unknown or its status forbids the operation."""

    exit_code = 1


class BadUsage(Failure):
    """A one-line usage error (a bad argument or option value)."""

    exit_code = 2


def _translate_errors(function: F) -> F:
    """Turn durably's and the user's errors into one-line messages with exit codes."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (InstanceNotFoundError, InvalidInstanceStateError, InstanceExistsError) as exc:
            raise Failure(str(exc)) from None
        except StoreError as exc:
            raise Failure(f"store error: {exc}") from None
        except DurablyError as exc:
            raise Failure(str(exc)) from None
        except (ValueError, TypeError) as exc:
            raise BadUsage(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _command(function: F) -> F:
    """Add ``--store`` and error translation to a command function."""
    store = click.option(
        "--store",
        envvar="DURABLY_STORE",
        default=None,
        metavar="URL",
        help="Store URL [default: $DURABLY_STORE or sqlite:///durably.db].",
    )
    return store(_translate_errors(function))


def _client(store: str | None) -> Client:
    return Client(store)


def _json_argument(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise BadUsage(f"{what} must be JSON (quote text as '\"text\"'), got {text!r}") from None


class _Timestamp(click.ParamType):  # type: ignore[type-arg]
    name = "TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> _dt.datetime:
        if isinstance(value, _dt.datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time (e.g. 2024-05-01T12:00:00Z)", param, ctx)


_STATUS_CHOICE = click.Choice(_STATUS_NAMES, case_sensitive=False)


def _statuses(values: tuple[str, ...]) -> list[Status] | None:
    by_lower = {s.value.lower(): s for s in Status}
    return [by_lower[v.lower()] for v in values] or None


# -- rendering ----------------------------------------------------------------------


def _styled(status: Status) -> str:
    return f"[{_STATUS_STYLE.get(status, 'white')}]{status.value}[/]"


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(value: _dt.datetime) -> str:
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _print_status(status: DurableOrchestrationStatus) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("instance", status.instance_id)
    table.add_row("name", status.name)
    table.add_row("status", _styled(status.runtime_status))
    table.add_row("created", _time(status.created_time))
    table.add_row("updated", _time(status.last_updated_time))
    if status.parent_instance_id:
        table.add_row("parent", status.parent_instance_id)
    table.add_row("input", _short(status.input_, 2000))
    table.add_row("output", _short(status.output, 4000))
    if status.custom_status is not None:
        table.add_row("custom status", _short(status.custom_status, 2000))
    console.print(table, markup=True)


def _print_history(events: list[dict[str, Any]]) -> None:
    table = Table(title="history")
    for column in ("#", "event", "task", "time", "details"):
        table.add_column(column, overflow="fold")
    for number, event in enumerate(events):
        task = event.get("EventId", -1)
        task_ref = event.get("TaskScheduledId", event.get("TimerId", task))
        details = {
            k: v
            for k, v in event.items()
            if k not in ("EventType", "EventId", "Timestamp", "TaskScheduledId", "TimerId")
            and v not in (None, -1, True)
        }
        table.add_row(
            str(number),
            event["EventType"],
            "" if task_ref == -1 else str(task_ref),
            str(event.get("Timestamp", "")),
            _short(details, 300) if details else "",
        )
    console.print(table)


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
@click.option("--activity-concurrency", default=32, show_default=True, help="Activities at once.")
@click.option(
    "--retention-days", type=float, default=None, help="Purge finished instances older than this."
)
@click.option("-v", "--verbose", is_flag=True, help="Log every episode at debug level.")
@_command
def worker(
    target: str,
    activity_concurrency: int,
    retention_days: float | None,
    verbose: bool,
    store: str | None,
) -> None:
    """Run the app's orchestrations and activities until SIGINT or SIGTERM.

    MODULE:APP names the module to import and the durably.App in it (APP defaults to
    `app`); the current directory is on the import path. On SIGTERM the worker stops
    taking work, lets running activities finish, and exits; unfinished work is picked up
    by the next worker.
    """
    from durably.worker import Worker

    app = load_app(target)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    durably_worker = Worker(
        app,
        store=store,
        activity_concurrency=activity_concurrency,
        retention_days=retention_days,
    )
    console.print(
        f"durably worker [bold]{durably_worker.worker_id}[/] on {store or _default_store()}: "
        f"{len(app.orchestrators)} orchestrators, {len(app.activities)} activities",
        markup=True,
    )
    durably_worker.run_forever()
    console.print("worker stopped")


def load_app(target: str) -> App:
    """Import ``MODULE[:ATTRIBUTE]`` (attribute ``app`` by default) and return the App."""
    module_name, _, attribute = target.partition(":")
    if not module_name:
        raise BadUsage(f"expected MODULE:APP, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadUsage(f"cannot import {module_name!r}: {exc}") from None
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, App):
        found = type(app).__name__ if app is not None else "nothing"
        raise BadUsage(f"{module_name}:{attribute or 'app'} must be a durably.App, found {found}")
    return app


def _default_store() -> str:
    return os.environ.get("DURABLY_STORE") or "sqlite:///durably.db"


@main.command()
@click.argument("name")
@click.option("--input", "input_", metavar="JSON", default=None, help="The input, as JSON.")
@click.option("--id", "instance_id", default=None, help="The instance id (default: random).")
@click.option("--wait", is_flag=True, help="Wait until the instance finishes; print its status.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after seconds.")
@_command
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
    value = _json_argument(input_, "--input")
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
    _print_status(status)
    if status.runtime_status is not Status.Completed:
        sys.exit(1)


@main.command()
@click.argument("instance_id", metavar="ID")
@click.option("--history", "show_history", is_flag=True, help="Show the history too.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@_command
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
    _print_status(found)
    if found.history is not None:
        _print_history(found.history)


@main.command(name="list")
@click.option("--status", "statuses", multiple=True, type=_STATUS_CHOICE, help="Repeatable.")
@click.option("--name", default=None, help="Orchestrator name.")
@click.option("--prefix", default=None, help="Instance id prefix.")
@click.option("--created-from", type=_Timestamp(), default=None, help="ISO-8601 time.")
@click.option("--created-to", type=_Timestamp(), default=None, help="ISO-8601 time.")
@click.option("--page-size", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--continuation-token", default=None, help="From the previous page.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@_command
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
            runtime_status=_statuses(statuses),
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
    table = Table()
    for column in ("instance", "name", "status", "created", "updated"):
        table.add_column(column, overflow="fold")
    for item in page.instances:
        table.add_row(
            item.instance_id,
            item.name,
            _styled(item.runtime_status),
            _time(item.created_time),
            _time(item.last_updated_time),
        )
    console.print(table)
    if page.continuation_token:
        console.print(f"next page: --continuation-token {page.continuation_token}")


@main.command(name="raise")
@click.argument("instance_id", metavar="ID")
@click.argument("event")
@click.argument("data", required=False, metavar="[DATA]")
@_command
def raise_(instance_id: str, event: str, data: str | None, store: str | None) -> None:
    """Raise EVENT on an instance, with DATA as JSON."""
    value = _json_argument(data, "DATA")
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
@_command
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
@_command
def suspend(instance_id: str, reason: str | None, store: str | None) -> None:
    """Suspend an instance: it stores the events it receives but does not advance."""
    with _client(store) as client:
        client.suspend(instance_id, reason)
    click.echo(f"suspension of {instance_id} requested")


@main.command()
@click.argument("instance_id", metavar="ID")
@_reason
@_command
def resume(instance_id: str, reason: str | None, store: str | None) -> None:
    """Resume a suspended instance."""
    with _client(store) as client:
        client.resume(instance_id, reason)
    click.echo(f"resumption of {instance_id} requested")


@main.command()
@click.argument("instance_id", metavar="ID")
@_reason
@_command
def rewind(instance_id: str, reason: str | None, store: str | None) -> None:
    """Run a Failed instance's failed work again, keeping what succeeded."""
    with _client(store) as client:
        client.rewind(instance_id, reason)
    click.echo(f"rewind of {instance_id} requested")


@main.command()
@click.argument("instance_id", metavar="ID")
@click.option("--new-id", default=None, help="Run under this id (default: replace ID).")
@_command
def restart(instance_id: str, new_id: str | None, store: str | None) -> None:
    """Start an instance's orchestration again from its input; prints the new run's id."""
    with _client(store) as client:
        click.echo(client.restart(instance_id, new_id))


@main.command()
@click.argument("instance_id", metavar="[ID]", required=False)
@click.option("--recursive", is_flag=True, help="With ID: also its finished sub-orchestrations.")
@click.option("--status", "statuses", multiple=True, type=_STATUS_CHOICE, help="Repeatable.")
@click.option("--created-from", type=_Timestamp(), default=None, help="ISO-8601 time.")
@click.option("--created-to", type=_Timestamp(), default=None, help="ISO-8601 time.")
@_command
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
            result = client.purge_instance_history_by(created_from, created_to, _statuses(statuses))
    click.echo(f"purged {result.instances_deleted} instance(s)")


@main.command()
@click.argument("instance_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Export as JSON (Durable Functions shape).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File.")
@_command
def history(instance_id: str, as_json: bool, output: str | None, store: str | None) -> None:
    """Show or export an instance's history."""
    with _client(store) as client:
        events: list[HistoryEvent] = client.get_history(instance_id)
    dicts = [event.to_dict() for event in events]
    if not as_json and output is None:
        _print_history(dicts)
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
@_command
def demo(orders: int, store: str | None) -> None:
    """Run the order-fulfilment demo app on the store."""
    from durably.demo import run

    sys.exit(run(store, orders))


if __name__ == "__main__":
    main()
