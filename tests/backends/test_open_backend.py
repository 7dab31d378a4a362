"""open_backend: store URLs, defaults and options."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from durably.backends import open_backend
from durably.backends.base import Backend
from durably.backends.memory import MemoryBackend
from durably.backends.sqlite import SqliteBackend
from durably.errors import StoreError
from durably.testing.backend_contract import start


def test_the_default_store_is_durably_db_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DURABLY_STORE", raising=False)
    backend = open_backend(None)
    try:
        assert isinstance(backend, SqliteBackend)
        assert (tmp_path / "durably.db").exists()
    finally:
        backend.close()


def test_durably_store_names_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLY_STORE", "memory://")
    backend = open_backend(None)
    assert isinstance(backend, MemoryBackend)
    assert isinstance(backend, Backend)


def test_sqlite_urls_take_relative_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "abs").mkdir()
    for url, path in [
        ("sqlite:///relative.db", tmp_path / "relative.db"),
        (f"sqlite:///{tmp_path / 'abs' / 'store.db'}", tmp_path / "abs" / "store.db"),
    ]:
        backend = open_backend(url)
        backend.close()
        assert path.exists(), url


def test_memory_urls_are_fresh_unless_named() -> None:
    fresh_one, fresh_two = open_backend("memory://"), open_backend("memory://")
    fresh_one.create_instance(start("a"))
    assert fresh_two.get_instance("a") is None
    named_one, named_two = open_backend("memory://shared"), open_backend("memory://shared")
    named_one.create_instance(start("a"))
    assert named_two.get_instance("a") is not None
    other_hub = open_backend("memory://shared?task_hub=other")
    assert other_hub.get_instance("a") is None


def test_the_task_hub_comes_from_the_query_string(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hubs.db'}"
    first, second = open_backend(url + "?task_hub=first"), open_backend(url + "?task_hub=second")
    try:
        first.create_instance(start("a"))
        assert second.get_instance("a") is None
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    "url", ["mysql://localhost/db", "durably.db", "", "file:///tmp/x.db", "redis://x"]
)
def test_unsupported_urls_name_the_supported_schemes(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite://.*memory://.*postgresql://"):
        open_backend(url)


@pytest.mark.parametrize(
    "url",
    [
        "memory://?colour=blue",
        "sqlite:///x.db?synchronus=NORMAL",
        "sqlite:///x.db?synchronous=SOMETIMES",
        "sqlite:///x.db?task_hub=",
        "sqlite:///:memory:",
        "sqlite://",
    ],
)
def test_bad_options_are_refused(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError):
        open_backend(url)


@pytest.mark.skipif(
    importlib.util.find_spec("durably.backends.postgres") is not None,
    reason="the PostgreSQL backend exists",
)
def test_postgres_without_its_module_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError, match="postgresql:// store is not available"):
        open_backend("postgresql://localhost/durably")
