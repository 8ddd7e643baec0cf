"""optuna-spark: run one Optuna study across an Apache Spark cluster.

Python API (the CLI is a thin layer over it)::

    from optuna_spark import optimize

    summary = optimize("quadratic", n_trials=50, storage="sqlite:///study.db", backend="local")
    print(summary.best_value, summary.best_params)

Heavy dependencies (pyspark, xgboost, MySQL drivers) are imported only when used.
"""

from __future__ import annotations

from optuna_spark._version import __version__
from optuna_spark.api import build_run_config, optimize, report
from optuna_spark.config import (
    BackendSpec,
    DataSpec,
    HeartbeatSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
    XGBoostOptions,
)
from optuna_spark.errors import OptunaSparkError
from optuna_spark.options import RunOptions
from optuna_spark.runner import run_study
from optuna_spark.summary import RunSummary

__all__ = [
    "BackendSpec",
    "DataSpec",
    "HeartbeatSpec",
    "OptunaSparkError",
    "RunConfig",
    "RunOptions",
    "RunSummary",
    "SamplerSpec",
    "StorageSpec",
    "XGBoostOptions",
    "__version__",
    "build_run_config",
    "optimize",
    "report",
    "run_study",
]
