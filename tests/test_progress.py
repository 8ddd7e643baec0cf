"""The live progress read from a real SQLite study."""

from __future__ import annotations

import time

import optuna

from optuna_spark.config import StorageSpec
from optuna_spark.console import format_progress
from optuna_spark.progress import take_snapshot
from optuna_spark.storage import open_storage
from optuna_spark.storage.trials import count_non_dominated


def test_running_never_shows_more_trials_than_workers(sqlite_url: str) -> None:
    storage = open_storage(StorageSpec(sqlite_url), driver=True)
    study = optuna.create_study(storage=storage, study_name="p")
    # Two workers, each with its trial running and one asked ahead: four RUNNING trials.
    trials = [study.ask() for _ in range(5)]
    study.tell(trials[0], 1.0)
    started = time.perf_counter()

    shown = take_snapshot(storage, study._study_id, 10, started, workers=2)
    assert (shown.finished, shown.running, shown.best_value) == (1, 2, 1.0)
    assert take_snapshot(storage, study._study_id, 10, started).running == 4


def test_several_objectives_show_the_pareto_front_size_as_optuna_counts_it(
    any_storage: str,
) -> None:
    storage = open_storage(StorageSpec(any_storage), driver=True)
    name = f"mo-{time.time_ns()}"
    study = optuna.create_study(
        storage=storage, study_name=name, directions=["minimize", "maximize"]
    )
    # A front of five ((2, 7) twice, one at an infinity), two points dominated, and trials
    # that are not complete, which must not count.
    for values in [(1, 5), (2, 7), (2, 7), (3, 3), (0, float("-inf")), (4, 8), (5, 8)]:
        study.add_trial(optuna.trial.create_trial(values=list(values)))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    study.ask()
    front = len(study.best_trials)
    assert front == 5  # (1, 5), (2, 7) twice, (0, -inf), (4, 8)

    shown = take_snapshot(storage, study._study_id, 20, time.perf_counter())
    assert (shown.pareto, shown.best_value, shown.finished, shown.running) == (front, None, 8, 1)
    assert "pareto front 5  running 1" in format_progress(shown)


def test_count_non_dominated() -> None:
    assert count_non_dominated([]) == 0
    assert count_non_dominated([(1.0, 2.0), (2.0, 1.0), (2.0, 2.0), (1.0, 2.0)]) == 3
    assert count_non_dominated([(0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (-1.0, 5.0, 0.0)]) == 2
