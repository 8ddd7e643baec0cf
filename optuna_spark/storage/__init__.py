"""The study storage: Optuna's RDB tables plus two small tables of optuna-spark's own.

What the rest of the package uses is named here; each module below says why it exists:

* :mod:`~optuna_spark.storage.engine`: a URL becomes an ``RDBStorage`` (SQLite pragmas,
  MySQL pools and timeouts, a fast-failing probe); the password never enters a URL.
* :mod:`~optuna_spark.storage.translate`: every database error becomes one sentence.
* :mod:`~optuna_spark.storage.study_lifecycle`: create or load a study, look one up, delete it.
* :mod:`~optuna_spark.storage.trials`: what the budget counts; failing and cancelling trials.
* :mod:`~optuna_spark.storage.budget` and :mod:`~optuna_spark.storage.run_log`: the shared
  trial budget and the per-run facts, tables beside Optuna's.
* :mod:`~optuna_spark.storage.lost`: trials lost with their worker are queued again.

A worker stacks three storages (read bottom-up): Optuna's ``RDBStorage`` with the six-query
trial reader (:mod:`~optuna_spark.storage.fast_reader`), Optuna's cache made leaner
(:mod:`~optuna_spark.storage.lean_cache`), and a wrapper that retries transient errors
(:mod:`~optuna_spark.storage.retrying_storage`, rules in :mod:`~optuna_spark.storage.retry`).
Those three import Optuna's internals, so they are imported from their modules where used.
"""

from __future__ import annotations

from optuna_spark.storage.engine import open_storage, prepare_sqlite_file
from optuna_spark.storage.retry import call_with_retry
from optuna_spark.storage.study_lifecycle import (
    IDENTITY_ATTR,
    StudyCheck,
    StudyInfo,
    check_study,
    create_or_load_study,
    drop_study,
    find_study_id,
    open_study,
    require_study_id,
)
from optuna_spark.storage.translate import translate_errors
from optuna_spark.storage.trials import (
    CANCELLED_ATTR,
    FAIL_REASON_ATTR,
    WARM_START_ATTR,
    best_value,
    cancelled_attrs,
    count_trial_states,
    count_trials,
    fail_trial,
    mark_cancelled,
    n_finished,
    pareto_front,
    pareto_size,
)

__all__ = [
    "CANCELLED_ATTR",
    "FAIL_REASON_ATTR",
    "IDENTITY_ATTR",
    "WARM_START_ATTR",
    "StudyCheck",
    "StudyInfo",
    "best_value",
    "call_with_retry",
    "cancelled_attrs",
    "check_study",
    "count_trial_states",
    "count_trials",
    "create_or_load_study",
    "drop_study",
    "fail_trial",
    "find_study_id",
    "mark_cancelled",
    "n_finished",
    "open_storage",
    "open_study",
    "pareto_front",
    "pareto_size",
    "prepare_sqlite_file",
    "require_study_id",
    "translate_errors",
]
