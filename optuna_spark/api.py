"""The notebook-friendly entry point: :func:`optimize`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from optuna_spark.config import RunConfig
from optuna_spark.options import DEFAULTS, RunOptions

if TYPE_CHECKING:
    from optuna_spark.summary import RunSummary


def build_run_config(
    objective: str | Callable[..., Any] = DEFAULTS.objective,
    n_trials: int = DEFAULTS.n_trials,
    **options: Any,
) -> RunConfig:
    """A validated :class:`RunConfig` from the flat options of
    :class:`~optuna_spark.options.RunOptions` (the CLI's ``run`` builds its config the same
    way). An unknown option is a :class:`~optuna_spark.errors.ConfigError`."""
    return RunOptions.from_keywords(objective=objective, n_trials=n_trials, **options).to_config()


def optimize(
    objective: str | Callable[..., Any] = DEFAULTS.objective,
    n_trials: int = DEFAULTS.n_trials,
    **options: Any,
) -> RunSummary:
    """Run (or resume) a study with ``n_trials`` finished trials in total.

    ``objective`` is ``"xgboost"``, ``"quadratic"``, ``"module:function"``,
    ``"path/file.py:function"`` or a callable ``f(trial)`` / ``f(trial, data)`` (cloudpickled
    to the workers). The keyword options, their defaults and meaning are the fields of
    :class:`~optuna_spark.options.RunOptions` (``storage``, ``backend``, ``tasks``, ``data``,
    ``sampler``, ``timeout``, ...), the same as the CLI's options. On Spark backends the active
    SparkSession is used if there is one. Returns a :class:`~optuna_spark.summary.RunSummary`
    whose ``.study`` is the study as Optuna's own ``optuna.Study`` (``best_trial``,
    ``trials_dataframe()``, ``optuna.visualization``).
    """
    from optuna_spark.runner import run_study

    return run_study(build_run_config(objective, n_trials, **options))
