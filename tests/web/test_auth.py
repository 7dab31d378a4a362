"""The optional bearer token: every route wants it, the dashboard's page included; the
dashboard's cookie admits reads only, so a forged cross-site request changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from durably.backends.memory import MemoryBackend
from durably.http.auth import COOKIE, TokenAuth
from tests.web.app import app
from tests.web.server import serving, wait_status

TOKEN = "s3cret-token"
BASE = "/runtime/webhooks/durabletask/instances"


@pytest.fixture
def url() -> Iterator[str]:
    with serving(app, MemoryBackend(), token=TOKEN) as served:
        yield served


def _routes(url: str) -> list[tuple[str, str]]:
    """Every route: those of the OpenAPI document (with sample path values) and the
    dashboard's."""
    document = httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    routes = []
    for path, methods in document.json()["paths"].items():
        concrete = (
            path.replace("{name}", "quick")
            .replace("{instance_id}", "x1")
            .replace("{event_name}", "e")
        )
        routes += [(method.upper(), concrete) for method in methods]
    return [*routes, ("GET", "/dashboard/api/summary"), ("POST", "/dashboard/login")]


def test_every_route_wants_the_token(url: str) -> None:
    routes = _routes(url)
    assert len(routes) >= 14
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = httpx.request(method, f"{url}{path}", headers=headers)
            assert answer.status_code == 401, (method, path, headers, answer.status_code)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "token" in answer.json()["error"]
    assert httpx.get(f"{url}/openapi.json").status_code == 401


def test_the_right_token_opens_every_route(url: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    started = httpx.post(f"{url}/api/orchestrators/quick/a1", json="Kai", headers=headers)
    assert started.status_code == 202
    with httpx.Client(base_url=url, headers=headers) as http:
        assert wait_status(http, "a1", "Completed")["output"] == "Hello Kai!"
        assert http.get(BASE).status_code == 200
        assert http.get("/dashboard/api/summary").status_code == 200
        assert http.get("/").status_code == 200


def test_the_dashboard_page_without_the_token_is_a_sign_in_form(url: str) -> None:
    page = httpx.get(f"{url}/")
    assert page.status_code == 401
    assert 'data-signed-in="no"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    # Its script and style are the wheel's own files, the same for everyone.
    assert httpx.get(f"{url}/static/app.js").status_code == 200


def test_the_dashboard_cookie_reads_but_never_writes(url: str) -> None:
    signed_in = httpx.post(f"{url}/dashboard/login", headers={"Authorization": f"Bearer {TOKEN}"})
    assert signed_in.status_code == 204
    cookie = signed_in.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    jar = {COOKIE: TOKEN}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    httpx.post(f"{url}/api/orchestrators/hello/c1", json="Lu", headers=headers)
    with httpx.Client(base_url=url, cookies=jar) as browser:
        assert browser.get("/").status_code == 200
        assert browser.get(f"{BASE}/c1").status_code in (200, 202)
        # A cross-site form or fetch carries the cookie, never the header: refused.
        for method, path in [
            ("POST", "/api/orchestrators/quick"),
            ("POST", f"{BASE}/c1/terminate"),
            ("POST", f"{BASE}/c1/raiseEvent/approve"),
            ("DELETE", f"{BASE}/c1"),
            ("DELETE", BASE),
        ]:
            assert browser.request(method, path).status_code == 401, (method, path)
    status = httpx.get(f"{url}{BASE}/c1", headers=headers).json()
    assert status["runtimeStatus"] in ("Pending", "Running")


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        TokenAuth("  ")
    auth = TokenAuth("abc")
    assert auth.matches("abc") and not auth.matches("abd") and not auth.matches(None)
    assert not auth.matches("ab") and not auth.matches("abcd")
