"""Resolving objectives on the driver and rebuilding them on a worker."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from optuna_spark.config import DataSpec, bundled_wine_csv
from optuna_spark.errors import ObjectiveError
from optuna_spark.objectives import build_objective, resolve_objective
from optuna_spark.objectives.user import parse_ref


def test_parse_refs() -> None:
    assert parse_ref("pkg.mod:fn") == ("module", "pkg.mod", "fn")
    assert parse_ref("models/train.py:objective") == ("file", "models/train.py", "objective")


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("nosuch", "unknown objective 'nosuch'"),
        ("pkg.mod:", "is not a built-in name or a reference"),
        (":fn", "is not a built-in name or a reference"),
        ("pkg.mod:not-a-name", "is not a Python name"),
        ("pkg mod:fn", "is not a module path"),
        ("no_such_module_xyz:fn", "cannot be imported"),
        ("json:no_such_function", "has no function 'no_such_function'"),
        ("json:__doc__", "is not callable"),
        ("missing_file.py:fn", "does not exist"),
    ],
)
def test_bad_objective_refs(ref: str, fragment: str) -> None:
    with pytest.raises(ObjectiveError, match=fragment):
        resolve_objective(ref, None)


def _run_one(objective) -> float:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=1)
    return study.best_value


def test_file_objective_ships_its_source(tmp_path: Path) -> None:
    path = tmp_path / "my_objective.py"
    path.write_text(
        "OFFSET = 5.0\n\ndef objective(trial):\n"
        "    return trial.suggest_float('x', 0, 1) + OFFSET\n"
    )
    spec = resolve_objective(f"{path}:objective", None)
    assert spec.kind == "file" and "OFFSET = 5.0" in (spec.source or "")
    path.unlink()  # the worker needs only the shipped source, not the file
    assert 5.0 <= _run_one(build_objective(spec, threads=1)) <= 6.0


def test_user_objective_with_data_gets_the_frame(tmp_path: Path) -> None:
    path = tmp_path / "with_data.py"
    path.write_text("def objective(trial, data):\n    return float(len(data))\n")
    spec = resolve_objective(f"{path}:objective", DataSpec(bundled_wine_csv()))
    assert spec.takes_data
    assert _run_one(build_objective(spec, threads=1)) == 1599.0


def test_signature_is_checked_on_the_driver(tmp_path: Path) -> None:
    path = tmp_path / "three.py"
    path.write_text("def objective(trial, data, extra):\n    return 0.0\n")
    with pytest.raises(ObjectiveError, match="takes 3 required arguments"):
        resolve_objective(f"{path}:objective", None)


def test_objective_needing_data_without_data_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "needs.py"
    path.write_text("def objective(trial, data):\n    return 0.0\n")
    with pytest.raises(ObjectiveError, match="takes a data set; pass one with --filepath"):
        resolve_objective(f"{path}:objective", None)


def test_callable_objective_is_pickled() -> None:
    offset = 3.0
    spec = resolve_objective(lambda trial: trial.suggest_float("x", 0, 1) + offset, None)
    assert spec.kind == "pickled"
    assert 3.0 <= _run_one(build_objective(spec, threads=1)) <= 4.0


def test_unpicklable_callable_is_a_clear_error() -> None:
    import threading

    lock = threading.Lock()

    def objective(trial):
        with lock:
            return 0.0

    with pytest.raises(ObjectiveError, match="cannot be pickled"):
        resolve_objective(objective, None)


def test_xgboost_objective_trains_on_wine() -> None:
    pytest.importorskip("xgboost")
    from optuna_spark.config import XGBoostOptions

    spec = resolve_objective(
        "xgboost", DataSpec(bundled_wine_csv()), XGBoostOptions(num_boost_round=30)
    )
    rmse = _run_one(build_objective(spec, threads=1))
    assert 0.3 < rmse < 5.0  # quality is 3..8: an RMSE in this range means real training
