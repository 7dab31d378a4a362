"""durably over HTTP: the Durable Functions management API and the web dashboard
(``pip install durably[http]``).

``create_app(client)`` is an ASGI app (FastAPI) to mount anywhere; ``serve(...)`` runs
it with uvicorn and, unless told not to, a worker in the same process (what ``durably
serve`` does).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Response
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from durably.async_client import AsyncClient
from durably.client import Client
from durably.http import api, dashboard, entities, errors
from durably.http.auth import TokenAuth

__all__ = ["create_app", "serve"]


def create_app(client: Client | AsyncClient, *, token: str | None = None) -> FastAPI:
    """The API (routes of Durable Functions' HTTP API) and the dashboard at ``/`` on
    ``client``'s store; with ``token``, every route wants ``Authorization: Bearer
    TOKEN`` (the dashboard signs in once)."""
    if not isinstance(client, AsyncClient):
        client = AsyncClient(client=client)
    auth = TokenAuth(token)
    app = FastAPI(
        title="durably",
        summary="Durable functions for Python: the management API",
        version=_version(),
        # The document is served below, behind the token; no browsable docs page (it
        # would load its script from the internet): docs/http-api.md is made from it.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    max_body = client.max_payload_bytes + 1024  # the payload, and room for JSON quoting
    errors.install_error_handlers(app, client.max_payload_bytes)
    app.include_router(api.build_router(client, auth, max_body))
    app.include_router(entities.build_router(client, auth, max_body))
    app.include_router(entities.build_dashboard_router(client, auth))
    app.include_router(dashboard.build_router(client.backend, auth))

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(auth)])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    app.openapi = functools.partial(_openapi, app)  # type: ignore[method-assign]
    _add_metrics(app, client, auth)

    return app


def _add_metrics(app: FastAPI, client: AsyncClient, auth: TokenAuth) -> None:
    """``GET /metrics`` (Prometheus' text format) when prometheus-client is installed;
    the store's gauges are read while the app runs (its lifespan)."""
    try:
        from durably import metrics
    except ImportError:
        return

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        metrics.install(client.backend)
        try:
            yield
        finally:
            metrics.uninstall(client.backend)

    app.router.lifespan_context = lifespan

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(auth)])
    async def exposition() -> Response:
        body, content_type = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=content_type)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without the 422 answers it adds to every route: bad input is a
    400 here, as in Durable Functions (documented on each route)."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        if "components" in document and not schemas:
            document["components"].pop("schemas", None)
        app.openapi_schema = document
    return app.openapi_schema


def serve(
    app: Any,
    store: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 7071,
    token: str | None = None,
    worker: bool = True,
    log_level: str = "info",
    **worker_options: Any,
) -> None:
    """Serve the API and dashboard for ``app`` (a :class:`durably.App`) until stopped,
    with a worker in this process unless ``worker`` is False."""
    import uvicorn

    from durably.worker import Worker

    if worker:
        with Worker(app, store=store, **worker_options) as running:
            _run(uvicorn, create_app(running.client(), token=token), host, port, log_level)
    else:
        with Client(store, app=app) as client:
            _run(uvicorn, create_app(client, token=token), host, port, log_level)


def _run(uvicorn: Any, asgi: FastAPI, host: str, port: int, log_level: str) -> None:
    """Run uvicorn until SIGINT or SIGTERM, then return (so that the worker stops too).

    uvicorn sends the signal that stopped it to the process again once it is done; the
    handlers set here take it, where the default ones would end the process at once.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = {}
    if main:
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, lambda *_: None)
    try:
        uvicorn.run(asgi, host=host, port=port, log_level=log_level, server_header=False)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("durably")
    except PackageNotFoundError:
        return "0"
