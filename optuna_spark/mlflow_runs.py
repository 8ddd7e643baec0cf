"""MLflow tracking: one parent run per ``optuna-spark run``, one child run per finished trial.

Workers never talk to MLflow. The driver reads the trials that finished from the study's
storage, on a thread of its own, and logs each as a child run, so a slow or unreachable
tracking server costs the tuning nothing (MLflow's own Spark study logs from the workers, about
3 s a trial in ``docs/benchmarks.md``). A trial is logged once across runs: the study carries a
key (a study system attribute, :data:`STUDY_ATTR`) that every child run is tagged with, and a
resumed run first asks MLflow which trial numbers that key already has.

MLflow is imported only when tracking is on (the ``mlflow`` extra, or the runtime's own on
Databricks). The pure parts, what a trial's child run holds, are :func:`child_run`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from optuna_spark import internals
from optuna_spark._version import __version__
from optuna_spark.config import DATABRICKS_RUNTIME_ENV, MlflowSpec, RunConfig, mlflow_wanted
from optuna_spark.errors import MissingExtraError, first_line
from optuna_spark.extras import require
from optuna_spark.plan import threads_label
from optuna_spark.storage.retry import call_with_retry, is_transient
from optuna_spark.storage.trials import FAIL_REASON_ATTR, WORKER_ATTR
from optuna_spark.urls import mask_url, mask_urls_in_text

if TYPE_CHECKING:
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

    from optuna_spark.plan import Plan
    from optuna_spark.storage import StudyInfo

_logger = logging.getLogger(__name__)

# The study's MLflow key and the first trial number MLflow follows (trials before the first
# tracked run are not logged after the fact).
STUDY_ATTR = "optuna_spark:mlflow"
KEY_TAG = "optuna_spark.study_key"
NUMBER_TAG = "optuna.trial_number"

# MLflow's limits on older servers: a parameter value of 500 characters, a tag of 5,000.
PARAM_VALUE_MAX = 500
TAG_VALUE_MAX = 5000
# A tracking server that does not answer this fast is reported as unreachable.
PROBE_TIMEOUT_S = 5.0
# MLflow's HTTP client retries for minutes by default; a run's own calls give up sooner, and
# what is not logged is logged by the next run.
HTTP_RETRIES = "2"
HTTP_TIMEOUT_S = "10"
# After the fan-out, how long the driver waits for the child runs still being logged.
DRAIN_WAIT_S = 60.0
# Child runs logged at a time to a tracking server (3 requests each: create, log, end).
REMOTE_THREADS = 8

MLFLOW_PURPOSE = "MLflow tracking (turn it off with --no-mlflow)"
_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
_NAME_RE = re.compile(r"[^\w\-. /]")


@dataclass(frozen=True)
class ChildRun:
    """A finished trial as an MLflow child run: what :meth:`MlflowLog` sends."""

    number: int
    run_name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: list[tuple[str, float, int]]  # name, value, step
    status: str
    start_ms: int | None
    end_ms: int | None


def mlflow_name(name: str) -> str:
    """``name`` made acceptable as an MLflow parameter or metric key (letters, digits, ``_``,
    ``-``, ``.``, space and ``/``): anything else becomes ``_``."""
    return _NAME_RE.sub("_", name)[:250] or "_"


def _ms(moment: Any) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def child_run(
    trial: FrozenTrial,
    key: str,
    metric_names: list[str] | None = None,
) -> ChildRun:
    """What a finished trial's child run holds: its parameters; its value (or values) and
    duration as metrics, and its intermediate values as the history of ``intermediate_value``;
    its number, state, worker, device and fail reason as tags."""
    state = trial.state.name
    tags = {KEY_TAG: key, NUMBER_TAG: str(trial.number), "optuna.trial_state": state}
    worker = trial.system_attrs.get(WORKER_ATTR)
    if worker:
        tags["optuna_spark.worker"] = str(worker)
    device = trial.user_attrs.get("device")
    if device:
        tags["optuna_spark.device"] = str(device)
    reason = trial.system_attrs.get(FAIL_REASON_ATTR)
    if reason and state == "FAIL":  # (a trial that completed as it was cancelled keeps one)
        tags["optuna_spark.fail_reason"] = mask_urls_in_text(str(reason))[:TAG_VALUE_MAX]
    params = {mlflow_name(k): str(v)[:PARAM_VALUE_MAX] for k, v in trial.params.items()}
    metrics: list[tuple[str, float, int]] = []
    values = trial.values or []
    if len(values) == 1:
        name = metric_names[0] if metric_names else "value"
        metrics.append((mlflow_name(name), float(values[0]), 0))
    else:
        names = metric_names or [f"values_{i}" for i in range(len(values))]
        metrics.extend((mlflow_name(n), float(v), 0) for n, v in zip(names, values))
    if trial.duration is not None:
        metrics.append(("duration_s", trial.duration.total_seconds(), 0))
    metrics.extend(
        ("intermediate_value", float(v), int(step))
        for step, v in sorted(trial.intermediate_values.items())
    )
    return ChildRun(
        number=trial.number,
        run_name=f"trial {trial.number}",
        tags=tags,
        params=params,
        metrics=[m for m in metrics if _finite(m[1])],
        status=_STATUS.get(state, "FINISHED"),
        start_ms=_ms(trial.datetime_start),
        end_ms=_ms(trial.datetime_complete),
    )


def experiment_for(spec: MlflowSpec, study_name: str, env: Mapping[str, str]) -> str | None:
    """The experiment to log to: ``--mlflow-experiment``; else None (MLflow's own default)
    where the environment names one (``$MLFLOW_EXPERIMENT_NAME`` / ``_ID``, or a Databricks
    notebook's own experiment); else one named after the study."""
    if spec.experiment:
        return spec.experiment
    if env.get("MLFLOW_EXPERIMENT_NAME") or env.get("MLFLOW_EXPERIMENT_ID"):
        return None
    if env.get(DATABRICKS_RUNTIME_ENV):
        return None
    return study_name


def require_mlflow() -> Any:
    """The ``mlflow`` module, or :class:`MissingExtraError` naming the ``mlflow`` extra."""
    return require("mlflow", "mlflow", MLFLOW_PURPOSE)


def check_mlflow(spec: MlflowSpec) -> None:
    """Refuse a run that asks for MLflow by name (``--mlflow``, ``--mlflow-experiment``,
    ``--log-best-model``) where MLflow is not installed, before any trial; when tracking is
    only on by default, a missing MLflow is a warning at the start of the run instead."""
    import importlib.util

    asked = spec.enabled or spec.experiment is not None or spec.log_best_model
    if asked and importlib.util.find_spec("mlflow") is None:
        raise MissingExtraError("mlflow", "mlflow", MLFLOW_PURPOSE)


def start_tracking(
    config: RunConfig,
    storage: RDBStorage,
    info: StudyInfo,
    plan: Plan,
    objective_name: str,
    first_trial_number: int,
    warn: Callable[[str], None],
) -> MlflowLog | None:
    """The run's MLflow logger, started, when the run logs to MLflow; else None."""
    if not mlflow_wanted(config.mlflow, os.environ):
        return None
    facts = {
        "study": info.name,
        "storage": config.storage.masked,
        "direction": info.direction,
        "objective": objective_name,
        "backend": config.backend.name,
        "workers": str(plan.n_workers),
        # None: each worker takes its Spark task's CPUs, said as the report says it
        "threads_per_worker": threads_label(plan.threads_per_worker),
        "budget": str(config.trials),
        "finished_before": str(config.trials - plan.remaining),
        "sampler": config.sampler.name,
        "optuna_spark": __version__,
    }
    best_model = None
    if objective_name == "xgboost":
        facts["device"] = config.xgboost.device
        if config.mlflow.log_best_model and config.data is not None:
            from optuna_spark.objectives.xgboost import train_best

            data, options = config.data, config.xgboost
            best_model = partial(train_best, data, options)
    tracking = MlflowLog(
        config.mlflow,
        storage,
        info.study_id,
        info.name,
        first_trial_number,
        facts,
        warn,
        best_model=best_model,
    )
    tracking.start()
    return tracking


THREAD_NAME = "optuna-spark-mlflow"  # the logger's thread, and its pool's threads

# Loggers that speak while this run calls MLflow: MLflow's SQL store logs every failure with
# a full traceback (and two lines as it makes a new store's tables), urllib3 every retry.
# The run says a failure once, in one line (MlflowLog._failed); with the optuna_spark logger
# at DEBUG theirs are shown too.
CHATTY_LOGGERS = ("mlflow.store.db.utils", "mlflow.utils.rest_utils", "urllib3.connectionpool")

_calling = threading.local()  # .active: this thread is inside _client_settings


class _QuietForOurCalls(logging.Filter):
    """Drops what the :data:`CHATTY_LOGGERS` say during this run's own MLflow calls (on its
    threads, or inside :func:`_client_settings`), not during anyone else's."""

    def filter(self, record: logging.LogRecord) -> bool:
        ours = (record.threadName or "").startswith(THREAD_NAME) or getattr(
            _calling, "active", False
        )
        return not ours or _logger.isEnabledFor(logging.DEBUG)


_QUIET = _QuietForOurCalls()


@contextmanager
def _client_settings() -> Iterator[None]:
    """For this run's MLflow calls, where the user has not set them: MLflow's HTTP retries and
    timeout cut to :data:`HTTP_RETRIES` and :data:`HTTP_TIMEOUT_S`, and no "View run" line
    printed (and no extra request made for it) as each child run ends; MLflow's own error
    logging (tracebacks) held back in favour of one line (:class:`_QuietForOurCalls`)."""
    settings = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": HTTP_RETRIES,
        "MLFLOW_HTTP_REQUEST_TIMEOUT": HTTP_TIMEOUT_S,
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }
    added = [name for name in settings if name not in os.environ]
    for name in added:
        os.environ[name] = settings[name]
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).addFilter(_QUIET)  # once: a filter is kept in a list only once
    _calling.active = True
    try:
        yield
    finally:
        _calling.active = False
        for name in added:
            os.environ.pop(name, None)


