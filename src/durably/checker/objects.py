"""The live objects behind names: canonical names for aliases, and what counts as user code.

Static resolution covers imports; these helpers cover what only the running module
knows: ``now = datetime.datetime.now`` at module level, ``from random import *``,
``from requests.api import get``. Nothing here imports a module: only modules already in
``sys.modules`` are looked at, and attributes are read from modules and classes only, so
that no user property runs.
"""

from __future__ import annotations

import inspect
import os
import site
import sys
import sysconfig
import types
from collections.abc import Iterable
from functools import cache
from typing import Any, Final

from durably.checker.rules import CATALOGUE

MISSING: Final = object()
"""A name whose object cannot be known without running code."""


def attribute(owner: object, name: str) -> object:
    """``owner.name`` for a module or class, else MISSING."""
    if not (inspect.ismodule(owner) or inspect.isclass(owner)):
        return MISSING
    try:
        return getattr(owner, name)
    except Exception:  # a class's metaclass may raise anything
        return MISSING


def imported(qualified: str) -> object:
    """The object a qualified name stands for, if its module is already imported."""
    parts = qualified.split(".")
    for end in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:end]))
        if module is not None:
            found: object = module
            for part in parts[end:]:
                found = attribute(found, part)
            return found
    return MISSING


def known_names() -> dict[int, tuple[object, str]]:
    """The catalogue's objects that are loaded, by identity, with their catalogue name."""
    names: dict[int, tuple[object, str]] = {}
    for banned in CATALOGUE:
        found = imported(banned.name)
        if found is not MISSING and not inspect.ismodule(found):
            names.setdefault(id(found), (found, banned.name))
    return names


def canonical_name(found: object, known: dict[int, tuple[object, str]]) -> str | None:
    """The qualified name the checker knows ``found`` by (``random.Random.choice``)."""
    hit = known.get(id(found))
    if hit is not None and hit[0] is found:
        return hit[1]
    if inspect.ismodule(found):
        return found.__name__
    owner = getattr(found, "__self__", None)
    name = getattr(found, "__name__", None)
    if isinstance(found, types.BuiltinFunctionType | types.MethodType) and owner is not None:
        if inspect.ismodule(owner):
            return f"{owner.__name__}.{name}"
        cls = owner if inspect.isclass(owner) else type(owner)
        module = sys.modules.get(cls.__module__)
        if isinstance(name, str) and getattr(module, name, None) == found:
            return f"{cls.__module__}.{name}"  # random.choice: a module-level bound method
        return f"{cls.__module__}.{cls.__qualname__}.{name}"
    if inspect.isfunction(found) or inspect.isclass(found) or inspect.isbuiltin(found):
        module = getattr(found, "__module__", None)
        qualname = getattr(found, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str):
            return f"{module}.{qualname}"
    return None


def method(cls: type, name: str) -> types.FunctionType | None:
    """The function behind ``cls.name`` (a plain, static or class method), without
    running descriptors; None when it is something else."""
    try:
        found = inspect.getattr_static(cls, name)
    except AttributeError:
        return None
    if isinstance(found, staticmethod | classmethod):
        found = found.__func__
    return found if isinstance(found, types.FunctionType) else None


@cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots: set[str] = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots)


def user_function(found: object, skip: Iterable[object] = ()) -> types.FunctionType | None:
    """``found`` unwrapped, if it is a Python function of the user's code (not the standard
    library, not site-packages, not durably), else None."""
    try:
        function: Any = inspect.unwrap(found) if callable(found) else found
    except ValueError:  # a __wrapped__ cycle
        return None
    if not isinstance(function, types.FunctionType) or any(function is s for s in skip):
        return None
    module = function.__module__ or ""
    if module == "durably" or module.startswith("durably."):
        return None
    filename = function.__code__.co_filename
    if not os.path.isfile(filename):
        return None
    real = os.path.realpath(filename)
    if real.startswith(_library_roots()):
        return None
    parts = real.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return None
    return function
