"""Each rule: the lines it must report, and look-alikes it must leave alone."""

from __future__ import annotations

import importlib
import os
import re
from types import ModuleType

import pytest

from durably.checker import RULES, Finding, check
from tests.checker.marks import expected, found

SAMPLES = {
    "DUR001": "wall_clock",
    "DUR002": "randomness",
    "DUR003": "environment",
    "DUR004": "file_io",
    "DUR005": "network_io",
    "DUR006": "concurrency",
    "DUR007": "sleeping",
    "DUR008": "global_writes",
}
FINDING_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>DUR\d{3}) .+$")


def _sample(code: str) -> ModuleType:
    return importlib.import_module(f"tests.checker.samples.{SAMPLES[code]}")


def test_every_rule_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(RULES)


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_rule_reports_every_marked_line(code: str) -> None:
    module = _sample(code)
    report = check(module.flagged)
    marks = expected(module)
    assert code in {marked for _, marked in marks}
    assert found(report, module) == marks
    assert report.notes == ()


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_rule_leaves_look_alikes_alone(code: str) -> None:
    report = check(_sample(code).clean)
    assert report.findings == ()
    assert report.orchestrators >= 1 and report.notes == ()


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_messages_name_the_call_and_the_replacement(code: str) -> None:
    findings = [f for f in check(_sample(code).flagged).findings if f.code == code]
    assert findings
    for finding in findings:
        assert re.match(r"^`[^`]+`", finding.message), finding
        assert "; " in finding.message and len(finding.message.split("; ", 1)[1]) > 10


def test_messages_of_each_rule() -> None:
    by_line = {str(f).split(": ", 1)[1] for f in check(_sample("DUR001").flagged).findings}
    assert (
        "DUR001 `datetime.datetime.now()` reads the wall clock; use `context.current_utc_datetime`"
        in by_line
    )
    messages = {f.message for code in SAMPLES for f in check(_sample(code).flagged).findings}
    assert "`uuid.uuid4()` is random; use `context.new_uuid()`" in messages
    assert any(m.startswith("`os.environ` reads the environment; pass") for m in messages)
    assert "`open()` does file I/O; do it in an activity" in messages
    assert "`httpx.get()` does network I/O; do it in an activity" in messages
    assert any(m.startswith("`threading.Thread()` starts a thread; fan out") for m in messages)
    assert any("`time.sleep()` blocks the orchestrator" in m for m in messages)
    assert any("context.create_timer" in m for m in messages)
    assert any(m.startswith("`ITEMS.append()` writes module global `ITEMS`") for m in messages)


def test_a_finding_prints_as_path_line_col_code_message() -> None:
    finding = Finding(path="app.py", line=3, col=7, code="DUR001", message="`time.time()` ...")
    assert str(finding) == "app.py:3:7: DUR001 `time.time()` ..."
    for finding in check(_sample("DUR001").flagged).findings:
        match = FINDING_LINE.match(str(finding))
        assert match and not os.path.isabs(match["path"])


def test_columns_count_characters_from_one() -> None:
    findings = check(_sample("DUR001").flagged).findings
    first = min(findings)
    path = first.path
    with open(path, encoding="utf-8") as handle:
        line = handle.read().split("\n")[first.line - 1]
    assert line[first.col - 1 :].startswith("dt.datetime.now(")
