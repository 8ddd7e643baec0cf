"""study_lifecycle on a real SQLite file: check_study writes nothing and says what is wrong;
open_study creates, resumes or replaces, recording what the study measures."""

from __future__ import annotations

import optuna
import pytest

from optuna_spark.config import StorageSpec
from optuna_spark.errors import StudyError
from optuna_spark.storage import (
    IDENTITY_ATTR,
    check_study,
    find_study_id,
    open_storage,
    open_study,
    prepare_sqlite_file,
)

WINE = {"objective": "xgboost", "data": "wine.csv", "metric": "rmse"}


def _storage(url: str) -> optuna.storages.RDBStorage:
    prepare_sqlite_file(StorageSpec(url))
    return open_storage(StorageSpec(url), driver=True)


def test_a_new_study_is_checked_without_a_write_then_created_with_its_identity(
    sqlite_url: str,
) -> None:
    storage, spec = _storage(sqlite_url), StorageSpec(sqlite_url)
    check = check_study(storage, spec, "s", None, "maximize", WINE)
    assert (check.study_id, check.replaces, check.direction) == (None, None, "maximize")
    assert find_study_id(storage, "s") is None  # checking created nothing
    info = open_study(storage, spec, check, WINE)
    assert info.created and info.direction == "maximize"
    assert storage.get_study_system_attrs(info.study_id)[IDENTITY_ATTR] == WINE


def test_a_resume_must_measure_the_same_thing_or_say_so(sqlite_url: str) -> None:
    storage, spec = _storage(sqlite_url), StorageSpec(sqlite_url)
    open_study(storage, spec, check_study(storage, spec, "s", None, "minimize", WINE), WINE)
    again = check_study(storage, spec, "s", None, "minimize", WINE)
    assert again.study_id is not None and again.changed is None and not again.record_identity
    mae = {**WINE, "metric": "mae"}
    with pytest.raises(StudyError, match=r"\(metric rmse, now mae\)"):
        check_study(storage, spec, "s", None, "minimize", mae)
    forced = check_study(storage, spec, "s", None, "minimize", mae, force_resume=True)
    assert forced.changed == "metric rmse, now mae"
    info = open_study(storage, spec, forced, mae)
    assert not info.created
    assert storage.get_study_system_attrs(info.study_id)[IDENTITY_ATTR] == mae
    with pytest.raises(StudyError, match="already exists with direction minimize, not maximize"):
        check_study(storage, spec, "s", "maximize", "minimize", mae)


def test_a_study_optuna_made_is_adopted(sqlite_url: str) -> None:
    optuna.create_study(study_name="plain", storage=sqlite_url)
    storage, spec = _storage(sqlite_url), StorageSpec(sqlite_url)
    check = check_study(storage, spec, "plain", None, "minimize", WINE)
    assert check.changed is None and check.record_identity
    info = open_study(storage, spec, check, WINE)
    assert storage.get_study_system_attrs(info.study_id)[IDENTITY_ATTR] == WINE


def test_fresh_replaces_only_when_opened_and_never_a_study_in_use(sqlite_url: str) -> None:
    storage, spec = _storage(sqlite_url), StorageSpec(sqlite_url)
    study = optuna.create_study(study_name="s", storage=sqlite_url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    old_id = find_study_id(storage, "s")
    check = check_study(storage, spec, "s", None, "minimize", WINE, fresh=True, grace_s=30)
    assert check.replaces == old_id and check.study_id is None
    assert len(optuna.load_study(study_name="s", storage=sqlite_url).trials) == 2  # not yet
    info = open_study(storage, spec, check, WINE)
    assert info.created and not optuna.load_study(study_name="s", storage=sqlite_url).trials
    study = optuna.load_study(study_name="s", storage=sqlite_url)
    study.ask()  # another run's trial, RUNNING without a heartbeat: in use
    with pytest.raises(StudyError, match="has 1 running trial"):
        check_study(storage, spec, "s", None, "minimize", WINE, fresh=True, grace_s=30)
