"""The HTTP management API: Durable Functions' routes, status codes, headers and JSON.

Start an orchestration with ``POST /api/orchestrators/{name}[/{instanceId}]`` (202, the
management URLs, ``Location`` and ``Retry-After``); manage instances under
``/runtime/webhooks/durabletask/instances``. Every store call runs on a worker thread
(the routes are coroutines on an :class:`~durably.async_client.AsyncClient`), never on
the event loop. Errors are JSON ``{"error": message}``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from durably import tracing
from durably.async_client import AsyncClient
from durably.client import MAX_PAGE_SIZE
from durably.errors import InstanceNotFoundError, InvalidInstanceStateError
from durably.history import OrchestrationRuntimeStatus
from durably.http.auth import TokenAuth
from durably.ids import new_instance_id, validate_instance_id
from durably.status import DurableOrchestrationStatus

Status = OrchestrationRuntimeStatus
WEBHOOKS = "/runtime/webhooks/durabletask"
RETRY_AFTER = "1"
"""Seconds a poller waits between two status reads (a hint)."""
CONTINUATION = "x-ms-continuation-token"

Reason = Annotated[str | None, Query(description="Why, recorded in history.")]
InstanceId = Annotated[
    str,
    Path(description="The instance id."),
    AfterValidator(validate_instance_id),  # an id no instance can have is a 400
]


def error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error response every route gives."""
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Bad input: the message says which and why.",
        401: "A token is required and was missing or wrong.",
        404: "No instance with this id.",
        409: "The instance is not in a state that allows this (and has not finished).",
        410: "The instance has already finished.",
        413: "The body is larger than the app's max_payload_bytes.",
    }
    return {
        code: {
            "description": descriptions[code],
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"error": {"type": "string"}},
                        "required": ["error"],
                    }
                }
            },
        }
        for code in codes
    }


def instance_urls(base: str, instance_id: str) -> dict[str, str]:
    """The management URLs of an instance (Durable Functions' names and placeholders)."""
    root = f"{base.rstrip('/')}{WEBHOOKS}/instances/{quote(instance_id, safe='')}"
    return {
        "id": instance_id,
        "statusQueryGetUri": root,
        "sendEventPostUri": f"{root}/raiseEvent/{{eventName}}",
        "terminatePostUri": f"{root}/terminate?reason={{text}}",
        "rewindPostUri": f"{root}/rewind?reason={{text}}",
        "purgeHistoryDeleteUri": root,
        "restartPostUri": f"{root}/restart",
        "suspendPostUri": f"{root}/suspend?reason={{text}}",
        "resumePostUri": f"{root}/resume?reason={{text}}",
    }


def accepted(request: Request, instance_id: str) -> JSONResponse:
    """202 with the management URLs, ``Location`` (the status URL) and ``Retry-After``."""
    urls = instance_urls(str(request.base_url), instance_id)
    headers = {"Location": urls["statusQueryGetUri"], "Retry-After": RETRY_AFTER}
    return JSONResponse(urls, status_code=202, headers=headers)


def _utc(value: _dt.datetime | None) -> _dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=_dt.UTC)


def _statuses(values: list[str] | None) -> list[str] | None:
    """``runtimeStatus`` as given: repeated, comma-separated, or both."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def body_reader(max_body: int) -> Callable[[Request], Awaitable[bytes]]:
    """Reads a request's body, refusing one over ``max_body`` bytes (``TooLarge``)."""

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_body:
            raise TooLarge(int(length))
        body = bytearray()
        async for chunk in request.stream():  # a chunked body has no length: count it
            body += chunk
            if len(body) > max_body:
                raise TooLarge(len(body))
        return bytes(body)

    return read_body


