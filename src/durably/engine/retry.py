"""Retry policies for activities and sub-orchestrations (Durable Functions' RetryOptions)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryOptions:
    """How often and how long to retry a failed activity or sub-orchestration.

    The wait before attempt ``n + 1`` is ``first_retry_interval * backoff_coefficient **
    (n - 1)``, capped at ``max_retry_interval``. Retries stop after
    ``max_number_of_attempts`` attempts in all, or once ``retry_timeout`` has passed since
    the first attempt. Waits are durable timers measured in orchestration time.
    """

    first_retry_interval_in_milliseconds: int
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval_in_milliseconds: int | None = None
    retry_timeout_in_milliseconds: int | None = None

    def __post_init__(self) -> None:
        if self.first_retry_interval_in_milliseconds <= 0:
            raise ValueError("first_retry_interval_in_milliseconds must be greater than 0")
        if self.max_number_of_attempts < 1:
            raise ValueError("max_number_of_attempts must be at least 1")
        if self.backoff_coefficient < 1.0:
            raise ValueError("backoff_coefficient must be at least 1.0")

    def next_delay(
        self, attempt: int, first_attempt_at: _dt.datetime, now: _dt.datetime
    ) -> _dt.timedelta | None:
        """The wait after failed attempt number ``attempt`` (1-based), or None to give up."""
        if attempt >= self.max_number_of_attempts:
            return None
        delay_ms = self.first_retry_interval_in_milliseconds * self.backoff_coefficient ** (
            attempt - 1
        )
        if self.max_retry_interval_in_milliseconds is not None:
            delay_ms = min(delay_ms, self.max_retry_interval_in_milliseconds)
        delay = _dt.timedelta(milliseconds=delay_ms)
        if self.retry_timeout_in_milliseconds is not None:
            deadline = first_attempt_at + _dt.timedelta(
                milliseconds=self.retry_timeout_in_milliseconds
            )
            if now + delay > deadline:
                return None
        return delay
