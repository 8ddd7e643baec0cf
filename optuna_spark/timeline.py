"""When each step of a run happened: the time line of a cold start (``--json``'s ``timeline``).

Times are seconds from the user's command: the process start for the CLI (read from Linux's
``/proc``, so the interpreter's own start and every import count), the call of
:func:`~optuna_spark.runner.run_study` for the Python API. The workers report wall-clock
times (``time.time()``), which the driver places on the same axis; on a cluster that assumes
the hosts' clocks agree to well under a second, as NTP keeps them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def process_started_at() -> float | None:
    """When this process started (``time.time()`` scale), from ``/proc``; None elsewhere."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        # The process's start in clock ticks after boot is field 22 of /proc/self/stat; the
        # command name (field 2) may hold spaces, so count from after its closing parenthesis.
        stat = Path("/proc/self/stat").read_text()
        started_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - uptime + started_ticks / ticks


class Timeline:
    """Named moments of one run, in seconds from ``origin`` (a ``time.time()`` value)."""

    def __init__(self, origin: float | None = None) -> None:
        self.origin = time.time() if origin is None else origin
        self._events: dict[str, float] = {}

    def mark(self, event: str, at: float | None = None) -> None:
        """Note that ``event`` happened now (or at ``at``, a ``time.time()`` value); the first
        mark of an event stands (a recovery round's fan-out does not move the first one's)."""
        if event not in self._events:
            self._events[event] = (time.time() if at is None else at) - self.origin

    def as_dict(self) -> dict[str, float]:
        """The events in the order they happened, each in seconds (to the millisecond)."""
        ordered = sorted(self._events.items(), key=lambda item: item[1])
        return {event: round(seconds, 3) for event, seconds in ordered}
