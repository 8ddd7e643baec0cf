"""A user objective for ``--objective examples/my_objective.py:objective``.

It takes the data set as its second argument (loaded once per Spark task by optuna-spark
from --filepath) and returns the cross-validated error of a ridge-like linear model, fitted
with NumPy only.

    optuna-spark run --objective examples/my_objective.py:objective --trials 30 --backend local
"""

import numpy as np


def objective(trial, data):
    alpha = trial.suggest_float("alpha", 1e-4, 1e2, log=True)
    x = data.iloc[:, :-1].to_numpy(dtype=float)
    y = data.iloc[:, -1].to_numpy(dtype=float)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    folds = np.array_split(np.random.default_rng(0).permutation(len(y)), 5)
    errors = []
    for fold in folds:
        train = np.setdiff1d(np.arange(len(y)), fold)
        a = x[train].T @ x[train] + alpha * np.eye(x.shape[1])
        w = np.linalg.solve(a, x[train].T @ (y[train] - y[train].mean()))
        pred = x[fold] @ w + y[train].mean()
        errors.append(np.sqrt(np.mean((pred - y[fold]) ** 2)))
    return float(np.mean(errors))
