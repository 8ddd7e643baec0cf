"""The lean storage path: fewer statements per trial, same answers as Optuna's own storage."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from sqlalchemy import event

from optuna_spark.internals import CachedStorageBase as _CachedStorage
from optuna_spark.internals import UpdateFinishedTrialError
from optuna_spark.storage.lean_cache import LeanCachedStorage

X = FloatDistribution(0, 1)


def _pair(url: str, max_age: float = 60.0) -> tuple[LeanCachedStorage, LeanCachedStorage, int]:
    """Two workers' storages on one study."""
    first = LeanCachedStorage(optuna.storages.RDBStorage(url), max_age=max_age)
    second = LeanCachedStorage(optuna.storages.RDBStorage(url), max_age=max_age)
    study_id = first.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    return first, second, study_id


def test_own_trial_reads_show_its_writes_and_match_the_database(sqlite_url: str) -> None:
    mine, other, study_id = _pair(sqlite_url)
    trial_id = mine.create_new_trial(study_id)
    assert mine.get_trial(trial_id).params == {}
    mine.set_trial_param(trial_id, "x", 0.25, X)
    mine.set_trial_user_attr(trial_id, "device", "cpu")
    mine.set_trial_system_attr(trial_id, "k", [1])
    mine.set_trial_intermediate_value(trial_id, 3, 1.5)
    seen_here, seen_there = mine.get_trial(trial_id), other.get_trial(trial_id)
    for trial in (seen_here, seen_there):
        assert trial.params == {"x": 0.25} and trial.distributions == {"x": X}
        assert trial.user_attrs == {"device": "cpu"} and trial.system_attrs["k"] == [1]
        assert trial.intermediate_values == {3: 1.5} and trial.state == TrialState.RUNNING
    seen_here.params["x"] = 9  # a caller's copy: changing it changes nothing here
    assert mine.get_trial(trial_id).params == {"x": 0.25}
    mine.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.5])
    finished = mine.get_trial(trial_id)  # served from the local copy, finished
    assert finished.state == TrialState.COMPLETE and finished.values == [0.5]
    assert finished.params == {"x": 0.25} and finished.datetime_complete is not None
    stored = mine.get_all_trials(study_id)[0]  # the re-read brings the stored version
    assert stored.values == [0.5] and stored.params == {"x": 0.25}
    assert other.get_trial(trial_id).values == [0.5]


def test_a_trial_failed_elsewhere_cannot_be_completed_and_reads_failed(sqlite_url: str) -> None:
    mine, other, study_id = _pair(sqlite_url)
    trial_id = mine.create_new_trial(study_id)
    mine.get_trial(trial_id)  # now cached here
    other.set_trial_state_values(trial_id, TrialState.FAIL)  # e.g. found stale, or cancelled
    with pytest.raises(UpdateFinishedTrialError):
        mine.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    assert mine.get_trial(trial_id).state == TrialState.FAIL


def test_other_workers_results_arrive_within_max_age_and_own_results_at_once(
    sqlite_url: str,
) -> None:
    mine, other, study_id = _pair(sqlite_url, max_age=60.0)
    assert mine.get_all_trials(study_id) == []
    theirs = other.create_new_trial(study_id)
    other.set_trial_state_values(theirs, TrialState.COMPLETE, [2.0])
    assert mine.get_all_trials(study_id) == []  # read less than max_age ago: not yet
    own = mine.create_new_trial(study_id)
    mine.set_trial_state_values(own, TrialState.COMPLETE, [1.0])
    # Finishing a trial of its own makes the next read fetch everything, theirs included.
    assert sorted(t.values[0] for t in mine.get_all_trials(study_id)) == [1.0, 2.0]

    fresh, other2, study2 = _pair(sqlite_url.replace("study.db", "two.db"), max_age=0.0)
    fresh.get_all_trials(study2)
    done = other2.create_new_trial(study2)
    other2.set_trial_state_values(done, TrialState.COMPLETE, [3.0])
    assert [t.values for t in fresh.get_all_trials(study2)] == [[3.0]]


def test_a_queued_retry_taken_by_this_worker_is_cached_as_its_own(sqlite_url: str) -> None:
    mine, other, study_id = _pair(sqlite_url)
    study = optuna.load_study(study_name="s", storage=other)
    study.enqueue_trial({"x": 0.5})
    waiting = other.get_all_trials(study_id)[0]._trial_id
    # Optuna's ask looks for queued trials first (get_all_trials), then takes one.
    assert [t._trial_id for t in mine.get_all_trials(study_id, states=(TrialState.WAITING,))] == [
        waiting
    ]
    assert mine.set_trial_state_values(waiting, TrialState.RUNNING)
    mine.set_trial_param(waiting, "x", 0.5, X)
    assert mine.get_trial(waiting).params == {"x": 0.5}
    assert other.get_trial(waiting).params == {"x": 0.5}


