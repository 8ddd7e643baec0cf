"""The live progress read from a real SQLite study."""

from __future__ import annotations

import time

import optuna

from optuna_spark.config import StorageSpec
from optuna_spark.progress import take_snapshot
from optuna_spark.storage import open_storage


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
