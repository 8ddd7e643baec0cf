"""Every private name of Optuna, joblib, joblibspark and PySpark that optuna-spark uses.

Optuna's storage internals are where a distributed study's speed and reliability come from
(a cache in front of the database, a fast bulk trial reader, heartbeats through our retrying
storage), and they are not Optuna's API: a release may move them. Each is looked up here, once,
by name, and each has a fallback that keeps a run correct through the library's own public path,
only slower or with one feature less. :func:`missing` says which fallbacks are in force and what
each costs; the driver prints them once per run.

``OPTUNA_SPARK_PLAIN_OPTUNA=1`` puts every Optuna fallback in force on purpose: the escape
hatch when a new Optuna release breaks a fast path before a release of ours catches up.

``tests/test_internals.py`` checks that none is missing on the oldest Optuna we support
(``constraints/oldest.txt``) and the newest (the development venv), and that a run with every
fallback in force lands its exact budget; ``pyproject.toml`` caps Optuna below the next
release nobody has tested.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage
    from optuna.study import Study
    from optuna.trial import FrozenTrial, Trial, TrialState

PLAIN_OPTUNA_ENV = "OPTUNA_SPARK_PLAIN_OPTUNA"


def _plain() -> bool:
    return os.environ.get(PLAIN_OPTUNA_ENV, "").strip().lower() in {"1", "true", "yes"}


def _module(name: str) -> Any:
    """Module ``name``, or None when it is gone (or the plain path is asked for)."""
    if _plain():
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _attr(module: str, name: str) -> Any:
    """``module.name``, or None when either is gone (or the plain path is asked for)."""
    return getattr(_module(module), name, None)


def _rdb_storage() -> Any:
    from optuna.storages import RDBStorage

    return RDBStorage


def _has_methods(cls: Any, *names: str) -> bool:
    return cls is not None and all(callable(getattr(cls, name, None)) for name in names)


def _takes(cls: Any, method: str, *params: str) -> bool:
    """Whether ``cls.method`` exists with exactly these parameters (after ``self``): an
    override of ours with another signature would never be called right."""
    try:
        found = list(inspect.signature(getattr(cls, method)).parameters)
    except (AttributeError, TypeError, ValueError):
        return False
    return found == ["self", *params]


# -- Optuna's storage internals (module, name, the methods we override or call)

#: ``_CachedStorage``: the cache ``optuna.load_study`` puts in front of an RDB storage, which
#: :class:`~optuna_spark.storage.lean_cache.LeanCachedStorage` makes leaner. Fallback: the
#: workers use the RDB storage uncached (correct, more database round trips per trial).
CACHED_STORAGE: type | None = _attr("optuna.storages._cached_storage", "_CachedStorage")
if not _takes(CACHED_STORAGE, "_read_trials_from_remote_storage", "study_id"):
    CACHED_STORAGE = None

#: The RDB storage's table models, which :mod:`~optuna_spark.storage.fast_reader` reads in
#: plain queries, answering ``RDBStorage._get_trials`` (its signature since Optuna 4.1).
#: Fallback: Optuna's ORM loader (a large study loads several times slower).
RDB_MODELS: Any = _module("optuna.storages._rdb.models")
_GET_TRIALS = ("study_id", "states", "included_trial_ids", "trial_id_greater_than")
if not (hasattr(RDB_MODELS, "TrialModel") and _takes(_rdb_storage(), "_get_trials", *_GET_TRIALS)):
    RDB_MODELS = None

#: ``BaseHeartbeat``: a storage must be one for Optuna to send heartbeats through it and to
#: ask it for stale trials. Fallback: our retrying storage is a plain storage, so a worker that
#: dies is noticed only when its fan-out ends (the driver's sweep), not by other workers.
HEARTBEAT_BASE: type | None = _attr("optuna.storages._heartbeat", "BaseHeartbeat")
if not (
    _takes(HEARTBEAT_BASE, "_get_stale_trial_ids", "study_id")
    and _has_methods(HEARTBEAT_BASE, "record_heartbeat")
):
    HEARTBEAT_BASE = None


if TYPE_CHECKING:  # the real classes, for the type checker
    from optuna.storages._cached_storage import _CachedStorage as CachedStorageBase
    from optuna.storages._heartbeat import BaseHeartbeat as HeartbeatBase
else:  # base classes to derive from; ``object`` when the internal is gone
    CachedStorageBase = CACHED_STORAGE or object
    HeartbeatBase = HEARTBEAT_BASE or object


def _update_finished_error() -> type[Exception]:
    import optuna.exceptions

    found: type[Exception] = getattr(optuna.exceptions, "UpdateFinishedTrialError", RuntimeError)
    return found


#: What Optuna raises on a write to a finished trial: ``UpdateFinishedTrialError`` since 4.3,
#: a plain ``RuntimeError`` before (of which the newer class is a subclass).
UpdateFinishedTrialError = _update_finished_error()


def _stale_callback_kwarg() -> str:
    from optuna.storages import RDBStorage

    params = inspect.signature(RDBStorage.__init__).parameters
    return (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in params
        else ("failed_trial_callback")
    )


#: ``RDBStorage``'s argument for the callback on a stale trial: ``heartbeat_stale_trial_callback``
#: since Optuna 4.9, ``failed_trial_callback`` before (both public; the name moved).
STALE_CALLBACK_KWARG = _stale_callback_kwarg()


def stale_trial_callback(storage: Any) -> Callable[..., None] | None:
    """The stale-trial callback an RDB storage was given, under either of its names."""
    getter = (
        getattr(storage, "get_heartbeat_stale_trial_callback", None)
        or storage.get_failed_trial_callback
    )
    callback: Callable[..., None] | None = getter()
    return callback


def retry_callback(max_retry: int) -> Callable[[Study, FrozenTrial], None]:
    """Optuna's callback that queues a failed trial's parameters again and records its
    ``retry_history``: ``RetryHeartbeatStaleTrialCallback`` since Optuna 4.9, before that
    ``RetryFailedTrialCallback`` (both public; the name moved)."""
    import optuna.storages

    callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    callback = callback or optuna.storages.RetryFailedTrialCallback
    made: Callable[[Study, FrozenTrial], None] = callback(max_retry=max_retry)
    return made


def study_storage(study: Study) -> BaseStorage:
    """The storage a ``Study`` reads and writes through. Optuna keeps it private and has no
    public accessor (every release we support holds it as ``_storage``)."""
    storage: BaseStorage = study._storage
    return storage


def cached_trials(study: Study, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
    """The study's trials in ``states``, uncopied, through its storage's cache (what a
    sampler's own reads use); fallback: ``get_trials``, which may read the database."""
    getter = getattr(study, "_get_trials", None)
    if getter is not None and not _plain():
        try:
            return list(getter(deepcopy=False, states=states, use_cache=True))
        except TypeError:  # another signature: the public path below
            pass
    return study.get_trials(deepcopy=False, states=states)


def mlflow_experiment_id(mlflow: Any) -> str:
    """The experiment MLflow itself would log to now (a notebook's own on Databricks,
    ``MLFLOW_EXPERIMENT_NAME``/``_ID``, else the default). MLflow answers this only through a
    private function; fallback: the ID from the environment, else the default experiment."""
    getter = getattr(getattr(mlflow.tracking, "fluent", None), "_get_experiment_id", None)
    if getter is not None:
        return str(getter())
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    found = mlflow.get_experiment_by_name(name) if name else None
    return str(found.experiment_id if found else os.environ.get("MLFLOW_EXPERIMENT_ID", "0"))


def study_id(study: Any, storage: BaseStorage) -> int:
    """The storage id of a ``Study`` or ``FrozenStudy``; fallback: looked up by its name."""
    found = getattr(study, "_study_id", None)
    if isinstance(found, int) and not _plain():
        return found
    return storage.get_study_id_from_name(study.study_name)


def trial_id(trial: Any, storage: BaseStorage, study_id: int) -> int:
    """The storage id of a ``Trial`` or ``FrozenTrial`` of study ``study_id``; fallback:
    looked up by its number."""
    found = getattr(trial, "_trial_id", None)
    if isinstance(found, int) and not _plain():
        return found
    return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


def mark_in_optimize_loop(study: Study) -> None:
    """Tell ``study`` that this thread (the prefetch helper) runs inside its optimize loop,
    through the study's per-thread flag; without it Optuna warns that heartbeats need
    ``Study.optimize``. Fallback (no flag): nothing, and that warning may show."""
    flags = getattr(study, "_thread_local", None)
    if flags is not None:
        flags.in_optimize_loop = True


def _suggest_hookable() -> bool:
    import optuna

    trial = optuna.trial.Trial
    return not _plain() and _takes(trial, "_suggest", "name", "distribution")


# Whether a trial can be told values sampled ahead (``answer_ahead``); without it a user's
# objective is never asked ahead (its trials would record parameters it did not ask for).
CAN_ANSWER_AHEAD = _suggest_hookable()


def frozen_trial(trial: Trial) -> FrozenTrial:
    """The ``FrozenTrial`` behind a live ``Trial`` (the one its sampler calls get); fallback:
    read from the storage."""
    found = getattr(trial, "_cached_frozen_trial", None)
    if found is not None and not _plain():
        return found  # type: ignore[no-any-return]
    storage = trial.study._storage
    return storage.get_trial(trial_id(trial, storage, study_id(trial.study, storage)))


def answer_ahead(
    trial: Trial,
    values: dict[tuple[str, BaseDistribution], Any],
    record: Callable[[Callable[[], None]], None] | None = None,
) -> None:
    """Make ``trial`` answer the objective's ``suggest_*(name, distribution)`` with the value
    sampled ahead for that name and distribution (``values``), recording it then, as Optuna
    records any suggestion. A name the objective never asks for is never recorded; one asked
    with a distribution not sampled ahead (or an enqueued value) goes to Optuna's own path,
    sampled afresh. ``record`` runs the storage write (default: at once); the trial's
    own copy, which ``trial.params`` and a repeated suggestion read, is updated at once
    either way. Through ``Trial._suggest`` (checked by :data:`CAN_ANSWER_AHEAD`)."""
    original = trial._suggest
    frozen = frozen_trial(trial)
    fixed = getattr(trial, "_fixed_params", {}) or {}
    storage = trial.storage
    own_id = trial_id(trial, storage, study_id(trial.study, storage))  # once, not per suggest

    def suggest(name: str, distribution: BaseDistribution) -> Any:
        if (name, distribution) not in values or name in frozen.distributions or name in fixed:
            return original(name, distribution)
        value = values.pop((name, distribution))
        internal = distribution.to_internal_repr(value)

        def write() -> None:
            storage.set_trial_param(own_id, name, internal, distribution)

        (record or _now)(write)
        frozen.distributions[name] = distribution
        frozen.params[name] = value
        return value

    trial._suggest = suggest  # type: ignore[method-assign]


def restart_trial_clock(storage: Any, trial_id: int) -> None:
    """Stamp a running trial's ``datetime_start`` now, the way Optuna stamps a trial that
    starts (through its ORM model, which stores the time as Optuna's version does).
    ``storage`` is an ``RDBStorage`` or wraps one (``_rdb``). Fallback (the model or session
    helper gone): nothing, and the trial's duration includes the wait before it started."""
    from datetime import datetime

    from optuna.trial import TrialState

    rdb = getattr(storage, "_rdb", storage)
    models = _module("optuna.storages._rdb.models")
    session = _attr("optuna.storages._rdb.storage", "_create_scoped_session")
    if models is None or session is None or not hasattr(rdb, "scoped_session"):
        return
    with session(rdb.scoped_session) as open_session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, open_session, for_update=True)
        if trial.state == TrialState.RUNNING:
            trial.datetime_start = datetime.now()


