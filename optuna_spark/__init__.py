"""optuna-spark: run one Optuna study across an Apache Spark cluster.

Python API (the CLI is a thin layer over it)::

    from optuna_spark import optimize

    summary = optimize("quadratic", n_trials=50, storage="sqlite:///study.db", backend="local")
    print(summary.best_value, summary.best_params)

Heavy dependencies (pyspark, xgboost, MySQL drivers) are imported only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from optuna_spark.api import optimize  # noqa: E402
from optuna_spark.config import (  # noqa: E402
    BackendSpec,
    DataSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
    XGBoostOptions,
)
from optuna_spark.errors import OptunaSparkError  # noqa: E402

__all__ = [
    "BackendSpec",
    "DataSpec",
    "OptunaSparkError",
    "RunConfig",
    "SamplerSpec",
    "StorageSpec",
    "XGBoostOptions",
    "optimize",
    "run_study",
]


def run_study(config: RunConfig, reporter: object | None = None):  # type: ignore[no-untyped-def]
    """Run a study described by ``config``; see :func:`optuna_spark.runner.run_study`."""
    from optuna_spark.runner import run_study as _run_study

    return _run_study(config, reporter)  # type: ignore[arg-type]
