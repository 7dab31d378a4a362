"""The HTTP API's entity routes, as Durable Functions names them: read an entity's
state, and signal an operation to it (the body is the operation's input)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from durably.async_client import AsyncClient
from durably.entities.ids import EntityId
from durably.http.api import body_json, body_reader, error
from durably.http.auth import TokenAuth

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
