"""What a run did and where its study stands: :class:`RunSummary`, read back from the storage.

The runner fills it in once the fan-out has ended; the console, ``--json`` and the Python API
show it. Its counts come from the storage (the source of truth), the per-worker facts from the
workers' own :class:`~optuna_spark.worker.WorkerResult` records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from optuna_spark.plan import Plan
from optuna_spark.worker import OBJECTIVE_FAILED, WorkerResult


def objective_failed(results: Iterable[WorkerResult]) -> bool:
    """True when a worker stopped because the objective failed too often in a row."""
    return any(r.error_type == OBJECTIVE_FAILED for r in results)


@dataclass(frozen=True)
class RunSummary:
    """What a run did and where the study stands now."""

    study_name: str
    storage: str  # masked URL
    direction: str
    backend: str
    budget: int
    finished_before: int
    counts: dict[str, int]  # the whole study, by state, after the run
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    wall_seconds: float  # driver wall time of the fan-out (0 when nothing ran)
    plan: Plan
    workers: tuple[WorkerResult, ...] = field(default=())
    created: bool = False
    stopped: str | None = None  # why the run ended before its budget (timeout), if it did

    @property
    def finished(self) -> int:
        """Trials the budget counts in the study now (lost-and-retried ones excepted)."""
        return self.counts["COUNTED"]

    @property
    def added(self) -> int:
        """Trials this run finished."""
        return self.finished - self.finished_before

    @property
    def objective_failed(self) -> bool:
        """True when a worker stopped because the objective failed too often in a row."""
        return objective_failed(self.workers)

    @property
    def objective_traceback(self) -> str | None:
        """The first traceback of an objective that failed too often in a row, if one did (an
        objective that returned NaN or None raised nothing, so it has none)."""
        for worker in self.workers:
            if worker.error_type == OBJECTIVE_FAILED and worker.details:
                return worker.details
        return None

    @property
    def exit_code(self) -> int:
        """0 when the run went as asked (a timeout included); 1 when a broken objective or
        failing workers left the budget unspent."""
        if self.objective_failed:
            return 1
        short = self.stopped is None and self.finished < self.budget
        return 1 if short and any(w.error for w in self.workers) else 0

    @property
    def devices(self) -> list[str]:
        """Where the workers trained and why, each distinct answer once (XGBoost objective)."""
        return sorted({w.device for w in self.workers if w.device})

    @property
    def failure(self) -> str | None:
        """One sentence for a run that exits non-zero (None when it does not): what stopped it
        and how to go on."""
        if not self.exit_code:
            return None
        first = next((e for w in self.workers for e in w.trial_errors), None)
        first = first or next((w.error for w in self.workers if w.error), None) or "unknown"
        first = " ".join(first.split()).rstrip(".")
        missing = self.budget - self.finished
        if self.objective_failed:
            return (
                f"the objective failed too often in a row (--max-failures), first {first}; "
                f"fix it, then run the same command again to add the {missing} missing "
                "trial(s)."
            )
        return (
            f"workers failed with {missing} trial(s) of the budget missing ({first}); fix "
            "the cause, then run the same command again."
        )

    @property
    def worker_errors(self) -> list[str]:
        """One line per worker that ended with an error."""
        return [f"worker {w.index} on {w.host}: {w.error}" for w in self.workers if w.error]