def body_json(body: bytes, what: str) -> Any:
    """The JSON value of a request body (empty: None); ``ValueError`` if it is not JSON."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the {what} must be JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"the {what} is nested too deeply") from None


def _text(value: str | None, what: str) -> str | None:
    """A text parameter, refused (``ValueError``) if it holds a NUL, which no store keeps."""
    if value is not None and "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    return value


def finished_or_conflict(exc: InvalidInstanceStateError) -> JSONResponse:
    status = Status(exc.runtime_status)
    return error(410 if status.is_terminal else 409, str(exc))


def build_router(client: AsyncClient, auth: TokenAuth, max_body: int) -> APIRouter:
    """The API's routes on ``client``, each behind ``auth``."""
    router = APIRouter(dependencies=[Depends(auth)])
    read_body = body_reader(max_body)

    # -- starting ---------------------------------------------------------------------
    known = sorted(client.app.orchestrators) if client.app is not None else None
    name_doc = "The orchestrator's name." + (f" This app's: {', '.join(known)}." if known else "")
    # A default, not an Annotated alias: the annotations are strings, read in the module.
    name_path = Path(description=name_doc, examples=known[:1] if known else None)
    started = {202: _STARTED, **_responses(400, 401, 409, 413)}

    @router.post(
        "/api/orchestrators/{name}",
        operation_id="startOrchestration",
        status_code=202,
        tags=["orchestrations"],
        summary="Start an orchestration (a new instance id)",
        responses=started,
        openapi_extra=_JSON_BODY,
    )
    async def start(request: Request, name: str = name_path) -> JSONResponse:
        return await _start(request, name, None)

    @router.post(
        "/api/orchestrators/{name}/{instance_id}",
        operation_id="startOrchestrationWithId",
        status_code=202,
        tags=["orchestrations"],
        summary="Start an orchestration with the given instance id",
        responses=started,
        openapi_extra=_JSON_BODY,
    )
    async def start_with_id(
        request: Request, instance_id: InstanceId, name: str = name_path
    ) -> JSONResponse:
        return await _start(request, name, instance_id)

    async def _start(request: Request, name: str, instance_id: str | None) -> JSONResponse:
        data = body_json(await read_body(request), "orchestration input")
        with tracing.incoming(request.headers):  # the request's trace continues
            started = await client.start_new(name, instance_id, data)
        return accepted(request, started)

    # -- reading ----------------------------------------------------------------------
    @router.get(
        f"{WEBHOOKS}/instances/{{instance_id}}",
        operation_id="getStatus",
        tags=["instances"],
        summary="An instance's status",
        responses={
            200: {"description": "The instance finished: its status."},
            202: {"description": "The instance is Pending, Running or Suspended: its status."},
            500: {"description": "The instance Failed and returnInternalServerErrorOnFailure."},
            **_responses(400, 401, 404),
        },
    )
    async def get_status(
        request: Request,
        instance_id: InstanceId,
        show_history: Annotated[
            bool, Query(alias="showHistory", description="Add historyEvents.")
        ] = False,
        show_history_output: Annotated[
            bool, Query(alias="showHistoryOutput", description="With the events' payloads.")
        ] = False,
        show_input: Annotated[
            bool, Query(alias="showInput", description="Include the input.")
        ] = True,
        error_on_failure: Annotated[
            bool,
            Query(
                alias="returnInternalServerErrorOnFailure",
                description="Answer 500 for a Failed instance.",
            ),
        ] = False,
    ) -> JSONResponse:
        status = await client.get_status(
            instance_id,
            show_history=show_history,
            show_history_output=show_history_output,
            show_input=show_input,
        )
        if status is None:
            return error(404, f"no instance {instance_id!r}")
        body = status.to_json()
        if not status.runtime_status.is_terminal:
            location = instance_urls(str(request.base_url), instance_id)["statusQueryGetUri"]
            headers = {"Location": location, "Retry-After": RETRY_AFTER}
            return JSONResponse(body, status_code=202, headers=headers)
        failed = status.runtime_status is Status.Failed
        return JSONResponse(body, status_code=500 if failed and error_on_failure else 200)

    @router.get(
        f"{WEBHOOKS}/instances",
        operation_id="listInstances",
        tags=["instances"],
        summary="Instances matching the filters, a page at a time",
        responses={
            200: {
                "description": "A page of statuses; its x-ms-continuation-token header, when"
                " there is one, asks for the next page.",
                "headers": {CONTINUATION: {"schema": {"type": "string"}}},
            },
            **_responses(400, 401),
        },
    )
    async def list_instances(
        response: Response,
        runtime_status: Annotated[
            list[str] | None,
            Query(alias="runtimeStatus", description="Statuses, comma-separated or repeated."),
        ] = None,
        created_from: Annotated[
            _dt.datetime | None, Query(alias="createdTimeFrom", description="ISO 8601; UTC.")
        ] = None,
        created_to: Annotated[
            _dt.datetime | None, Query(alias="createdTimeTo", description="ISO 8601; UTC.")
        ] = None,
        prefix: Annotated[
            str | None, Query(alias="instanceIdPrefix", description="Ids starting so.")
        ] = None,
        name: Annotated[str | None, Query(description="Only this orchestrator's.")] = None,
        show_input: Annotated[
            bool, Query(alias="showInput", description="Include inputs.")
        ] = False,
        top: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 100,
        token: Annotated[
            str | None, Header(alias=CONTINUATION, description="The previous page's.")
        ] = None,
    ) -> list[dict[str, Any]]:
        page = await client.list_instances(
            runtime_status=_statuses(runtime_status),
            name=_text(name, "name") or None,
            instance_id_prefix=_text(prefix, "instanceIdPrefix") or None,
            created_time_from=_utc(created_from),
            created_time_to=_utc(created_to),
            page_size=top,
            continuation_token=token or None,
        )
        if page.continuation_token:
            response.headers[CONTINUATION] = page.continuation_token
        return [_listed(status, show_input) for status in page.instances]

    # -- steering ---------------------------------------------------------------------
    steering = _responses(400, 401, 404, 410)

    @router.post(
        f"{WEBHOOKS}/instances/{{instance_id}}/raiseEvent/{{event_name}}",
        operation_id="raiseEvent",
        status_code=202,
        tags=["instances"],
        summary="Send an event to an instance (the body is its data)",
        responses=_responses(400, 401, 404, 410, 413),
        openapi_extra=_JSON_BODY,
    )
    async def raise_event(
        request: Request, instance_id: InstanceId, event_name: Annotated[str, Path()]
    ) -> Response:
        data = body_json(await read_body(request), "event data")
        _text(event_name, "the event name")
        await client.raise_event(instance_id, event_name, data)
        return Response(status_code=202)

    @router.post(
        f"{WEBHOOKS}/instances/{{instance_id}}/terminate",
        operation_id="terminate",
        status_code=202,
        tags=["instances"],
        summary="Terminate an instance (and its sub-orchestrations)",
        responses=steering,
    )
    async def terminate(instance_id: InstanceId, reason: Reason = None) -> Response:
        if not await client.terminate(instance_id, reason):
            status = await client.get_status(instance_id, show_input=False)
            if status is None:  # purged meanwhile
                raise InstanceNotFoundError(instance_id)
            finished = status.runtime_status.value
            return error(410, f"instance {instance_id!r} already finished ({finished})")
        return Response(status_code=202)

    @router.post(
        f"{WEBHOOKS}/instances/{{instance_id}}/suspend",
        operation_id="suspend",
        status_code=202,
        tags=["instances"],
        summary="Suspend an instance",
        responses=steering,
    )
    async def suspend(instance_id: InstanceId, reason: Reason = None) -> Response:
        await client.suspend(instance_id, reason)
        return Response(status_code=202)

    @router.post(
        f"{WEBHOOKS}/instances/{{instance_id}}/resume",
        operation_id="resume",
        status_code=202,
        tags=["instances"],
        summary="Resume a suspended instance",
        responses=steering,
    )
    async def resume(instance_id: InstanceId, reason: Reason = None) -> Response:
        await client.resume(instance_id, reason)
        return Response(status_code=202)

    @router.post(
        f"{WEBHOOKS}/instances/{{instance_id}}/rewind",
        operation_id="rewind",
        status_code=202,
        tags=["instances"],
        summary="Run a Failed instance's failed work again",
        responses=_responses(400, 401, 404, 409, 410),
    )
    async def rewind(instance_id: InstanceId, reason: Reason = None) -> Response:
        await client.rewind(instance_id, reason)
        return Response(status_code=202)

    @router.post(
        f"{WEBHOOKS}/instances/{{instance_id}}/restart",
        operation_id="restart",
        status_code=202,
        tags=["instances"],
        summary="Start an instance again from its input",
        responses=_responses(400, 401, 404, 409),
    )
    async def restart(
        request: Request,
        instance_id: InstanceId,
        new_id: Annotated[bool, Query(alias="restartWithNewInstanceId")] = True,
    ) -> JSONResponse:
        started = await client.restart(instance_id, new_instance_id() if new_id else None)
        return accepted(request, started)

    # -- purging ----------------------------------------------------------------------
    @router.delete(
        f"{WEBHOOKS}/instances/{{instance_id}}",
        operation_id="purgeInstance",
        tags=["instances"],
        summary="Delete a finished instance and its history",
        responses=_responses(400, 401, 404, 409),
    )
    async def purge(instance_id: InstanceId) -> dict[str, int]:
        purged = await client.purge_instance_history(instance_id)
        return {"instancesDeleted": purged.instances_deleted}

    @router.delete(
        f"{WEBHOOKS}/instances",
        operation_id="purgeInstances",
        tags=["instances"],
        summary="Delete the finished instances matching the filters",
        responses=_responses(400, 401, 404),
    )
    async def purge_by(
        created_from: Annotated[
            _dt.datetime,
            Query(alias="createdTimeFrom", description="Required, as in Durable Functions."),
        ],
        runtime_status: Annotated[list[str] | None, Query(alias="runtimeStatus")] = None,
        created_to: Annotated[_dt.datetime | None, Query(alias="createdTimeTo")] = None,
    ) -> Any:
        purged = await client.purge_instance_history_by(
            created_time_from=_utc(created_from),
            created_time_to=_utc(created_to),
            runtime_status=_statuses(runtime_status),
        )
        deleted = purged.instances_deleted
        if not deleted:
            return error(404, "no finished instance matches the filters")
        return {"instancesDeleted": deleted}

    return router


