"""The HTTP API's entity routes, as Durable Functions names them: read an entity's
state, and signal an operation to it (the body is the operation's input)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from durably.async_client import AsyncClient
from durably.entities.ids import EntityId
from durably.entities.state import EntityMetadata
from durably.http.api import body_json, body_reader, error
from durably.http.auth import TokenAuth
from durably.worker.entities import Envelope

ENTITIES = "/runtime/webhooks/durabletask/entities"
# Module level: the route annotations are strings, resolved in this module.
Name = Annotated[str, Path(description="The entity's name (lower-cased).")]
Key = Annotated[str, Path(description="The entity's key.")]
Operation = Annotated[str, Query(description="The operation's name.")]


def build_router(client: AsyncClient, auth: TokenAuth, max_body: int) -> APIRouter:
    """The entity routes on ``client``, each behind ``auth``."""
    router = APIRouter(dependencies=[Depends(auth)])
    read_body = body_reader(max_body)

    @router.get(
        f"{ENTITIES}/{{name}}/{{key}}",
        operation_id="getEntity",
        tags=["entities"],
        summary="An entity's state",
        responses={
            200: {"description": "The entity's state (JSON)."},
            404: {"description": "The entity does not exist (it has no state)."},
        },
    )
    async def get_entity(name: Name, key: Key) -> Any:
        entity = EntityId(name, key)
        found = await client.read_entity_state(entity)
        if not found.entity_exists:
            return error(404, f"entity {entity.instance_id!r} does not exist")
        return JSONResponse(found.entity_state)

    @router.post(
        f"{ENTITIES}/{{name}}/{{key}}",
        operation_id="signalEntity",
        status_code=202,
        tags=["entities"],
        summary="Signal an operation to an entity (the body is its input)",
        responses={202: {"description": "The operation is on its way."}},
    )
    async def signal_entity(
        request: Request,
        name: Name,
        key: Key,
        op: Operation,
    ) -> Response:
        entity = EntityId(name, key)
        data = body_json(await read_body(request), "operation input")
        await client.signal_entity(entity, op, data)
        return Response(status_code=202)

    return router


def build_dashboard_router(client: AsyncClient, auth: TokenAuth) -> APIRouter:
    """What the dashboard's entity pages read: a page of entities, and one entity with
    its lock, the operations waiting for it and its last batch."""
    router = APIRouter(include_in_schema=False, dependencies=[Depends(auth)])

    @router.get("/dashboard/api/entities")
    async def list_entities(name: str | None = None, token: str | None = None) -> Any:
        page = await run_in_threadpool(
            client.sync.list_entities,
            name or None,
            include_deleted=True,
            page_size=100,
            continuation_token=token or None,
        )
        return {
            "entities": [_metadata(e) for e in page.entities],
            "continuationToken": page.continuation_token,
        }

    @router.get("/dashboard/api/entities/{name}/{key}")
    async def get_entity(name: Name, key: Key) -> Any:
        entity = EntityId(name, key)
        record = await run_in_threadpool(client.backend.get_instance, entity.instance_id)
        if record is None:
            return error(404, f"entity {entity.instance_id!r} has never had an operation")
        body = _metadata(client.sync._metadata(record))
        envelope = Envelope.load(record.custom_status)
        body["waiting"] = [
            {"operation": _operation(m), "from": getattr(m, "parent_instance_id", None)}
            for m in envelope.queue
        ]
        history = await client.get_history(entity.instance_id)
        body["history"] = [event.to_dict() for event in history]
        return body

    return router


def _metadata(entity: EntityMetadata) -> dict[str, Any]:
    return {
        "name": entity.entity_id.name,
        "key": entity.entity_id.key,
        "exists": entity.entity_exists,
        "state": entity.entity_state,
        "lastOperationTime": entity.last_operation_time.isoformat(),
        "lockedBy": entity.locked_by,
        "waitingOperations": entity.waiting_operations,
    }


def _operation(message: Any) -> str:
    operation = getattr(message, "operation", None)
    return operation if isinstance(operation, str) else "lock"
