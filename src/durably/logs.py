"""Log fields and the JSON log format.

Every durably log record about an instance carries its ``instance_id``, ``execution_id``
and ``function_name`` (the orchestrator's or activity's name) as record attributes
(``extra``), and so do the records of an orchestrator's ``context.logger``. Formatters
and log pipelines can use them; :class:`JsonFormatter` writes one JSON object per line
with them (``durably worker --log-format json``). Nothing is logged per step at INFO.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from typing import Any

FIELDS = ("instance_id", "execution_id", "function_name")
"""The record attributes durably sets on records about an instance."""


def fields(
    instance_id: str | None = None,
    execution_id: str | None = None,
    function_name: str | None = None,
) -> dict[str, str | None]:
    """The ``extra`` of a log call about an instance."""
    return {
        "instance_id": instance_id,
        "execution_id": execution_id,
        "function_name": function_name,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the instance fields
    (when the record has them) and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: int, fmt: str) -> None:
    """Log to stderr at ``level``: ``fmt`` ``"text"`` (a line per record) or ``"json"``."""
    import sys

    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