def _now(write: Callable[[], None]) -> None:
    write()


def missing() -> list[str]:
    """One line for each Optuna internal not found (or turned off), saying what it costs."""
    why = " (OPTUNA_SPARK_PLAIN_OPTUNA is set)" if _plain() else ""
    lines = []
    if CACHED_STORAGE is None:
        lines.append(f"Optuna's trial cache is not used{why}: more database round trips per trial")
    if RDB_MODELS is None:
        lines.append(f"Optuna's ORM loads the trials{why}: resuming a large study is slower")
    if not CAN_ANSWER_AHEAD:
        lines.append(
            f"your objective's next trial is not asked for while one runs{why}: a few ms per "
            "trial more between trials"
        )
    if HEARTBEAT_BASE is None:
        lines.append(
            f"no heartbeats{why}: a trial whose worker died is retried when its fan-out "
            "ends, not by the other workers"
        )
    return lines


# -- joblib and joblibspark


def joblibspark_job_group(parallel: Any) -> str | None:
    """The Spark job group joblibspark runs a ``joblib.Parallel``'s jobs in (its backend's
    ``_job_group``); None when not found: cancelling then stops every job of the session."""
    group = getattr(getattr(parallel, "_backend", None), "_job_group", None)
    return group if isinstance(group, str) else None


