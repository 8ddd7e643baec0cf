"""The flagship objective: tune XGBoost on a tabular data set, on a GPU or on the CPU.

Per worker task, once: choose the device (see :mod:`optuna_spark.device`), read the data (cuDF
into the GPU's memory, or pandas), split it (seeded) into training and validation rows, and
build the training matrices. Every trial of the task reuses them, so its cost is training only;
with ``tune_max_bin`` each max_bin value gets its own matrices, built the first time a trial asks
for it and cached. The search space follows the reference Optuna-on-Spark example; the score is
the validation metric at the early-stopping iteration, computed by XGBoost on the training
device (on a GPU only that scalar comes back to the host).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import optuna

from optuna_spark.config import DataSpec, XGBoostOptions
from optuna_spark.data import load_frame, split_xy
from optuna_spark.device import (
    DeviceChoice,
    DeviceFacts,
    choose_device,
    gpu_ordinal,
    probe,
    task_gpu_addresses,
)
from optuna_spark.errors import DataError
from optuna_spark.extras import require

_NO_GPU = DeviceFacts(xgboost_cuda=False, cudf=None, gpus=0)
_OBJECTIVES = {"regression": "reg:squarederror", "binary": "binary:logistic"}
# max_bin is searched on this grid, so at most 8 sets of matrices are ever built per task.
MAX_BIN_CHOICES = (32, 64, 96, 128, 160, 192, 224, 256)


def build(
    data: DataSpec,
    options: XGBoostOptions,
    threads: int,
    frame: Any = None,
    worker_index: int = 0,
) -> Callable[[optuna.Trial], float]:
    """Load ``data`` once (or take the ``frame`` Spark handed over), build the training
    matrices once, and return the per-trial objective. The returned callable carries the
    device decision as ``.device`` (a :class:`DeviceChoice`) for the run summary."""
    xgb = require("xgboost", "xgboost", "The xgboost objective")
    choice = choose_device(options.device, _NO_GPU if options.device == "cpu" else probe())
    device = "cpu"
    if choice.device == "cuda":
        ordinal = gpu_ordinal(
            task_gpu_addresses(), os.environ.get("CUDA_VISIBLE_DEVICES"), worker_index
        )
        import cupy

        cupy.cuda.Device(ordinal).use()  # cuDF allocates on the current device
        device = f"cuda:{ordinal}"
        choice = DeviceChoice("cuda", f"{choice.reason}; this worker uses {device}")
    matrices = _Matrices(
        xgb, *_split(data, options, load_frame(data, frame, gpu=device != "cpu")), threads=threads
    )
    metric = options.eval_metric

    def objective(trial: optuna.Trial) -> float:
        params = {
            "objective": _OBJECTIVES[options.task],
            "eval_metric": metric,
            "tree_method": "hist",
            "device": device,
            "nthread": threads,
            "verbosity": 0,
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.1, log=True),
            "max_depth": trial.suggest_int("max_depth", 1, 10),
            "subsample": trial.suggest_float("subsample", 0.05, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.05, 1.0),
            "min_child_weight": trial.suggest_int("min_child_weight", 1, 20),
        }
        max_bin = 256
        if options.tune_max_bin:
            max_bin = trial.suggest_categorical("max_bin", MAX_BIN_CHOICES)
            params["max_bin"] = max_bin
        dtrain, dvalid = matrices.get(max_bin)
        callbacks = [_pruning_callback(trial, metric)] if options.prune else None
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=options.num_boost_round,
            evals=[(dvalid, "validation")],
            early_stopping_rounds=options.early_stopping_rounds,
            verbose_eval=False,
            callbacks=callbacks,
        )
        trial.set_user_attr("best_iteration", int(booster.best_iteration))
        trial.set_user_attr("device", device)
        return float(booster.best_score)

    objective.device = choice  # type: ignore[attr-defined]
    return objective


def _split(data: DataSpec, options: XGBoostOptions, frame: Any) -> tuple[Any, Any, Any, Any]:
    """Seeded training/validation split of a checked frame (pandas or cuDF), as float32."""
    import numpy as np

    features, label = split_xy(data, frame)
    if options.task == "binary":
        _check_binary_label(data, label)
    rng = np.random.default_rng(options.split_seed)
    order = rng.permutation(len(features))
    n_valid = max(1, int(len(order) * options.validation_fraction))
    if len(order) - n_valid < 1:
        raise DataError(f"data file {data.path} has too few rows to split off a validation set.")
    valid_idx, train_idx = order[:n_valid], order[n_valid:]
    x = features.astype("float32")
    y = label.astype("float32")
    return x.iloc[train_idx], y.iloc[train_idx], x.iloc[valid_idx], y.iloc[valid_idx]


def _check_binary_label(data: DataSpec, label: Any) -> None:
    unique = label.unique()  # a NumPy array from pandas, a Series from cuDF
    values = {float(v) for v in (unique.to_numpy() if hasattr(unique, "to_numpy") else unique)}
    if not values <= {0.0, 1.0}:
        shown = ", ".join(f"{v:g}" for v in sorted(values)[:6])
        raise DataError(
            f"--task binary needs a label of 0 and 1, but column {label.name!r} of {data.path} "
            f"holds {shown}; encode it or use --task regression."
        )


class _Matrices:
    """The training and validation matrices, one pair per max_bin value, built on first use."""

    def __init__(
        self, xgb: Any, x_train: Any, y_train: Any, x_valid: Any, y_valid: Any, threads: int
    ) -> None:
        self._xgb = xgb
        self._data = (x_train, y_train, x_valid, y_valid)
        self._threads = threads
        self._built: dict[int, tuple[Any, Any]] = {}

    def get(self, max_bin: int) -> tuple[Any, Any]:
        if max_bin not in self._built:
            x_train, y_train, x_valid, y_valid = self._data
            dtrain = self._xgb.QuantileDMatrix(
                x_train, y_train, max_bin=max_bin, nthread=self._threads
            )
            dvalid = self._xgb.QuantileDMatrix(
                x_valid, y_valid, ref=dtrain, max_bin=max_bin, nthread=self._threads
            )
            self._built[max_bin] = (dtrain, dvalid)
        return self._built[max_bin]


def _pruning_callback(trial: optuna.Trial, metric: str) -> Any:
    integration = require("optuna_integration", "xgboost", "--prune")
    return integration.XGBoostPruningCallback(trial, f"validation-{metric}")
