"""Clocks the engine reads time from: a manual one for tests, the system one at the edge.

The engine only ever calls ``clock.now()``; the simulation passes a clock that reads
SimPy's virtual time, so the same policy code runs in simulated and real time.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now() -> float`` seconds since the Unix epoch."""

    def now(self) -> float: ...


class ManualClock:
    """A clock that moves only when told to, so time-dependent tests need no sleeps."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back (advance by {seconds})")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        """Jump to ``when``, which may not be earlier than the current time."""
        if when < self._now:
            raise ValueError(f"a clock cannot go back (from {self._now} to {when})")
        self._now = float(when)


class SystemClock:
    """The wall clock; used only by the HTTP service and command-line tools."""

    def now(self) -> float:
        return time.time()
