"""The interface every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from optuna_spark.config import BackendSpec
from optuna_spark.plan import Plan
from optuna_spark.worker import WorkerResult, WorkerTask


class Backend(Protocol):
    """Runs worker tasks somewhere and returns their results, in task order."""

    name: str

    def start(self, spec: BackendSpec) -> None:
        """Begin what the fan-out needs without waiting for it (a Spark session starts in
        the background while the driver sets up); :meth:`prepare` waits."""
        ...

    def prepare(self, spec: BackendSpec) -> None:
        """Start what the fan-out needs (a Spark session) before it is timed."""
        ...

    def slots(self) -> tuple[int, str] | None:
        """Tasks that can run at the same time (after :meth:`prepare`) and how that was
        counted (shown when --tasks asks for more); None if unknown."""
        ...

    def executors_elsewhere(self) -> bool:
        """True when some worker may run on another machine than the driver (after
        :meth:`prepare`), where a file on the driver's disk is not there."""
        ...

    def run(self, tasks: Sequence[WorkerTask], plan: Plan, spec: BackendSpec) -> list[WorkerResult]:
        """Run every task (at most ``plan.concurrency`` at a time) and return the results."""
        ...

    def cancel(self) -> None:
        """Best effort: stop running tasks now (Ctrl-C, timeout). Safe to call any time."""
        ...

    def close(self) -> None:
        """Release what :meth:`run` started (a Spark session it created, a process pool)."""
        ...
