"""A per-trial time limit (``--trial-timeout S``) inside one worker.

A Python thread cannot be killed, so the limit acts in two steps:

1. At S seconds a timer signal (``SIGALRM``) raises :class:`TrialTimeout` inside the
   objective, at its next Python instruction: a ``time.sleep``, a loop, XGBoost between two
   boosting rounds. Optuna fails the trial like any objective error, and the worker records
   "timed out after S s" as its ``fail_reason`` and goes on with the next trial.
2. An objective stuck in native code that never returns to Python (or that blocks the
   signal) is still running :data:`HARD_GRACE_S` seconds later: a watchdog thread fails the
   trial in the storage with the same reason and ends the worker process. The driver's
   lost-worker recovery then runs what the budget still misses; the trial stays a counted
   failure, never retried.

Objectives run on the worker process's main thread (Spark's Python workers, joblibspark tasks
and the ``local`` backend's processes alike); anywhere else signals cannot reach them, and only
step 2 applies.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

# After the signal, how long a trial may still run before its worker is replaced.
HARD_GRACE_S = 5.0
# The exit status of a worker ended by step 2 (shown in the driver's lost-worker warning).
HARD_EXIT_STATUS = 86


class TrialTimeout(Exception):
    """The objective ran past ``--trial-timeout``."""


def reason(seconds: float) -> str:
    """The ``fail_reason`` of a timed-out trial."""
    return f"timed out after {seconds:g} s"


class TrialTimer:
    """Limits each trial this worker runs to ``seconds``; ``on_stuck`` fails the trial in the
    storage (step 2) before the process exits."""

    def __init__(self, seconds: float, on_stuck: Callable[[], None]) -> None:
        self.seconds = seconds
        self._on_stuck = on_stuck
        self._signals = threading.current_thread() is threading.main_thread()

    @contextmanager
    def limit(self) -> Iterator[None]:
        """Run the body (one objective call) under the limit."""
        watchdog = threading.Timer(self.seconds + HARD_GRACE_S, self._stuck)
        watchdog.daemon = True
        previous = None
        if self._signals:
            previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        watchdog.start()
        try:
            yield
        finally:
            watchdog.cancel()
            if self._signals:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        raise TrialTimeout(reason(self.seconds))

    def _stuck(self) -> None:
        try:
            self._on_stuck()
        finally:
            # Nothing else can stop the objective; the driver's recovery takes over.
            os._exit(HARD_EXIT_STATUS)
