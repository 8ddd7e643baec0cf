"""What a run did and where its study stands: :class:`RunSummary`, read back from the storage.

The runner fills it in once the fan-out has ended; the console, ``--json`` and the Python API
show it. Its counts come from the storage (the source of truth), the per-worker facts from the
workers' own :class:`~optuna_spark.worker.WorkerResult` records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from optuna_spark.config import StorageSpec
from optuna_spark.mlflow_runs import MlflowResult
from optuna_spark.plan import Plan
from optuna_spark.worker import DIED_SUFFIX, OBJECTIVE_FAILED, WORKER_DIED, WorkerResult

if TYPE_CHECKING:
    import optuna


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most ``(start, end)`` intervals that hold one moment in common (an interval that
    ends as another starts does not overlap it)."""
    events = sorted(
        (moment, step) for start, end in intervals for moment, step in ((start, 1), (end, -1))
    )
    peak = running = 0
    for _, step in events:  # at one moment the ends (-1) sort before the starts
        running += step
        peak = max(peak, running)
    return peak


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
    lost_before: int = 0  # trials lost with their worker (and retried) before this run
    # Where the study is, password included (never shown: StorageSpec's repr masks it), for
    # :attr:`study`.
    storage_spec: StorageSpec | None = field(default=None, repr=False, compare=False)
    # A multi-objective study's answer: its Pareto front (number, values, params), by number.
    pareto_front: tuple[dict[str, Any], ...] = ()
    # Seconds from the command's start to each step of the run (timeline.py), in order.
    timeline: dict[str, float] = field(default_factory=dict)
    # Where this run's MLflow runs are (None when it did not log to MLflow).
    mlflow: MlflowResult | None = None
    # The sampler the workers used, e.g. ``tpe`` or, for ``auto``, its choice and why:
    # ``CMA-ES (10 numeric parameters, the same in every trial), chosen by auto``.
    sampler: str = ""

    @cached_property
    def study(self) -> optuna.Study:
        """The study as Optuna's own ``optuna.Study``, loaded on first use: ``best_trial``,
        ``trials_dataframe()`` and ``optuna.visualization`` work on it as usual."""
        import optuna

        from optuna_spark.errors import StudyError
        from optuna_spark.storage import open_storage, translate_errors

        if self.storage_spec is None:
            raise StudyError("this summary was made without its storage; load the study there.")
        storage = open_storage(self.storage_spec, driver=False)
        with translate_errors(self.storage_spec, f"load study {self.study_name!r}"):
            return optuna.load_study(study_name=self.study_name, storage=storage)

    @property
    def finished(self) -> int:
        """Trials the budget counts in the study now (lost-and-retried ones excepted)."""
        return self.counts["COUNTED"]

    @property
    def added(self) -> int:
        """Trials this run finished."""
        return self.finished - self.finished_before

    @property
    def stopped_by_callback(self) -> bool:
        """True when a callback (``--patience`` included) called ``study.stop()``."""
        return self.stopped is not None and any(w.stop_reason == self.stopped for w in self.workers)

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
        if self.objective_failed or self.nothing_completed:
            return 1
        short = self.stopped is None and self.finished < self.budget
        return 1 if short and any(w.error for w in self.workers) else 0

    @property
    def peak_workers(self) -> int:
        """The most workers that ran at the same moment, from when each started and how long
        it ran (a worker Spark held back for a free slot, or joblibspark for ``--jobs``,
        started later). On a cluster, executors' clocks set the moments."""
        return peak_overlap([(w.started_at, w.started_at + w.seconds) for w in self.workers])

    @property
    def nothing_completed(self) -> bool:
        """True when this run's workers finished trials and every one of them failed (and
        nothing stopped the run early): not a result to call success."""
        ran = sum(w.trials for w in self.workers)
        return self.stopped is None and ran > 0 and sum(w.failed for w in self.workers) == ran

    @property
    def devices(self) -> list[str]:
        """Where the workers trained and why, each distinct answer once (XGBoost objective)."""
        return sorted({w.device for w in self.workers if w.device})

    @property
    def gpu_memory(self) -> list[dict[str, Any]]:
        """Each GPU worker's peak GPU memory: worker, host, device, MiB and scope."""
        return [
            {
                "worker": w.index,
                "host": w.host,
                "device": (w.device or "").split(" ")[0],
                "peak_mib": w.peak_gpu_mib,
                "scope": w.gpu_memory_scope,
            }
            for w in self.workers
            if w.peak_gpu_mib is not None
        ]

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
        if self.nothing_completed:
            return (
                f"no trial of this run completed, all {sum(w.trials for w in self.workers)} "
                f"failed, first {first}; fix the objective, then run again with --fresh or "
                "a higher --trials."
            )
        return (
            f"workers failed with {missing} trial(s) of the budget missing ({first}); fix "
            "the cause, then run the same command again."
        )

    @property
    def worker_errors(self) -> list[str]:
        """One line per worker that ended with an error (lost workers: see :attr:`lost`)."""
        return [
            f"worker {w.index} on {w.host}: {w.error}"
            for w in self.workers
            if w.error and w.error_type != WORKER_DIED
        ]

    @property
    def workers_lost(self) -> int:
        """Workers whose process or executor died during this run: those that never
        reported, and the Spark tasks Spark itself ran again after losing an attempt."""
        return sum(w.error_type == WORKER_DIED for w in self.workers) + sum(
            w.attempt for w in self.workers
        )

    @property
    def trials_rerun(self) -> int:
        """Trials of this run lost mid-trial with their worker whose parameters were run
        again (they do not count against the budget)."""
        return self.counts.get("LOST", 0) - self.lost_before

    @property
    def lost(self) -> str | None:
        """One line on what was lost and recovered in this run, or None if nothing was."""
        if not self.workers_lost:
            return None
        causes = sorted(
            {
                w.error.removesuffix(DIED_SUFFIX)
                for w in self.workers
                if w.error_type == WORKER_DIED and w.error
            }
        )
        retried = sum(w.attempt for w in self.workers)
        parts = list(causes) + (
            [f"Spark ran {retried} task(s) again after losing an executor or Python worker"]
            if retried
            else []
        )
        return (
            f"{self.workers_lost} worker(s) lost ({'; '.join(parts)}); "
            f"{self.trials_rerun} trial(s) they were running were run again"
        )
