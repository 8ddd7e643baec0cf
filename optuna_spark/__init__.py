"""optuna-spark: run one Optuna study across an Apache Spark cluster.

Python API (the CLI is a thin layer over it)::

    from optuna_spark import optimize

    summary = optimize("quadratic", n_trials=50, storage="sqlite:///study.db", backend="local")
    print(summary.best_value, summary.best_params)

Heavy dependencies (pyspark, xgboost, MySQL drivers) are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optuna_spark._version import __version__

if TYPE_CHECKING:
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

# Where each public name lives: imported on first use, so that ``optuna-spark --help`` and
# the storage commands do not pay for Optuna's and the runner's imports (0.4 s).
_HOMES = {
    "build_run_config": "api",
    "optimize": "api",
    "report": "api",
    "BackendSpec": "config",
    "DataSpec": "config",
    "HeartbeatSpec": "config",
    "RunConfig": "config",
    "SamplerSpec": "config",
    "StorageSpec": "config",
    "XGBoostOptions": "config",
    "OptunaSparkError": "errors",
    "RunOptions": "options",
    "run_study": "runner",
    "RunSummary": "summary",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'optuna_spark' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"optuna_spark.{home}"), name)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
