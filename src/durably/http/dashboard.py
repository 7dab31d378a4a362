"""The web dashboard: one page and its script, shipped in the wheel (no build step, nothing
loaded from the internet), drawing everything from the HTTP API.

The page holds no data: its script reads the API and puts every value into the page as
text (never as HTML), so an instance id, an input or an output cannot inject markup. With
a token, a page opened without it is a sign-in form (HTTP 401); signing in sets the
read-only cookie of :mod:`durably.http.auth` and keeps the token in the tab's session
storage for the requests that change something.
"""

from __future__ import annotations

import datetime as _dt
import importlib.resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from durably.backends.base import (
    Backend,
)
from durably.backends.summaries import summarize
from durably.history import OrchestrationRuntimeStatus
from durably.http.auth import COOKIE, TokenAuth

ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "entities.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _asset(name: str) -> str:
    return importlib.resources.files("durably.http").joinpath("static", name).read_text()


def build_router(backend: Backend, auth: TokenAuth) -> APIRouter:
    """The dashboard's page, assets, sign-in and summary."""
    router = APIRouter(include_in_schema=False)
    page = _asset("index.html")
    assets = {name: _asset(name) for name in ASSETS}

    @router.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        try:
            auth(request)
        except HTTPException:
            html = page.replace('data-signed-in="yes"', 'data-signed-in="no"')
            return HTMLResponse(html, status_code=401, headers=SECURITY_HEADERS)
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    @router.get("/static/{name}")
    def asset(name: str) -> Response:
        # The assets are the wheel's own files: served to anyone (the sign-in form needs
        # them); every value they show comes from routes behind the token.
        if name not in ASSETS:
            raise HTTPException(404, f"no asset {name!r}")
        return Response(assets[name], media_type=ASSETS[name], headers=SECURITY_HEADERS)

    @router.post("/dashboard/login", status_code=204, dependencies=[Depends(auth)])
    def login(request: Request) -> Response:
        """The token was in the header: keep it in the read-only cookie."""
        response = Response(status_code=204)
        if auth.enabled:
            header = request.headers.get("authorization", "")
            response.set_cookie(
                COOKIE,
                header.partition(" ")[2].strip(),
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/",
            )
        return response

    @router.post("/dashboard/logout", status_code=204)
    def logout() -> Response:
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/dashboard/api/summary", dependencies=[Depends(auth)])
    async def summary(
        minutes: Annotated[int, Query(ge=1, le=120)] = 15,
    ) -> dict[str, Any]:
        now = _dt.datetime.now(_dt.UTC)
        found = await run_in_threadpool(summarize, backend, now, minutes)
        return {
            "counts": {status.value: found.counts.get(status, 0) for status in _SHOWN},
            "minutes": minutes,
            "started": list(found.started),
            "finished": list(found.finished),
            "oldestWaiting": _iso(found.oldest_waiting),
            "now": _iso(now),
        }

    return router


_SHOWN = [
    OrchestrationRuntimeStatus.Pending,
    OrchestrationRuntimeStatus.Running,
    OrchestrationRuntimeStatus.Suspended,
    OrchestrationRuntimeStatus.Completed,
    OrchestrationRuntimeStatus.Failed,
    OrchestrationRuntimeStatus.Terminated,
    OrchestrationRuntimeStatus.ContinuedAsNew,
    OrchestrationRuntimeStatus.Canceled,
]


def _iso(value: _dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")
