"""Optuna callbacks on the workers: study.stop() in one stops every worker (the budget is
closed), and --patience stops a study whose best value stopped improving."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest

from optuna_spark import optimize
from optuna_spark.callbacks import StopWhenNoImprovement, resolve_callbacks
from optuna_spark.errors import ConfigError
from tests.helpers import (
    read_trials,
    run_cli,
    trial_states,
    unique_study_name,
    with_test_password,
)

# A user's callback module, shipped to the workers as a file: stop once 6 trials are complete.
STOP_AT_SIX = """
import optuna

def stop_at_six(study, trial):
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) >= 6:
        study.stop()
"""

SLOW = """
import time

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    time.sleep(0.2)
    return x * x
"""


def test_patience_stops_after_that_many_trials_without_improvement() -> None:
    values = iter([5.0, 3.0, 4.0, 6.0, 3.5, 9.0, 1.0])
    study = optuna.create_study()
    study.optimize(lambda t: next(values), n_trials=7, callbacks=[StopWhenNoImprovement(3)])
    # Trial 1 (3.0) is the best; trials 2, 3 and 4 do not beat it: the study stops there.
    assert [t.value for t in study.trials] == [5.0, 3.0, 4.0, 6.0, 3.5]


def test_patience_counts_from_the_first_trial_that_reached_the_best_value() -> None:
    """Ties do not improve: a database that returns an equal later trial as the best (MariaDB
    breaks ties in any order) must not restart the count."""
    from types import SimpleNamespace

    from optuna.study import StudyDirection
    from optuna.trial import TrialState, create_trial

    trials = [create_trial(value=v, state=TrialState.COMPLETE) for v in (2.0, 1.0, 1.0, 1.0)]
    for number, trial in enumerate(trials):
        trial.number = number
    stopped: list[bool] = []
    study = SimpleNamespace(
        directions=[StudyDirection.MINIMIZE],
        direction=StudyDirection.MINIMIZE,
        get_trials=lambda deepcopy, states: trials,
        best_trial=trials[-1],  # what an arbitrary tie order may say
        stop=lambda: stopped.append(True),
    )
    StopWhenNoImprovement(2)(study, trials[-1])  # type: ignore[arg-type]
    assert stopped == [True]  # trials 2 and 3 did not beat trial 1


def test_patience_waits_for_a_first_complete_trial_and_ignores_failures() -> None:
    study = optuna.create_study()
    outcomes = itertools.chain([float("nan")] * 4, itertools.repeat(1.0))
    study.optimize(lambda t: next(outcomes), n_trials=20, callbacks=[StopWhenNoImprovement(2)])
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL"] * 4 + ["COMPLETE"] * 3


@pytest.mark.parametrize(
    ("callbacks", "patience", "message"),
    [
        (["nocolon"], None, "callback 'nocolon' is not a reference; use package.module:function"),
        (["no_such_module_x:cb"], None, "callback module 'no_such_module_x' cannot be imported"),
        (["missing.py:cb"], None, "callback file missing.py does not exist"),
        ([lambda s, t: None], 0, "--patience must be a positive number of trials, got 0."),
    ],
)
def test_bad_callbacks_are_one_sentence_before_anything_runs(
    callbacks: list[object], patience: int | None, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_callbacks(callbacks, patience)  # type: ignore[arg-type]
    assert message in str(error.value)


def test_a_bad_callback_writes_nothing(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match="callback module 'no_such_module_x'"):
        optimize(
            "quadratic", 5, storage=sqlite_url, backend="local", callbacks=["no_such_module_x:cb"]
        )
    assert optuna.get_all_study_names(sqlite_url) == []


def _stop_files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "stop.py").write_text(STOP_AT_SIX)
    (tmp_path / "slow.py").write_text(SLOW)
    return f"{tmp_path / 'stop.py'}:stop_at_six", f"{tmp_path / 'slow.py'}:objective"


@pytest.mark.spark
@pytest.mark.usefixtures("spark")
def test_study_stop_in_a_callback_stops_every_spark_worker(sqlite_url: str, tmp_path: Path) -> None:
    callback, objective = _stop_files(tmp_path)
    summary = optimize(
        objective,
        40,
        storage=sqlite_url,
        study_name="stop",
        backend="rdd",
        tasks=2,
        callbacks=[callback],
    )
    states = trial_states(sqlite_url, "stop")
    # Six complete, plus at most the one trial the other worker was running then; a trial a
    # worker had asked ahead and never started is back in the queue, for a later run.
    assert set(states) <= {"COMPLETE", "WAITING"} and 6 <= states["COMPLETE"] <= 7
    assert states.get("WAITING", 0) <= 2
    assert summary.stopped == f"callback {callback} called study.stop()"
    assert summary.exit_code == 0
    assert len({w.pid for w in summary.workers if w.trials}) == 2  # both workers ran trials
    assert sum(w.stop_reason is not None for w in summary.workers) >= 1


@pytest.mark.mysql
@pytest.mark.spark
@pytest.mark.usefixtures("spark")
def test_patience_and_a_pickled_callback_act_across_workers_on_mariadb(
    mysql_env: str, tmp_path: Path
) -> None:
    seen: list[int] = []  # filled on the workers, not here: the callback is a copy there
    study_name = unique_study_name()

    def flat(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        return 1.0  # never improves on the first trial

    def mark(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        study.set_user_attr(f"seen-{trial.number}", True)
        seen.append(trial.number)

    summary = optimize(
        flat,
        50,
        storage=mysql_env,
        study_name=study_name,
        backend="joblibspark",
        tasks=2,
        patience=5,
        callbacks=mark,
    )
    trials = read_trials(with_test_password(mysql_env), study_name)
    # Trial 0 is the best; five more stop the study, plus at most one in flight on each
    # worker (a worker's view of the other's trials may lag one trial: its cache re-reads the
    # study at most every 50 ms, and these trials take about 20 ms).
    assert 6 <= len(trials) <= 8 and {t.state.name for t in trials} == {"COMPLETE"}
    assert summary.stopped == "the best value did not improve for 5 trials (--patience)"
    study = summary.study
    assert {f"seen-{t.number}" for t in trials} == set(study.user_attrs)  # ran for each trial
    assert seen == []  # and on the workers, not in the driver


def test_the_cli_takes_patience_and_callbacks_and_says_why_it_stopped(tmp_path: Path) -> None:

    callback, _ = _stop_files(tmp_path)
    (tmp_path / "flat.py").write_text(
        "def objective(trial):\n    trial.suggest_float('x', 0, 1)\n    return 1.0\n"
    )
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = run_cli(
        "run",
        "--objective",
        f"{tmp_path / 'flat.py'}:objective",
        "--trials",
        "100",
        "--patience",
        "20",  # the callback below stops first
        "--callback",
        callback,
        "--backend",
        "local",
        "--tasks",
        "2",
        "--storage",
        url,
        "--progress",
        "none",
    )
    assert done.returncode == 0, done.stderr
    complete = trial_states(url, "flat.objective")["COMPLETE"]
    assert 6 <= complete <= 7
    assert (
        f"  stopped early: callback {callback} called study.stop(); {100 - complete} trial(s) "
        "not needed\n"
    ) in done.stdout