_OPERATIONS = {
    "GetStatus": "getStatus",
    "RaiseEvent": "raiseEvent",
    "Terminate": "terminate",
    "Suspend": "suspend",
    "Resume": "resume",
    "Rewind": "rewind",
    "Restart": "restart",
    "Purge": "purgeInstance",
}
_STARTED: dict[str, Any] = {
    "description": "Started: the management URLs; ``Location`` is the status URL.",
    "headers": {
        "Location": {"schema": {"type": "string"}, "description": "The status URL."},
        "Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait."},
    },
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    key: {"type": "string"}
                    for key in (
                        "id",
                        "statusQueryGetUri",
                        "sendEventPostUri",
                        "terminatePostUri",
                        "rewindPostUri",
                        "purgeHistoryDeleteUri",
                        "restartPostUri",
                        "suspendPostUri",
                        "resumePostUri",
                    )
                },
                "required": ["id", "statusQueryGetUri"],
            }
        }
    },
    "links": {
        name: {"operationId": operation, "parameters": {"instance_id": "$response.body#/id"}}
        for name, operation in _OPERATIONS.items()
    },
}
_JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": {}}},
        "description": "Any JSON value (empty: none).",
    }
}


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _listed(status: DurableOrchestrationStatus, show_input: bool) -> dict[str, Any]:
    body = status.to_json()
    if not show_input:
        body["input"] = None
    return body
