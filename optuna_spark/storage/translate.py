"""Error translation: every database error that leaves the storage layer becomes one sentence.

SQLAlchemy, Optuna and the database drivers raise dozens of exception types whose text
repeats SQL, parameters and sometimes the URL with its password. :func:`translate_errors`
is the one place that turns them into a :class:`StorageError` (or a
:class:`MissingExtraError` for a driver that is not installed) naming the masked URL and the
fix, in the way Optuna's own RDB storage funnels its sessions through one
rollback-and-translate helper.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from optuna_spark.config import StorageSpec
from optuna_spark.errors import MissingExtraError, StorageError, StudyError, first_line
from optuna_spark.urls import url_scheme

# Python module of a database driver -> (package to install, extra that installs it).
_DRIVER_EXTRAS = {"MySQLdb": ("mysqlclient", "mysql"), "pymysql": ("pymysql", "mysql")}

# MySQL/MariaDB error codes with a message of their own.
_ACCESS_DENIED = 1045
_NO_DATABASE = (1044, 1049)
_UNREACHABLE = (2002, 2003, 2005, 2013)


def _mysql_code(exc: BaseException) -> int | None:
    args = getattr(getattr(exc, "orig", None) or exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def storage_failure(spec: StorageSpec, action: str, cause: BaseException) -> StorageError:
    """The one-sentence :class:`StorageError` for ``cause``, raised while doing ``action``."""
    text = first_line(cause)
    code = _mysql_code(cause)
    if code == _ACCESS_DENIED:
        return StorageError(
            f"the database server refused the login for {spec.masked} (wrong or missing "
            "password); set OPTUNA_SPARK_DB_PASSWORD_FILE (or --password-file, or "
            "OPTUNA_SPARK_DB_PASSWORD), or check the user."
        )
    if code in _NO_DATABASE:
        return StorageError(
            f"the database named in {spec.masked} does not exist or this user has no rights on "
            "it; create it and grant access (scripts/setup-mysql.sh --database NAME does) or "
            "fix the URL."
        )
    if code in _UNREACHABLE:
        return StorageError(
            f"cannot reach the database server of {spec.masked} ({text}); check that it runs "
            "and that host and port are right."
        )
    lowered = text.lower()
    if "no such table" in lowered or ("table" in lowered and "doesn't exist" in lowered):
        return StorageError(
            f"{spec.masked} holds no Optuna tables; create a study there first with "
            "optuna-spark run or optuna-spark create-study."
        )
    return StorageError(f"could not {action} at {spec.masked}: {text}.")


@contextmanager
def translate_errors(spec: StorageSpec, action: str) -> Iterator[None]:
    """Turn SQLAlchemy/driver errors raised while doing ``action`` into one-sentence
    :class:`StorageError` s that show the masked URL and never the password."""
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    try:
        yield
    except (StorageError, StudyError, MissingExtraError):
        raise
    except StorageInternalError as exc:
        # Optuna wraps the driver error; report the cause, which says what really went wrong.
        raise storage_failure(spec, action, exc.__cause__ or exc) from exc
    except sqlalchemy.exc.NoSuchModuleError as exc:
        raise StorageError(
            f"storage URL scheme {url_scheme(spec.url)!r} is not a database SQLAlchemy knows; "
            "use sqlite:///file.db, mysql://user@host/db or mysql+pymysql://user@host/db."
        ) from exc
    except sqlalchemy.exc.ArgumentError as exc:
        raise StorageError(
            f"storage URL {spec.masked!r} is malformed; use for example "
            "sqlite:///optuna-spark.db or mysql://user@host/db."
        ) from exc
    except ImportError as exc:
        cause = exc.__cause__ or exc
        module = (getattr(cause, "name", None) or "").split(".")[0]
        if module in _DRIVER_EXTRAS:
            raise MissingExtraError(*_DRIVER_EXTRAS[module], f"Storage {spec.masked}") from exc
        raise StorageError(
            f"the database driver for {spec.masked} is not installed ({first_line(cause)})."
        ) from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise storage_failure(spec, action, exc) from exc
