"""The API's errors: the client's exceptions as status codes and JSON bodies
``{"error": message}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from durably.errors import InstanceNotFoundError, InvalidInstanceStateError
from durably.http.api import TooLarge, error, finished_or_conflict


def install_error_handlers(app: FastAPI, max_payload: int) -> None:
    """Map the client's errors to status codes and JSON bodies."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from durably.errors import InstanceExistsError, PayloadTooLargeError, StoreError

    @app.exception_handler(InstanceNotFoundError)
    async def not_found(_: Request, exc: InstanceNotFoundError) -> JSONResponse:
        return error(404, f"no instance {exc.instance_id!r}")

    @app.exception_handler(InvalidInstanceStateError)
    async def wrong_state(_: Request, exc: InvalidInstanceStateError) -> JSONResponse:
        return finished_or_conflict(exc)

    @app.exception_handler(InstanceExistsError)
    async def exists(_: Request, exc: InstanceExistsError) -> JSONResponse:
        return error(409, str(exc))

    @app.exception_handler(PayloadTooLargeError)
    async def too_large(_: Request, exc: PayloadTooLargeError) -> JSONResponse:
        return error(413, str(exc))

    @app.exception_handler(TooLarge)
    async def body_too_large(_: Request, exc: TooLarge) -> JSONResponse:
        return error(
            413,
            f"the body is {exc.size} bytes: more than the app's max_payload_bytes"
            f" ({max_payload}) allows",
        )

    @app.exception_handler(StoreError)
    async def store_failed(_: Request, exc: StoreError) -> JSONResponse:
        return error(503, f"the store failed: {exc}", {"Retry-After": "1"})

    @app.exception_handler(ValueError)
    async def bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(TypeError)
    async def bad_type(_: Request, exc: TypeError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return error(400, f"bad request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))
