"""The one error hierarchy of optuna-spark.

Every error a user can cause or fix is an :class:`OptunaSparkError` whose message is one
sentence saying what is wrong and how to fix it. The CLI turns these into a message and an
exit code in one place; library users catch the base class.
"""

from __future__ import annotations


class OptunaSparkError(Exception):
    """Base class: a problem the user can fix, with a one-sentence message."""

    exit_code: int = 1


class ConfigError(OptunaSparkError):
    """An option or argument has a value that cannot work."""

    exit_code = 2


class MissingExtraError(OptunaSparkError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"{purpose} needs the Python package '{module}', which is not installed: "
            f"run pip install 'optuna-spark[{extra}]'."
        )


class StorageError(OptunaSparkError):
    """The study storage cannot be reached, created or read (URLs in messages are masked)."""


class StudyError(OptunaSparkError):
    """The study is missing, already exists, or does not match the request."""


class ObjectiveError(OptunaSparkError):
    """The objective cannot be found, imported, or called."""


class DataError(OptunaSparkError):
    """The data set cannot be read or does not fit the objective."""


class BackendError(OptunaSparkError):
    """The execution backend (Spark, joblib, processes) cannot start or run the workers."""


class WorkerFailedError(OptunaSparkError):
    """Every worker ended with an error, so the run produced no usable result."""
