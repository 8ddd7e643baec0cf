"""--timeout: no more trials start, running ones are cancelled and marked, the run ends
normally and the study resumes to its budget. On the local backend and on real Spark."""

from __future__ import annotations

from pathlib import Path

import pytest

from optuna_spark.config import BackendSpec, RunConfig, SamplerSpec, StorageSpec
from optuna_spark.runner import run_study
from optuna_spark.storage import CANCELLED_ATTR
from tests.helpers import read_trials

STUCK = """
import time

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    time.sleep(60)  # far longer than the timeout: only a cancel ends it
    return x * x
"""

FAST = """
def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return x * x
"""


def _objective(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return f"{path}:objective"


def _timeout_then_resume(
    sqlite_url: str, tmp_path: Path, backend: BackendSpec, timeout: int = 4
) -> None:
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective=_objective(tmp_path, "job", STUCK),
        study_name="t",
        trials=6,
        backend=backend,
        sampler=SamplerSpec(seed=1),
        timeout=timeout,
    )
    summary = run_study(config)
    reason = f"--timeout {timeout} s expired"

    assert summary.stopped == reason
    trials = read_trials(sqlite_url, "t")
    # Both workers were inside a trial when the time ran out: both were cancelled, marked
    # FAIL with the reason on the trial, and none counts against the budget.
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    for trial in trials:
        assert trial.system_attrs[CANCELLED_ATTR] == reason
        assert trial.system_attrs["fail_reason"].startswith("cancelled")
    assert summary.counts["CANCELLED"] == 2 and summary.counts["COUNTED"] == 0

    resumed = run_study(
        RunConfig(
            storage=StorageSpec(sqlite_url),
            objective=_objective(tmp_path, "job", FAST),  # the objective fixed
            study_name="t",
            trials=6,
            backend=backend,
            sampler=SamplerSpec(seed=1),
        )
    )
    assert resumed.plan.remaining == 6 and resumed.counts["COUNTED"] == 6
    assert resumed.counts["COMPLETE"] == 6 and resumed.stopped is None


def test_timeout_on_local_backend(sqlite_url: str, tmp_path: Path) -> None:
    _timeout_then_resume(sqlite_url, tmp_path, BackendSpec(name="local", tasks=2))


@pytest.mark.spark
@pytest.mark.parametrize("backend", ["rdd", "joblibspark", "dataframe"])
def test_timeout_on_spark_cancels_our_job_group(
    spark, backend: str, sqlite_url: str, tmp_path: Path
) -> None:
    # The dataframe backend first copies the data to its partitions (a sampling job, Arrow
    # workers): give its tasks time to be inside a trial.
    timeout = 12 if backend == "dataframe" else 4
    _timeout_then_resume(sqlite_url, tmp_path, BackendSpec(name=backend, tasks=2), timeout)
    # The shared session survives our cancel and still runs jobs.
    assert spark.sparkContext.parallelize([1, 2, 3]).sum() == 6
