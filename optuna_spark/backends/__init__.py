"""Execution backends: where worker tasks run.

- ``joblibspark``: application-level parallelism, one Spark job per worker, ``--jobs`` at a time;
- ``rdd``: task-level parallelism, one Spark job whose partitions are the workers;
- ``local``: processes on this machine, no Spark.
"""

from __future__ import annotations

from optuna_spark.backends.base import Backend
from optuna_spark.config import BACKENDS
from optuna_spark.errors import ConfigError


def get_backend(name: str) -> Backend:
    """The backend called ``name``; its heavy imports happen only when it runs."""
    if name == "local":
        from optuna_spark.backends.local import LocalBackend

        return LocalBackend()
    if name == "joblibspark":
        from optuna_spark.backends.joblib_spark import JoblibSparkBackend

        return JoblibSparkBackend()
    if name == "rdd":
        from optuna_spark.backends.rdd import RddBackend

        return RddBackend()
    raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {name!r}.")


__all__ = ["Backend", "get_backend"]
