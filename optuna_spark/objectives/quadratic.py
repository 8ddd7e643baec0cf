"""A two-parameter quadratic with its minimum 0 at (x, y) = (2, -3): the smoke-test objective."""

from __future__ import annotations

from collections.abc import Callable

import optuna


def objective(trial: optuna.Trial) -> float:
    """(x - 2)^2 + (y + 3)^2 over x, y in [-10, 10]."""
    x = trial.suggest_float("x", -10.0, 10.0)
    y = trial.suggest_float("y", -10.0, 10.0)
    return (x - 2.0) ** 2 + (y + 3.0) ** 2


def build() -> Callable[[optuna.Trial], float]:
    """The objective as workers use it; nothing to load."""
    return objective
