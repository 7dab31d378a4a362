"""Walk one function's body: report banned names and global writes, collect the calls."""

from __future__ import annotations

import array
import ast
import builtins
import collections
import enum
import inspect
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from durably.checker import objects
from durably.checker.rules import (
    BY_NAME,
    GLOBAL_WRITE,
    MUTATORS,
    PATH_CLASSES,
    RULES,
    Banned,
    lookup,
    words,
)
from durably.checker.scopes import FunctionNode, Scope, build_scope, scope_nodes
from durably.checker.source import SourceFile

_CONTAINERS = (list, dict, set, bytearray, collections.deque, array.array)
_PATH_RETURNING = words(
    "joinpath with_name with_suffix with_stem resolve absolute expanduser cwd home"
)
_PATH_ANNOTATIONS = PATH_CLASSES | {"pathlib.PurePath"}
_TYPE_TESTS = frozenset({"builtins.isinstance", "builtins.issubclass"})


class Kind(enum.Enum):
    LOCAL = "local"
    IMPORT = "import"
    GLOBAL = "global"
    BUILTIN = "builtin"


@dataclass(frozen=True, slots=True)
class Ref:
    """What a name means at one point: its kind, and its qualified name when known."""

    kind: Kind
    qualified: str | None = None
    module_level: bool = True


@dataclass(frozen=True, slots=True)
class Problem:
    node: ast.expr | ast.stmt
    code: str
    message: str


def _chain(expr: ast.expr) -> tuple[ast.Name, list[str]] | None:
    """``a.b.c`` as (Name a, ["b", "c"]); None when the root is not a plain name."""
    attributes: list[str] = []
    while isinstance(expr, ast.Attribute):
        attributes.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    return expr, attributes[::-1]


def _target_root(expr: ast.expr) -> tuple[ast.Name, str | None] | None:
    """The name an assignment target or receiver is rooted at, and its first attribute."""
    first: str | None = None
    while isinstance(expr, ast.Attribute | ast.Subscript):
        if isinstance(expr, ast.Attribute):
            first = expr.attr
        expr = expr.value
    return (expr, first) if isinstance(expr, ast.Name) else None


