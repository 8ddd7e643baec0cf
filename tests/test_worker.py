"""The worker, run in this process against a real SQLite storage (no Spark)."""

from __future__ import annotations

from pathlib import Path

import optuna

from optuna_spark.config import SamplerSpec, StorageSpec
from optuna_spark.objectives import resolve_objective
from optuna_spark.storage import budget, create_or_load_study, open_storage, prepare_sqlite_file
from optuna_spark.worker import WorkerTask, run_worker
from tests.helpers import read_trials, trial_states


def _task(url: str, objective, slots: int, **extra) -> WorkerTask:
    spec = StorageSpec(url)
    prepare_sqlite_file(spec)
    storage = open_storage(spec, driver=True)
    info = create_or_load_study(storage, spec, "s", None, "minimize")
    run_id = budget.create_budget(storage.engine, info.study_id, slots)
    return WorkerTask(
        index=0,
        n_workers=1,
        storage=spec,
        study_name="s",
        budget_id=run_id,
        objective=resolve_objective(objective, None),
        sampler=SamplerSpec(seed=1),
        **extra,
    )


def test_worker_runs_exactly_its_slots(sqlite_url: str) -> None:
    result = run_worker(_task(sqlite_url, "quadratic", 7))
    assert result.error is None and result.complete == 7
    assert trial_states(sqlite_url, "s") == {"COMPLETE": 7}


def test_failing_trials_count_and_stop_the_worker(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text(
        "def objective(trial):\n    trial.suggest_float('x', 0, 1)\n"
        "    raise ZeroDivisionError('boom')\n"
    )
    result = run_worker(_task(sqlite_url, f"{path}:objective", 20, max_consecutive_failures=3))
    assert result.failed == 3 and result.complete == 0
    assert "3 failed trials in a row" in (result.error or "")
    assert "ZeroDivisionError: boom" in (result.error or "")
    assert trial_states(sqlite_url, "s") == {"FAIL": 3}


def test_nan_none_and_strings_fail_the_trial_with_its_reason_not_the_worker(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "odd.py"
    path.write_text(
        "def objective(trial):\n"
        "    kind = trial.number % 5\n"
        "    return [float('nan'), None, 'abc', '0.5', 1.5][kind]\n"
    )
    result = run_worker(_task(sqlite_url, f"{path}:objective", 10))
    assert result.error is None and result.error_type is None
    # '0.5' once left its trial RUNNING ("Should not reach" inside Optuna): taken for a lost one.
    assert trial_states(sqlite_url, "s") == {"FAIL": 8, "COMPLETE": 2}
    reasons = [t.system_attrs.get("fail_reason") for t in read_trials(sqlite_url, "s")[:5]]
    assert reasons == [
        "the objective returned NaN",
        "the objective returned None, not a number; return a float",
        "the objective returned str 'abc', not a number; return a float",
        "the objective returned str '0.5', not a number; return a float",
        None,
    ]


def test_pruned_trials_count(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "prune.py"
    path.write_text(
        "import optuna\n"
        "def objective(trial):\n"
        "    if trial.number % 2:\n"
        "        raise optuna.TrialPruned()\n"
        "    return 1.0\n"
    )
    result = run_worker(_task(sqlite_url, f"{path}:objective", 6))
    assert (result.complete, result.pruned, result.failed) == (3, 3, 0)


def test_worker_never_raises_across_the_wire(tmp_path: Path) -> None:
    spec = StorageSpec(f"sqlite:///{tmp_path / 'nothing-here' / 'x.db'}")
    task = WorkerTask(
        index=3,
        n_workers=1,
        storage=spec,
        study_name="s",
        budget_id="none",
        objective=resolve_objective("quadratic", None),
        sampler=SamplerSpec(),
    )
    result = run_worker(task)
    assert result.index == 3 and result.error and result.error_type == "StorageError"
    assert optuna  # the worker imported optuna itself


def test_a_task_rerun_after_the_budget_is_spent_reads_no_data(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Spark re-runs a task whose Python worker or executor was lost; when the other workers
    have spent the budget meanwhile, the re-run returns at once instead of reading the data
    set and building XGBoost's matrices for nothing."""
    from optuna_spark.config import DataSpec, bundled_wine_csv

    data = tmp_path / "wine.csv"
    data.write_text(Path(bundled_wine_csv()).read_text())
    task = _task(sqlite_url, "quadratic", 0)
    objective = resolve_objective("xgboost", DataSpec(str(data)))
    data.unlink()  # reading it now would fail the worker with a DataError
    result = run_worker(
        WorkerTask(**{**task.__dict__, "objective": objective})  # same budget: no slot left
    )
    assert result.error is None and result.trials == 0
    assert trial_states(sqlite_url, "s") == {}


def test_a_worker_that_cannot_see_the_sqlite_file_says_why(sqlite_url: str, tmp_path: Path) -> None:
    """An executor on another machine than the driver's has no copy of the driver's SQLite
    file: the worker says so and names the fix, and creates no file there."""
    import socket

    task = _task(sqlite_url, "quadratic", 3)
    study_file = tmp_path / "study.db"
    study_file.rename(tmp_path / "elsewhere.db")  # what an executor on another machine sees
    result = run_worker(task)
    assert result.complete == 0
    assert f"is not on {socket.gethostname()}, where a worker runs" in (result.error or "")
    assert "use a MySQL storage" in (result.error or "")
    assert not study_file.exists()
