"""Asking for the next trial while the current one runs: when, and that budgets stay exact."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from optuna_spark.config import BackendSpec, RunConfig, SamplerSpec, StorageSpec
from optuna_spark.plan import prefetch_enabled
from optuna_spark.prefetch import RECENT_TRIALS, seen_space, shared_space, should_prefetch
from optuna_spark.runner import run_study
from optuna_spark.storage import CANCELLED_ATTR
from tests.helpers import read_trials


@pytest.mark.parametrize(
    ("workers", "objective_s", "gap_s", "expected"),
    [
        (2, 0.5, 0.025, True),  # the benchmark's case: a 5% gap, well hidden behind 0.5 s
        (8, 30.0, 0.5, True),  # 1.7%: still worth it
        (1, 0.5, 0.025, False),  # a lone worker keeps Optuna's sequential behaviour
        (2, 10.0, 0.02, False),  # 0.2%: not worth sampling ahead
        (2, 0.0005, 0.02, False),  # a trivial objective: nothing to hide the work behind
        (2, 0.06, 0.02, False),  # shorter than four gaps
    ],
)
def test_when_to_prefetch(workers: int, objective_s: float, gap_s: float, expected: bool) -> None:
    assert should_prefetch(workers, objective_s, gap_s) is expected


@pytest.mark.parametrize(
    ("objective_s", "gap_s", "hidden_s", "expected"),
    [
        (0.5, 0.0025, 0.025, True),  # asked ahead: a 2.5 ms gap left of 27.5, still worth it
        (0.5, 0.0025, 0.0, False),  # the same gap with nothing hidden: not worth asking ahead
        (0.15, 0.005, 0.08, True),  # a loaded machine: the ask took 80 ms, inside the 150
        (0.001, 0.001, 0.02, False),  # a trivial objective: the ask does not fit inside it
    ],
)
def test_asking_ahead_is_judged_on_the_gap_it_hides(
    objective_s: float, gap_s: float, hidden_s: float, expected: bool
) -> None:
    assert should_prefetch(2, objective_s, gap_s, hidden_s) is expected


def test_shared_space_keeps_what_every_trial_had() -> None:
    x, y = FloatDistribution(0, 1), FloatDistribution(-1, 1)
    c = CategoricalDistribution(["a", "b"])
    space = shared_space(None, {"x": x, "y": y, "c": c})
    assert space == {"x": x, "y": y, "c": c}
    space = shared_space(space, {"x": x, "c": c})  # y is conditional
    assert space == {"x": x, "c": c}
    assert shared_space(space, {"x": FloatDistribution(0, 2), "c": c}) == {"c": c}


def test_seen_space_keeps_every_branch_of_the_latest_trials() -> None:
    svm_c, lr_c = FloatDistribution(0.1, 100, log=True), FloatDistribution(1e-3, 0.1, log=True)
    model = CategoricalDistribution(["svm", "lr"])
    seen = seen_space({}, {"model": model, "C": svm_c}, 0)
    seen = seen_space(seen, {"model": model, "C": lr_c}, 1)
    # Both ranges of "C" are sampled ahead: whichever branch the next trial takes is answered.
    assert set(seen) == {("model", model), ("C", svm_c), ("C", lr_c)}
    for index in range(2, RECENT_TRIALS + 1):  # svm's "C" is not asked again for a while
        seen = seen_space(seen, {"model": model, "C": lr_c}, index)
    assert set(seen) == {("model", model), ("C", lr_c)}


def test_prefetch_is_on_unless_turned_off_and_needs_answer_ahead_for_users() -> None:
    builtin, user = SimpleNamespace(kind="builtin"), SimpleNamespace(kind="file")
    assert prefetch_enabled(None, builtin, True) and prefetch_enabled(None, user, True)
    assert not prefetch_enabled(False, user, True) and not prefetch_enabled(False, builtin, True)
    # An Optuna whose trial cannot hold values until asked: a user's objective never asks
    # ahead (its conditional parameters would be recorded); fixed spaces still do.
    assert prefetch_enabled(None, builtin, False) and not prefetch_enabled(True, user, False)


SLEEPY = """
import time

def objective(trial):
    x = trial.suggest_float("x", -1, 1)
    y = trial.suggest_int("y", 0, 3)
    # Values answered ahead are written in the background: the trial's own view has them now.
    assert trial.params == {"x": x, "y": y} and trial.suggest_float("x", -1, 1) == x
    time.sleep(0.3)  # long against the gap (20-30 ms), even on a loaded machine
    return x * x + y
"""

CONDITIONAL = """
import time

def objective(trial):
    x = trial.suggest_float("x", -1, 1)
    if x > 0:
        trial.suggest_float("only_positive", 0, 1)
    time.sleep(0.15)
    return x * x
