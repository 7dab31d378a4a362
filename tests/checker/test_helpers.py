"""The checker follows what orchestrators call into the user's code, and nothing else."""

from __future__ import annotations

from durably.checker import check, check_determinism
from tests.checker.marks import expected, found
from tests.checker.samples import helper_library, helpers, methods, unusual


def test_helpers_in_the_same_module_and_imported_ones_are_checked() -> None:
    report = check(helpers.app)
    assert found(report, helpers) == expected(helpers)
    assert found(report, helper_library) == expected(helper_library)


def test_each_function_is_checked_once() -> None:
    report = check(helpers.app)
    # parent and child_orchestrator; pause, nested, total, gather and stamp once each,
    # although pause and total are reached twice.
    assert (report.orchestrators, report.helpers) == (2, 5)
    assert len(report.findings) == len(set(report.findings)) == 4


def test_activities_the_standard_library_and_durably_are_not_followed() -> None:
    findings = check(helpers.app).findings
    # email.utils.formatdate reads the clock when called without a time; it is not read.
    paths = {finding.path for finding in findings}
    assert paths == {"tests/checker/samples/helpers.py", "tests/checker/samples/helper_library.py"}
    assert not any("open()" in finding.message for finding in findings)  # in the activity


def test_check_determinism_returns_the_findings() -> None:
    assert check_determinism(helpers.app) == list(check(helpers.app).findings)


def test_lambdas_and_partials_are_checked() -> None:
    report = check(unusual.app)
    assert found(report, unusual) == expected(unusual)


def test_what_cannot_be_read_is_a_note_not_a_crash() -> None:
    report = check(unusual.app)
    notes = {note.function: str(note) for note in report.notes}
    assert set(notes) == {
        "orchestrator 'twin_lambda'",
        "orchestrator 'generated'",
        "orchestrator 'instance'",
    }
    assert (
        "several functions are defined at tests/checker/samples/unusual.py:15"
        in (notes["orchestrator 'twin_lambda'"])
    )
    assert "its source is not available (defined in <string>)" in notes["orchestrator 'generated'"]
    assert notes["orchestrator 'instance'"].endswith(
        "is a _Callable object, not a function; not checked"
    )
    assert report.orchestrators == 2  # one_lambda and partial


def test_methods_of_the_users_classes_are_followed() -> None:
    # Steps.__init__, run (on a local instance), decorate (on self), pick (a classmethod),
    # host (a staticmethod) and Settings.read (on a module-level instance).
    report = check(methods.app)
    assert found(report, methods) == expected(methods)
    assert (report.orchestrators, report.helpers) == (1, 6)
