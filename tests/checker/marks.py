"""Read the `# expect: DUR###` marks of a sample module; compare them with findings."""

from __future__ import annotations

import os
import re
import tokenize
from collections import Counter
from types import ModuleType

from durably.checker import CheckReport

_EXPECT = re.compile(r"expect: ((?:DUR\d{3}\s*)+)")


def expected(module: ModuleType) -> Counter[tuple[int, str]]:
    """(line, code) for every code named by a `# expect:` comment in the module's file."""
    assert module.__file__ is not None
    marks: Counter[tuple[int, str]] = Counter()
    with tokenize.open(module.__file__) as handle:
        for token in tokenize.generate_tokens(handle.readline):
            match = _EXPECT.search(token.string) if token.type == tokenize.COMMENT else None
            if match is not None:
                marks.update((token.start[0], code) for code in match.group(1).split())
    return marks


def found(report: CheckReport, module: ModuleType) -> Counter[tuple[int, str]]:
    """(line, code) of the report's findings in the module's file."""
    assert module.__file__ is not None
    path = os.path.relpath(module.__file__)
    return Counter((f.line, f.code) for f in report.findings if f.path == path)
