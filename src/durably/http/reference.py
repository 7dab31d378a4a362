"""The HTTP API reference in Markdown, made from the OpenAPI document:
``python -m durably.http.reference`` prints it (docs/http-api.md holds a copy, checked
against this output by the test suite)."""

from __future__ import annotations

import json
from typing import Any

import durably
from durably.backends.memory import MemoryBackend
from durably.http import create_app

ORDER = ("post", "get", "delete")


def reference() -> str:
    """The routes of the API with their parameters and answers, as Markdown."""
    with durably.Client(MemoryBackend()) as client:
        document = create_app(client).openapi()
    lines: list[str] = []
    for path, operations in document["paths"].items():
        for method in sorted(operations, key=ORDER.index):
            lines += _operation(method, path, operations[method])
    return "\n".join(lines).rstrip() + "\n"


def _operation(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", f"{operation.get('summary', '')}.", ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | type | default | |", "|---|---|---|---|---|"]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_type(schema)}"
                f" | {_default(schema)} | {parameter.get('description', '')} |"
            )
        lines.append("")
    if "requestBody" in operation:
        lines += [f"Body: {operation['requestBody'].get('description', 'JSON')}", ""]
    answers = ", ".join(
        f"{code} ({_first_sentence(answer.get('description', ''))})"
        for code, answer in sorted(operation.get("responses", {}).items())
    )
    lines += [f"Answers: {answers}.", ""]
    return lines


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(
            _type(option) for option in schema["anyOf"] if option != {"type": "null"}
        )
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    kind = schema.get("type", "any")
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _default(schema: dict[str, Any]) -> str:
    if schema.get("default") is None:
        return ""
    return f"`{json.dumps(schema['default'])}`"


def _first_sentence(text: str) -> str:
    return text.split(":")[0].split(".")[0].strip() or "see above"


if __name__ == "__main__":
    print(reference(), end="")
