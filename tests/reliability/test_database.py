"""The database server restarted in the middle of a run (real MariaDB)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest

from optuna_spark.config import BackendSpec, MlflowSpec, RunConfig, SamplerSpec, StorageSpec
from optuna_spark.mlflow_runs import NUMBER_TAG
from optuna_spark.runner import run_study
from tests.helpers import (
    TEST_DB_PASSWORD,
    free_port,
    read_trials,
    silent_listener,
    unique_study_name,
    with_test_password,
)

SLOW_OBJECTIVE = """
import time

def objective(trial):
    time.sleep(0.1)
    x = trial.suggest_float("x", -10, 10)
    return (x - 1) ** 2
"""


@pytest.mark.mysql
def test_server_restart_mid_run_does_not_end_the_study(
    mariadb, mysql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record
) -> None:
    """Stop the server while two workers run trials, keep it down 15 s, start it again: the
    workers wait, carry on, and the study ends with exactly its budget and nothing RUNNING.
    MLflow tracking (on by default on Databricks) waits too: every trial is one child run."""
    import mlflow

    monkeypatch.setenv("OPTUNA_SPARK_DB_PASSWORD", TEST_DB_PASSWORD)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    mysql_env = mysql_url
    if mariadb.script_args is None:
        pytest.skip("OPTUNA_SPARK_TEST_MYSQL_URL names a server this suite cannot restart")
    source = tmp_path / "slow.py"
    source.write_text(SLOW_OBJECTIVE)
    study = unique_study_name()
    config = RunConfig(
        storage=StorageSpec(mysql_env),
        objective=f"{source}:objective",
        study_name=study,
        trials=80,
        backend=BackendSpec(name="local", tasks=2),
        sampler=SamplerSpec(seed=3),
        mlflow=MlflowSpec(experiment="restart"),
    )
    outcome: dict[str, object] = {}

    def drive() -> None:
        try:
            outcome["summary"] = run_study(config)
        except BaseException as exc:
            outcome["error"] = exc

    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.monotonic() + 120
    while _finished_or_empty(mysql_env, study) < 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    done_before = _finished_or_empty(mysql_env, study)
    mariadb.stop()
    time.sleep(15)
    mariadb.start()
    restarted = time.monotonic()
    driver.join(timeout=180)
    recovered = time.monotonic() - restarted

    assert not driver.is_alive()
    assert "error" not in outcome, outcome.get("error")
    trials = read_trials(with_test_password(mysql_env), study)
    states = [t.state.name for t in trials]
    others = [
        (t.number, t.state.name, t.system_attrs) for t in trials if t.state.name != "COMPLETE"
    ]
    assert states.count("COMPLETE") == 80 and "RUNNING" not in states, (len(trials), others)
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    summary = outcome["summary"]
    assert summary.mlflow.error is None, summary.mlflow.error  # type: ignore[attr-defined]
    client = mlflow.MlflowClient(tracking)
    experiment = client.get_experiment_by_name("restart")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    children = [r for r in runs if NUMBER_TAG in r.data.tags]
    finished = sorted(t.number for t in trials if t.state.is_finished())
    assert sorted(int(r.data.tags[NUMBER_TAG]) for r in children) == finished
    assert [r.info.status for r in runs if NUMBER_TAG not in r.data.tags] == ["FINISHED"]
    record(
        "database restart",
        "MariaDB stopped for 15 s while 2 workers ran an 80-trial study, MLflow tracking on",
        "workers and MLflow logging waited and carried on: exactly 80 complete and "
        f"{len(children)} child runs, {done_before} finished before the stop all kept",
        0,
        recovered,
    )


def _finished_or_empty(url: str, study: str) -> int:
    """Finished trials so far, by plain SQL (an Optuna storage object would race the driver
    creating its tables); 0 until the study exists."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(with_test_password(url))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sqlalchemy.text(
                        "SELECT COUNT(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
                        "WHERE s.study_name = :name AND t.state IN ('COMPLETE', 'PRUNED', 'FAIL')"
                    ),
                    {"name": study},
                ).scalar_one()
            )
    except sqlalchemy.exc.SQLAlchemyError:
        return 0
    finally:
        engine.dispose()


@pytest.mark.mysql
def test_unreachable_or_refusing_database_at_start(
    mysql_url: str, tmp_path: Path, record, scanned
) -> None:
    """A server that never answers, a port that refuses, a wrong password, a missing database:
    each is one sentence within 10 s and a non-zero exit, for run and for the study commands."""
    # Optuna's tables must exist for "ghost" to be a missing study, not a database without
    # tables (which other tests create when the whole suite runs, but not when this one runs alone).
    optuna.create_study(study_name=unique_study_name(), storage=with_test_password(mysql_url))
    port, stop = silent_listener()
    refused = free_port()  # nobody listens there: connections are refused
    try:
        good_host = mysql_url.rsplit("/", 1)[0]
        wrong_pw = tmp_path / "wrong"
        wrong_pw.write_text("not-the-password")
        silent = f"mysql://optuna_user@127.0.0.1:{port}/optuna"
        cases = [
            (["run", "--storage", silent], "did not answer within 5 s"),
            (["best", "--study-name", "x", "--storage", silent], "did not answer within 5 s"),
            (
                [
                    "best",
                    "--study-name",
                    "x",
                    "--storage",
                    silent.replace("mysql:", "mysql+pymysql:"),
                ],
                "did not answer within 5 s",
            ),
            (
                ["run", "--storage", f"mysql://optuna_user@127.0.0.1:{refused}/optuna"],
                "cannot reach the database server",
            ),
            (
                ["run", "--storage", mysql_url, "--password-file", str(wrong_pw)],
                "refused the login",
            ),
            (
                [
                    "best",
                    "--study-name",
                    "x",
                    "--storage",
                    mysql_url,
                    "--password-file",
                    str(wrong_pw),
                ],
                "refused the login",
            ),
            (
                ["run", "--storage", f"{good_host}/no_such_db"],
                "does not exist or this user has no rights",
            ),
            (
                ["best", "--storage", mysql_url, "--study-name", "ghost"],
                "study 'ghost' does not exist",
            ),
        ]
        slowest = 0.0
        for args, fragment in cases:
            if args[0] == "run":
                args = [*args, "--objective", "quadratic", "--backend", "local", "--quiet"]
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "optuna_spark", *args],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                env={**os.environ, "OPTUNA_SPARK_DB_PASSWORD": TEST_DB_PASSWORD},
            )
            elapsed = time.monotonic() - started
            slowest = max(slowest, elapsed)
            assert done.returncode == 1, (args, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and fragment in lines[0], (args, done.stderr)
            assert "Traceback" not in done.stderr
            scanned(done.stdout + done.stderr)
            assert elapsed < 10, (args, elapsed)
    finally:
        stop.set()
    record(
        "database unreachable at start",
        f"{len(cases)} starts against a silent listener, a refusing port, a wrong password and "
        "a missing database or study (run and best; mysqlclient and pymysql)",
        f"one sentence and exit 1 each, slowest {slowest:.1f} s (limit 10 s)",
        0,
    )
