"""The built-in XGBoost objective with ``--prune``, as a user objective, two ways (for
bench/pruning.py): ``ours`` reports every ``ceil(rounds / 50)`` boosting rounds (what
``--prune`` does); ``every_round`` swaps in optuna-integration's ``XGBoostPruningCallback``,
which reports every round. Each worker process builds its objective once, on first use; run
them on the ``local`` backend, whose worker processes are fresh per run, because
``every_round`` replaces the callback in the process it runs in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optuna_spark.config import DataSpec, XGBoostOptions, bundled_wine_csv
from optuna_spark.objectives import xgboost as built_in

_built: Callable[[Any], float] | None = None


def _objective(every_round: bool) -> Callable[[Any], float]:
    global _built
    if _built is None:
        if every_round:
            from optuna_integration import XGBoostPruningCallback

            def optunas(xgb: Any, trial: Any, metric: str, every: int) -> Any:
                return XGBoostPruningCallback(trial, f"validation-{metric}")

            built_in._pruning_callback = optunas
        options = XGBoostOptions(prune=True, device="cpu")
        _built = built_in.build(DataSpec(bundled_wine_csv()), options, threads=1)
    return _built


def ours(trial: Any) -> float:
    return _objective(every_round=False)(trial)


def every_round(trial: Any) -> float:
    return _objective(every_round=True)(trial)


def unpruned(trial: Any) -> float:
    """The same objective without ``--prune`` (the baseline)."""
    global _built
    if _built is None:
        options = XGBoostOptions(prune=False, device="cpu")
        _built = built_in.build(DataSpec(bundled_wine_csv()), options, threads=1)
    return _built(trial)
