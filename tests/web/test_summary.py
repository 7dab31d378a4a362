"""The dashboard's summary strip on every store: counts by status, instances started and
finished per minute, and the age of the oldest waiting work."""

from __future__ import annotations

import datetime as dt

import httpx

from durably.backends.base import Backend
from durably.backends.summaries import summarize
from tests.backends.core_only_store import CoreOnlyStore, Data
from tests.web.app import app
from tests.web.server import serving, wait_status


def test_the_summary_counts_and_times_the_work(backend: Backend) -> None:
    with serving(app, backend) as url, httpx.Client(base_url=url, timeout=30) as http:
        for n in range(3):
            http.post(f"/api/orchestrators/quick/sum-{n}", json="x")
        http.post("/api/orchestrators/hello/sum-waiting", json="y")
        for n in range(3):
            wait_status(http, f"sum-{n}", "Completed")
        wait_status(http, "sum-waiting", "Running")
        summary = http.get("/dashboard/api/summary", params={"minutes": 5}).json()
    assert summary["counts"]["Completed"] == 3 and summary["counts"]["Running"] == 1
    assert summary["counts"]["Failed"] == 0
    assert summary["minutes"] == 5 and len(summary["started"]) == 5
    assert sum(summary["started"]) == 4 and sum(summary["finished"]) == 3
    assert summary["started"][-1] >= 1  # the last bucket is this minute
    assert summary["oldestWaiting"] is None  # the worker took everything


def test_a_store_without_summaries_is_summarized_from_listings() -> None:
    store = CoreOnlyStore(Data())  # no summary of its own: read from a listing
    with serving(app, store, worker=False) as url, httpx.Client(base_url=url) as http:
        http.post("/api/orchestrators/quick/idle", json="z")
        summary = http.get("/dashboard/api/summary").json()
    assert summary["counts"]["Pending"] == 1 and sum(summary["started"]) == 1
    now = dt.datetime.now(dt.UTC)
    read = summarize(store, now, 15)
    assert read.oldest_waiting is None  # a listing cannot tell; the stores that can, do


def test_the_oldest_waiting_work_on_a_store_with_summaries(backend: Backend) -> None:
    with serving(app, backend, worker=False) as url, httpx.Client(base_url=url) as http:
        http.post("/api/orchestrators/quick/queued", json="z")
        summary = http.get("/dashboard/api/summary").json()
    oldest = dt.datetime.fromisoformat(summary["oldestWaiting"].replace("Z", "+00:00"))
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - oldest < dt.timedelta(seconds=30)
