"""--trial-timeout: a trial still running after S seconds is failed as "timed out after S s"
within S + 10 s, counts as a failed trial, and the run still ends with its budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from optuna_spark import optimize
from optuna_spark.errors import ConfigError
from tests.helpers import read_trials, unique_study_name, with_test_password

# Trial 3 hangs in Python code (a sleep): the signal interrupts it.
HANGS = """
import time

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    time.sleep(60 if trial.number == 3 else 0.1)
    return x * x
"""

# Trial 2 blocks the timer signal first, like native code that never returns to Python: only
# the watchdog can end it, by failing the trial and replacing its worker.
STUCK = """
import signal
import time

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    if trial.number == 2:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        time.sleep(60)
    time.sleep(0.1)
    return x * x
"""


def _timed_out(trials: list, seconds: str) -> list:
    return [
        t for t in trials if t.system_attrs.get("fail_reason") == f"timed out after {seconds} s"
    ]


@pytest.mark.spark
@pytest.mark.usefixtures("spark")
def test_a_hanging_trial_on_the_rdd_backend_fails_and_the_budget_is_kept(
    any_storage: str, tmp_path: Path
) -> None:
    (tmp_path / "hangs.py").write_text(HANGS)
    name = unique_study_name()
    started = time.monotonic()
    summary = optimize(
        f"{tmp_path / 'hangs.py'}:objective",
        10,
        storage=any_storage,
        study_name=name,
        backend="rdd",
        tasks=2,
        trial_timeout=2,
    )
    elapsed = time.monotonic() - started
    trials = read_trials(with_test_password(any_storage), name)
    states = sorted(t.state.name for t in trials)
    assert states == ["COMPLETE"] * 9 + ["FAIL"]
    (late,) = _timed_out(trials, "2")
    assert late.number == 3 and late.state.name == "FAIL"
    assert (late.datetime_complete - late.datetime_start).total_seconds() < 2 + 10
    assert summary.finished == 10 and summary.exit_code == 0
    assert not any(w.error for w in summary.workers)  # the worker went on with its next trial
    assert elapsed < 60


def test_a_trial_stuck_outside_python_is_failed_and_its_worker_replaced(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "stuck.py").write_text(STUCK)
    summary = optimize(
        f"{tmp_path / 'stuck.py'}:objective",
        6,
        storage=sqlite_url,
        study_name="s",
        backend="local",
        tasks=2,
        trial_timeout=1,
    )
    trials = read_trials(sqlite_url, "s")
    (late,) = _timed_out(trials, "1")
    assert late.number == 2
    assert (late.datetime_complete - late.datetime_start).total_seconds() < 1 + 10
    # A counted failure, not a lost trial: nothing retried it, and the budget is whole.
    assert not any(t.system_attrs.get("failed_trial") == 2 for t in trials)
    assert sorted(t.state.name for t in trials) == ["COMPLETE"] * 5 + ["FAIL"]
    assert summary.finished == 6
    assert any("its trial ran past --trial-timeout" in (w.error or "") for w in summary.workers)


@pytest.mark.parametrize("seconds", [0, -1.5])
def test_a_non_positive_trial_timeout_is_refused(sqlite_url: str, seconds: float) -> None:
    with pytest.raises(ConfigError, match=r"^trial_timeout must be a positive number of seconds"):
        optimize("quadratic", 3, storage=sqlite_url, backend="local", trial_timeout=seconds)
