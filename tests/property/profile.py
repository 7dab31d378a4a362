"""The hypothesis settings of the property tests, and how many examples each one runs.

``DURABLY_PROPERTY_EXAMPLES`` multiplies every example count (and the test timeouts):
``DURABLY_PROPERTY_EXAMPLES=20 pytest tests/property`` is a long run. Under CI
(``CI`` set) the examples are derandomized, so a run there is reproducible; elsewhere
each run draws new ones. No example database is written (``print_blob`` prints what
reproduces a failure instead).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = "durably"
FACTOR = float(os.environ.get("DURABLY_PROPERTY_EXAMPLES", "1"))

settings.register_profile(
    PROFILE,
    deadline=None,
    print_blob=True,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
)


def examples(count: int) -> int:
    """``count`` scaled by ``DURABLY_PROPERTY_EXAMPLES``."""
    return max(1, round(count * FACTOR))


def timeout(seconds: float) -> float:
    """A pytest timeout for a test of ``seconds``, scaled like its examples."""
    return seconds * max(FACTOR, 1.0)
