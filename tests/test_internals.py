"""Optuna's private names that optuna-spark uses (optuna_spark/internals.py): all found on the
Optuna this venv has (the newest we support here, the oldest under ``make compat``), and a run
with every fallback in force still lands exactly its budget."""

from __future__ import annotations

import os
import re
from pathlib import Path

import optuna
import pytest

from optuna_spark import internals
from tests.helpers import ROOT, read_trials, run_cli, trial_states


def test_every_optuna_internal_is_found_on_this_optuna() -> None:
    # A failure here means this Optuna moved something: the fast path of each line listed
    # falls back, and pyproject.toml's cap on optuna was raised past what was tested.
    assert internals.missing() == [], f"optuna {optuna.__version__}"
    assert internals.CACHED_STORAGE is not None and internals.HEARTBEAT_BASE is not None
    assert internals.RDB_MODELS is not None and internals.CAN_ANSWER_AHEAD


def test_the_public_fallbacks_find_the_same_ids(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = optuna.create_study(study_name="ids", storage=sqlite_url)
    for _ in range(3):
        study.tell(study.ask(), 1.0)
    storage = optuna.storages.RDBStorage(sqlite_url)
    frozen = storage.get_all_studies()[0]
    private = (internals.study_id(frozen, storage), internals.study_id(study, storage))
    trials = study.get_trials(deepcopy=False)
    private_trials = [internals.trial_id(t, storage, private[0]) for t in trials]

    monkeypatch.setenv(internals.PLAIN_OPTUNA_ENV, "1")
    public = (internals.study_id(frozen, storage), internals.study_id(study, storage))
    assert public == private
    assert [internals.trial_id(t, storage, public[0]) for t in trials] == private_trials
    assert len(set(private_trials)) == 3
    live = study.ask()
    monkeypatch.delenv(internals.PLAIN_OPTUNA_ENV)
    private_frozen = internals.frozen_trial(live)
    monkeypatch.setenv(internals.PLAIN_OPTUNA_ENV, "1")
    assert internals.frozen_trial(live).number == private_frozen.number == 3


def test_a_run_on_optunas_public_paths_alone_lands_its_exact_budget(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    result = run_cli(
        "run",
        "--backend",
        "local",
        "--tasks",
        "2",
        "--objective",
        "quadratic",
        "--trials",
        "14",
        "--study-name",
        "plain",
        "--storage",
        url,
        "--progress",
        "log",
        cwd=ROOT,
        env={**os.environ, internals.PLAIN_OPTUNA_ENV: "1"},
    )
    assert result.returncode == 0, result.stderr
    assert trial_states(url, "plain") == {"COMPLETE": 14}
    assert len({t.params["x"] for t in read_trials(url, "plain")}) == 14
    # The driver says which fast paths are off, once each.
    output = result.stdout + result.stderr
    for phrase in (
        "trial cache is not used",
        "ORM loads the trials",
        "no heartbeats",
        "is not asked for while one runs",
    ):
        assert output.count(phrase) == 1, output


def test_joblibspark_is_handed_our_context_where_its_session_lookup_is_found() -> None:
    # On a classic session joblibspark uses only the context; handing it ours keeps the
    # SparkSession's start (2-3 s here) off the joblibspark backend's cold start.
    pytest.importorskip("joblibspark")
    import joblibspark.backend

    if not hasattr(joblibspark.backend, "get_spark_session"):
        pytest.skip("joblibspark before 0.6 makes its session inline: it makes its own")
    original = joblibspark.backend.get_spark_session
    context = object()
    with internals.joblibspark_on_context(context):
        handed = joblibspark.backend.get_spark_session()
        assert handed.sparkContext is context
    assert joblibspark.backend.get_spark_session is original
    with internals.joblibspark_on_context(None):  # a session exists (or Connect): untouched
        assert joblibspark.backend.get_spark_session is original


def test_a_joblibspark_without_the_session_lookup_makes_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("joblibspark")
    import joblibspark.backend

    monkeypatch.delattr(joblibspark.backend, "get_spark_session", raising=False)
    with internals.joblibspark_on_context(object()):  # the fallback: nothing patched, no error
        assert not hasattr(joblibspark.backend, "get_spark_session")


# A private attribute of the libraries' objects (a study's _storage, a trial's _trial_id, ...)
# or an import from a private module of Optuna, joblib, joblibspark, PySpark or MLflow.
_PRIVATE_USE = re.compile(
    r"\b_?(study|trial|frozen|storage|parallel|context|sc|spark|session|mlflow[\w.]*)\._[a-z]\w*"
    r"|\b(from|import) (optuna|joblib|joblibspark|pyspark|mlflow)(\.\w+)*\._"
)


def test_private_names_of_the_libraries_are_used_in_internals_only() -> None:
    """Anything else would bypass internals' fallbacks and its checks on the oldest and
    newest releases. (storage/fast_reader.py overrides RDBStorage's _get_trials: a subclass
    of Optuna's own, whose signature internals checks; it calls it through super().)"""
    package = ROOT / "optuna_spark"
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "internals.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _PRIVATE_USE.search(line.split("#", 1)[0])
    ]
    assert not found, "\n".join(found)
