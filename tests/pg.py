"""PostgreSQL helpers for tests: the server URL, throwaway schemas, disruptions.

Tests that need PostgreSQL call :func:`server_url`, which skips when
``DURABLY_TEST_POSTGRES`` is unset. When it is set and the server is down they fail:
CI exports the variable precisely so that a missing server cannot pass silently.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

POSTGRES_ENV = "DURABLY_TEST_POSTGRES"
_DURABLY_OPTIONS = {"task_hub", "schema", "pool_min", "pool_max", "pool_timeout", "poll_interval"}


def server_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} not set")
    return url


def with_query(url: str, **params: Any) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


def admin(url: str) -> Any:
    """An autocommit psycopg connection to the test database (close it when done);
    durably's own options in ``url`` are left out."""
    import psycopg

    parts = urlsplit(url)
    libpq = [(k, v) for k, v in parse_qsl(parts.query) if k not in _DURABLY_OPTIONS]
    return psycopg.connect(urlunsplit(parts._replace(query=urlencode(libpq))), autocommit=True)


@contextlib.contextmanager
def fresh_schema(url: str, prefix: str = "t") -> Iterator[str]:
    """A schema name nobody uses yet; the schema (if created) is dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with admin(url) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def terminate(url: str, application_name_prefix: str, *, wait: bool = True) -> int:
    """``pg_terminate_backend`` every connection whose application_name starts with the
    prefix (only this test's processes: other sessions may share the database). With
    ``wait``, returns once each connection is really gone."""
    with admin(url) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND application_name LIKE %s",
            (5000 if wait else 0, application_name_prefix + "%"),
        ).fetchall()
    return len(rows)


def connections(url: str, application_name_prefix: str) -> list[str]:
    """The application names of the open connections with that prefix."""
    with admin(url) as connection:
        rows = connection.execute(
            "SELECT application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE %s",
            (application_name_prefix + "%",),
        ).fetchall()
    return sorted(row[0] for row in rows)


def wait_until(condition: Any, timeout: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.02)
