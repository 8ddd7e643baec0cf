"""The fast trial reader returns exactly what Optuna's own loader returns, on SQLite and on a
real MariaDB, for every kind of trial content and every selection the cache makes."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from optuna_spark.config import StorageSpec
from optuna_spark.storage import open_storage
from optuna_spark.storage.fast_reader import FastReadRDBStorage, read_trials
from tests.helpers import unique_study_name, with_test_password


def _fill(url: str, name: str) -> None:
    """A study with every kind of trial content Optuna stores."""
    study = optuna.create_study(study_name=name, storage=url)
    dists = {
        "x": FloatDistribution(-1.0, 1.0),
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "depth": IntDistribution(1, 16),
        "step": FloatDistribution(0.0, 1.0, step=0.25),
        "kind": CategoricalDistribution(["a", None, True, 3, 2.5]),
    }
    for i, kind in enumerate(["a", None, True, 3, 2.5]):
        study.add_trial(
            optuna.trial.create_trial(
                params={
                    "x": i / 10 - 0.2,
                    "lr": 10 ** -(i + 1),
                    "depth": i + 1,
                    "step": 0.25 * (i % 4),
                    "kind": kind,
                },
                distributions=dists,
                value=[0.5, math.inf, -math.inf, -0.0, 1e300][i],
                user_attrs={"nested": {"a": [1, 2, {"b": None}]}, "i": i, "text": "é ✓ 'q\""},
                system_attrs={"s": [i, "x"]},
                intermediate_values={0: 1.0, 1: math.nan, 2: math.inf, 3: -math.inf}
                if i == 2
                else {},
            )
        )
    pruned = study.ask({"x": dists["x"]})
    pruned.report(0.3, 0)
    study.tell(pruned, state=TrialState.PRUNED)
    failed = study.ask({"x": dists["x"]})
    study.tell(failed, state=TrialState.FAIL)
    study.ask({"depth": dists["depth"]})  # left RUNNING
    study.enqueue_trial({"x": 0.1})  # WAITING
    study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=2.0))  # no params
    multi = optuna.create_study(
        study_name=name + "-multi", storage=url, directions=["minimize", "maximize"]
    )
    multi.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5}, distributions={"x": dists["x"]}, values=[1.0, math.inf]
        )
    )


def _nan_free(value: object) -> object:
    """``value`` with NaN spelled out, since NaN != NaN would make equal trials unequal."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: _nan_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_free(v) for v in value]
    return value


def _same(a: list, b: list) -> bool:
    return [_nan_free(vars(t)) for t in a] == [_nan_free(vars(t)) for t in b]


@pytest.fixture
def away_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local time zone other than UTC: Optuna stores UTC and shows local time."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(params=["sqlite", "mariadb"])
def filled(request, sqlite_url: str, away_from_utc: None) -> tuple[str, str]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("mysql_env")
    name = unique_study_name()
    _fill(with_test_password(url), name)
    return url, name


def test_reads_what_optuna_reads(filled: tuple[str, str]) -> None:
    url, name = filled
    storage = open_storage(StorageSpec(url), driver=False)
    assert isinstance(storage, FastReadRDBStorage)
    plain = optuna.storages.RDBStorage(with_test_password(url), skip_table_creation=True)
    for study_name in (name, name + "-multi"):
        study_id = plain.get_study_id_from_name(study_name)
        everything = plain._get_trials(study_id, None, set(), -1)
        ours = read_trials(storage.engine, study_id, None, set(), -1)
        assert _same(ours, everything)
        assert ours  # the comparison saw trials
    study_id = plain.get_study_id_from_name(name)
    trials = plain._get_trials(study_id, None, set(), -1)
    assert len(trials) == 10
    ids = [t._trial_id for t in trials]
    selections = [
        ((TrialState.COMPLETE,), set(), -1),
        ((TrialState.RUNNING, TrialState.WAITING), set(), -1),
        (None, set(), ids[4]),  # the cache's incremental read: newer trials...
        (None, {ids[1], ids[3]}, ids[4]),  # ...plus earlier ones not yet finished
        (None, {ids[9]}, ids[4]),  # an id above the mark is not "included" twice
        (None, set(), ids[-1]),  # nothing new
    ]
    for states, included, above in selections:
        expected = plain._get_trials(study_id, states, set(included), above)
        assert _same(storage._get_trials(study_id, states, set(included), above), expected), (
            states,
            included,
            above,
        )
    # What the worker's cache and every reader see through get_all_trials.
    assert _same(storage.get_all_trials(study_id), plain.get_all_trials(study_id))
    pruned = next(t for t in trials if t.state == TrialState.PRUNED)
    assert storage.get_all_trials(study_id)[pruned.number].intermediate_values == {0: 0.3}


def test_a_missing_study_is_a_key_error_like_optunas(sqlite_url: str) -> None:
    optuna.create_study(study_name="there", storage=sqlite_url)
    storage = open_storage(StorageSpec(sqlite_url), driver=False)
    with pytest.raises(KeyError):
        storage.get_all_trials(12345)
    assert storage.get_all_trials(storage.get_study_id_from_name("there")) == []


def test_falls_back_to_optunas_reader_when_the_fast_one_fails(sqlite_url: str, monkeypatch) -> None:
    name = unique_study_name()
    _fill(sqlite_url, name)
    storage = open_storage(StorageSpec(sqlite_url), driver=False)
    study_id = storage.get_study_id_from_name(name)
    expected = optuna.storages.RDBStorage(sqlite_url).get_all_trials(study_id)

    def broken(*args: object) -> None:
        raise RuntimeError("a table of another Optuna version")

    monkeypatch.setattr("optuna_spark.storage.fast_reader.read_trials", broken)
    assert _same(storage.get_all_trials(study_id), expected)
