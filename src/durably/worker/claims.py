"""Claims: the activities an episode's commit enqueues already leased to its own worker,
so that they run here at once instead of waiting to be polled for."""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from durably.backends.base import ActivityClaim, ActivityWorkItem


class ActivitySlots(Protocol):
    """Free places in the worker's activity pool."""

    def take_now(self, wanted: int) -> int:
        """Take up to ``wanted`` free slots without waiting; how many were taken."""

    def give(self, count: int) -> None:
        """Return ``count`` slots."""


@dataclass(frozen=True, slots=True)
class ActivityHandOff:
    """Where activities scheduled by this worker's episodes run without being polled for.

    A commit claims (enqueues already locked) as many of its activities as ``slots``
    has free places, and ``run`` gets the claimed work items once they are committed,
    with the time their leases expire.
    """

    slots: ActivitySlots
    lease: _dt.timedelta
    run: Callable[[Sequence[ActivityWorkItem], _dt.datetime], None]


class Claims:
    """The activity slots one batch of commits claims, and their settlement."""

    def __init__(self, owner: str, now: _dt.datetime, hand_off: ActivityHandOff | None) -> None:
        self._owner = owner
        self._now = now
        self._hand_off = hand_off
        self._token = ""  # made on the first claim: a batch may claim none
        self._taken = 0

    def take(self, wanted: int) -> ActivityClaim | None:
        """A claim on up to ``wanted`` activities of one commit, if slots are free."""
        hand_off = self._hand_off
        if hand_off is None:
            return None
        count = hand_off.slots.take_now(wanted)
        if not count:
            return None
        self._taken += count
        if not self._token:
            self._token = uuid.uuid4().hex
        return ActivityClaim(
            owner=self._owner,
            lock_token=self._token,
            expires=self._now + hand_off.lease,
            count=count,
        )

    def settle(self, claimed: Sequence[ActivityWorkItem]) -> None:
        """Hand the claimed work to the pool; give back the slots nothing used."""
        if self._hand_off is None:
            return
        unused = self._taken - len(claimed)
        if unused:
            self._hand_off.slots.give(unused)
        if claimed:
            self._hand_off.run(claimed, self._now + self._hand_off.lease)
