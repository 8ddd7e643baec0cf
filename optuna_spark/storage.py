"""Storage: URL -> Optuna RDB storage, study create-or-load on the driver, error translation.

The driver opens the storage with table creation; workers open it without (they never create
tables). Every SQLAlchemy or Optuna error that leaves this module is translated into a
:class:`StorageError` or :class:`StudyError` whose message carries the masked URL only.
"""

from __future__ import annotations

import math
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optuna_spark.config import PASSWORD_ENV, HeartbeatSpec, StorageSpec
from optuna_spark.errors import MissingExtraError, StorageError, StudyError
from optuna_spark.retry import call_with_retry
from optuna_spark.urls import sqlite_path, url_password

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

# SQLite: wait this long for a lock instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_S = 60.0
# MySQL: an unreachable or silent server fails within this many seconds, not minutes.
CONNECT_TIMEOUT_S = 5
# MySQL: a worker keeps two connections (its trial loop, the heartbeat and prefetch threads share
# them; each holds one only for a statement or two),
# so 64 workers hold 128 and stay below the server's default max_connections of 151.
WORKER_POOL_SIZE = 2
WORKER_MAX_OVERFLOW = 0
# Opening the storage retries transient errors this long (the probe has already shown that the
# server answers; workers retry their own calls for longer once a study runs).
OPEN_RETRY_WINDOW_S = 10.0
# Recycle pooled connections before a server-side wait_timeout can close them under us.
POOL_RECYCLE_S = 3600

_DRIVER_EXTRAS = {"MySQLdb": ("mysqlclient", "mysql"), "pymysql": ("pymysql", "mysql")}


