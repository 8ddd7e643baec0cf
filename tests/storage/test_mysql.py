"""MySQL/MariaDB storage against a real server started by scripts/setup-mysql.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from optuna_spark.config import BackendSpec, RunConfig, SamplerSpec, StorageSpec
from optuna_spark.runner import run_study
from tests.helpers import (
    TEST_DB_PASSWORD,
    read_trials,
    run_cli,
    unique_study_name,
    with_test_password,
)

pytestmark = pytest.mark.mysql


def _assert_no_secret(done: subprocess.CompletedProcess[str]) -> None:
    assert TEST_DB_PASSWORD not in done.stdout + done.stderr


@pytest.mark.spark
def test_run_two_spark_tasks_exact_budget(mysql_env: str, tmp_path: Path) -> None:
    study = unique_study_name()
    done = run_cli(
        "run",
        "--storage",
        mysql_env,
        "--study-name",
        study,
        "--objective",
        "quadratic",
        "--trials",
        "30",
        "--tasks",
        "2",
        "--jobs",
        "8",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_no_secret(done)
    assert "mysql://optuna_user@127.0.0.1" in done.stdout
    trials = read_trials(with_test_password(mysql_env), study)
    assert len(trials) == 30 and {t.state.name for t in trials} == {"COMPLETE"}
    assert sorted(t.number for t in trials) == list(range(30))


def test_four_concurrent_workers_no_deadlock(mysql_env: str) -> None:
    # Four worker processes (the local backend does not cap at the core count; local[2]
    # Spark would) race for 200 fast trials on one server.
    study = unique_study_name()
    config = RunConfig(
        storage=StorageSpec(mysql_env),
        objective="quadratic",
        study_name=study,
        trials=200,
        backend=BackendSpec(name="local", tasks=4),
        sampler=SamplerSpec(name="random", seed=1),
    )
    summary = run_study(config)
    assert not summary.worker_errors and len(summary.workers) == 4
    assert sum(w.trials for w in summary.workers) == 200
    trials = read_trials(with_test_password(mysql_env), study)
    assert len(trials) == 200 and {t.state.name for t in trials} == {"COMPLETE"}
    assert len({t.number for t in trials}) == 200


def test_password_file_and_management_commands(
    mysql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPTUNA_SPARK_DB_PASSWORD", raising=False)
    secret = tmp_path / "pw"
    secret.write_text(TEST_DB_PASSWORD + "\n")
    study = unique_study_name()
    common = ["--storage", mysql_url, "--password-file", str(secret)]
    steps = [
        ["create-study", "--study-name", study, "--direction", "maximize", *common],
        [
            "run",
            "--study-name",
            study,
            "--objective",
            "quadratic",
            "--backend",
            "local",
            "--trials",
            "6",
            "--quiet",
            *common,
        ],
        ["studies", "--format", "csv", *common],
        ["best", "--study-name", study, "--format", "json", *common],
        ["trials", "--study-name", study, *common],
        ["delete-study", "--study-name", study, "--yes", *common],
    ]
    outputs = []
    for step in steps:
        done = run_cli(*step, cwd=tmp_path)
        assert done.returncode == 0, (step, done.stderr)
        _assert_no_secret(done)
        outputs.append(done.stdout)
    assert "(maximize)" in outputs[1] and "6 trials: 6 complete" in outputs[1]
    assert f"{study},maximize,6,0,0,0," in outputs[2]
    assert '"state": "COMPLETE"' in outputs[3]
    assert len(outputs[4].splitlines()) == 7
    assert "its 6 trial(s)" in outputs[5]


@pytest.mark.parametrize("form", ["user", "password", "passwd"])
def test_secret_in_url_is_masked_everywhere(mysql_url: str, tmp_path: Path, form: str) -> None:
    wrong_db = mysql_url.replace("/optuna_test", "/nope")
    url = (
        with_test_password(wrong_db)
        if form == "user"
        else f"{wrong_db}?{form}={TEST_DB_PASSWORD}"  # the forms SQLAlchemy hands the driver
    )
    done = run_cli("studies", "--storage", url, cwd=tmp_path)
    assert done.returncode == 1
    assert ("optuna_user:***@" if form == "user" else f"?{form}=***") in done.stderr
    _assert_no_secret(done)


def test_the_api_result_loads_its_study_with_the_password_from_a_file(
    mysql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optuna_spark import optimize

    monkeypatch.delenv("OPTUNA_SPARK_DB_PASSWORD", raising=False)
    secret = tmp_path / "pw"
    secret.write_text(TEST_DB_PASSWORD)
    study_name = unique_study_name()
    summary = optimize(
        "quadratic",
        n_trials=6,
        storage=mysql_url,
        password_file=str(secret),
        study_name=study_name,
        backend="local",
        tasks=2,
    )
    study = summary.study  # no password in the environment: the summary keeps the file's
    assert study.study_name == study_name and len(study.trials) == 6
    assert study.best_trial.number == summary.best_trial
    assert TEST_DB_PASSWORD not in repr(summary) + str(summary.storage)
