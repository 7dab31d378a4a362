"""``durably serve``: the HTTP API and the dashboard, with a worker in the same process."""

from __future__ import annotations

import logging

import click

from durably import logs
from durably.backends import store_url
from durably.cli.code import load_app
from durably.cli.options import BadUsage, command
from durably.cli.render import console

TOKEN_ENV = "DURABLY_TOKEN"


@click.command()
@click.argument("target", metavar="MODULE:APP")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=7071, show_default=True)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    default=None,
    help=f"Require 'Authorization: Bearer TOKEN' on every route [default: ${TOKEN_ENV}].",
)
@click.option("--no-worker", is_flag=True, help="Serve only: the workers run elsewhere.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line, with instance_id, execution_id and function_name.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request and episode.")
@command
def serve(
    target: str,
    host: str,
    port: int,
    token: str | None,
    no_worker: bool,
    log_format: str,
    verbose: bool,
    store: str | None,
) -> None:
    """Serve the HTTP management API and the dashboard (http://HOST:PORT/) for the app,
    with a worker in the same process unless --no-worker, until SIGINT or SIGTERM.

    The API has Durable Functions' routes: POST /api/orchestrators/NAME starts an
    instance; /runtime/webhooks/durabletask/instances/ID reads and steers it. The
    OpenAPI document is at /openapi.json.
    """
    try:
        from durably.http import serve as run
    except ImportError as exc:
        raise BadUsage(
            f"durably serve needs the http extra: pip install 'durably[http]' ({exc})"
        ) from None
    if token is not None and not token.strip():
        raise BadUsage("--token must not be empty")
    app = load_app(target)
    logs.configure(logging.DEBUG if verbose else logging.INFO, log_format)
    where = "0.0.0.0 (every interface)" if host == "0.0.0.0" else host
    console.print(
        f"durably serve on http://{host}:{port}/ (bound to {where}), store {store_url(store)}"
        f"{', no worker' if no_worker else ', with a worker'}"
        f"{', token required' if token else ''}",
        markup=False,
    )
    run(
        app,
        store,
        host=host,
        port=port,
        token=token,
        worker=not no_worker,
        log_level="info" if verbose else "warning",
    )
    console.print("server stopped")
