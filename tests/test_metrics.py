"""Prometheus metrics: a worker with metrics_port serves the counters, histograms and
store gauges of DESIGN.md section 9 on every store; the gauges read the store at most
every few seconds however often they are scraped; durably serve has them at /metrics,
behind its token."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

import durably
from durably import metrics
from durably.backends.base import Backend
from tests.cli.helpers import durably_command
from tests.web.server import serving


def _app(suffix: str) -> durably.App:
    app = durably.App()

    @app.activity(name=f"ok_{suffix}")
    def ok(x: int) -> int:
        return x + 1

    @app.activity(name=f"boom_{suffix}")
    def boom(x: int) -> int:
        raise RuntimeError("boom")

    @app.orchestrator(name=f"flow_{suffix}")
    def flow(context: durably.OrchestrationContext) -> Any:
        value = yield context.call_activity(ok, 1)
        if context.get_input() == "fail":
            yield context.call_activity(boom, value)
        return value

    return app


def _sample(text: str, metric: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.split("{")[0] == metric and all(f'{k}="{v}"' in name for k, v in labels.items()):
            return float(value)
    raise AssertionError(f"no sample {metric}{{{wanted}}} in:\n{text[:3000]}")


def test_a_worker_serves_its_metrics(backend: Backend) -> None:
    suffix = uuid.uuid4().hex[:8]
    app = _app(suffix)
    with durably.Worker(app, store=backend, poll_interval=0.02, metrics_port=0) as worker:
        client = worker.client()
        good = client.start_new(f"flow_{suffix}", client_input="fine")
        bad = client.start_new(f"flow_{suffix}", client_input="fail")
        client.wait_for_completion(good, timeout=30)
        client.wait_for_completion(bad, timeout=30)
        client.start_new(f"flow_{suffix}", client_input="fine", instance_id=f"later-{suffix}")
        assert worker.metrics_port
        text = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics").text
    flow = f"flow_{suffix}"
    assert _sample(text, "durably_orchestrations_total", name=flow, status="Completed") >= 1
    assert _sample(text, "durably_orchestrations_total", name=flow, status="Failed") == 1
    assert _sample(text, "durably_activities_total", name=f"ok_{suffix}", status="Completed") >= 2
    assert _sample(text, "durably_activities_total", name=f"boom_{suffix}", status="Failed") == 1
    assert _sample(text, "durably_activity_duration_seconds_count", name=f"ok_{suffix}") >= 2
    assert _sample(text, "durably_episode_duration_seconds_count", name=flow) >= 4
    assert _sample(text, "durably_instances", status="Completed") >= 1
    assert _sample(text, "durably_instances", status="Failed") >= 1
    for kind in ("orchestration", "activity"):
        assert _sample(text, "durably_backlog", kind=kind) >= 0
        assert _sample(text, "durably_backlog_age_seconds", kind=kind) >= 0


def test_the_store_gauges_read_the_store_at_most_every_few_seconds(backend: Backend) -> None:
    client = durably.Client(backend)
    for n in range(3):
        client.start_new("anything", f"queued-{n}")
    collector = metrics.StoreCollector(backend, cache_seconds=60)
    families = []
    for _ in range(1000):  # a thousand scrapes
        families = list(collector.collect())
    assert collector.reads == 1
    backlog = {s.labels["kind"]: s.value for s in families[0].samples}
    assert backlog["orchestration"] == 3 and backlog["activity"] == 0
    pending = {s.labels["status"]: s.value for s in families[2].samples}
    assert pending == {"Pending": 3}


def test_durably_serve_has_them_at_metrics_behind_the_token(tmp_path: Any) -> None:
    app = _app(uuid.uuid4().hex[:8])
    store = f"sqlite:///{tmp_path / 'served.db'}"
    with serving(app, store, token="tok") as url:
        assert httpx.get(f"{url}/metrics").status_code == 401
        answer = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer tok"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert re.search(r"^durably_instances", answer.text, re.M) or "durably_backlog" in answer.text


def test_bad_settings_are_refused_and_the_cli_offers_the_port() -> None:
    import pytest

    with pytest.raises(ValueError, match="metrics_port must be a port number"):
        durably.Worker(_app("x"), store="memory://m", metrics_port=70000)
    assert "--metrics-port" in durably_command("worker", "--help").out


def test_the_grafana_dashboard_uses_only_durably_s_metrics() -> None:
    import json
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "durably-dashboard.json"
    exprs = [t["expr"] for p in json.loads(doc.read_text())["panels"] for t in p["targets"]]
    used = {name for expr in exprs for name in re.findall(r"durably_\w+", expr)}
    known = {
        "durably_orchestrations_total",
        "durably_activities_total",
        "durably_activity_duration_seconds_bucket",
        "durably_episode_duration_seconds_bucket",
        "durably_backlog",
        "durably_backlog_age_seconds",
        "durably_instances",
    }
    assert used and used <= known, used - known
