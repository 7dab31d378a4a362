"""Every backend passes the conformance suite in durably.testing.backend_contract."""

from __future__ import annotations

import pytest

from durably.testing import backend_contract as contract
from durably.testing.backend_contract import StoreFactory


@pytest.mark.parametrize("check", contract.CHECKS, ids=contract.check_id)
def test_backend_contract(check: contract.Check, store_factory: StoreFactory) -> None:
    check(store_factory)
