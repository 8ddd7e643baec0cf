"""Whole runs on a real local Spark (``local[2]``): joblibspark and RDD fan-out."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from optuna_spark.config import (
    BackendSpec,
    DataSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
    XGBoostOptions,
    bundled_wine_csv,
)
from optuna_spark.errors import ConfigError
from optuna_spark.runner import run_study
from tests.helpers import assert_quadratic_best_reported, finished, study_names, trial_states

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("spark")]


def test_joblibspark_quadratic_exact_budget_and_best_reported(sqlite_url: str) -> None:
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective="quadratic",
        study_name="q",
        trials=20,
        backend=BackendSpec(name="joblibspark", tasks=2, jobs=8),
        sampler=SamplerSpec(seed=11),
    )
    summary = run_study(config)
    assert trial_states(sqlite_url, "q") == {"COMPLETE": 20}
    # the best value is left to chance with 8 concurrent workers over 20 trials; what is
    # checked is that the summary reports the stored best and it is the objective's value
    assert_quadratic_best_reported(sqlite_url, "q", summary.best_value)
    # two Spark tasks ran in two Python processes and pulled from one budget (a fast
    # worker may take them all: there is no static split)
    assert len({w.pid for w in summary.workers}) == 2
    assert not any(w.error for w in summary.workers)
    assert sum(w.trials for w in summary.workers) == 20

    again = run_study(config)  # resuming adds nothing
    assert again.added == 0 and finished(sqlite_url, "q") == 20


def test_more_tasks_than_slots_is_refused_and_default_is_the_slots(sqlite_url: str) -> None:
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective="quadratic",
        study_name="r",
        trials=13,
        backend=BackendSpec(name="rdd", tasks=3),
        sampler=SamplerSpec(name="random", seed=1),
    )
    # local[2] has 2 task slots: a third task would only start after the budget is spent
    with pytest.raises(ConfigError, match="--tasks 3 is more than the 2 task slot"):
        run_study(config)
    assert study_names(sqlite_url) == []  # the study it created for the run is gone again

    default = run_study(
        RunConfig(
            storage=StorageSpec(sqlite_url),
            objective="quadratic",
            study_name="r2",
            trials=6,
            backend=BackendSpec(name="rdd"),
        )
    )
    assert len(default.workers) == 2 and default.counts["COMPLETE"] == 6


@pytest.mark.parametrize("backend", ["joblibspark", "dataframe"])
def test_xgboost_on_wine_completes(sqlite_url: str, backend: str) -> None:
    # dataframe: Spark reads the CSV and hands each task its own copy through mapInPandas
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective="xgboost",
        study_name="x",
        trials=4,
        data=DataSpec(bundled_wine_csv()),
        backend=BackendSpec(name=backend, tasks=2),
        xgboost=XGBoostOptions(num_boost_round=60),
    )
    summary = run_study(config)
    assert trial_states(sqlite_url, "x") == {"COMPLETE": 4}
    assert summary.best_value is not None and 0.3 < summary.best_value < 5.0
    assert set(summary.best_params) == {
        "learning_rate",
        "max_depth",
        "subsample",
        "colsample_bytree",
        "min_child_weight",
    }
    assert sorted(w.index for w in summary.workers) == [0, 1] and not summary.worker_errors
    assert all(not math.isnan(w.setup_seconds) for w in summary.workers)


def test_file_objective_with_data_is_shipped_to_executors(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "rows.py"
    path.write_text(
        "def objective(trial, data):\n"
        "    k = trial.suggest_int('k', 1, 10)\n"
        "    return abs(len(data) - 1600 + k)\n"
    )
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective=f"{path}:objective",
        study_name="f",
        trials=6,
        data=DataSpec(bundled_wine_csv()),
        backend=BackendSpec(name="rdd", tasks=2),
    )
    summary = run_study(config)
    assert trial_states(sqlite_url, "f") == {"COMPLETE": 6}
    assert summary.best_value == abs(1599 - 1600 + summary.best_params["k"])


def test_dataframe_backend_takes_the_users_dataframe_and_any_objective(
    spark, sqlite_url: str
) -> None:
    from optuna_spark import optimize

    frame = spark.createDataFrame([(float(i), float(2 * i + 1)) for i in range(50)], ["x", "y"])

    def fit(trial, data):  # the user's objective gets this task's copy as pandas
        slope = trial.suggest_float("slope", 0, 4)
        assert len(data) == 50 and list(data.columns) == ["x", "y"]
        return float(((data["y"] - slope * data["x"] - 1) ** 2).mean())

    summary = optimize(
        fit,
        12,
        data=frame,
        backend="dataframe",
        tasks=2,
        storage=sqlite_url,
        study_name="u",
        sampler="random",
        seed=3,
    )
    assert summary.counts["COMPLETE"] == 12 and not summary.worker_errors
    assert abs(summary.best_params["slope"] - 2.0) < 0.5

    plain = optimize(
        "quadratic", 4, backend="dataframe", tasks=2, storage=sqlite_url, study_name="q"
    )
    assert plain.counts["COMPLETE"] == 4


def test_a_master_other_than_the_active_sessions_is_an_error(spark, sqlite_url: str) -> None:
    from optuna_spark import optimize
    from optuna_spark.errors import BackendError

    with pytest.raises(
        BackendError, match=r"already has a Spark session on 'local\[2\]', not 'local\[3\]'"
    ):
        optimize(
            "quadratic", 3, backend="rdd", master="local[3]", storage=sqlite_url, study_name="m"
        )
    assert "m" not in study_names(sqlite_url)
    assert (
        optimize(
            "quadratic", 3, backend="rdd", master="local[2]", storage=sqlite_url, study_name="m"
        ).counts["COMPLETE"]
        == 3
    )
