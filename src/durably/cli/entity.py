"""``durably entity get|signal|list``: durable entities from a shell."""

from __future__ import annotations

import datetime as _dt
import json

import click
from rich.table import Table

from durably.cli.options import BadUsage, Timestamp, command, json_argument
from durably.cli.render import console
from durably.client import Client
from durably.entities.ids import EntityId


def _entity(name: str, key: str) -> EntityId:
    try:
        return EntityId(name, key)
    except ValueError as exc:
        raise BadUsage(str(exc)) from None


@click.group()
def entity() -> None:
    """Read, signal and list durable entities."""


@entity.command()
@click.argument("name")
@click.argument("key")
@command
def get(name: str, key: str, store: str | None) -> None:
    """Print an entity's state as JSON (exit 1 if it does not exist)."""
    target = _entity(name, key)
    with Client(store) as client:
        found = client.read_entity_state(target)
    if not found.entity_exists:
        click.echo(f"Error: entity {target.instance_id} does not exist", err=True)
        raise SystemExit(1)
    click.echo(json.dumps(found.entity_state, indent=2))


@entity.command()
@click.argument("name")
@click.argument("key")
@click.argument("operation")
@click.argument("data", required=False, metavar="[DATA]")
@click.option("--at", "signal_time", type=Timestamp(), default=None, help="Deliver then.")
@command
def signal(
    name: str,
    key: str,
    operation: str,
    data: str | None,
    signal_time: _dt.datetime | None,
    store: str | None,
) -> None:
    """Signal OPERATION to an entity, with DATA as JSON."""
    target = _entity(name, key)
    value = json_argument(data, "DATA")
    with Client(store) as client:
        client.signal_entity(target, operation, value, signal_time=signal_time)
    click.echo(f"signalled {operation} to {target.instance_id}")


@entity.command(name="list")
@click.argument("name", required=False)
@click.option("--since", type=Timestamp(), default=None, help="Last operation at or after.")
@click.option("--deleted", is_flag=True, help="Also list entities without state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@command
def list_(
    name: str | None, since: _dt.datetime | None, deleted: bool, as_json: bool, store: str | None
) -> None:
    """List entities (of NAME, if given) with their state and what waits on them."""
    found = []
    with Client(store) as client:
        token: str | None = None
        while True:
            page = client.list_entities(
                name,
                last_operation_from=since,
                include_deleted=deleted,
                page_size=1000,
                continuation_token=token,
            )
            found.extend(page.entities)
            token = page.continuation_token
            if token is None:
                break
    if as_json:
        rows = [
            {
                "name": e.entity_id.name,
                "key": e.entity_id.key,
                "lastOperationTime": e.last_operation_time.isoformat(),
                "exists": e.entity_exists,
                "state": e.entity_state,
                "lockedBy": e.locked_by,
                "waitingOperations": e.waiting_operations,
            }
            for e in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "key", "last operation", "state", "locked by", "waiting")
    for e in found:
        state = json.dumps(e.entity_state) if e.entity_exists else "(deleted)"
        when = e.last_operation_time.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            e.entity_id.name,
            e.entity_id.key,
            when,
            state[:60],
            e.locked_by or "",
            str(e.waiting_operations or ""),
        )
    console.print(table if found else "no entities")


@entity.command()
@click.argument("name", required=False)
@command
def purge(name: str | None, store: str | None) -> None:
    """Delete the entities (of NAME, if given) that hold nothing: no state, no lock."""
    with Client(store) as client:
        purged = client.purge_entities(name)
    click.echo(f"purged {purged} entit{'y' if purged == 1 else 'ies'}")
