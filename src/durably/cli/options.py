"""The pieces every `durably` command shares: --store, error translation, value parsing.

Errors become one line on stderr with an exit code: 1 when the instance is unknown or its
status forbids the operation (or the store failed), 2 for a usage error.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from durably.backends import DEFAULT_STORE, STORE_ENV
from durably.errors import (
    DurablyError,
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
    StoreError,
)
from durably.history import OrchestrationRuntimeStatus, parse_time

F = TypeVar("F", bound=Callable[..., Any])
Status = OrchestrationRuntimeStatus


class Failure(click.ClickException):
    """A one-line error: the instance is unknown or its status forbids the operation."""

    exit_code = 1


class BadUsage(Failure):
    """A one-line usage error (a bad argument or option value)."""

    exit_code = 2


def translate_errors(function: F) -> F:
    """Turn durably's and the user's errors into one-line messages with exit codes."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (InstanceNotFoundError, InvalidInstanceStateError, InstanceExistsError) as exc:
            raise Failure(str(exc)) from None
        except StoreError as exc:
            raise Failure(f"store error: {exc}") from None
        except DurablyError as exc:
            raise Failure(str(exc)) from None
        except (ValueError, TypeError) as exc:
            raise BadUsage(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def command(function: F) -> F:
    """Add ``--store`` and error translation to a command function."""
    store = click.option(
        "--store",
        envvar=STORE_ENV,
        default=None,
        metavar="URL",
        help=f"Store URL [default: ${STORE_ENV} or {DEFAULT_STORE}].",
    )
    return store(translate_errors(function))


def json_argument(text: str | None, what: str) -> Any:
    """Decode a JSON argument (``None`` stays ``None``); a usage error if it is not JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise BadUsage(f"{what} must be JSON (quote text as '\"text\"'), got {text!r}") from None


class Timestamp(click.ParamType):  # type: ignore[type-arg]
    """An ISO-8601 time option; naive times are UTC."""

    name = "TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> _dt.datetime:
        if isinstance(value, _dt.datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time (e.g. 2024-05-01T12:00:00Z)", param, ctx)


STATUS_CHOICE = click.Choice([s.value for s in Status], case_sensitive=False)


def parse_statuses(values: tuple[str, ...]) -> list[Status] | None:
    """The statuses of repeated ``--status`` options (already checked by STATUS_CHOICE)."""
    by_lower = {s.value.lower(): s for s in Status}
    return [by_lower[v.lower()] for v in values] or None