def remote(tracking_uri: str) -> bool:
    """Whether the tracking store is a server (each call a network round trip, many at a time
    welcome) rather than a local database or folder (one writer at a time)."""
    return tracking_uri.startswith(("http://", "https://", "databricks"))


def probe(tracking_uri: str) -> str | None:
    """None when the tracking server at an ``http(s)`` URI answers (any HTTP status) within
    :data:`PROBE_TIMEOUT_S`, else why not, in words. Other URIs (a local store,
    ``databricks``) are not probed."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    import urllib.error
    import urllib.parse
    import urllib.request

    # Credentials in the URI (http://user:pw@host, which MLflow's client sends as basic auth)
    # are not needed to see whether the server answers: any HTTP status will do. Left in,
    # urllib takes "pw@host" for a port and its error text shows the password.
    parts = urllib.parse.urlsplit(tracking_uri)
    host = parts.netloc.rpartition("@")[2]
    url = urllib.parse.urlunsplit((parts.scheme, host, parts.path.rstrip("/") + "/health", "", ""))
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:  # it answered: the server is there
        return None
    except Exception as exc:
        reason = getattr(exc, "reason", exc)
        text = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        return mask_urls_in_text(text)


@dataclass
class MlflowResult:
    """Where this run's MLflow records are, for the summary."""

    tracking_uri: str  # masked
    experiment_id: str | None = None
    experiment_name: str | None = None
    parent_run_id: str | None = None
    logged: int = 0  # child runs this run created
    already: int = 0  # trials an earlier run had logged
    model_uri: str | None = None  # the best trial's model (--log-best-model)
    error: str | None = None  # why logging stopped, if it did


