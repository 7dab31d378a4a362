"""A FastAPI service on durably's AsyncClient: each request starts an orchestration (an
``async def`` one) and streams its progress to the caller as JSON lines, then its result.

Run the service:  .venv/bin/uvicorn examples.fastapi_progress:api --port 8000
Then:             curl -N -X POST 'localhost:8000/reports?pages=4'
Or run a request in-process: python -m examples.fastapi_progress
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

import durably

app = durably.App()


@app.activity
def render_page(page: int) -> str:
    time.sleep(0.1)  # the slow part: rendering runs in an activity
    return f"page-{page}.pdf"


@app.orchestrator
async def render_report(context: durably.OrchestrationContext) -> Any:
    pages = context.get_input()
    done = []
    for page in range(1, pages + 1):
        done.append(await context.call_activity(render_page, page))
        context.set_custom_status({"rendered": page, "of": pages})
    return done


def make_api(store: str) -> FastAPI:
    """The service: a worker and an AsyncClient live as long as the app."""
    clients: dict[str, durably.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with durably.Worker(app, store=store) as worker:
            async with worker.async_client() as client:
                clients["durably"] = client
                yield

    api = FastAPI(lifespan=lifespan)

    @api.post("/reports")
    async def start_report(pages: int = 3) -> StreamingResponse:
        client = clients["durably"]
        instance_id = await client.start_new(render_report, client_input=pages)
        return StreamingResponse(progress(client, instance_id), media_type="application/x-ndjson")

    return api


async def progress(client: durably.AsyncClient, instance_id: str) -> AsyncIterator[str]:
    """One JSON line per change of the instance's custom status, then its result."""
    last = None
    while True:
        # Wakes at once when the instance finishes; otherwise looks again every 50 ms.
        with contextlib.suppress(TimeoutError):
            await client.wait_for_completion(instance_id, timeout=0.05)
        status = await client.get_status(instance_id, show_input=False)
        assert status is not None
        if status.custom_status != last and status.custom_status is not None:
            last = status.custom_status
            yield json.dumps({"instance": instance_id, "progress": last}) + "\n"
        if status.runtime_status.is_terminal:
            body = {
                "instance": instance_id,
                "status": status.runtime_status,
                "result": status.output,
            }
            yield json.dumps(body) + "\n"
            return


api = make_api("sqlite:///examples.db")


def main(store: str = "sqlite:///examples.db") -> Any:
    """Send one request to the service, in this process, and return its last line."""

    async def request() -> list[dict[str, Any]]:
        service = make_api(store)
        async with service.router.lifespan_context(service):
            transport = httpx.ASGITransport(app=service)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
                answer = await http.post("/reports", params={"pages": 4})
                return [json.loads(line) for line in answer.text.splitlines()]

    lines = asyncio.run(request())
    for line in lines:
        print(line)
    return lines[-1]["result"]


if __name__ == "__main__":
    main()
