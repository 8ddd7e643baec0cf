"""The notebook-friendly entry point: :func:`optimize`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from optuna_spark.config import (
    BackendSpec,
    DataSpec,
    HeartbeatSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
    XGBoostOptions,
    bundled_wine_csv,
    resolve_password,
    resolve_storage_url,
)

if TYPE_CHECKING:
    from optuna_spark.summary import RunSummary


def build_run_config(
    objective: str | Callable[..., Any] = "xgboost",
    n_trials: int = 100,
    *,
    storage: str | None = None,
    password_file: str | None = None,
    study_name: str | None = None,
    data: Any = None,
    label: str | None = None,
    delimiter: str | None = None,
    backend: str = "joblibspark",
    tasks: int | None = None,
    jobs: int = 8,
    master: str | None = None,
    archive: str | None = None,
    direction: str | None = None,
    sampler: str = "tpe",
    seed: int | None = None,
    fresh: bool = False,
    num_boost_round: int = 1000,
    device: str = "auto",
    task: str = "regression",
    metric: str | None = None,
    tune_max_bin: bool = False,
    prune: bool = False,
    heartbeat_interval: int | None = 10,
    grace_period: int | None = None,
    trial_retries: int = 2,
    timeout: float | None = None,
    max_failures: int = 5,
    prefetch: bool | None = None,
) -> RunConfig:
    """A validated :class:`RunConfig` from flat options, with the documented defaults:
    storage from ``OPTUNA_SPARK_STORAGE`` or ``sqlite:///optuna-spark.db`` (a password left
    out of a server URL from ``password_file`` or ``OPTUNA_SPARK_DB_PASSWORD``), data the bundled
    wine CSV. ``data`` may also be a Spark DataFrame, with ``backend="dataframe"``.
    ``heartbeat_interval`` 0 or None turns the heartbeat off. ``timeout`` (seconds)
    stops handing out trials and cancels the running ones; ``max_failures`` failed trials in a
    row stop a worker. ``prefetch`` asks for each worker's next trial while its current one
    runs (default: only for the built-in objectives; see :mod:`optuna_spark.prefetch`). The CLI and
    :func:`optimize` both build their config here."""
    url, _ = resolve_storage_url(storage, os.environ)
    frame = None if data is None or isinstance(data, (str, os.PathLike)) else data
    if frame is not None:
        path = "spark-dataframe"  # a name for messages and the default study name
    elif data and "://" in str(data):
        path = str(data)  # hdfs://, s3a://, dbfs:/...: Spark reads it (dataframe backend)
    else:
        path = os.path.abspath(data) if data else bundled_wine_csv()
    return RunConfig(
        storage=StorageSpec(url, password=resolve_password(url, password_file, os.environ)),
        objective=objective,
        study_name=study_name,
        data=DataSpec(path=path, label=label, delimiter=delimiter),
        frame=frame,
        trials=n_trials,
        backend=BackendSpec(
            name=backend,
            tasks=tasks,
            jobs=jobs,
            master=master,
            archive=os.path.abspath(archive) if archive else None,
        ),
        direction=direction,
        sampler=SamplerSpec(name=sampler, seed=seed),
        fresh=fresh,
        xgboost=XGBoostOptions(
            num_boost_round=num_boost_round,
            device=device,
            task=task,
            metric=metric,
            tune_max_bin=tune_max_bin,
            prune=prune,
        ),
        heartbeat=HeartbeatSpec(
            interval=heartbeat_interval or None,
            grace_period=grace_period,
            max_retry=trial_retries,
        ),
        timeout=timeout,
        max_consecutive_failures=max_failures,
        prefetch=prefetch,
    )


def optimize(
    objective: str | Callable[..., Any],
    n_trials: int = 100,
    **options: Any,
) -> RunSummary:
    """Run (or resume) a study with ``n_trials`` finished trials in total.

    ``objective`` is ``"xgboost"``, ``"quadratic"``, ``"module:function"``,
    ``"path/file.py:function"`` or a callable ``f(trial)`` / ``f(trial, data)`` (cloudpickled
    to the workers). Keyword options are those of :func:`build_run_config` (``storage``,
    ``password_file``,
    ``study_name``, ``data``, ``label``, ``backend``, ``tasks``, ``jobs``, ``master``,
    ``direction``, ``sampler``, ``seed``, ``fresh``, ``num_boost_round``, ``device``,
    ``task``, ``metric``, ``tune_max_bin``, ``prune``,
    ``heartbeat_interval``, ``grace_period``, ``trial_retries``, ``timeout``, ``prefetch``,
    ``max_failures``). On Spark backends
    the active SparkSession is used if there is one. Returns a
    :class:`~optuna_spark.summary.RunSummary`.
    """
    from optuna_spark.runner import run_study

    return run_study(build_run_config(objective, n_trials, **options))
