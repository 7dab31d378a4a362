"""The dashboard's entity pages in a real headless Chromium: the list, an entity held by
a critical section with an operation waiting for its lock, signalling from the page."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

import durably
from durably import EntityId
from tests.web.server import serving

from .app import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.timeout(180),
]


def test_entity_pages_show_state_lock_and_waiting_operations(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'entities.db'}"
    expect = playwright_api.expect
    with (
        serving(app, store) as url,
        durably.Client(store, app=app) as client,
        playwright_api.sync_playwright() as driver,
    ):
        client.start_new("holds_a_lock", "holder")
        busy = EntityId("account", "busy")
        deadline = time.monotonic() + 30
        while client.read_entity_state(busy).entity_state != {"balance": 1}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.signal_entity(busy, "deposit", 10)  # waits for the lock
        client.signal_entity(EntityId("counter", "visits"), "add", 3)
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(f"{url}/#/entities")
        expect(page.locator("#entities tr")).to_have_count(2)
        expect(page.locator("#entities")).to_contain_text("visits")
        page.get_by_role("link", name="account").click()
        expect(page.locator("#entity-id")).to_have_text("@account@busy")
        expect(page.locator("#locked-by")).to_have_text("holder")
        expect(page.locator("#waiting")).to_contain_text("deposit")
        expect(page.locator("#state")).to_contain_text('"balance": 1')
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-entity-locked.png"), full_page=True)

        with httpx.Client(base_url=url) as http:
            http.post("/runtime/webhooks/durabletask/instances/holder/raiseEvent/release")
        expect(page.locator("#locked-by")).to_have_text("—", timeout=15_000)
        expect(page.locator("#state")).to_contain_text('"balance": 11', timeout=15_000)

        page.click("#signal")
        page.fill("#dialog input[name=operation]", "deposit")
        page.fill("#dialog input[name=input]", "100")
        page.click("#dialog-ok")
        expect(page.locator("#state")).to_contain_text('"balance": 111', timeout=15_000)
        browser.close()
