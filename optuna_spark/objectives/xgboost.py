"""The flagship objective: tune an XGBoost regressor on a tabular data set.

The data set is read and the training matrices are built once per worker task; every trial of
that task reuses them, so per-trial cost is training only. The search space follows the
reference Optuna-on-Spark example (learning rate, depth, row and column sampling, child
weight); the score is the validation RMSE at the early-stopping iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from optuna_spark.config import DataSpec, XGBoostOptions
from optuna_spark.data import load_frame, split_xy
from optuna_spark.extras import require


def build(
    data: DataSpec, options: XGBoostOptions, threads: int, frame: Any = None
) -> Callable[[optuna.Trial], float]:
    """Load ``data`` once (or take the ``frame`` Spark handed over), build the DMatrices once,
    and return the per-trial objective."""
    xgb = require("xgboost", "xgboost", "The xgboost objective")
    import numpy as np

    features, label = split_xy(data, load_frame(data, frame))
    rng = np.random.default_rng(options.split_seed)
    order = rng.permutation(len(features))
    n_valid = max(1, int(len(order) * options.validation_fraction))
    valid_idx, train_idx = order[:n_valid], order[n_valid:]
    x = features.to_numpy(dtype=np.float32)
    y = label.to_numpy(dtype=np.float32)
    dtrain = xgb.QuantileDMatrix(x[train_idx], y[train_idx], nthread=threads)
    dvalid = xgb.QuantileDMatrix(x[valid_idx], y[valid_idx], ref=dtrain, nthread=threads)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "objective": "reg:squarederror",
            "eval_metric": "rmse",
            "tree_method": "hist",
            "device": "cpu",
            "nthread": threads,
            "verbosity": 0,
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.1, log=True),
            "max_depth": trial.suggest_int("max_depth", 1, 10),
            "subsample": trial.suggest_float("subsample", 0.05, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.05, 1.0),
            "min_child_weight": trial.suggest_int("min_child_weight", 1, 20),
        }
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=options.num_boost_round,
            evals=[(dvalid, "validation")],
            early_stopping_rounds=options.early_stopping_rounds,
            verbose_eval=False,
        )
        trial.set_user_attr("best_iteration", int(booster.best_iteration))
        return float(booster.best_score)

    return objective
