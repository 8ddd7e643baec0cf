"""Warm starts, done once on the driver: enqueued parameters (counted inside --trials, never
repeated by a resumed run, never once per worker) and trials copied from another study (not
counted, copied once)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from optuna_spark import optimize
from optuna_spark.errors import ConfigError, StudyError
from optuna_spark.warm_start import read_enqueue_file
from tests.helpers import read_trials, study_names, unique_study_name, with_test_password

POINTS = [{"x": 0.5, "y": -1.0}, {"x": 1.0, "y": -2.0}, {"x": 2.0, "y": -3.0}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not JSON (Expecting property name"),
        ('{"x": 1}', 'must hold a JSON list of parameter objects, e.g. [{"x": 1.5'),
        ("[{}]", "must hold a JSON list of parameter objects"),
    ],
)
def test_a_bad_enqueue_file_is_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "points.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        read_enqueue_file(str(path))


def test_a_bad_enqueue_file_leaves_no_study(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ConfigError):
        optimize(
            "quadratic", 5, storage=sqlite_url, backend="local", enqueue=str(tmp_path / "bad.json")
        )
    assert study_names(sqlite_url) == []


def _enqueued_runs(url: str, tmp_path: Path, study_name: str) -> list[optuna.trial.FrozenTrial]:
    points = tmp_path / "points.json"
    points.write_text(json.dumps(POINTS))
    common = {
        "storage": url,
        "study_name": study_name,
        "backend": "local",
        "tasks": 4,
        "enqueue": str(points),
    }
    first = optimize("quadratic", 8, **common)
    assert first.finished == 8
    again = optimize("quadratic", 12, **common)  # resumed: the points are in the study already
    assert again.added == 4
    return read_trials(with_test_password(url), study_name)


def _assert_each_point_once(trials: list[optuna.trial.FrozenTrial]) -> None:
    assert len(trials) == 12 and {t.state.name for t in trials} == {"COMPLETE"}
    for point in POINTS:
        assert sum(t.params == point for t in trials) == 1, point
    # They came first, before anything was sampled.
    assert [t.params for t in sorted(trials, key=lambda t: t.number)[:3]] == POINTS


def test_enqueued_points_run_once_under_four_workers_on_sqlite(
    sqlite_url: str, tmp_path: Path
) -> None:
    _assert_each_point_once(_enqueued_runs(sqlite_url, tmp_path, "enq"))


@pytest.mark.mysql
def test_enqueued_points_run_once_under_four_workers_on_mariadb(
    mysql_env: str, tmp_path: Path
) -> None:
    _assert_each_point_once(_enqueued_runs(mysql_env, tmp_path, unique_study_name()))


def test_warm_start_copies_complete_trials_once_and_they_do_not_count(sqlite_url: str) -> None:
    source = optuna.create_study(study_name="old", storage=sqlite_url)
    source.optimize(lambda t: (t.suggest_float("x", -10, 10) - 2) ** 2, n_trials=10)
    source.enqueue_trial({"x": 1.0})  # waiting there: not a complete trial, not copied
    common = {"storage": sqlite_url, "study_name": "new", "backend": "local", "tasks": 2}
    summary = optimize("quadratic", 6, warm_start_from="old", **common)
    assert summary.finished == 6 and summary.counts["COPIED"] == 10
    trials = read_trials(sqlite_url, "new")
    assert len(trials) == 16
    copied = [t for t in trials if t.system_attrs.get("optuna_spark:warm_start") == "old"]
    assert sorted(t.value for t in copied) == sorted(t.value for t in source.trials if t.value)
    again = optimize("quadratic", 8, warm_start_from="old", **common)  # resumed: no new copies
    assert again.added == 2 and len(read_trials(sqlite_url, "new")) == 18


@pytest.mark.parametrize(
    ("source", "direction", "error", "message"),
    [
        ("new", None, ConfigError, "^warm_start_from 'new' is the study itself"),
        ("absent", None, StudyError, "^warm_start_from 'absent': no such study in sqlite:"),
        ("old", "maximize", StudyError, "is a study to minimize, this one is to maximize"),
    ],
)
def test_a_bad_warm_start_source_leaves_no_study(
    sqlite_url: str, source: str, direction: str | None, error: type, message: str
) -> None:
    optuna.create_study(study_name="old", storage=sqlite_url).optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=2
    )
    with pytest.raises(error, match=message):
        optimize(
            "quadratic",
            4,
            storage=sqlite_url,
            study_name="new",
            backend="local",
            direction=direction,
            warm_start_from=source,
        )
    assert study_names(sqlite_url) == ["old"]


def test_an_enqueued_name_the_objective_never_asks_for_is_a_warning(
    sqlite_url: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from optuna_spark.cli import cli

    points = tmp_path / "points.json"
    points.write_text(json.dumps([{"x": 0.5, "y": 1.0, "lr": 0.1}]))  # quadratic has x and y
    args = ["run", "--storage", sqlite_url, "--objective", "quadratic", "--backend", "local"]
    done = CliRunner().invoke(
        cli, [*args, "--tasks", "1", "--trials", "2", "--enqueue", str(points)]
    )
    assert done.exit_code == 0, done.stderr
    assert (
        f"warning: --enqueue: the objective never asked for 'lr', so those values of {points} "
        "were ignored; check the names"
    ) in done.stderr
