"""The pytest plugin: durably's entry point gives every test suite a ``durably_harness``
fixture factory, and the harnesses it makes are closed when the test ends."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import datetime as dt

import pytest

import durably
from durably.errors import StoreError

app = durably.App()
made = []


@app.activity
def greet(name):
    return f"hello {name}"


@app.orchestrator
def greet_later(context):
    yield context.create_timer(dt.timedelta(days=7))
    return (yield context.call_activity(greet, context.get_input()))


def test_the_fixture_makes_harnesses(durably_harness):
    harness = durably_harness(app, start=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    made.append(harness)
    harness.mock_activity(greet, lambda name: f"hi {name}")
    client = harness.client()
    status = client.wait_for_completion(client.start_new(greet_later, client_input="ana"))
    assert status.output == "hi ana"
    assert harness.now == dt.datetime(2030, 1, 8, tzinfo=dt.UTC)
    other = durably_harness(app)
    assert other.calls == []


def test_the_harnesses_were_closed_at_teardown():
    with pytest.raises(StoreError):
        made[0].client().get_status("anything")
"""


def test_the_plugin_is_registered_as_an_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert [e.value for e in entry_points if e.name == "durably"] == [
        "durably.testing.pytest_plugin"
    ]


def test_a_test_suite_gets_the_fixture_factory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_durably_does_not_import_pytest() -> None:
    code = "import sys, durably, durably.testing; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
