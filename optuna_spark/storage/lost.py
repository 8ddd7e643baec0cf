"""Trials lost with their worker: queued again, and not counted against the budget.

Two ways a lost trial is found. While a run goes on, a worker starting a trial asks Optuna for
stale trials (no heartbeat for the grace period) and :class:`LostTrials` handles each. When a
fan-out has ended, every worker has returned, so a trial of that fan-out still RUNNING has
certainly lost its worker: :func:`requeue_orphans` handles those at once, without waiting for
the grace period.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from optuna_spark import internals
from optuna_spark.storage import budget
from optuna_spark.storage.retry import call_with_retry
from optuna_spark.storage.trials import LOST_ATTR, fail_running_trials

if TYPE_CHECKING:
    from optuna import Study
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial
    from sqlalchemy.engine import Engine

# What Optuna calls for a trial whose heartbeat went stale (``heartbeat_stale_trial_callback``).
StaleTrialCallback: TypeAlias = "Callable[[Study, FrozenTrial], None]"


def _retry(study: Study, trial: FrozenTrial, max_retry: int) -> bool:
    """Queue ``trial``'s parameters again with Optuna's retry callback (which records the
    ``retry_history``). False when it was retried ``max_retry`` times already."""
    history = trial.system_attrs.get("retry_history", [])
    if len(history) + 1 > max_retry:
        return False  # retried often enough: it stays failed and counts as a failed trial
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        internals.retry_callback(max_retry)(study, trial)
    return True


class LostTrials:
    """Optuna's heartbeat-stale callback: queue a lost trial's parameters again and, when the
    trial was one of this run's, give its budget slot back so the retry does not shrink the
    run."""

    def __init__(self, max_retry: int, budget_id: str, first_trial_number: int) -> None:
        self._max_retry = max_retry
        self._budget_id = budget_id
        self._first = first_trial_number
        self.engine: Engine | None = None  # set once the storage exists

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        if not _retry(study, trial, self._max_retry):
            return
        if trial.number >= self._first and self.engine is not None:
            call_with_retry(budget.release, self.engine, self._budget_id, trial.number)


def requeue_orphans(
    study: Study, storage: BaseStorage, first_number: int, max_retry: int, heartbeats: bool = False
) -> int:
    """Driver, after a fan-out: fail this fan-out's trials that are still RUNNING (their
    workers are gone) and queue them again, and queue the lost trials whose retry was never
    queued (the worker that failed them died before it could). ``storage`` is the study's.
    A trial that never started (with ``heartbeats``: it never sent one; without: it recorded
    nothing) is queued again as it is, not counted lost. Returns how many lost trials were
    queued."""
    study_id = internals.study_id(study, storage)
    failed = fail_running_trials(storage, study_id, first_number, heartbeats=heartbeats)
    queued = sum(_retry(study, storage.get_trial(trial_id), max_retry) for trial_id in failed)
    return queued + sum(_retry(study, t, max_retry) for t in _unqueued_lost(study, first_number))


def _unqueued_lost(study: Study, first_number: int) -> list[FrozenTrial]:
    """Trials of this fan-out marked lost and failed, that no retry names: Optuna fails a
    stale trial and only then calls :class:`LostTrials`, two writes a SIGKILL can fall
    between."""
    marked = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if t.number >= first_number and t.system_attrs.get(LOST_ATTR)
    ]
    if not marked:  # the usual case: no need to read every trial for the retry histories
        return []
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return [t for t in marked if t.number not in retried]
