"""The flat options of one run, each defined once with its default.

``optuna-spark run`` and :func:`optuna_spark.optimize` take the same options under the same
names; both build a :class:`RunOptions` and call :meth:`RunOptions.to_config` for the nested,
validated :class:`~optuna_spark.config.RunConfig`. A default lives on the spec that holds the
value (``BackendSpec.jobs``, ``HeartbeatSpec.interval``, ...); this class reads it from there,
and the CLI reads it from this class, so a default is written in one place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from optuna_spark.config import (
    PRUNERS,
    BackendSpec,
    DataSpec,
    HeartbeatSpec,
    MlflowSpec,
    PrunerSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
    XGBoostOptions,
    bundled_wine_csv,
    resolve_password,
    resolve_storage_url,
)
from optuna_spark.errors import ConfigError


@dataclass(frozen=True)
class RunOptions:
    """Every option of a run, as the CLI and :func:`optuna_spark.optimize` take them.

    Attributes:
        objective: ``"xgboost"``, ``"quadratic"``, ``"module:function"``,
            ``"path/file.py:function"``, or a callable ``f(trial)`` / ``f(trial, data)``
            (cloudpickled to the workers).
        n_trials: the study's total budget of finished trials; a rerun resumes.
        storage: the storage URL; default ``$OPTUNA_SPARK_STORAGE``, else ``$OPTUNA_STORAGE``,
            else the SQLite file ``optuna-spark.db`` in the working directory.
        password_file: a file holding the password of a server URL that leaves it out (else
            ``$OPTUNA_SPARK_DB_PASSWORD_FILE``, else ``$OPTUNA_SPARK_DB_PASSWORD``).
        study_name: default from the objective and the data, e.g. ``xgboost-winequality-red``.
        data: a CSV or Parquet path (``hdfs://`` and ``s3a://`` with the ``dataframe`` backend),
            or a Spark DataFrame (``dataframe`` backend); default the bundled wine CSV.
        label, delimiter: the label column (default the last) and the CSV delimiter (default
            detected).
        backend: ``joblibspark``, ``rdd``, ``dataframe`` or ``local``.
        tasks: worker tasks; default the cluster's task slots (``local``: the CPU count).
        jobs: ``joblibspark``: at most this many Spark jobs at a time; default every worker
            at once (as many as ``tasks``).
        master: the Spark master; default the active session, else ``local[*]``.
        archive: a packed environment (``pack-env``) for a cluster ``master``'s executors.
        directions: two or more directions, for a multi-objective study (an objective that
            returns that many values); a list, or one string joined by commas.
        direction: ``minimize`` or ``maximize``; default the existing study's, else the
            objective's own (``minimize``; ``maximize`` for XGBoost's ``auc``).
        sampler, seed: the Optuna sampler (``auto``, the default: CMA-ES or TPE by the space,
            see :mod:`optuna_spark.auto_sampler`; ``tpe``, ``random``, ``cmaes``, ``qmc``,
            ``gp``) and the base seed (worker *i* uses ``seed + i``).
        fresh: delete the study first and start over (once every check has passed).
        force_resume: resume the study named by ``study_name`` although it records another
            objective, data set, label, task, metric or boosting rounds than this run's
            (such a resume is refused otherwise, naming what differs).
        num_boost_round, device, task, metric, tune_max_bin, prune: the built-in XGBoost
            objective's settings (see :class:`~optuna_spark.config.XGBoostOptions`).
        heartbeat_interval, grace_period, trial_retries: how trials lost with their worker are
            found and tried again; ``heartbeat_interval`` 0 or None turns this off.
        timeout: seconds after which no trial starts and running ones are cancelled.
        max_failures: a worker stops after this many failed trials in a row.
        pruner: ``median`` (Optuna's default), ``percentile``, ``hyperband``,
            ``successive-halving`` or ``none``, or an ``optuna.pruners`` object; every worker
            builds the same one, so it judges by every worker's intermediate values.
        prefetch: ask for each worker's next trial while its current one runs (values sampled
            ahead are recorded only when the objective asks for them); default on (see
            :func:`optuna_spark.plan.prefetch_enabled`).
        callbacks: Optuna callbacks, ``callback(study, frozen_trial)``, run on the workers
            after each of their trials: callables (cloudpickled) or ``module:function`` /
            ``path/file.py:function``; ``study.stop()`` in one stops every worker.
        patience: stop the study once this many trials in a row (complete or pruned) have not
            improved on the best value.
        enqueue: a JSON file, a list of parameter objects to try first (enqueued once, on the
            driver; counted inside ``n_trials``).
        trial_timeout: seconds a trial may run; a longer one is failed as "timed out after S s"
            (a counted failure), see :mod:`optuna_spark.trial_timeout`.
        warm_start_from: a study in the same storage whose complete trials are copied in once,
            before the first trial, so the sampler starts from them (not counted).
        mlflow: log a parent run and one child run per finished trial to MLflow (True/False);
            default on when ``$MLFLOW_TRACKING_URI`` is set, on Databricks, or when
            ``mlflow_experiment`` is given (:mod:`optuna_spark.mlflow_runs`).
        mlflow_experiment: the MLflow experiment; default MLflow's own on Databricks and
            where ``$MLFLOW_EXPERIMENT_NAME`` is set, else one named after the study.
        log_best_model: the built-in XGBoost objective: log the best trial's model to the
            parent run as an MLflow model.
    """

    objective: str | Callable[..., Any] = RunConfig.objective
    n_trials: int = RunConfig.trials
    storage: str | None = None
    password_file: str | None = None
    study_name: str | None = None
    data: Any = None
    label: str | None = None
    delimiter: str | None = None
    backend: str = BackendSpec.name
    tasks: int | None = BackendSpec.tasks
    jobs: int | None = BackendSpec.jobs
    master: str | None = BackendSpec.master
    archive: str | None = BackendSpec.archive
    direction: str | None = RunConfig.direction
    directions: Sequence[str] = ()
    sampler: str = SamplerSpec.name
    seed: int | None = SamplerSpec.seed
    pruner: Any = PrunerSpec.name
    fresh: bool = RunConfig.fresh
    force_resume: bool = RunConfig.force_resume
    num_boost_round: int = XGBoostOptions.num_boost_round
    device: str = XGBoostOptions.device
    task: str = XGBoostOptions.task
    metric: str | None = XGBoostOptions.metric
    tune_max_bin: bool = XGBoostOptions.tune_max_bin
    prune: bool = XGBoostOptions.prune
    heartbeat_interval: int | None = HeartbeatSpec.interval
    grace_period: int | None = HeartbeatSpec.grace_period
    trial_retries: int = HeartbeatSpec.max_retry
    timeout: float | None = RunConfig.timeout
    max_failures: int = RunConfig.max_consecutive_failures
    prefetch: bool | None = RunConfig.prefetch
    callbacks: Sequence[Any] = RunConfig.callbacks
    patience: int | None = RunConfig.patience
    enqueue: str | None = RunConfig.enqueue
    warm_start_from: str | None = RunConfig.warm_start_from
    trial_timeout: float | None = RunConfig.trial_timeout
    mlflow: bool | None = MlflowSpec.enabled
    mlflow_experiment: str | None = MlflowSpec.experiment
    log_best_model: bool = MlflowSpec.log_best_model

    @classmethod
    def from_keywords(cls, **options: Any) -> RunOptions:
        """Options from keyword arguments; an unknown name is a :class:`ConfigError` that
        lists the known ones (a typo must not be silently ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; the options are "
                f"{', '.join(sorted(known))}."
            )
        return cls(**options)

    def _direction(self) -> str | None:
        """``direction``, or the ``directions`` of a multi-objective study joined by commas."""
        given = [self.directions] if isinstance(self.directions, str) else self.directions
        wanted = [d.strip() for part in given for d in part.split(",") if d.strip()]
        if not wanted:
            return self.direction
        if self.direction is not None:
            raise ConfigError("give --direction or --directions, not both.")
        if len(wanted) < 2:
            raise ConfigError(
                "--directions is for two or more objectives; use --direction for one."
            )
        return ",".join(wanted)

    def to_config(self, env: Mapping[str, str] | None = None) -> RunConfig:
        """The validated :class:`RunConfig`: storage URL and password resolved from ``env``
        (default ``os.environ``), relative paths made absolute."""
        env = os.environ if env is None else env
        url, _ = resolve_storage_url(self.storage, env)
        data = self.data
        frame = None if data is None or isinstance(data, (str, os.PathLike)) else data
        if frame is not None:
            path = "spark-dataframe"  # a name for messages and the default study name
        elif data and "://" in str(data):
            path = str(data)  # hdfs://, s3a://, dbfs:/...: Spark reads it (dataframe backend)
        else:
            path = os.path.abspath(data) if data else bundled_wine_csv()
        return RunConfig(
            storage=StorageSpec(url, password=resolve_password(url, self.password_file, env)),
            objective=self.objective,
            study_name=self.study_name,
            data=DataSpec(path=path, label=self.label, delimiter=delimiter(self.delimiter)),
            frame=frame,
            trials=self.n_trials,
            backend=BackendSpec(
                name=self.backend,
                tasks=self.tasks,
                jobs=self.jobs,
                master=self.master,
                archive=os.path.abspath(self.archive) if self.archive else None,
            ),
            direction=self._direction(),
            sampler=SamplerSpec(name=self.sampler, seed=self.seed),
            pruner=pruner_spec(self.pruner),
            fresh=self.fresh,
            force_resume=self.force_resume,
            xgboost=XGBoostOptions(
                num_boost_round=self.num_boost_round,
                device=self.device,
                task=self.task,
                metric=self.metric,
                tune_max_bin=self.tune_max_bin,
                prune=self.prune,
            ),
            heartbeat=HeartbeatSpec(
                interval=self.heartbeat_interval or None,
                grace_period=self.grace_period,
                max_retry=self.trial_retries,
            ),
            timeout=self.timeout,
            max_consecutive_failures=self.max_failures,
            prefetch=self.prefetch,
            # One callback given on its own is a list of one.
            callbacks=(
                (self.callbacks,)
                if callable(self.callbacks) or isinstance(self.callbacks, str)
                else tuple(self.callbacks)
            ),
            patience=self.patience,
            enqueue=os.path.abspath(os.path.expanduser(self.enqueue)) if self.enqueue else None,
            warm_start_from=self.warm_start_from,
            trial_timeout=self.trial_timeout,
            mlflow=MlflowSpec(
                experiment=self.mlflow_experiment,
                enabled=self.mlflow,
                log_best_model=self.log_best_model,
            ),
        )


# What a shell passes for a tab: the two characters of '\t', or the word.
_TAB_SPELLINGS = ("\\t", "tab", "TAB")


def delimiter(given: str | None) -> str | None:
    """The CSV delimiter as the data reader wants it: ``--delimiter '\\t'`` (which a shell
    passes as a backslash and a t) and ``--delimiter tab`` mean a tab."""
    return "\t" if given in _TAB_SPELLINGS else given


def pruner_spec(pruner: Any) -> PrunerSpec:
    """A pruner by name (``--pruner``), or an Optuna pruner object (Python API), pickled."""
    if isinstance(pruner, str):
        return PrunerSpec(pruner)
    import cloudpickle
    import optuna

    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ConfigError(
            f"pruner={pruner!r} is neither a pruner name ({', '.join(PRUNERS)}) nor an "
            "optuna.pruners.BasePruner."
        )
    return PrunerSpec("custom", payload=cloudpickle.dumps(pruner))


# The defaults, for the CLI's option declarations.
DEFAULTS = RunOptions()
