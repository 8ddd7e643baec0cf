"""The flagship objective: tune XGBoost on a tabular data set, on a GPU or on the CPU.

Per worker task, once: choose the device (see :mod:`optuna_spark.device`; on a GPU, make the
worker's own GPU current before any RAPIDS import), read the data (cuDF into the GPU's memory;
or pandas, on the host, moved to the GPU by CuPy when cuDF is missing), split it (seeded, the
same rows on every device) into training and validation arrays, and build the training
matrices, freeing the raw data. Every trial of the task reuses the matrices, so its cost is
training only; with ``tune_max_bin`` each max_bin value gets its own matrices, built the first
time a trial asks for it, and only the last :data:`MATRIX_CACHE` pairs are kept. The search
space follows the reference Optuna-on-Spark example; the score is the validation metric at the
early-stopping iteration, computed by XGBoost on the training device (on a GPU only that scalar
comes back to the host).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import optuna

from optuna_spark.config import DataSpec, XGBoostOptions
from optuna_spark.data import label_column, load_frame
from optuna_spark.device import (
    CUDF_LOADER,
    CUPY_LOADER,
    DeviceChoice,
    DeviceFacts,
    choose_device,
    gpu_ordinal,
    probe,
    task_gpu_addresses,
    use_gpu,
)
from optuna_spark.errors import DataError, first_line
from optuna_spark.extras import require
from optuna_spark.gpu_memory import PeakGpuMemory

_NO_GPU = DeviceFacts(xgboost_cuda=False, cudf=None, gpus=0, cupy=False)
_OBJECTIVES = {"regression": "reg:squarederror", "binary": "binary:logistic"}
# max_bin is searched on this grid; at most MATRIX_CACHE sets of matrices are held at a time
# (on a GPU each set is about the size of the training data).
MAX_BIN_CHOICES = (32, 64, 96, 128, 160, 192, 224, 256)
MATRIX_CACHE = 2


def build(
    data: DataSpec,
    options: XGBoostOptions,
    threads: int,
    frame: Any = None,
    worker_index: int = 0,
) -> Callable[[optuna.Trial], float]:
    """Load ``data`` once (or take the ``frame`` Spark handed over), build the training
    matrices once, and return the per-trial objective. The returned callable carries the
    device decision as ``.device`` (a :class:`DeviceChoice`) for the run summary, and on a
    GPU the worker's memory sampler as ``.gpu_memory`` (a :class:`PeakGpuMemory`)."""
    xgb = require("xgboost", "xgboost", "The xgboost objective")
    choice, device, memory = place(options.device, worker_index)
    try:
        arrays = _split(data, options, load_frame(data, frame, loader=choice.loader), choice)
        matrices = _Matrices(xgb, arrays, threads=threads, keep_data=options.tune_max_bin)
        if not options.tune_max_bin:
            matrices.get(256)  # now, so the raw arrays are freed before the first trial
    except BaseException:
        if memory is not None:
            memory.stop()
        raise
    metric = options.eval_metric
    every = report_interval(options.num_boost_round)  # rounds between --prune's reports

    def train(trial: optuna.Trial) -> Any:
        """Train with the trial's parameters and return the booster (its ``best_score`` and
        ``best_iteration`` are those of the early-stopping point)."""
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
        callbacks = [_pruning_callback(xgb, trial, metric, every)] if options.prune else None
        return xgb.train(
            params,
            dtrain,
            num_boost_round=options.num_boost_round,
            evals=[(dvalid, "validation")],
            early_stopping_rounds=options.early_stopping_rounds,
            verbose_eval=False,
            callbacks=callbacks,
        )

    def objective(trial: optuna.Trial) -> float:
        booster = train(trial)
        trial.set_user_attr("best_iteration", int(booster.best_iteration))
        trial.set_user_attr("device", device)
        return float(booster.best_score)

    objective.device = choice  # type: ignore[attr-defined]
    objective.gpu_memory = memory  # type: ignore[attr-defined]
    objective.train = train  # type: ignore[attr-defined]
    return objective


def train_best(data: DataSpec, options: XGBoostOptions, params: dict[str, Any]) -> Any:
    """The model of the parameters ``params`` (a finished trial's), trained again on this
    machine's CPU on the same split, for ``--log-best-model``: the booster, whose
    ``best_score`` is its validation score (the trial's, up to a GPU's rounding)."""
    objective = build(data, replace(options, device="cpu", prune=False), os.cpu_count() or 1)
    return objective.train(optuna.trial.FixedTrial(params))  # type: ignore[attr-defined]


def place(requested: str, worker_index: int) -> tuple[DeviceChoice, str, PeakGpuMemory | None]:
    """Decide this worker's device and, on a GPU, make it current before anything else
    touches CUDA: (the choice, XGBoost's device string, the memory sampler or None).

    The GPU is Spark's assignment for this task, else worker ``worker_index`` modulo the
    visible GPUs; cuDF is imported only after that (then its import cannot put a context on
    GPU 0), and a cuDF that fails to import leaves the loading to CuPy."""
    facts = _NO_GPU if requested == "cpu" else probe()
    choice = choose_device(requested, facts)
    if choice.device != "cuda":
        return choice, "cpu", None
    ordinal = gpu_ordinal(
        task_gpu_addresses(), os.environ.get("CUDA_VISIBLE_DEVICES"), worker_index, facts.gpus
    )
    use_gpu(ordinal)
    memory = PeakGpuMemory(ordinal)
    if choice.loader == CUDF_LOADER:
        try:
            import cudf  # noqa: F401  (after use_gpu: see above)
        except Exception as exc:  # ImportError, or a CUDA error raised while importing
            choice = replace(
                choice,
                loader=CUPY_LOADER,
                reason=f"{choice.reason}; cuDF failed to import ({first_line(exc)})",
            )
    device = f"cuda:{ordinal}"
    reason = f"{choice.reason}; this worker uses {device}, loading with {choice.loader}"
    return replace(choice, reason=reason), device, memory


