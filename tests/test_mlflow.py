"""MLflow tracking: a parent run per run, a child run per finished trial, read back through
MLflow's own client from a real local tracking store (SQLite)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from optuna_spark.mlflow_runs import NUMBER_TAG
from tests.helpers import TEST_DB_PASSWORD, read_trials, run_cli, silent_listener

OBJECTIVE = """
import optuna

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    if trial.number % 4 == 1:  # by number, not by x: every run has failed trials to log
        raise ValueError("trial chosen to fail")
    for step in range(3):
        trial.report((x - 2) ** 2 + 3 - step, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return (x - 2) ** 2
"""


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real MLflow tracking store (SQLite) named by ``$MLFLOW_TRACKING_URI``, as users set it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # MLflow puts artifacts (the best model) in ./mlruns
    return uri


def _runs(uri: str, experiment: str) -> tuple[Any, list[Any], list[Any]]:
    client = mlflow.MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([found.experiment_id], max_results=5000)
    parents = [r for r in runs if r.data.tags.get(NUMBER_TAG) is None]
    children = [r for r in runs if r.data.tags.get(NUMBER_TAG) is not None]
    return client, parents, children


def _check_children_match_the_storage(
    client: Any, children: list[Any], trials: list[optuna.trial.FrozenTrial]
) -> None:
    by_number = {int(r.data.tags[NUMBER_TAG]): r for r in children}
    assert len(by_number) == len(children), "a trial was logged twice"
    finished = {t.number: t for t in trials if t.state.is_finished()}
    assert set(by_number) == set(finished)
    for number, trial in finished.items():
        run = by_number[number]
        assert run.data.tags["optuna.trial_state"] == trial.state.name
        assert run.data.params == {k: str(v) for k, v in trial.params.items()}
        status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
        assert run.info.status == status[trial.state.name]
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["value"] == pytest.approx(trial.value)
        history = client.get_metric_history(run.info.run_id, "intermediate_value")
        assert sorted((m.step, m.value) for m in history) == sorted(
            trial.intermediate_values.items()
        )
        if trial.state == TrialState.FAIL:  # the objective's exception, or why we cancelled it
            reason = run.data.tags["optuna_spark.fail_reason"]
            assert reason == trial.system_attrs["fail_reason"]
            assert "trial chosen to fail" in reason or reason == "cancelled: interrupted by Ctrl-C"


def _named_by_the_workers(children: list[Any]) -> None:
    """Every child run names the worker that ran its trial, one of the two. Which of them
    ran which trials is the scheduler's business: under load (CI) one worker finished every
    trivial trial before the other started."""
    workers = {c.data.tags["optuna_spark.worker"] for c in children}
    assert workers and all(re.fullmatch(r"worker [01] on .+, pid \d+", w) for w in workers)


def test_every_finished_trial_is_one_child_run_and_a_resumed_run_logs_none_twice(
    sqlite_url: str, tracking: str, tmp_path: Path
) -> None:
    objective = tmp_path / "obj.py"
    objective.write_text(OBJECTIVE)
    args = ["run", "--objective", f"{objective}:objective", "--backend", "local", "--tasks", "2"]
    args += ["--storage", sqlite_url, "--study-name", "m", "--seed", "3", "--pruner", "median"]
    first = run_cli(*args, "--trials", "16")
    assert first.returncode == 0, first.stderr
    assert "MLflow: 16 trial run(s) under parent run" in first.stdout
    client, parents, children = _runs(tracking, "m")  # the experiment is named after the study
    assert len(parents) == 1 and len(children) == 16
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert parent.info.status == "FINISHED"
    assert parent.data.params["backend"] == "local" and parent.data.params["workers"] == "2"
    assert parent.data.params["budget"] == "16" and parent.data.params["study"] == "m"
    stored = read_trials(sqlite_url, "m")
    best = min((t for t in stored if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert parent.data.metrics["best_value"] == pytest.approx(best.value)
    assert parent.data.params["best.x"] == str(best.params["x"])
    assert parent.data.metrics["trials_added"] == 16
    assert parent.data.tags["optuna_spark.sampler"].startswith("TPE (1 numeric parameter(s)")
    states = {t.state for t in stored}
    assert TrialState.FAIL in states, "the test objective should fail some trials"
    _check_children_match_the_storage(client, children, stored)
    _named_by_the_workers(children)

    again = run_cli(*args, "--trials", "16")  # nothing to run: nothing logged
    assert again.returncode == 0 and "MLflow" not in again.stdout
    more = run_cli(*args, "--trials", "24")
    assert more.returncode == 0, more.stderr
    assert "MLflow: 8 trial run(s)" in more.stdout and "16 logged by earlier runs" in more.stdout
    client, parents, children = _runs(tracking, "m")
    assert len(parents) == 2 and len(children) == 24
    _check_children_match_the_storage(client, children, read_trials(sqlite_url, "m"))


@pytest.mark.spark
@pytest.mark.mysql
@pytest.mark.usefixtures("spark")
def test_spark_workers_on_mariadb_log_through_the_driver_and_no_password_reaches_mlflow(
    mysql_env: str, tracking: str
) -> None:
    from optuna_spark.api import optimize
    from tests.helpers import unique_study_name, with_test_password

    name = unique_study_name()
    with mlflow.start_run(run_name="notebook cell") as cell:  # a user's own run, as in a notebook
        summary = optimize(
            "quadratic",
            n_trials=12,
            storage=mysql_env,
            study_name=name,
            backend="rdd",
            tasks=2,
            mlflow_experiment="tuning",
        )
    assert summary.mlflow is not None and summary.mlflow.logged == 12
    assert summary.mlflow.experiment_name == "tuning"
    client, parents, children = _runs(tracking, "tuning")
    ours = [p for p in parents if p.info.run_id == summary.mlflow.parent_run_id]
    assert len(ours) == 1 and ours[0].data.tags["mlflow.parentRunId"] == cell.info.run_id
    assert ours[0].data.params["storage"] == mysql_env  # masked: no password in the URL
    assert ours[0].data.params["threads_per_worker"] == "the task's CPUs"  # Spark decides
    children = [c for c in children if c.data.tags["mlflow.parentRunId"] == ours[0].info.run_id]
    _check_children_match_the_storage(
        client, children, read_trials(with_test_password(mysql_env), name)
    )
    _named_by_the_workers(children)  # the Spark tasks' workers too
    for run in [*ours, *children]:
        everything = f"{run.data.params} {run.data.tags} {run.data.metrics}"
        assert TEST_DB_PASSWORD not in everything


def test_an_unreachable_tracking_server_is_one_warning_and_the_tuning_goes_on(
    sqlite_url: str, tmp_path: Path
) -> None:
    port, stop = silent_listener()  # accepts, never answers
    try:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
        started = time.perf_counter()
        result = run_cli(
            "run",
            "--objective",
            "quadratic",
            "--backend",
            "local",
            "--tasks",
            "2",
            "--trials",
            "6",
            "--storage",
            sqlite_url,
            env=env,
        )
        took = time.perf_counter() - started
    finally:
        stop.set()
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "MLflow" in line]
    assert len(warnings) == 1, result.stderr
    assert f"the tracking server http://127.0.0.1:{port} is unreachable" in warnings[0]
    # MLflow's own logging of our calls (a new store's tables, its errors with tracebacks)
    # is held back in favour of that line.
    assert "Traceback" not in result.stderr and "mlflow.store" not in result.stderr, result.stderr
    assert "6 trials: 6 complete" in result.stdout
    assert "MLflow: nothing logged" in result.stdout
    assert took < 60  # the probe gives up after 5 s, not after MLflow's minutes of retries


def test_no_mlflow_turns_it_off_where_the_environment_would_turn_it_on(
    sqlite_url: str, tracking: str
) -> None:
    from optuna_spark.api import optimize

    summary = optimize("quadratic", n_trials=3, storage=sqlite_url, backend="local", mlflow=False)
    assert summary.mlflow is None and summary.finished == 3
    assert (
        mlflow.MlflowClient(tracking).search_experiments(filter_string="name = 'quadratic'") == []
    )


def test_the_best_xgboost_model_is_logged_to_the_parent_run_and_loads_back(
    sqlite_url: str, tracking: str
) -> None:
    from optuna_spark.api import optimize

    summary = optimize(
        "xgboost",
        n_trials=4,
        storage=sqlite_url,
        backend="local",
        tasks=2,
        num_boost_round=40,
        log_best_model=True,
    )
    assert summary.mlflow is not None and summary.mlflow.logged == 4
    assert summary.mlflow.model_uri == f"runs:/{summary.mlflow.parent_run_id}/model"
    model = mlflow.xgboost.load_model(summary.mlflow.model_uri)
    # trained again on the same split with the best trial's parameters: the same score
    assert model.best_score == pytest.approx(summary.best_value, rel=1e-6)
    parent = mlflow.MlflowClient(tracking).get_run(summary.mlflow.parent_run_id)
    assert parent.data.metrics["best_model_score"] == pytest.approx(summary.best_value, rel=1e-6)
    assert parent.info.status == "FINISHED"


SLOW = """
import time

def objective(trial):
    time.sleep(0.3)
    return trial.suggest_float("x", -1, 1) ** 2
"""


def test_ctrl_c_ends_the_parent_run_killed_with_every_finished_trial_logged(
    sqlite_url: str, tracking: str, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    from tests.helpers import finished_so_far

    (tmp_path / "slow.py").write_text(SLOW)
    args = ["run", "--objective", f"{tmp_path / 'slow.py'}:objective", "--backend", "local"]
    args += ["--tasks", "2", "--trials", "40", "--storage", sqlite_url, "--study-name", "c"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "optuna_spark", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and finished_so_far(sqlite_url, "c") < 6:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    client, parents, children = _runs(tracking, "c")
    assert [p.info.status for p in parents] == ["KILLED"]
    # every trial that finished, the ones cancelled by Ctrl-C included (as failed runs)
    _check_children_match_the_storage(client, children, read_trials(sqlite_url, "c"))

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    client, parents, children = _runs(tracking, "c")
    assert sorted(p.info.status for p in parents) == ["FINISHED", "KILLED"]
    _check_children_match_the_storage(client, children, read_trials(sqlite_url, "c"))


# Makes MLflow's store refuse parameters once the first child run is logged: no other child
# run can be logged from then on, though the store still answers.
BREAKS_MLFLOW = """
import sqlite3
import time

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    if trial.number == 4:
        with sqlite3.connect("MLFLOW_DB") as db:
            for _ in range(300):  # until the parent run and a first child run are there
                try:
                    if db.execute("SELECT count(*) FROM runs").fetchone()[0] >= 2:
                        break
                except sqlite3.OperationalError:  # MLflow has not made its tables yet
                    pass
                time.sleep(0.05)
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON params "
                "BEGIN SELECT RAISE(ABORT, 'the store refused it'); END"
            )
    time.sleep(0.2)
    return x * x
