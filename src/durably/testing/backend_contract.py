"""The backend conformance suite: every :class:`~durably.backends.base.Backend` passes it.

Each check is a plain function taking a :class:`StoreFactory` (a callable that opens
another backend object on the test's store). Run them all against a new backend with
one parametrisation::

    from durably.testing import backend_contract as contract

    @pytest.mark.parametrize("check", contract.CHECKS, ids=contract.check_id)
    def test_contract(check, store_factory):
        check(store_factory)

The checks use plain ``assert`` and no pytest API (``pytest.register_assert_rewrite(
"durably.testing")`` before importing gives detailed failures). Semantic checks pass
time explicitly from a fixed instant; the wake-up and concurrency checks use the real
clock and threads, with waits long enough that a backend that never wakes its waiters
fails rather than passes slowly.

The builders the checks use (``start``, ``message``, ``lock_one``, ``commit``,
``activity``, ``note``) are exported for backend-specific tests.
"""

from __future__ import annotations

from durably.testing import (
    _contract_concurrency,
    _contract_instances,
    _contract_unlocked,
    _contract_work,
)
from durably.testing._contract_kit import (
    LEASE,
    T0,
    Check,
    StoreFactory,
    activity,
    commit,
    lock_one,
    message,
    note,
    start,
)

__all__ = [
    "CHECKS",
    "LEASE",
    "T0",
    "Check",
    "StoreFactory",
    "activity",
    "check_id",
    "commit",
    "lock_one",
    "message",
    "note",
    "start",
]

CHECKS: tuple[Check, ...] = (
    *_contract_instances.CHECKS,
    *_contract_work.CHECKS,
    *_contract_unlocked.CHECKS,
    *_contract_concurrency.CHECKS,
)
"""Every check: instances, then work (locked, then unlocked), then the threaded ones."""


def check_id(check: Check) -> str:
    """A readable pytest id for a check."""
    return check.__name__.removeprefix("check_")
