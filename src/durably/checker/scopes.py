"""Which names a scope binds, and what its imports make them mean.

Python decides at compile time whether a name is local to a function (bound anywhere in
it), so the checker does the same: a local variable called ``random`` is not the module,
even on the lines before its assignment.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field

NESTED_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


@dataclass(slots=True)
class Scope:
    """The names one scope (module, function, class, comprehension) binds."""

    imports: dict[str, str] = field(default_factory=dict)
    """Names bound by ``import``, with the qualified name each one stands for."""
    local: set[str] = field(default_factory=set)
    """Every other name the scope binds (assignments, parameters, defs, classes)."""
    declared_global: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    """Local names that hold a ``pathlib.Path`` (filled in by the visitor)."""
    classes: dict[str, type] = field(default_factory=dict)
    """Local names that hold an instance of a known class: ``self``, ``x = Helper(...)``."""


def scope_nodes(root: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``root``'s own scope; nested scopes are yielded but not entered."""
    stack = list(ast.iter_child_nodes(root))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, NESTED_SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def import_bindings(node: ast.Import | ast.ImportFrom, package: str | None) -> dict[str, str]:
    """The names an import statement binds, each with the qualified name it stands for."""
    bound: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                bound[alias.asname] = alias.name
            else:
                top = alias.name.partition(".")[0]
                bound[top] = top
        return bound
    base = node.module or ""
    if node.level:
        try:
            base = importlib.util.resolve_name("." * node.level + base, package)
        except (ImportError, ValueError):
            return bound
    for alias in node.names:
        if alias.name != "*":
            bound[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
    return bound


def _parameters(node: ast.AST) -> Iterator[ast.arg]:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return
    arguments = node.args
    yield from arguments.posonlyargs
    yield from arguments.args
    yield from arguments.kwonlyargs
    if arguments.vararg:
        yield arguments.vararg
    if arguments.kwarg:
        yield arguments.kwarg


def build_scope(root: ast.AST, package: str | None) -> Scope:
    """The names ``root`` (a module, function, lambda, class or comprehension) binds."""
    scope = Scope()
    scope.local.update(arg.arg for arg in _parameters(root))
    not_local: set[str] = set()
    for node in scope_nodes(root):
        match node:
            case ast.Name(id=name, ctx=ast.Store() | ast.Del()):
                scope.local.add(name)
            case ast.Import() | ast.ImportFrom():
                scope.imports.update(import_bindings(node, package))
            case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name):
                scope.local.add(name)
            case ast.ClassDef(name=name):
                scope.local.add(name)
            case ast.ExceptHandler(name=str(name)) | ast.MatchAs(name=str(name)):
                scope.local.add(name)
            case ast.MatchStar(name=str(name)) | ast.MatchMapping(rest=str(name)):
                scope.local.add(name)
            case ast.Global(names=names):
                scope.declared_global.update(names)
                not_local.update(names)
            case ast.Nonlocal(names=names):
                not_local.update(names)
    scope.local -= not_local | scope.imports.keys()
    for name in not_local:
        scope.imports.pop(name, None)
    return scope
