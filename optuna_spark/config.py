"""Frozen configuration dataclasses and the pure rules that fill them in.

Everything here is plain data: specs are picklable and are what crosses the wire to the
executors (never engines, sessions or Spark objects). Validation happens at construction,
so a bad value fails on the driver with a one-sentence :class:`ConfigError`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from optuna_spark.errors import ConfigError
from optuna_spark.urls import (
    absolute_sqlite_url,
    default_storage_url,
    is_sqlite,
    mask_url,
    url_password,
)

BACKENDS: tuple[str, ...] = ("joblibspark", "rdd", "dataframe", "local")
DIRECTIONS: tuple[str, ...] = ("minimize", "maximize")
SAMPLERS: tuple[str, ...] = ("auto", "tpe", "random", "cmaes", "qmc", "gp")
# Optuna's default is the median pruner; "custom" is a pruner object from the Python API.
PRUNERS: tuple[str, ...] = ("median", "percentile", "hyperband", "successive-halving", "none")
BUILTIN_OBJECTIVES: tuple[str, ...] = ("xgboost", "quadratic")

STORAGE_ENV = "OPTUNA_SPARK_STORAGE"
# Optuna's own CLI reads this one; honoured after ours, so an Optuna user's setting just works.
OPTUNA_STORAGE_ENV = "OPTUNA_STORAGE"
PASSWORD_ENV = "OPTUNA_SPARK_DB_PASSWORD"
# A file holding the password: the same variable scripts/setup-mysql.sh saves a generated one to.
PASSWORD_FILE_ENV = "OPTUNA_SPARK_DB_PASSWORD_FILE"


def bundled_wine_csv() -> str:
    """Absolute path of the bundled UCI red wine quality CSV (Cortez et al., 2009)."""
    return str(resources.files("optuna_spark") / "resources" / "winequality-red.csv")


def gpu_discovery_script() -> str:
    """Absolute path of the bundled Spark GPU discovery script, made executable (Spark runs
    it directly; an install may have dropped the mode bit)."""
    path = Path(str(resources.files("optuna_spark") / "resources" / "get-gpus-resources.sh"))
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def resolve_storage_url(
    cli_value: str | None, env: Mapping[str, str], cwd: str | None = None
) -> tuple[str, str]:
    """Pick the storage URL by precedence: CLI option > ``OPTUNA_SPARK_STORAGE`` >
    ``OPTUNA_STORAGE`` (Optuna's own) > default.

    Returns ``(url, source)`` where source says where the value came from. Relative SQLite
    paths are made absolute against ``cwd`` so every worker opens the same file.
    """
    if cli_value:
        url, source = cli_value, "--storage"
    elif env.get(STORAGE_ENV):
        url, source = env[STORAGE_ENV], STORAGE_ENV
    elif env.get(OPTUNA_STORAGE_ENV):
        url, source = env[OPTUNA_STORAGE_ENV], OPTUNA_STORAGE_ENV
    else:
        return default_storage_url(cwd), "default"
    return absolute_sqlite_url(url, cwd), source


def resolve_password(url: str, password_file: str | None, env: Mapping[str, str]) -> str | None:
    """The database password for a URL that leaves it out: ``--password-file`` >
    ``OPTUNA_SPARK_DB_PASSWORD_FILE`` > ``OPTUNA_SPARK_DB_PASSWORD`` > none. A password written
    in the URL itself wins (None here).
    """
    if url_password(url) or is_sqlite(url):
        return None
    source = "--password-file"
    if not password_file and env.get(PASSWORD_FILE_ENV):
        password_file, source = env[PASSWORD_FILE_ENV], PASSWORD_FILE_ENV
    if password_file:
        path = os.path.expanduser(password_file)
        try:
            with open(path, encoding="utf-8") as handle:
                secret = handle.read().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the password file {path} ({exc.strerror}); check {source}."
            ) from exc
        if not secret:
            raise ConfigError(f"the password file {path} is empty; check {source}.")
        return secret
    return env.get(PASSWORD_ENV) or None


def resolve_storage(
    cli_value: str | None, password_file: str | None, env: Mapping[str, str]
) -> StorageSpec:
    """The storage the CLI's study commands and the Python API's ``report`` open: the URL by
    :func:`resolve_storage_url`'s precedence, its password by :func:`resolve_password`'s."""
    url, _source = resolve_storage_url(cli_value, env)
    return StorageSpec(url, password=resolve_password(url, password_file, env))


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive whole number, got {value!r}.")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}.")


@dataclass(frozen=True)
class StorageSpec:
    """Where the study lives. ``url`` may hold a password: print :meth:`masked`, never it.

    ``password`` is for URLs that leave it out (from ``--password-file`` or
    ``OPTUNA_SPARK_DB_PASSWORD`` on the driver); it travels inside the pickled task, never on a
    command line, and is not part of ``repr``.
    """

    url: str
    password: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if "://" not in self.url:
            raise ConfigError(
                f"storage URL {mask_url(self.url)!r} is not a URL; use for example "
                "sqlite:///optuna-spark.db or mysql://user@host/db."
            )

    @property
    def masked(self) -> str:
        """The URL with its password replaced by ``***``."""
        return mask_url(self.url)

    def with_password(self, env: Mapping[str, str]) -> StorageSpec:
        """This spec with the driver's ``OPTUNA_SPARK_DB_PASSWORD`` filled in where the URL
        and the spec lack one, so the workers get it inside their task."""
        if self.password is not None:
            return self
        password = resolve_password(self.url, None, env)
        return self if password is None else StorageSpec(self.url, password=password)

    def __repr__(self) -> str:  # keep secrets out of tracebacks, logs and the Spark UI
        return f"StorageSpec(url={self.masked!r})"


@dataclass(frozen=True)
class SamplerSpec:
    """Which Optuna sampler each worker builds, and the base seed."""

    name: str = "auto"
    seed: int | None = None

    def __post_init__(self) -> None:
        _one_of("--sampler", self.name, SAMPLERS)


@dataclass(frozen=True)
class PrunerSpec:
    """Which Optuna pruner every worker builds (the same one everywhere, so its decisions use
    every worker's intermediate values, read through the shared storage), or a pickled pruner
    object from the Python API."""

    name: str = "median"
    payload: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.name == "custom":
            if self.payload is None:
                raise ConfigError("a custom pruner needs its pickled object.")
        else:
            _one_of("--pruner", self.name, PRUNERS)


@dataclass(frozen=True)
class DataSpec:
    """A tabular data set: CSV or Parquet, with the label column (default: the last one)."""

    path: str
    label: str | None = None
    delimiter: str | None = None


XGBOOST_DEVICES = ("auto", "cpu", "cuda")
# The first metric of each task is its default.
XGBOOST_METRICS = {"regression": ("rmse", "mae"), "binary": ("logloss", "auc", "error")}
MAXIMIZED_METRICS = frozenset({"auc"})


@dataclass(frozen=True)
class XGBoostOptions:
    """Settings of the built-in XGBoost objective that are not searched."""

    num_boost_round: int = 1000
    early_stopping_rounds: int = 50
    validation_fraction: float = 0.2
    split_seed: int = 42
    device: str = "auto"  # auto | cpu | cuda, decided by each worker (see device.py)
    task: str = "regression"  # regression | binary
    metric: str | None = None  # None: rmse for regression, logloss for binary
    tune_max_bin: bool = False  # also search max_bin (one training matrix per value, cached)
    prune: bool = False  # stop hopeless trials early through Optuna's XGBoost callback

    def __post_init__(self) -> None:
        _positive("--num-boost-round", self.num_boost_round)
        _positive("early_stopping_rounds", self.early_stopping_rounds)
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError("validation_fraction must be between 0 and 1.")
        _one_of("--device", self.device, XGBOOST_DEVICES)
        _one_of("--task", self.task, tuple(XGBOOST_METRICS))
        if self.metric is not None and self.metric not in XGBOOST_METRICS[self.task]:
            raise ConfigError(
                f"--metric {self.metric} does not fit --task {self.task}; use one of "
                f"{', '.join(XGBOOST_METRICS[self.task])}."
            )

    @property
    def eval_metric(self) -> str:
        """The validation metric the objective returns."""
        return self.metric or XGBOOST_METRICS[self.task][0]

    @property
    def direction(self) -> str:
        """Which way the metric improves."""
        return "maximize" if self.eval_metric in MAXIMIZED_METRICS else "minimize"


@dataclass(frozen=True)
class ObjectiveSpec:
    """A resolved objective, ready to ship: built-in name, importable path, shipped source
    file, or a cloudpickled callable from the Python API."""

    kind: str  # "builtin" | "module" | "file" | "pickled"
    name: str  # what the user asked for, for messages
    target: str = ""  # module name, file name or built-in name
    function: str = ""
    source: str | None = None  # text of a file objective, shipped to every worker
    payload: bytes | None = None  # cloudpickled callable
    # A pickled callable's name for the study (objectives/identity.py): its qualified name,
    # with a digest of its code for a lambda.
    reference: str = ""
    takes_data: bool = False
    data: DataSpec | None = None
    xgboost: XGBoostOptions = field(default_factory=XGBoostOptions)

    def __repr__(self) -> str:  # the source text and payload are long and not useful in logs
        return f"ObjectiveSpec(kind={self.kind!r}, name={self.name!r})"


_LOCAL_MASTER = re.compile(
    r"local(\[(\*|[1-9]\d*)(,[1-9]\d*)?\])?|local-cluster\[[1-9]\d*,[1-9]\d*,[1-9]\d*\]"
)
_SPARK_MASTER = re.compile(r"spark://[^\s:,/]+:\d+(,[^\s:,/]+:\d+)*")


def check_master(master: str) -> None:
    """Refuse a malformed local or standalone master URL before Spark starts (Spark's own
    error arrives after a JVM start, wrapped in a Java stack trace). Other schemes (yarn,
    k8s://...) are Spark's to judge."""
    if master.startswith("local") and not _LOCAL_MASTER.fullmatch(master):
        raise ConfigError(
            f"--master {master!r} is not a local Spark master; use local, local[N], local[*], "
            "local[N,MAX_FAILURES] or local-cluster[WORKERS,CORES,MEMORY_MB]."
        )
    if master.startswith("spark://") and not _SPARK_MASTER.fullmatch(master):
        raise ConfigError(
            f"--master {master!r} is not a standalone Spark master; use spark://HOST:PORT "
            "(several masters: spark://HOST1:PORT1,HOST2:PORT2)."
        )


@dataclass(frozen=True)
class BackendSpec:
    """How workers are fanned out."""

    name: str = "joblibspark"
    tasks: int | None = None  # None: one per concurrent task slot of the cluster
    jobs: int | None = None  # joblibspark's jobs at a time; None: every worker at once
    master: str | None = None
    archive: str | None = None  # a packed environment for the executors (pack-env)

    def __post_init__(self) -> None:
        _one_of("--backend", self.name, BACKENDS)
        if self.tasks is not None:
            _positive("--tasks", self.tasks)
        if self.jobs is not None:
            _positive("--jobs", self.jobs)
        if self.master is not None:
            check_master(self.master)
        if self.archive and (self.master is None or self.master.startswith("local")):
            raise ConfigError(
                "--archive ships a packed environment to cluster executors; pass a cluster "
                "--master (spark://..., yarn) with it, or drop it for local runs."
            )


@dataclass(frozen=True)
class HeartbeatSpec:
    """Optuna's heartbeat: how a trial whose worker died is noticed and tried again.

    Every ``interval`` seconds a running trial writes a heartbeat; one silent for
    ``grace_period`` seconds is marked FAIL and its parameters are queued again (at most
    ``max_retry`` times). ``interval=None`` turns it off.
    """

    interval: int | None = 10
    grace_period: int | None = None  # None: three intervals
    max_retry: int = 2

    def __post_init__(self) -> None:
        if self.interval is not None:
            _positive("--heartbeat-interval", self.interval)
        if self.grace_period is not None:
            _positive("--grace-period", self.grace_period)
            if self.interval is not None and self.grace_period <= self.interval:
                raise ConfigError(
                    f"--grace-period ({self.grace_period} s) must be longer than "
                    f"--heartbeat-interval ({self.interval} s); raise it or leave it out."
                )
        retries = self.max_retry
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"--trial-retries must be 0 or more, got {self.max_retry!r}.")

    @property
    def enabled(self) -> bool:
        """True when trials send heartbeats."""
        return self.interval is not None

    @property
    def grace_seconds(self) -> int | None:
        """The grace period in effect (None when the heartbeat is off)."""
        if self.interval is None:
            return None
        return self.grace_period or 3 * self.interval


@dataclass(frozen=True)
class MlflowSpec:
    """MLflow tracking (mlflow_runs.py): one parent run per ``optuna-spark run`` and one child
    run per finished trial, logged by the driver from the storage.

    ``enabled`` None means on when ``$MLFLOW_TRACKING_URI`` is set, on a Databricks runtime
    or when ``experiment`` is given (:func:`mlflow_wanted`); ``experiment`` None means
    MLflow's own default experiment on Databricks and ``$MLFLOW_EXPERIMENT_NAME`` /
    ``$MLFLOW_EXPERIMENT_ID``, else one named after the study.
    """

    experiment: str | None = None
    enabled: bool | None = None
    log_best_model: bool = False

    def __post_init__(self) -> None:
        if self.experiment is not None and not self.experiment.strip():
            raise ConfigError("--mlflow-experiment is empty; name the experiment or leave it out.")
        if self.enabled is False and self.experiment is not None:
            raise ConfigError("give --mlflow-experiment or --no-mlflow, not both.")
        if self.enabled is False and self.log_best_model:
            raise ConfigError("--log-best-model logs to MLflow; drop it or drop --no-mlflow.")


# Set by MLflow users (the server to log to) and by every Databricks runtime.
MLFLOW_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
DATABRICKS_RUNTIME_ENV = "DATABRICKS_RUNTIME_VERSION"


def mlflow_wanted(spec: MlflowSpec, env: Mapping[str, str]) -> bool:
    """Whether a run logs to MLflow: as asked, else when the environment names a tracking
    server (``$MLFLOW_TRACKING_URI``) or is a Databricks runtime, whose notebooks and jobs
    track to the workspace, or when an experiment or best-model logging is asked for."""
    if spec.enabled is not None:
        return spec.enabled
    if spec.experiment is not None or spec.log_best_model:
        return True
    return bool(env.get(MLFLOW_TRACKING_URI_ENV)) or bool(env.get(DATABRICKS_RUNTIME_ENV))


# Optuna's RDB schema indexes study names up to this many characters.
MAX_STUDY_NAME = 512


@dataclass(frozen=True)
class RunConfig:
    """Everything ``optuna-spark run`` needs; built by the CLI or by the Python API."""

    storage: StorageSpec
    objective: str | Callable[..., Any] = "xgboost"
    study_name: str | None = None
    data: DataSpec | None = None
    trials: int = 100
    backend: BackendSpec = field(default_factory=BackendSpec)
    direction: str | None = None
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    fresh: bool = False
    # Resume the named study although it records another objective, data or metric.
    force_resume: bool = False
    xgboost: XGBoostOptions = field(default_factory=XGBoostOptions)
    # A worker stops after this many failed trials in a row, so a broken objective does not
    # burn the whole budget; the failures are reported.
    max_consecutive_failures: int = 5
    progress_interval: float = 1.0
    heartbeat: HeartbeatSpec = field(default_factory=HeartbeatSpec)
    # Seconds after which no more trials start and running ones are cancelled (None: no limit).
    timeout: float | None = None
    # Ask for each worker's next trial while its current one runs (prefetch.py). None: on
    # (off only where Optuna's trial cannot hold values until asked, for a user objective).
    prefetch: bool | None = None
    # Optuna callbacks run on the workers after each of their trials: callables (Python API)
    # or module:function / file.py:function references; ``patience`` adds the ready one.
    callbacks: tuple[Any, ...] = ()
    patience: int | None = None
    # Warm start (warm_start.py): a JSON file of parameter sets to try first, counted inside
    # ``trials``; a study whose complete trials are copied in first, not counted.
    enqueue: str | None = None
    warm_start_from: str | None = None
    # Seconds one trial may run before it is failed as timed out (trial_timeout.py).
    trial_timeout: float | None = None
    # A Spark DataFrame holding the data set (Python API, ``dataframe`` backend); it stays on
    # the driver, Spark ships its rows.
    frame: Any = field(default=None, compare=False, repr=False)
    mlflow: MlflowSpec = field(default_factory=MlflowSpec)

    def __post_init__(self) -> None:
        _positive("--trials", self.trials)
        _positive("--max-failures", self.max_consecutive_failures)
        if self.patience is not None:
            _positive("--patience", self.patience)
        if self.trial_timeout is not None and not self.trial_timeout > 0:
            raise ConfigError(
                f"--trial-timeout must be a positive number of seconds, got {self.trial_timeout!r}."
            )
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(
                f"--timeout must be a positive number of seconds, got {self.timeout!r}."
            )
        if self.direction is not None:
            # One direction, or several joined by commas (a multi-objective study).
            flag = "--directions" if "," in self.direction else "--direction"
            for one in self.direction.split(","):
                _one_of(flag, one, DIRECTIONS)
        if isinstance(self.objective, str) and not self.objective.strip():
            raise ConfigError("--objective is empty; name xgboost, quadratic or module:function.")
        if self.frame is not None and self.backend.name != "dataframe":
            raise ConfigError(
                "a Spark DataFrame as the data set needs backend='dataframe'; pass it, or "
                "give a file path instead."
            )
        if self.mlflow.log_best_model and self.objective != "xgboost":
            raise ConfigError(
                "--log-best-model logs the built-in XGBoost objective's model; with another "
                "objective, log your model from it with MLflow."
            )
        if self.mlflow.log_best_model and self.frame is not None:
            raise ConfigError(
                "--log-best-model trains the best model again on the driver from a data file; "
                "give the data as a path (CSV or Parquet) instead of a DataFrame."
            )
        if self.force_resume and self.study_name is None:
            raise ConfigError(
                "--force-resume resumes a study you name; add --study-name NAME, or drop it."
            )
        if self.force_resume and self.fresh:
            raise ConfigError(
                "--fresh starts the study over and --force-resume keeps it; give one of them."
            )
        if self.study_name is not None and not self.study_name.strip():
            raise ConfigError("--study-name is empty; give the study a name or leave it out.")
        if self.study_name is not None and len(self.study_name) > MAX_STUDY_NAME:
            raise ConfigError(
                f"--study-name is {len(self.study_name)} characters long; Optuna's storage keeps "
                f"at most {MAX_STUDY_NAME}, so pick a shorter name."
            )


# The built-in XGBoost objective's options, by the CLI flag that sets them.
_XGBOOST_FLAGS = {
    "num_boost_round": "--num-boost-round",
    "device": "--device",
    "task": "--task",
    "metric": "--metric",
    "tune_max_bin": "--tune-max-bin",
    "prune": "--prune",
}


def unused_options(config: RunConfig, objective: str, takes_data: bool) -> list[str]:
    """Options given that this run does nothing with, one warning each: a Spark master for
    the ``local`` backend, ``--jobs`` beside another backend than joblibspark, a data set for
    an ``objective`` that takes none, XGBoost settings for another objective."""
    unused = []
    backend = config.backend
    if backend.master is not None and backend.name == "local":
        unused.append("--master is for the Spark backends; --backend local ignores it")
    if backend.jobs is not None and backend.name != "joblibspark":
        unused.append(
            f"--jobs limits joblibspark's Spark jobs; --backend {backend.name} ignores it"
        )
    data = config.data
    if not takes_data and config.frame is None and data is not None:
        given = [
            flag
            for flag, value in (
                ("--filepath", data.path != bundled_wine_csv()),
                ("--label", data.label is not None),
                ("--delimiter", data.delimiter is not None),
            )
            if value
        ]
        if given:
            unused.append(
                f"{', '.join(given)}: objective {objective} takes no data set, so "
                f"{'it is' if len(given) == 1 else 'they are'} ignored"
            )
    if objective != "xgboost":
        defaults = XGBoostOptions()
        given = [
            flag
            for name, flag in _XGBOOST_FLAGS.items()
            if getattr(config.xgboost, name) != getattr(defaults, name)
        ]
        if given:
            unused.append(
                f"{', '.join(given)}: the built-in xgboost objective's "
                f"{'option' if len(given) == 1 else 'options'}; objective {objective} "
                f"ignores {'it' if len(given) == 1 else 'them'}"
            )
    return [f"warning: {line}" for line in unused]
