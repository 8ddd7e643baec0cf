"""Execution backends: where worker tasks run.

- ``joblibspark``: application-level parallelism, one Spark job per worker, ``--jobs`` at a time;
- ``rdd``: task-level parallelism, one Spark job whose partitions are the workers;
- ``dataframe``: Spark reads the data set and gives each worker its own copy (``mapInPandas``);
- ``local``: processes on this machine, no Spark.
"""

from __future__ import annotations

from typing import Any

from optuna_spark.backends.base import Backend
from optuna_spark.config import BACKENDS
from optuna_spark.errors import ConfigError


def get_backend(name: str, frame: Any = None) -> Backend:
    """The backend called ``name``; its heavy imports happen only when it runs. ``frame`` is
    the user's Spark DataFrame for the ``dataframe`` backend."""
    if name == "local":
        from optuna_spark.backends.local import LocalBackend

        return LocalBackend()
    if name == "joblibspark":
        from optuna_spark.backends.joblib_spark import JoblibSparkBackend

        return JoblibSparkBackend()
    if name == "rdd":
        from optuna_spark.backends.rdd import RddBackend

        return RddBackend()
    if name == "dataframe":
        from optuna_spark.backends.dataframe import DataFrameBackend

        return DataFrameBackend(frame)
    raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {name!r}.")


__all__ = ["Backend", "get_backend"]
