"""A function's source: its file parsed once, its node found, its ignore comments read."""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
import types
from dataclasses import dataclass

from durably.checker.scopes import FunctionNode, Scope, build_scope

_IGNORE = re.compile(r"#\s*durably:\s*ignore\b(?:\[([^\]]*)\])?")


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceFile:
    """One parsed module file."""

    display: str
    """The path as reported: relative to the working directory when inside it."""
    module: str
    tree: ast.Module
    lines: tuple[str, ...]
    scope: Scope
    ignores: dict[int, frozenset[str] | None]
    """Line number -> the codes ``# durably: ignore[...]`` silences there (None: all)."""

    def column(self, node: ast.expr | ast.stmt) -> int:
        """The 1-based character column of ``node`` (the AST counts UTF-8 bytes from 0)."""
        line = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
        return len(line.encode()[: node.col_offset].decode(errors="replace")) + 1

    def ignored(self, line: int, code: str) -> bool:
        if line not in self.ignores:
            return False
        codes = self.ignores[line]
        return codes is None or code in codes


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it is inside it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def _ignores(source: str) -> dict[int, frozenset[str] | None]:
    found: dict[int, frozenset[str] | None] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.COMMENT:
                continue
            match = _IGNORE.search(token.string)
            if match is None:
                continue
            codes = match.group(1)
            line = token.start[0]
            found[line] = (
                None
                if codes is None
                else frozenset(c.strip().upper() for c in codes.split(",") if c.strip())
            )
    except (tokenize.TokenError, SyntaxError):
        pass
    return found


class Sources:
    """Parses each file once per check; says why when a function cannot be checked."""

    def __init__(self) -> None:
        self._files: dict[str, SourceFile | str] = {}

    def file(self, path: str, module: str, package: str | None) -> SourceFile | str:
        """The parsed file, or why it cannot be read."""
        if path not in self._files:
            self._files[path] = self._parse(path, module, package)
        return self._files[path]

    def _parse(self, path: str, module: str, package: str | None) -> SourceFile | str:
        try:
            with tokenize.open(path) as handle:
                source = handle.read()
            tree = ast.parse(source, filename=path)
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
            return f"cannot read {display_path(path)}: {type(exc).__name__}: {exc}"
        return SourceFile(
            display=display_path(path),
            module=module,
            tree=tree,
            lines=tuple(source.split("\n")),
            scope=build_scope(tree, package),
            ignores=_ignores(source),
        )

    def locate(self, function: types.FunctionType) -> tuple[SourceFile, FunctionNode] | str:
        """The file and the node that defined ``function``, or why they cannot be found."""
        code = function.__code__
        path = code.co_filename
        if not os.path.isfile(path):
            return f"its source is not available (defined in {path})"
        # The defining module's namespace: functools.wraps copies another __module__.
        module = function.__globals__.get("__name__")
        package = function.__globals__.get("__package__")
        source = self.file(
            path,
            module if isinstance(module, str) else "",
            package if isinstance(package, str) else None,
        )
        if isinstance(source, str):
            return source
        nodes = [
            node
            for node in ast.walk(source.tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            and _defines(node, code)
        ]
        if len(nodes) == 1:
            return source, nodes[0]
        where = f"{source.display}:{code.co_firstlineno}"
        if not nodes:
            return f"its source at {where} does not match the code (edited since import?)"
        return f"several functions are defined at {where}; cannot tell which one it is"


def _defines(node: FunctionNode, code: types.CodeType) -> bool:
    if isinstance(node, ast.Lambda):
        return code.co_name == "<lambda>" and node.lineno == code.co_firstlineno
    if node.name != code.co_name:
        return False
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return code.co_firstlineno in (first, node.lineno)
