"""Shared fixtures: ``store_factory`` and ``backend``, over every backend.

Both are parametrised over memory, SQLite (a file under ``tmp_path``) and PostgreSQL.
PostgreSQL runs only when ``DURABLY_TEST_POSTGRES`` holds a server URL; each test then
gets its own task hubs, so tests never see each other's rows.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("durably.testing")

from durably.backends import open_backend  # noqa: E402  (after the rewrite hook)
from durably.backends.base import Backend  # noqa: E402
from durably.testing.backend_contract import StoreFactory  # noqa: E402

POSTGRES_ENV = "DURABLY_TEST_POSTGRES"
BACKEND_KINDS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


def _with_query(url: str, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _store_url(kind: str, tmp_path: Path) -> Callable[[str], str]:
    """A function from task hub name to the URL of this test's store."""
    if kind == "memory":
        name = f"test-{uuid.uuid4().hex}"
        return lambda hub: _with_query(f"memory://{name}", task_hub=hub)
    if kind == "sqlite":
        return lambda hub: _with_query(f"sqlite:///{tmp_path / 'store.db'}", task_hub=hub)
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} not set")
    if importlib.util.find_spec("durably.backends.postgres") is None:
        pytest.skip("durably.backends.postgres is not written yet")
    prefix = f"t{uuid.uuid4().hex[:12]}"
    return lambda hub: _with_query(url, task_hub=f"{prefix}-{hub}")


@pytest.fixture(params=BACKEND_KINDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens backend objects on one fresh store per test; closes them afterwards."""
    url_for = _store_url(request.param, tmp_path)
    opened: list[Backend] = []

    def make(task_hub: str = "default") -> Backend:
        backend = open_backend(url_for(task_hub))
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(store_factory: StoreFactory) -> Backend:
    """A backend on a fresh store (memory, sqlite and, when configured, postgres)."""
    return store_factory()