"""

# Each model asks its own parameters; svm and lr both ask "C", from different ranges.
MODELS = """
import time

def objective(trial):
    model = trial.suggest_categorical("model", ["svm", "rf", "lr"])
    if model == "svm":
        c = trial.suggest_float("C", 0.1, 100, log=True)
        gamma = trial.suggest_float("gamma", 1e-4, 1, log=True)
        score = (c - 1) ** 2 + gamma
    elif model == "rf":
        depth = trial.suggest_int("max_depth", 2, 12)
        trees = trial.suggest_int("n_estimators", 10, 200)
        score = depth + trees / 100
    else:
        c = trial.suggest_float("C", 1e-3, 0.1, log=True)
        score = c
    time.sleep(0.15)
    return score
"""
BRANCHES = {
    "svm": {"model", "C", "gamma"},
    "rf": {"model", "max_depth", "n_estimators"},
    "lr": {"model", "C"},
}


def _config(url: str, source: Path, trials: int, tasks: int, **extra: object) -> RunConfig:
    return RunConfig(
        storage=StorageSpec(url),
        objective=f"{source}:objective",
        study_name="p",
        trials=trials,
        backend=BackendSpec(name="local", tasks=tasks),
        sampler=SamplerSpec(seed=5),
        **extra,
    )  # type: ignore[arg-type]


def test_two_workers_prefetch_and_the_budget_stays_exact(sqlite_url: str, tmp_path: Path) -> None:
    source = tmp_path / "sleepy.py"
    source.write_text(SLEEPY)
    summary = run_study(_config(sqlite_url, source, 20, 2, prefetch=True))
    trials = read_trials(sqlite_url, "p")
    assert len(trials) == 20 and {t.state.name for t in trials} == {"COMPLETE"}
    assert sum(w.prefetched for w in summary.workers) >= 8  # most trials were asked ahead
    for trial in trials:
        assert -1 <= trial.params["x"] <= 1 and trial.params["y"] in range(4)
        assert trial.value == trial.params["x"] ** 2 + trial.params["y"]


def test_a_conditional_space_asked_ahead_records_exactly_what_each_branch_asked(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "models.py"
    source.write_text(MODELS)
    summary = run_study(_config(sqlite_url, source, 30, 2, prefetch=True))
    assert sum(w.prefetched for w in summary.workers) >= 10
    trials = read_trials(sqlite_url, "p")
    assert len(trials) == 30 and {t.state.name for t in trials} == {"COMPLETE"}
    assert {t.params["model"] for t in trials} == {"svm", "rf", "lr"}
    for trial in trials:
        model = trial.params["model"]
        assert set(trial.params) == BRANCHES[model], trial.params
        if model == "svm":  # a value sampled ahead for the other "C" was never used here
            assert 0.1 <= trial.params["C"] <= 100
        elif model == "lr":
            assert 1e-3 <= trial.params["C"] <= 0.1


def test_a_conditional_parameter_stays_conditional(sqlite_url: str, tmp_path: Path) -> None:
    source = tmp_path / "conditional.py"
    source.write_text(CONDITIONAL)
    summary = run_study(_config(sqlite_url, source, 16, 2, prefetch=True))
    assert sum(w.prefetched for w in summary.workers) >= 4
    for trial in read_trials(sqlite_url, "p"):
        assert ("only_positive" in trial.params) == (trial.params["x"] > 0)


def test_a_user_objective_asks_ahead_by_default_and_not_with_no_prefetch(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "sleepy.py"
    source.write_text(SLEEPY)
    summary = run_study(_config(sqlite_url, source, 12, 2))
    assert summary.counts["COMPLETE"] == 12
    assert sum(w.prefetched for w in summary.workers) >= 4
    summary = run_study(_config(sqlite_url, source, 20, 2, prefetch=False))
    assert summary.counts["COMPLETE"] == 20
    assert sum(w.prefetched for w in summary.workers) == 0


def test_a_trial_asked_ahead_is_timed_from_when_its_objective_starts(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Two workers never run more than two trials at once, so no more than two trials'
    [start, complete] spans overlap, although each worker holds a third trial asked ahead
    while its current one runs (without the restarted clock: up to four)."""
    source = tmp_path / "sleepy.py"
    source.write_text(SLEEPY)
    summary = run_study(_config(sqlite_url, source, 16, 2))
    assert sum(w.prefetched for w in summary.workers) >= 6
    trials = read_trials(sqlite_url, "p")
    events = sorted(
        [(t.datetime_start, 1) for t in trials] + [(t.datetime_complete, -1) for t in trials],
        key=lambda event: (event[0], event[1]),  # an end before a start at the same instant
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most <= 2


def test_a_lone_worker_never_prefetches(sqlite_url: str, tmp_path: Path) -> None:
    source = tmp_path / "sleepy.py"
    source.write_text(SLEEPY)
    summary = run_study(_config(sqlite_url, source, 6, 1, prefetch=True))
    assert summary.counts["COMPLETE"] == 6 and summary.workers[0].prefetched == 0


BROKEN = """
import time

def objective(trial):
    trial.suggest_float("x", 0, 1)
    # Longer than the ask on the helper thread and four of the gaps left, with room to spare
    # under load (Optuna 4.1 on SQLite: asks up to 40 ms), or the worker stops asking ahead.
    time.sleep(0.3)
    raise RuntimeError("broken")
"""


def test_a_trial_asked_ahead_and_never_run_goes_back_to_the_queue(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "broken.py"
    source.write_text(BROKEN)
    summary = run_study(_config(sqlite_url, source, 40, 2, max_consecutive_failures=4))
    assert summary.objective_failed and summary.exit_code == 1
    assert sum(w.prefetched for w in summary.workers) >= 1
    trials = read_trials(sqlite_url, "p")
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and CANCELLED_ATTR not in str([t.system_attrs for t in trials])
    ran = [t for t in trials if t.state.name == "FAIL"]
    queued = [t for t in trials if t.state.name == "WAITING"]
    assert all("RuntimeError: broken" in t.system_attrs["fail_reason"] for t in ran)
    # Never started: no parameter recorded (the one sampled ahead was never asked for).
    assert queued and all(t.params == {} for t in queued), states
    assert summary.counts["COUNTED"] == len(ran)
    # The next run takes the queued trials first: none is left waiting, none runs twice.
    source.write_text(SLEEPY)
    run_study(_config(sqlite_url, source, len(ran) + 6, 2))
    trials = read_trials(sqlite_url, "p")
    assert [t.state.name for t in trials].count("COMPLETE") == 6
    assert "WAITING" not in {t.state.name for t in trials}
    assert {t.number for t in queued} <= {t.number for t in trials if t.state.name == "COMPLETE"}


HALF_SECOND = """
import time

def objective(trial):
    x = trial.suggest_float("x", -1, 1)
    time.sleep(0.5)
    return x * x
"""


def test_asking_ahead_stays_on_once_it_hides_the_gap(sqlite_url: str, tmp_path: Path) -> None:
    """With the ask and the trial's end off its path, a worker's gap between two 0.5 s
    objectives is 2-3 ms, under 1% of the objective: judged on that gap alone, asking ahead
    would turn itself off every other trial. Every trial from each worker's third on is
    asked ahead (two spare for a loaded machine)."""
    source = tmp_path / "half.py"
    source.write_text(HALF_SECOND)
    summary = run_study(_config(sqlite_url, source, 16, 2))
    assert summary.counts["COMPLETE"] == 16
    ran = [w for w in summary.workers if w.trials]
    assert sum(w.prefetched for w in summary.workers) >= 16 - 2 * len(ran) - 2


# A user's callback that needs the trial it is given to be in the stored study already.
STORED_CHECK = """
import optuna

def stored(study, trial):
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    if states.get(trial.number) != optuna.trial.TrialState.COMPLETE:
        raise RuntimeError(f"trial {trial.number} is {states.get(trial.number)} in the study")
"""


def test_a_users_callback_finds_its_trial_stored_while_asking_ahead(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A trial's end is written behind the next objective's start only when no callback of
    the user's may read the study first."""
    source = tmp_path / "sleepy.py"
    source.write_text(SLEEPY)
    callback = tmp_path / "checks.py"
    callback.write_text(STORED_CHECK)
    summary = run_study(_config(sqlite_url, source, 16, 2, callbacks=(f"{callback}:stored",)))
    assert summary.exit_code == 0, [w.error for w in summary.workers]
    assert summary.counts["COMPLETE"] == 16
    assert sum(w.prefetched for w in summary.workers) >= 6


def test_a_trial_end_that_could_not_be_written_stops_the_worker_at_its_next_claim() -> None:
    import time

    import optuna

    from optuna_spark.prefetch import Prefetcher

    study = optuna.create_study()
    prefetcher = Prefetcher(study, lambda: True, n_workers=2)
    first = study.ask()
    prefetcher.objective_started(first)
    time.sleep(0.3)  # the objective
    prefetcher.objective_ended(first)
    study.tell(first, 1.0)
    time.sleep(0.02)  # a gap of 7% of the objective: worth asking ahead
    second = study.ask()
    prefetcher.objective_started(second)
    assert prefetcher.accepts()

    def refused() -> None:
        raise RuntimeError("the database went away")

    prefetcher.run(refused)
    prefetcher.objective_ended(second)
    time.sleep(0.1)  # the helper thread runs the write
    with pytest.raises(RuntimeError, match="went away"):
        prefetcher.next_slot()
    with pytest.raises(RuntimeError, match="went away"):
        prefetcher.close()
    assert not prefetcher.accepts()
