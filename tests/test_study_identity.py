"""A study knows what it measures: resuming it with another objective, data set or metric is
refused naming what differs, the default name tells such studies apart, and ``--fresh``
deletes nothing until every check has passed."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from optuna_spark import optimize
from optuna_spark.cli import cli
from optuna_spark.config import DataSpec, ObjectiveSpec, XGBoostOptions
from optuna_spark.errors import ConfigError, StudyError
from optuna_spark.objectives.identity import (
    callable_reference,
    default_study_name,
    objective_identity,
)
from optuna_spark.storage.study_lifecycle import identity_changes
from tests.helpers import read_trials, study_names

WINE = DataSpec("/x/winequality-red.csv", label="quality")


def _xgb(**options: object) -> ObjectiveSpec:
    return ObjectiveSpec(
        "builtin", "xgboost", "xgboost", data=WINE, xgboost=XGBoostOptions(**options)
    )  # type: ignore[arg-type]


def test_default_names_tell_objectives_data_and_metrics_apart() -> None:
    assert default_study_name(_xgb()) == "xgboost-winequality-red"  # unchanged since 0.1
    assert default_study_name(_xgb(metric="mae")) == "xgboost-winequality-red-mae"
    assert default_study_name(_xgb(task="binary")) == "xgboost-winequality-red-binary"
    assert default_study_name(_xgb(task="binary", metric="auc")) == (
        "xgboost-winequality-red-binary-auc"
    )
    assert default_study_name(ObjectiveSpec("builtin", "quadratic", "quadratic")) == "quadratic"
    module = ObjectiveSpec("module", "mypkg.models:objective", "mypkg.models", "objective")
    file = ObjectiveSpec("file", "x/other.py:objective", "x/other.py", "objective")
    assert default_study_name(module) == "mypkg.models.objective"
    assert default_study_name(file) == "other.objective"
    with_data = ObjectiveSpec("file", "t.py:fit", "m/t.py", "fit", data=DataSpec("/d/reg.parquet"))
    assert default_study_name(with_data) == "t.fit-reg"


def test_lambdas_are_told_apart_by_their_code() -> None:
    def make(k: float) -> object:
        return lambda trial: trial.suggest_float("x", 0, 1) * k

    first, second = (lambda t: t.suggest_float("x", 0, 1)), (lambda t: t.suggest_int("n", 0, 3))
    assert callable_reference(first) != callable_reference(second)
    assert callable_reference(first).startswith("lambda-")
    assert callable_reference(make(1.0)) == callable_reference(make(2.0))  # same code
    assert callable_reference(test_lambdas_are_told_apart_by_their_code) == (
        "test_lambdas_are_told_apart_by_their_code"
    )


def test_identity_changes_name_what_differs(tmp_path: Path) -> None:
    data = tmp_path / "wine.csv"
    data.write_text("a;quality\n1;2\n")
    before = objective_identity(_xgb())
    assert identity_changes(before, objective_identity(_xgb())) is None
    assert (
        identity_changes(before, objective_identity(_xgb(metric="mae"))) == "metric rmse, now mae"
    )
    assert identity_changes(before, objective_identity(_xgb(num_boost_round=30))) == (
        "boosting rounds 1000, now 30"
    )
    sized = objective_identity(
        ObjectiveSpec("builtin", "xgboost", "xgboost", data=DataSpec(str(data), label="quality"))
    )
    assert sized["data size"] == "14 bytes"
    data.write_text("a;quality\n1;2\n3;4\n")
    grown = objective_identity(
        ObjectiveSpec("builtin", "xgboost", "xgboost", data=DataSpec(str(data), label="quality"))
    )
    assert identity_changes(sized, grown) == "data size 14 bytes, now 18 bytes"
    # A study made by Optuna itself or an older optuna-spark records nothing: adopted.
    assert identity_changes(None, grown) is None
    # The driver cannot see the size of data Spark reads: not a difference.
    assert identity_changes({"data": "wine.csv"}, grown) is None


def _objective_file(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(f"def objective(trial):\n    return {body}\n")
    return f"{path}:objective"


def test_another_objective_does_not_resume_the_study(sqlite_url: str, tmp_path: Path) -> None:
    first = _objective_file(tmp_path, "first", "trial.suggest_float('x', -1, 1) ** 2")
    other = _objective_file(tmp_path, "other", "trial.suggest_float('x', 5, 9)")
    common = {"storage": sqlite_url, "backend": "local", "tasks": 1}
    made = optimize(first, 3, **common)
    assert made.study_name == "first.objective"
    # Its default name is its own: a study of its own, not "nothing to run".
    assert optimize(other, 3, **common).study_name == "other.objective"
    with pytest.raises(StudyError) as refused:
        optimize(other, 6, study_name="first.objective", **common)
    assert str(refused.value) == (
        "study 'first.objective' does not measure what this run does (objective "
        "first.py:objective, now other.py:objective), so their trials would not compare; pick "
        "another study_name, start over with fresh=True, or resume it anyway with study_name "
        "and force_resume=True."  # the API's names for the CLI's flags
    )
    assert len(read_trials(sqlite_url, "first.objective")) == 3  # untouched
    with pytest.raises(ConfigError, match=r"^force_resume=True resumes a study you name"):
        optimize(other, 6, force_resume=True, **common)
    resumed = optimize(other, 6, study_name="first.objective", force_resume=True, **common)
    assert resumed.added == 3 and len(read_trials(sqlite_url, "first.objective")) == 6
    # What it measures now is the last run's: the next run of `other` resumes without asking.
    assert optimize(other, 7, study_name="first.objective", **common).added == 1


def test_a_different_metric_is_refused_through_the_cli(sqlite_url: str) -> None:
    from click.testing import CliRunner

    base = ["run", "--storage", sqlite_url, "--backend", "local", "--tasks", "1", "--quiet"]
    base += ["--study-name", "wine", "--num-boost-round", "5"]
    assert CliRunner().invoke(cli, [*base, "--trials", "2"]).exit_code == 0
    refused = CliRunner().invoke(cli, [*base, "--trials", "4", "--metric", "mae"])
    assert refused.exit_code == 1
    assert "(metric rmse, now mae)" in refused.stderr
    assert len(read_trials(sqlite_url, "wine")) == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [("absent", "no such study"), ("mine", "is the study itself")],
)
def test_fresh_deletes_nothing_when_a_check_fails(
    sqlite_url: str, source: str, message: str
) -> None:
    common = {"storage": sqlite_url, "backend": "local", "tasks": 1, "study_name": "mine"}
    optimize("quadratic", 3, **common)
    with pytest.raises((StudyError, ConfigError), match=message):
        optimize("quadratic", 3, fresh=True, warm_start_from=source, **common)
    assert study_names(sqlite_url) == ["mine"]
    assert len(read_trials(sqlite_url, "mine")) == 3
    # The same --fresh without the typo starts over.
    again = optimize("quadratic", 2, fresh=True, **common)
    assert (
        again.created and len(optuna.load_study(study_name="mine", storage=sqlite_url).trials) == 2
    )