class _ContextSession:
    """What joblibspark gets for a session when we started only a SparkContext: on a classic
    session it uses nothing but ``sparkContext``, and a real SparkSession costs 2-3 s of the
    cold start on two cores (its shared state: the warehouse, the catalog). Any other
    attribute makes the real session then (one joblibspark release may need it)."""

    def __init__(self, context: Any) -> None:
        self.sparkContext = context

    def __getattr__(self, name: str) -> Any:
        from pyspark.sql import SparkSession

        return getattr(SparkSession.builder.getOrCreate(), name)


@contextmanager
def joblibspark_on_context(context: Any | None) -> Iterator[None]:
    """While this block makes joblibspark's backend, hand it ``context`` (as
    :class:`_ContextSession`) instead of the SparkSession it would make or find; with None,
    or where joblibspark's ``backend.get_spark_session`` has moved, it makes its own."""
    module = _module("joblibspark.backend") if context is not None else None
    if module is None or not callable(getattr(module, "get_spark_session", None)):
        yield
        return
    original = module.get_spark_session
    module.get_spark_session = lambda: _ContextSession(context)
    try:
        yield
    finally:
        module.get_spark_session = original


def joblib_wrapped_error(exc: BaseException) -> BaseException | None:
    """The exception inside a joblib ``_ExceptionWithTraceback`` that a frame of ``exc``'s
    traceback holds, if any.

    joblibspark hands joblib a failed job's exception wrapped in one, which joblib 1.5-1.6
    then tries to iterate as a batch of results: what reaches the caller is ``TypeError:
    '_ExceptionWithTraceback' object is not iterable``, with the Spark error only in a local
    variable of the frame that failed. Fallback (not found): None, and the caller keeps the
    TypeError, so a lost worker reads as a failed job.
    """
    tb = exc.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            inner = getattr(value, "exc", None)
            if type(value).__name__ == "_ExceptionWithTraceback" and isinstance(
                inner, BaseException
            ):
                return inner
        tb = tb.tb_next
    return None


# -- PySpark


def pyspark_gateway_started() -> bool | None:
    """Whether this process already has a Py4J gateway to a Spark JVM (``SparkContext``'s
    ``_gateway``); None when that cannot be told (then PySpark starts its JVM itself)."""
    from pyspark import SparkContext

    if not hasattr(SparkContext, "_gateway") or not callable(
        getattr(SparkContext, "_ensure_initialized", None)
    ):
        return None
    return SparkContext._gateway is not None


def pyspark_adopt_gateway(gateway: Any) -> None:
    """Make ``gateway`` (a JVM we launched) the one the next ``SparkContext`` uses."""
    from pyspark import SparkContext

    SparkContext._ensure_initialized(gateway=gateway)


def spark_executor_count(context: Any) -> int | None:
    """Executors registered with a classic SparkContext (the driver not counted), through the
    JVM's public ``SparkStatusTracker`` reached by PySpark's private ``_jsc``; None when that
    path is not there."""
    try:
        return len(context._jsc.sc().statusTracker().getExecutorInfos()) - 1
    except Exception:
        return None
