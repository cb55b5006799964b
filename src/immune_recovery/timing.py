"""The one timer: wall time since start, and time per named phase (for run-time notes and
benchmarks; never part of a compared output)."""

from __future__ import annotations

import time


class Stopwatch:
    """Seconds since creation (:attr:`seconds`) and per named phase, accumulated between
    laps (:meth:`lap`, :attr:`totals`); ``time.perf_counter``."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self.totals: dict[str, float] = {}

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._start

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - self._last
        self._last = now
