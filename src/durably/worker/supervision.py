"""Supervision: a worker's threads, kept running through store failures, stopped on request.

Each loop runs one iteration at a time; an iteration that fails is logged and retried
after a pause that doubles up to :data:`MAX_BACKOFF` (the store may be away for a while:
a restart), and only the first failure in a row logs a traceback.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("durably.worker")

MAX_BACKOFF = 5.0
"""Seconds a loop waits at most between retries while its iterations keep failing."""


class Supervisor:
    """Starts named threads, repeats loop iterations with backoff, and stops them."""

    def __init__(self, *, poll_interval: float) -> None:
        self.stopping = threading.Event()
        self._poll = poll_interval
        self._threads: dict[str, threading.Thread] = {}

    @property
    def running(self) -> bool:
        return bool(self._threads)

    def start(self, targets: dict[str, Callable[[], None]]) -> None:
        """Start one daemon thread ``durably-NAME`` per target."""
        self.stopping.clear()
        for name, target in targets.items():
            thread = threading.Thread(target=target, name=f"durably-{name}", daemon=True)
            thread.start()
            self._threads[name] = thread

    def repeat(self, what: str, iteration: Callable[[], None]) -> Callable[[], None]:
        """A thread target that runs ``iteration`` until stopping, backing off on errors
        (``what`` names the iteration in the log)."""

        def loop() -> None:
            failures = 0
            while not self.stopping.is_set():
                try:
                    iteration()
                    failures = 0
                except Exception:
                    if self.stopping.is_set():  # the store may be closing under it
                        log.debug("%s failed while stopping", what, exc_info=True)
                        return
                    failures += 1
                    self._back_off(what, failures)

        return loop

    def join(self, name: str, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for one thread to end."""
        self._threads[name].join(timeout)

    def join_all(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for each thread, then forget them."""
        for thread in self._threads.values():
            thread.join(timeout)
        self._threads.clear()

    def _back_off(self, what: str, failures: int) -> None:
        delay = min(self._poll * 2 ** (failures - 1), MAX_BACKOFF)
        if failures == 1:
            log.exception("%s failed; retrying", what)
        else:
            log.warning("%s failed again (%d in a row); retrying in %.1f s", what, failures, delay)
        self.stopping.wait(delay)


def run_until_signalled(start: Callable[[], object], stop: Callable[[], None]) -> None:
    """Call ``start``, wait for SIGINT or SIGTERM, then ``stop`` (handlers restored). A
    second signal while stopping ends it at once with ``SystemExit(1)``: running work is
    left to be retried when its lease runs out."""
    signalled = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signalled.is_set():
            log.warning("received signal %d again, stopping now", signum)
            raise SystemExit(1)
        log.info("received signal %d, stopping", signum)
        signalled.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            start()
            while not signalled.wait(1.0):
                pass
        finally:
            stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
