"""Transient database errors, retried with bounded backoff.

A MySQL server that restarts, a deadlock between two workers or a dropped connection must not
end a study: every storage call a worker makes goes through :func:`call_with_retry`, which
waits and retries for up to :data:`RETRY_WINDOW_S` seconds before giving up. Errors that are
not transient (wrong password, missing table, bad data) are raised at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from optuna_spark.errors import exception_chain, first_line

T = TypeVar("T")

# How long a worker keeps retrying one storage call: a server restart of 30 s is survived.
RETRY_WINDOW_S = 60.0

# MySQL/MariaDB error codes worth a retry: lock wait timeout, deadlock, server shutting down,
# connection killed, cannot connect, server gone away, lost connection, and their kin. 1050
# ("table already exists") only happens when two processes create Optuna's tables at once;
# the retry then finds them made.
TRANSIENT_MYSQL_CODES = frozenset(
    {1040, 1050, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 2055, 4031}
)
_TRANSIENT_TEXT = (
    "database is locked",
    "server has gone away",
    "lost connection",
    "can't connect",
    "connection refused",
    "deadlock found",
    "lock wait timeout",
    # Two processes initialising Optuna's schema version row at once (fresh database).
    "alembic_version",
)

_log = logging.getLogger(__name__)


def backoff_delays(
    window: float, first: float = 0.25, factor: float = 2.0, cap: float = 4.0
) -> Iterator[float]:
    """Sleep lengths for successive retries: exponential from ``first``, at most ``cap`` each,
    and together no longer than ``window`` seconds."""
    spent, delay = 0.0, first
    while spent < window:
        step = min(delay, cap, window - spent)
        yield step
        spent += step
        delay *= factor


def transient_cause(exc: BaseException) -> BaseException | None:
    """The database error behind ``exc`` (``exc`` itself or what caused it) that a retry can
    fix, or None. It is the one to show: Optuna wraps a lost connection in a message about
    invalid data."""
    for cause in exception_chain(exc):
        args = getattr(cause, "args", ())
        if args and isinstance(args[0], int) and args[0] in TRANSIENT_MYSQL_CODES:
            return cause
        if getattr(cause, "connection_invalidated", False):
            return cause
        text = str(cause).lower()
        if any(marker in text for marker in _TRANSIENT_TEXT):
            return cause
        if "table" in text and "already exists" in text:  # two processes creating the schema
            return cause
    return None


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a database error that a retry can fix."""
    return transient_cause(exc) is not None


def call_with_retry(
    fn: Callable[..., T],
    *args: Any,
    window: float = RETRY_WINDOW_S,
    done_if: tuple[type[BaseException], ...] = (),
    done_value: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> T:
    """Call ``fn`` and retry it on transient database errors for up to ``window`` seconds.

    ``done_if`` names exceptions that, when they follow a transient failure, mean the first
    attempt did commit before its connection died (for example "trial already finished");
    the call then returns ``done_value`` instead of raising.
    """
    delays = backoff_delays(window)
    retried = False
    while True:
        try:
            return fn(*args, **kwargs)
        except done_if:
            if retried:
                return cast(T, done_value)
            raise
        except Exception as exc:
            cause = transient_cause(exc)
            if cause is None:
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            _log.warning(
                "database error in %s (%s); retrying in %.2g s",
                getattr(fn, "__name__", "a storage call"),
                first_line(cause, limit=200),
                delay,
            )
            retried = True
            sleep(delay)
