"""A store that implements only the core protocol passes the core checks, and with the
fast paths derived from its core it runs every example app."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from durably.backends.base import Backend, FastPaths
from durably.backends.derived import DerivedFastPaths, with_fast_paths
from durably.testing import backend_contract as contract
from durably.testing.backend_contract import StoreFactory
from tests.backends.core_only_store import CoreOnlyStore, Data
from tests.test_examples import EXPECTED


@pytest.fixture
def core_factory() -> Iterator[StoreFactory]:
    hubs: dict[str, Data] = {}

    def make(task_hub: str = "default") -> Backend:
        return CoreOnlyStore(hubs.setdefault(task_hub, Data()))

    yield make


def test_the_store_has_only_the_core() -> None:
    store = CoreOnlyStore(Data())
    assert isinstance(store, Backend)
    assert not isinstance(store, FastPaths)
    derived = with_fast_paths(store)
    assert isinstance(derived, DerivedFastPaths) and derived.core is store
    assert with_fast_paths(derived) is derived  # fast paths are never derived twice


@pytest.mark.parametrize("check", contract.CORE_CHECKS, ids=contract.check_id)
def test_core_checks(check: contract.Check, core_factory: StoreFactory) -> None:
    check(core_factory)


@pytest.mark.parametrize("check", contract.DERIVED_FAST_PATH_CHECKS, ids=contract.check_id)
def test_derived_fast_path_checks(check: contract.Check, core_factory: StoreFactory) -> None:
    check(core_factory)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_example_runs_on_the_core_only_store(name: str) -> None:
    module = importlib.import_module(f"examples.{name}")
    store: Any = CoreOnlyStore(Data())
    assert module.main(store=store) == EXPECTED[name]
