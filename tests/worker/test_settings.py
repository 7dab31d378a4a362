"""Worker settings that cannot work are refused at once, with the setting named."""

from __future__ import annotations

from typing import Any

import pytest

import durably
from tests.cli.helpers import durably_command

app = durably.App()

BAD: list[tuple[dict[str, Any], str]] = [
    ({"activity_concurrency": 0}, "activity_concurrency must be a whole number of at least 1"),
    ({"activity_concurrency": -1}, "activity_concurrency"),
    ({"activity_concurrency": 2.5}, "activity_concurrency"),
    ({"orchestration_batch_size": 0}, "orchestration_batch_size"),
    ({"cache_size": -1}, "cache_size must be a whole number of at least 0"),
    ({"lease_seconds": 0}, "lease_seconds must be a positive number of seconds"),
    ({"poll_interval": -0.5}, "poll_interval"),
    ({"poll_interval": float("nan")}, "poll_interval must be a number"),
    ({"cache_idle_seconds": float("inf")}, "cache_idle_seconds"),
    ({"retention_days": -1}, "retention_days must not be negative"),
    ({"retention_check_interval": 0}, "retention_check_interval"),
    ({"direct_episodes": "yes"}, "direct_episodes must be True or False"),
    ({"max_dequeue_count": 0}, "max_dequeue_count must be a whole number of at least 1"),
]


@pytest.mark.parametrize(("settings", "message"), BAD, ids=[str(s) for s, _ in BAD])
def test_a_setting_that_cannot_work_is_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        durably.Worker(app, store="memory://", **settings)


def test_the_defaults_are_accepted_and_readable() -> None:
    worker = durably.Worker(app, store="memory://", cache_size=0)
    assert worker.settings.activity_concurrency == 128
    assert worker.settings.cache_size == 0


@pytest.mark.parametrize(
    ("option", "value"), [("--activity-concurrency", "0"), ("--retention-days", "-1")]
)
def test_the_worker_command_refuses_them_too(option: str, value: str) -> None:
    result = durably_command("worker", "tests.cli.examples_module:app", option, value)
    assert result.code == 2 and "Traceback" not in result.err
    assert option in result.err and value in result.err


@pytest.mark.parametrize("count", [0, -1, 2.5, True])
def test_an_activity_max_dequeue_count_that_cannot_work_is_refused(count: Any) -> None:
    with pytest.raises(ValueError, match="max_dequeue_count must be a whole number"):
        durably.App().activity(max_dequeue_count=count)(lambda: None)
