"""The HTTP management API as a Durable Functions client sees it: routes, status codes,
headers and JSON, against a real server on every store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from durably.backends.base import Backend
from durably.backends.memory import MemoryBackend
from tests.web.app import FLAKY, app, limited
from tests.web.server import serving, wait_status

BASE = "/runtime/webhooks/durabletask/instances"


@pytest.fixture
def http(backend: Backend) -> Iterator[httpx.Client]:
    with serving(app, backend) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_start_answers_202_with_the_management_urls(http: httpx.Client) -> None:
    started = http.post("/api/orchestrators/hello/order-1", json="Ada")
    assert started.status_code == 202
    body = started.json()
    root = f"{str(http.base_url).rstrip('/')}{BASE}/order-1"
    assert body == {
        "id": "order-1",
        "statusQueryGetUri": root,
        "sendEventPostUri": f"{root}/raiseEvent/{{eventName}}",
        "terminatePostUri": f"{root}/terminate?reason={{text}}",
        "rewindPostUri": f"{root}/rewind?reason={{text}}",
        "purgeHistoryDeleteUri": root,
        "restartPostUri": f"{root}/restart",
        "suspendPostUri": f"{root}/suspend?reason={{text}}",
        "resumePostUri": f"{root}/resume?reason={{text}}",
    }
    assert started.headers["location"] == root
    assert int(started.headers["retry-after"]) >= 1
    fresh = http.post("/api/orchestrators/quick", json="Bo").json()["id"]
    assert wait_status(http, fresh, "Completed")["output"] == "Hello Bo!"


def test_the_async_http_pattern_polls_202_until_200(http: httpx.Client) -> None:
    location = http.post("/api/orchestrators/hello/poll-1", json="Cy").headers["location"]
    wait_status(http, "poll-1", "Running")
    deadline = time.monotonic() + 30
    while (running := http.get(location).json())["customStatus"] is None:
        assert time.monotonic() < deadline, "the custom status never came"
        time.sleep(0.02)
    assert running["customStatus"] == {"greeted": "Hello Cy!"}
    polled = http.get(location)
    assert polled.status_code == 202 and polled.headers["location"] == location
    raised = http.post(f"{BASE}/poll-1/raiseEvent/approve", json={"by": "Di"})
    assert raised.status_code == 202
    wait_status(http, "poll-1", "Completed")
    done = http.get(location)
    assert done.status_code == 200
    body = done.json()
    assert body["output"] == {"greeting": "Hello Cy!", "approval": {"by": "Di"}}
    assert set(body) >= {"name", "instanceId", "runtimeStatus", "input", "customStatus"}
    assert set(body) >= {"output", "createdTime", "lastUpdatedTime"}
    assert body["input"] == "Cy" and body["name"] == "hello"


def test_status_flags(http: httpx.Client) -> None:
    http.post("/api/orchestrators/quick/flags-1", json="Ed")
    wait_status(http, "flags-1", "Completed")
    plain = http.get(f"{BASE}/flags-1").json()
    assert "historyEvents" not in plain
    no_input = http.get(f"{BASE}/flags-1", params={"showInput": "false"}).json()
    assert no_input["input"] is None
    history = http.get(f"{BASE}/flags-1", params={"showHistory": "true"}).json()["historyEvents"]
    kinds = [event["EventType"] for event in history]
    assert kinds[1] == "ExecutionStarted" and "TaskCompleted" in kinds
    completed = next(event for event in history if event["EventType"] == "TaskCompleted")
    assert completed["Result"] is None  # outputs only with showHistoryOutput
    with_output = http.get(
        f"{BASE}/flags-1", params={"showHistory": "true", "showHistoryOutput": "true"}
    ).json()["historyEvents"]
    assert "Hello Ed!" in [event.get("Result") for event in with_output]


def test_a_failed_instance_is_200_or_500_when_asked(http: httpx.Client) -> None:
    FLAKY["fail"] = True
    http.post("/api/orchestrators/fragile/fail-1", json=2)
    failed = wait_status(http, "fail-1", "Failed")
    assert "flaky failed" in failed["output"]
    assert http.get(f"{BASE}/fail-1").status_code == 200
    asked = http.get(f"{BASE}/fail-1", params={"returnInternalServerErrorOnFailure": "true"})
    assert asked.status_code == 500 and asked.json()["runtimeStatus"] == "Failed"


def test_rewind_runs_a_failed_instance_again(http: httpx.Client) -> None:
    FLAKY["fail"] = True
    http.post("/api/orchestrators/fragile/rewind-1", json=4)
    wait_status(http, "rewind-1", "Failed")
    FLAKY["fail"] = False
    try:
        assert http.post(f"{BASE}/rewind-1/rewind", params={"reason": "fixed"}).status_code == 202
        assert wait_status(http, "rewind-1", "Completed")["output"] == 8
    finally:
        FLAKY["fail"] = True
    gone = http.post(f"{BASE}/rewind-1/rewind")
    assert gone.status_code == 410 and "rewind" in gone.json()["error"]


def test_steering_suspend_resume_terminate(http: httpx.Client) -> None:
    http.post("/api/orchestrators/hello/steer-1", json="Fa")
    wait_status(http, "steer-1", "Running")
    assert http.post(f"{BASE}/steer-1/suspend", params={"reason": "lunch"}).status_code == 202
    wait_status(http, "steer-1", "Suspended")
    assert http.get(f"{BASE}/steer-1").status_code == 202
    assert http.post(f"{BASE}/steer-1/resume").status_code == 202
    wait_status(http, "steer-1", "Running")
    assert http.post(f"{BASE}/steer-1/terminate", params={"reason": "enough"}).status_code == 202
    terminated = wait_status(http, "steer-1", "Terminated")
    assert terminated["output"] == "enough"
    for action in ("terminate", "suspend", "resume"):
        again = http.post(f"{BASE}/steer-1/{action}")
        assert again.status_code == 410, (action, again.text)
        assert "error" in again.json()
    assert http.post(f"{BASE}/steer-1/raiseEvent/approve", json=1).status_code == 410


def test_unknown_instances_are_404(http: httpx.Client) -> None:
    for method, path in [
        ("GET", f"{BASE}/nobody"),
        ("POST", f"{BASE}/nobody/raiseEvent/x"),
        ("POST", f"{BASE}/nobody/terminate"),
        ("POST", f"{BASE}/nobody/suspend"),
        ("POST", f"{BASE}/nobody/resume"),
        ("POST", f"{BASE}/nobody/rewind"),
        ("POST", f"{BASE}/nobody/restart"),
        ("DELETE", f"{BASE}/nobody"),
    ]:
        answer = http.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
        assert "nobody" in answer.json()["error"]


def test_list_filters_and_pages_with_the_continuation_header(http: httpx.Client) -> None:
    for n in range(5):
        http.post(f"/api/orchestrators/quick/list-{n}", json=str(n))
    http.post("/api/orchestrators/hello/list-hello", json="Gu")
    for n in range(5):
        wait_status(http, f"list-{n}", "Completed")
    first = http.get(BASE, params={"top": 2, "instanceIdPrefix": "list-"})
    assert first.status_code == 200
    assert [i["instanceId"] for i in first.json()] == ["list-0", "list-1"]
    assert first.json()[0]["input"] is None  # inputs only with showInput
    token = first.headers["x-ms-continuation-token"]
    second = http.get(
        BASE,
        params={"top": 2, "instanceIdPrefix": "list-", "showInput": "true"},
        headers={"x-ms-continuation-token": token},
    )
    assert [i["instanceId"] for i in second.json()] == ["list-2", "list-3"]
    assert second.json()[0]["input"] == "2"
    statuses = http.get(BASE, params={"runtimeStatus": "Running,Pending", "top": 100}).json()
    assert [i["instanceId"] for i in statuses] == ["list-hello"]
    repeated = http.get(BASE, params=[("runtimeStatus", "Running"), ("runtimeStatus", "Failed")])
    assert [i["instanceId"] for i in repeated.json()] == ["list-hello"]
    named = http.get(BASE, params={"name": "hello"}).json()
    assert [i["instanceId"] for i in named] == ["list-hello"]
    future = http.get(BASE, params={"createdTimeFrom": "2999-01-01T00:00:00Z"}).json()
    assert future == []
    last = http.get(BASE, params={"instanceIdPrefix": "list-", "top": 100})
    assert "x-ms-continuation-token" not in last.headers


def test_purge_one_and_by_filter(http: httpx.Client) -> None:
    http.post("/api/orchestrators/hello/purge-active", json="Hu")
    wait_status(http, "purge-active", "Running")
    active = http.delete(f"{BASE}/purge-active")
    assert active.status_code == 409 and "purge" in active.json()["error"]
    for n in range(3):
        http.post(f"/api/orchestrators/quick/purge-{n}", json="x")
        wait_status(http, f"purge-{n}", "Completed")
    assert http.delete(f"{BASE}/purge-0").json() == {"instancesDeleted": 1}
    assert http.get(f"{BASE}/purge-0").status_code == 404
    since = {"createdTimeFrom": "2000-01-01T00:00:00Z"}
    by_filter = http.delete(BASE, params={**since, "runtimeStatus": "Completed"})
    assert by_filter.status_code == 200 and by_filter.json()["instancesDeleted"] >= 2
    assert http.delete(BASE, params={**since, "runtimeStatus": "Completed"}).status_code == 404
    refused = http.delete(BASE, params={**since, "runtimeStatus": "Running"})
    assert refused.status_code == 400 and "only finished instances" in refused.json()["error"]
    unbounded = http.delete(BASE, params={"runtimeStatus": "Completed"})
    assert unbounded.status_code == 400 and "createdTimeFrom" in unbounded.json()["error"]


def test_restart_and_sub_orchestration_links(http: httpx.Client) -> None:
    http.post("/api/orchestrators/parent/family-1", json="Ivy")
    done = wait_status(http, "family-1", "Completed")
    assert done["output"] == {"child": "Hello Ivy!"}
    history = http.get(f"{BASE}/family-1", params={"showHistory": "true"}).json()
    child_id = next(
        e["InstanceId"]
        for e in history["historyEvents"]
        if e["EventType"] == "SubOrchestrationInstanceCreated"
    )
    assert http.get(f"{BASE}/{child_id}").json()["parentInstanceId"] == "family-1"
    restarted = http.post(f"{BASE}/family-1/restart")
    assert restarted.status_code == 202
    new_id = restarted.json()["id"]
    assert new_id != "family-1"
    assert wait_status(http, new_id, "Completed")["output"] == {"child": "Hello Ivy!"}
    in_place = http.post(f"{BASE}/family-1/restart", params={"restartWithNewInstanceId": "false"})
    assert in_place.status_code == 202 and in_place.json()["id"] == "family-1"


@pytest.mark.parametrize(
    ("method", "path", "options", "status", "message"),
    [
        ("POST", "/api/orchestrators/nope", {}, 400, "known orchestrators: echo, fragile, hello"),
        ("POST", "/api/orchestrators/quick/@bad", {}, 400, "must not start with '@'"),
        ("POST", "/api/orchestrators/quick/x", {"content": b"{oops"}, 400, "must be JSON"),
        ("POST", f"{BASE}/x/raiseEvent/e", {"content": b"[1,"}, 400, "must be JSON"),
        ("GET", BASE, {"params": {"runtimeStatus": "Sleeping"}}, 400, "unknown runtime status"),
        ("GET", BASE, {"params": {"top": 0}}, 400, "top"),
        ("GET", BASE, {"params": {"createdTimeFrom": "yesterday"}}, 400, "createdTimeFrom"),
        ("GET", BASE, {"headers": {"x-ms-continuation-token": "junk"}}, 400, "token"),
        ("GET", f"{BASE}/x", {"params": {"showHistory": "maybe"}}, 400, "showHistory"),
        ("POST", "/api/orchestrators/quick/x", {"content": b"[" * 100_000}, 400, "nested"),
        ("GET", BASE, {"params": {"instanceIdPrefix": "a\x00"}}, 400, "NUL"),
        ("GET", BASE, {"params": {"name": "a\x00"}}, 400, "NUL"),
        ("GET", f"{BASE}/a%00", {}, 400, "control characters"),
    ],
)
def test_bad_input_is_a_clear_400(
    http: httpx.Client, method: str, path: str, options: dict[str, Any], status: int, message: str
) -> None:
    answer = http.request(method, path, **options)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]


def test_an_instance_that_exists_is_409(http: httpx.Client) -> None:
    http.post("/api/orchestrators/hello/twice", json="Jo")
    again = http.post("/api/orchestrators/hello/twice", json="Jo")
    assert again.status_code == 409 and "twice" in again.json()["error"]


def test_an_oversized_body_is_413() -> None:
    with serving(limited, MemoryBackend()) as url, httpx.Client(base_url=url) as http:
        big = http.post("/api/orchestrators/quick", json="x" * 5000)
        assert big.status_code == 413 and "1000" in big.json()["error"]
        just = http.post("/api/orchestrators/quick", json="x" * 1500)  # under the body cap
        assert just.status_code == 413 and "max_payload_bytes" in just.json()["error"]
        assert http.post("/api/orchestrators/quick", json="x" * 10).status_code == 202


def test_the_openapi_document_lists_every_route(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths) >= {
        "/api/orchestrators/{name}",
        "/api/orchestrators/{name}/{instance_id}",
        f"{BASE}",
        f"{BASE}/{{instance_id}}",
        f"{BASE}/{{instance_id}}/raiseEvent/{{event_name}}",
        f"{BASE}/{{instance_id}}/terminate",
        f"{BASE}/{{instance_id}}/suspend",
        f"{BASE}/{{instance_id}}/resume",
        f"{BASE}/{{instance_id}}/rewind",
        f"{BASE}/{{instance_id}}/restart",
    }
    assert set(paths[f"{BASE}/{{instance_id}}"]) == {"get", "delete"}
    assert "202" in paths["/api/orchestrators/{name}"]["post"]["responses"]


class _SlowStore(MemoryBackend):
    """A memory store whose status reads wait until released (a store far away)."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()
        self.release = threading.Event()

    def get_instance(self, instance_id: str) -> Any:
        self.reading.set()
        self.release.wait(30)
        return super().get_instance(instance_id)


def test_a_slow_store_call_never_blocks_the_server() -> None:
    store = _SlowStore()
    with serving(app, store, worker=False) as url:
        slow = threading.Thread(target=lambda: httpx.get(f"{url}{BASE}/anyone", timeout=60))
        slow.start()
        assert store.reading.wait(30)  # the status read is stuck in the store
        try:
            # The server still answers, while that read is under way.
            assert httpx.get(f"{url}/openapi.json", timeout=30).status_code == 200
            assert slow.is_alive()
        finally:
            store.release.set()
            slow.join()