@dataclass(frozen=True)
class StudyInfo:
    """What the driver learned about the study it created or loaded."""

    study_id: int
    name: str
    direction: str
    created: bool


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _mysql_code(exc: BaseException) -> int | None:
    args = getattr(getattr(exc, "orig", None) or exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _failure(spec: StorageSpec, action: str, cause: BaseException) -> StorageError:
    text = _first_line(cause)
    code = _mysql_code(cause)
    if code == 1045:
        return StorageError(
            f"the database server refused the login for {spec.masked} (wrong or missing "
            "password); set OPTUNA_SPARK_DB_PASSWORD or --password-file, or check the user."
        )
    if code in (1044, 1049):
        return StorageError(
            f"the database named in {spec.masked} does not exist or this user has no rights on "
            "it; create it and grant access (scripts/setup-mysql.sh --database NAME does) or "
            "fix the URL."
        )
    if code in (2002, 2003, 2005, 2013):
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
        raise _failure(spec, action, exc.__cause__ or exc) from exc
    except sqlalchemy.exc.NoSuchModuleError as exc:
        scheme = spec.url.split("://", 1)[0]
        raise StorageError(
            f"storage URL scheme {scheme!r} is not a database SQLAlchemy knows; "
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
            f"the database driver for {spec.masked} is not installed ({_first_line(cause)})."
        ) from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise _failure(spec, action, exc) from exc


def prepare_sqlite_file(spec: StorageSpec) -> None:
    """Driver-side checks and settings for a SQLite file: a writable location, and WAL mode
    (persistent in the file) so readers never block the workers' writes."""
    path = sqlite_path(spec.url)
    if path is None:
        return
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise StorageError(
            f"cannot create the SQLite file {path}: the directory {directory} does not exist; "
            "create it or point --storage elsewhere."
        )
    target = path if os.path.exists(path) else directory
    if not os.access(target, os.W_OK):
        raise StorageError(
            f"cannot write the SQLite file {path}: {target} is not writable; "
            "point --storage at a writable location."
        )
    try:
        with sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise StorageError(
            f"cannot open the SQLite file {path} ({exc}); point --storage at a writable location."
        ) from exc


def _sqlite_immediate_transactions(engine: Any) -> None:
    """Make every SQLite transaction BEGIN IMMEDIATE.

    Optuna reads, then writes, inside one transaction; under WAL a deferred transaction that
    upgrades to a writer after another process committed fails at once with "database is
    locked" (the busy timeout does not apply). Taking the write lock up front makes
    concurrent workers queue on the busy timeout instead.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made before the listeners existed are dropped


def probe_server(spec: StorageSpec, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast on a MySQL server that cannot be reached or accepts and stays silent.

    A MySQL server speaks first (its greeting); waiting for that byte with a deadline bounds
    every driver alike (pymysql would otherwise wait out its read timeout in the handshake).
    """
    if not spec.url.split("://", 1)[0].lower().startswith("mysql"):
        return
    from sqlalchemy.engine import make_url

    with translate_errors(spec, "parse the storage URL"):
        url = make_url(spec.url)
    if not url.host:
        return  # a Unix socket: local, nothing to probe
    host, port = url.host, url.port or 3306
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            if not conn.recv(1):
                raise OSError("the server closed the connection")
    except socket.timeout as exc:
        raise StorageError(
            f"the database server of {spec.masked} did not answer within {timeout:g} s; check "
            "that it runs and that host and port are right."
        ) from exc
    except OSError as exc:
        raise StorageError(
            f"cannot reach the database server of {spec.masked} ({exc.strerror or exc}); check "
            "that it runs and that host and port are right."
        ) from exc


def open_storage(
    spec: StorageSpec,
    *,
    driver: bool,
    heartbeat: HeartbeatSpec | None = None,
    on_stale: Callable[[Any, Any], None] | None = None,
) -> RDBStorage:
    """Open ``spec`` as an Optuna ``RDBStorage``.

    ``driver=True`` creates the tables if needed and checks the schema version; workers pass
    ``driver=False`` and never create tables. With an enabled ``heartbeat`` running trials
    send heartbeats, and ``on_stale`` is called for each trial found silent too long.
    """
    import warnings

    import optuna

    from optuna_spark.trial_loader import FastReadRDBStorage

    engine_kwargs: dict[str, Any] = {}
    path = sqlite_path(spec.url)
    if path is not None and not driver and not os.path.exists(path):
        raise StorageError(
            f"the SQLite file {path} does not exist; check --storage, or create a study there "
            "first with optuna-spark run or optuna-spark create-study."
        )
    if path is not None:
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    else:
        probe_server(spec)
        engine_kwargs.update(_server_engine_kwargs(spec, driver))
    heartbeat_kwargs: dict[str, Any] = {}
    if heartbeat is not None and heartbeat.enabled:
        heartbeat_kwargs = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_seconds,
            "heartbeat_stale_trial_callback": on_stale,
        }
    with translate_errors(spec, "open the storage"), warnings.catch_warnings():
        # The heartbeat arguments are "experimental" in Optuna and warn on every worker.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Retried briefly: another process may be creating the same tables right now.
        storage = call_with_retry(
            FastReadRDBStorage,
            spec.url,
            engine_kwargs=engine_kwargs,
            skip_compatibility_check=not driver,
            skip_table_creation=not driver,
            window=OPEN_RETRY_WINDOW_S,
            **heartbeat_kwargs,
        )
        if storage.engine.name == "sqlite":
            _sqlite_immediate_transactions(storage.engine)
    return storage


