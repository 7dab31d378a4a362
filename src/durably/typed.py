"""Typed payloads: JSON values converted to the type a receiving function declares.

Payloads are stored as plain JSON (:mod:`durably.payload` encodes dataclasses, pydantic
models, datetimes, UUIDs, Decimals, enums, sets and tuples on the way in). On the way out
a value is converted to the annotation of what receives it: an activity's parameter, the
return annotation of the activity (or sub-orchestrator) a ``call_activity`` names as a
function, ``call_activity(..., return_type=X)`` or ``context.get_input(X)``. Never
pickle: a type is rebuilt from its JSON form.

Supported: ``Any`` and unannotated (as decoded), ``None``, ``bool``, ``int``, ``float``,
``str``, ``datetime``, ``date``, ``time``, ``timedelta`` (seconds), ``UUID``, ``Decimal``,
``Enum`` subclasses, dataclasses (field by field), pydantic v2 models (``model_validate``),
``list[X]``, ``tuple[X, ...]`` / ``tuple[X, Y]``, ``set[X]``, ``frozenset[X]``,
``dict[K, V]``, ``X | None`` and other unions (the first member that converts). A value
that does not fit raises ``TypeError`` naming the type and where in the value.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as _dt
import decimal
import enum
import functools
import inspect
import json
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

NO_TYPE: Any = inspect.Parameter.empty
"""No annotation: the value stays as JSON decoded it."""


def convert(value: Any, annotation: Any, *, path: str = "$") -> Any:
    """``value`` (decoded JSON) as ``annotation`` says; ``TypeError`` if it does not fit."""
    if annotation is NO_TYPE or annotation is Any or annotation is object:
        return value
    if isinstance(annotation, str):  # an annotation that could not be resolved
        return value
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return _union(value, typing.get_args(annotation), path)
    if value is None:
        if annotation is type(None):
            return None
        raise TypeError(f"{path}: expected {_name(annotation)}, got null")
    if origin is not None:
        return _generic(value, origin, typing.get_args(annotation), path)
    converter = _SCALARS.get(annotation)
    if converter is not None:
        try:
            return converter(value)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TypeError(
                f"{path}: expected {_name(annotation)}, got {value!r} ({exc})"
            ) from None
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            try:
                return annotation(value)
            except ValueError:
                raise TypeError(f"{path}: {value!r} is not a {annotation.__name__}") from None
        if dataclasses.is_dataclass(annotation):
            return _dataclass(value, annotation, path)
        validate = getattr(annotation, "model_validate", None)
        if callable(validate):  # a pydantic v2 model
            try:
                return validate(value)
            except Exception as exc:  # pydantic's ValidationError: a TypeError here
                raise TypeError(f"{path}: not a valid {annotation.__name__}: {exc}") from None
        if annotation in (bool, int, float, str, list, dict):
            return _plain(value, annotation, path)
    return value


def return_type(function: Callable[..., Any]) -> Any:
    """What ``function`` returns by its annotation (``NO_TYPE`` without one): for a
    generator orchestrator annotated ``Generator[Y, S, R]``, the ``R``."""
    annotation = _hints(function).get("return", NO_TYPE)
    if typing.get_origin(annotation) is collections.abc.Generator:
        arguments = typing.get_args(annotation)
        return arguments[2] if len(arguments) == 3 else NO_TYPE
    return annotation


@functools.cache
def parameter_type(function: Callable[..., Any]) -> Any:
    """The annotation of ``function``'s first parameter (``NO_TYPE`` without one)."""
    hints = _hints(function)
    try:
        first = next(iter(inspect.signature(function).parameters))
    except (StopIteration, TypeError, ValueError):
        return NO_TYPE
    return hints.get(first, NO_TYPE)


@functools.cache
def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # an annotation that does not resolve: leave values as decoded
        return {}


def _plain(value: Any, annotation: type, path: str) -> Any:
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
        return value
    raise TypeError(f"{path}: expected {annotation.__name__}, got {type(value).__name__}")


def _union(value: Any, members: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in members:
        return None
    errors = []
    for member in members:
        if member is type(None):
            continue
        try:
            return convert(value, member, path=path)
        except TypeError as exc:
            errors.append(str(exc))
    raise TypeError(f"{path}: fits none of {' | '.join(_name(m) for m in members)}")


def _generic(value: Any, origin: Any, args: tuple[Any, ...], path: str) -> Any:
    if origin in (list, set, frozenset) or (origin is tuple and args[-1:] == (...,)):
        if not isinstance(value, list):
            raise TypeError(f"{path}: expected a list, got {type(value).__name__}")
        item = args[0] if args else NO_TYPE
        items = [convert(v, item, path=f"{path}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else origin(items)
    if origin is tuple:
        if not isinstance(value, list) or len(value) != len(args):
            raise TypeError(f"{path}: expected a list of {len(args)}")
        return tuple(
            convert(v, a, path=f"{path}[{i}]")
            for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{path}: expected an object, got {type(value).__name__}")
        key_type, item_type = args if len(args) == 2 else (NO_TYPE, NO_TYPE)
        return {
            convert(k, key_type, path=f"{path}.{k}"): convert(v, item_type, path=f"{path}.{k}")
            for k, v in value.items()
        }
    if origin is typing.Literal:
        if value not in args:
            raise TypeError(f"{path}: {value!r} is none of {args}")
        return value
    return value


def _dataclass(value: Any, cls: type, path: str) -> Any:
    if not isinstance(value, dict):
        raise TypeError(
            f"{path}: expected an object for {cls.__name__}, got {type(value).__name__}"
        )
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(value) - set(fields)
    if unknown:
        raise TypeError(f"{path}: {cls.__name__} has no field {sorted(unknown)[0]!r}")
    kwargs = {
        name: convert(value[name], hints.get(name, NO_TYPE), path=f"{path}.{name}")
        for name in fields
        if name in value
    }
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field missing
        raise TypeError(f"{path}: {exc}") from None


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a number: {type(value).__name__}")
    return value


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    _dt.datetime: lambda v: _dt.datetime.fromisoformat(_text(v)),
    _dt.date: lambda v: _dt.date.fromisoformat(_text(v)),
    _dt.time: lambda v: _dt.time.fromisoformat(_text(v)),
    _dt.timedelta: lambda v: _dt.timedelta(seconds=float(_number(v))),
    uuid.UUID: lambda v: uuid.UUID(_text(v)),
    decimal.Decimal: lambda v: decimal.Decimal(str(_number(v))),
}


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def typed_input(function: Callable[..., Any], text: str | None) -> Any:
    """An activity's input (JSON text) as its first parameter's annotation declares."""
    value = json.loads(text) if text is not None else None
    wanted = parameter_type(function)
    return value if wanted is NO_TYPE else convert(value, wanted, path="input")
