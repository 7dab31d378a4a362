"""Stack traces as the author of a failed function reads them: from their code to their
code, without durably's own frames around it (:meth:`FailureDetails.from_exception
<durably.history.FailureDetails.from_exception>`)."""

from __future__ import annotations

import os
import traceback

_OWN_FILES = os.path.dirname(os.path.abspath(__file__)) + os.sep
"""Where durably's own modules are: frames there around the user's are dropped."""


def from_user_code(error: traceback.TracebackException, seen: set[int] | None = None) -> bool:
    """Drop durably's own frames before the user's first and after their last from
    ``error`` and the errors chained to it (the dispatch that ran the user's function,
    the task that raised at their ``await``: noise to its author); whether any frame is
    left."""
    seen = set() if seen is None else seen
    if id(error) in seen:
        return False
    seen.add(id(error))
    frames = list(error.stack)
    users = [i for i, frame in enumerate(frames) if not frame.filename.startswith(_OWN_FILES)]
    kept = frames[users[0] : users[-1] + 1] if users else []
    if len(kept) != len(frames):
        error.stack = traceback.StackSummary.from_list(kept)
    left = bool(kept)
    for chained in (error.__cause__, error.__context__):
        if chained is not None:
            left = from_user_code(chained, seen) or left
    return left
