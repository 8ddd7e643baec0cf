"""Multi-objective studies: --directions, objectives returning tuples, the Pareto front in the
summary and --json, best-trials, and every management command on such a study."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from optuna_spark import optimize
from optuna_spark.cli import cli
from optuna_spark.errors import ConfigError, StudyError
from tests.helpers import read_trials, run_cli, unique_study_name, with_test_password

# Binh and Korn: two objectives to minimise, a curved Pareto front.
BINH_KORN = """
def objective(trial):
    x = trial.suggest_float("x", 0, 5)
    y = trial.suggest_float("y", 0, 3)
    return 4 * x * x + 4 * y * y, (x - 5) ** 2 + (y - 5) ** 2
"""


def _dominated(values: list[float], others: list[list[float]]) -> bool:
    return any(all(o <= v for o, v in zip(other, values)) and other != values for other in others)


@pytest.mark.spark
@pytest.mark.usefixtures("spark")
def test_a_two_objective_run_on_two_spark_workers_reports_its_pareto_front(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "bk.py").write_text(BINH_KORN)
    done = run_cli(
        "run",
        "--objective",
        f"{tmp_path / 'bk.py'}:objective",
        "--directions",
        "minimize,minimize",
        "--trials",
        "16",
        "--backend",
        "joblibspark",
        "--tasks",
        "2",
        "--storage",
        sqlite_url,
        "--study-name",
        "bk",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["direction"] == "minimize,minimize" and summary["best_value"] is None
    trials = read_trials(sqlite_url, "bk")
    assert len(trials) == 16 and {t.state.name for t in trials} == {"COMPLETE"}
    everything = [t.values for t in trials]
    front = summary["pareto_front"]
    # Exactly the non-dominated trials, each with its values and parameters.
    assert sorted(p["number"] for p in front) == sorted(
        t.number for t in trials if not _dominated(t.values, everything)
    )
    by_number = {t.number: t for t in trials}
    for point in front:
        assert point["values"] == by_number[point["number"]].values
        assert point["params"] == by_number[point["number"]].params


@pytest.mark.mysql
def test_every_management_command_works_on_a_multi_objective_study(
    mysql_env: str, tmp_path: Path
) -> None:
    name = unique_study_name()
    (tmp_path / "bk.py").write_text(BINH_KORN)
    summary = optimize(
        f"{tmp_path / 'bk.py'}:objective",
        12,
        storage=mysql_env,
        study_name=name,
        backend="local",
        tasks=2,
        directions=["minimize", "minimize"],
    )
    assert summary.pareto_front and summary.best_value is None
    study = summary.study
    assert sorted(t.number for t in study.best_trials) == [
        p["number"] for p in summary.pareto_front
    ]

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, [*args, "--storage", mysql_env])
        return result.exit_code, result.output

    code, out = run("best-trials", "--study-name", name, "-f", "json")
    assert code == 0 and [r["number"] for r in json.loads(out)] == [
        p["number"] for p in summary.pareto_front
    ]
    assert all(len(r["values"]) == 2 for r in json.loads(out))
    code, out = run("best", "--study-name", name)
    assert (
        code == 1 and "has 2 objectives, so no single best trial; optuna-spark best-trials" in out
    )
    code, out = run("trials", "--study-name", name, "-f", "csv")
    assert code == 0 and out.splitlines()[0].startswith("number,state,values_0,values_1,seconds")
    assert len(out.splitlines()) == 13
    code, out = run("studies", "-f", "json")
    listed = {r["name"]: r for r in json.loads(out)}
    assert listed[name]["direction"] == "minimize,minimize" and listed[name]["complete"] == 12
    code, out = run("report", name, "--out", str(tmp_path / "r.html"))
    assert code == 0, out
    page = (tmp_path / "r.html").read_text()
    assert "Pareto front" in page and "minimize,minimize" in page
    # Resuming keeps the directions; a contradicting one is refused.
    again = optimize(
        f"{tmp_path / 'bk.py'}:objective", 14, storage=mysql_env, study_name=name, backend="local"
    )
    assert again.added == 2
    with pytest.raises(StudyError, match="already exists with direction minimize,minimize"):
        optimize("quadratic", 20, storage=mysql_env, study_name=name, direction="minimize")
    assert len(read_trials(with_test_password(mysql_env), name)) == 14


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"directions": ["minimize"]},
            "^directions is for two or more objectives; use direction for one",
        ),
        ({"directions": "minimize,maximize", "direction": "minimize"}, "not both"),
        (
            {"directions": ["minimize", "upward"]},
            "^directions must be one of minimize, maximize, got 'upward'",
        ),
    ],
)
def test_bad_directions_are_one_sentence(sqlite_url: str, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        optimize("quadratic", 3, storage=sqlite_url, backend="local", **options)
    assert optuna.get_all_study_names(sqlite_url) == []
