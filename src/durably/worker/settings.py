"""WorkerSettings: a worker's knobs, checked once, with an error that names the bad one."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Literal

from durably.versions import VersionFailure, VersionMatch


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """What :class:`~durably.worker.Worker` takes; see its docstring for each setting.

    Raises ``ValueError`` naming the setting and the value for anything that cannot work
    (a worker with ``activity_concurrency=0`` would never run an activity).
    """

    activity_concurrency: int = 128
    orchestration_batch_size: int = 64
    cache_size: int = 4096
    cache_idle_seconds: float = 300.0
    lease_seconds: float = 60.0
    poll_interval: float = 0.25
    retention_days: float | None = None
    retention_check_interval: float = 3600.0
    direct_episodes: bool = True
    max_dequeue_count: int = 5
    version_match: VersionMatch = "none"
    version_failure: VersionFailure = "reject"
    unknown_function: Literal["fail", "wait"] = "fail"
    grace: float = 300.0

    def __post_init__(self) -> None:
        if self.unknown_function not in ("fail", "wait"):
            raise ValueError(
                f"unknown_function must be 'fail' or 'wait', got {self.unknown_function!r}"
            )
        _seconds("grace", self.grace)
        if self.version_match not in ("none", "strict", "current_or_older"):
            raise ValueError(
                "version_match must be 'none', 'strict' or 'current_or_older',"
                f" got {self.version_match!r}"
            )
        if self.version_failure not in ("reject", "fail"):
            raise ValueError(
                f"version_failure must be 'reject' or 'fail', got {self.version_failure!r}"
            )
        _whole("max_dequeue_count", self.max_dequeue_count, 1)
        _whole("activity_concurrency", self.activity_concurrency, 1)
        _whole("orchestration_batch_size", self.orchestration_batch_size, 1)
        _whole("cache_size", self.cache_size, 0)
        for name in ("cache_idle_seconds", "lease_seconds", "poll_interval"):
            _seconds(name, getattr(self, name))
        _seconds("retention_check_interval", self.retention_check_interval)
        if self.retention_days is not None:
            _number("retention_days", self.retention_days)
            if self.retention_days < 0:
                raise ValueError(f"retention_days must not be negative, got {self.retention_days}")
        if not isinstance(self.direct_episodes, bool):
            raise ValueError(f"direct_episodes must be True or False, got {self.direct_episodes!r}")

    @property
    def grace_period(self) -> _dt.timedelta:
        return _dt.timedelta(seconds=self.grace)

    @property
    def lease(self) -> _dt.timedelta:
        return _dt.timedelta(seconds=self.lease_seconds)


def _whole(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")


def _number(name: str, value: object) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        raise ValueError(f"{name} must be a number, got {value!r}")


def _seconds(name: str, value: object) -> None:
    _number(name, value)
    assert isinstance(value, int | float)
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
