"""What the `durably` commands print: status, history and instance tables (rich)."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from durably.history import OrchestrationRuntimeStatus
from durably.status import DurableOrchestrationStatus, InstancePage

Status = OrchestrationRuntimeStatus

STATUS_STYLE = {
    Status.Pending: "cyan",
    Status.Running: "blue",
    Status.Suspended: "yellow",
    Status.Completed: "green",
    Status.ContinuedAsNew: "blue",
    Status.Failed: "red",
    Status.Terminated: "magenta",
    Status.Canceled: "magenta",
}
console = Console(highlight=False, soft_wrap=True)


def _styled(status: Status) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status.value}[/]"


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(value: _dt.datetime) -> str:
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def print_status(status: DurableOrchestrationStatus) -> None:
    """The instance's fields, one per line."""
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("instance", status.instance_id)
    table.add_row("name", status.name)
    table.add_row("status", _styled(status.runtime_status))
    if status.waiting is not None:
        table.add_row("waiting", f"[yellow]{escape(status.waiting)}[/]")
    if status.version is not None:
        table.add_row("version", status.version)
    table.add_row("created", _time(status.created_time))
    table.add_row("updated", _time(status.last_updated_time))
    if status.parent_instance_id:
        table.add_row("parent", status.parent_instance_id)
    table.add_row("input", _short(status.input_, 2000))
    table.add_row("output", _short(status.output, 4000))
    if status.custom_status is not None:
        table.add_row("custom status", _short(status.custom_status, 2000))
    console.print(table, markup=True)


def print_history(events: list[dict[str, Any]]) -> None:
    """History events (their JSON dicts) as a table: type, task id, time, other fields."""
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
            and not _empty(v)
        }
        table.add_row(
            str(number),
            event["EventType"],
            "" if task_ref == -1 else str(task_ref),
            str(event.get("Timestamp", "")),
            _short(details, 300) if details else "",
        )
    console.print(table)


def _empty(value: Any) -> bool:
    """A field with nothing to show: None, or the -1 that stands for "no task" (an int,
    so that neither 1 nor True, which compare equal to numbers, is hidden)."""
    return value is None or (type(value) is int and value == -1)


def print_instances(page: InstancePage) -> None:
    """A page of instances as a table, then the option that gets the next page."""
    table = Table()
    versions = any(item.version is not None for item in page.instances)
    waiting = any(item.waiting is not None for item in page.instances)
    columns = ("instance", "name", "status", *(("version",) if versions else ()), "created")
    for column in (*columns, "updated", *(("waiting",) if waiting else ())):
        table.add_column(column, overflow="fold")
    for item in page.instances:
        version = (item.version or "",) if versions else ()
        note = (f"[yellow]{escape(item.waiting or '')}[/]",) if waiting else ()
        table.add_row(
            item.instance_id,
            item.name,
            _styled(item.runtime_status),
            *version,
            _time(item.created_time),
            _time(item.last_updated_time),
            *note,
        )
    console.print(table)
    if page.continuation_token:
        console.print(f"next page: --continuation-token {page.continuation_token}")
