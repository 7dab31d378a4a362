"""A real HTTP server (uvicorn on a free loopback port) serving durably's API and
dashboard for a test, with a worker on the same store."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

import durably
from durably.http import create_app


@contextlib.contextmanager
def serving(
    app: durably.App,
    store: Any,
    *,
    token: str | None = None,
    worker: bool = True,
    **worker_options: Any,
) -> Iterator[str]:
    """The base URL of a server for ``app`` on ``store`` (with a worker unless not)."""
    with contextlib.ExitStack() as stack:
        if worker:
            options = {"poll_interval": 0.02, **worker_options}
            running = stack.enter_context(durably.Worker(app, store=store, **options))
            client: durably.Client = running.client()
        else:
            client = stack.enter_context(durably.Client(store, app=app))
        config = uvicorn.Config(
            create_app(client, token=token), host="127.0.0.1", port=0, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def wait_status(http: httpx.Client, instance_id: str, *wanted: str) -> dict[str, Any]:
    """Poll the status route until the instance is in one of ``wanted`` (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        body = http.get(f"/runtime/webhooks/durabletask/instances/{instance_id}").json()
        if body.get("runtimeStatus") in wanted:
            return body
        assert time.monotonic() < deadline, f"{instance_id} stayed {body.get('runtimeStatus')}"
        time.sleep(0.02)
