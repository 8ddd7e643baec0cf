"""Trials lost with their worker, on a real SQLite storage: the mark a stale trial gets before
Optuna fails it, and the driver finishing a retry that a killed worker never queued."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from optuna_spark.config import HeartbeatSpec, StorageSpec
from optuna_spark.storage import count_trials, create_or_load_study, open_storage
from optuna_spark.storage.lost import requeue_orphans
from optuna_spark.storage.retrying_storage import RetryingStorage
from optuna_spark.storage.trials import LOST_ATTR


def _study(url: str, heartbeat: HeartbeatSpec | None = None) -> tuple[optuna.Study, RDBStorage]:
    spec = StorageSpec(url)
    storage = open_storage(spec, driver=True, heartbeat=heartbeat)
    create_or_load_study(storage, spec, "s", None, "minimize")
    return optuna.load_study(study_name="s", storage=storage), storage


def test_a_stale_trial_is_marked_lost_before_optuna_fails_it(sqlite_url: str) -> None:
    study, storage = _study(sqlite_url, HeartbeatSpec(interval=1, grace_period=2))
    trial_id = storage.create_new_trial(study._study_id)
    storage.record_heartbeat(trial_id)  # then its worker dies: no heartbeat any more
    time.sleep(3.5)  # the grace period, and SQLite's timestamps keep whole seconds
    retrying = RetryingStorage(storage)
    assert retrying._get_stale_trial_ids(study._study_id) == [trial_id]
    assert storage.get_trial(trial_id).system_attrs[LOST_ATTR] is True
    assert storage.get_trial(trial_id).state == TrialState.RUNNING  # failing it is Optuna's
    # Optuna asks before every trial; a worker looks at most every half heartbeat interval.
    assert retrying._get_stale_trial_ids(study._study_id) == []
    time.sleep(0.6)
    assert retrying._get_stale_trial_ids(study._study_id) == [trial_id]


def test_the_driver_queues_a_lost_trial_whose_worker_died_before_queueing_it(
    sqlite_url: str,
) -> None:
    """A worker failed a stale trial and was killed before Optuna called the retry callback:
    at the end of the fan-out the driver queues it, once, and it no longer counts."""
    study, storage = _study(sqlite_url)
    lost = storage.create_new_trial(study._study_id)
    storage.set_trial_param(lost, "x", 0.5, optuna.distributions.FloatDistribution(0, 1))
    storage.set_trial_system_attr(lost, LOST_ATTR, True)
    storage.set_trial_state_values(lost, TrialState.FAIL)
    failed = storage.create_new_trial(study._study_id)  # failed by its objective: stays
    storage.set_trial_state_values(failed, TrialState.FAIL)

    assert requeue_orphans(study, storage, 0, max_retry=2) == 1
    retries = study.get_trials(states=(TrialState.WAITING,))
    assert [(t.params, t.system_attrs["retry_history"]) for t in retries] == [({"x": 0.5}, [0])]
    assert requeue_orphans(study, storage, 0, max_retry=2) == 0  # queued once, not on every sweep
    counts = count_trials(storage, study._study_id)
    assert (counts["LOST"], counts["COUNTED"]) == (1, 1)  # the objective's failure counts


@pytest.mark.parametrize("heartbeats", [True, False], ids=["heartbeats", "no-heartbeats"])
def test_a_trial_that_never_started_goes_back_to_the_queue_not_counted_lost(
    sqlite_url: str, heartbeats: bool
) -> None:
    """At the end of a fan-out whose worker died, its running trial is lost and retried,
    while the trial it had asked ahead (its objective never started) is queued again as it
    is: not failed, not counted, no retry of it. With heartbeats the started trial is the one
    that sent one; without (CI saw this case count two lost trials for one kill), it is the
    one that recorded a parameter."""
    study, storage = _study(sqlite_url)
    running = storage.create_new_trial(study._study_id)
    storage.set_trial_param(running, "x", 0.5, optuna.distributions.FloatDistribution(0, 1))
    if heartbeats:
        storage.record_heartbeat(running)
    storage.create_new_trial(study._study_id)  # asked ahead

    assert requeue_orphans(study, storage, 0, max_retry=2, heartbeats=heartbeats) == 1
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING, TrialState.WAITING]
    assert trials[1].number == 1 and "retry_history" not in trials[1].system_attrs
    assert trials[2].system_attrs["retry_history"] == [0] and trials[2].params == {"x": 0.5}
    counts = count_trials(storage, study._study_id)
    assert (counts["LOST"], counts["COUNTED"], counts["WAITING"]) == (1, 0, 2)


def test_without_heartbeats_a_trial_that_reported_a_step_is_lost_not_requeued(
    sqlite_url: str,
) -> None:
    """An intermediate value is work done too: such a trial is failed and retried."""
    study, storage = _study(sqlite_url)
    reporting = storage.create_new_trial(study._study_id)
    storage.set_trial_intermediate_value(reporting, 0, 1.5)
    assert requeue_orphans(study, storage, 0, max_retry=2, heartbeats=False) == 1
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]


def test_a_trial_that_completes_while_it_is_cancelled_counts(sqlite_url: str) -> None:
    """Cancelling writes the mark, then fails the trial; a worker that completes the trial in
    between wins (the trial is complete) and the trial counts, so the next run's budget is not
    one too large (CI saw 41 complete trials for a budget of 40 after a Ctrl-C)."""
    from optuna_spark.storage.trials import CANCELLED_ATTR, fail_trial

    study, storage = _study(sqlite_url)
    finishing = storage.create_new_trial(study._study_id)
    cancelled = storage.create_new_trial(study._study_id)
    storage.set_trial_system_attr(finishing, CANCELLED_ATTR, "interrupted by Ctrl-C")
    storage.set_trial_state_values(finishing, TrialState.COMPLETE, [1.0])  # the worker's tell
    assert not fail_trial(storage, finishing)  # the driver's fail comes second and loses
    assert fail_trial(storage, cancelled, {CANCELLED_ATTR: "interrupted by Ctrl-C"})
    counts = count_trials(storage, study._study_id)
    assert (counts["COMPLETE"], counts["CANCELLED"], counts["COUNTED"]) == (1, 1, 1)
