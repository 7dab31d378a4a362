"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright
with ``executable_path``; no browser download): list, filter, open an instance and its
timeline, raise an event and watch it complete, terminate with the confirmation, sign
in with a token, and markup in ids and payloads shown as text, never run.

Screenshots go to ``test-artifacts/`` (``DURABLY_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import durably
from tests.web.app import app
from tests.web.server import serving, wait_status

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("DURABLY_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE_ID = "<img src=x onerror=alert(1)>"
HOSTILE = '<script>alert(2)</script><img src=x onerror=alert(3)> & "quotes"'

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.timeout(180),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    store = f"sqlite:///{tmp_path / 'dashboard.db'}"
    with serving(app, store) as url, httpx.Client(base_url=url, timeout=30) as http:
        for n in range(3):
            http.post(f"/api/orchestrators/quick/order-{n}", json=f"guest {n}")
        http.post("/api/orchestrators/parent/family", json="Nia")
        http.post("/api/orchestrators/hello/approval", json="Oz")
        http.post("/api/orchestrators/hello/doomed", json="Pi")
        http.post(f"/api/orchestrators/echo/{HOSTILE_ID}", json=HOSTILE)
        for instance_id in ("order-0", "order-1", "order-2", "family", HOSTILE_ID):
            wait_status(http, instance_id, "Completed")
        for instance_id in ("approval", "doomed"):
            wait_status(http, instance_id, "Running")
        yield url


def _page(browser: object, url: str, alerts: list[str]) -> object:
    page = browser.new_page(viewport={"width": 1360, "height": 900})  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    return page


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_list_filter_open_raise_and_terminate(browser: object, site: str) -> None:
    alerts: list[str] = []
    page = _page(browser, f"{site}/", alerts)
    expect = playwright_api.expect
    rows = page.locator("#instances tr")  # type: ignore[attr-defined]
    expect(rows).to_have_count(8)  # the sub-orchestration family:0001 too
    expect(page.locator("#summary")).to_contain_text("Completed")  # type: ignore[attr-defined]
    _shot(page, "dashboard-list")

    page.select_option("select[name=status]", "Running")  # type: ignore[attr-defined]
    page.click("#filters button[type=submit]")  # type: ignore[attr-defined]
    expect(rows).to_have_count(2)
    expect(page.locator("#instances")).to_contain_text("approval")  # type: ignore[attr-defined]
    page.goto(f"{site}/#/?name=quick&prefix=order-")  # type: ignore[attr-defined]
    expect(rows).to_have_count(3)

    page.goto(f"{site}/#/instance/approval")  # type: ignore[attr-defined]
    expect(page.locator("#status")).to_have_text("Running")  # type: ignore[attr-defined]
    expect(page.locator("#timeline g.row[data-kind=activity]")).to_have_count(1)  # type: ignore[attr-defined]
    _shot(page, "dashboard-instance-running")
    page.click("button[data-action=raise]")  # type: ignore[attr-defined]
    page.fill("#dialog input[name=event]", "approve")  # type: ignore[attr-defined]
    page.fill("#dialog textarea[name=data]", '{"by": "the browser"}')  # type: ignore[attr-defined]
    page.click("#dialog-ok")  # type: ignore[attr-defined]
    expect(page.locator("#status")).to_have_text("Completed", timeout=15_000)  # type: ignore[attr-defined]
    expect(page.locator("#output")).to_contain_text("the browser")  # type: ignore[attr-defined]
    expect(page.locator("#timeline g.row[data-kind=event]")).to_have_count(1)  # type: ignore[attr-defined]
    _shot(page, "dashboard-instance-completed")

    page.goto(f"{site}/#/instance/doomed")  # type: ignore[attr-defined]
    expect(page.locator("#status")).to_have_text("Running")  # type: ignore[attr-defined]
    page.click("button[data-action=terminate]")  # type: ignore[attr-defined]
    expect(page.locator("#dialog")).to_be_visible()  # type: ignore[attr-defined]
    page.click("#dialog-cancel")  # type: ignore[attr-defined]  # a second thought: nothing happens
    expect(page.locator("#status")).to_have_text("Running")  # type: ignore[attr-defined]
    page.click("button[data-action=terminate]")  # type: ignore[attr-defined]
    page.fill("#dialog input[name=reason]", "changed my mind")  # type: ignore[attr-defined]
    page.click("#dialog-ok")  # type: ignore[attr-defined]
    expect(page.locator("#status")).to_have_text("Terminated", timeout=15_000)  # type: ignore[attr-defined]

    page.goto(f"{site}/#/instance/family")  # type: ignore[attr-defined]
    expect(page.locator("#timeline g.row[data-kind=timer]")).to_have_count(1)  # type: ignore[attr-defined]
    expect(page.locator("#timeline g.row[data-kind=sub]")).to_have_count(1)  # type: ignore[attr-defined]
    _shot(page, "dashboard-instance-timeline")
    page.get_by_role("link", name="family:0001").click()  # type: ignore[attr-defined]
    expect(page.locator("#instance-id")).to_have_text("family:0001")  # type: ignore[attr-defined]
    expect(page.locator("a", has_text="family").first).to_be_visible()  # type: ignore[attr-defined]
    assert alerts == []


def test_markup_in_ids_and_payloads_is_shown_as_text(browser: object, site: str) -> None:
    alerts: list[str] = []
    page = _page(browser, f"{site}/", alerts)
    expect = playwright_api.expect
    expect(page.locator("#instances")).to_contain_text(HOSTILE_ID)  # type: ignore[attr-defined]
    page.get_by_role("link", name=HOSTILE_ID).click()  # type: ignore[attr-defined]
    expect(page.locator("#instance-id")).to_have_text(HOSTILE_ID)  # type: ignore[attr-defined]
    expect(page.locator("#custom-status")).to_have_text(re.compile(re.escape(HOSTILE)))  # type: ignore[attr-defined]
    expect(page.locator("#output")).to_contain_text("<script>alert(2)</script>")  # type: ignore[attr-defined]
    assert page.locator("main img").count() == 0  # type: ignore[attr-defined]
    assert page.locator("main script").count() == 0  # type: ignore[attr-defined]
    _shot(page, "dashboard-escaping")
    assert alerts == []


def test_sign_in_with_the_token(browser: object, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'signed.db'}"
    with serving(app, store, token="browser-token") as url:
        httpx.post(
            f"{url}/api/orchestrators/quick/private",
            json="Qi",
            headers={"Authorization": "Bearer browser-token"},
        )
        alerts: list[str] = []
        page = _page(browser, f"{url}/", alerts)
        expect = playwright_api.expect
        expect(page.locator("#sign-in")).to_be_visible()  # type: ignore[attr-defined]
        assert "private" not in page.content()  # type: ignore[attr-defined]
        page.fill("#sign-in input[name=token]", "wrong")  # type: ignore[attr-defined]
        page.click("#sign-in button")  # type: ignore[attr-defined]
        expect(page.locator("#sign-in")).to_contain_text("refused")  # type: ignore[attr-defined]
        page.fill("#sign-in input[name=token]", "browser-token")  # type: ignore[attr-defined]
        page.click("#sign-in button")  # type: ignore[attr-defined]
        expect(page.locator("#instances")).to_contain_text("private")  # type: ignore[attr-defined]
        page.goto(f"{url}/#/instance/private")  # type: ignore[attr-defined]
        expect(page.locator("#status")).to_have_text(re.compile("Completed|Running|Pending"))  # type: ignore[attr-defined]
        expect(page.locator("button[data-action=purge]")).to_be_visible()  # type: ignore[attr-defined]
        _shot(page, "dashboard-signed-in")
        assert alerts == []


def test_payloads_of_a_codec_the_server_lacks_show_as_such(browser: object, tmp_path: Path) -> None:
    # Written by an app with a codec, served by one without it (another team's dashboard):
    # the page shows the encoded payload as the JSON that names its codec, and works on.
    from durably.codecs import ZlibCodec

    store = f"sqlite:///{tmp_path / 'encoded.db'}"
    writer = durably.App(codec=ZlibCodec())
    writer.orchestrator(name="quick")(app.orchestrators["quick"])
    with durably.Client(store, app=writer) as client:
        client.start_new("quick", "sealed", "a secret")
    with serving(app, store, worker=False) as url:
        alerts: list[str] = []
        page = _page(browser, f"{url}/#/instance/sealed", alerts)
        expect = playwright_api.expect
        expect(page.locator("#input")).to_contain_text('"$codec": "zlib"')  # type: ignore[attr-defined]
        assert "a secret" not in page.content()  # type: ignore[attr-defined]
        assert alerts == []
