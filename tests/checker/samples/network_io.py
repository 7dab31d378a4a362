"""DUR005: sockets, HTTP and databases."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import httpx

import durably

flagged = durably.App()
clean = durably.App()


@flagged.orchestrator
def calls_services(context: durably.OrchestrationContext) -> Any:
    with urllib.request.urlopen("https://example.com") as response:  # expect: DUR005
        page = response.read()
    rates = httpx.get("https://example.com/rates").json()  # expect: DUR005
    conn = socket.create_connection(("example.com", 80))  # expect: DUR005
    with httpx.Client() as client:  # expect: DUR005
        client.post("https://example.com/hook")
    return (yield context.call_activity("use", [page.decode(), rates, conn.fileno()]))


@clean.orchestrator
def leaves_it_to_activities(context: durably.OrchestrationContext) -> Any:
    try:
        rates = yield context.call_activity(fetch_rates, "https://example.com/rates")
    except (socket.gaierror, httpx.HTTPError):  # naming exception classes does no I/O
        rates = None
    request = urllib.request.Request("https://example.com")  # a value, no I/O yet
    return [rates, request.full_url, isinstance(rates, socket.socket)]


@clean.activity
def fetch_rates(url: str) -> Any:
    return httpx.get(url).json()