def test_a_queued_trial_another_worker_took_and_finished_is_not_ours(sqlite_url: str) -> None:
    """Two workers see the same queued retry; the other one takes it and finishes it before
    this one tries: taking it is a plain "no" (Optuna's ask goes on to sample), not an error
    that ends the worker with its budget slot (seen with Optuna 4.1 under make compat)."""
    from optuna_spark.storage.retrying_storage import RetryingStorage

    mine = RetryingStorage(optuna.storages.RDBStorage(sqlite_url))
    other = RetryingStorage(optuna.storages.RDBStorage(sqlite_url))
    study_id = other.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    optuna.load_study(study_name="s", storage=other).enqueue_trial({"x": 0.5})
    (queued,) = mine.get_all_trials(study_id, states=(TrialState.WAITING,))
    assert other.set_trial_state_values(queued._trial_id, TrialState.RUNNING)
    other.set_trial_state_values(queued._trial_id, TrialState.COMPLETE, [1.0])
    assert mine.set_trial_state_values(queued._trial_id, TrialState.RUNNING) is False
    with pytest.raises(UpdateFinishedTrialError):  # finishing it is still refused
        mine.set_trial_state_values(queued._trial_id, TrialState.FAIL)


def _statements_per_trial(storage: object, engine: object, sqlite_url: str) -> float:
    study = optuna.create_study(
        study_name="c",
        storage=storage,  # type: ignore[arg-type]
        sampler=optuna.samplers.TPESampler(seed=0, constant_liar=True),
    )
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    count = [0]
    event.listen(engine, "before_cursor_execute", lambda *a: count.__setitem__(0, count[0] + 1))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=20)
    return count[0] / 20


def test_a_trial_costs_fewer_statements_than_optunas_cached_storage(tmp_path) -> None:
    lean_rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'lean.db'}")
    plain_rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'plain.db'}")
    lean = _statements_per_trial(LeanCachedStorage(lean_rdb, max_age=0.05), lean_rdb.engine, "")
    plain = _statements_per_trial(_CachedStorage(plain_rdb), plain_rdb.engine, "")
    assert lean <= 0.7 * plain, (lean, plain)


class _Later:
    """A FinishBehind that holds the writes until the test runs them."""

    def __init__(self, accepting: bool = True) -> None:
        self.accepting = accepting
        self.writes: list[object] = []

    def accepts(self) -> bool:
        return self.accepting

    def run(self, write: object) -> None:
        self.writes.append(write)


def _behind(url: str) -> tuple[Any, Any, int, _Later]:
    """Two workers' storages on one study; the first writes finished trials behind."""
    from optuna_spark.storage.retrying_storage import RetryingStorage

    mine = RetryingStorage(optuna.storages.RDBStorage(url))
    other = RetryingStorage(optuna.storages.RDBStorage(url))
    study_id = mine.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    later = _Later()
    mine.finish_behind = later
    return mine, other, study_id, later


def test_a_trial_finished_behind_reads_finished_here_at_once_and_is_stored_by_its_write(
    sqlite_url: str,
) -> None:
    mine, other, study_id, later = _behind(sqlite_url)
    trial_id = mine.create_new_trial(study_id)
    mine.set_trial_param(trial_id, "x", 0.25, X)
    mine.get_trial(trial_id)  # Optuna's tell reads the trial first: now cached here
    assert mine.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.5])
    here = mine.get_trial(trial_id)
    assert here.state == TrialState.COMPLETE and here.values == [0.5]
    assert here.params == {"x": 0.25}
    assert other.get_trial(trial_id).state == TrialState.RUNNING  # not written yet
    (write,) = later.writes
    assert write() is True  # type: ignore[operator]
    stored = other.get_trial(trial_id)
    assert stored.state == TrialState.COMPLETE and stored.values == [0.5]
    assert mine.get_trial(trial_id).values == [0.5]

    # Not accepted (no trial asked ahead): written at once, as Optuna would.
    later.accepting = False
    second = mine.create_new_trial(study_id)
    mine.get_trial(second)
    mine.set_trial_state_values(second, TrialState.COMPLETE, [0.75])
    assert len(later.writes) == 1 and other.get_trial(second).values == [0.75]


def test_a_trial_finished_behind_but_failed_elsewhere_reads_as_stored_once_written(
    sqlite_url: str,
) -> None:
    """The write of a trial another worker failed meanwhile (found stale) is refused, as
    Optuna's own tell would be (the worker stops at its next claim); from then on this worker
    reads the stored state."""
    mine, other, study_id, later = _behind(sqlite_url)
    trial_id = mine.create_new_trial(study_id)
    mine.get_trial(trial_id)
    mine.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.5])
    other.set_trial_state_values(trial_id, TrialState.FAIL)
    (write,) = later.writes
    with pytest.raises(UpdateFinishedTrialError):
        write()  # type: ignore[operator]
    assert mine.get_trial(trial_id).state == TrialState.FAIL
