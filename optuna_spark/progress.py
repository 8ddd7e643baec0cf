"""The driver's live view of a running study: a thread that polls the storage and hands
snapshots (finished/total, best so far) to a reporter."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from optuna_spark.storage import best_value, count_trials, pareto_size

if TYPE_CHECKING:
    from optuna.storages import RDBStorage


@dataclass(frozen=True)
class Snapshot:
    """The study as the driver last saw it."""

    finished: int  # trials the budget counts (complete + pruned + failed, lost ones excepted)
    budget: int
    running: int
    best_value: float | None
    elapsed: float  # seconds since this run's workers were launched
    finished_at_start: int = 0  # trials the study had when this run began
    pareto: int | None = None  # several objectives: complete trials on the Pareto front so far

    @property
    def eta(self) -> float | None:
        """Seconds left at this run's pace so far (None before its first trial ends)."""
        done = self.finished - self.finished_at_start
        if done <= 0:
            return None
        return max(0.0, self.elapsed / done * (self.budget - self.finished))


class Reporter(Protocol):
    """Where the runner sends what a person should see; the CLI prints, a notebook may not."""

    def note(self, message: str) -> None:
        """A one-line notice (a plan decision, a warning)."""

    def progress(self, snapshot: Snapshot) -> None:
        """A progress update while workers run."""

    def done(self) -> None:
        """Workers have returned; end any live progress line."""


class SilentReporter:
    """Reports nothing; the default for the Python API."""

    def note(self, message: str) -> None:
        pass

    def progress(self, snapshot: Snapshot) -> None:
        pass

    def done(self) -> None:
        pass


def take_snapshot(
    storage: RDBStorage,
    study_id: int,
    budget: int,
    started: float,
    finished_at_start: int = 0,
    workers: int | None = None,
) -> Snapshot:
    """Read the study's counts and best value once. ``workers``: at most that many trials are
    shown running; a worker asking ahead holds a second RUNNING trial whose objective has not
    started yet (prefetch.py), which is not running in any sense a person means."""
    from optuna.study import StudyDirection

    counts = count_trials(storage, study_id)
    running = counts["RUNNING"] if workers is None else min(counts["RUNNING"], workers)
    directions = storage.get_study_directions(study_id)
    several = len(directions) > 1  # no single best: the size of the Pareto front instead
    maximize = [d == StudyDirection.MAXIMIZE for d in directions]
    return Snapshot(
        finished=counts["COUNTED"],
        budget=budget,
        running=running,
        best_value=None if several else best_value(storage, study_id),
        elapsed=time.perf_counter() - started,
        finished_at_start=finished_at_start,
        pareto=pareto_size(storage, study_id, maximize) if several else None,
    )


class ProgressMonitor:
    """Poll the study every ``interval`` seconds in a daemon thread while workers run."""

    def __init__(
        self,
        storage: RDBStorage,
        study_id: int,
        budget: int,
        reporter: Reporter,
        interval: float,
        finished_at_start: int = 0,
        workers: int | None = None,
    ) -> None:
        self._args = (storage, study_id, budget)
        self._finished_at_start = finished_at_start
        self._workers = workers
        self._reporter = reporter
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="optuna-spark-progress", daemon=True
        )
        self.started = time.perf_counter()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._report()

    def _report(self) -> None:
        try:
            self._reporter.progress(
                take_snapshot(*self._args, self.started, self._finished_at_start, self._workers)
            )
        except Exception:  # a missed update must never break the run
            pass

    def __enter__(self) -> ProgressMonitor:
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._report()  # the workers are done (or interrupted): where the study is now
        self._reporter.done()
