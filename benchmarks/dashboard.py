"""The dashboard and the HTTP API with 100,000 instances in the store (SQLite).

``python -m benchmarks.dashboard [--rows 100000] [--reps 30] [--out DIR]`` fills a store
with ``--rows`` instances (rows inserted directly, in bulk, as benchmarks.listing does)
plus 50 real chains run by a worker (histories for the instance page), serves it with
``durably.http`` (no worker), then times every request the dashboard makes: p50 and p95
over ``--reps`` requests on one keep-alive connection. With Debian's chromium it also
times what a user waits for in a browser: the list's rows, and an instance page's
timeline. Writes ``dashboard-100k.md`` and ``.json`` to ``--out`` (default
benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import durably
from benchmarks.listing import fill
from durably.http import create_app

ROOT = Path(__file__).resolve().parent
BASE = "/runtime/webhooks/durabletask/instances"

app = durably.App()


@app.activity
def add_one(x: int) -> int:
    return x + 1


@app.orchestrator
def chain(context: durably.OrchestrationContext) -> Any:
    x = context.get_input()
    for _ in range(10):
        x = yield context.call_activity(add_one, x)
    return x


def _serve(store: str) -> tuple[str, Any, Any]:
    import threading

    import uvicorn

    client = durably.Client(store, app=app)
    config = uvicorn.Config(create_app(client), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", server, thread


def _time(http: httpx.Client, reps: int, path: str, **options: Any) -> dict[str, float]:
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        answer = http.get(path, **options)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code in (200, 202), (path, answer.status_code, answer.text[:200])
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p95_ms": samples[max(0, round(0.95 * len(samples)) - 1)],
    }


def _deep_token(http: httpx.Client, pages: int) -> str:
    token = ""
    for _ in range(pages):
        headers = {"x-ms-continuation-token": token} if token else {}
        token = http.get(BASE, params={"top": 50}, headers=headers).headers[
            "x-ms-continuation-token"
        ]
    return token


def _browser(url: str, instance_id: str, reps: int) -> dict[str, dict[str, float]]:
    chromium = shutil.which("chromium")
    if chromium is None:
        return {}
    from playwright.sync_api import sync_playwright

    figures: dict[str, list[float]] = {
        "browser: list rows shown": [],
        "browser: timeline shown": [],
    }
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        for _ in range(reps):
            started = time.perf_counter()
            page.goto(f"{url}/#/")
            page.wait_for_selector("#instances tr[data-instance]")
            figures["browser: list rows shown"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            page.goto(f"{url}/#/instance/{instance_id}")
            page.reload()
            page.wait_for_selector("#timeline g.row")
            figures["browser: timeline shown"].append((time.perf_counter() - started) * 1000)
        browser.close()
    out = {}
    for label, samples in figures.items():
        samples.sort()
        out[label] = {
            "p50_ms": statistics.median(samples),
            "p95_ms": samples[max(0, round(0.95 * len(samples)) - 1)],
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="durably-dashboard-"))
    path = scratch / "dashboard.db"
    print(f"filling {path} with {args.rows:,} instances")
    fill(str(path), args.rows)
    store = f"sqlite:///{path}"
    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        chains = [client.start_new(chain, f"chain-{n}", n) for n in range(50)]
        for instance_id in chains:
            client.wait_for_completion(instance_id, timeout=60)
    url, server, thread = _serve(store)
    figures: dict[str, dict[str, float]] = {}
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            reps = args.reps
            figures["dashboard page (/)"] = _time(http, reps, "/")
            figures["its script (/static/app.js)"] = _time(http, reps, "/static/app.js")
            figures["summary strip"] = _time(http, reps, "/dashboard/api/summary")
            figures["list: first page of 50"] = _time(http, reps, BASE, params={"top": 50})
            figures["list: status Running"] = _time(
                http, reps, BASE, params={"top": 50, "runtimeStatus": "Running"}
            )
            figures["list: name ship_order"] = _time(
                http, reps, BASE, params={"top": 50, "name": "ship_order"}
            )
            figures["list: id prefix 0001"] = _time(
                http, reps, BASE, params={"top": 50, "instanceIdPrefix": "0001"}
            )
            figures["list: created range"] = _time(
                http,
                reps,
                BASE,
                params={
                    "top": 50,
                    "createdTimeFrom": "2023-11-14T22:13:20.050000Z",
                    "createdTimeTo": "2023-11-14T22:13:20.090000Z",
                },
            )
            pages = min(200, args.rows // 50 - 1)
            deep = _deep_token(http, pages)
            figures[f"list: page {pages + 1} (by token)"] = _time(
                http, reps, BASE, params={"top": 50}, headers={"x-ms-continuation-token": deep}
            )
            figures["instance page data (status + history)"] = _time(
                http,
                reps,
                f"{BASE}/chain-7",
                params={"showHistory": "true", "showHistoryOutput": "true"},
            )
        figures.update(_browser(url, "chain-7", max(5, args.reps // 3)))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
    _report(args, figures)


def _report(args: argparse.Namespace, figures: dict[str, dict[str, float]]) -> None:
    command = f"python -m benchmarks.dashboard --rows {args.rows} --reps {args.reps}"
    lines = [
        f"# The dashboard with {args.rows:,} instances (SQLite)",
        "",
        f"Command: `{command}`; {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}.",
        "Each figure: requests on one keep-alive connection to a local server (no worker);",
        "browser figures: Debian's chromium through Playwright, navigation to the element shown.",
        "",
        "| request | p50 (ms) | p95 (ms) |",
        "|---|---:|---:|",
    ]
    for label, figure in figures.items():
        lines.append(f"| {label} | {figure['p50_ms']:.1f} | {figure['p95_ms']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "dashboard-100k" if args.rows == 100_000 else f"dashboard-{args.rows}"
    (args.out / f"{stem}.md").write_text(text)
    (args.out / f"{stem}.json").write_text(
        json.dumps({"command": command, "rows": args.rows, "figures": figures}, indent=2)
    )


if __name__ == "__main__":
    main()
