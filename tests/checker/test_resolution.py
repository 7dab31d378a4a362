"""Names reach banned calls through aliases, star imports, closures and nested scopes."""

from __future__ import annotations

from durably.checker import check
from tests.checker.marks import expected, found
from tests.checker.samples import aliases, ignores


def test_aliases_star_imports_closures_and_nested_scopes_are_resolved() -> None:
    report = check(aliases.flagged)
    assert found(report, aliases) == expected(aliases)
    assert report.orchestrators == 2


def test_pure_functions_of_banned_modules_are_not_reported() -> None:
    assert check(aliases.clean).findings == ()


def test_ignore_comments_silence_their_line_for_the_codes_they_name() -> None:
    report = check(ignores.app)
    assert found(report, ignores) == expected(ignores)
    assert len(report.findings) == 3
