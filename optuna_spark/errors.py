"""The one error hierarchy of optuna-spark.

Every error a user can cause or fix is an :class:`OptunaSparkError` whose message is one
sentence saying what is wrong and how to fix it. The CLI turns these into a message and an
exit code in one place; library users catch the base class.
"""

from __future__ import annotations

from collections.abc import Iterator


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything behind it, each once: what it was raised from or during,
    and the driver error a SQLAlchemy error wraps (``orig``). Libraries re-raise a root cause
    under their own types (SQLAlchemy, joblib, Py4J), and the root cause is what decides."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([getattr(current, "orig", None), current.__cause__, current.__context__])


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first non-empty line of an exception's message, for one-sentence errors.

    A SQLAlchemy error's own text repeats the statement and parameters; the driver error it
    wraps (``exc.orig``) says what went wrong, so that one is used when present. An exception
    without a message gives its type name. ``limit`` cuts a long line to that many characters.
    """
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = lines[0] if lines else type(cause).__name__
    return text[:limit] if limit is not None else text


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
        # "gpu-cu12|gpu-cu13": one extra per CUDA major version, the user picks theirs.
        install = " or ".join(f"pip install 'optuna-spark[{e}]'" for e in extra.split("|"))
        which = " (the one of the CUDA version nvidia-smi shows)" if "|" in extra else ""
        super().__init__(
            f"{purpose} needs the Python package '{module}', which is not installed: "
            f"run {install}{which}."
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