def _server_engine_kwargs(spec: StorageSpec, driver: bool) -> dict[str, Any]:
    """Pool and connection settings for a database server (MySQL/MariaDB)."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_recycle": POOL_RECYCLE_S}
    if not driver:
        kwargs.update(pool_size=WORKER_POOL_SIZE, max_overflow=WORKER_MAX_OVERFLOW)
    connect_args: dict[str, Any] = {}
    scheme = spec.url.split("://", 1)[0].lower()
    if scheme.startswith("mysql"):
        # connect_timeout bounds the TCP connect and the greeting; read/write timeouts bound a
        # server that accepts and then stays silent.
        connect_args.update(connect_timeout=CONNECT_TIMEOUT_S)
        connect_args.update(read_timeout=60, write_timeout=60)
    # A password left out of the URL: from the spec (driver's --password-file or environment),
    # else this process's own OPTUNA_SPARK_DB_PASSWORD (set on the executors).
    password = None if url_password(spec.url) else (spec.password or os.environ.get(PASSWORD_ENV))
    if password:
        connect_args["password"] = password
    if connect_args:
        kwargs["connect_args"] = connect_args
    return kwargs


def _direction_name(direction: Any) -> str:
    return str(direction.name).lower()


def create_or_load_study(
    storage: RDBStorage,
    spec: StorageSpec,
    name: str,
    direction: str | None,
    default_direction: str,
    fresh: bool = False,
    grace_s: float | None = None,
) -> StudyInfo:
    """Create the study, or load it to resume; with ``fresh`` delete it first.

    ``direction=None`` means "whatever the existing study has, else ``default_direction``";
    an explicit direction that contradicts the existing study is a :class:`StudyError`, and
    so is ``fresh`` on a study another run is using (see :func:`live_running_trials`).
    """
    import optuna

    with translate_errors(spec, f"create or load study {name!r}"):
        study_id = _find_study_id(storage, name)
        if study_id is not None and fresh:
            live = live_running_trials(storage, study_id, grace_s)
            if live:
                raise StudyError(
                    f"study {name!r} has {live} running trial(s), so another run is using it; "
                    "stop that run before --fresh (or, if it died, remove the study with "
                    "optuna-spark delete-study)."
                )
            drop_study(storage, study_id)
            study_id = None
        if study_id is None:
            chosen = direction or default_direction
            study_id = storage.create_new_study(
                [optuna.study.StudyDirection[chosen.upper()]], study_name=name
            )
            return StudyInfo(study_id, name, chosen, created=True)
        directions = storage.get_study_directions(study_id)
        if len(directions) != 1:
            raise StudyError(
                f"study {name!r} is multi-objective; optuna-spark runs single-objective "
                "studies, so pick another --study-name."
            )
        existing = _direction_name(directions[0])
        if direction is not None and direction != existing:
            raise StudyError(
                f"study {name!r} already exists with direction {existing}, not {direction}; "
                "drop --direction, use --fresh to start over, or pick another --study-name."
            )
        return StudyInfo(study_id, name, existing, created=False)


def drop_study(storage: RDBStorage, study_id: int) -> None:
    """Delete a study with its trials and the run records optuna-spark kept for it."""
    from optuna_spark.run_log import forget_runs

    forget_runs(storage.engine, study_id)
    storage.delete_study(study_id)


def live_running_trials(storage: RDBStorage, study_id: int, grace_s: float | None) -> int:
    """RUNNING trials that some worker may still be running: those whose heartbeat is younger
    than ``grace_s``, and those without a heartbeat at all (nothing tells that they stopped).
    A trial whose heartbeat went stale belongs to a dead worker and does not count."""
    from sqlalchemy import text

    with storage.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT t.trial_id, h.heartbeat FROM trials t LEFT JOIN trial_heartbeats h "
                 "ON h.trial_id = t.trial_id WHERE t.study_id = :sid AND t.state = 'RUNNING'"),
            {"sid": study_id},
        ).all()
        if not rows:
            return 0
        # The heartbeats were written with the database's clock: compare with the same clock.
        now = _as_datetime(conn.execute(text("SELECT CURRENT_TIMESTAMP")).scalar_one())
    return sum(
        1 for _, beat in rows
        if beat is None or grace_s is None
        or (now - _as_datetime(beat)).total_seconds() < grace_s
    )


def _as_datetime(value: Any) -> Any:
    """SQLite returns timestamps as text, MySQL as datetimes."""
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _find_study_id(storage: RDBStorage, name: str) -> int | None:
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        return None


def require_study_id(storage: RDBStorage, spec: StorageSpec, name: str) -> int:
    """The id of study ``name``, or a :class:`StudyError` listing what exists."""
    with translate_errors(spec, f"look up study {name!r}"):
        study_id = _find_study_id(storage, name)
        if study_id is not None:
            return study_id
        names = [s.study_name for s in storage.get_all_studies()]
    listing = ", ".join(repr(n) for n in names[:10]) or "none"
    raise StudyError(
        f"study {name!r} does not exist in {spec.masked} (studies there: {listing}); "
        "check --study-name and --storage."
    )


def count_trial_states(storage: RDBStorage, study_id: int) -> dict[str, int]:
    """Trial counts by state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING) in one query."""
    from sqlalchemy import text

    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0}
    with storage.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT state, COUNT(*) FROM trials WHERE study_id = :sid GROUP BY state"),
            {"sid": study_id},
        )
        for state, n in rows:
            counts[str(state).rsplit(".", 1)[-1].upper()] = int(n)
    return counts


FINISHED_STATES = ("COMPLETE", "PRUNED", "FAIL")


def n_finished(counts: dict[str, int]) -> int:
    """Trials that count against the budget: complete, pruned, or failed by the objective."""
    return sum(counts[s] for s in FINISHED_STATES)


# System attribute set on a trial the driver cancelled (timeout, Ctrl-C); its value says why.
CANCELLED_ATTR = "optuna_spark:cancelled"
# Why a trial failed, as text: the name Optuna itself used for this system attribute.
FAIL_REASON_ATTR = "fail_reason"


def uncounted_trial_numbers(storage: RDBStorage, study_id: int) -> tuple[set[int], set[int]]:
    """``(lost, cancelled)``: failed trials that do not count against the budget.

    Lost trials failed with their worker and were queued again: Optuna's retry callback names
    them in the ``retry_history`` system attribute of each new attempt. Cancelled trials carry
    :data:`CANCELLED_ATTR`.
    """
    import json

    from sqlalchemy import column, select, table

    # Lightweight table constructs, so SQLAlchemy quotes ``key`` (reserved in MySQL) itself.
    attrs = table("trial_system_attributes", column("trial_id"), column("key"),
                  column("value_json"))
    trials = table("trials", column("trial_id"), column("study_id"), column("number"))
    query = (
        select(attrs.c.key, attrs.c.value_json, trials.c.number)
        .select_from(attrs.join(trials, trials.c.trial_id == attrs.c.trial_id))
        .where(trials.c.study_id == study_id,
               attrs.c.key.in_(["retry_history", CANCELLED_ATTR]))
    )
    lost: set[int] = set()
    cancelled: set[int] = set()
    with storage.engine.connect() as conn:
        for key, value, number in conn.execute(query):
            if key == CANCELLED_ATTR:
                cancelled.add(int(number))
            else:
                lost.update(int(n) for n in json.loads(value))
    return lost, cancelled


def count_trials(storage: RDBStorage, study_id: int) -> dict[str, int]:
    """Trial counts by state, plus ``LOST`` (failed with their worker and retried),
    ``CANCELLED`` (stopped by the driver) and ``COUNTED``: what the budget counts, the
    finished trials that were neither."""
    counts = count_trial_states(storage, study_id)
    lost, cancelled = uncounted_trial_numbers(storage, study_id) if counts["FAIL"] else (set(), set())
    counts["LOST"] = len(lost)
    counts["CANCELLED"] = len(cancelled - lost)
    counts["COUNTED"] = n_finished(counts) - counts["LOST"] - counts["CANCELLED"]
    return counts


def fail_running_trials(
    storage: Any, study_id: int, first_number: int, attrs: dict[str, Any] | None = None
) -> list[int]:
    """Fail the trials of one run (numbered from ``first_number``) that are still RUNNING,
    setting ``attrs`` as system attributes first. Trials of other runs are left to their own
    heartbeat; one that finishes meanwhile is skipped. Returns the ids of the failed trials."""
    from optuna.trial import TrialState

    running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    return [trial._trial_id for trial in running
            if trial.number >= first_number and fail_trial(storage, trial._trial_id, attrs)]


def fail_trial(storage: Any, trial_id: int, attrs: dict[str, Any] | None = None) -> bool:
    """Fail one running trial, setting ``attrs`` as system attributes first; False when it
    had finished meanwhile."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        for key, value in (attrs or {}).items():
            storage.set_trial_system_attr(trial_id, key, value)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False
    return True


def cancelled_attrs(reason: str) -> dict[str, str]:
    """The system attributes of a trial cancelled for ``reason``: :data:`CANCELLED_ATTR` (it
    does not count against the budget) and :data:`FAIL_REASON_ATTR`."""
    return {CANCELLED_ATTR: reason, FAIL_REASON_ATTR: f"cancelled: {reason}"}


def mark_cancelled(storage: RDBStorage, study_id: int, first_number: int, reason: str) -> int:
    """Fail this run's trials that are still RUNNING, recording ``reason`` on each (see
    :func:`cancelled_attrs`). Returns how many were marked."""
    return len(fail_running_trials(storage, study_id, first_number, cancelled_attrs(reason)))


def best_value(storage: RDBStorage, study_id: int) -> float | None:
    """Best objective value so far, or None before the first complete trial."""
    try:
        value = storage.get_best_trial(study_id).value
    except ValueError:
        return None
    return value if value is not None and not math.isnan(value) else None