def _short(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


class FunctionChecker(ast.NodeVisitor):
    """Checks one function; ``problems`` are the findings, ``callees`` the objects it calls."""

    def __init__(
        self, source: SourceFile, namespace: dict[str, Any], known: dict[int, tuple[object, str]]
    ) -> None:
        self.source = source
        self.namespace = namespace
        self.known = known
        self.package = namespace.get("__package__") if namespace else None
        self.scopes: list[Scope] = []
        self.problems: list[Problem] = []
        self.callees: list[tuple[object, type | None]] = []
        """What the function calls, each with the class it is a method of (or None)."""

    def run(
        self,
        root: FunctionNode,
        closure: dict[str, object] | None = None,
        owner: type | None = None,
    ) -> None:
        """Check ``root``; ``closure`` holds the values of its free variables, if any;
        ``owner`` is the class whose method it is (its first parameter is an instance)."""
        enclosing = Scope()
        for name, value in (closure or {}).items():
            if inspect.ismodule(value):
                enclosing.imports[name] = value.__name__
            else:
                enclosing.local.add(name)
        self.scopes.append(enclosing)
        self._enter(root)
        positional = [*root.args.posonlyargs, *root.args.args]
        if owner is not None and positional:
            self.scopes[-1].classes[positional[0].arg] = owner
        if isinstance(root, ast.Lambda):
            self.visit(root.body)
        else:
            for statement in root.body:
                self.visit(statement)
        del self.scopes[-2:]

    # -- names ---------------------------------------------------------------------

    def _enter(self, node: ast.AST) -> None:
        package = self.package if isinstance(self.package, str) else None
        scope = build_scope(node, package)
        self.scopes.append(scope)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            arguments = node.args
            for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
                if arg.annotation is not None and self._qualified(arg.annotation) in (
                    _PATH_ANNOTATIONS
                ):
                    scope.paths.add(arg.arg)
        for _ in range(2):  # a path may be assigned from another path variable
            for child in _scope_assignments(node):
                names = [t.id for t in child.targets if isinstance(t, ast.Name)]
                if self._is_path(child.value):
                    scope.paths.update(names)
                elif isinstance(child.value, ast.Call):
                    made = self._object(child.value.func)
                    if inspect.isclass(made):
                        scope.classes.update(dict.fromkeys(names, made))

    def resolve(self, name: str) -> Ref:
        for scope in reversed(self.scopes):
            if name in scope.declared_global:
                break
            if name in scope.imports:
                return Ref(Kind.IMPORT, scope.imports[name], module_level=False)
            if name in scope.local:
                return Ref(Kind.LOCAL)
        module = self.source.scope
        if name in module.imports:
            return Ref(Kind.IMPORT, module.imports[name])
        if name not in module.local and name not in self.namespace and hasattr(builtins, name):
            return Ref(Kind.BUILTIN, f"builtins.{name}")
        return Ref(Kind.GLOBAL, f"{self.source.module}.{name}")

    def _qualified(self, expr: ast.expr) -> str | None:
        """The qualified name of ``a.b.c`` through the imports, if ``a`` is not local."""
        chain = _chain(expr)
        if chain is None:
            return None
        ref = self.resolve(chain[0].id)
        if ref.qualified is None:
            return None
        return ".".join([ref.qualified, *chain[1]])

    def _object(self, expr: ast.expr) -> object:
        """The live object ``a.b.c`` stands for, or MISSING."""
        chain = _chain(expr)
        if chain is None:
            return objects.MISSING
        root, attributes = chain
        ref = self.resolve(root.id)
        if ref.kind is Kind.LOCAL or ref.qualified is None:
            return objects.MISSING
        if ref.kind is Kind.IMPORT and not ref.module_level:
            found = objects.imported(ref.qualified)
        elif ref.kind is Kind.BUILTIN:
            found = getattr(builtins, root.id)
        else:
            found = self.namespace.get(root.id, objects.MISSING)
        for name in attributes:
            found = objects.attribute(found, name)
        return found

    def _banned(self, expr: ast.expr) -> tuple[Banned, str] | None:
        """The catalogue entry ``expr`` resolves to, with the resolved name."""
        qualified = self._qualified(expr)
        if qualified is None:
            return None
        banned = lookup(qualified)
        if banned is not None:
            return banned, qualified
        chain = _chain(expr)
        if chain is None or self.resolve(chain[0].id).kind is Kind.BUILTIN:
            return None
        name = self._runtime_name(*chain)
        banned = lookup(name) if name else None
        return (banned, name) if banned is not None and name is not None else None

    def _runtime_name(self, root: ast.Name, attributes: list[str]) -> str | None:
        """The canonical name of ``root.attributes`` through live objects (aliases)."""
        found = self._object(root)
        name = objects.canonical_name(found, self.known) if found is not objects.MISSING else None
        if name is None:
            return None
        for index, attribute in enumerate(attributes):
            found = objects.attribute(found, attribute)
            if found is objects.MISSING:
                return ".".join([name, *attributes[index:]])
            name = objects.canonical_name(found, self.known) or f"{name}.{attribute}"
        return name

    def _is_path(self, expr: ast.expr) -> bool:
        match expr:
            case ast.Call(func=ast.Attribute(value=value, attr=attr)) if attr in _PATH_RETURNING:
                return self._qualified(expr.func) in BY_NAME or self._is_path(value)
            case ast.Call(func=func):
                return self._qualified(func) in PATH_CLASSES
            case ast.BinOp(left=left, op=ast.Div()):
                return self._is_path(left)
            case ast.Attribute(value=value, attr="parent"):
                return self._is_path(value)
            case ast.Name(id=name):
                if self.resolve(name).kind is Kind.LOCAL:
                    return any(name in s.paths for s in self.scopes if name in s.local)
                return isinstance(self._object(expr), pathlib.PurePath)
        return False

    # -- reports -------------------------------------------------------------------

    def _report(self, node: ast.expr | ast.stmt, code: str, message: str) -> None:
        self.problems.append(Problem(node, code, message))

    def _report_banned(self, node: ast.expr, banned: Banned, name: str, *, called: bool) -> None:
        shown = (banned.name if banned.value else name).removeprefix("builtins.")
        self._report(node, banned.code, banned.message(shown, called=called))

    def _global_written(self, target: ast.expr, *, mutating_call: bool = False) -> str | None:
        """The module global that writing to (or mutating) ``target`` changes, if any."""
        rooted = _target_root(target)
        if rooted is None:
            return None
        root, first = rooted
        ref = self.resolve(root.id)
        if ref.kind in (Kind.LOCAL, Kind.BUILTIN) or ref.qualified is None:
            return None
        base = target
        while _chain(base) is None and isinstance(base, ast.Attribute | ast.Subscript):
            base = base.value
        if self._banned(base) is not None:
            return None  # reported by its own rule: os.environ[key] = value is DUR003
        found = self._object(root)
        if inspect.ismodule(found) or (found is objects.MISSING and ref.kind is Kind.IMPORT):
            if first is None:
                return None  # a call of a module's function: os.remove(path)
            owner = found.__name__ if inspect.ismodule(found) else ref.qualified
            name = f"{owner}.{first}"
        else:
            name = ref.qualified if ref.kind is Kind.IMPORT else root.id
        if mutating_call:
            receiver = self._object(target)
            if receiver is not objects.MISSING and not isinstance(receiver, _CONTAINERS):
                return None
        return name

    def _check_store(self, target: ast.expr, *, deleting: bool) -> None:
        written = f"`del {_short(target)}`" if deleting else f"`{_short(target)} = ...`"
        if isinstance(target, ast.Name):
            if target.id in self.scopes[-1].declared_global:
                self._report_global(target, f"{written} (declared `global`)", target.id)
            return
        name = self._global_written(target)
        if name is not None:
            self._report_global(target, written, name)

    def _report_global(self, node: ast.expr, written: str, name: str) -> None:
        replacement = RULES[GLOBAL_WRITE].replacement
        self._report(node, GLOBAL_WRITE, f"{written} writes module global `{name}`; {replacement}")

    # -- visiting ------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._check_reference(node)
        else:
            self._check_store(node, deleting=isinstance(node.ctx, ast.Del))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not isinstance(node.ctx, ast.Load):
            self._check_store(node, deleting=isinstance(node.ctx, ast.Del))
            self._visit_value(node.value)
        elif _chain(node) is not None:
            self._check_reference(node)
        else:
            self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load):
            self._check_store(node, deleting=isinstance(node.ctx, ast.Del))
        self._visit_value(node.value)
        self.visit(node.slice)

    def _visit_value(self, value: ast.expr) -> None:
        """A store target's object: read, not written (``os.environ`` in ``os.environ[k] = v``)."""
        if _chain(value) is not None:
            self._check_reference(value)
        else:
            self.visit(value)

    def _check_reference(self, node: ast.expr) -> None:
        found = self._banned(node)
        if found is None:
            return
        banned, name = found
        exact = banned.name == name and not banned.subtree and banned.max_args is None
        if banned.value or exact:
            self._report_banned(node, banned, name, called=False)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        path_method = self._path_method(func) if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Attribute) and path_method is not None:
            self._report_banned(func, path_method, path_method.name, called=True)
            self.visit(func.value)
        elif _chain(func) is not None:
            self._check_called(node)
        else:
            self.visit(func)
        if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
            written = self._global_written(func.value, mutating_call=True)
            if written is not None:
                self._report_global(func, f"`{_short(func)}()`", written)
        arguments = node.args
        if self._qualified(func) in _TYPE_TESTS:
            arguments = arguments[:1]  # isinstance(x, socket.socket) names a class, no I/O
        for argument in arguments:
            self.visit(argument)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def _path_method(self, func: ast.Attribute) -> Banned | None:
        """The entry for ``path.read_text`` & co. when the receiver is a pathlib path."""
        banned = BY_NAME.get(f"pathlib.Path.{func.attr}")
        return banned if banned is not None and self._is_path(func.value) else None

    def _check_called(self, node: ast.Call) -> None:
        func = node.func
        found = self._banned(func)
        if found is not None:
            banned, name = found
            count = len(node.args) + len(node.keywords)
            if banned.max_args is None or count <= banned.max_args:
                self._report_banned(func, banned, name, called=not banned.value)
            return
        callee = self._object(func)
        cls: type | None = None
        if inspect.isclass(callee):
            cls, callee = callee, objects.method(callee, "__init__")
        elif callee is objects.MISSING and isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name):
                cls = self._class_of(func.value)
            callee = objects.method(cls, func.attr) if cls is not None else None
        if callee is not None and callee is not objects.MISSING:
            self.callees.append((callee, cls))

    def _class_of(self, name: ast.Name) -> type | None:
        """The class of the instance ``name`` holds, when the function shows it."""
        ref = self.resolve(name.id)
        if ref.kind is Kind.LOCAL:
            scope = next(s for s in reversed(self.scopes) if name.id in s.local)
            return scope.classes.get(name.id)
        found = self._object(name)
        if ref.kind is Kind.GLOBAL and found is not objects.MISSING:
            return type(found)  # a module-level instance: its class's methods
        return None

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        # The handled type names a class (socket.timeout); the handler body is checked.
        for statement in node.body:
            self.visit(statement)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        # `case socket.socket():` names a class, as isinstance does.
        for pattern in (*node.patterns, *node.kwd_patterns):
            self.visit(pattern)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in (*node.decorator_list, *node.args.defaults, *node.args.kw_defaults):
            if expr is not None:
                self.visit(expr)
        self._enter(node)
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in (*node.args.defaults, *node.args.kw_defaults):
            if expr is not None:
                self.visit(expr)
        self._enter(node)
        self.visit(node.body)
        self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self.visit(expr)
        self._enter(node)
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()

    def _visit_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
    ) -> None:
        self.visit(node.generators[0].iter)  # evaluated in the enclosing scope
        self._enter(node)
        for index, generator in enumerate(node.generators):
            self.visit(generator.target)
            if index:
                self.visit(generator.iter)
            for condition in generator.ifs:
                self.visit(condition)
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.scopes.pop()

    visit_ListComp = _visit_comprehension
    visit_SetComp = _visit_comprehension
    visit_DictComp = _visit_comprehension
    visit_GeneratorExp = _visit_comprehension


def _scope_assignments(root: ast.AST) -> Iterator[ast.Assign]:
    return (node for node in scope_nodes(root) if isinstance(node, ast.Assign))
