"""translate_errors: what each kind of database failure says, with the password never shown
(the driver errors are built as SQLAlchemy raises them; the real server's cases run in
tests/reliability/test_faults.py)."""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from optuna.exceptions import StorageInternalError

from optuna_spark.config import StorageSpec
from optuna_spark.errors import MissingExtraError, StorageError
from optuna_spark.storage.translate import translate_errors

SPEC = StorageSpec("mysql://optuna_user:s3cret-pw@127.0.0.1:3306/optuna")


def _driver_error(code: int, text: str) -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception(code, text))


def _raised(exc: BaseException) -> str:
    with (
        pytest.raises((StorageError, MissingExtraError)) as caught,
        translate_errors(SPEC, "read study 's'"),
    ):
        raise exc
    message = str(caught.value)
    assert "s3cret-pw" not in message and "optuna_user:***@" in message
    return message


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (_driver_error(1045, "Access denied"), "refused the login for mysql://optuna_user:***@"),
        (_driver_error(1049, "Unknown database 'optuna'"), "does not exist or this user has no"),
        (_driver_error(2003, "Can't connect to MySQL server"), "cannot reach the database server"),
        (
            _driver_error(1146, "Table 'optuna.studies' doesn't exist"),
            "holds no Optuna tables; create a study there first",
        ),
        (_driver_error(1064, "You have an error"), "could not read study 's' at mysql://"),
        (sqlalchemy.exc.ArgumentError("bad"), "is malformed; use for example"),
    ],
)
def test_each_database_failure_is_one_sentence_with_the_url_masked(
    exc: BaseException, says: str
) -> None:
    message = _raised(exc)
    assert says in message and message.endswith(".")


def test_optunas_wrapper_is_seen_through_to_the_driver_error() -> None:
    wrapped = StorageInternalError("An exception is raised during the commit.")
    wrapped.__cause__ = _driver_error(2013, "Lost connection to MySQL server during query")
    message = _raised(wrapped)
    assert message.startswith("cannot reach the database server of mysql://optuna_user:***@")
    assert "Lost connection to MySQL server during query" in message
    assert "during the commit" not in message  # Optuna's text blamed the data


def test_a_missing_driver_names_the_extra() -> None:
    missing = ImportError("No module named 'MySQLdb'", name="MySQLdb")
    assert "pip install 'optuna-spark[mysql]'" in _raised(missing)