def _split(data: DataSpec, options: XGBoostOptions, frame: Any, choice: DeviceChoice) -> tuple:
    """Seeded training/validation split of a checked frame as float32 arrays, on the device
    the worker trains on: NumPy on the CPU, CuPy on a GPU (from cuDF, or moved from the host).

    The caller passes the frame it no longer needs: it is converted to one float32 array,
    dropped, and the rows are then taken from that array, so memory peaks near twice the
    data instead of four times (frame, features, float32 copy, split copies)."""
    import numpy as np

    columns = [str(c) for c in frame.columns]
    label = label_column(data, columns)
    if options.task == "binary":
        _check_binary_label(data, frame[label])
    rows = len(frame)
    order = np.random.default_rng(options.split_seed).permutation(rows)
    n_valid = max(1, int(rows * options.validation_fraction))
    if rows - n_valid < 1:
        raise DataError(f"data file {data.path} has too few rows to split off a validation set.")
    xp: Any = np
    if choice.loader == CUDF_LOADER:
        import cupy

        xp, matrix = cupy, frame.to_cupy(dtype="float32")
    else:
        matrix = frame.to_numpy(dtype="float32")
    del frame
    if choice.loader == CUPY_LOADER:
        import cupy

        xp, matrix = cupy, cupy.asarray(matrix)  # the host copy goes with the name below
    features = xp.asarray([i for i in range(len(columns)) if columns[i] != label])
    target = columns.index(label)
    valid, train = xp.asarray(order[:n_valid]), xp.asarray(order[n_valid:])
    arrays = (
        matrix[xp.ix_(train, features)],
        matrix[train, target],
        matrix[xp.ix_(valid, features)],
        matrix[valid, target],
    )
    del matrix
    _release_cupy_cache(xp)
    return arrays


def _release_cupy_cache(xp: Any) -> None:
    """Hand the blocks CuPy freed back to the device (its pool would keep them otherwise, out
    of XGBoost's reach)."""
    if xp.__name__ == "cupy":
        xp.get_default_memory_pool().free_all_blocks()


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
    """The training and validation matrices, one pair per max_bin value, built on first use.

    The arrays they are built from are freed after the first pair unless ``keep_data``
    (searching max_bin needs them again); at most :data:`MATRIX_CACHE` pairs are held, the
    least recently used one dropped first."""

    def __init__(self, xgb: Any, arrays: tuple, threads: int, keep_data: bool) -> None:
        self._xgb = xgb
        self._data: tuple | None = arrays
        self._threads = threads
        self._keep_data = keep_data
        self._built: OrderedDict[int, tuple[Any, Any]] = OrderedDict()

    @property
    def holds_data(self) -> bool:
        """Whether the raw arrays are still held."""
        return self._data is not None

    @property
    def cached(self) -> list[int]:
        """The max_bin values whose matrices are held, least recently used first."""
        return list(self._built)

    def get(self, max_bin: int) -> tuple[Any, Any]:
        if max_bin in self._built:
            self._built.move_to_end(max_bin)
            return self._built[max_bin]
        if self._data is None:
            raise RuntimeError("the training data was freed; build with keep_data=True")
        while len(self._built) >= MATRIX_CACHE:
            self._built.popitem(last=False)
        self._built[max_bin] = self._build(max_bin)
        if not self._keep_data:
            on_gpu = _is_cupy(self._data[0])
            self._data = None
            if on_gpu:
                import cupy

                _release_cupy_cache(cupy)
        return self._built[max_bin]

    def _build(self, max_bin: int) -> tuple[Any, Any]:
        assert self._data is not None
        x_train, y_train, x_valid, y_valid = self._data
        dtrain = self._xgb.QuantileDMatrix(x_train, y_train, max_bin=max_bin, nthread=self._threads)
        dvalid = self._xgb.QuantileDMatrix(
            x_valid, y_valid, ref=dtrain, max_bin=max_bin, nthread=self._threads
        )
        return dtrain, dvalid


def _is_cupy(array: Any) -> bool:
    return type(array).__module__.split(".")[0] == "cupy"


# --prune reports the validation metric this many times per trial at most (at a fixed
# interval of rounds, the same for every trial, so the pruner compares trials at equal steps).
# Reporting every round, as optuna-integration's XGBoost callback does, is a storage write
# and a pruner read of the study per round (about 260 a trial on the wine data): it made a
# pruned run slower than an unpruned one (bench/pruning.py measures both ways).
MAX_REPORTS = 50


def report_interval(num_boost_round: int) -> int:
    """Boosting rounds between two reports of a trial's validation metric under --prune."""
    return max(1, -(-num_boost_round // MAX_REPORTS))


def _pruning_callback(xgb: Any, trial: optuna.Trial, metric: str, every: int) -> Any:
    """An XGBoost callback that reports the validation metric every ``every`` rounds (the
    step is the rounds done) and stops the training with ``TrialPruned`` when the study's
    pruner says so."""

    class ReportAndPrune(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            rounds = epoch + 1
            if rounds % every:
                return False
            trial.report(float(evals_log["validation"][metric][-1]), step=rounds)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after {rounds} boosting rounds")
            return False

    return ReportAndPrune()
