"""Transient database errors: which ones are retried, and for how long (pure logic)."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy.exc
from optuna.exceptions import StorageInternalError

from optuna_spark.internals import UpdateFinishedTrialError
from optuna_spark.storage.retry import backoff_delays, call_with_retry, is_transient


class _DriverError(Exception):
    """Stands in for MySQLdb.OperationalError: (code, message) args."""


def _wrapped(code: int, message: str) -> StorageInternalError:
    """What Optuna's RDB storage raises: StorageInternalError from SQLAlchemy from the driver."""
    driver = _DriverError(code, message)
    try:
        try:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)
        except sqlalchemy.exc.OperationalError as exc:
            raise StorageInternalError("An exception is raised during the commit.") from exc
    except StorageInternalError as exc:
        return exc


def test_backoff_grows_is_capped_and_stays_within_the_window() -> None:
    delays = list(backoff_delays(60.0))
    assert delays[:5] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert max(delays) == 4.0
    assert sum(delays) == pytest.approx(60.0)
    assert list(backoff_delays(0.0)) == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (2006, "MySQL server has gone away"),
        (2013, "Lost connection to MySQL server during query"),
        (2003, "Can't connect to MySQL server on '127.0.0.1'"),
        (1213, "Deadlock found when trying to get lock; try restarting transaction"),
        (1205, "Lock wait timeout exceeded; try restarting transaction"),
    ],
)
def test_server_restarts_deadlocks_and_lost_connections_are_transient(
    code: int, message: str
) -> None:
    assert is_transient(_wrapped(code, message))


def test_sqlite_lock_is_transient() -> None:
    assert is_transient(
        sqlalchemy.exc.OperationalError("x", {}, sqlite3.OperationalError("database is locked"))
    )


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1045, "Access denied for user 'u'@'localhost'"),
        (1146, "Table 'optuna.trials' doesn't exist"),
    ],
)
def test_wrong_password_and_missing_tables_are_not_retried(code: int, message: str) -> None:
    assert not is_transient(_wrapped(code, message))
    assert not is_transient(ValueError("bad value"))


def test_retries_until_the_server_is_back() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise _wrapped(2013, "Lost connection to MySQL server during query")
        return "ok"

    assert call_with_retry(flaky, sleep=slept.append) == "ok"
    assert len(calls) == 4 and slept == [0.25, 0.5, 1.0]


def test_a_retry_says_the_database_error_not_optunas_wrapper(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Optuna wraps a lost connection in "An exception is raised during the commit ... invalid
    data": the warning names the lost connection instead."""
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise _wrapped(2013, "Lost connection to MySQL server during query")
        return "ok"

    with caplog.at_level("WARNING", logger="optuna_spark.storage.retry"):
        assert call_with_retry(flaky, sleep=lambda _: None) == "ok"
    [warning] = caplog.messages
    assert "Lost connection to MySQL server during query" in warning
    assert "raised during the commit" not in warning and "retrying in 0.25 s" in warning


def test_gives_up_after_the_window_with_the_original_error() -> None:
    slept: list[float] = []

    def down() -> None:
        raise _wrapped(2003, "Can't connect to MySQL server")

    with pytest.raises(StorageInternalError):
        call_with_retry(down, window=5.0, sleep=slept.append)
    assert sum(slept) == pytest.approx(5.0)


def test_permanent_errors_are_raised_at_once() -> None:
    slept: list[float] = []

    def denied() -> None:
        raise _wrapped(1045, "Access denied")

    with pytest.raises(StorageInternalError):
        call_with_retry(denied, sleep=slept.append)
    assert slept == []


def test_a_commit_that_landed_before_the_connection_died_counts_as_done() -> None:
    attempts: list[int] = []

    def finish_trial() -> bool:
        attempts.append(1)
        if len(attempts) == 1:
            raise _wrapped(2013, "Lost connection to MySQL server during query")
        raise UpdateFinishedTrialError("trial already finished")

    assert (
        call_with_retry(
            finish_trial,
            done_if=(UpdateFinishedTrialError,),
            done_value=True,
            sleep=lambda _s: None,
        )
        is True
    )
    # Without a transient failure first, "already finished" is a real error.
    with pytest.raises(UpdateFinishedTrialError):
        call_with_retry(
            lambda: (_ for _ in ()).throw(UpdateFinishedTrialError("x")),
            done_if=(UpdateFinishedTrialError,),
            done_value=True,
        )


def test_concurrent_schema_creation_is_transient_but_a_duplicate_study_is_not() -> None:
    from optuna.exceptions import DuplicatedStudyError

    race = sqlalchemy.exc.OperationalError(
        "CREATE TABLE studies", {}, sqlite3.OperationalError("table studies already exists")
    )
    assert is_transient(race)
    assert not is_transient(DuplicatedStudyError("Another study with name 'x' already exists."))
