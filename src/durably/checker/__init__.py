"""The determinism checker: find the code in orchestrators that breaks replay.

``check(app)`` reads the source of every orchestrator registered on the app, and of every
function of the user's code that they call (``yield from helper(context)``, in the same
module or imported), each once, and reports each wall-clock read, random draw,
environment read, file or network I/O, thread or process, sleep, and module-global write
as a :class:`Finding`. Activities are never checked: they may do anything. The rules are
in :mod:`durably.checker.rules`; docs/determinism.md lists what each one catches and
misses. ``# durably: ignore[DUR001]`` at the end of a line silences that line.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from durably.app import App
from durably.checker import objects
from durably.checker.rules import RULES, Rule
from durably.checker.source import Sources
from durably.checker.visitor import FunctionChecker

__all__ = ["RULES", "CheckReport", "Finding", "Note", "Rule", "check", "check_determinism"]


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Finding:
    """One use of something nondeterministic, at ``path:line:col`` (both 1-based)."""

    path: str
    line: int
    col: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """A function the checker could not read (a lambda it cannot single out, no source)."""

    function: str
    message: str

    def __str__(self) -> str:
        return f"note: {self.function}: {self.message}; not checked"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    """What ``check`` found, and how much it read."""

    findings: tuple[Finding, ...]
    notes: tuple[Note, ...]
    orchestrators: int
    """Orchestrator functions checked (one per function, whatever its registered names)."""
    helpers: int
    """Other functions checked because an orchestrator calls them."""

    @property
    def ok(self) -> bool:
        """True when nothing was found (notes do not count)."""
        return not self.findings


def check_determinism(app: App) -> list[Finding]:
    """The findings of :func:`check`, for a test: ``assert check_determinism(app) == []``."""
    return list(check(app).findings)


def check(app: App) -> CheckReport:
    """Check every orchestrator of ``app`` and the user functions they call."""
    crawl = _Crawl(app)
    for name, function in app.orchestrators.items():
        crawl.add(function, f"orchestrator {name!r}", root=True)
    crawl.run()
    return CheckReport(
        findings=tuple(sorted(set(crawl.findings))),
        notes=tuple(crawl.notes),
        orchestrators=crawl.checked[True],
        helpers=crawl.checked[False],
    )


class _Crawl:
    """A breadth-first walk from the orchestrators through the functions they call."""

    def __init__(self, app: App) -> None:
        self.activities = [_unwrap(f) for f in app.activities.values()]
        self.sources = Sources()
        self.known = objects.known_names()
        self.queue: deque[tuple[types.FunctionType, str, bool, type | None]] = deque()
        self.seen: set[types.CodeType] = set()
        self.checked = {True: 0, False: 0}
        """Functions checked, orchestrators (True) and helpers (False)."""
        self.findings: list[Finding] = []
        self.notes: list[Note] = []

    def add(
        self,
        function: Callable[..., Any],
        label: str,
        *,
        root: bool = False,
        owner: type | None = None,
    ) -> None:
        unwrapped = _unwrap(function)
        while isinstance(unwrapped, functools.partial):
            unwrapped = _unwrap(unwrapped.func)
        if inspect.ismethod(unwrapped):
            unwrapped = unwrapped.__func__
        if not isinstance(unwrapped, types.FunctionType):
            kind = type(unwrapped).__name__
            self.notes.append(Note(function=label, message=f"is a {kind} object, not a function"))
            return
        if unwrapped.__code__ in self.seen:
            return
        self.seen.add(unwrapped.__code__)
        self.queue.append((unwrapped, label, root, owner))

    def run(self) -> None:
        while self.queue:
            function, label, root, owner = self.queue.popleft()
            located = self.sources.locate(function)
            if isinstance(located, str):
                self.notes.append(Note(function=label, message=located))
                continue
            self.checked[root] += 1
            source, node = located
            checker = FunctionChecker(source, function.__globals__, self.known)
            checker.run(node, _closure(function), owner)
            for problem in checker.problems:
                line = problem.node.lineno
                if not source.ignored(line, problem.code):
                    self.findings.append(
                        Finding(
                            path=source.display,
                            line=line,
                            col=source.column(problem.node),
                            code=problem.code,
                            message=problem.message,
                        )
                    )
            for callee, cls in checker.callees:
                helper = objects.user_function(callee, skip=self.activities)
                if helper is not None:
                    static = cls is not None and isinstance(
                        inspect.getattr_static(cls, helper.__name__, None), staticmethod
                    )
                    label = f"{helper.__module__}.{helper.__qualname__}"
                    self.add(helper, label, owner=None if static else cls)


def _closure(function: types.FunctionType) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or (), strict=False):
        try:
            values[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            values[name] = None
    return values


def _unwrap(function: Any) -> Any:
    try:
        return inspect.unwrap(function)
    except ValueError:  # a __wrapped__ cycle
        return function
