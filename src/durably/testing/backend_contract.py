"""The store conformance suite: core checks every store passes, fast-path checks for the
stores that have fast paths.

Each check is a plain function taking a :class:`StoreFactory` (a callable that opens
another store object on the test's store). A core-only store passes
:data:`CORE_CHECKS`; a store with its own fast paths passes :data:`CHECKS` (core and
fast-path checks)::

    from durably.testing import backend_contract as contract

    @pytest.mark.parametrize("check", contract.CHECKS, ids=contract.check_id)
    def test_contract(check, store_factory):
        check(store_factory)

Fast-path checks use the store through :func:`~durably.backends.derived.with_fast_paths`,
so :data:`DERIVED_FAST_PATH_CHECKS` (the fast-path checks that do not need a store's own
fast paths) also prove the fast paths derived for a core-only store.

The checks use plain ``assert`` and no pytest API (``pytest.register_assert_rewrite(
"durably.testing")`` before importing gives detailed failures). Semantic checks pass
time explicitly from a fixed instant; the wake-up and concurrency checks use the real
clock and threads, with waits long enough that a store that never wakes its waiters
fails rather than passes slowly.

The builders the checks use (``start``, ``message``, ``lock_one``, ``commit``,
``activity``, ``note``) are exported for store-specific tests.
"""

from __future__ import annotations

from durably.testing import (
    _contract_core_concurrency,
    _contract_core_instances,
    _contract_core_work,
    _contract_fast_episodes,
    _contract_fast_unlocked,
    _contract_fast_wakeups,
)
from durably.testing._contract_kit import (
    LEASE,
    OWN_FAST_PATHS,
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
    "CORE_CHECKS",
    "DERIVED_FAST_PATH_CHECKS",
    "FAST_PATH_CHECKS",
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

CORE_CHECKS: tuple[Check, ...] = (
    *_contract_core_instances.CHECKS,
    *_contract_core_work.CHECKS,
    *_contract_core_concurrency.CHECKS,
)
"""The checks of the core :class:`~durably.backends.base.Backend` methods."""

FAST_PATH_CHECKS: tuple[Check, ...] = (
    *_contract_fast_episodes.CHECKS,
    *_contract_fast_unlocked.CHECKS,
    *_contract_fast_wakeups.CHECKS,
)
"""The checks of a store's own :class:`~durably.backends.base.FastPaths`."""

DERIVED_FAST_PATH_CHECKS: tuple[Check, ...] = tuple(
    check for check in FAST_PATH_CHECKS if check not in OWN_FAST_PATHS
)
"""The fast-path checks that fast paths derived from the core pass too (the others
check what only a store's own fast paths do: claims honoured, commits without a lock)."""

CHECKS: tuple[Check, ...] = (*CORE_CHECKS, *FAST_PATH_CHECKS)
"""Every check: what a store with its own fast paths passes."""


def check_id(check: Check) -> str:
    """A readable pytest id for a check."""
    return check.__name__.removeprefix("check_")