"""


def test_logging_that_fails_mid_run_is_one_warning_and_the_parent_run_ends_failed(
    sqlite_url: str, tracking: str, tmp_path: Path
) -> None:
    import sqlite3

    objective = tmp_path / "breaks.py"
    objective.write_text(BREAKS_MLFLOW.replace("MLFLOW_DB", str(tmp_path / "mlflow.db")))
    result = run_cli(
        *("run", "--objective", f"{objective}:objective", "--backend", "local", "--tasks", "2"),
        *("--storage", sqlite_url, "--study-name", "broken", "--trials", "20"),
    )
    assert result.returncode == 0, result.stderr  # the tuning carries on
    assert result.stderr.count("MLflow logging stopped: could not log trials") == 1
    # MLflow's own logging of our calls (a new store's tables, its errors with tracebacks)
    # is held back in favour of that line.
    assert "Traceback" not in result.stderr and "mlflow.store" not in result.stderr, result.stderr
    assert [t.state.name for t in read_trials(sqlite_url, "broken")] == ["COMPLETE"] * 20
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        statuses = db.execute(
            "SELECT status FROM runs WHERE run_uuid NOT IN "
            "(SELECT run_uuid FROM tags WHERE key = ?)",
            (NUMBER_TAG,),
        ).fetchall()
    assert statuses == [("FAILED",)]
