"""An Optuna storage that retries transient database errors (see :mod:`optuna_spark.storage.retry`).

Workers hand Optuna a :class:`RetryingStorage` wrapped around the usual cached RDB storage,
so every call Optuna's trial loop makes (ask, set params, tell, heartbeat) survives a
deadlock, a dropped connection or a server restart of up to the retry window. The heartbeat
interface is passed through, so Optuna's stale-trial handling keeps working.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState

from optuna_spark import internals
from optuna_spark.internals import HeartbeatBase, UpdateFinishedTrialError
from optuna_spark.storage.retry import call_with_retry
from optuna_spark.storage.trials import LOST_ATTR


def _cached(storage: RDBStorage) -> BaseStorage:
    """Optuna's own cache in front of an RDB storage (what ``optuna.load_study`` would use),
    made leaner by :mod:`optuna_spark.storage.lean_cache`."""
    try:
        from optuna_spark.storage.lean_cache import LeanCachedStorage
    except ImportError:  # Optuna without _CachedStorage (internals.py): uncached, only slower
        return storage
    return LeanCachedStorage(storage)


def _retried(name: str) -> Callable[..., Any]:
    """A method that calls ``name`` of the wrapped storage, retrying transient errors."""

    def method(self: RetryingStorage, *args: Any, **kwargs: Any) -> Any:
        return call_with_retry(getattr(self._backend, name), *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of the wrapped storage, retried on transient errors."
    return method


@runtime_checkable
class FinishesLocally(Protocol):
    """A storage that can show its worker a trial as finished before the write lands
    (:class:`optuna_spark.storage.lean_cache.LeanCachedStorage`)."""

    def finish_locally(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None
    ) -> bool: ...

    def finish_settled(self, trial_id: int) -> None: ...


class FinishBehind(Protocol):
    """Runs the write that finishes a trial on another thread while the next trial starts
    (:class:`optuna_spark.prefetch.Prefetcher`)."""

    def accepts(self) -> bool:
        """True when a finished trial's write may run while the next objective starts."""
        ...

    def run(self, write: Callable[[], object]) -> None:
        """Run ``write`` soon, in order with the worker's other background writes."""
        ...


class RetryingStorage(BaseStorage, HeartbeatBase):
    """Delegates to ``backend`` and retries transient database errors in every call."""

    def __init__(self, storage: RDBStorage) -> None:
        self._rdb = storage
        self._backend: BaseStorage = _cached(storage)
        self._stale_checked_at: dict[int, float] = {}  # study id -> time.monotonic()
        # Set by the worker when asking ahead: finishing a trial then waits for nobody.
        self.finish_behind: FinishBehind | None = None

    # Every other BaseStorage method, and the heartbeat ones Optuna calls on a heartbeat
    # storage: the same one-line delegation each, so they are made by _retried.
    create_new_study = _retried("create_new_study")
    delete_study = _retried("delete_study")
    set_study_user_attr = _retried("set_study_user_attr")
    set_study_system_attr = _retried("set_study_system_attr")
    get_study_id_from_name = _retried("get_study_id_from_name")
    get_study_name_from_id = _retried("get_study_name_from_id")
    get_study_directions = _retried("get_study_directions")
    get_study_user_attrs = _retried("get_study_user_attrs")
    get_study_system_attrs = _retried("get_study_system_attrs")
    get_all_studies = _retried("get_all_studies")
    create_new_trial = _retried("create_new_trial")
    set_trial_param = _retried("set_trial_param")
    get_trial_id_from_study_id_trial_number = _retried("get_trial_id_from_study_id_trial_number")
    get_trial_number_from_id = _retried("get_trial_number_from_id")
    get_trial_param = _retried("get_trial_param")
    set_trial_intermediate_value = _retried("set_trial_intermediate_value")
    set_trial_user_attr = _retried("set_trial_user_attr")
    set_trial_system_attr = _retried("set_trial_system_attr")
    get_trial = _retried("get_trial")
    get_all_trials = _retried("get_all_trials")
    get_n_trials = _retried("get_n_trials")
    get_best_trial = _retried("get_best_trial")
    get_trial_params = _retried("get_trial_params")
    get_trial_user_attrs = _retried("get_trial_user_attrs")
    get_trial_system_attrs = _retried("get_trial_system_attrs")
    check_trial_is_updatable = _retried("check_trial_is_updatable")
    record_heartbeat = _retried("record_heartbeat")
    _stale_trial_ids = _retried("_get_stale_trial_ids")

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Trials whose heartbeat went stale, each marked lost first (:data:`LOST_ATTR`):
        Optuna asks only to fail them and then queue their retry, and a worker killed between
        those two writes leaves the mark for the driver's end-of-fan-out sweep.

        Optuna asks before every trial, a query on the trial's path; a trial goes stale only
        after a grace period of several heartbeat intervals, so this worker looks at most
        every half interval (none found in between)."""
        now = time.monotonic()
        interval = self._rdb.get_heartbeat_interval() or 0
        if now - self._stale_checked_at.get(study_id, float("-inf")) < interval / 2:
            return []
        self._stale_checked_at[study_id] = now
        stale: list[int] = self._stale_trial_ids(study_id)
        for trial_id in stale:
            try:
                self.set_trial_system_attr(trial_id, LOST_ATTR, True)
            except UpdateFinishedTrialError:  # another worker failed it first
                pass
        return stale

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """Finish a trial; a retry that finds it already finished means the first try landed.

        With :attr:`finish_behind` set and accepting, a trial's end is written on the
        worker's helper thread while its next trial starts (the write is a transaction, 3-5
        ms on MariaDB, much of it the commit's wait for the disk); the worker sees the trial
        finished at once. The helper runs it before the next ask ahead, so the sampler sees
        the result as before.

        Taking a waiting trial (``RUNNING``) that is finished already means another worker
        took it first (its cached state was stale): not ours, so False, as for any taken
        trial. Optuna 4.1 raised out of ``ask`` there and the worker died with its slot.
        """
        if state == TrialState.RUNNING:
            try:
                return call_with_retry(
                    self._backend.set_trial_state_values, trial_id, state=state, values=values
                )
            except UpdateFinishedTrialError:
                return False

        def write() -> bool:
            return call_with_retry(
                self._backend.set_trial_state_values,
                trial_id,
                state=state,
                values=values,
                done_if=(UpdateFinishedTrialError,),
                done_value=True,
            )

        behind, backend = self.finish_behind, self._backend
        if (
            behind is not None
            and isinstance(backend, FinishesLocally)
            and behind.accepts()
            and backend.finish_locally(trial_id, state, values)
        ):

            def write_and_settle() -> bool:
                try:
                    return write()
                finally:
                    backend.finish_settled(trial_id)

            behind.run(write_and_settle)
            return True
        return write()

    def get_heartbeat_interval(self) -> int | None:
        """The RDB storage's heartbeat interval (None: heartbeat off)."""
        return self._rdb.get_heartbeat_interval()

    def get_heartbeat_stale_trial_callback(self) -> Callable[..., None] | None:
        """What Optuna calls for each trial it finds stale (retry it, give back its slot)."""
        return internals.stale_trial_callback(self._rdb)

    # The same, under the name Optuna used before 4.9.
    get_failed_trial_callback = get_heartbeat_stale_trial_callback

    def remove_session(self) -> None:
        """Release this thread's database session."""
        self._rdb.remove_session()
