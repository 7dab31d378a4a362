"""Every test here runs twice: with generator orchestrators and with ``async def`` ones
(:mod:`tests.orchestrator_forms`)."""

from __future__ import annotations

import pytest

from tests.orchestrator_forms import orchestrator_form

__all__ = ["orchestrator_form"]


@pytest.fixture(autouse=True)
def _both_forms(orchestrator_form: str) -> str:
    return orchestrator_form