@dataclass
class _Followed:
    """The storage reads the logger has done: trials seen unfinished, and the newest id."""

    pending: set[int] = field(default_factory=set)
    newest: int = -1


class MlflowLog:
    """The driver's MLflow logger for one run: :meth:`start` opens the parent run and logs
    finished trials on a thread; :meth:`finish` logs the rest and closes the parent run.

    Nothing here raises into the run: a failure is one warning (``warn``) and the tuning goes
    on without MLflow.
    """

    def __init__(
        self,
        spec: MlflowSpec,
        storage: RDBStorage,
        study_id: int,
        study_name: str,
        first_trial_number: int,
        facts: dict[str, str],
        warn: Callable[[str], None],
        poll_s: float = 1.0,
        best_model: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self._spec = spec
        self._best_model = best_model
        self._storage = storage
        self._study_id = study_id
        self._study_name = study_name
        self._first_trial_number = first_trial_number
        self._facts = facts
        self._warn = warn
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
        self._client: Any = None
        self._key = ""
        self._from = 0
        self._logged: set[int] = set()
        self._followed = _Followed()
        self._metric_names: list[str] | None = None
        self._pool: ThreadPoolExecutor | None = None  # for a tracking server: REMOTE_THREADS
        self._lock = threading.Lock()
        self._parent_of: str | None = _active_run_id()
        self.result = MlflowResult(tracking_uri="")

    def start(self) -> None:
        """Open the parent run and follow the study, on the logger's thread."""
        self._thread.start()

    def finish(self, summary: Any | None, status: str = "FINISHED") -> MlflowResult:
        """Log what finished since the last poll, then the run's outcome (best value and
        parameters, counts: ``summary``, None after Ctrl-C or an error) on the parent run,
        and close it with ``status``."""
        self._stop.set()
        self._thread.join(DRAIN_WAIT_S)
        if self._thread.is_alive():
            self._abandon.set()
            self._warn(
                f"MLflow is slow: gave up waiting after {DRAIN_WAIT_S:.0f} s; the trials not "
                "logged yet are logged by the next run"
            )
        if self._client is None or not self.result.parent_run_id:
            return self.result
        if self.result.error is None:
            try:
                with _client_settings():
                    if self._best_model is not None and summary is not None:
                        self._log_best_model(summary.best_params)
                    self._close_parent(summary, status)
            except Exception as exc:
                self._failed("close the parent run", exc)
        elif not self._abandon.is_set():
            self._end_failed_parent()
        return self.result

    def _end_failed_parent(self) -> None:
        """Logging stopped mid-run: end the parent run FAILED instead of leaving it RUNNING
        in MLflow's UI forever. One try, quietly (the warning was given when it stopped)."""
        try:
            with _client_settings():
                self._client.set_terminated(str(self.result.parent_run_id), status="FAILED")
        except Exception:
            _logger.debug("could not end the parent run after a failure", exc_info=True)

    def _log_best_model(self, params: dict[str, Any]) -> None:
        """Train the best trial's model again and log it to the parent run as ``model``; a
        failure is a warning (the trials are logged all the same)."""
        if not params or self._best_model is None:
            return
        try:
            self._train_and_log(params)
        except Exception as exc:
            self._warn(f"MLflow: could not log the best model: {_said(exc)[:300]}")
            _logger.debug("logging the best model failed", exc_info=True)

    def _train_and_log(self, params: dict[str, Any]) -> None:
        import inspect

        import mlflow.xgboost

        assert self._best_model is not None
        booster = self._best_model(params)
        log_model = mlflow.xgboost.log_model
        # MLflow 3 names the model; MLflow 2 gave it an artifact path.
        where = "name" if "name" in inspect.signature(log_model).parameters else "artifact_path"
        with mlflow.start_run(run_id=self.result.parent_run_id, nested=True):
            log_model(booster, **{where: "model"})
            mlflow.log_metric("best_model_score", float(booster.best_score))
        self.result.model_uri = f"runs:/{self.result.parent_run_id}/model"

    # -- the logger's thread ------------------------------------------------------------

    def _loop(self) -> None:
        try:
            with _client_settings():
                if not self._open():
                    return
                while True:
                    final = self._stop.is_set()  # one more pass after the stop: the last trials
                    self._log_new()
                    if final or self._abandon.is_set():
                        return
                    self._stop.wait(self._poll_s)
        except Exception as exc:
            self._failed("log trials", exc)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _open(self) -> bool:
        try:
            mlflow = require_mlflow()
        except MissingExtraError as error:
            self.result.error = str(error)
            self._warn(f"not logging to MLflow: {error}")
            return False
        uri = mlflow.get_tracking_uri()
        self.result.tracking_uri = mask_url(uri)
        if remote(uri):
            self._pool = ThreadPoolExecutor(REMOTE_THREADS, thread_name_prefix=THREAD_NAME)
        unreachable = probe(uri)
        if unreachable:
            self.result.error = f"the tracking server {mask_url(uri)} is unreachable"
            self._warn(f"not logging to MLflow: {self.result.error} ({unreachable})")
            return False
        try:
            self._client = mlflow.MlflowClient(tracking_uri=uri)
            experiment_id, name = self._experiment(mlflow)
            self.result.experiment_id, self.result.experiment_name = experiment_id, name
            self._key, self._from = self._study_key()
            self._logged = self._already_logged(experiment_id)
            self.result.already = len(self._logged)
            self._metric_names = self._study_attrs().get("study:metric_names")
            tags = {KEY_TAG: self._key, "optuna_spark.study": self._study_name}
            if self._parent_of:
                tags["mlflow.parentRunId"] = self._parent_of
            parent = self._client.create_run(
                experiment_id, run_name=f"optuna-spark {self._study_name}", tags=tags
            )
            self.result.parent_run_id = parent.info.run_id
            self._log_batch(parent.info.run_id, params=self._facts)
        except Exception as exc:
            self._failed("open an MLflow run", exc)
            return False
        return True

    def _experiment(self, mlflow: Any) -> tuple[str, str | None]:
        name = experiment_for(self._spec, self._study_name, os.environ)
        if name is None:
            experiment_id = internals.mlflow_experiment_id(mlflow)
            found = self._client.get_experiment(experiment_id)
            return experiment_id, found.name if found else None
        found = self._client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id, name
        return self._client.create_experiment(name), name

    def _study_attrs(self) -> dict[str, Any]:
        """The study's system attributes. Retried like the workers' calls: the database may
        be restarting while the logger starts (importing MLflow takes seconds)."""
        attrs: dict[str, Any] = call_with_retry(
            self._storage.get_study_system_attrs, self._study_id
        )
        return attrs

    def _study_key(self) -> tuple[str, int]:
        """The study's MLflow key and the first trial number to log, made on first use."""
        held = self._study_attrs().get(STUDY_ATTR)
        if isinstance(held, dict) and "key" in held:
            return str(held["key"]), int(held.get("from", 0))
        key = uuid.uuid4().hex
        value: dict[str, str | int] = {"key": key, "from": self._first_trial_number}
        call_with_retry(self._storage.set_study_system_attr, self._study_id, STUDY_ATTR, value)
        return key, self._first_trial_number

    def _already_logged(self, experiment_id: str) -> set[int]:
        numbers: set[int] = set()
        token = None
        while True:
            page = self._client.search_runs(
                [experiment_id],
                filter_string=f"tags.`{KEY_TAG}` = '{self._key}'",
                max_results=1000,
                page_token=token,
            )
            numbers.update(
                int(run.data.tags[NUMBER_TAG]) for run in page if NUMBER_TAG in run.data.tags
            )
            token = page.token
            if not token:
                return numbers

    def _log_new(self) -> None:
        from optuna.trial import TrialState

        from optuna_spark.storage.fast_reader import read_trials

        followed = self._followed
        try:
            trials = read_trials(
                self._storage.engine, self._study_id, None, followed.pending, followed.newest
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            # The study's database restarting: the workers wait for it, and so does the
            # logging (the next poll reads what finished meanwhile), instead of stopping.
            _logger.debug("the storage did not answer; MLflow logging waits", exc_info=True)
            return
        records = []
        for trial in trials:
            trial_id = internals.trial_id(trial, self._storage, self._study_id)
            followed.newest = max(followed.newest, trial_id)
            if not trial.state.is_finished():
                if trial.state in (TrialState.RUNNING, TrialState.WAITING):
                    followed.pending.add(trial_id)
                continue
            followed.pending.discard(trial_id)
            if trial.number >= self._from and trial.number not in self._logged:
                records.append(child_run(trial, self._key, self._metric_names))
        if self._pool is not None:
            list(self._pool.map(self._log_trial, records))  # the first error is raised here
        else:
            for record in records:
                self._log_trial(record)

    def _log_trial(self, record: ChildRun) -> None:
        if self._abandon.is_set():
            return
        tags = {**record.tags, "mlflow.parentRunId": str(self.result.parent_run_id)}
        run = self._client.create_run(
            self.result.experiment_id,
            start_time=record.start_ms,
            tags=tags,
            run_name=record.run_name,
        )
        run_id = run.info.run_id
        self._log_batch(run_id, params=record.params, metrics=record.metrics)
        self._client.set_terminated(run_id, status=record.status, end_time=record.end_ms)
        with self._lock:
            self._logged.add(record.number)
            self.result.logged += 1

    def _log_batch(
        self,
        run_id: str,
        params: Mapping[str, str] = {},
        metrics: tuple[tuple[str, float, int], ...] | list[tuple[str, float, int]] = (),
        tags: Mapping[str, str] = {},
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self._client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, step) for k, v, step in metrics],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )

    def _close_parent(self, summary: Any | None, status: str) -> None:
        run_id = str(self.result.parent_run_id)
        if summary is None:
            self._client.set_terminated(run_id, status=status)
            return
        metrics: list[tuple[str, float, int]] = [
            ("trials_finished", float(summary.finished), 0),
            ("trials_added", float(summary.added), 0),
            ("fan_out_seconds", float(summary.wall_seconds), 0),
        ]
        if summary.best_value is not None:
            metrics.append(("best_value", float(summary.best_value), 0))
        params = {
            mlflow_name(f"best.{k}"): str(v)[:PARAM_VALUE_MAX]
            for k, v in summary.best_params.items()
        }
        tags = {"best_trial": str(summary.best_trial)} if summary.best_trial is not None else {}
        if summary.stopped:  # --timeout, a callback's study.stop(), too many failures
            tags["optuna_spark.stopped"] = summary.stopped
        if summary.sampler:  # what --sampler auto chose, known only now
            tags["optuna_spark.sampler"] = summary.sampler
        self._log_batch(run_id, params=params, metrics=metrics, tags=tags)
        self._client.set_terminated(run_id, status=status)

    def _failed(self, what: str, exc: Exception) -> None:
        self.result.error = _said(exc)
        self._warn(f"MLflow logging stopped: could not {what}: {self.result.error[:300]}")
        _logger.debug("MLflow logging failed", exc_info=True)


def _said(exc: BaseException) -> str:
    """An MLflow failure in one line, its type first, any URL's password masked."""
    return mask_urls_in_text(f"{type(exc).__name__}: {first_line(exc)}")


def _active_run_id() -> str | None:
    """The run the calling thread has open in MLflow, if MLflow is in use: this run's parent
    then nests under it (a notebook cell inside ``with mlflow.start_run():``)."""
    import sys

    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None
    try:
        active = mlflow.active_run()
    except Exception:
        return None
    return active.info.run_id if active is not None else None
