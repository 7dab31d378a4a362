"""Storage backends, opened from a store URL with :func:`open_backend`.

``sqlite:///relative.db``, ``sqlite:////absolute/path.db``, ``memory://[NAME]`` and
``postgresql://...`` (or ``postgres://``). The query string carries options:
``task_hub`` (default ``default``) for every backend, plus the backend's own (SQLite:
``synchronous``, ``busy_timeout``, ``poll_interval``). Each backend class opens itself
with ``from_url(url, options)``. With no URL, the store is ``$DURABLY_STORE`` or
``sqlite:///durably.db`` (:func:`store_url`: the one place that rule is written).
"""

from __future__ import annotations

import importlib
import os
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from durably.backends.base import Backend, BackendOptions
from durably.errors import StoreError

DEFAULT_STORE = "sqlite:///durably.db"
STORE_ENV = "DURABLY_STORE"

__all__ = [
    "DEFAULT_STORE",
    "STORE_ENV",
    "Backend",
    "BackendOptions",
    "open_backend",
    "store_url",
]


class _Opener(Protocol):
    def from_url(self, url: str, options: BackendOptions) -> Backend: ...


_SCHEMES: dict[str, tuple[str, str]] = {
    "sqlite": ("durably.backends.sqlite", "SqliteBackend"),
    "memory": ("durably.backends.memory", "MemoryBackend"),
    "postgresql": ("durably.backends.postgres", "PostgresBackend"),
    "postgres": ("durably.backends.postgres", "PostgresBackend"),
}


def store_url(url: str | None = None, *, task_hub: str | None = None) -> str:
    """The URL of the store to open: ``url``, else (None) ``$DURABLY_STORE``, else
    ``sqlite:///durably.db``; with ``task_hub`` added unless the URL names a hub."""
    if url is None:
        url = os.environ.get(STORE_ENV) or DEFAULT_STORE
    if task_hub and "task_hub=" not in url:
        url += ("&" if "?" in url else "?") + f"task_hub={task_hub}"
    return url


def open_backend(url: str | None = None) -> Backend:
    """Open the store at ``url`` (``None``: see :func:`store_url`).

    Raises ``ValueError`` for an unsupported scheme or option, and ``StoreError`` when
    the store cannot be opened (or its driver is not installed).
    """
    url = store_url(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        supported = ", ".join(f"{name}://" for name in _SCHEMES)
        raise ValueError(f"unsupported store URL {url!r}: use one of {supported}")
    return _opener(scheme).from_url(url, parse_options(url))


def parse_options(url: str) -> BackendOptions:
    """The options in ``url``'s query string (``task_hub`` apart, all in ``extra``)."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    task_hub = query.pop("task_hub", "default")
    if not task_hub:
        raise ValueError("task_hub must not be empty")
    return BackendOptions(task_hub=task_hub, extra=query)


def _opener(scheme: str) -> _Opener:
    module_name, class_name = _SCHEMES[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StoreError(
            f"the {scheme}:// store is not available: {exc} "
            "(PostgreSQL needs `pip install durably[postgres]`)"
        ) from exc
    opener: _Opener = getattr(module, class_name)
    return opener
