"""Activities in a child process (``@app.activity(isolation="process")``).

Each attempt runs in a process of its own, started from a fork server (a small
single-threaded process, so a worker full of threads is never forked) or spawned where
there is none. A crash there (a segfault, ``os._exit``, the memory running out) ends only
that child, and its task fails; a timeout kills the child. The function travels by name
(module and qualified name, imported again in the child), its input and result as JSON
text: nothing is pickled but durably's own small records.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

from durably import payload
from durably.history import FailureDetails
from durably.typed import typed_input

Outcome = tuple[str, Any]
"""What a child sends back: ("ok", result JSON text) or ("error", FailureDetails)."""


@functools.cache
def _context() -> Any:
    import multiprocessing  # only apps with process-isolated activities pay for it

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class ChildProcessFailure(Exception):
    """The activity raised in its child process: ``details`` is what it raised."""

    def __init__(self, details: FailureDetails) -> None:
        super().__init__(str(details))
        self.details = details


def run(function: Any, input_text: str | None, *, name: str, timeout: float | None) -> str | None:
    """Run ``function`` on ``input_text`` in a child process; its result as JSON text.

    Raises ``ChildProcessFailure`` with what the function raised, ``TimeoutError`` after
    ``timeout`` seconds (the child is killed), and ``ChildProcessError`` if the child ended
    without reporting back.
    """
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child,
        args=(sender, function.__module__, function.__qualname__, input_text),
        name=f"durably-activity-{name}",
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            child.kill()
            raise TimeoutError(
                f"activity {name!r} ran longer than {timeout} s (its process was killed)"
            )
        kind, value = receiver.recv()
    except EOFError:
        child.join()
        raise ChildProcessError(
            f"the process running activity {name!r} ended with exit code {child.exitcode} "
            "before reporting back"
        ) from None
    finally:
        receiver.close()
        child.join(5)
    if kind == "error":
        raise ChildProcessFailure(value)
    return value  # type: ignore[no-any-return]


def _child(sender: Connection, module: str, qualname: str, input_text: str | None) -> None:
    """The child's side: find the function, run it, send back the outcome."""
    try:
        function: Any = importlib.import_module(module)
        for part in qualname.split("."):
            function = getattr(function, part)
        value = _call(function, typed_input(function, input_text))
        if inspect.isawaitable(value):
            import asyncio

            value = asyncio.run(_awaited(value))
        outcome: Outcome = ("ok", payload.dumps(value, what="the activity's result"))
    except BaseException as exc:
        outcome = ("error", FailureDetails.from_exception(exc))
    sender.send(outcome)
    sender.close()


async def _awaited(value: Any) -> Any:
    return await value


def _call(function: Any, value: Any) -> Any:
    from durably.worker.activities import call_activity  # the same rule for its input

    return call_activity(function, value)
