"""Whole runs on the ``local`` backend (worker processes, real SQLite, no Spark)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from optuna_spark import optimize
from optuna_spark.config import BackendSpec, RunConfig, SamplerSpec, StorageSpec
from optuna_spark.errors import StudyError
from optuna_spark.runner import run_study
from tests.helpers import assert_quadratic_best_reported, finished, read_trials, trial_states


def _config(url: str, trials: int, **extra) -> RunConfig:
    return RunConfig(
        storage=StorageSpec(url),
        objective="quadratic",
        study_name="q",
        trials=trials,
        backend=BackendSpec(name="local", tasks=2),
        sampler=SamplerSpec(seed=7),
        **extra,
    )


def test_exact_budget_resume_and_fresh(sqlite_url: str) -> None:
    first = run_study(_config(sqlite_url, 20))
    assert finished(sqlite_url, "q") == 20 and first.added == 20 and first.created
    assert_quadratic_best_reported(sqlite_url, "q", first.best_value)
    assert set(first.best_params) == {"x", "y"}

    again = run_study(_config(sqlite_url, 20))  # same command: nothing missing, nothing run
    assert again.plan.nothing_to_do and again.added == 0 and not again.created
    assert finished(sqlite_url, "q") == 20

    more = run_study(_config(sqlite_url, 31))  # a larger budget runs only the difference
    assert more.added == 11 and finished(sqlite_url, "q") == 31

    fresh = run_study(_config(sqlite_url, 5, fresh=True))
    assert fresh.created and fresh.added == 5 and finished(sqlite_url, "q") == 5


def test_direction_conflict_is_refused_before_any_trial(sqlite_url: str) -> None:
    run_study(_config(sqlite_url, 2))
    with pytest.raises(StudyError, match="already exists with direction minimize, not maximize"):
        run_study(_config(sqlite_url, 4, direction="maximize"))
    assert finished(sqlite_url, "q") == 2


def test_python_api_with_a_closure(sqlite_url: str) -> None:
    target = 0.25
    summary = optimize(
        lambda trial: (trial.suggest_float("x", 0, 1) - target) ** 2,
        n_trials=12,
        storage=sqlite_url,
        study_name="api",
        backend="local",
        tasks=2,
        seed=3,
    )
    assert summary.finished == 12 and summary.best_value is not None and summary.best_value < 0.1
    assert trial_states(sqlite_url, "api") == {"COMPLETE": 12}
    # What Optuna users reach for next: the study itself.
    study = summary.study
    assert study.best_trial.number == summary.best_trial and study.best_value == summary.best_value
    frame = study.trials_dataframe()
    assert len(frame) == 12 and set(frame["state"]) == {"COMPLETE"}
    assert summary.study is study  # loaded once


def test_a_broken_objective_stops_the_run_early_with_its_traceback(
    sqlite_url: str, tmp_path: Path
) -> None:
    from optuna_spark.console import format_summary

    path = tmp_path / "broken.py"
    path.write_text("def objective(trial):\n    raise RuntimeError('model exploded')\n")
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective=f"{path}:objective",
        study_name="b",
        trials=50,
        backend=BackendSpec(name="local", tasks=2),
        max_consecutive_failures=2,
    )
    summary = run_study(config)
    # The first worker to fail twice in a row closed the budget: a handful of failed trials,
    # not 50, each with its reason stored on the trial.
    trials = read_trials(sqlite_url, "b")
    assert 2 <= len(trials) <= 4 and {t.state.name for t in trials} == {"FAIL"}
    assert {t.system_attrs["fail_reason"] for t in trials} == {"RuntimeError: model exploded"}
    assert summary.exit_code == 1
    assert summary.stopped == "the objective failed 2 times in a row (--max-failures)"
    text = format_summary(summary)
    assert "fix the objective, then run the same command again" in text
    # where it failed, and with --debug the user's whole traceback
    assert f"the objective's first failure at {path}, line 2, in objective" in text
    assert "raise RuntimeError('model exploded')" in format_summary(summary, debug=True)
    assert re.fullmatch(
        r"the objective failed too often in a row \(--max-failures\), first trial \d: "
        r"RuntimeError: model exploded; fix it, then run the same command again to add the "
        rf"{50 - len(trials)} missing trial\(s\)\.",
        summary.failure or "",
    )


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_trial_lost_with_its_worker_is_failed_retried_and_not_counted(sqlite_url: str) -> None:
    """A previous run died mid-trial: its trial is RUNNING with a heartbeat that stopped. The
    next run fails it after the grace period, tries its parameters again, and still ends with
    exactly the budget of counted trials."""
    import time

    import optuna

    from optuna_spark.config import HeartbeatSpec

    heartbeat = HeartbeatSpec(interval=1, grace_period=2, max_retry=2)
    run_study(_config(sqlite_url, 3, heartbeat=heartbeat))
    storage = optuna.storages.RDBStorage(sqlite_url, heartbeat_interval=1, grace_period=2)
    study = optuna.load_study(study_name="q", storage=storage)
    crashed = study.ask(
        {
            "x": optuna.distributions.FloatDistribution(-10, 10),
            "y": optuna.distributions.FloatDistribution(-10, 10),
        }
    )
    storage.record_heartbeat(crashed._trial_id)
    time.sleep(2.5)  # the heartbeat is now older than the grace period

    summary = run_study(_config(sqlite_url, 8, heartbeat=heartbeat))

    trials = read_trials(sqlite_url, "q")
    lost = trials[crashed.number]
    assert lost.state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == crashed.number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == lost.params
    # 8 counted trials, the lost one not among them, nothing left running.
    assert summary.counts["COUNTED"] == 8 and summary.counts["LOST"] == 1
    assert summary.counts["RUNNING"] == 0 and summary.counts["FAIL"] == 1
    assert len(trials) == 9
