"""The kill -9 test of test_kill9.py on PostgreSQL: a worker killed at several points
(holding leases, mid-commit, with its LISTEN connection open) loses nothing."""

from __future__ import annotations

import uuid

import pytest

from tests import pg
from tests.durability.test_kill9 import kill_workers_then_finish

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]


def test_sigkill_at_several_points_loses_nothing_on_postgres() -> None:
    kill_workers_then_finish(
        pg.with_query(pg.server_url(), task_hub=f"kill9-{uuid.uuid4().hex[:12]}")
    )
