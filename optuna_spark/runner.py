"""The driver: ``run_study(RunConfig) -> RunSummary``.

Resolve the objective, create or load the study, plan, write the shared budget, fan the
worker tasks out through the backend while showing progress, and summarise from the storage
(the source of truth, not the workers' own counts).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

from optuna_spark import budget as budget_table
from optuna_spark.backends import get_backend
from optuna_spark.config import RunConfig, default_study_name
from optuna_spark.errors import WorkerFailedError
from optuna_spark.objectives import default_direction, resolve_objective
from optuna_spark.plan import Plan, make_plan
from optuna_spark.progress import ProgressMonitor, Reporter, SilentReporter
from optuna_spark.storage import (
    best_value,
    count_trials,
    create_or_load_study,
    open_storage,
    prepare_sqlite_file,
    translate_errors,
)
from optuna_spark.worker import WorkerResult, WorkerTask


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

    @property
    def finished(self) -> int:
        """Trials the budget counts in the study now (lost-and-retried ones excepted)."""
        return self.counts["COUNTED"]

    @property
    def added(self) -> int:
        """Trials this run finished."""
        return self.finished - self.finished_before

    @property
    def worker_errors(self) -> list[str]:
        """One line per worker that ended with an error."""
        return [f"worker {w.index} on {w.host}: {w.error}" for w in self.workers if w.error]


def run_study(config: RunConfig, reporter: Reporter | None = None) -> RunSummary:
    """Run ``config`` to completion (or resume it) and return the summary.

    Raises :class:`~optuna_spark.errors.OptunaSparkError` subclasses for anything the user
    can fix; no trial is written before the objective, data and storage have been checked.
    """
    reporter = reporter or SilentReporter()
    config = replace(config, storage=config.storage.with_password(os.environ))
    objective = resolve_objective(config.objective, config.data, config.xgboost)
    study_name = config.study_name or default_study_name(
        objective.name, objective.data.path if objective.data else None
    )
    prepare_sqlite_file(config.storage)
    storage = open_storage(config.storage, driver=True)
    info = create_or_load_study(
        storage, config.storage, study_name, config.direction,
        default_direction(objective), fresh=config.fresh,
    )
    with translate_errors(config.storage, f"read study {study_name!r}"):
        finished_before = count_trials(storage, info.study_id)["COUNTED"]
        first_trial_number = storage.get_n_trials(info.study_id)
    plan = make_plan(
        budget=config.trials, finished=finished_before, tasks=config.backend.tasks,
        jobs=config.backend.jobs, backend=config.backend.name, host_cpus=os.cpu_count() or 1,
    )
    for note in plan.notes:
        reporter.note(note)

    results: list[WorkerResult] = []
    wall = 0.0
    if not plan.nothing_to_do:
        reporter.note(
            f"study {study_name!r} in {config.storage.masked}: {plan.remaining} trial(s) to run "
            f"on {plan.n_workers} {config.backend.name} worker(s)"
            + (f", resuming after {finished_before}" if finished_before else "")
        )
        with translate_errors(config.storage, "write the trial budget"):
            budget_id = budget_table.create_budget(storage.engine, info.study_id, plan.remaining)
        tasks = [
            WorkerTask(
                index=i, n_workers=plan.n_workers, storage=config.storage,
                study_name=study_name, budget_id=budget_id, objective=objective,
                sampler=config.sampler, threads=plan.threads_per_worker,
                max_consecutive_failures=config.max_consecutive_failures,
                heartbeat=config.heartbeat, first_trial_number=first_trial_number,
            )
            for i in range(plan.n_workers)
        ]
        backend = get_backend(config.backend.name)
        monitor = ProgressMonitor(
            storage, info.study_id, config.trials, reporter, config.progress_interval
        )
        try:
            backend.prepare(config.backend)
            with monitor:
                results = backend.run(tasks, plan, config.backend)
            wall = time.perf_counter() - monitor.started
        except BaseException:
            # Ctrl-C or a backend failure: hand out no more trials, stop what runs.
            _close_quietly(storage.engine, budget_id)
            backend.cancel()
            raise
        finally:
            backend.close()

    summary = _summarise(config, storage, info, plan, finished_before, results, wall)
    if results and all(r.error for r in results) and not any(r.complete for r in results):
        raise WorkerFailedError(
            f"every worker failed and no trial completed; first error: {results[0].error}"
        )
    return summary


def _close_quietly(engine: Any, budget_id: str) -> None:
    try:
        budget_table.close_budget(engine, budget_id)
    except Exception:  # the database may be the thing that failed; the interrupt matters more
        pass


def _summarise(
    config: RunConfig,
    storage: Any,
    info: Any,
    plan: Plan,
    finished_before: int,
    results: list[WorkerResult],
    wall: float,
) -> RunSummary:
    with translate_errors(config.storage, f"read study {info.name!r}"):
        counts = count_trials(storage, info.study_id)
        best = best_value(storage, info.study_id)
        best_trial = storage.get_best_trial(info.study_id) if best is not None else None
    return RunSummary(
        study_name=info.name,
        storage=config.storage.masked,
        direction=info.direction,
        backend=config.backend.name,
        budget=config.trials,
        finished_before=finished_before,
        counts=counts,
        best_value=best,
        best_params=dict(best_trial.params) if best_trial else {},
        best_trial=best_trial.number if best_trial else None,
        wall_seconds=wall,
        plan=plan,
        workers=tuple(results),
        created=info.created,
    )
